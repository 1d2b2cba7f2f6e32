//! The guest's only way out: outgoing HTTP, to exactly the origins the deployment allows.
//!
//! Every `wasi:http/outgoing-handler.handle` call passes through [`EgressHooks::send_request`],
//! which compares scheme, host and port with the allow-list and refuses anything else before a
//! connection is opened. Redirects are not followed, so a redirect to another origin comes back
//! to the guest, and following it means a new request through this same check.
//!
//! Allowed requests go out through one pooled client shared by all requests: guest instances
//! live for one request, but the TCP and TLS connections to S3 need not. Connections carry no
//! identity — every request is signed by its own caller's credentials.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Short: a server may close an idle connection at any moment after its own idle timeout,
/// and a request sent on it just then fails. Under load connections are reused long before.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// scheme, lowercased host, port
type Origin = (String, String, u16);

pub struct EgressPolicy {
    allowed: HashSet<Origin>,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, WasiBody>,
}

impl EgressPolicy {
    pub fn new<'a>(origins: impl IntoIterator<Item = &'a url::Url>) -> Self {
        let allowed = origins
            .into_iter()
            .filter_map(|url| origin(url.scheme(), url.host_str()?, url.port_or_known_default()?))
            .collect();
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
            .expect("ring supports the default TLS versions")
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_CONNECTION_TIMEOUT)
            .build(connector);
        Self { allowed, client }
    }

    /// Allows nothing: for measuring instances that never call out.
    pub fn deny_all() -> Self {
        Self::new(std::iter::empty())
    }

    pub fn allows(&self, uri: &http::Uri) -> bool {
        let Some(scheme) = uri.scheme_str() else {
            return false;
        };
        let Some(host) = uri.host() else { return false };
        let port = uri.port_u16().or(match scheme {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        port.and_then(|port| origin(scheme, host, port))
            .is_some_and(|o| self.allowed.contains(&o))
    }

    pub fn origins(&self) -> impl Iterator<Item = String> + '_ {
        self.allowed
            .iter()
            .map(|(scheme, host, port)| format!("{scheme}://{host}:{port}"))
    }
}

fn origin(scheme: &str, host: &str, port: u16) -> Option<Origin> {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    Some((scheme.to_ascii_lowercase(), host, port))
}

/// The wasi:http hooks of one request's store.
pub struct EgressHooks {
    pub policy: Arc<EgressPolicy>,
    pub request_id: String,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _response_errors: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        if !self.policy.allows(request.uri()) {
            tracing::warn!(request_id = %self.request_id, uri = %request.uri(), "guest egress refused: origin not allowed");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        // The request's own deadline bounds how long this may take, so the per-call
        // timeouts in `RequestOptions` add nothing a guest could rely on.
        let sent = self.policy.client.request(request);
        Box::new(async move {
            let response = sent.await.map_err(|error| {
                if error.is_connect() {
                    HttpError::ConnectionRefused
                } else {
                    HttpError::InternalError(Some(error.to_string()))
                }
            })?;
            let response = response.map(|body| body.map_err(HttpError::from).boxed_unsync());
            let connection_errors: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, connection_errors))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> EgressPolicy {
        EgressPolicy::new(&[
            url::Url::parse("http://127.0.0.1:8333").unwrap(),
            url::Url::parse("https://S3.example.com").unwrap(),
        ])
    }

    #[test]
    fn allows_exact_origins_only() {
        let policy = policy();
        assert!(policy.allows(&"http://127.0.0.1:8333/bucket/key".parse().unwrap()));
        assert!(policy.allows(&"https://s3.example.com/b".parse().unwrap()));
        assert!(policy.allows(&"https://s3.example.com:443/b".parse().unwrap()));
        assert!(
            !policy.allows(&"http://127.0.0.1:8334/".parse().unwrap()),
            "other port"
        );
        assert!(
            !policy.allows(&"https://127.0.0.1:8333/".parse().unwrap()),
            "other scheme"
        );
        assert!(
            !policy.allows(&"http://s3.example.com/b".parse().unwrap()),
            "http where https is configured"
        );
        assert!(!policy.allows(&"http://169.254.169.254/latest/meta-data".parse().unwrap()));
        assert!(!policy.allows(&"/relative".parse().unwrap()));
    }
}
