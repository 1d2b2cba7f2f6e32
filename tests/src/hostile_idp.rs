//! An OpenID provider that misbehaves on purpose, as the sign-in bridge's upstream: discovery,
//! JWKS, an `/authorize` that signs the person in at once (a 302 back to the `redirect_uri`
//! with a code and the `state` it got) and a `/token`, what each answers chosen per test by
//! [`Misbehaviour`] (and changed with [`HostileIdp::set`]).
//!
//! It is strict about what the bridge sends, so an honest sign-in proves the bridge gets it
//! right: `/authorize` needs the code flow with S256 PKCE, a nonce, a state and the `openid`
//! scope for the configured client; `/token` needs the client's secret as HTTP Basic
//! (RFC 6749 §2.3.1: each part form-encoded first; the id and secret here contain characters
//! that need it), the code once, its redirect URI, and the PKCE verifier of the challenge it
//! saw. Only then does it misbehave. Every request is recorded for assertions.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use jsonwebtoken::Algorithm;
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use url::Url;
use url::form_urlencoded;

use crate::identity::{self, Identity, now_secs};

/// The bridge's client id here: `:` and a space, which an unencoded Basic header would split
/// or mangle.
pub const CLIENT_ID: &str = "quilt-mcp:bridge client";
/// The `sub` of every ID token.
pub const SUBJECT: &str = "hostile-idp-user";
/// Another client of this provider, for the audience attacks.
pub const OTHER_CLIENT: &str = "another-client";
/// The issuer the attacks name instead of this one.
pub const OTHER_ISSUER: &str = "https://another-issuer.example";
/// How long [`Misbehaviour::SlowTokenEndpoint`] waits before it answers (the bridge gives up
/// after 10 s).
pub const SLOW_SECS: u64 = 15;
/// How much [`Misbehaviour::HugeTokenResponse`] sends (the bridge reads at most 1 MiB).
pub const HUGE_BYTES: usize = 2 << 20;
const KID: &str = "hostile-idp-key";
const UNPUBLISHED_KID: &str = "nobody-published-this";

/// What the provider does wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Nothing: a valid ID token (`iss`, `aud` = the client id, `sub`, `exp`, the nonce the
    /// authorize request carried) and an access token.
    Honest,
    /// Several audiences, `azp` naming the bridge: valid (OpenID Connect Core §3.1.3.7).
    SeveralAudiencesWithAzp,
    /// `/authorize` sends the person back with `error=access_denied` (they declined).
    AuthorizeDenies,
    /// `/authorize` sends the person back with the state but no code.
    AuthorizeSendsNoCode,
    /// The ID token carries another nonce.
    WrongNonce,
    /// The ID token carries no nonce.
    NoNonce,
    /// `aud` is another client.
    WrongAudience,
    /// `iss` is another issuer.
    WrongIssuer,
    /// `exp` ten minutes ago.
    Expired,
    /// No `sub`.
    NoSubject,
    /// Signed by a key nobody published, under its own `kid`.
    UnknownKey,
    /// Signed by a key nobody published, under the published key's `kid`.
    ForgedSignature,
    /// `alg: none`, no signature.
    AlgNone,
    /// HS256 keyed with the published RSA public key (algorithm confusion).
    Hs256WithPublicKey,
    /// A token response without `id_token`.
    NoIdToken,
    /// `aud` is the bridge and another client, and there is no `azp`.
    SeveralAudiencesWithoutAzp,
    /// `aud` is the bridge and another client, and `azp` is the other one.
    SeveralAudiencesAzpOfAnother,
    /// The discovery document's `issuer` is another issuer (the rest points here).
    DiscoveryNamesAnotherIssuer,
    /// A token response of [`HUGE_BYTES`].
    HugeTokenResponse,
    /// A token response that is not JSON.
    NotJson,
    /// `400 {"error": "invalid_grant"}`.
    TokenEndpointError,
    /// The honest answer, after [`SLOW_SECS`].
    SlowTokenEndpoint,
    /// `200` and its headers at once, then a byte a second for a minute: only a timeout on
    /// the whole response ends it.
    TrickleTokenResponse,
}

/// An authorization request as the provider got it.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub params: Vec<(String, String)>,
}

impl AuthorizeRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.params, name)
    }
}

/// A token request as the provider got it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub authorization: Option<String>,
    pub form: Vec<(String, String)>,
    /// Why it was refused before any misbehaviour (the client's credentials, the code, its
    /// redirect URI or PKCE); `None` when it was a correct request.
    pub refused: Option<String>,
}

/// What `/authorize` saw, kept for `/token`.
struct Pending {
    redirect_uri: String,
    code_challenge: String,
    nonce: String,
}

struct State {
    origin: String,
    client_secret: String,
    key: Identity,
    other_key: Identity,
    misbehaviour: Mutex<Misbehaviour>,
    pending: Mutex<HashMap<String, Pending>>,
    authorize_requests: Mutex<Vec<AuthorizeRequest>>,
    token_requests: Mutex<Vec<TokenRequest>>,
    discovery_hits: Mutex<usize>,
    issued: Mutex<Vec<String>>,
}

/// Serves until dropped.
pub struct HostileIdp {
    addr: SocketAddr,
    state: Arc<State>,
    accept_loop: JoinHandle<()>,
}

type Body = BoxBody<Bytes, Infallible>;

impl HostileIdp {
    pub async fn start(misbehaviour: Misbehaviour) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (key, other_key) = tokio::task::spawn_blocking(|| {
            Ok::<_, anyhow::Error>((
                Identity::generate(KID)?,
                Identity::generate(UNPUBLISHED_KID)?,
            ))
        })
        .await??;
        let state = Arc::new(State {
            origin: format!("http://{addr}"),
            // `+`, `%`, `/`, `:` and a space: all of them change meaning unless form-encoded.
            client_secret: format!("s3cr+t/%20:{} x", random_text()),
            key,
            other_key,
            misbehaviour: Mutex::new(misbehaviour),
            pending: Mutex::default(),
            authorize_requests: Mutex::default(),
            token_requests: Mutex::default(),
            discovery_hits: Mutex::default(),
            issued: Mutex::default(),
        });
        let accept_loop = tokio::spawn(accept_connections(listener, state.clone()));
        Ok(Self {
            addr,
            state,
            accept_loop,
        })
    }

    /// `http://127.0.0.1:PORT`, the issuer.
    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn client_secret(&self) -> &str {
        &self.state.client_secret
    }

    /// From now on, misbehaves so.
    pub fn set(&self, misbehaviour: Misbehaviour) {
        *self.state.misbehaviour.lock().expect("not poisoned") = misbehaviour;
    }

    pub fn authorize_requests(&self) -> Vec<AuthorizeRequest> {
        self.state
            .authorize_requests
            .lock()
            .expect("not poisoned")
            .clone()
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.state
            .token_requests
            .lock()
            .expect("not poisoned")
            .clone()
    }

    pub fn discovery_hits(&self) -> usize {
        *self.state.discovery_hits.lock().expect("not poisoned")
    }

    /// Every ID and access token it has handed out, to look for in logs.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.issued.lock().expect("not poisoned").clone()
    }

    /// The person's part of a sign-in: opens the provider's authorization URL (from the
    /// bridge's consent answer) and returns where it sends the browser, unfetched.
    pub async fn sign_in(&self, authorization_url: &str) -> Result<Url> {
        let response = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?
            .get(authorization_url)
            .send()
            .await?;
        let status = response.status();
        let Some(location) = response.headers().get(header::LOCATION) else {
            bail!(
                "the provider's /authorize answered {status}: {}",
                response.text().await?
            );
        };
        Ok(Url::parse(location.to_str()?)?)
    }
}

impl Drop for HostileIdp {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn accept_connections(listener: TcpListener, state: Arc<State>) {
    while let Ok((stream, _)) = listener.accept().await {
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(&state, request).await) }
            });
            // A client hanging up mid-answer (the bridge giving up) is its business.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn route(state: &State, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_owned();
    match (request.method().clone(), path.as_str()) {
        (Method::GET, "/.well-known/openid-configuration") => discovery(state),
        (Method::GET, "/jwks") => json_response(StatusCode::OK, &identity::jwks(&[&state.key])),
        (Method::GET, "/authorize") => authorize(state, request.uri().query().unwrap_or("")),
        (Method::POST, "/token") => {
            let authorization = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let body = match request.into_body().collect().await {
                Ok(body) => body.to_bytes(),
                Err(_) => return text_response(StatusCode::BAD_REQUEST, "unreadable body"),
            };
            token(state, authorization, &body).await
        }
        _ => text_response(StatusCode::NOT_FOUND, "no such endpoint"),
    }
}

fn discovery(state: &State) -> Response<Body> {
    *state.discovery_hits.lock().expect("not poisoned") += 1;
    let misbehaviour = *state.misbehaviour.lock().expect("not poisoned");
    let issuer = if misbehaviour == Misbehaviour::DiscoveryNamesAnotherIssuer {
        OTHER_ISSUER.to_owned()
    } else {
        state.origin.clone()
    };
    let at = |path: &str| format!("{}{path}", state.origin);
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": issuer,
            "authorization_endpoint": at("/authorize"),
            "token_endpoint": at("/token"),
            "jwks_uri": at("/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
        }),
    )
}

fn authorize(state: &State, query: &str) -> Response<Body> {
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    state
        .authorize_requests
        .lock()
        .expect("not poisoned")
        .push(AuthorizeRequest {
            params: params.clone(),
        });
    let get = |name: &str| param(&params, name);
    let checked = (|| {
        if get("response_type") != Some("code") {
            return Err("response_type is not code");
        }
        if get("client_id") != Some(CLIENT_ID) {
            return Err("unknown client_id");
        }
        if get("code_challenge_method") != Some("S256") {
            return Err("PKCE S256 is required");
        }
        let scopes = get("scope").unwrap_or_default();
        if !scopes.split(' ').any(|scope| scope == "openid") {
            return Err("the openid scope is missing");
        }
        let challenge = get("code_challenge").ok_or("no code_challenge")?;
        let nonce = get("nonce").ok_or("no nonce")?;
        let state_param = get("state").ok_or("no state")?;
        let redirect_uri = get("redirect_uri").ok_or("no redirect_uri")?;
        let redirect = Url::parse(redirect_uri).map_err(|_| "redirect_uri is not a URL")?;
        Ok((challenge, nonce, state_param, redirect_uri, redirect))
    })();
    let (challenge, nonce, state_param, redirect_uri, mut redirect) = match checked {
        Ok(checked) => checked,
        Err(why) => return text_response(StatusCode::BAD_REQUEST, why),
    };
    let misbehaviour = *state.misbehaviour.lock().expect("not poisoned");
    let code = random_text();
    match misbehaviour {
        Misbehaviour::AuthorizeDenies => {
            redirect
                .query_pairs_mut()
                .append_pair("error", "access_denied");
        }
        Misbehaviour::AuthorizeSendsNoCode => {}
        _ => {
            redirect.query_pairs_mut().append_pair("code", &code);
        }
    }
    redirect.query_pairs_mut().append_pair("state", state_param);
    state.pending.lock().expect("not poisoned").insert(
        code.clone(),
        Pending {
            redirect_uri: redirect_uri.to_owned(),
            code_challenge: challenge.to_owned(),
            nonce: nonce.to_owned(),
        },
    );
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, redirect.as_str())
        .body(empty())
        .expect("valid response")
}

async fn token(state: &State, authorization: Option<String>, body: &[u8]) -> Response<Body> {
    let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let checked = check_token_request(state, authorization.as_deref(), &form);
    state
        .token_requests
        .lock()
        .expect("not poisoned")
        .push(TokenRequest {
            authorization,
            form,
            refused: checked.as_ref().err().map(|(_, why)| why.clone()),
        });
    let nonce = match checked {
        Ok(nonce) => nonce,
        Err((error, why)) => {
            let status = if error == "invalid_client" {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            };
            return json_response(status, &json!({"error": error, "error_description": why}));
        }
    };
    let misbehaviour = *state.misbehaviour.lock().expect("not poisoned");
    match misbehaviour {
        Misbehaviour::HugeTokenResponse => {
            let mut huge = br#"{"token_type":"Bearer","access_token":""#.to_vec();
            huge.resize(HUGE_BYTES, b'a');
            huge.extend_from_slice(br#""}"#);
            return Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(huge)).boxed())
                .expect("valid response");
        }
        Misbehaviour::NotJson => {
            return Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/html")
                .body(full("<html><body>Signed in!</body></html>"))
                .expect("valid response");
        }
        Misbehaviour::TokenEndpointError => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": "invalid_grant", "error_description": "the code has expired"}),
            );
        }
        Misbehaviour::TrickleTokenResponse => {
            let drip = futures::stream::unfold(0u32, |sent| async move {
                if sent >= 60 {
                    return None;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                Some((Ok(Frame::data(Bytes::from_static(b" "))), sent + 1))
            });
            return Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(BodyExt::boxed(StreamBody::new(drip)))
                .expect("valid response");
        }
        Misbehaviour::SlowTokenEndpoint => {
            tokio::time::sleep(Duration::from_secs(SLOW_SECS)).await;
        }
        _ => {}
    }
    let access_token = format!("hostile-access-{}", random_text());
    let mut answer = json!({
        "token_type": "Bearer",
        "access_token": access_token,
        "expires_in": 600,
    });
    let mut issued = vec![access_token];
    if misbehaviour != Misbehaviour::NoIdToken {
        let id_token = id_token(state, misbehaviour, &nonce);
        answer["id_token"] = json!(id_token);
        issued.push(id_token);
    }
    state.issued.lock().expect("not poisoned").extend(issued);
    json_response(StatusCode::OK, &answer)
}

/// The nonce of the sign-in, once the request is the correct one; else the OAuth error and why.
fn check_token_request(
    state: &State,
    authorization: Option<&str>,
    form: &[(String, String)],
) -> Result<String, (&'static str, String)> {
    let invalid_client = |why: &str| ("invalid_client", why.to_owned());
    let invalid_grant = |why: &str| ("invalid_grant", why.to_owned());
    let basic = authorization
        .and_then(|value| value.strip_prefix("Basic "))
        .ok_or_else(|| invalid_client("no HTTP Basic credentials"))?;
    let decoded = STANDARD
        .decode(basic)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| invalid_client("the Basic credentials are not base64 UTF-8"))?;
    // RFC 6749 §2.3.1: the encoded id and secret contain no `:`, so the first one splits.
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| invalid_client("the Basic credentials have no `:`"))?;
    if form_decoded(id).as_deref() != Some(CLIENT_ID)
        || form_decoded(secret).as_deref() != Some(state.client_secret.as_str())
    {
        return Err(invalid_client(
            "wrong client id or secret (each must be form-encoded before Basic)",
        ));
    }
    let get = |name: &str| param(form, name);
    if get("grant_type") != Some("authorization_code") {
        return Err(("unsupported_grant_type", "only authorization_code".into()));
    }
    let code = get("code").ok_or_else(|| invalid_grant("no code"))?;
    let pending = state
        .pending
        .lock()
        .expect("not poisoned")
        .remove(code)
        .ok_or_else(|| invalid_grant("unknown or already used code"))?;
    if get("redirect_uri") != Some(pending.redirect_uri.as_str()) {
        return Err(invalid_grant("redirect_uri is not the authorize request's"));
    }
    let verifier = get("code_verifier").ok_or_else(|| invalid_grant("no code_verifier"))?;
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != pending.code_challenge {
        return Err(invalid_grant(
            "the code_verifier does not match the challenge",
        ));
    }
    Ok(pending.nonce)
}

fn id_token(state: &State, misbehaviour: Misbehaviour, nonce: &str) -> String {
    let now = now_secs();
    let mut claims = json!({
        "iss": state.origin,
        "aud": CLIENT_ID,
        "sub": SUBJECT,
        "email": "hostile@example.com",
        "iat": now,
        "exp": now + 600,
        "nonce": nonce,
    });
    match misbehaviour {
        Misbehaviour::WrongNonce => claims["nonce"] = json!(format!("not-{nonce}")),
        Misbehaviour::NoNonce => remove(&mut claims, "nonce"),
        Misbehaviour::WrongAudience => claims["aud"] = json!(OTHER_CLIENT),
        Misbehaviour::WrongIssuer => claims["iss"] = json!(OTHER_ISSUER),
        Misbehaviour::Expired => {
            claims["iat"] = json!(now - 1200);
            claims["exp"] = json!(now - 600);
        }
        Misbehaviour::NoSubject => remove(&mut claims, "sub"),
        Misbehaviour::SeveralAudiencesWithoutAzp => {
            claims["aud"] = json!([CLIENT_ID, OTHER_CLIENT]);
        }
        Misbehaviour::SeveralAudiencesAzpOfAnother => {
            claims["aud"] = json!([CLIENT_ID, OTHER_CLIENT]);
            claims["azp"] = json!(OTHER_CLIENT);
        }
        Misbehaviour::SeveralAudiencesWithAzp => {
            claims["aud"] = json!([CLIENT_ID, OTHER_CLIENT]);
            claims["azp"] = json!(CLIENT_ID);
        }
        _ => {}
    }
    match misbehaviour {
        Misbehaviour::UnknownKey => state.other_key.sign(&claims),
        Misbehaviour::ForgedSignature => {
            state
                .other_key
                .sign_as(&claims, Algorithm::RS256, Some(state.key.kid()))
        }
        Misbehaviour::AlgNone => identity::unsigned_token(state.key.kid(), &claims),
        Misbehaviour::Hs256WithPublicKey => identity::hs256_token(
            state.key.public_key_pem().as_bytes(),
            state.key.kid(),
            &claims,
        ),
        _ => state.key.sign(&claims),
    }
}

fn remove(claims: &mut Value, name: &str) {
    if let Some(claims) = claims.as_object_mut() {
        claims.remove(name);
    }
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// `text` form-decoded (`+` a space, `%XX` a byte); `None` if it holds what encoding removes.
fn form_decoded(text: &str) -> Option<String> {
    if text.contains(['&', '=', ' ', ':']) {
        return None;
    }
    form_urlencoded::parse(text.as_bytes())
        .next()
        .map(|(key, _)| key.into_owned())
}

fn random_text() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(full(value.to_string()))
        .expect("valid response")
}

fn text_response(status: StatusCode, text: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(full(text.to_owned()))
        .expect("valid response")
}

fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into()).boxed()
}

fn empty() -> Body {
    full(Bytes::new())
}
