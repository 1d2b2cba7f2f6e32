//! Bearer tokens: RS256 signatures checked against the identity provider's JWKS, with the
//! configured `iss` and `aud` and an unexpired `exp` required — as the registry accepts only
//! tokens its catalog could have issued.

use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use crate::error::ApiError;

/// A key that rotated in is picked up on the first token naming it, but a stream of tokens
/// naming unknown keys fetches the JWKS at most this often.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(5);
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);

/// Whom a verified token belongs to, and the token itself (it is exchanged at STS).
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub token: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    email: Option<String>,
    name: Option<String>,
}

pub struct Authenticator {
    jwks_url: Url,
    http: reqwest::Client,
    validation: Validation,
    keys: Mutex<FetchedKeys>,
}

#[derive(Default)]
struct FetchedKeys {
    set: Option<JwkSet>,
    fetched_at: Option<Instant>,
}

impl Authenticator {
    pub fn new(jwks_url: Url, issuer: &str, audience: &str) -> Result<Self, reqwest::Error> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(Self {
            jwks_url,
            http: reqwest::Client::builder().timeout(JWKS_TIMEOUT).build()?,
            validation,
            keys: Mutex::default(),
        })
    }

    /// The caller of a request, from its `Authorization: Bearer` header.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let token = bearer_token(headers)?;
        let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(&e))?;
        let key = self.key_for(header.kid.as_deref()).await?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(|e| invalid(&e))?
            .claims;
        Ok(Caller {
            subject: claims.sub,
            email: claims.email,
            name: claims.name,
            token: token.to_owned(),
        })
    }

    async fn key_for(&self, kid: Option<&str>) -> Result<DecodingKey, ApiError> {
        let mut keys = self.keys.lock().await;
        if let Some(key) = keys.set.as_ref().and_then(|set| find(set, kid)) {
            return key;
        }
        let may_fetch = keys
            .fetched_at
            .is_none_or(|at| at.elapsed() >= MIN_REFETCH_INTERVAL);
        if may_fetch {
            keys.fetched_at = Some(Instant::now());
            keys.set = Some(self.fetch().await?);
        }
        keys.set
            .as_ref()
            .and_then(|set| find(set, kid))
            .unwrap_or_else(|| {
                Err(ApiError::Unauthorized(format!(
                    "the token's signing key {kid:?} is not published at {}; sign in again",
                    self.jwks_url
                )))
            })
    }

    async fn fetch(&self) -> Result<JwkSet, ApiError> {
        let unavailable = |e: reqwest::Error| {
            ApiError::BadGateway(format!(
                "the identity provider's keys at {} could not be fetched ({}); check that it is running",
                self.jwks_url,
                e.without_url()
            ))
        };
        self.http
            .get(self.jwks_url.clone())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json::<JwkSet>()
            .await
            .map_err(unavailable)
    }
}

fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "send the catalog's token as `Authorization: Bearer <token>`".to_owned(),
            )
        })
}

/// The key a token names; a token without `kid` may use the only key of a one-key set.
fn find(set: &JwkSet, kid: Option<&str>) -> Option<Result<DecodingKey, ApiError>> {
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        None if set.keys.len() == 1 => &set.keys[0],
        None => return None,
    };
    Some(
        DecodingKey::from_jwk(jwk).map_err(|e| {
            ApiError::BadGateway(format!("the published key {kid:?} is unusable: {e}"))
        }),
    )
}

fn invalid(error: &jsonwebtoken::errors::Error) -> ApiError {
    ApiError::Unauthorized(format!("the token was refused ({error}); sign in again"))
}
