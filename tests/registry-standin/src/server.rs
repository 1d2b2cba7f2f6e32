//! The HTTP surface (axum): routing, the caller and grant check every endpoint shares, the
//! counters tests read, and the lifetime of the listening task.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;

use crate::auth::{Authenticator, Caller};
use crate::catalog::Catalog;
use crate::config::{StandinConfig, UserGrant};
use crate::credentials::StsExchange;
use crate::error::{ApiError, StartError};
use crate::graphql::{self, RegistrySchema, Viewer};
use crate::s3::BucketReader;
use crate::search::{self, SearchParams};

/// One `/api/search` request as it arrived and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRecord {
    /// The caller's `sub`, when the token verified.
    pub subject: Option<String>,
    /// The `index` parameter as sent (a comma-separated list).
    pub index: String,
    /// The HTTP status answered.
    pub status: u16,
}

/// A running stand-in; it stops serving when dropped.
pub struct RegistryStandin {
    url: Url,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

struct Shared {
    config: StandinConfig,
    auth: Authenticator,
    sts: StsExchange,
    catalog: Catalog,
    graphql: RegistrySchema,
    exchanges: AtomicUsize,
    searches: Mutex<Vec<SearchRecord>>,
    /// Every `Authorization` header received, in order, so a test can see which token reached
    /// the registry (and that no other did).
    authorizations: Mutex<Vec<String>>,
}

impl RegistryStandin {
    /// Binds `config.listen` and serves on the current tokio runtime.
    pub async fn start(config: StandinConfig) -> Result<Self, StartError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr: SocketAddr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let reader =
            BucketReader::new(config.s3_endpoint.clone(), &config.region, &config.indexer)?;
        let shared = Arc::new(Shared {
            auth: Authenticator::new(config.jwks_url.clone(), &config.issuer, &config.audience)?,
            sts: StsExchange::new(&config.sts_endpoint, &config.region),
            catalog: Catalog::new(reader, config.refresh),
            graphql: graphql::schema(),
            exchanges: AtomicUsize::new(0),
            searches: Mutex::default(),
            authorizations: Mutex::default(),
            config,
        });
        let router = Router::new()
            .route("/api/auth/get_credentials", get(get_credentials))
            .route("/api/search", get(search))
            .route("/graphql", post(graphql))
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                record_authorization,
            ))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            // Serving ends only on the stop signal; an accept error is retried by axum.
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            url: Url::parse(&format!("http://{addr}")).expect("a socket address is a valid host"),
            shared,
            stop: Some(stop),
        })
    }

    /// `http://127.0.0.1:PORT` — what clients take as the registry URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// How many `/api/auth/get_credentials` requests reached STS.
    pub fn credential_exchanges(&self) -> usize {
        self.shared.exchanges.load(Ordering::SeqCst)
    }

    /// Every `/api/search` request so far, oldest first.
    pub fn searches(&self) -> Vec<SearchRecord> {
        self.shared.searches.lock().expect("not poisoned").clone()
    }

    /// The `Authorization` headers received so far, in order.
    pub fn authorizations(&self) -> Vec<String> {
        self.shared
            .authorizations
            .lock()
            .expect("not poisoned")
            .clone()
    }
}

impl Drop for RegistryStandin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Shared {
    /// Quilt's Tabulator service, by its configured bearer: it reads every user's buckets.
    fn service(&self, headers: &HeaderMap) -> Option<(Caller, Vec<String>)> {
        let expected = self.config.service_token.as_deref()?;
        let bearer = headers
            .get(AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        if bearer != expected {
            return None;
        }
        let mut buckets: Vec<String> = self
            .config
            .users
            .iter()
            .flat_map(|u| u.buckets.clone())
            .collect();
        buckets.sort();
        buckets.dedup();
        let caller = Caller {
            subject: "tabulator".into(),
            email: None,
            name: None,
            token: bearer.to_owned(),
        };
        Some((caller, buckets))
    }

    /// The verified caller and their grant; 403 for a valid token without a Quilt role.
    async fn caller(&self, headers: &HeaderMap) -> Result<(Caller, &UserGrant), ApiError> {
        let caller = self.auth.authenticate(headers).await?;
        let grant = self.config.grant_for(&caller.subject).ok_or_else(|| {
            ApiError::Forbidden(format!(
                "{} has no Quilt role in this registry; ask its administrator for one",
                caller.subject
            ))
        })?;
        Ok((caller, grant))
    }
}

async fn get_credentials(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (caller, grant) = shared.caller(&headers).await?;
    shared.exchanges.fetch_add(1, Ordering::SeqCst);
    let credentials = shared.sts.exchange(&caller, &grant.role_arn).await?;
    Ok(Json(credentials).into_response())
}

async fn search(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(params): Query<SearchParams>,
) -> Response {
    let mut subject = None;
    let answer = async {
        let (caller, grant) = shared.caller(&headers).await?;
        subject = Some(caller.subject);
        search::search(&shared.catalog, grant, shared.config.max_indices, &params).await
    }
    .await;
    let response = match answer {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    };
    shared
        .searches
        .lock()
        .expect("not poisoned")
        .push(SearchRecord {
            subject,
            index: params.index.unwrap_or_default(),
            status: response.status().as_u16(),
        });
    response
}

async fn graphql(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (caller, buckets) = match shared.service(&headers) {
        Some(service) => service,
        None => {
            let (caller, grant) = shared.caller(&headers).await?;
            (caller, grant.buckets.clone())
        }
    };
    let request: async_graphql::Request = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body must be a GraphQL request, {{\"query\": ..., \"variables\": ...}}: {e}"
        ))
    })?;
    let viewer = Viewer {
        caller,
        buckets,
        tabulator: shared.config.tabulator.clone(),
    };
    let response = shared.graphql.execute(request.data(viewer)).await;
    Ok(Json(response).into_response())
}

async fn not_found() -> ApiError {
    ApiError::NotFound(
        "the registry stand-in serves /api/auth/get_credentials, /api/search and /graphql".into(),
    )
}

#[cfg(test)]
mod tests;

async fn record_authorization(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Some(value) = request.headers().get(axum::http::header::AUTHORIZATION) {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        shared
            .authorizations
            .lock()
            .expect("not poisoned")
            .push(value);
    }
    next.run(request).await
}
