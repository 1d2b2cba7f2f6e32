//! The guest's only way out: outgoing HTTP, to exactly the origins the deployment allows.
//!
//! Every `wasi:http/outgoing-handler.handle` call passes through [`EgressHooks::send_request`],
//! which checks it against the allow-list (the rule, shared with the standalone adapter, is
//! `quilt_mcp_policy::egress`: exact origin; `Authorization` to the registry only) and refuses
//! anything else before a connection is opened. Redirects are not followed, so a redirect to
//! another origin comes back to the guest, and following it means a new request through this
//! same check.
//!
//! Allowed requests go out through one pooled client shared by all requests: guest instances
//! live for one request, but the TCP and TLS connections to S3 need not. Connections carry no
//! identity — every request is signed by its own caller's credentials.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use quilt_mcp_policy::egress::{AllowList, Refusal};
use quilt_mcp_policy::origin::Origin;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::audit::Touched;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Short: a server may close an idle connection at any moment after its own idle timeout,
/// and a request sent on it just then fails. Under load connections are reused long before.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);

pub struct EgressPolicy {
    allowed: AllowList,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, WasiBody>,
}

impl EgressPolicy {
    /// Allows `origins`, `signed` (which may receive SigV4-signed calls) and the registry's;
    /// only the registry may receive a bearer `Authorization`.
    pub fn new<'a>(
        origins: impl IntoIterator<Item = &'a url::Url>,
        signed: impl IntoIterator<Item = &'a url::Url>,
        registry: Option<&url::Url>,
    ) -> Self {
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
        Self {
            allowed: AllowList::new(origins, registry).with_signed(signed),
            client,
        }
    }

    /// Allows nothing: for measuring instances that never call out.
    pub fn deny_all() -> Self {
        Self::new(std::iter::empty(), std::iter::empty(), None)
    }

    fn check<B>(&self, request: &http::Request<B>) -> Result<(), Refusal> {
        let uri = request.uri();
        let authorization = request.headers().get(http::header::AUTHORIZATION);
        self.allowed.check_request(
            uri.scheme_str(),
            uri.authority().map(http::uri::Authority::as_str),
            authorization.map(|value| value.to_str().unwrap_or("")),
        )
    }

    /// Whether a virtual-host-style S3 URL (`<bucket>.<endpoint host>`) can ever pass.
    pub fn allows_a_subdomain_of(&self, endpoint: &url::Url) -> bool {
        self.allowed.allows_a_subdomain_of(endpoint)
    }

    pub fn origins(&self) -> impl Iterator<Item = &Origin> {
        self.allowed.origins()
    }
}

/// The wasi:http hooks of one request's store.
pub struct EgressHooks {
    pub policy: Arc<EgressPolicy>,
    pub request_id: String,
    /// Where this request's allowed calls went, and their bytes, for its audit event.
    pub touched: Arc<Touched>,
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
        if let Err(refusal) = self.policy.check(&request) {
            let target = without_query(request.uri());
            tracing::warn!(request_id = %self.request_id, %target, "guest egress refused: {refusal}");
            crate::metrics::metrics().egress_refused();
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|value| value.to_str().ok());
        self.touched.record(request.uri(), operation);
        let (written, read) = (self.touched.clone(), self.touched.clone());
        let request = request.map(|body| {
            body.map_frame(move |frame| {
                if let Some(data) = frame.data_ref() {
                    written.add_written(data.len());
                }
                frame
            })
            .boxed_unsync()
        });
        // The request's own deadline bounds how long this may take, so the per-call
        // timeouts in `RequestOptions` add nothing a guest could rely on.
        let sent = self.policy.client.request(request);
        Box::new(async move {
            let response = sent.await.map_err(error_code)?;
            let response = response.map(|body| {
                body.map_frame(move |frame| {
                    if let Some(data) = frame.data_ref() {
                        read.add_read(data.len());
                    }
                    frame
                })
                .map_err(HttpError::from)
                .boxed_unsync()
            });
            let connection_errors: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, connection_errors))
        })
    }
}

/// Scheme, host, port and the start of the path, never the query or any user info: an S3
/// request's query is its presigned signature and session token, usable by anyone who reads
/// the log.
fn without_query(uri: &http::Uri) -> String {
    let port = uri
        .port()
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    format!(
        "{}://{}{port}{}",
        uri.scheme_str().unwrap_or("-"),
        uri.host().unwrap_or("-"),
        crate::untrusted::cut(uri.path(), MAX_LOGGED_PATH_CHARS)
    )
}

/// Enough of a path to tell a bucket and key prefix apart.
const MAX_LOGGED_PATH_CHARS: usize = 256;

/// The wasi:http error code of a failed send, so the guest can tell (by type, not text) a
/// request worth sending again from one that is not: a pooled connection the server had
/// closed fails as `ConnectionTerminated`, while a refusal by policy is `HttpRequestDenied`.
fn error_code(error: hyper_util::client::legacy::Error) -> HttpError {
    use std::error::Error as _;
    if error.is_connect() {
        return HttpError::ConnectionRefused;
    }
    match error
        .source()
        .and_then(|source| source.downcast_ref::<hyper::Error>())
    {
        Some(hyper) if hyper.is_parse() => HttpError::HttpProtocolError,
        Some(hyper) if hyper.is_timeout() => HttpError::ConnectionReadTimeout,
        Some(_) => HttpError::ConnectionTerminated,
        None => HttpError::InternalError(Some(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::{EgressPolicy, Refusal, without_query};

    fn policy() -> EgressPolicy {
        let s3 = url::Url::parse("https://s3.example.com").unwrap();
        let registry = url::Url::parse("https://registry.example.com/api/").unwrap();
        EgressPolicy::new([&s3], [], Some(&registry))
    }

    fn get_with(uri: &str, header: Option<&str>) -> http::Request<()> {
        let request = http::Request::get(uri);
        let request = match header {
            Some(name) => request.header(name, "Bearer caller-token"),
            None => request,
        };
        request.body(()).unwrap()
    }

    /// The rule itself is quilt_mcp_policy's to test; this is what the host hands it.
    #[test]
    fn requests_are_checked_by_their_uri_and_any_authorization_header() {
        let policy = policy();
        assert_eq!(
            policy.check(&get_with("https://s3.example.com/b/k", None)),
            Ok(())
        );
        assert_eq!(
            policy.check(&get_with("https://user@s3.example.com/b/k", None)),
            Err(Refusal::OriginNotAllowed),
            "the authority as written, user info included"
        );
        assert_eq!(
            policy.check(&get_with("/relative", None)),
            Err(Refusal::Unaddressed)
        );
        for name in ["authorization", "Authorization", "AUTHORIZATION"] {
            assert_eq!(
                policy.check(&get_with(
                    "https://registry.example.com:443/graphql",
                    Some(name)
                )),
                Ok(())
            );
            assert_eq!(
                policy.check(&get_with("https://s3.example.com/b/k", Some(name))),
                Err(Refusal::AuthorizationOffRegistry),
                "{name} toward S3"
            );
        }
    }

    #[test]
    fn logged_targets_never_carry_the_query() {
        let uri: http::Uri =
            "http://127.0.0.1:8333/b/k?X-Amz-Signature=abc&X-Amz-Security-Token=secret"
                .parse()
                .unwrap();
        assert_eq!(without_query(&uri), "http://127.0.0.1:8333/b/k");
        let with_user: http::Uri = "http://user:secret@s3.example.com/b/k".parse().unwrap();
        assert_eq!(without_query(&with_user), "http://s3.example.com/b/k");
        let long: http::Uri = format!("http://s3.example.com/{}", "k".repeat(60_000))
            .parse()
            .unwrap();
        assert!(without_query(&long).len() < 400);
    }
}
