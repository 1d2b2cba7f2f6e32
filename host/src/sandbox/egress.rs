//! The guest's only way out: outgoing HTTP, to exactly the origins the deployment allows.
//!
//! Every `wasi:http/outgoing-handler.handle` call passes through [`EgressHooks::send_request`],
//! which compares scheme, host and port with the allow-list and refuses anything else before a
//! connection is opened. Redirects are not followed, so a redirect to another origin comes back
//! to the guest, and following it means a new request through this same check.
//!
//! An `Authorization` header may only go to the Quilt registry: it is where the guest sends the
//! caller's forwarded token, and S3 requests are presigned in the query string, so a header
//! bound anywhere else can only be that token leaking.
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
    /// The registry's origin: the only one an `Authorization` header may go to.
    registry: Option<Origin>,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, WasiBody>,
}

/// Why a guest's request may not leave the sandbox.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum Refusal {
    #[error("origin not allowed")]
    OriginNotAllowed,
    #[error("authorization header toward an origin other than the registry's")]
    AuthorizationOffRegistry,
}

impl EgressPolicy {
    /// Allows `origins` and the registry's; only the registry may receive `Authorization`.
    pub fn new<'a>(
        origins: impl IntoIterator<Item = &'a url::Url>,
        registry: Option<&url::Url>,
    ) -> Self {
        let url_origin =
            |url: &url::Url| origin(url.scheme(), url.host_str()?, url.port_or_known_default()?);
        let registry = registry.and_then(url_origin);
        let allowed = origins
            .into_iter()
            .filter_map(url_origin)
            .chain(registry.clone())
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
        Self {
            allowed,
            registry,
            client,
        }
    }

    /// Allows nothing: for measuring instances that never call out.
    pub fn deny_all() -> Self {
        Self::new(std::iter::empty(), None)
    }

    fn check<B>(&self, request: &http::Request<B>) -> Result<(), Refusal> {
        let target = uri_origin(request.uri())
            .filter(|target| self.allowed.contains(target))
            .ok_or(Refusal::OriginNotAllowed)?;
        let carries_authorization = request.headers().contains_key(http::header::AUTHORIZATION);
        if carries_authorization && self.registry.as_ref() != Some(&target) {
            return Err(Refusal::AuthorizationOffRegistry);
        }
        Ok(())
    }

    /// Whether a virtual-host-style S3 URL (`<bucket>.<endpoint host>`) can ever pass: only
    /// when some allowed origin is such a subdomain, on the endpoint's scheme and port.
    pub fn allows_a_subdomain_of(&self, endpoint: &url::Url) -> bool {
        let Some((scheme, host, port)) = endpoint
            .host_str()
            .and_then(|host| origin(endpoint.scheme(), host, endpoint.port_or_known_default()?))
        else {
            return false;
        };
        let suffix = format!(".{host}");
        self.allowed
            .iter()
            .any(|(s, h, p)| *s == scheme && *p == port && h.ends_with(&suffix))
    }

    pub fn origins(&self) -> impl Iterator<Item = String> + '_ {
        self.allowed
            .iter()
            .map(|(scheme, host, port)| format!("{scheme}://{host}:{port}"))
    }
}

fn uri_origin(uri: &http::Uri) -> Option<Origin> {
    let scheme = uri.scheme_str()?;
    let port = uri.port_u16().or(match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })?;
    origin(scheme, uri.host()?, port)
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
        if let Err(refusal) = self.policy.check(&request) {
            let target = without_query(request.uri());
            tracing::warn!(request_id = %self.request_id, %target, "guest egress refused: {refusal}");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        // The request's own deadline bounds how long this may take, so the per-call
        // timeouts in `RequestOptions` add nothing a guest could rely on.
        let sent = self.policy.client.request(request);
        Box::new(async move {
            let response = sent.await.map_err(error_code)?;
            let response = response.map(|body| body.map_err(HttpError::from).boxed_unsync());
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
    use super::*;

    const REGISTRY: &str = "https://registry.example.com/api/";

    fn policy() -> EgressPolicy {
        let registry = url::Url::parse(REGISTRY).unwrap();
        EgressPolicy::new(
            &[
                url::Url::parse("http://127.0.0.1:8333").unwrap(),
                url::Url::parse("https://S3.example.com").unwrap(),
            ],
            Some(&registry),
        )
    }

    fn get(uri: &str) -> http::Request<()> {
        http::Request::get(uri).body(()).unwrap()
    }

    fn get_with_authorization(uri: &str, header_name: &str) -> http::Request<()> {
        http::Request::get(uri)
            .header(header_name, "Bearer caller-token")
            .body(())
            .unwrap()
    }

    #[test]
    fn allows_exact_origins_only() {
        let policy = policy();
        let allows = |uri: &str| policy.check(&get(uri)).is_ok();
        assert!(allows("http://127.0.0.1:8333/bucket/key"));
        assert!(allows("https://s3.example.com/b"));
        assert!(allows("https://s3.example.com:443/b"));
        assert!(
            allows("https://registry.example.com/graphql"),
            "the registry's origin"
        );
        assert!(!allows("http://127.0.0.1:8334/"), "other port");
        assert!(!allows("https://127.0.0.1:8333/"), "other scheme");
        assert!(
            !allows("http://s3.example.com/b"),
            "http where https is configured"
        );
        assert!(!allows("http://169.254.169.254/latest/meta-data"));
        assert!(!allows("/relative"));
    }

    #[test]
    fn authorization_goes_to_the_registry_only() {
        let policy = policy();
        for name in ["authorization", "Authorization", "AUTHORIZATION"] {
            assert_eq!(
                policy.check(&get_with_authorization(
                    "https://registry.example.com:443/graphql",
                    name
                )),
                Ok(())
            );
            assert_eq!(
                policy.check(&get_with_authorization("https://s3.example.com/b/k", name)),
                Err(Refusal::AuthorizationOffRegistry),
                "{name} toward S3"
            );
        }
        assert_eq!(
            policy.check(&get_with_authorization(
                "https://elsewhere.example.com/",
                "authorization"
            )),
            Err(Refusal::OriginNotAllowed)
        );
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

    #[test]
    fn virtual_host_buckets_need_an_allowed_subdomain() {
        let endpoint = url::Url::parse("http://localhost:8333").unwrap();
        let path_only = EgressPolicy::new([&endpoint], None);
        assert!(!path_only.allows_a_subdomain_of(&endpoint));
        let bucket = url::Url::parse("http://raw.localhost:8333").unwrap();
        let other_port = url::Url::parse("http://cooked.localhost:9000").unwrap();
        assert!(EgressPolicy::new([&endpoint, &bucket], None).allows_a_subdomain_of(&endpoint));
        assert!(
            !EgressPolicy::new([&endpoint, &other_port], None).allows_a_subdomain_of(&endpoint)
        );
    }

    #[test]
    fn without_a_registry_no_authorization_leaves() {
        let s3 = url::Url::parse("http://127.0.0.1:8333").unwrap();
        let policy = EgressPolicy::new([&s3], None);
        assert!(policy.check(&get("http://127.0.0.1:8333/b")).is_ok());
        assert_eq!(
            policy.check(&get_with_authorization(
                "http://127.0.0.1:8333/b",
                "authorization"
            )),
            Err(Refusal::AuthorizationOffRegistry)
        );
    }
}
