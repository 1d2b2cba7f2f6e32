//! `POST /oauth/token` (RFC 6749 §4.1.3 and §6): a code, with its PKCE verifier, or a refresh
//! token, for an access token and a new refresh token.
//!
//! The access token is a JWT (RFC 9068) signed with the bridge's key: `aud` is the MCP
//! resource, and the upstream tokens ride inside it sealed (`upt`), readable by this server
//! only. The refresh token is a sealed blob holding the upstream refresh token; each use
//! returns a new one, expiring when the first did (a refresh never extends a sign-in). Nothing is shared between replicas, so a code redeemed at one replica
//! can be redeemed again at another within its 60 s by whoever holds its PKCE verifier (only
//! the client that asked for it; a replica refuses a code it redeemed itself, see `replay`),
//! and a refresh token keeps working until it expires or the upstream refresh token inside it
//! is revoked.

use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::callback::{Code, SignedIn};
use super::errors::{ErrorCode, OAuthError, invalid_request};
use super::keys::Purpose;
use super::{Bridge, Form, Sealed, now_secs, pkce};
use crate::server::responses::{self, HttpResponse};
use crate::untrusted::bounded;

/// What a refresh token carries.
#[derive(Serialize, Deserialize)]
pub struct Refresh {
    pub client_id: String,
    pub resource: String,
    pub scopes: Vec<String>,
    pub subject: String,
    pub upstream_refresh_token: String,
}

pub async fn handle(bridge: &Bridge, form: &Form) -> HttpResponse {
    let answer = match form.one("grant_type") {
        Ok(Some("authorization_code")) => redeem_code(bridge, form),
        Ok(Some("refresh_token")) => refresh(bridge, form).await,
        Ok(Some(other)) => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!(
                "grant_type {:?} is not supported: use authorization_code or refresh_token",
                bounded(other)
            ),
        )),
        Ok(None) => Err(invalid_request("grant_type is required")),
        Err(error) => Err(error),
    };
    match answer {
        Ok(tokens) => {
            let mut response = responses::json(http::StatusCode::OK, &tokens);
            responses::no_store(&mut response);
            response
        }
        Err(error) => {
            tracing::info!(target: "quilt_mcp::oauth", %error, "token request refused");
            error.response()
        }
    }
}

fn redeem_code(bridge: &Bridge, form: &Form) -> Result<Value, OAuthError> {
    let invalid_grant = |why: &str| OAuthError::new(ErrorCode::InvalidGrant, why.to_owned());
    let sealed = form
        .one("code")?
        .ok_or_else(|| invalid_request("code is required"))?;
    let client_id = form
        .one("client_id")?
        .ok_or_else(|| invalid_request("client_id is required"))?;
    let opened = bridge
        .keys
        .open::<Sealed<Code>>(Purpose::Code, sealed)
        .map_err(|_| invalid_grant("the code was not issued by this server or was altered"))?;
    let exp = opened.exp;
    let code: Code = opened.unexpired().ok_or_else(|| {
        invalid_grant("the code has expired (codes live 60 seconds): sign in again")
    })?;
    if code.client_id != client_id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if form.one("redirect_uri")? != Some(code.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri is not the one the code was issued for",
        ));
    }
    let verifier = form
        .one("code_verifier")?
        .ok_or_else(|| invalid_request("code_verifier is required (PKCE)"))?;
    if !pkce::verifies(verifier, &code.code_challenge) {
        return Err(invalid_grant(
            "the PKCE code_verifier does not match the code_challenge",
        ));
    }
    if let Some(resource) = form.one("resource")?
        && resource != code.resource
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            "resource is not the one the code was issued for",
        ));
    }
    // Last, so that only the client holding the verifier can use a code up.
    if !bridge.redeemed.first_use(sealed, exp, now_secs()) {
        return Err(invalid_grant("the code was already used"));
    }
    Ok(bridge.issue(
        &code.client_id,
        &code.resource,
        &code.scopes,
        &code.signed_in,
        None,
    ))
}

async fn refresh(bridge: &Bridge, form: &Form) -> Result<Value, OAuthError> {
    let invalid_grant = |why: &str| OAuthError::new(ErrorCode::InvalidGrant, why.to_owned());
    let sealed = form
        .one("refresh_token")?
        .ok_or_else(|| invalid_request("refresh_token is required"))?;
    let client_id = form
        .one("client_id")?
        .ok_or_else(|| invalid_request("client_id is required"))?;
    let opened = bridge
        .keys
        .open::<Sealed<Refresh>>(Purpose::RefreshToken, sealed)
        .map_err(|_| {
            invalid_grant("the refresh token was not issued by this server or was altered")
        })?;
    // The first sign-in's expiry: refreshing never extends it.
    let until = opened.exp;
    let refresh: Refresh = opened
        .unexpired()
        .ok_or_else(|| invalid_grant("the refresh token has expired: sign in again"))?;
    if refresh.client_id != client_id {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    let scopes = match form.one("scope")? {
        // RFC 6749 §6: a refresh may narrow the scopes, never widen them.
        Some(asked) => {
            let asked: Vec<String> = asked
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(extra) = asked.iter().find(|scope| !refresh.scopes.contains(scope)) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("scope {:?} was not granted", bounded(extra)),
                ));
            }
            asked
        }
        None => refresh.scopes.clone(),
    };
    let grant = bridge
        .upstream
        .refresh(&refresh.upstream_refresh_token, &refresh.subject)
        .await?;
    let signed_in = SignedIn {
        subject: refresh.subject.clone(),
        tokens: grant.tokens,
        refresh_token: grant.refresh_token,
        claims: super::callback::identity_claims(grant.claims),
        expires_at: grant.expires_at,
    };
    // Rotation: a refresh token this replica already used is refused (OAuth 2.1 §4.3.1; each
    // replica knows only its own, see `replay`).
    if !bridge.redeemed.first_use(sealed, until, now_secs()) {
        return Err(invalid_grant(
            "the refresh token was already used: use the one its refresh returned",
        ));
    }
    Ok(bridge.issue(
        &refresh.client_id,
        &refresh.resource,
        &scopes,
        &signed_in,
        Some(until),
    ))
}

impl Bridge {
    /// The token response for a verified sign-in; `refresh_until` is when the refresh token of the first sign-in expires (none: this is
    /// the first).
    fn issue(
        &self,
        client_id: &str,
        resource: &str,
        scopes: &[String],
        signed_in: &SignedIn,
        refresh_until: Option<u64>,
    ) -> Value {
        let now = now_secs();
        // Never past the upstream ID token, which STS checks when the token is used.
        let exp = (now + self.access_token_secs).min(signed_in.expires_at.max(now + 1));
        let mut claims = signed_in.claims.clone();
        let sealed_upstream = self.keys.seal(Purpose::Upstream, &signed_in.tokens);
        for (name, value) in [
            ("iss", json!(self.issuer)),
            ("sub", json!(signed_in.subject)),
            ("aud", json!(resource)),
            ("client_id", json!(client_id)),
            ("scope", json!(scopes.join(" "))),
            ("iat", json!(now)),
            ("exp", json!(exp)),
            ("jti", json!(pkce::verifier())),
            ("upt", json!(sealed_upstream)),
        ] {
            claims.insert(name.to_owned(), value);
        }
        let (kid, key) = self.keys.signing_key();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        header.typ = Some("at+jwt".to_owned());
        let access_token =
            jsonwebtoken::encode(&header, &claims, key).expect("an Ed25519 key signs any claims");
        let mut answer = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": exp - now,
            "scope": scopes.join(" "),
        });
        if let Some(upstream_refresh_token) = &signed_in.refresh_token {
            let refresh = Refresh {
                client_id: client_id.to_owned(),
                resource: resource.to_owned(),
                scopes: scopes.to_vec(),
                subject: signed_in.subject.clone(),
                upstream_refresh_token: upstream_refresh_token.clone(),
            };
            let exp = refresh_until.unwrap_or(now + self.refresh_token_secs);
            answer["refresh_token"] = json!(
                self.keys
                    .seal(Purpose::RefreshToken, &Sealed::new(&refresh, exp))
            );
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::redeem_code;
    use crate::auth::{AuthError, Authenticator};
    use crate::oauth::callback::{Code, SignedIn};
    use crate::oauth::errors::ErrorCode;
    use crate::oauth::keys::Purpose;
    use crate::oauth::upstream::UpstreamTokens;
    use crate::oauth::{Form, Sealed, bridge_for_tests, now_secs, pkce};

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn code(bridge: &crate::oauth::Bridge, exp: u64) -> String {
        let code = Code {
            client_id: "client".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            code_challenge: pkce::s256(VERIFIER),
            resource: "https://mcp.example.com/mcp".into(),
            scopes: vec!["quilt:read".into()],
            signed_in: SignedIn {
                subject: "alice".into(),
                tokens: UpstreamTokens {
                    id_token: "id".into(),
                    access_token: None,
                },
                refresh_token: None,
                claims: Map::new(),
                expires_at: now_secs() + 3600,
            },
        };
        bridge.keys.seal(Purpose::Code, &Sealed::new(&code, exp))
    }

    fn form(code: &str) -> Form {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "authorization_code"),
                ("code", code),
                ("client_id", "client"),
                ("redirect_uri", "http://127.0.0.1/cb"),
                ("code_verifier", VERIFIER),
            ])
            .finish();
        Form::parse(body.as_bytes())
    }

    #[test]
    fn a_code_past_its_60_seconds_is_refused() {
        let bridge = bridge_for_tests();
        let fresh = redeem_code(&bridge, &form(&code(&bridge, now_secs() + 60))).unwrap();
        assert!(fresh["access_token"].is_string(), "{fresh}");
        let error = redeem_code(&bridge, &form(&code(&bridge, now_secs() - 1))).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidGrant);
        assert!(error.description.contains("expired"), "{error}");
    }

    #[tokio::test]
    async fn the_host_accepts_the_access_token_and_finds_the_upstream_tokens_inside() {
        let bridge = bridge_for_tests();
        let answer = redeem_code(&bridge, &form(&code(&bridge, now_secs() + 60))).unwrap();
        let token = answer["access_token"].as_str().unwrap();
        let auth = crate::cli::parse_serve(&[]).unwrap().auth;
        let authenticator =
            Authenticator::from_config(&auth, "https://mcp.example.com/mcp", Some(&bridge))
                .unwrap()
                .unwrap();
        let caller = authenticator.authenticate(token).await.unwrap();
        assert_eq!(caller.subject, "alice");
        assert_eq!(caller.web_identity_token(), "id");
        assert_eq!(caller.registry_token(), None);
        let other = Authenticator::from_config(&auth, "https://other.example/mcp", Some(&bridge))
            .unwrap()
            .unwrap();
        assert!(matches!(
            other.authenticate(token).await,
            Err(AuthError::WrongAudience)
        ));
        let foreign = bridge_for_tests();
        let stranger =
            Authenticator::from_config(&auth, "https://mcp.example.com/mcp", Some(&foreign))
                .unwrap()
                .unwrap();
        assert!(matches!(
            stranger.authenticate(token).await,
            Err(AuthError::UnknownKey(_))
        ));
    }

    #[test]
    fn a_replica_redeems_a_code_once() {
        let bridge = bridge_for_tests();
        let sealed = code(&bridge, now_secs() + 60);
        assert!(redeem_code(&bridge, &form(&sealed)).is_ok());
        let again = redeem_code(&bridge, &form(&sealed)).unwrap_err();
        assert_eq!(again.code, ErrorCode::InvalidGrant);
        assert!(again.description.contains("already used"), "{again}");
    }

    #[test]
    fn a_code_sealed_for_another_purpose_is_refused() {
        let bridge = bridge_for_tests();
        let sealed = code(&bridge, now_secs() + 60);
        let opened: Sealed<Code> = bridge.keys.open(Purpose::Code, &sealed).unwrap();
        let as_refresh = bridge.keys.seal(Purpose::RefreshToken, &opened);
        let error = redeem_code(&bridge, &form(&as_refresh)).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidGrant);
    }
}
