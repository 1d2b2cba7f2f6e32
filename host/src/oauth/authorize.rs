//! `GET /oauth/authorize` (RFC 6749 §4.1.1 with PKCE, RFC 8707 `resource`) shows the consent
//! page; `POST /oauth/consent` sends the person on to the upstream provider, or back to the
//! client with `access_denied`.
//!
//! Until the person has seen the consent page, a refusal is shown as a page and never
//! redirected, even to a registered redirect URI (anyone can register one: RFC 9700
//! §4.11.2): that is what keeps this endpoint from being an open redirect. The consent form is bound to the browser that loaded it (a cookie whose hash is
//! sealed into the form), so another site cannot submit it for a signed-in victim.

use serde::{Deserialize, Serialize};
use url::Url;

use super::errors::{ErrorCode, OAuthError, invalid_request};
use super::keys::Purpose;
use super::pages::{self, ConsentView};
use super::pkce;
use super::{Bridge, Form, Sealed, now_secs};
use crate::server::responses::HttpResponse;
use crate::untrusted::bounded;

/// How long a person may take from the consent page to the end of the upstream sign-in.
const SIGN_IN_SECS: u64 = 600;
/// Longest `state` carried back to the client.
const MAX_STATE_CHARS: usize = 2048;

/// One authorization request, once checked; sealed into the consent form, then into the
/// upstream `state`.
#[derive(Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub resource: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    /// The hash of the browser's sign-in cookie.
    pub browser: String,
    pub exp: u64,
}

/// What travels through the upstream sign-in as its `state`.
#[derive(Serialize, Deserialize)]
pub struct UpstreamState {
    pub request: AuthorizationRequest,
    pub nonce: String,
    pub verifier: String,
}

pub async fn show_consent(bridge: &Bridge, query: &Form, cookie: Option<&str>) -> HttpResponse {
    let client_id = match query.one("client_id") {
        Ok(Some(id)) => id,
        Ok(None) => return bridge.error_page(&invalid_request("client_id is required")),
        Err(error) => return bridge.error_page(&error),
    };
    let client = match bridge.clients.identify(client_id).await {
        Ok(client) => client,
        Err(error) => return bridge.error_page(&error),
    };
    let redirect_uri = match query.one("redirect_uri") {
        Ok(Some(uri)) if client.allows_redirect(uri) => uri.to_owned(),
        Ok(Some(uri)) => {
            return bridge.error_page(&invalid_request(format!(
                "redirect_uri {:?} is not one the client registered",
                bounded(uri)
            )));
        }
        Ok(None) => return bridge.error_page(&invalid_request("redirect_uri is required")),
        Err(error) => return bridge.error_page(&error),
    };
    // The redirect URI is the client's own from here on: refusals go back to it.
    let state = query.one("state").ok().flatten().map(str::to_owned);
    if state
        .as_ref()
        .is_some_and(|state| state.len() > MAX_STATE_CHARS)
    {
        return bridge.error_page(&invalid_request(format!(
            "state is longer than {MAX_STATE_CHARS} characters"
        )));
    }
    // Anyone can register a redirect URI, so none is trusted before the person has seen the
    // consent page (RFC 9700 §4.11.2): until then a refusal is shown, never redirected.
    let (code_challenge, resource, scopes) = match check_request(bridge, query) {
        Ok(checked) => checked,
        Err(error) => return bridge.error_page(&error),
    };
    let (cookie, set_cookie) = bridge.browser_cookie(cookie);
    let request = AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        code_challenge,
        resource,
        scopes,
        state,
        browser: pkce::s256(&cookie),
        exp: now_secs() + SIGN_IN_SECS,
    };
    let sealed = bridge
        .keys
        .seal(Purpose::Consent, &Sealed::new(&request, request.exp));
    let scopes: Vec<(&str, &str)> = request
        .scopes
        .iter()
        .map(|scope| (scope.as_str(), bridge.scopes.meaning(scope)))
        .collect();
    let page = pages::consent(&ConsentView {
        client_name: &client.name,
        client_id: &client.client_id,
        by_document: client.by_document,
        redirect_uri: &redirect_uri,
        scopes: &scopes,
        resource: &request.resource,
        request: &sealed,
    });
    let mut response = crate::server::responses::html(http::StatusCode::OK, page);
    if let Some(set_cookie) = set_cookie {
        response
            .headers_mut()
            .insert(http::header::SET_COOKIE, set_cookie);
    }
    response
}

/// PKCE S256, the resource and the scopes of a request whose client is known.
fn check_request(
    bridge: &Bridge,
    query: &Form,
) -> Result<(String, String, Vec<String>), OAuthError> {
    match query.one("response_type")? {
        Some("code") => {}
        Some(other) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                format!(
                    "response_type {:?} is not supported: use code",
                    bounded(other)
                ),
            ));
        }
        None => return Err(invalid_request("response_type is required (code)")),
    }
    match query.one("code_challenge_method")? {
        Some("S256") => {}
        Some(other) => {
            return Err(invalid_request(format!(
                "code_challenge_method {:?} is not supported: PKCE with S256 is required",
                bounded(other)
            )));
        }
        None => {
            return Err(invalid_request(
                "PKCE is required: send code_challenge and code_challenge_method=S256",
            ));
        }
    }
    let challenge = query
        .one("code_challenge")?
        .ok_or_else(|| invalid_request("code_challenge is required (PKCE S256)"))?;
    if !pkce::is_s256_challenge(challenge) {
        return Err(invalid_request(
            "code_challenge is not a base64url SHA-256 (43 characters)",
        ));
    }
    let resource = match query.one("resource")? {
        Some(resource) if resource == bridge.resource => resource.to_owned(),
        Some(other) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                format!(
                    "this server issues tokens for {} only, not {:?}",
                    bridge.resource,
                    bounded(other)
                ),
            ));
        }
        // Clients before RFC 8707 send none; the token is for this server all the same.
        None => bridge.resource.clone(),
    };
    let scopes = bridge.scopes.granted(query.one("scope")?)?;
    Ok((challenge.to_owned(), resource, scopes))
}

/// The consent form's answer.
pub async fn decide(bridge: &Bridge, form: &Form, cookie: Option<&str>) -> HttpResponse {
    let request = match open_consent(bridge, form, cookie) {
        Ok(request) => request,
        Err(error) => return bridge.error_page(&error),
    };
    let back = |error: OAuthError| {
        bridge.redirect_error(&request.redirect_uri, request.state.as_deref(), &error)
    };
    match form.one("decision") {
        Ok(Some("approve")) => {}
        Ok(Some("deny")) => {
            return back(OAuthError::new(
                ErrorCode::AccessDenied,
                "the user denied the request",
            ));
        }
        _ => return bridge.error_page(&invalid_request("the consent form was not answered")),
    }
    let verifier = pkce::verifier();
    let upstream_state = UpstreamState {
        nonce: pkce::verifier(),
        verifier: verifier.clone(),
        request: request.clone(),
    };
    let state = bridge.keys.seal(
        Purpose::UpstreamState,
        &Sealed::new(&upstream_state, request.exp),
    );
    match bridge
        .upstream
        .authorization_url(&state, &upstream_state.nonce, &pkce::s256(&verifier))
        .await
    {
        Ok(url) => crate::server::responses::redirect(http::StatusCode::SEE_OTHER, url.as_str()),
        Err(error) => back(error),
    }
}

fn open_consent(
    bridge: &Bridge,
    form: &Form,
    cookie: Option<&str>,
) -> Result<AuthorizationRequest, OAuthError> {
    let sealed = form
        .one("request")?
        .ok_or_else(|| invalid_request("the consent form lost its request"))?;
    let request: AuthorizationRequest = bridge
        .keys
        .open::<Sealed<AuthorizationRequest>>(Purpose::Consent, sealed)
        .ok()
        .and_then(Sealed::unexpired)
        .ok_or_else(|| {
            invalid_request(
                "this consent form was not issued here or has expired; start the sign-in again",
            )
        })?;
    bridge.check_browser(&request, cookie)?;
    Ok(request)
}

/// Where the client learns the outcome (RFC 6749 §4.1.2, RFC 9207 `iss`).
pub fn client_redirect(
    redirect_uri: &str,
    pairs: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> String {
    let mut url = Url::parse(redirect_uri).expect("redirect URIs were checked to be absolute URLs");
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    url.to_string()
}
