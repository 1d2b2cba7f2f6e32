//! The organization's OpenID provider, as the bridge's upstream: this server is an ordinary
//! confidential client there (authorization code + PKCE + nonce), and checks each ID token it
//! gets with the same rule as every other JWT here — `jsonwebtoken` with the algorithm pinned,
//! keys from the provider's JWKS through the host's `JwksCache` (refresh, rotation, limits).
//!
//! The provider's discovery document is fetched on first use, not at start, so a provider
//! that is down while this server starts costs the sign-ins of that moment only.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;
use url::Url;
use url::form_urlencoded::byte_serialize;

use super::config::OAuthConfig;
use super::errors::{ErrorCode, OAuthError};
use crate::auth::JwksCache;
use crate::untrusted::bounded;

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// What the bridge keeps of one upstream sign-in, sealed inside the access tokens it issues:
/// the ID token (for STS `AssumeRoleWithWebIdentity`) and the access token (the registry's
/// bearer). Never shown to the MCP client, never logged.
#[derive(Clone, Serialize, Deserialize)]
pub struct UpstreamTokens {
    pub id_token: String,
    pub access_token: Option<String>,
}

impl std::fmt::Debug for UpstreamTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpstreamTokens(redacted)")
    }
}

/// A verified upstream sign-in or refresh.
pub struct UpstreamGrant {
    pub tokens: UpstreamTokens,
    pub refresh_token: Option<String>,
    /// The ID token's claims, verified.
    pub claims: Map<String, Value>,
    /// When the ID token expires (seconds since the epoch).
    pub expires_at: u64,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: Url,
    token_endpoint: Url,
    jwks_uri: Url,
    revocation_endpoint: Option<Url>,
}

struct Discovered {
    authorization_endpoint: Url,
    token_endpoint: Url,
    revocation_endpoint: Option<Url>,
    keys: JwksCache,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    refresh_token: Option<String>,
    id_token: Option<String>,
}

pub struct Upstream {
    issuer: String,
    client_id: String,
    client_secret: String,
    scopes: String,
    resource: Option<String>,
    redirect_uri: String,
    http: reqwest::Client,
    discovered: OnceCell<Discovered>,
}

impl Upstream {
    /// `redirect_uri` is this server's `/oauth/callback`.
    pub fn new(config: &OAuthConfig, redirect_uri: String) -> anyhow::Result<Self> {
        let (Some(issuer), Some(client_id), Some(client_secret)) = (
            &config.oauth_upstream_issuer,
            &config.oauth_upstream_client_id,
            &config.oauth_upstream_client_secret,
        ) else {
            anyhow::bail!(
                "the sign-in bridge needs the upstream issuer, client id and client secret"
            );
        };
        if !config
            .oauth_upstream_scopes
            .split(' ')
            .any(|scope| scope == "openid")
        {
            anyhow::bail!(
                "--oauth-upstream-scopes must include openid: the bridge needs the upstream's ID token"
            );
        }
        Ok(Self {
            issuer: issuer.clone(),
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            scopes: config.oauth_upstream_scopes.clone(),
            resource: config.oauth_upstream_resource.clone(),
            redirect_uri,
            http: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            discovered: OnceCell::new(),
        })
    }

    /// Where the user signs in, with PKCE (`code_challenge`, S256) and `nonce`.
    pub async fn authorization_url(
        &self,
        state: &str,
        nonce: &str,
        code_challenge: &str,
    ) -> Result<Url, OAuthError> {
        let mut url = self.discovered().await?.authorization_endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", &self.redirect_uri)
                .append_pair("scope", &self.scopes)
                .append_pair("state", state)
                .append_pair("nonce", nonce)
                .append_pair("code_challenge", code_challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(resource) = &self.resource {
                query.append_pair("resource", resource);
            }
        }
        Ok(url)
    }

    /// The upstream's tokens for `code`, its ID token verified against `nonce`.
    pub async fn redeem(
        &self,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<UpstreamGrant, OAuthError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.redirect_uri),
            ("code_verifier", verifier),
        ];
        if let Some(resource) = &self.resource {
            form.push(("resource", resource));
        }
        let response = self.token_request(&form).await?;
        self.verified(response, None, Some(nonce)).await
    }

    /// New upstream tokens for `refresh_token`; the ID token must still be `subject`'s.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        subject: &str,
    ) -> Result<UpstreamGrant, OAuthError> {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        if let Some(resource) = &self.resource {
            form.push(("resource", resource));
        }
        let response = self.token_request(&form).await?;
        self.verified(response, Some(refresh_token), None)
            .await
            .and_then(|grant| {
                let same = grant.claims.get("sub").and_then(Value::as_str) == Some(subject);
                same.then_some(grant).ok_or_else(|| {
                    OAuthError::new(
                        ErrorCode::InvalidGrant,
                        "the identity provider refreshed a different user",
                    )
                })
            })
    }

    /// RFC 7009 at the upstream: ends the upstream refresh token, and with it every refresh
    /// token of ours that seals it. Providers without a revocation endpoint cannot be asked.
    pub async fn revoke(&self, refresh_token: &str) -> Result<bool, OAuthError> {
        let Some(endpoint) = self.discovered().await?.revocation_endpoint.clone() else {
            return Ok(false);
        };
        let form = [
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
        ];
        let response = self
            .http
            .post(endpoint)
            .header(http::header::AUTHORIZATION, self.basic_credentials())
            .form(&form)
            .send()
            .await
            .map_err(|error| unavailable(&error))?;
        Ok(response.status().is_success())
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenResponse, OAuthError> {
        let endpoint = self.discovered().await?.token_endpoint.clone();
        let response = self
            .http
            .post(endpoint)
            .header(http::header::AUTHORIZATION, self.basic_credentials())
            .form(form)
            .send()
            .await
            .map_err(|error| unavailable(&error))?;
        let status = response.status();
        let body = read_capped(response).await?;
        if !status.is_success() {
            let error: Value = serde_json::from_slice(&body).unwrap_or_default();
            let code = error
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no error code");
            tracing::info!(target: "quilt_mcp::oauth", %status, code = %bounded(code), "the identity provider refused a token request");
            return Err(OAuthError::new(
                ErrorCode::InvalidGrant,
                format!("the identity provider refused: {}", bounded(code)),
            ));
        }
        serde_json::from_slice(&body).map_err(|_| {
            OAuthError::new(
                ErrorCode::ServerError,
                "the identity provider's token response is not the expected JSON",
            )
        })
    }

    fn basic_credentials(&self) -> String {
        basic_authorization(&self.client_id, &self.client_secret)
    }

    /// The grant, once its ID token verifies: signature, issuer, audience, expiry and (for a
    /// sign-in) nonce. A refresh that brings no new ID token keeps nothing: the old one may be
    /// about to expire, and STS needs a live one.
    async fn verified(
        &self,
        response: TokenResponse,
        previous_refresh: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<UpstreamGrant, OAuthError> {
        let id_token = response.id_token.ok_or_else(|| {
            OAuthError::new(ErrorCode::ServerError, "the identity provider sent no ID token (is `openid` among --oauth-upstream-scopes?)")
        })?;
        let claims = self.verify_id_token(&id_token, nonce).await?;
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_u64)
            .unwrap_or_default();
        Ok(UpstreamGrant {
            tokens: UpstreamTokens {
                id_token,
                access_token: response.access_token,
            },
            // Providers that do not rotate refresh tokens answer without one.
            refresh_token: response
                .refresh_token
                .or(previous_refresh.map(str::to_owned)),
            claims,
            expires_at,
        })
    }

    pub async fn verify_id_token(
        &self,
        id_token: &str,
        nonce: Option<&str>,
    ) -> Result<Map<String, Value>, OAuthError> {
        let refused = |why: &str| {
            tracing::info!(target: "quilt_mcp::oauth", why, "upstream ID token refused");
            OAuthError::new(
                ErrorCode::InvalidGrant,
                format!("the identity provider's ID token was refused: {why}"),
            )
        };
        let header = jsonwebtoken::decode_header(id_token).map_err(|_| refused("not a JWT"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        if !validation.algorithms.contains(&header.alg) {
            return Err(refused(
                "signed with an algorithm this server does not accept",
            ));
        }
        let key = self
            .discovered()
            .await?
            .keys
            .key_for(header.kid.as_deref().map(bounded).as_deref())
            .await
            .map_err(|_| refused("its signing key is not among the provider's keys"))?;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(id_token, &key, &validation)
            .map_err(|error| refused(&format!("{:?}", error.kind())))?
            .claims;
        if let Some(expected) = nonce
            && claims.get("nonce").and_then(Value::as_str) != Some(expected)
        {
            return Err(refused("its nonce is not this sign-in's"));
        }
        // OpenID Connect Core §3.1.3.7: with several audiences `azp` must be present, and when
        // present it must name this client.
        let audiences = claims
            .get("aud")
            .and_then(Value::as_array)
            .map_or(1, Vec::len);
        let azp = claims.get("azp").and_then(Value::as_str);
        let several = if audiences > 1 {
            "it names several audiences and "
        } else {
            ""
        };
        match azp {
            None if audiences > 1 => {
                return Err(refused(
                    "it names several audiences and no azp (authorized party) naming this server",
                ));
            }
            Some(party) if party != self.client_id => {
                return Err(refused(&format!(
                    "{several}its azp (authorized party) is another client"
                )));
            }
            _ => {}
        }
        Ok(claims)
    }

    async fn discovered(&self) -> Result<&Discovered, OAuthError> {
        self.discovered.get_or_try_init(|| self.discover()).await
    }

    async fn discover(&self) -> Result<Discovered, OAuthError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|error| unavailable(&error))?;
        if !response.status().is_success() {
            return Err(OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                format!(
                    "the identity provider's discovery document answered {}",
                    response.status()
                ),
            ));
        }
        let body = read_capped(response).await?;
        let discovery: Discovery = serde_json::from_slice(&body).map_err(|_| {
            OAuthError::new(
                ErrorCode::ServerError,
                "the identity provider's discovery document is not valid",
            )
        })?;
        // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
        if discovery.issuer != self.issuer {
            return Err(OAuthError::new(
                ErrorCode::ServerError,
                format!(
                    "the identity provider calls itself {:?}, not {:?}",
                    bounded(&discovery.issuer),
                    self.issuer
                ),
            ));
        }
        let keys = JwksCache::new(
            discovery.jwks_uri,
            Duration::from_secs(10),
            Duration::from_secs(300),
        )
        .map_err(|error| OAuthError::new(ErrorCode::ServerError, error.to_string()))?;
        Ok(Discovered {
            authorization_endpoint: discovery.authorization_endpoint,
            token_endpoint: discovery.token_endpoint,
            revocation_endpoint: discovery.revocation_endpoint,
            keys,
        })
    }
}

/// RFC 6749 §2.3.1: a confidential client's id and secret, each form-encoded, as HTTP Basic.
pub fn basic_authorization(client_id: &str, client_secret: &str) -> String {
    let encode = |text: &str| byte_serialize(text.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(client_secret));
    format!("Basic {}", STANDARD.encode(pair))
}

fn unavailable(error: &reqwest::Error) -> OAuthError {
    tracing::warn!(target: "quilt_mcp::oauth", %error, "the identity provider could not be reached");
    OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        "the identity provider could not be reached; try again",
    )
}

/// The body of an identity provider's answer, refused past 1 MiB.
pub async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, OAuthError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| unavailable(&error))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(OAuthError::new(
                ErrorCode::ServerError,
                "the identity provider's answer is too large",
            ));
        }
    }
    Ok(body)
}
