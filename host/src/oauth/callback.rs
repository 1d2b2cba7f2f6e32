//! `GET /oauth/callback`: the upstream provider sends the person back here. Its code is
//! redeemed, its ID token verified (signature, issuer, audience, expiry, nonce), and the
//! client gets this server's own authorization code: sealed, bound to the client, its redirect
//! URI, PKCE challenge, resource and scopes, and valid for 60 seconds.

use serde::{Deserialize, Serialize};

use super::authorize::{UpstreamState, client_redirect};
use super::errors::{ErrorCode, OAuthError, invalid_request};
use super::keys::Purpose;
use super::upstream::UpstreamTokens;
use super::{Bridge, Form, Sealed, now_secs};
use crate::server::responses::{self, HttpResponse};
use crate::untrusted::bounded;

/// RFC 6749 §4.1.2 recommends at most ten minutes; a client redeems at once.
pub const CODE_SECS: u64 = 60;

/// What this server's authorization code carries.
#[derive(Serialize, Deserialize)]
pub struct Code {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub resource: String,
    pub scopes: Vec<String>,
    pub signed_in: SignedIn,
}

/// A verified upstream sign-in, as the token endpoint needs it.
#[derive(Clone, Serialize, Deserialize)]
pub struct SignedIn {
    pub subject: String,
    pub tokens: UpstreamTokens,
    pub refresh_token: Option<String>,
    /// Identity claims of the ID token (email, name, groups, …), carried into access tokens.
    pub claims: serde_json::Map<String, serde_json::Value>,
    pub expires_at: u64,
}

pub async fn handle(bridge: &Bridge, query: &Form, cookie: Option<&str>) -> HttpResponse {
    let state = match open_state(bridge, query, cookie) {
        Ok(state) => state,
        Err(error) => return bridge.error_page(&error),
    };
    let request = &state.request;
    let back = |error: OAuthError| {
        bridge.redirect_error(&request.redirect_uri, request.state.as_deref(), &error)
    };
    if let Ok(Some(error)) = query.one("error") {
        tracing::info!(target: "quilt_mcp::oauth", error = %bounded(error), "the identity provider ended the sign-in");
        let code = if error == "access_denied" {
            ErrorCode::AccessDenied
        } else {
            ErrorCode::ServerError
        };
        return back(OAuthError::new(
            code,
            format!("the identity provider answered {}", bounded(error)),
        ));
    }
    let upstream_code = match query.one("code") {
        Ok(Some(code)) => code,
        _ => return back(invalid_request("the identity provider sent no code")),
    };
    let grant = match bridge
        .upstream
        .redeem(upstream_code, &state.verifier, &state.nonce)
        .await
    {
        Ok(grant) => grant,
        Err(error) => return back(error),
    };
    let Some(subject) = grant
        .claims
        .get("sub")
        .and_then(|sub| sub.as_str())
        .map(str::to_owned)
    else {
        return back(OAuthError::new(
            ErrorCode::ServerError,
            "the ID token has no subject",
        ));
    };
    let code = Code {
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        resource: request.resource.clone(),
        scopes: request.scopes.clone(),
        signed_in: SignedIn {
            subject,
            tokens: grant.tokens,
            refresh_token: grant.refresh_token,
            claims: identity_claims(grant.claims),
            expires_at: grant.expires_at,
        },
    };
    let sealed = bridge
        .keys
        .seal(Purpose::Code, &Sealed::new(&code, now_secs() + CODE_SECS));
    let location = client_redirect(
        &request.redirect_uri,
        &[("code", &sealed)],
        request.state.as_deref(),
        &bridge.issuer,
    );
    tracing::info!(target: "quilt_mcp::oauth", subject = %bounded(&code.signed_in.subject), client = %bounded(&code.client_id), "signed in");
    responses::redirect(http::StatusCode::FOUND, &location)
}

fn open_state(
    bridge: &Bridge,
    query: &Form,
    cookie: Option<&str>,
) -> Result<UpstreamState, OAuthError> {
    let sealed = query
        .one("state")?
        .ok_or_else(|| invalid_request("the identity provider's answer has no state"))?;
    let state: UpstreamState = bridge
        .keys
        .open::<Sealed<UpstreamState>>(Purpose::UpstreamState, sealed)
        .ok()
        .and_then(Sealed::unexpired)
        .ok_or_else(|| {
            invalid_request("this sign-in was not started here or took too long; start again")
        })?;
    bridge.check_browser(&state.request, cookie)?;
    Ok(state)
}

/// The ID token's claims less those about the ID token itself.
pub fn identity_claims(
    mut claims: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    for name in [
        "iss",
        "aud",
        "exp",
        "iat",
        "nbf",
        "nonce",
        "azp",
        "at_hash",
        "c_hash",
        "sid",
        "auth_time",
        "jti",
        "sub",
        "acr",
        "amr",
    ] {
        claims.remove(name);
    }
    claims
}
