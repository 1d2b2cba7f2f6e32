//! The identity provider's signing keys, fetched from its JWKS URL and cached.
//!
//! Keys rotate: a token naming an unknown `kid` triggers a refetch, but at most once per
//! `min_refetch_interval`, so a stream of forged `kid`s cannot turn the server into a
//! request amplifier against the identity provider.

use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use tokio::sync::Mutex;
use url::Url;

use super::AuthError;

pub struct JwksCache {
    url: Url,
    client: reqwest::Client,
    min_refetch_interval: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    keys: Option<JwkSet>,
    fetched_at: Option<Instant>,
}

impl JwksCache {
    pub fn new(url: Url, min_refetch_interval: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            url,
            client,
            min_refetch_interval,
            state: Mutex::default(),
        })
    }

    /// The key for `kid`; with no `kid`, the only key of a one-key set.
    pub async fn key_for(&self, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        let mut state = self.state.lock().await;
        if let Some(key) = state.keys.as_ref().and_then(|set| find(set, kid)) {
            return key;
        }
        let may_refetch = state
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.min_refetch_interval);
        if !may_refetch {
            return Err(AuthError::UnknownKey(kid.map(str::to_owned)));
        }
        state.fetched_at = Some(Instant::now());
        state.keys = Some(self.fetch().await?);
        state
            .keys
            .as_ref()
            .and_then(|set| find(set, kid))
            .unwrap_or_else(|| Err(AuthError::UnknownKey(kid.map(str::to_owned))))
    }

    async fn fetch(&self) -> Result<JwkSet, AuthError> {
        let unavailable =
            |e: reqwest::Error| AuthError::KeysUnavailable(e.without_url().to_string());
        let response = self
            .client
            .get(self.url.clone())
            .send()
            .await
            .map_err(unavailable)?;
        let response = response.error_for_status().map_err(unavailable)?;
        response.json::<JwkSet>().await.map_err(unavailable)
    }
}

fn find(set: &JwkSet, kid: Option<&str>) -> Option<Result<DecodingKey, AuthError>> {
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        None if set.keys.len() == 1 => &set.keys[0],
        None => return None,
    };
    Some(DecodingKey::from_jwk(jwk).map_err(|_| AuthError::UnknownKey(kid.map(str::to_owned))))
}
