//! HTTP in front of the sandbox: connections, routing, the checks that happen before any
//! guest runs (Host, Origin, bearer token, body size and time), and one log line per request.

mod admission;
mod connections;
mod envelope;
mod host_header;
mod mcp_endpoint;
mod origin;
mod responses;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::TcpListener;
use url::Url;

pub use admission::{Admission, AdmissionConfig};
use connections::Acceptor;
pub use connections::{ConnectionConfig, raise_open_files_limit};

use crate::auth::Authenticator;
use crate::sandbox::{Deployment, Sandbox};
pub use host_header::{AllowedHost, HostPolicy};
pub use origin::OriginPolicy;
use responses::HttpResponse;

/// Everything a request handler needs, shared by all connections.
pub struct App {
    pub sandbox: Sandbox,
    pub admission: Admission,
    pub auth: Option<Authenticator>,
    pub deployment: Arc<Deployment>,
    pub hosts: HostPolicy,
    pub origins: OriginPolicy,
    pub max_body_bytes: usize,
    /// How long a request's body may take to arrive after its head.
    pub body_timeout: Duration,
    /// How long a connection may take to send a request head (idle keep-alive included).
    pub header_timeout: Duration,
    pub resource_url: String,
    pub authorization_servers: Vec<String>,
}

impl App {
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
            return responses::bad_request("a request must carry one Host header (RFC 9112 §3.2)");
        };
        match (request.method(), request.uri().path()) {
            (&Method::POST, "/mcp") => mcp_endpoint::handle(&self, request, host).await,
            (_, "/mcp") => responses::method_not_allowed(),
            (&Method::GET, "/healthz") => responses::text(http::StatusCode::OK, "ok"),
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

    fn protected_resource_metadata(&self) -> serde_json::Value {
        json!({
            "resource": self.resource_url,
            "authorization_servers": self.authorization_servers,
            "bearer_methods_supported": ["header"],
            "resource_name": "Quilt MCP",
            "resource_signing_alg_values_supported": self.auth.as_ref().map(|auth| {
                auth.accepted_algorithms().iter().map(|alg| format!("{alg:?}")).collect::<Vec<_>>()
            }),
        })
    }
}

/// Serves until `shutdown` resolves; connections in flight are finished first. Nothing a
/// client does, and no accept error, ends this loop.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    max_connections: usize,
    open_files: Option<u64>,
    shutdown: impl Future<Output = ()>,
) {
    let connections = tokio_util::task::TaskTracker::new();
    let mut acceptor = Acceptor::new(max_connections, open_files);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer, slot) = tokio::select! {
            accepted = acceptor.accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        let app = app.clone();
        connections.spawn(async move {
            serve_connection(app, stream, peer).await;
            drop(slot);
        });
    }
    connections.close();
    connections.wait().await;
}

async fn serve_connection(app: Arc<App>, stream: tokio::net::TcpStream, peer: SocketAddr) {
    // Responses stream from the guest in several writes; without this, Nagle's algorithm
    // meets the client's delayed ACK and a 13 KB tools/list answer waits 40 ms.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %error, "could not disable Nagle's algorithm");
    }
    let header_timeout = app.header_timeout;
    let service = hyper::service::service_fn(move |request| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(app.route(request).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(error) = connection.await {
        tracing::debug!(%peer, %error, "connection closed with an error");
    }
}
