//! OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, the
//! registration MCP 2025-11-25 prefers): a client names itself with an https URL as its
//! `client_id`, and the authorization server fetches the JSON document at that URL to learn
//! its name and redirect URIs. The URL comes from an anonymous party, so fetching it is a
//! request this server makes on a stranger's behalf; every rule below exists because of that.
//!
//! The URL ([`DocumentFetcher::is_document_url`]):
//! - `https` only: a document read in the clear could be altered on the way, and with it the
//!   redirect URIs authorization codes are sent to. Plain `http` is accepted only for
//!   `localhost`, `127.0.0.1` and `[::1]`, and only when [`FetchPolicy::allow_loopback`] is on —
//!   a development server signing in a client that runs beside it, which the draft permits.
//! - A path, no fragment, no user info, no `.` or `..` segments (the draft's rules). The
//!   `client_id` is compared as a plain string, so a spelling the URL parser would rewrite
//!   (`/a/../b`, `user@host`) would name one client and fetch another; such spellings, and
//!   anything that is not printable ASCII, are refused rather than normalised.
//!
//! Where the fetch may go (the draft forbids special-use addresses, RFC 6890):
//! - The host is resolved here, and the fetch is refused if *any* address it resolves to is
//!   loopback, private, link-local (169.254.169.254 is the cloud metadata service), unique-local,
//!   carrier-grade NAT, unspecified, multicast, broadcast, documentation, benchmarking or
//!   reserved — including such IPv4 addresses written as IPv4-mapped or -compatible IPv6, as
//!   NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`). Otherwise `https://metadata.google.internal/x`,
//!   `https://localhost./x`, `https://0x7f.1/x` (the URL parser reads numeric IPv4 spellings as
//!   the address they denote) or a name with one public and one private address would reach
//!   services that trust the host's network position.
//! - The connection goes only to the addresses that were checked: the HTTP client's resolver
//!   answers the checked host with them and refuses every other name. A name whose DNS answer
//!   changes between the check and the connection (DNS rebinding) cannot move the fetch.
//! - No proxy from the environment: a proxy would resolve the name itself, unchecked.
//! - Redirects are not followed (the draft's rule) and a 3xx is an error: a redirect is a second
//!   URL the check never saw.
//!
//! What is read:
//! - One deadline ([`FetchPolicy::timeout`]) for resolving, connecting and reading the whole
//!   body, so a host that trickles bytes cannot hold a request for longer.
//! - At most [`FetchPolicy::max_bytes`] of body (the draft recommends 5 KB; a real document is a
//!   few hundred bytes), counted as it arrives rather than taken from `Content-Length`.
//! - Status 200 only, a JSON content type (`application/json` or `application/…+json`, as the
//!   draft says), and a JSON object (serde would otherwise read an array positionally).
//! - The document's `client_id` must equal the URL exactly: otherwise anyone could publish a
//!   document claiming to be another client.
//! - `redirect_uris` must be present, each an absolute URL without fragment, `https` or
//!   loopback `http` or a native app's private scheme, never `javascript:`/`data:`/`file:`.
//! - Public clients only: a `token_endpoint_auth_method` other than `none` is refused (this
//!   server does not implement `private_key_jwt`; shared-secret methods cannot exist for a public
//!   document), and so is a document carrying `client_secret`.
//!
//! Caching: a good document is kept for `min(cache_ttl, Cache-Control max-age)` in a map of
//! at most [`FetchPolicy::cache_entries`] (oldest evicted), so a popular client is not fetched
//! per request. A failure is remembered for [`FetchPolicy::failure_ttl`] and answered from
//! memory meanwhile, so a hostile `client_id` cannot turn this server into a request pump
//! against some site; the draft says not to cache error *responses* as documents, and none is —
//! only the refusal to fetch again is. For the same reason a document with `max-age=0` is
//! still kept for `failure_ttl`. Concurrent requests for one `client_id` share one fetch.
//!
//! Errors name what to fix; any hostile text they carry is cut to
//! [`crate::untrusted::MAX_CHARS`] characters. Nothing here panics on any input.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::de::IgnoredAny;
use url::{Host, Url};

use crate::untrusted::{bounded, cut};

/// Longest `client_id` considered: a URL meant to be shown on a consent screen.
pub const MAX_CLIENT_ID_BYTES: usize = 2048;
/// The draft's recommended read limit ("5 kilobytes").
pub const DEFAULT_MAX_BYTES: usize = 5 * 1024;
/// The longest any entry is kept, whatever the policy says (and `Instant` arithmetic stays sane).
const MAX_TTL: Duration = Duration::from_secs(86_400);
/// Longest transport error text kept in a [`DocumentError::Transport`].
const MAX_TRANSPORT_CHARS: usize = 200;
const USER_AGENT: &str = concat!("quilt-mcp/", env!("CARGO_PKG_VERSION"));

/// The client metadata this server uses, as the document states it (RFC 7591 names).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ClientDocument {
    /// Equal to the URL the document was fetched from.
    pub client_id: String,
    #[serde(default)]
    pub client_name: Option<String>,
    /// Kept only when it is an https URL (it may be linked from a consent page).
    #[serde(default)]
    pub client_uri: Option<String>,
    /// Kept only when it is an https URL (it may be shown on a consent page).
    #[serde(default)]
    pub logo_uri: Option<String>,
    /// Never empty in a document [`DocumentFetcher::fetch`] returns.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// RFC 7591's default when absent: `["authorization_code"]`.
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<String>,
    /// RFC 7591's default when absent: `["code"]`.
    #[serde(default = "default_response_types")]
    pub response_types: Vec<String>,
    /// `None` or `Some("none")` in a document [`DocumentFetcher::fetch`] returns.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

fn default_grant_types() -> Vec<String> {
    vec!["authorization_code".to_owned()]
}

fn default_response_types() -> Vec<String> {
    vec!["code".to_owned()]
}

/// Members a public document must not have (the draft, "Credential and Key Material Restrictions").
#[derive(Deserialize)]
struct SecretMembers {
    #[serde(default)]
    client_secret: Option<IgnoredAny>,
    #[serde(default)]
    client_secret_expires_at: Option<IgnoredAny>,
}

/// How documents are fetched and kept.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Development only: accept `http://localhost`, `127.0.0.1`, `[::1]` and loopback addresses.
    /// The draft forbids this in production: any stranger could make the server call itself.
    pub allow_loopback: bool,
    /// For the whole fetch: resolving, connecting, and reading the body.
    pub timeout: Duration,
    /// Most bytes of body read; a longer document is refused.
    pub max_bytes: usize,
    /// Longest a good document is kept (shorter if its `Cache-Control: max-age` says so).
    pub cache_ttl: Duration,
    /// Most documents kept, and separately most failures remembered.
    pub cache_entries: usize,
    /// How long a failed fetch is answered from memory before the URL is tried again; also the
    /// least time a good document is kept.
    pub failure_ttl: Duration,
    /// This server's own `host:port` (from its public URL): a document there is refused, so a
    /// `client_id` cannot make the server fetch its own endpoints, each fetching the next.
    pub own_authority: Option<String>,
}

/// Fetches at once, over every `client_id`: a flood of distinct ids waits here rather than
/// holding sockets and resolver threads.
const MAX_CONCURRENT_FETCHES: usize = 8;

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            timeout: Duration::from_secs(5),
            max_bytes: DEFAULT_MAX_BYTES,
            cache_ttl: Duration::from_secs(600),
            cache_entries: 1024,
            failure_ttl: Duration::from_secs(10),
            own_authority: None,
        }
    }
}

/// Why a `client_id` was not accepted as a metadata document URL, or its document refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("the client_id is not a usable metadata document URL: it {0}")]
    NotAUrl(&'static str),
    #[error("the client_id names this server itself, which serves no client metadata documents")]
    OwnServer,
    #[error(
        "the client_id uses {0:?}; a metadata document URL must use https (http only for \
         localhost, 127.0.0.1 or [::1] on a development server that allows loopback fetches)"
    )]
    InsecureScheme(String),
    #[error(
        "the client_id's host is at {0}, which is {reason}; metadata documents are fetched only \
         from public addresses, so serve it from a publicly reachable host",
        reason = special_use_reason(.0)
    )]
    ForbiddenAddress(IpAddr),
    #[error("the client_id's host {0:?} did not resolve to any address; check its DNS records")]
    Unresolvable(String),
    #[error("could not fetch the metadata document: {0}")]
    Transport(String),
    #[error("the metadata document is larger than {0} bytes, the most this server reads")]
    TooLarge(usize),
    #[error("fetching the metadata document took longer than {0:?}; it must be served faster")]
    Timeout(Duration),
    #[error(
        "the client_id URL answered with a redirect (HTTP {0}); redirects are not followed, so \
         serve the document at the client_id URL itself"
    )]
    Redirected(u16),
    #[error("the client_id URL answered HTTP {0}; a metadata document is served with 200 OK")]
    HttpStatus(u16),
    #[error("the metadata document is not JSON: {0}")]
    NotJson(String),
    #[error("the metadata document is not a valid client metadata object: {0}")]
    BadDocument(String),
    #[error(
        "the document's client_id {found:?} is not exactly the URL it was fetched from; they \
         must be the same string, character for character"
    )]
    ClientIdMismatch { found: String },
    #[error(
        "the metadata document lists no redirect_uris; list each exact URL the client receives \
         authorization codes at"
    )]
    NoRedirectUris,
    #[error("the redirect_uri {uri:?} {reason}")]
    BadRedirectUri { uri: String, reason: &'static str },
    #[error(
        "token_endpoint_auth_method {0:?} is not supported: this server accepts public clients \
         only, so use \"none\" or leave it out (private_key_jwt is not supported, and \
         shared-secret methods cannot be used with a public metadata document)"
    )]
    UnsupportedAuthMethod(String),
    #[error(
        "the metadata document contains client_secret or client_secret_expires_at; the document \
         is public, so it must not carry a secret"
    )]
    SecretInDocument,
}

/// Fetches, checks and caches Client ID Metadata Documents. Build one per process.
pub struct DocumentFetcher {
    policy: FetchPolicy,
    lookup: Lookup,
    documents: Mutex<Cache<ClientDocument>>,
    failures: Mutex<Cache<DocumentError>>,
    /// One gate per `client_id` being fetched, so concurrent requests share the fetch.
    in_flight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// [`MAX_CONCURRENT_FETCHES`] permits.
    fetches: tokio::sync::Semaphore,
}

/// A `client_id` that passed the URL rules.
struct Target {
    url: Url,
    host: Host<String>,
    port: u16,
}

impl DocumentFetcher {
    pub fn new(policy: FetchPolicy) -> Self {
        Self::with_lookup(policy, Lookup::System)
    }

    fn with_lookup(policy: FetchPolicy, lookup: Lookup) -> Self {
        let entries = policy.cache_entries;
        Self {
            policy,
            lookup,
            documents: Mutex::new(Cache::new(entries)),
            failures: Mutex::new(Cache::new(entries)),
            in_flight: Mutex::default(),
            fetches: tokio::sync::Semaphore::new(MAX_CONCURRENT_FETCHES),
        }
    }

    /// Whether `client_id` is a metadata document URL this fetcher would try: https with a
    /// path, no fragment, user info or dot segments; or `http://localhost|127.0.0.1|[::1]/…`
    /// when the policy allows loopback. Says nothing about where the host resolves.
    pub fn is_document_url(&self, client_id: &str) -> bool {
        self.target(client_id).is_ok()
    }

    /// The document `client_id` names, checked; from the cache when it holds one.
    pub async fn fetch(&self, client_id: &str) -> Result<ClientDocument, DocumentError> {
        let target = self.target(client_id)?;
        if let Some(known) = self.cached(client_id) {
            return known;
        }
        let gate = InFlight::enter(&self.in_flight, client_id);
        let _turn = gate.lock.lock().await;
        if let Some(known) = self.cached(client_id) {
            return known;
        }
        let fetch = async {
            let _permit = self
                .fetches
                .acquire()
                .await
                .expect("the semaphore is never closed");
            self.fetch_now(client_id, &target).await
        };
        let outcome = tokio::time::timeout(self.policy.timeout, fetch)
            .await
            .unwrap_or(Err(DocumentError::Timeout(self.policy.timeout)));
        let now = Instant::now();
        match &outcome {
            Ok((document, max_age)) => {
                let floor = self.policy.failure_ttl.min(self.policy.cache_ttl);
                let ttl = max_age
                    .map_or(self.policy.cache_ttl, |age| age.min(self.policy.cache_ttl))
                    .max(floor);
                lock(&self.failures).remove(client_id);
                lock(&self.documents).put(client_id, document.clone(), ttl, now);
            }
            Err(error) => {
                lock(&self.failures).put(client_id, error.clone(), self.policy.failure_ttl, now);
            }
        }
        outcome.map(|(document, _)| document)
    }

    fn cached(&self, client_id: &str) -> Option<Result<ClientDocument, DocumentError>> {
        let now = Instant::now();
        if let Some(document) = lock(&self.documents).get(client_id, now) {
            return Some(Ok(document));
        }
        lock(&self.failures).get(client_id, now).map(Err)
    }

    async fn fetch_now(
        &self,
        client_id: &str,
        target: &Target,
    ) -> Result<(ClientDocument, Option<Duration>), DocumentError> {
        let addresses = self.resolve(target).await?;
        let (body, max_age) = self.download(target, addresses).await?;
        Ok((parse_document(client_id, &body)?, max_age))
    }

    /// The URL rules: everything that can be decided from the string alone.
    fn target(&self, client_id: &str) -> Result<Target, DocumentError> {
        use DocumentError::NotAUrl;
        if client_id.len() > MAX_CLIENT_ID_BYTES {
            return Err(NotAUrl("is longer than 2048 bytes"));
        }
        if !client_id.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(NotAUrl(
                "contains a space, a control or a non-ASCII character (percent-encode it, and \
                 write an international host name in punycode)",
            ));
        }
        if client_id.contains('\\') {
            return Err(NotAUrl("contains a backslash"));
        }
        if client_id.contains('#') {
            return Err(NotAUrl(
                "has a fragment (#…), which a client_id URL must not",
            ));
        }
        let Some((_, rest)) = client_id.split_once("://") else {
            return Err(NotAUrl(
                "is not an absolute URL such as https://example.com/client.json",
            ));
        };
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, after) = rest.split_at(authority_end);
        if authority.is_empty() {
            return Err(NotAUrl("has no host"));
        }
        if authority.contains('@') {
            return Err(NotAUrl(
                "has user info (user@ before the host), which it must not",
            ));
        }
        if authority.contains('%') {
            return Err(NotAUrl("has a percent-encoded host"));
        }
        let path = &after[..after.find('?').unwrap_or(after.len())];
        if path.is_empty() {
            return Err(NotAUrl(
                "has no path; a metadata document URL needs one, such as /oauth/client.json",
            ));
        }
        if path.split('/').any(is_dot_segment) {
            return Err(NotAUrl("has a . or .. path segment, which it must not"));
        }
        let url = Url::parse(client_id).map_err(|_| NotAUrl("is not a valid URL"))?;
        let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
            return Err(NotAUrl("has no host"));
        };
        let host = host.to_owned();
        if self
            .policy
            .own_authority
            .as_deref()
            .is_some_and(|own| format!("{host}:{port}").eq_ignore_ascii_case(own))
        {
            return Err(DocumentError::OwnServer);
        }
        match url.scheme() {
            "https" => {}
            "http" if self.policy.allow_loopback && is_loopback_name(&host) => {}
            scheme => return Err(DocumentError::InsecureScheme(bounded(scheme))),
        }
        Ok(Target { url, host, port })
    }

    /// The addresses to connect to: all the host's, each checked.
    async fn resolve(&self, target: &Target) -> Result<Vec<SocketAddr>, DocumentError> {
        let mut addresses = match &target.host {
            Host::Ipv4(ip) => vec![IpAddr::V4(*ip)],
            Host::Ipv6(ip) => vec![IpAddr::V6(*ip)],
            Host::Domain(name) => self.lookup.ips(name, target.port).await?,
        };
        addresses.dedup();
        if addresses.is_empty() {
            return Err(DocumentError::Unresolvable(host_text(target)));
        }
        if let Some(forbidden) = addresses
            .iter()
            .find(|ip| special_use(**ip, self.policy.allow_loopback).is_some())
        {
            return Err(DocumentError::ForbiddenAddress(*forbidden));
        }
        Ok(addresses
            .into_iter()
            .map(|ip| SocketAddr::new(ip, target.port))
            .collect())
    }

    /// GET the document from `addresses` only; its body and how long it may be kept.
    async fn download(
        &self,
        target: &Target,
        addresses: Vec<SocketAddr>,
    ) -> Result<(Vec<u8>, Option<Duration>), DocumentError> {
        let timeout = self.policy.timeout;
        let failed = |error: reqwest::Error| transport_error(error, timeout);
        let pinned = Pinned {
            host: host_text(target),
            addresses,
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(pinned))
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(0)
            .user_agent(USER_AGENT)
            .build()
            .map_err(failed)?;
        let mut response = client
            .get(target.url.clone())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(failed)?;
        let status = response.status();
        if matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
            return Err(DocumentError::Redirected(status.as_u16()));
        }
        if status != http::StatusCode::OK {
            return Err(DocumentError::HttpStatus(status.as_u16()));
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|value: &http::HeaderValue| value.to_str().ok())
        };
        match header(http::header::CONTENT_TYPE) {
            Some(content_type) if is_json_type(content_type) => {}
            Some(content_type) => {
                return Err(DocumentError::NotJson(format!(
                    "it is served as {:?}; serve it as application/json",
                    bounded(content_type)
                )));
            }
            None => {
                return Err(DocumentError::NotJson(
                    "it has no Content-Type; serve it as application/json".to_owned(),
                ));
            }
        }
        let age = header(http::header::AGE).and_then(|age| age.trim().parse().ok());
        let max_age = header(http::header::CACHE_CONTROL)
            .and_then(cache_max_age)
            .map(|max_age| max_age.saturating_sub(Duration::from_secs(age.unwrap_or(0))));
        let limit = self.policy.max_bytes;
        // A declared length only refuses early; the count below is what holds.
        if response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return Err(DocumentError::TooLarge(limit));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > limit {
                return Err(DocumentError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, max_age))
    }
}

/// The document checks, on a body already within the size limit.
fn parse_document(client_id: &str, body: &[u8]) -> Result<ClientDocument, DocumentError> {
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(DocumentError::NotJson(
            "it is not a JSON object ({ … })".to_owned(),
        ));
    }
    let mut document: ClientDocument = serde_json::from_slice(body).map_err(json_error)?;
    let secrets: SecretMembers = serde_json::from_slice(body).map_err(json_error)?;
    if document.client_id != client_id {
        return Err(DocumentError::ClientIdMismatch {
            found: bounded(&document.client_id),
        });
    }
    if secrets.client_secret.is_some() || secrets.client_secret_expires_at.is_some() {
        return Err(DocumentError::SecretInDocument);
    }
    if let Some(method) = &document.token_endpoint_auth_method
        && method != "none"
    {
        return Err(DocumentError::UnsupportedAuthMethod(bounded(method)));
    }
    if document.redirect_uris.is_empty() {
        return Err(DocumentError::NoRedirectUris);
    }
    for uri in &document.redirect_uris {
        if let Some(reason) = redirect_uri_problem(uri) {
            return Err(DocumentError::BadRedirectUri {
                uri: bounded(uri),
                reason,
            });
        }
    }
    for link in [&mut document.client_uri, &mut document.logo_uri] {
        let https = |uri: &str| Url::parse(uri).is_ok_and(|url| url.scheme() == "https");
        if link.as_deref().is_some_and(|uri| !https(uri)) {
            *link = None;
        }
    }
    Ok(document)
}

/// Why `uri` cannot be a registered redirect URI, if it cannot: the one rule for metadata
/// documents and dynamic registration alike.
pub fn redirect_uri_problem(uri: &str) -> Option<&'static str> {
    if !uri.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Some("contains a space, a control or a non-ASCII character");
    }
    if uri.contains('#') {
        return Some("has a fragment (#…), which a redirect URI must not");
    }
    let Ok(url) = Url::parse(uri) else {
        return Some("is not an absolute URL");
    };
    match url.scheme() {
        "https" => None,
        "http"
            if url
                .host()
                .is_some_and(|host| is_loopback_name(&host.to_owned())) =>
        {
            None
        }
        "http" => Some("uses http for a host other than localhost, 127.0.0.1 or [::1]; use https"),
        "javascript" | "data" | "vbscript" | "file" | "blob" | "about" | "filesystem" => {
            Some("uses a scheme a browser runs or reads locally; use https or the app's own scheme")
        }
        // A native app's private-use scheme (RFC 8252, section 7.1).
        _ => None,
    }
}

fn json_error(error: serde_json::Error) -> DocumentError {
    // serde_json's text quotes the offending value; keep a bounded part, then the place.
    let text = error.to_string();
    let what = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(what, _)| what);
    let message = format!(
        "{} (line {}, column {})",
        bounded(what),
        error.line(),
        error.column()
    );
    match error.classify() {
        serde_json::error::Category::Data => DocumentError::BadDocument(message),
        _ => DocumentError::NotJson(message),
    }
}

fn transport_error(error: reqwest::Error, timeout: Duration) -> DocumentError {
    if error.is_timeout() {
        return DocumentError::Timeout(timeout);
    }
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    DocumentError::Transport(cut(&message, MAX_TRANSPORT_CHARS))
}

/// `application/json`, or `application/<anything>+json`, with any parameters.
fn is_json_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.len() > "+json".len() && subtype.ends_with("+json"))
}

/// `max-age` of a `Cache-Control` value; `no-cache` and `no-store` mean "as short as allowed".
fn cache_max_age(value: &str) -> Option<Duration> {
    value.split(',').map(str::trim).find_map(|directive| {
        let directive = directive.to_ascii_lowercase();
        if directive == "no-cache" || directive == "no-store" {
            return Some(Duration::ZERO);
        }
        let seconds = directive.strip_prefix("max-age=")?;
        seconds
            .trim_matches('"')
            .parse()
            .ok()
            .map(Duration::from_secs)
    })
}

fn is_dot_segment(segment: &str) -> bool {
    [".", "..", "%2e", "%2e%2e", ".%2e", "%2e."]
        .iter()
        .any(|dot| segment.eq_ignore_ascii_case(dot))
}

/// The names plain http is accepted for in development.
fn is_loopback_name(host: &Host<String>) -> bool {
    match host {
        Host::Domain(name) => name == "localhost",
        Host::Ipv4(ip) => *ip == Ipv4Addr::LOCALHOST,
        Host::Ipv6(ip) => *ip == Ipv6Addr::LOCALHOST,
    }
}

fn host_text(target: &Target) -> String {
    target.url.host_str().unwrap_or_default().to_owned()
}

/// IPv4 special-use blocks (RFC 6890 and the IANA registry) never fetched from.
const SPECIAL_V4: &[(u32, u8, &str)] = &[
    (0x0000_0000, 8, "in 0.0.0.0/8 (\"this network\")"),
    (0x0a00_0000, 8, "private (10.0.0.0/8)"),
    (0x6440_0000, 10, "carrier-grade NAT space (100.64.0.0/10)"),
    (0x7f00_0000, 8, "loopback (127.0.0.0/8)"),
    (
        0xa9fe_0000,
        16,
        "link-local (169.254.0.0/16, where cloud metadata services answer)",
    ),
    (0xac10_0000, 12, "private (172.16.0.0/12)"),
    (
        0xc000_0000,
        24,
        "reserved for IETF protocols (192.0.0.0/24)",
    ),
    (0xc000_0200, 24, "documentation (192.0.2.0/24)"),
    (0xc058_6300, 24, "the 6to4 relay anycast (192.88.99.0/24)"),
    (0xc0a8_0000, 16, "private (192.168.0.0/16)"),
    (0xc612_0000, 15, "benchmarking (198.18.0.0/15)"),
    (0xc633_6400, 24, "documentation (198.51.100.0/24)"),
    (0xcb00_7100, 24, "documentation (203.0.113.0/24)"),
    (0xe000_0000, 4, "multicast (224.0.0.0/4)"),
    (
        0xf000_0000,
        4,
        "reserved (240.0.0.0/4, with the broadcast address)",
    ),
];
const LOOPBACK_V4: u32 = 0x7f00_0000;

/// IPv6 special-use blocks; besides these, anything outside 2000::/3 is refused.
const SPECIAL_V6: &[(u128, u8, &str)] = &[
    (
        0x0064_ff9b_0001 << 80,
        48,
        "local-use NAT64 (64:ff9b:1::/48)",
    ),
    (0x0100 << 112, 64, "discard-only (100::/64)"),
    (
        0x2001 << 112,
        23,
        "reserved for IETF protocols (2001::/23, with Teredo)",
    ),
    (0x2001_0db8 << 96, 32, "documentation (2001:db8::/32)"),
    (0x3fff << 112, 20, "documentation (3fff::/20)"),
    (0xfc00 << 112, 7, "unique local (fc00::/7)"),
    (0xfe80 << 112, 10, "link-local (fe80::/10)"),
    (0xfec0 << 112, 10, "site-local (fec0::/10)"),
    (0xff00 << 112, 8, "multicast (ff00::/8)"),
];
const NAT64: u128 = 0x0064_ff9b << 96;
const SIX_TO_FOUR: u128 = 0x2002 << 112;
const GLOBAL_UNICAST: u128 = 0x2000 << 112;

/// What kind of special-use address `ip` is, or `None` for a public unicast address.
fn special_use(ip: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => special_use_v4(ip, allow_loopback),
        IpAddr::V6(ip) => special_use_v6(ip, allow_loopback),
    }
}

fn special_use_reason(ip: &IpAddr) -> &'static str {
    special_use(*ip, false).unwrap_or("a special-use address")
}

fn special_use_v4(ip: Ipv4Addr, allow_loopback: bool) -> Option<&'static str> {
    let bits = u32::from(ip);
    SPECIAL_V4
        .iter()
        .filter(|(net, _, _)| !(allow_loopback && *net == LOOPBACK_V4))
        .find(|(net, len, _)| bits >> (32 - u32::from(*len)) == net >> (32 - u32::from(*len)))
        .map(|(_, _, why)| *why)
}

fn special_use_v6(ip: Ipv6Addr, allow_loopback: bool) -> Option<&'static str> {
    let bits = u128::from(ip);
    let within =
        |net: u128, len: u8| bits >> (128 - u32::from(len)) == net >> (128 - u32::from(len));
    if let Some(v4) = ip.to_ipv4_mapped() {
        return special_use_v4(v4, allow_loopback).map(|_| "an IPv4-mapped special-use address");
    }
    if ip == Ipv6Addr::LOCALHOST {
        return (!allow_loopback).then_some("loopback (::1)");
    }
    if ip.is_unspecified() {
        return Some("unspecified (::)");
    }
    if bits >> 32 == 0 {
        return Some("IPv4-compatible (::/96, deprecated)");
    }
    // Translated to IPv4 on the way: what matters is the IPv4 address inside.
    if within(NAT64, 96) {
        return special_use_v4(Ipv4Addr::from(bits as u32), false)
            .map(|_| "NAT64 (64:ff9b::/96) of a special-use IPv4 address");
    }
    if within(SIX_TO_FOUR, 16) {
        return special_use_v4(Ipv4Addr::from((bits >> 80) as u32), false)
            .map(|_| "6to4 (2002::/16) of a special-use IPv4 address");
    }
    if let Some((_, _, why)) = SPECIAL_V6.iter().find(|(net, len, _)| within(*net, *len)) {
        return Some(why);
    }
    (!within(GLOBAL_UNICAST, 3)).then_some("outside the global unicast range 2000::/3")
}

/// Name resolution: the system's, or in tests a fixed table.
enum Lookup {
    System,
    #[cfg(test)]
    Fixed(Vec<(&'static str, Vec<IpAddr>)>),
}

impl Lookup {
    async fn ips(&self, name: &str, port: u16) -> Result<Vec<IpAddr>, DocumentError> {
        let unresolvable = || DocumentError::Unresolvable(bounded(name));
        match self {
            Lookup::System => tokio::net::lookup_host((name, port))
                .await
                .map(|found| found.map(|address| address.ip()).collect())
                .map_err(|_| unresolvable()),
            #[cfg(test)]
            Lookup::Fixed(table) => table
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, ips)| ips.clone())
                .ok_or_else(unresolvable),
        }
    }
}

/// The HTTP client's resolver: the checked host's checked addresses, and no other name.
struct Pinned {
    host: String,
    addresses: Vec<SocketAddr>,
}

impl reqwest::dns::Resolve for Pinned {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let answer: reqwest::dns::Addrs = Box::new(self.addresses.clone().into_iter());
        let matches = name.as_str().eq_ignore_ascii_case(&self.host);
        Box::pin(async move {
            if matches {
                Ok(answer)
            } else {
                Err("only the checked client_id host is resolved".into())
            }
        })
    }
}

/// Entries by `client_id`, at most `capacity`, each until it expires; the oldest goes first.
struct Cache<T> {
    capacity: usize,
    entries: HashMap<String, Cached<T>>,
}

struct Cached<T> {
    value: T,
    stored: Instant,
    expires: Instant,
}

impl<T: Clone> Cache<T> {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::new(),
        }
    }

    fn get(&self, key: &str, now: Instant) -> Option<T> {
        self.entries
            .get(key)
            .filter(|entry| entry.expires > now)
            .map(|entry| entry.value.clone())
    }

    fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }

    fn put(&mut self, key: &str, value: T, ttl: Duration, now: Instant) {
        if self.capacity == 0 || ttl.is_zero() {
            return;
        }
        if !self.entries.contains_key(key) && self.entries.len() >= self.capacity {
            self.entries.retain(|_, entry| entry.expires > now);
        }
        while !self.entries.contains_key(key) && self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.stored)
                .map(|(key, _)| key.clone());
            match oldest {
                Some(oldest) => self.entries.remove(&oldest),
                None => break,
            };
        }
        let expires = now.checked_add(ttl.min(MAX_TTL)).unwrap_or(now);
        self.entries.insert(
            key.to_owned(),
            Cached {
                value,
                stored: now,
                expires,
            },
        );
    }
}

/// A place in line for one `client_id`'s fetch; leaves the map when dropped (also when the
/// request waiting on it is cancelled).
struct InFlight<'a> {
    map: &'a Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    key: &'a str,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl<'a> InFlight<'a> {
    fn enter(map: &'a Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>, key: &'a str) -> Self {
        let lock = lock(map).entry(key.to_owned()).or_default().clone();
        Self { map, key, lock }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut map = lock(self.map);
        if map
            .get(self.key)
            .is_some_and(|current| Arc::ptr_eq(current, &self.lock))
        {
            map.remove(self.key);
        }
    }
}

/// A poisoned lock still guards consistent data here (every update is one insert or remove).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, SocketAddr};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use url::{Host, Url};

    use super::{
        ClientDocument, DocumentError, DocumentFetcher, FetchPolicy, Lookup, Target, cache_max_age,
        parse_document, special_use,
    };
    use crate::untrusted::MAX_CHARS;

    /// What the stand-in server does on a connection, in order, after reading the request head.
    enum Step {
        Send(Vec<u8>),
        Pause(Duration),
    }

    /// A raw HTTP/1.1 server on 127.0.0.1 that counts connections and records requests.
    struct Server {
        base: String,
        connections: Arc<AtomicUsize>,
        requests: Arc<Mutex<Vec<String>>>,
    }

    impl Server {
        fn url(&self, path: &str) -> String {
            format!("{}{path}", self.base)
        }

        fn connections(&self) -> usize {
            self.connections.load(Ordering::SeqCst)
        }

        /// `path host` of each request so far.
        fn requests(&self) -> Vec<String> {
            self.requests.lock().unwrap().clone()
        }
    }

    /// Serves `route(path, base URL)` on every connection.
    async fn serve<F>(route: F) -> Server
    where
        F: Fn(&str, &str) -> Vec<Step> + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (counted, recorded, route, root) = (
            connections.clone(),
            requests.clone(),
            Arc::new(route),
            base.clone(),
        );
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let (recorded, route, root) = (recorded.clone(), route.clone(), root.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buffer = [0; 1024];
                    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => head.extend_from_slice(&buffer[..read]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                    let host = head
                        .lines()
                        .find_map(|line| {
                            line.to_ascii_lowercase()
                                .strip_prefix("host: ")
                                .map(str::to_owned)
                        })
                        .unwrap_or_default();
                    recorded.lock().unwrap().push(format!("{path} {host}"));
                    for step in route(&path, &root) {
                        match step {
                            Step::Send(bytes) => {
                                if stream.write_all(&bytes).await.is_err() {
                                    return;
                                }
                            }
                            Step::Pause(pause) => tokio::time::sleep(pause).await,
                        }
                    }
                    let _ = stream.shutdown().await;
                });
            }
        });
        Server {
            base,
            connections,
            requests,
        }
    }

    fn reply(status: &str, headers: &[(&str, &str)], body: &str) -> Vec<Step> {
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head.push_str(body);
        vec![Step::Send(head.into_bytes())]
    }

    fn json(body: &str) -> Vec<Step> {
        reply("200 OK", &[("Content-Type", "application/json")], body)
    }

    /// A JSON head without a length: the body runs until the connection closes.
    fn unsized_json() -> Step {
        Step::Send(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                .to_vec(),
        )
    }

    fn document(client_id: &str) -> String {
        format!(
            r#"{{"client_id": "{client_id}", "client_name": "Test client",
            "redirect_uris": ["http://127.0.0.1:7777/callback"],
            "token_endpoint_auth_method": "none", "software_id": {{"unknown": true}}}}"#
        )
    }

    /// A good document for whatever path is asked for.
    fn good(path: &str, base: &str) -> Vec<Step> {
        json(&document(&format!("{base}{path}")))
    }

    fn development() -> FetchPolicy {
        FetchPolicy {
            allow_loopback: true,
            timeout: Duration::from_secs(3),
            ..FetchPolicy::default()
        }
    }

    /// A fetcher whose name lookups come from `table` (nothing else resolves).
    fn with_names(policy: FetchPolicy, table: Vec<(&'static str, Vec<IpAddr>)>) -> DocumentFetcher {
        DocumentFetcher::with_lookup(policy, Lookup::Fixed(table))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn accepts_https_urls_with_a_path() {
        let fetcher = DocumentFetcher::new(FetchPolicy::default());
        for url in [
            "https://example.com/client.json",
            "https://example.com:8443/oauth/client?v=2",
            "https://example.com/",
            "https://[2606:4700::1]/client",
        ] {
            assert!(fetcher.is_document_url(url), "{url}");
        }
    }

    #[test]
    fn refuses_urls_the_draft_forbids_or_a_parser_would_rewrite() {
        let fetcher = DocumentFetcher::new(FetchPolicy::default());
        for url in [
            "client-1234",
            "https://example.com",
            "https://example.com?client=1",
            "https://example.com/client#top",
            "https://example.com/client#",
            "https://user@example.com/client",
            "https://user:secret@example.com/client",
            "https://@example.com/client",
            "https://example.com/a/../client",
            "https://example.com/./client",
            "https://example.com/a/..",
            "https://example.com/%2E%2e/client",
            "https://example.com/.%2e/client",
            "https:example.com/client",
            "https:///example.com/client",
            "https://example.com\\@evil.example/client",
            "https://example.com/cli ent",
            "https://example.com/client\n",
            "https://exämple.com/client",
            "https://%6cocalhost/client",
            "https://example.com:99999/client",
            "https://[::1/client",
            "https://",
            "",
        ] {
            let refused = fetcher.target(url).err();
            assert!(
                matches!(refused, Some(DocumentError::NotAUrl(_))),
                "{url:?}: {refused:?}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(2100));
        assert!(matches!(
            fetcher.target(&long).err(),
            Some(DocumentError::NotAUrl(_))
        ));
    }

    #[test]
    fn http_is_accepted_only_for_loopback_names_in_development() {
        let production = DocumentFetcher::new(FetchPolicy::default());
        let development = DocumentFetcher::new(development());
        for url in [
            "http://localhost:8080/client",
            "http://127.0.0.1/client",
            "http://[::1]:9/c",
        ] {
            assert!(matches!(
                production.target(url).err(),
                Some(DocumentError::InsecureScheme(_))
            ));
            assert!(development.is_document_url(url), "{url}");
        }
        for url in [
            "http://example.com/client",
            "http://10.0.0.1/client",
            "ftp://example.com/c",
        ] {
            assert!(
                matches!(
                    development.target(url).err(),
                    Some(DocumentError::InsecureScheme(_))
                ),
                "{url}"
            );
        }
    }

    #[test]
    fn special_use_addresses_are_refused() {
        for address in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "169.254.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::8.8.8.8",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::a00:1",
            "64:ff9b:1::808:808",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "100::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "5f00::1",
            "4000::1",
            "1::1",
        ] {
            assert!(special_use(ip(address), false).is_some(), "{address}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for address in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.0.1",
            "172.32.0.1",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.255",
            "::ffff:8.8.8.8",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(special_use(ip(address), false), None, "{address}");
        }
    }

    #[test]
    fn loopback_is_allowed_only_in_development() {
        for address in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert!(special_use(ip(address), false).is_some(), "{address}");
            assert_eq!(special_use(ip(address), true), None, "{address}");
        }
        // Loopback only: the rest stays refused, and a translated loopback is not this host's.
        for address in [
            "10.0.0.1",
            "169.254.169.254",
            "fe80::1",
            "64:ff9b::7f00:1",
            "0.0.0.0",
        ] {
            assert!(special_use(ip(address), true).is_some(), "{address}");
        }
    }

    #[tokio::test]
    async fn literal_special_use_hosts_are_refused_in_every_spelling() {
        let fetcher = with_names(FetchPolicy::default(), Vec::new());
        for (url, address) in [
            ("https://2130706433/client", "127.0.0.1"),
            ("https://0x7f.1/client", "127.0.0.1"),
            ("https://0177.0.0.1/client", "127.0.0.1"),
            ("https://127.1/client", "127.0.0.1"),
            ("https://[::ffff:127.0.0.1]/client", "::ffff:127.0.0.1"),
            ("https://[::127.0.0.1]/client", "::127.0.0.1"),
            (
                "https://169.254.169.254/latest/meta-data/",
                "169.254.169.254",
            ),
            (
                "https://[::ffff:169.254.169.254]/client",
                "::ffff:169.254.169.254",
            ),
            ("https://[64:ff9b::a9fe:a9fe]/client", "64:ff9b::a9fe:a9fe"),
            ("https://[2002:a9fe:a9fe::1]/client", "2002:a9fe:a9fe::1"),
            ("https://0.0.0.0/client", "0.0.0.0"),
            ("https://0/client", "0.0.0.0"),
            ("https://[::]/client", "::"),
            ("https://[fe80::1]/client", "fe80::1"),
            ("https://[fd00::1]/client", "fd00::1"),
            ("https://10.1.2.3/client", "10.1.2.3"),
            ("https://100.64.0.1/client", "100.64.0.1"),
            ("https://255.255.255.255/client", "255.255.255.255"),
        ] {
            let refused = fetcher.fetch(url).await;
            assert_eq!(
                refused,
                Err(DocumentError::ForbiddenAddress(ip(address))),
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn a_name_is_refused_when_any_of_its_addresses_is_special_use() {
        let fetcher = with_names(
            FetchPolicy::default(),
            vec![
                ("mixed.example", vec![ip("93.184.215.14"), ip("10.0.0.7")]),
                ("metadata.google.internal", vec![ip("169.254.169.254")]),
                (
                    "rebind.example",
                    vec![ip("2606:4700::1"), ip("::ffff:127.0.0.1")],
                ),
                ("localhost.", vec![ip("127.0.0.1")]),
                ("empty.example", Vec::new()),
            ],
        );
        let cases = [
            (
                "https://mixed.example/client",
                Err(DocumentError::ForbiddenAddress(ip("10.0.0.7"))),
            ),
            (
                "https://metadata.google.internal/computeMetadata/v1/",
                Err(DocumentError::ForbiddenAddress(ip("169.254.169.254"))),
            ),
            (
                "https://rebind.example/client",
                Err(DocumentError::ForbiddenAddress(ip("::ffff:127.0.0.1"))),
            ),
            (
                "https://localhost./client",
                Err(DocumentError::ForbiddenAddress(ip("127.0.0.1"))),
            ),
            (
                "https://empty.example/client",
                Err(DocumentError::Unresolvable("empty.example".into())),
            ),
            (
                "https://nowhere.example/client",
                Err(DocumentError::Unresolvable("nowhere.example".into())),
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(fetcher.fetch(url).await, expected, "{url}");
        }
    }

    #[tokio::test]
    async fn a_loopback_server_is_refused_before_connecting_in_production() {
        let server = serve(good).await;
        let port = server.base.rsplit(':').next().unwrap().to_owned();
        let fetcher = DocumentFetcher::new(FetchPolicy::default());
        for url in [
            format!("https://127.0.0.1:{port}/client"),
            format!("https://localhost:{port}/client"),
            format!("https://[::ffff:127.0.0.1]:{port}/client"),
        ] {
            let refused = fetcher.fetch(&url).await;
            assert!(
                matches!(refused, Err(DocumentError::ForbiddenAddress(_))),
                "{url}: {refused:?}"
            );
        }
        // As the development server would fetch it: plain http is refused before anything too.
        assert!(matches!(
            fetcher.fetch(&server.url("/client")).await,
            Err(DocumentError::InsecureScheme(_))
        ));
        assert_eq!(server.connections(), 0);
    }

    #[tokio::test]
    async fn connects_only_to_the_checked_addresses() {
        // `cimd.invalid` resolves nowhere (RFC 6761): the request can only have reached the
        // server through the address it was pinned to.
        let server = serve(|_, _| json("{}")).await;
        let address: SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
        let url = Url::parse(&format!("http://cimd.invalid:{}/client", address.port())).unwrap();
        let target = Target {
            url,
            host: Host::Domain("cimd.invalid".to_owned()),
            port: address.port(),
        };
        let fetcher = DocumentFetcher::new(development());
        let (body, _) = fetcher.download(&target, vec![address]).await.unwrap();
        assert_eq!(body, b"{}");
        let expected_request = format!("/client cimd.invalid:{}", address.port());
        assert_eq!(server.requests(), [expected_request]);
    }

    #[tokio::test]
    async fn fetches_and_checks_a_document() {
        let server = serve(good).await;
        let client_id = server.url("/oauth/client.json");
        let fetcher = DocumentFetcher::new(development());
        let document = fetcher.fetch(&client_id).await.unwrap();
        assert_eq!(
            document,
            ClientDocument {
                client_id: client_id.clone(),
                client_name: Some("Test client".into()),
                client_uri: None,
                logo_uri: None,
                redirect_uris: vec!["http://127.0.0.1:7777/callback".into()],
                grant_types: vec!["authorization_code".into()],
                response_types: vec!["code".into()],
                token_endpoint_auth_method: Some("none".into()),
                scope: None,
            }
        );
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn redirects_are_refused_not_followed() {
        let server = serve(|path, base| match path {
            "/moved" => reply("302 Found", &[("Location", &format!("{base}/target"))], ""),
            // Following the redirect would find a document claiming the first URL.
            _ => json(&document(&format!("{base}/moved"))),
        })
        .await;
        let fetcher = DocumentFetcher::new(development());
        assert_eq!(
            fetcher.fetch(&server.url("/moved")).await,
            Err(DocumentError::Redirected(302))
        );
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn bodies_are_cut_at_max_bytes_whatever_the_headers_say() {
        const LIMIT: usize = 512;
        let padded = |base: &str, path: &str, size: usize| {
            let body = document(&format!("{base}{path}"));
            format!("{body}{}", " ".repeat(size - body.len()))
        };
        let server = serve(move |path, base| match path {
            "/exact" => vec![unsized_json(), Step::Send(padded(base, path, LIMIT).into_bytes())],
            "/over" => vec![unsized_json(), Step::Send(padded(base, path, LIMIT + 1).into_bytes())],
            "/chunked" => {
                let mut steps = vec![Step::Send(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                        .to_vec(),
                )];
                for _ in 0..1024 {
                    steps.push(Step::Send(format!("400\r\n{}\r\n", " ".repeat(1024)).into_bytes()));
                }
                steps.push(Step::Send(b"0\r\n\r\n".to_vec()));
                steps
            }
            "/endless" => {
                let mut steps = vec![unsized_json()];
                steps.extend((0..1024).map(|_| Step::Send(vec![b' '; 1024])));
                steps
            }
            _ => reply("200 OK", &[("Content-Type", "application/json")], &" ".repeat(LIMIT + 1)),
        })
        .await;
        let fetcher = DocumentFetcher::new(FetchPolicy {
            max_bytes: LIMIT,
            ..development()
        });
        assert!(fetcher.fetch(&server.url("/exact")).await.is_ok());
        for path in ["/over", "/chunked", "/endless", "/declared"] {
            assert_eq!(
                fetcher.fetch(&server.url(path)).await,
                Err(DocumentError::TooLarge(LIMIT)),
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn a_slow_server_times_out_within_the_deadline() {
        let server = serve(|path, base| match path {
            "/slow-head" => vec![Step::Pause(Duration::from_secs(10))],
            _ => {
                let body = document(&format!("{base}{path}"));
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let mut steps = vec![Step::Send(head.into_bytes())];
                // A byte every 100 ms: each read succeeds, the whole does not finish in time.
                steps.extend(body.bytes().flat_map(|byte| {
                    [Step::Send(vec![byte]), Step::Pause(Duration::from_millis(100))]
                }));
                steps
            }
        })
        .await;
        let timeout = Duration::from_millis(400);
        let fetcher = DocumentFetcher::new(FetchPolicy {
            timeout,
            ..development()
        });
        for path in ["/slow-head", "/trickle"] {
            let started = Instant::now();
            assert_eq!(
                fetcher.fetch(&server.url(path)).await,
                Err(DocumentError::Timeout(timeout)),
                "{path}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{path}: {:?}",
                started.elapsed()
            );
        }
    }

    #[tokio::test]
    async fn the_documents_client_id_must_be_the_url_exactly() {
        let server = serve(|path, base| {
            let claimed = match path {
                "/other" => "https://trusted.example/client".to_owned(),
                "/slash" => format!("{base}/slash/"),
                _ => format!("{}{path}", base.to_uppercase()),
            };
            json(&document(&claimed))
        })
        .await;
        let fetcher = DocumentFetcher::new(development());
        for path in ["/other", "/slash", "/case"] {
            let refused = fetcher.fetch(&server.url(path)).await;
            assert!(
                matches!(refused, Err(DocumentError::ClientIdMismatch { .. })),
                "{path}: {refused:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_document_must_be_served_as_json() {
        let server = serve(|path, base| {
            let body = document(&format!("{base}{path}"));
            match path {
                "/html" => reply("200 OK", &[("Content-Type", "text/html")], "<html></html>"),
                "/untyped" => reply("200 OK", &[], &body),
                "/plain" => reply("200 OK", &[("Content-Type", "text/plain")], &body),
                "/broken" => json("{\"client_id\": "),
                "/array" => json(&format!("[{body}]")),
                "/vendor" => reply(
                    "200 OK",
                    &[(
                        "Content-Type",
                        "Application/Vnd.Example+JSON; charset=utf-8",
                    )],
                    &body,
                ),
                _ => json(&body),
            }
        })
        .await;
        let fetcher = DocumentFetcher::new(development());
        for path in ["/html", "/untyped", "/plain", "/broken", "/array"] {
            let refused = fetcher.fetch(&server.url(path)).await;
            assert!(
                matches!(refused, Err(DocumentError::NotJson(_))),
                "{path}: {refused:?}"
            );
        }
        assert!(fetcher.fetch(&server.url("/vendor")).await.is_ok());
    }

    #[tokio::test]
    async fn only_200_is_a_document() {
        let server = serve(|path, base| {
            let body = document(&format!("{base}{path}"));
            let status = match path {
                "/missing" => "404 Not Found",
                "/created" => "201 Created",
                "/unmodified" => "304 Not Modified",
                _ => "500 Internal Server Error",
            };
            reply(status, &[("Content-Type", "application/json")], &body)
        })
        .await;
        let fetcher = DocumentFetcher::new(development());
        for (path, status) in [
            ("/missing", 404),
            ("/created", 201),
            ("/unmodified", 304),
            ("/x", 500),
        ] {
            assert_eq!(
                fetcher.fetch(&server.url(path)).await,
                Err(DocumentError::HttpStatus(status)),
                "{path}"
            );
        }
    }

    #[test]
    fn document_rules() {
        const ID: &str = "https://app.example/client";
        let with = |members: &str| {
            parse_document(
                ID,
                format!(r#"{{"client_id": "{ID}", {members}}}"#).as_bytes(),
            )
        };
        let uris = r#""redirect_uris": ["https://app.example/cb"]"#;
        let bad_uri = |uri: &str| {
            matches!(
                with(&format!(
                    r#""redirect_uris": ["https://app.example/cb", "{uri}"]"#
                )),
                Err(DocumentError::BadRedirectUri { .. })
            )
        };

        assert_eq!(
            with(r#""client_name": "x""#),
            Err(DocumentError::NoRedirectUris)
        );
        assert_eq!(
            with(r#""redirect_uris": []"#),
            Err(DocumentError::NoRedirectUris)
        );
        for uri in [
            "https://app.example/cb#frag",
            "/cb",
            "cb",
            "http://app.example/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "https://app.example/c b",
        ] {
            assert!(bad_uri(uri), "{uri}");
        }
        for uri in [
            "http://127.0.0.1:3000/cb",
            "http://localhost/cb",
            "http://[::1]:1/cb",
            "com.example.app:/cb",
        ] {
            assert!(!bad_uri(uri), "{uri}");
        }

        for method in [
            "private_key_jwt",
            "client_secret_basic",
            "client_secret_post",
            "None",
        ] {
            let refused = with(&format!(
                r#"{uris}, "token_endpoint_auth_method": "{method}""#
            ));
            assert_eq!(
                refused,
                Err(DocumentError::UnsupportedAuthMethod(method.into()))
            );
        }
        let refused = with(&format!(r#"{uris}, "client_secret": "s3cret""#));
        assert_eq!(refused, Err(DocumentError::SecretInDocument));
        let refused = with(&format!(r#"{uris}, "client_secret_expires_at": 0"#));
        assert_eq!(refused, Err(DocumentError::SecretInDocument));

        // A second client_id (which one would a parser believe?) and wrong types are refused.
        let refused = with(&format!(
            r#"{uris}, "client_id": "https://other.example/x""#
        ));
        assert!(
            matches!(refused, Err(DocumentError::BadDocument(_))),
            "{refused:?}"
        );
        let refused = with(r#""redirect_uris": "https://app.example/cb""#);
        assert!(
            matches!(refused, Err(DocumentError::BadDocument(_))),
            "{refused:?}"
        );
        let refused = parse_document(ID, br#"{"redirect_uris": ["https://app.example/cb"]}"#);
        assert!(
            matches!(refused, Err(DocumentError::BadDocument(_))),
            "{refused:?}"
        );

        // Links a consent page might show are kept only as https URLs.
        let document = with(&format!(
            r#"{uris}, "logo_uri": "javascript:alert(1)", "client_uri": "https://app.example/",
            "grant_types": ["authorization_code", "refresh_token"], "scope": "read""#
        ))
        .unwrap();
        assert_eq!(document.logo_uri, None);
        assert_eq!(document.client_uri.as_deref(), Some("https://app.example/"));
        assert_eq!(
            document.grant_types,
            ["authorization_code", "refresh_token"]
        );
        assert_eq!(document.scope.as_deref(), Some("read"));
        assert_eq!(document.token_endpoint_auth_method, None);
    }

    #[test]
    fn errors_carry_only_a_bounded_part_of_hostile_text() {
        const ID: &str = "https://app.example/client";
        let huge = "x".repeat(10_000);
        let refusals = [
            parse_document(ID, format!(r#"{{"client_id": "{huge}"}}"#).as_bytes()),
            parse_document(
                ID,
                format!(r#"{{"client_id": "{ID}", "redirect_uris": ["https://a/#{huge}"]}}"#).as_bytes(),
            ),
            parse_document(
                ID,
                format!(r#"{{"client_id": "{ID}", "redirect_uris": ["https://a/"], "token_endpoint_auth_method": "{huge}"}}"#)
                    .as_bytes(),
            ),
            parse_document(ID, format!(r#"{{"client_id": "{ID}", "redirect_uris": "{huge}"}}"#).as_bytes()),
            parse_document(ID, format!(r#"{{"client_id": {huge}}}"#).as_bytes()),
        ];
        for refusal in refusals {
            let message = refusal.unwrap_err().to_string();
            assert!(message.len() < 400, "{} bytes: {message}", message.len());
            assert!(!message.contains(&"x".repeat(MAX_CHARS + 1)), "{message}");
        }
        let forbidden = DocumentError::ForbiddenAddress(ip("169.254.169.254")).to_string();
        assert!(forbidden.contains("cloud metadata"), "{forbidden}");
    }

    #[tokio::test]
    async fn good_documents_are_kept_up_to_their_max_age() {
        let server = serve(|path, base| {
            let cache_control = match path {
                "/uncacheable" => "no-store",
                "/brief" => "max-age=0",
                _ => "public, max-age=3600",
            };
            reply(
                "200 OK",
                &[
                    ("Content-Type", "application/json"),
                    ("Cache-Control", cache_control),
                ],
                &document(&format!("{base}{path}")),
            )
        })
        .await;
        let fetcher = DocumentFetcher::new(FetchPolicy {
            cache_ttl: Duration::from_secs(60),
            failure_ttl: Duration::from_millis(300),
            ..development()
        });
        for path in ["/popular", "/uncacheable", "/brief"] {
            fetcher.fetch(&server.url(path)).await.unwrap();
            fetcher.fetch(&server.url(path)).await.unwrap();
        }
        // Within the least time, every document is served from memory.
        assert_eq!(server.requests().len(), 3);
        tokio::time::sleep(Duration::from_millis(500)).await;
        for path in ["/popular", "/uncacheable", "/brief"] {
            fetcher.fetch(&server.url(path)).await.unwrap();
        }
        let paths: Vec<String> = server
            .requests()
            .iter()
            .map(|r| r.split(' ').next().unwrap().to_owned())
            .collect();
        assert_eq!(
            paths,
            [
                "/popular",
                "/uncacheable",
                "/brief",
                "/uncacheable",
                "/brief"
            ]
        );

        // And never past the configured time, whatever max-age says.
        let short = DocumentFetcher::new(FetchPolicy {
            cache_ttl: Duration::from_millis(200),
            failure_ttl: Duration::from_millis(100),
            ..development()
        });
        short.fetch(&server.url("/popular")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        short.fetch(&server.url("/popular")).await.unwrap();
        assert_eq!(server.requests().len(), 7);
    }

    #[tokio::test]
    async fn failures_are_remembered_briefly() {
        let server = serve(|_, _| reply("500 Internal Server Error", &[], "")).await;
        let fetcher = DocumentFetcher::new(FetchPolicy {
            failure_ttl: Duration::from_millis(300),
            ..development()
        });
        let client_id = server.url("/client");
        for _ in 0..5 {
            assert_eq!(
                fetcher.fetch(&client_id).await,
                Err(DocumentError::HttpStatus(500))
            );
        }
        assert_eq!(server.requests().len(), 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            fetcher.fetch(&client_id).await,
            Err(DocumentError::HttpStatus(500))
        );
        assert_eq!(server.requests().len(), 2);
    }

    #[tokio::test]
    async fn the_oldest_document_goes_when_the_cache_is_full() {
        let server = serve(good).await;
        let fetcher = DocumentFetcher::new(FetchPolicy {
            cache_entries: 2,
            ..development()
        });
        for path in ["/a", "/b", "/c", "/c", "/b", "/a"] {
            fetcher.fetch(&server.url(path)).await.unwrap();
        }
        let paths: Vec<String> = server
            .requests()
            .iter()
            .map(|r| r.split(' ').next().unwrap().to_owned())
            .collect();
        assert_eq!(paths, ["/a", "/b", "/c", "/a"]);
    }

    #[tokio::test]
    async fn concurrent_fetches_of_one_client_share_a_request() {
        let server = serve(|path, base| {
            let mut steps = vec![Step::Pause(Duration::from_millis(200))];
            steps.extend(good(path, base));
            steps
        })
        .await;
        let fetcher = Arc::new(DocumentFetcher::new(development()));
        let client_id = server.url("/client");
        let waiting: Vec<_> = (0..8)
            .map(|_| {
                let (fetcher, client_id) = (fetcher.clone(), client_id.clone());
                tokio::spawn(async move { fetcher.fetch(&client_id).await })
            })
            .collect();
        for task in waiting {
            assert!(task.await.unwrap().is_ok());
        }
        assert_eq!(server.requests().len(), 1);
        assert!(fetcher.in_flight.lock().unwrap().is_empty());
    }

    #[test]
    fn reads_max_age() {
        assert_eq!(
            cache_max_age("public, max-age=120"),
            Some(Duration::from_secs(120))
        );
        assert_eq!(cache_max_age("Max-Age=\"5\""), Some(Duration::from_secs(5)));
        assert_eq!(cache_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(cache_max_age("public"), None);
        assert_eq!(cache_max_age("max-age=soon"), None);
    }
}
