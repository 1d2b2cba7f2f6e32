//! A real OpenID provider as a child process: panva's `oidc-provider` (OpenID-certified, pinned
//! and installed by the Makefile) run by `tests/idp/local-idp.mjs` on the Makefile's Node, with a
//! login form that checks passwords, consent pre-approved, PKCE S256 required and JWT access
//! tokens for one audience. [`sign_in`] does what a person in a browser does.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use url::Url;

use crate::artifacts::path_from_env;
use crate::child::spawn_guarded;

/// Node starts in well under a second; a loaded machine (two cores, a build running) gets more.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);
const LISTENING_PREFIX: &str = "listening on ";
/// A sign-in takes about five redirects; more means a loop.
const MAX_REDIRECTS: usize = 20;
/// What the login form says when it refuses a login and password.
const WRONG_PASSWORD_MARKER: &str = "Wrong login or password.";

/// The IdP's configuration, handed to `local-idp.mjs` as JSON in `LOCAL_IDP_CONFIG`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalIdpConfig {
    /// 0: any free port.
    #[serde(default)]
    pub port: u16,
    /// The issuer's host (`http://HOST:PORT`); it listens on 127.0.0.1 whatever this says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_host: Option<String>,
    pub clients: Vec<IdpClient>,
    pub users: Vec<IdpUser>,
    /// The `aud` of every access token (a JWT, RS256): the resource a client gets when it names
    /// none, and the only one it may name.
    pub access_token_audience: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<IdpTtl>,
    /// A private JWKS to sign with (RS256); a fresh key is generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
}

/// A confidential client: `client_secret_basic` or `client_secret_post`, the authorization code
/// (PKCE S256 required) and refresh token grants.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdpClient {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
}

/// A user of the login form; the ID token carries `sub`, `email`, `name` and `groups`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdpUser {
    pub login: String,
    pub password: String,
    pub sub: String,
    pub email: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

/// Lifetimes in seconds, for trials that want tokens to expire quickly; unset ones keep
/// oidc-provider's defaults (access and ID tokens 1 hour, codes 10 minutes, refresh 14 days).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdpTtl {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_code: Option<u64>,
}

/// A running IdP; killed when dropped.
pub struct LocalIdp {
    base_url: String,
    discovery: Value,
    log: Arc<Mutex<String>>,
    _child: Child,
}

impl LocalIdp {
    /// Runs `local-idp.mjs` (its path from `QUILT_MCP_LOCAL_IDP`) on the Makefile's Node
    /// (`QUILT_MCP_NODE`, with `QUILT_MCP_OIDC_PROVIDER` as `NODE_PATH`), reads its address from
    /// its first stdout line and its discovery document from there.
    pub async fn start(config: &LocalIdpConfig) -> Result<Self> {
        Self::start_with(serde_json::to_value(config)?).await
    }

    /// [`Self::start`] with the RFC 8693 token-exchange grant on: a client may exchange one of
    /// the IdP's access tokens for one whose `aud` is one of `audiences`.
    pub async fn start_exchanging(config: &LocalIdpConfig, audiences: &[&str]) -> Result<Self> {
        let mut config = serde_json::to_value(config)?;
        config["exchange_audiences"] = serde_json::json!(audiences);
        Self::start_with(config).await
    }

    async fn start_with(config: Value) -> Result<Self> {
        let node = path_from_env("QUILT_MCP_NODE")?;
        let script = path_from_env("QUILT_MCP_LOCAL_IDP")?;
        let node_path = path_from_env("QUILT_MCP_OIDC_PROVIDER")?;
        let mut command = Command::new(&node);
        command
            .arg(&script)
            .env("NODE_PATH", &node_path)
            .env("LOCAL_IDP_CONFIG", config.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawn_guarded(&mut command)
            .with_context(|| format!("starting {} {}", node.display(), script.display()))?;
        let log = Arc::new(Mutex::new(String::new()));
        tokio::spawn(copy_lines(
            child.stderr.take().expect("piped"),
            log.clone(),
            None,
        ));
        let (address_sender, address_receiver) = tokio::sync::oneshot::channel();
        tokio::spawn(copy_lines(
            child.stdout.take().expect("piped"),
            log.clone(),
            Some(address_sender),
        ));
        let text = |log: &Arc<Mutex<String>>| log.lock().expect("not poisoned").clone();
        let base_url = match tokio::time::timeout(STARTUP_DEADLINE, address_receiver).await {
            Ok(Ok(url)) => url,
            Ok(Err(_)) => bail!(
                "local-idp exited without printing `{LISTENING_PREFIX}URL`:\n{}",
                text(&log)
            ),
            Err(_) => bail!(
                "local-idp printed no `{LISTENING_PREFIX}URL` within {STARTUP_DEADLINE:?}:\n{}",
                text(&log)
            ),
        };
        let discovery_url = format!("{base_url}/.well-known/openid-configuration");
        let discovery: Value = async {
            reqwest::get(&discovery_url)
                .await?
                .error_for_status()?
                .json()
                .await
        }
        .await
        .with_context(|| format!("GET {discovery_url}; the IdP's log:\n{}", text(&log)))?;
        ensure!(
            discovery["issuer"].is_string() && discovery["jwks_uri"].is_string(),
            "{discovery_url} names no issuer or jwks_uri: {discovery}"
        );
        Ok(Self {
            base_url,
            discovery,
            log,
            _child: child,
        })
    }

    /// `http://127.0.0.1:PORT`, where it listens.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The issuer, as its discovery document says (`http://ISSUER_HOST:PORT`, no trailing slash).
    pub fn issuer(&self) -> String {
        self.endpoint("issuer")
    }

    pub fn jwks_url(&self) -> String {
        self.endpoint("jwks_uri")
    }

    /// `/.well-known/openid-configuration`, as fetched at start.
    pub fn discovery(&self) -> &Value {
        &self.discovery
    }

    /// A URL the discovery document names, e.g. `token_endpoint`; empty if it names none.
    pub fn endpoint(&self, name: &str) -> String {
        self.discovery[name].as_str().unwrap_or_default().to_owned()
    }

    /// The authorization endpoint with `params` as its query.
    pub fn authorize_url(&self, params: &[(&str, &str)]) -> Result<Url> {
        let endpoint = self.endpoint("authorization_endpoint");
        Url::parse_with_params(&endpoint, params)
            .with_context(|| format!("authorization_endpoint {endpoint:?}"))
    }

    /// Everything the IdP printed (stdout, then one line per request on stderr), so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("not poisoned").clone()
    }
}

impl LocalIdp {
    /// The token endpoint's answer for `login`, signed in by the code flow (PKCE S256) as the
    /// confidential client `client_id` with `secret`, its redirect being `redirect_uri`.
    pub async fn tokens_for(
        &self,
        (client_id, secret, redirect_uri): (&str, &str, &str),
        login: &str,
        password: &str,
    ) -> Result<Value> {
        let pkce = Pkce::s256();
        let authorize = self.authorize_url(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", "openid email"),
            ("state", "tokens-for"),
            ("nonce", "tokens-for-nonce"),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ])?;
        let redirect = sign_in(authorize.as_str(), login, password).await?;
        let code = redirect
            .query_pairs()
            .find(|(name, _)| name == "code")
            .map(|(_, code)| code.into_owned())
            .with_context(|| format!("no code in {redirect}"))?;
        let response = reqwest::Client::new()
            .post(self.endpoint("token_endpoint"))
            .basic_auth(client_id, Some(secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", &pkce.verifier),
            ])
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        ensure!(
            status.is_success(),
            "the token endpoint answered {status}: {answer}"
        );
        Ok(answer)
    }
}

/// A PKCE verifier and its S256 challenge (RFC 7636).
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn s256() -> Self {
        let mut random = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut random);
        let verifier = URL_SAFE_NO_PAD.encode(random);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// Signs in at `authorize_url` as a person in a browser would, with a fresh cookie jar: follows
/// the IdP's redirects to its login form, submits `login` and `password` to the form's action,
/// and follows redirects until one leaves the IdP's origin. Returns that redirect's URL
/// unfetched (the client's redirect URI with `code` or `error`), for whoever owns it. A refused
/// password is an error that says so, as is any page the IdP shows instead of a redirect.
pub async fn sign_in(authorize_url: &str, login: &str, password: &str) -> Result<Url> {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let start = Url::parse(authorize_url).context("the authorize URL")?;
    let origin = start.origin();
    let mut submitted = false;
    let mut request = http.get(start.clone());
    let mut current = start;
    for _ in 0..MAX_REDIRECTS {
        let response = request.send().await.with_context(|| format!("{current}"))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .with_context(|| format!("{status} from {current} without a Location"))?
                .to_str()
                .context("a Location that is not text")?;
            let next = current
                .join(location)
                .with_context(|| format!("Location {location:?}"))?;
            if next.origin() != origin {
                return Ok(next);
            }
            current = next;
            request = http.get(current.clone());
            continue;
        }
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("the IdP answered {status} at {current}: {body}");
        }
        if submitted {
            if body.contains(WRONG_PASSWORD_MARKER) {
                bail!("the IdP refused the sign-in of {login:?}: wrong login or password");
            }
            bail!("the IdP showed a page instead of redirecting after the login form: {body}");
        }
        let action =
            form_action(&body).with_context(|| format!("no login form at {current}: {body}"))?;
        current = current
            .join(&action)
            .with_context(|| format!("form action {action:?}"))?;
        request = http
            .post(current.clone())
            .form(&[("login", login), ("password", password)]);
        submitted = true;
    }
    bail!("more than {MAX_REDIRECTS} redirects signing in at {authorize_url}")
}

/// The `action` of the page's first `<form>`, its entities decoded.
fn form_action(html: &str) -> Option<String> {
    let form = &html[html.find("<form")?..];
    let form = &form[..form.find('>')?];
    let start = form.find("action=\"")? + "action=\"".len();
    let end = start + form[start..].find('"')?;
    Some(decode_entities(&form[start..end]))
}

/// `&amp;`, `&quot;`, `&lt;`, `&gt;` and numeric entities: what an attribute value may hold.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "quot" => Some('"'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            _ => entity
                .strip_prefix('#')
                .and_then(|number| number.parse::<u32>().ok())
                .and_then(char::from_u32),
        };
        match decoded {
            Some(character) => {
                out.push(character);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Appends every line of `pipe` to `log`; the first `listening on URL` line is also sent to
/// `address`.
async fn copy_lines(
    pipe: impl AsyncRead + Unpin,
    log: Arc<Mutex<String>>,
    mut address: Option<tokio::sync::oneshot::Sender<String>>,
) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(url) = line.strip_prefix(LISTENING_PREFIX)
            && let Some(sender) = address.take()
        {
            let _ = sender.send(url.trim().trim_end_matches('/').to_string());
        }
        let mut text = log.lock().expect("not poisoned");
        text.push_str(&line);
        text.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_action_is_found_and_decoded() {
        let html = r#"<p>x</p><form method="post" action="/interaction/a&#45;b&amp;c/login" autocomplete="off">"#;
        assert_eq!(
            form_action(html).as_deref(),
            Some("/interaction/a-b&c/login")
        );
        assert_eq!(form_action("<p>no form</p>"), None);
        assert_eq!(decode_entities("a&b&#x;&gt"), "a&b&#x;&gt");
    }
}
