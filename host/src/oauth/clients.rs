//! Who the client is. No client is stored: a client either names itself by a Client ID
//! Metadata Document URL (fetched, see `client_metadata_document`) or presents the client id
//! that dynamic registration issued it, which is its registration sealed with the bridge's key.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::{Host, Url};

use super::client_metadata_document::{DocumentFetcher, FetchPolicy, redirect_uri_problem};
use super::errors::{ErrorCode, OAuthError};
use super::keys::{KeyRing, Purpose};
use super::now_secs;
use crate::untrusted::bounded;

/// Client ids issued by dynamic registration start with this (version 1 of the sealed form).
const REGISTERED_PREFIX: &str = "qmc1.";
const MAX_REDIRECT_URIS: usize = 10;
const MAX_REDIRECT_URI_CHARS: usize = 1024;
/// All redirect URIs of one registration together: the client id carries them, and it travels
/// in URLs and in every access token.
const MAX_REGISTERED_CHARS: usize = 2048;
const MAX_NAME_CHARS: usize = 100;

/// A client, as the consent page and the redirect check see it.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// Whether it named itself by a metadata document (else it registered dynamically).
    pub by_document: bool,
}

impl Client {
    /// `requested` exactly as registered; for loopback redirects (RFC 8252 §7.3) on any port.
    pub fn allows_redirect(&self, requested: &str) -> bool {
        self.redirect_uris.iter().any(|registered| {
            registered == requested || same_but_loopback_port(registered, requested)
        })
    }
}

/// What dynamic registration seals into the client id.
#[derive(Serialize, Deserialize)]
struct Registration {
    name: Option<String>,
    redirect_uris: Vec<String>,
    issued_at: u64,
}

/// An RFC 7591 registration request; unknown fields are ignored.
#[derive(Deserialize)]
pub struct RegistrationRequest {
    #[serde(default)]
    redirect_uris: Vec<String>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    grant_types: Vec<String>,
    #[serde(default)]
    response_types: Vec<String>,
}

pub struct Clients {
    documents: DocumentFetcher,
    keys: Arc<KeyRing>,
}

impl Clients {
    /// `own_authority` is this server's public `host:port`, where no document is fetched.
    pub fn new(
        keys: Arc<KeyRing>,
        allow_loopback_documents: bool,
        own_authority: Option<String>,
    ) -> Self {
        Self {
            documents: DocumentFetcher::new(FetchPolicy {
                allow_loopback: allow_loopback_documents,
                own_authority,
                ..FetchPolicy::default()
            }),
            keys,
        }
    }

    /// The client `client_id` names. Refusals are `invalid_client`: with no known client
    /// there is no redirect URI to send an error to, so `/authorize` shows it instead.
    pub async fn identify(&self, client_id: &str) -> Result<Client, OAuthError> {
        if let Some(sealed) = client_id.strip_prefix(REGISTERED_PREFIX) {
            let registration: Registration = self
                .keys
                .open(Purpose::Client, sealed)
                .map_err(|why| {
                    OAuthError::new(
                        ErrorCode::InvalidClient,
                        format!("the client id was not issued by this server's registration ({why}); register again"),
                    )
                })?;
            return Ok(Client {
                client_id: client_id.to_owned(),
                name: registration
                    .name
                    .unwrap_or_else(|| "an unnamed application".into()),
                redirect_uris: registration.redirect_uris,
                by_document: false,
            });
        }
        if self.documents.is_document_url(client_id) {
            let document = self.documents.fetch(client_id).await.map_err(|why| {
                OAuthError::new(
                    ErrorCode::InvalidClient,
                    format!("the client's metadata document could not be used: {why}"),
                )
            })?;
            return Ok(Client {
                client_id: client_id.to_owned(),
                name: document
                    .client_name
                    .map(|name| cut_name(&name))
                    .unwrap_or_else(|| host_of(client_id)),
                redirect_uris: document.redirect_uris,
                by_document: true,
            });
        }
        Err(OAuthError::new(
            ErrorCode::InvalidClient,
            format!(
                "unknown client {:?}: a client id is the https URL of its metadata document, or what this server's registration endpoint issued",
                bounded(client_id)
            ),
        ))
    }

    /// RFC 7591 §3: the registration, sealed into the client id it answers with.
    pub fn register(&self, request: RegistrationRequest) -> Result<Value, OAuthError> {
        let metadata = |why: String| OAuthError::new(ErrorCode::InvalidClientMetadata, why);
        if request.redirect_uris.is_empty() {
            return Err(OAuthError::new(
                ErrorCode::InvalidRedirectUri,
                "redirect_uris is required",
            ));
        }
        if request.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(OAuthError::new(
                ErrorCode::InvalidRedirectUri,
                format!("at most {MAX_REDIRECT_URIS} redirect_uris"),
            ));
        }
        if request.redirect_uris.iter().map(String::len).sum::<usize>() > MAX_REGISTERED_CHARS {
            return Err(OAuthError::new(
                ErrorCode::InvalidRedirectUri,
                format!("the redirect_uris together are over {MAX_REGISTERED_CHARS} characters"),
            ));
        }
        for uri in &request.redirect_uris {
            check_redirect_uri(uri)
                .map_err(|why| OAuthError::new(ErrorCode::InvalidRedirectUri, why))?;
        }
        if let Some(method) = &request.token_endpoint_auth_method
            && method != "none"
        {
            tracing::debug!(target: "quilt_mcp::oauth", method = %bounded(method), "registering as a public client instead");
        }
        let unsupported = |values: &[String], allowed: &[&str]| {
            values
                .iter()
                .find(|value| !allowed.contains(&value.as_str()))
                .cloned()
        };
        if let Some(grant) = unsupported(
            &request.grant_types,
            &["authorization_code", "refresh_token"],
        ) {
            return Err(metadata(format!(
                "grant type {:?} is not supported",
                bounded(&grant)
            )));
        }
        if let Some(kind) = unsupported(&request.response_types, &["code"]) {
            return Err(metadata(format!(
                "response type {:?} is not supported",
                bounded(&kind)
            )));
        }
        let name = request.client_name.as_deref().map(cut_name);
        let issued_at = now_secs();
        let registration = Registration {
            name: name.clone(),
            redirect_uris: request.redirect_uris.clone(),
            issued_at,
        };
        let client_id = format!(
            "{REGISTERED_PREFIX}{}",
            self.keys.seal(Purpose::Client, &registration)
        );
        let mut answer = json!({
            "client_id": client_id,
            "client_id_issued_at": issued_at,
            "redirect_uris": request.redirect_uris,
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        });
        if let Some(name) = name {
            answer["client_name"] = Value::String(name);
        }
        Ok(answer)
    }
}

/// A redirect URI a client may register (see `redirect_uri_problem`), of a bounded length.
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let shown = bounded(uri);
    if uri.len() > MAX_REDIRECT_URI_CHARS {
        return Err(format!(
            "redirect URI {shown:?} is longer than {MAX_REDIRECT_URI_CHARS} characters"
        ));
    }
    match redirect_uri_problem(uri) {
        Some(problem) => Err(format!("redirect URI {shown:?} {problem}")),
        None => Ok(()),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// RFC 8252 §7.3: a loopback redirect is the same with any port.
fn same_but_loopback_port(registered: &str, requested: &str) -> bool {
    let (Ok(mut registered), Ok(mut requested)) = (Url::parse(registered), Url::parse(requested))
    else {
        return false;
    };
    if registered.scheme() != "http" || !is_loopback(&registered) || !is_loopback(&requested) {
        return false;
    }
    // Only the port may differ: both are set to none before comparing.
    registered.set_port(None).is_ok() && requested.set_port(None).is_ok() && registered == requested
}

/// A client's own name, fit to show: no control characters, and none of the invisible
/// formatting ones (bidi overrides, zero-width) that could make it read as another name.
fn cut_name(name: &str) -> String {
    let invisible = |c: char| {
        matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
    };
    let name: String = name
        .chars()
        .filter(|&c| !c.is_control() && !invisible(c))
        .collect();
    crate::untrusted::cut(name.trim(), MAX_NAME_CHARS)
}

fn host_of(url: &str) -> String {
    Url::parse(url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{Client, check_redirect_uri};

    fn client(uris: &[&str]) -> Client {
        Client {
            client_id: "c".into(),
            name: "n".into(),
            redirect_uris: uris.iter().map(|uri| uri.to_string()).collect(),
            by_document: false,
        }
    }

    #[test]
    fn redirects_match_exactly_except_a_loopback_port() {
        let client = client(&["https://app.example.com/cb", "http://127.0.0.1/callback"]);
        assert!(client.allows_redirect("https://app.example.com/cb"));
        assert!(!client.allows_redirect("https://app.example.com/cb/"));
        assert!(!client.allows_redirect("https://app.example.com/cb?x=1"));
        assert!(!client.allows_redirect("https://app.example.com.evil.example/cb"));
        assert!(!client.allows_redirect("https://app.example.com:8443/cb"));
        assert!(client.allows_redirect("http://127.0.0.1:53682/callback"));
        assert!(!client.allows_redirect("http://127.0.0.1:53682/other"));
        assert!(!client.allows_redirect("http://localhost:53682/callback"));
        assert!(!client.allows_redirect("http://evil.example:53682/callback"));
    }

    #[test]
    fn names_lose_their_invisible_characters() {
        assert_eq!(
            super::cut_name("Good\u{202E}tneilC\u{200B}\n"),
            "GoodtneilC"
        );
    }

    #[test]
    fn only_safe_redirect_uris_register() {
        for good in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://127.0.0.1:33418/callback",
            "http://localhost/cb",
            "http://[::1]:9/cb",
            "cursor://anysphere.cursor-retrieval/oauth/callback",
        ] {
            assert!(check_redirect_uri(good).is_ok(), "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "http://evil.example/cb",
            "https://app.example.com/cb#frag",
            "/relative",
            "",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
        assert!(check_redirect_uri(&format!("https://a.example/{}", "x".repeat(2000))).is_err());
    }
}
