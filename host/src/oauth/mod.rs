//! The sign-in bridge: an OAuth 2.1 authorization server inside the host, in front of the
//! organization's OpenID provider, for MCP clients that sign in by OAuth (Claude, ChatGPT,
//! Cursor, VS Code) — opt-in with `--oauth-upstream-issuer`.
//!
//! It keeps no state. Everything it must read back — a client's registration, the consent
//! form, the upstream round trip, codes, refresh tokens, the upstream tokens inside access
//! tokens — is sealed with the bridge's key ([`keys`]), so any replica serves any step.
//!
//! The request path, one file a step: `metadata` (RFC 8414) → `clients` (CIMD or DCR) →
//! `authorize` (consent) → `upstream` (the IdP) → `callback` (our code) → `token` (our access
//! and refresh tokens) → `revoke`.

mod authorize;
mod callback;
mod client_metadata_document;
mod clients;
mod config;
mod errors;
mod keys;
mod pages;
mod pkce;
mod replay;
mod revoke;
mod token;
mod upstream;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

pub use config::OAuthConfig;
use errors::{OAuthError, invalid_request};
pub use keys::{KeyRing, Purpose, Unsealable};
pub use upstream::{UpstreamTokens, basic_authorization, read_capped};

use crate::server::responses::{self, HttpResponse};

/// Largest form or registration body accepted.
const MAX_BODY_BYTES: usize = 64 << 10;
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Bridge {
    issuer: String,
    resource: String,
    keys: Arc<KeyRing>,
    clients: clients::Clients,
    upstream: upstream::Upstream,
    scopes: Scopes,
    access_token_secs: u64,
    refresh_token_secs: u64,
    secure_cookie: bool,
    redeemed: replay::RedeemedCodes,
}

impl Bridge {
    /// `None` unless `--oauth-upstream-issuer` is set. `public_url` is this server's;
    /// `resource` its MCP endpoint.
    /// `scopes` are the ones it grants: each with what it lets an application do.
    pub fn from_config(
        config: &OAuthConfig,
        public_url: &Url,
        resource: &str,
        scopes: Vec<BridgeScope>,
    ) -> anyhow::Result<Option<Self>> {
        if !config.enabled() {
            return Ok(None);
        }
        let keys = Arc::new(KeyRing::from_secrets(&config.oauth_keys)?);
        Self::with_keys(config, public_url, resource, keys, scopes).map(Some)
    }

    fn with_keys(
        config: &OAuthConfig,
        public_url: &Url,
        resource: &str,
        keys: Arc<KeyRing>,
        scopes: Vec<BridgeScope>,
    ) -> anyhow::Result<Self> {
        let issuer = public_url.as_str().trim_end_matches('/').to_owned();
        let callback = format!("{issuer}/oauth/callback");
        Ok(Self {
            upstream: upstream::Upstream::new(config, callback)?,
            clients: clients::Clients::new(
                keys.clone(),
                config.oauth_allow_loopback_clients,
                public_url
                    .host_str()
                    .zip(public_url.port_or_known_default())
                    .map(|(host, port)| format!("{host}:{port}")),
            ),
            keys,
            resource: resource.to_owned(),
            scopes: Scopes(scopes),
            access_token_secs: config.oauth_access_token_secs,
            refresh_token_secs: config.oauth_refresh_token_secs,
            secure_cookie: public_url.scheme() == "https",
            redeemed: replay::RedeemedCodes::default(),
            issuer,
        })
    }

    /// The issuer identifier, as the protected-resource metadata names it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.clone()
    }

    /// Whether `path` is one of the bridge's.
    pub fn serves(path: &str) -> bool {
        path.starts_with("/oauth/")
            || matches!(
                path,
                "/.well-known/oauth-authorization-server" | "/.well-known/openid-configuration"
            )
    }

    pub async fn handle(&self, request: http::Request<Incoming>) -> HttpResponse {
        let (parts, body) = request.into_parts();
        let cookie = browser_cookie(&parts.headers, self.secure_cookie);
        let query = Form::parse(parts.uri.query().unwrap_or_default().as_bytes());
        let path = parts.uri.path();
        let public = |response: HttpResponse| cors(response);
        match (&parts.method, path) {
            (
                &Method::GET,
                "/.well-known/oauth-authorization-server" | "/.well-known/openid-configuration",
            ) => public(responses::json(StatusCode::OK, &self.metadata())),
            (&Method::GET, "/oauth/jwks") => {
                public(responses::json(StatusCode::OK, &self.keys.jwks()))
            }
            (&Method::GET, "/oauth/authorize") => {
                authorize::show_consent(self, &query, cookie.as_deref()).await
            }
            (&Method::GET, "/oauth/callback") => {
                callback::handle(self, &query, cookie.as_deref()).await
            }
            (&Method::OPTIONS, "/oauth/token" | "/oauth/register" | "/oauth/revoke") => {
                public(preflight())
            }
            (
                &Method::POST,
                "/oauth/consent" | "/oauth/token" | "/oauth/revoke" | "/oauth/register",
            ) => {
                let body = match read_body(body).await {
                    Ok(body) => body,
                    Err(error) => return public(error.response()),
                };
                match path {
                    "/oauth/consent" if !self.same_origin(&parts.headers) => self.error_page(
                        &invalid_request("the consent form was posted from another site"),
                    ),
                    "/oauth/consent" => {
                        authorize::decide(self, &Form::parse(&body), cookie.as_deref()).await
                    }
                    "/oauth/token" => public(token::handle(self, &Form::parse(&body)).await),
                    "/oauth/revoke" => public(revoke::handle(self, &Form::parse(&body)).await),
                    _ => public(self.register(&body)),
                }
            }
            _ => responses::json(
                StatusCode::NOT_FOUND,
                &json!({"error": "not_found", "error_description": "no such OAuth endpoint; see /.well-known/oauth-authorization-server"}),
            ),
        }
    }

    /// RFC 8414 §2.
    fn metadata(&self) -> Value {
        let at = |path: &str| format!("{}{path}", self.issuer);
        json!({
            "issuer": self.issuer,
            "authorization_endpoint": at("/oauth/authorize"),
            "token_endpoint": at("/oauth/token"),
            "registration_endpoint": at("/oauth/register"),
            "revocation_endpoint": at("/oauth/revoke"),
            "jwks_uri": at("/oauth/jwks"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": self.scopes.names(),
            "client_id_metadata_document_supported": true,
            "authorization_response_iss_parameter_supported": true,
        })
    }

    fn register(&self, body: &[u8]) -> HttpResponse {
        let request = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(error) => {
                return OAuthError::new(
                    errors::ErrorCode::InvalidClientMetadata,
                    format!("the registration is not the expected JSON: {error}"),
                )
                .response();
            }
        };
        match self.clients.register(request) {
            Ok(answer) => {
                let mut response = responses::json(StatusCode::CREATED, &answer);
                responses::no_store(&mut response);
                response
            }
            Err(error) => error.response(),
        }
    }

    fn error_page(&self, error: &OAuthError) -> HttpResponse {
        tracing::info!(target: "quilt_mcp::oauth", %error, "sign-in refused");
        responses::html(
            StatusCode::BAD_REQUEST,
            pages::error(error.code.as_str(), &error.description),
        )
    }

    /// The error, sent back to a client's checked redirect URI.
    fn redirect_error(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        error: &OAuthError,
    ) -> HttpResponse {
        tracing::info!(target: "quilt_mcp::oauth", %error, "sign-in ended with an error for the client");
        let code = error.code.in_authorization_response();
        let pairs = [
            ("error", code.as_str()),
            ("error_description", error.description.as_str()),
        ];
        let location = authorize::client_redirect(redirect_uri, &pairs, state, &self.issuer);
        responses::redirect(StatusCode::FOUND, &location)
    }

    /// The browser's sign-in cookie (a new one unless it has one), and the header that sets
    /// it for another ten minutes. `Path=/`: browsers refuse a `__Host-` cookie with any other.
    fn browser_cookie(&self, existing: Option<&str>) -> (String, Option<HeaderValue>) {
        let value = existing
            .filter(|value| value.len() == 43)
            .map_or_else(pkce::verifier, str::to_owned);
        let secure = if self.secure_cookie { "; Secure" } else { "" };
        let header = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=600{secure}",
            cookie_name(self.secure_cookie)
        );
        (value, HeaderValue::from_str(&header).ok())
    }

    /// Whether a form post comes from this server's own page, as far as the browser says:
    /// `Sec-Fetch-Site` when sent (it is, by every current browser), else `Origin` when sent
    /// (`null`, as a sandboxed frame sends it, is another site).
    fn same_origin(&self, headers: &http::HeaderMap) -> bool {
        if let Some(site) = headers.get("sec-fetch-site") {
            return site.as_bytes() == b"same-origin";
        }
        let own_origin = Url::parse(&self.issuer)
            .map(|url| url.origin().ascii_serialization())
            .unwrap_or_default();
        headers
            .get(header::ORIGIN)
            .is_none_or(|origin| origin.as_bytes() == own_origin.as_bytes())
    }

    /// The request must come from the browser that saw the consent page.
    fn check_browser(
        &self,
        request: &authorize::AuthorizationRequest,
        cookie: Option<&str>,
    ) -> Result<(), OAuthError> {
        match cookie {
            Some(cookie) if pkce::s256(cookie) == request.browser => Ok(()),
            _ => Err(invalid_request(
                "this sign-in was started in another browser (or its cookie was blocked); start again from your application",
            )),
        }
    }
}

/// A scope the bridge grants.
#[derive(Debug, Clone)]
pub struct BridgeScope {
    pub name: String,
    /// What it lets an application do, for the consent page.
    pub meaning: &'static str,
    /// Whether a client that asks for no scope gets it.
    pub by_default: bool,
}

/// The scopes the bridge grants.
struct Scopes(Vec<BridgeScope>);

impl Scopes {
    fn names(&self) -> Vec<&str> {
        self.0.iter().map(|scope| scope.name.as_str()).collect()
    }

    /// What `scope` lets an application do, for the consent page.
    fn meaning(&self, scope: &str) -> &'static str {
        self.0
            .iter()
            .find(|known| known.name == scope)
            .map_or("", |known| known.meaning)
    }

    /// Those asked for, in the order asked, when all are known; the default ones when none is
    /// asked (RFC 6749 §3.3 lets the server choose). `offline_access`, which some clients add
    /// to ask for a refresh token, is granted by issuing one and not echoed.
    fn granted(&self, asked: Option<&str>) -> Result<Vec<String>, OAuthError> {
        let asked: Vec<&str> = asked
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty() && *s != "offline_access")
            .collect();
        if asked.is_empty() {
            return Ok(self
                .0
                .iter()
                .filter(|scope| scope.by_default)
                .map(|scope| scope.name.clone())
                .collect());
        }
        let mut granted = Vec::new();
        for scope in asked {
            if !self.names().contains(&scope) {
                return Err(OAuthError::new(
                    errors::ErrorCode::InvalidScope,
                    format!(
                        "unknown scope {:?}; this server grants {}",
                        crate::untrusted::bounded(scope),
                        self.names().join(", ")
                    ),
                ));
            }
            if !granted.iter().any(|g: &String| g == scope) {
                granted.push(scope.to_owned());
            }
        }
        Ok(granted)
    }
}

/// A sealed value with its expiry (seconds since the epoch).
#[derive(Serialize, Deserialize)]
struct Sealed<T> {
    value: T,
    exp: u64,
}

impl<T> Sealed<T> {
    fn new(value: T, exp: u64) -> Self {
        Self { value, exp }
    }

    fn unexpired(self) -> Option<T> {
        (now_secs() < self.exp).then_some(self.value)
    }
}

/// A form (`application/x-www-form-urlencoded`) or query string, in which a parameter may
/// appear at most once (RFC 6749 §3.1).
pub struct Form(Vec<(String, String)>);

impl Form {
    fn parse(bytes: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(bytes).into_owned().collect())
    }

    fn one(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut values = self.0.iter().filter(|(key, _)| key == name);
        let first = values.next().map(|(_, value)| value.as_str());
        if values.next().is_some() {
            return Err(invalid_request(format!("{name} appears more than once")));
        }
        Ok(first.filter(|value| !value.is_empty()))
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

fn cookie_name(secure: bool) -> &'static str {
    // `__Host-` binds the cookie to this origin, where the browser honours it (https only).
    if secure {
        "__Host-quilt-mcp-signin"
    } else {
        "quilt-mcp-signin"
    }
}

/// The sign-in cookie by the one name this server sets: over https only the `__Host-` one,
/// which a sibling subdomain cannot plant.
fn browser_cookie(headers: &http::HeaderMap, secure: bool) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == cookie_name(secure))
        .map(|(_, value)| value.to_owned())
}

async fn read_body(body: Incoming) -> Result<Bytes, OAuthError> {
    match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY_BYTES).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(_)) => Err(invalid_request(format!(
            "the body could not be read or is over {MAX_BODY_BYTES} bytes"
        ))),
        Err(_) => Err(invalid_request("the body did not arrive in time")),
    }
}

/// Browser-based clients read the metadata and call the token endpoint across origins; no
/// cookie is involved there, so any origin may.
fn cors(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

fn preflight() -> HttpResponse {
    let mut response = responses::text(StatusCode::NO_CONTENT, "");
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, authorization, mcp-protocol-version"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

/// A bridge for unit tests: its upstream is never reached by what they exercise.
#[cfg(test)]
pub(crate) fn bridge_for_tests() -> Bridge {
    let config = crate::cli::parse_serve(&[
        "--oauth-upstream-issuer",
        "https://idp.invalid",
        "--oauth-upstream-client-id",
        "quilt-mcp",
        "--oauth-upstream-client-secret",
        "secret",
    ])
    .expect("valid flags")
    .oauth;
    let public_url = Url::parse("https://mcp.example.com").expect("a URL");
    Bridge::with_keys(
        &config,
        &public_url,
        "https://mcp.example.com/mcp",
        Arc::new(KeyRing::random()),
        test_scopes().0,
    )
    .expect("a bridge")
}

#[cfg(test)]
fn test_scopes() -> Scopes {
    let scope = |name: &str, by_default| BridgeScope {
        name: name.into(),
        meaning: "what it allows",
        by_default,
    };
    Scopes(vec![
        scope("quilt:read", true),
        scope("quilt:write", true),
        scope("quilt:delete", false),
    ])
}

#[cfg(test)]
mod tests {
    use super::{Form, test_scopes};

    #[test]
    fn over_https_the_cookie_is_a_host_cookie_browsers_keep() {
        let bridge = super::bridge_for_tests();
        let (value, header) = bridge.browser_cookie(None);
        let header = header.unwrap();
        let header = header.to_str().unwrap();
        assert!(
            header.starts_with(&format!("__Host-quilt-mcp-signin={value}; Path=/;")),
            "{header}"
        );
        assert!(header.contains("; Secure"), "{header}");
        // Only that name is read: a sibling subdomain can set the plain one, not this.
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            format!("quilt-mcp-signin={value}").parse().unwrap(),
        );
        assert_eq!(super::browser_cookie(&headers, true), None);
        headers.insert(
            http::header::COOKIE,
            format!("__Host-quilt-mcp-signin={value}").parse().unwrap(),
        );
        assert_eq!(super::browser_cookie(&headers, true), Some(value));
    }

    #[test]
    fn a_consent_post_from_another_site_is_not_same_origin() {
        let bridge = super::bridge_for_tests();
        let mut headers = http::HeaderMap::new();
        assert!(
            bridge.same_origin(&headers),
            "no headers: a non-browser client"
        );
        headers.insert(
            http::header::ORIGIN,
            "https://mcp.example.com".parse().unwrap(),
        );
        assert!(bridge.same_origin(&headers));
        headers.insert(
            http::header::ORIGIN,
            "https://evil.example".parse().unwrap(),
        );
        assert!(!bridge.same_origin(&headers));
        headers.insert(
            http::header::ORIGIN,
            "https://mcp.example.com".parse().unwrap(),
        );
        headers.insert("sec-fetch-site", "same-site".parse().unwrap());
        assert!(!bridge.same_origin(&headers));
    }

    #[test]
    fn a_parameter_given_twice_is_refused() {
        let form = Form::parse(b"code=a&code=b&state=s");
        assert!(form.one("code").is_err());
        assert_eq!(form.one("state").unwrap(), Some("s"));
        assert_eq!(form.one("missing").unwrap(), None);
    }

    #[test]
    fn scopes_are_known_ones_or_the_default_ones() {
        let scopes = test_scopes();
        assert_eq!(scopes.granted(None).unwrap(), ["quilt:read", "quilt:write"]);
        assert_eq!(
            scopes.granted(Some("quilt:delete")).unwrap(),
            ["quilt:delete"]
        );
        assert_eq!(
            scopes
                .granted(Some("quilt:read offline_access quilt:read"))
                .unwrap(),
            ["quilt:read"]
        );
        assert!(scopes.granted(Some("quilt:read admin")).is_err());
    }
}
