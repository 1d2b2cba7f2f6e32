//! The registry's bearer for a caller. By default it is the caller's registry token: the
//! upstream access token sealed in a bridge-issued token, or, with an external authorization
//! server, the caller's own token (a documented deployment choice: its audience must name the
//! registry). With `--registry-token-exchange-url`, the caller's token is instead exchanged at
//! the identity provider (RFC 8693) for one issued for the registry's audience, so the token
//! issued for this server never leaves it; exchanges are kept per token hash, like credentials.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use serde::Deserialize;
use url::Url;

use super::CredentialError;
use super::cache::{Expiring, PerToken};
use super::config::CredentialsConfig;
use crate::auth::Caller;
use crate::oauth::{basic_authorization, read_capped};
use crate::untrusted::bounded;

const TIMEOUT: Duration = Duration::from_secs(10);
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// How long an exchanged token whose lifetime the IdP did not state is reused.
const UNSTATED_LIFETIME_SECS: u64 = 300;

pub struct RegistryToken {
    exchange: Option<TokenExchange>,
}

impl RegistryToken {
    /// The caller's registry token as it is, with no exchange.
    pub fn callers_own() -> Arc<Self> {
        Arc::new(Self { exchange: None })
    }

    /// From the `--registry-token-exchange-*` flags; `bridged` says the sign-in bridge issues
    /// the callers' tokens (it already holds one for the registry).
    pub fn from_config(config: &CredentialsConfig, bridged: bool) -> anyhow::Result<Arc<Self>> {
        let Some(endpoint) = &config.registry_token_exchange_url else {
            return Ok(Self::callers_own());
        };
        if bridged {
            bail!(
                "--registry-token-exchange-url is for external authorization servers: with the sign-in \
                 bridge, the registry gets the upstream access token of each sign-in"
            );
        }
        let (Some(client_id), Some(client_secret), Some(audience)) = (
            &config.registry_token_exchange_client_id,
            &config.registry_token_exchange_client_secret,
            &config.registry_token_exchange_audience,
        ) else {
            bail!(
                "--registry-token-exchange-url needs --registry-token-exchange-client-id, \
                 --registry-token-exchange-client-secret and --registry-token-exchange-audience"
            );
        };
        let margin = Duration::from_secs(30);
        Ok(Arc::new(Self {
            exchange: Some(TokenExchange {
                endpoint: endpoint.clone(),
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                audience: audience.clone(),
                http: reqwest::Client::builder()
                    .timeout(TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()?,
                cache: PerToken::new(margin, config.credentials_cache_entries),
            }),
        }))
    }

    /// The bearer the registry gets for `caller`, if any.
    pub async fn for_caller(&self, caller: &Caller) -> Result<Option<String>, CredentialError> {
        match &self.exchange {
            None => Ok(caller.registry_token().map(str::to_owned)),
            Some(exchange) => exchange.exchanged(caller).await.map(Some),
        }
    }
}

struct TokenExchange {
    endpoint: Url,
    client_id: String,
    client_secret: String,
    audience: String,
    http: reqwest::Client,
    cache: PerToken<Exchanged>,
}

#[derive(Clone)]
struct Exchanged {
    token: String,
    expires_at: Option<u64>,
}

impl Expiring for Exchanged {
    fn expiration(&self) -> Option<u64> {
        self.expires_at
    }
}

#[derive(Deserialize)]
struct ExchangeResponse {
    access_token: String,
    expires_in: Option<u64>,
}

impl TokenExchange {
    async fn exchanged(&self, caller: &Caller) -> Result<String, CredentialError> {
        let token = caller.token.raw();
        self.cache
            .get_or_exchange(token, "", self.exchange(token))
            .await
            .map(|exchanged| exchanged.token)
    }

    /// RFC 8693 §2.1, the client authenticated with HTTP Basic.
    async fn exchange(&self, subject_token: &str) -> Result<Exchanged, CredentialError> {
        let form = [
            ("grant_type", GRANT_TYPE),
            ("subject_token", subject_token),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
            ("audience", &self.audience),
        ];
        let unavailable = |why: String| {
            tracing::warn!(target: "quilt_mcp::credentials", why, "registry token exchange failed");
            CredentialError::Unavailable(format!(
                "the identity provider could not exchange your token for the registry: {why}"
            ))
        };
        let response = self
            .http
            .post(self.endpoint.clone())
            .header(
                http::header::AUTHORIZATION,
                basic_authorization(&self.client_id, &self.client_secret),
            )
            .form(&form)
            .send()
            .await
            .map_err(|error| unavailable(error.without_url().to_string()))?;
        let status = response.status();
        let body = read_capped(response)
            .await
            .map_err(|error| unavailable(error.description))?;
        if !status.is_success() {
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let code = body["error"].as_str().unwrap_or("no error code");
            return Err(CredentialError::Denied(format!(
                "the identity provider refused to exchange your token for the registry ({status}, {})",
                bounded(code)
            )));
        }
        let answer: ExchangeResponse = serde_json::from_slice(&body)
            .map_err(|_| unavailable("its answer is not the expected JSON".into()))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        // Without `expires_in`, kept a few minutes only: the token may well expire sooner.
        let lifetime = answer.expires_in.unwrap_or(UNSTATED_LIFETIME_SECS);
        Ok(Exchanged {
            token: answer.access_token,
            expires_at: Some(now.saturating_add(lifetime)),
        })
    }
}
