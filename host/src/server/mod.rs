//! HTTP in front of the sandbox: connections, routing, the checks that happen before any
//! guest runs (Host, Origin, bearer token, body size and time), and one log line per request.

mod admission;
mod config;
mod connections;
mod envelope;
mod held_body;
mod host_header;
mod mcp_endpoint;
mod origin;
mod request_line;
pub(crate) mod responses;
mod signals;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::TcpListener;
use url::Url;

pub use admission::{Admission, AdmissionConfig};
pub use config::ServerConfig;
use connections::{Acceptor, ClientStream, Slot};
pub use connections::{ConnectionConfig, raise_open_files_limit};

use crate::access::{Access, Narrowing};
use crate::audit::AuditLog;
use crate::auth::Authenticator;
use crate::oauth::Bridge;
use crate::sandbox::{Deployment, Sandbox};
pub use host_header::{AllowedHost, HostPolicy};
pub use origin::OriginPolicy;
pub use request_line::{RequestLines, is_request_span};
use responses::HttpResponse;
pub use signals::ShutdownSignals;

/// Everything a request handler needs, shared by all connections.
pub struct App {
    sandbox: Sandbox,
    admission: Admission,
    auth: Option<Authenticator>,
    access: Access,
    deployment: Arc<Deployment>,
    hosts: HostPolicy,
    origins: OriginPolicy,
    max_body_bytes: usize,
    /// How long a request's body may take to arrive after its head.
    body_timeout: Duration,
    resource_url: String,
    authorization_servers: Vec<String>,
    /// The sign-in bridge, when this server is its clients' authorization server.
    bridge: Option<Arc<Bridge>>,
    audit: Option<AuditLog>,
    /// Set at SIGTERM: /readyz answers 503 and every response closes its connection, so
    /// load balancers and clients move to other replicas before this one stops accepting.
    draining: AtomicBool,
}

impl App {
    /// `resource_url` is `<public_url>/mcp`, the MCP resource; `authorization_server` is the
    /// one advertised in the protected-resource metadata (the bridge, when there is one).
    #[allow(
        clippy::too_many_arguments,
        reason = "one value per part of the server, each built by main"
    )]
    pub fn new(
        config: &ServerConfig,
        public_url: &Url,
        resource_url: String,
        sandbox: Sandbox,
        auth: Option<Authenticator>,
        access: Access,
        deployment: Arc<Deployment>,
        authorization_server: Option<String>,
        bridge: Option<Arc<Bridge>>,
        audit: Option<AuditLog>,
    ) -> Self {
        let admission = Admission::new(&config.admission, sandbox.max_instances(), auth.is_some());
        Self {
            sandbox,
            admission,
            auth,
            access,
            deployment,
            hosts: HostPolicy::new(public_url, &config.allowed_hosts),
            origins: OriginPolicy::new(&config.allowed_origins, public_url),
            max_body_bytes: config.max_body_bytes,
            body_timeout: config.connections.body_timeout(),
            resource_url,
            authorization_servers: bridge
                .as_ref()
                .map(|bridge| bridge.issuer().to_owned())
                .or(authorization_server)
                .into_iter()
                .collect(),
            bridge,
            audit,
            draining: AtomicBool::new(false),
        }
    }

    fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn resource_url(&self) -> &str {
        &self.resource_url
    }

    /// Where clients find our RFC 9728 metadata (path-suffixed form, as MCP clients look it up).
    pub fn metadata_url(&self) -> String {
        let resource =
            Url::parse(&self.resource_url).expect("the resource URL was built from a valid URL");
        format!(
            "{}/.well-known/oauth-protected-resource{}",
            resource.origin().ascii_serialization(),
            resource.path()
        )
    }

    async fn route(self: Arc<Self>, request: http::Request<Incoming>) -> HttpResponse {
        use http::Method;
        let Ok(host) = host_header::effective_host(&request) else {
            return responses::bad_request(
                "a request must carry one Host header, and an absolute target must be an http(s) URL (RFC 9112 §3.2)",
            );
        };
        let path = request.uri().path();
        if let Some(connection) = Narrowing::of_path(path) {
            return match (request.method(), connection) {
                (&Method::POST, Ok(connection)) => {
                    mcp_endpoint::handle(&self, request, host, connection).await
                }
                (&Method::POST, Err(wrong)) => responses::json(
                    http::StatusCode::NOT_FOUND,
                    &json!({"error": "not_found", "error_description": wrong.to_string()}),
                ),
                _ => responses::method_not_allowed(),
            };
        }
        match (request.method(), path) {
            (_, path) if Bridge::serves(path) => match &self.bridge {
                Some(bridge) if host.as_deref().is_none_or(|host| self.hosts.allows(host)) => {
                    bridge.handle(request).await
                }
                Some(_) => responses::forbidden_host(&crate::untrusted::bounded(
                    host.as_deref().unwrap_or_default(),
                )),
                None => responses::json(
                    http::StatusCode::NOT_FOUND,
                    &json!({"error": "not_found", "error_description": "this server is not an authorization server: sign in at the one its protected-resource metadata names"}),
                ),
            },
            // Live: the process serves. Ready: it can also check tokens (its guest is loaded
            // before it serves at all).
            (&Method::GET, "/healthz") => responses::text(http::StatusCode::OK, "ok"),
            (&Method::GET, "/readyz") => self.readiness().await,
            (
                &Method::GET,
                "/.well-known/oauth-protected-resource"
                | "/.well-known/oauth-protected-resource/mcp",
            ) => responses::json(http::StatusCode::OK, &self.protected_resource_metadata()),
            _ => responses::json(
                http::StatusCode::NOT_FOUND,
                &json!({"error": "not_found", "error_description": "the MCP endpoint is POST /mcp"}),
            ),
        }
    }

    async fn readiness(&self) -> HttpResponse {
        if self.is_draining() {
            return responses::text(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "not ready: shutting down",
            );
        }
        match &self.auth {
            Some(auth) if !auth.can_verify().await => responses::text(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the identity provider's signing keys could not be fetched yet",
            ),
            _ => responses::text(http::StatusCode::OK, "ready"),
        }
    }

    fn protected_resource_metadata(&self) -> serde_json::Value {
        json!({
            "resource": self.resource_url,
            "authorization_servers": self.authorization_servers,
            "bearer_methods_supported": ["header"],
            "resource_name": "Quilt MCP",
            "scopes_supported": self.access.scopes_supported(),
        })
    }
}

/// Serves until the first shutdown signal, then drains: for the shutdown delay it still
/// accepts and answers, but reports not ready and closes each connection after its response;
/// then it takes the connections already queued, stops accepting, asks every connection to
/// close once its requests in flight are answered, and waits for them up to the drain timeout.
/// A further signal ends the delay, and another the drain. Nothing a client does, and no
/// accept error, ends this loop.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    config: &ConnectionConfig,
    open_files: Option<u64>,
    mut signals: ShutdownSignals,
) {
    let connections = tokio_util::task::TaskTracker::new();
    let mut acceptor = Acceptor::new(config, open_files);
    let serve = |(stream, peer, slot)| {
        connections.spawn(serve_connection(
            app.clone(),
            stream,
            peer,
            slot,
            config.header_timeout(),
        ));
    };
    accept_until(&mut acceptor, &listener, signals.next(), serve).await;
    tracing::info!(
        delay_secs = config.shutdown_delay().as_secs(),
        "shutting down: not ready for the shutdown delay, then draining (signal again to skip)"
    );
    app.start_draining();
    let delay = tokio::time::sleep(config.shutdown_delay());
    let skipped = async {
        tokio::select! {
            () = delay => {}
            () = signals.next() => tracing::info!("shutdown delay skipped"),
        }
    };
    accept_until(&mut acceptor, &listener, skipped, serve).await;
    // A client whose connection the kernel has queued has already sent its request, or is
    // about to: answer it rather than reset it.
    while let Some(accepted) = acceptor.accept_queued(&listener) {
        serve(accepted);
    }
    // New clients are refused from here on, rather than left waiting in the backlog.
    drop(listener);
    acceptor.close_all();
    connections.close();
    tokio::select! {
        finished = tokio::time::timeout(config.drain_timeout(), connections.wait()) => {
            if finished.is_err() {
                tracing::warn!(
                    connections = connections.len(),
                    "connections still open after the drain timeout; exiting anyway"
                );
            }
        }
        () = signals.next() => tracing::warn!(
            connections = connections.len(),
            "drain skipped by a signal; exiting with connections open"
        ),
    }
}

/// Hands each connection accepted to `serve` until `stop` resolves.
async fn accept_until(
    acceptor: &mut Acceptor,
    listener: &TcpListener,
    stop: impl Future<Output = ()>,
    serve: impl Fn((ClientStream, SocketAddr, Slot)),
) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = acceptor.accept(listener) => serve(accepted),
            () = &mut stop => return,
        }
    }
}

/// Serves one connection; `header_timeout` bounds each wait for a request head (idle
/// keep-alive included).
async fn serve_connection(
    app: Arc<App>,
    stream: ClientStream,
    peer: SocketAddr,
    slot: Slot,
    header_timeout: Duration,
) {
    let service = hyper::service::service_fn(move |request| {
        let app = app.clone();
        async move {
            let mut response = app.clone().route(request).await;
            if app.is_draining() {
                // hyper closes the connection once this response is written.
                response.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let closed = tokio::select! {
        closed = connection.as_mut() => closed,
        () = slot.closing.notified() => {
            // Answers what is in flight (with `Connection: close`), then closes.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = closed {
        tracing::debug!(%peer, %error, "connection closed with an error");
    }
}
