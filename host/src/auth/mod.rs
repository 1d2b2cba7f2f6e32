//! Bearer-token validation: who is calling, established before the guest ever runs.
//!
//! The accepted algorithms, issuer and audience come from configuration only; the token's own
//! header never chooses how it is checked (that is how `alg: none` and HS/RS confusion fail).

mod config;
mod jwks;
mod verified_cache;
mod verified_token;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::oauth::{Bridge, KeyRing, Purpose, UpstreamTokens};
use crate::untrusted::bounded;
pub use config::AuthConfig;
pub use jwks::JwksCache;
use verified_cache::VerifiedCache;
pub use verified_token::VerifiedToken;

/// The validated caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    pub issuer: String,
    /// Claims chosen by `--forward-claims`, values JSON-encoded.
    pub claims: Vec<(String, String)>,
    /// For credential sources that exchange the token, and the registry bearer the guest gets
    /// when the deployment forwards it (`--registry-forward-token`); never logged.
    pub token: VerifiedToken,
    /// With the sign-in bridge, the upstream tokens sealed inside the access token: these,
    /// never the access token itself, go to STS and the registry.
    pub upstream: Option<Arc<UpstreamTokens>>,
}

impl Caller {
    /// The token STS `AssumeRoleWithWebIdentity` gets: the upstream ID token when the bridge
    /// issued the caller's token, else the caller's own (an IdP token issued for this server).
    pub fn web_identity_token(&self) -> &str {
        match &self.upstream {
            Some(upstream) => &upstream.id_token,
            None => self.token.raw(),
        }
    }

    /// The registry's bearer: the upstream access token when the bridge issued the caller's
    /// token (none if the provider gave none), else the caller's own.
    pub fn registry_token(&self) -> Option<&str> {
        match &self.upstream {
            Some(upstream) => upstream.access_token.as_deref(),
            None => Some(self.token.raw()),
        }
    }

    /// One string per person: the same subject from two issuers is two people.
    pub fn key(&self) -> String {
        format!("{}\n{}", self.issuer, self.subject)
    }
}

/// Why a bearer token was refused. The message goes to the client in the 401 body, so it
/// explains the refusal without repeating any part of the token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is signed with {0}, which this server does not accept")]
    AlgorithmNotAccepted(String),
    #[error(
        "the token's header marks extensions as critical ({0}), which this server does not implement"
    )]
    UnsupportedCritical(String),
    #[error("the token's signing key (kid {0:?}) is not among the identity provider's keys")]
    UnknownKey(Option<String>),
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf is in the future)")]
    NotYetValid,
    #[error("the token was issued by an issuer this server does not trust")]
    WrongIssuer,
    #[error("the token was not issued for this server (audience mismatch)")]
    WrongAudience,
    #[error("the token lacks the required claim `{0}`")]
    MissingClaim(String),
    #[error("the identity provider's keys could not be fetched: {0}")]
    KeysUnavailable(String),
    #[error("the token's sealed upstream part does not open: {0}")]
    Unsealable(#[from] crate::oauth::Unsealable),
}

impl AuthError {
    /// The OAuth error code for `WWW-Authenticate` (RFC 6750).
    pub fn oauth_code(&self) -> &'static str {
        match self {
            AuthError::Missing => "invalid_request",
            _ => "invalid_token",
        }
    }
}

enum Keys {
    Fixed(DecodingKey),
    Jwks(JwksCache),
    /// The sign-in bridge's own keys: it verifies the tokens it issued.
    Bridge(Arc<KeyRing>),
}

pub struct Authenticator {
    keys: Keys,
    validation: Validation,
    forward_claims: Vec<String>,
    verified: VerifiedCache,
}

/// How long a verified token is recognised without checking its signature again.
const VERIFIED_TTL: Duration = Duration::from_secs(60);
const VERIFIED_CAPACITY: usize = 10_000;

impl Authenticator {
    /// `None` when the server runs with `--no-auth`. With the sign-in `bridge`, the tokens
    /// accepted are the ones it issued, for `default_audience`.
    pub fn from_config(
        config: &AuthConfig,
        default_audience: &str,
        bridge: Option<&Bridge>,
    ) -> anyhow::Result<Option<Self>> {
        if let Some(bridge) = bridge {
            return Self::for_bridge(config, default_audience, bridge).map(Some);
        }
        if config.no_auth {
            return Ok(None);
        }
        let (keys, default_algorithm) = match (
            &config.jwt_hs256_secret,
            &config.jwt_public_key,
            &config.jwks_url,
        ) {
            (Some(secret), None, None) => (
                Keys::Fixed(DecodingKey::from_secret(secret.as_bytes())),
                Algorithm::HS256,
            ),
            (None, Some(path), None) => {
                let pem =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                (Keys::Fixed(decoding_key_from_pem(&pem)?), Algorithm::RS256)
            }
            (None, None, Some(url)) => {
                let min_refetch = Duration::from_secs(config.jwks_min_refetch_secs);
                let max_age = Duration::from_secs(config.jwks_max_age_secs);
                (
                    Keys::Jwks(JwksCache::new(url.clone(), min_refetch, max_age)?),
                    Algorithm::RS256,
                )
            }
            _ => bail!(
                "choose how tokens are verified: exactly one of --jwt-hs256-secret, --jwt-public-key, --jwks-url \
                 (or --no-auth for development)"
            ),
        };
        let issuer = config
            .jwt_issuer
            .as_deref()
            .context("--jwt-issuer is required: tokens from any other issuer are refused")?;

        let mut validation = Validation::new(default_algorithm);
        if !config.jwt_algorithms.is_empty() {
            validation.algorithms = config.jwt_algorithms.clone();
        }
        validation.leeway = config.jwt_leeway_secs;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        if config.jwt_audience.is_empty() {
            validation.set_audience(&[default_audience]);
        } else {
            validation.set_audience(&config.jwt_audience);
        }
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);

        Ok(Some(Self {
            keys,
            validation,
            forward_claims: config.forward_claims.clone(),
            verified: VerifiedCache::new(VERIFIED_TTL, VERIFIED_CAPACITY),
        }))
    }

    fn for_bridge(config: &AuthConfig, resource: &str, bridge: &Bridge) -> anyhow::Result<Self> {
        if config.no_auth
            || config.jwt_hs256_secret.is_some()
            || config.jwt_public_key.is_some()
            || config.jwks_url.is_some()
            || config.jwt_issuer.is_some()
        {
            bail!(
                "with --oauth-upstream-issuer this server verifies the tokens its sign-in bridge issues: \
                 drop --no-auth, --jwt-hs256-secret, --jwt-public-key, --jwks-url and --jwt-issuer"
            );
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = config.jwt_leeway_secs;
        validation.validate_nbf = true;
        validation.set_issuer(&[bridge.issuer()]);
        validation.set_audience(&[resource]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(Self {
            keys: Keys::Bridge(bridge.keys()),
            validation,
            forward_claims: config.forward_claims.clone(),
            verified: VerifiedCache::new(VERIFIED_TTL, VERIFIED_CAPACITY),
        })
    }

    /// Whether tokens can be checked now: the identity provider's keys have been fetched
    /// (keys given on the command line, or the bridge's own, always can).
    pub async fn can_verify(&self) -> bool {
        match &self.keys {
            Keys::Fixed(_) | Keys::Bridge(_) => true,
            Keys::Jwks(cache) => cache.has_keys().await,
        }
    }

    pub async fn authenticate(&self, token: &str) -> Result<Caller, AuthError> {
        // A token verified with a key set now past its maximum age is checked again: the key
        // lookup then waits for the refresh, which may have withdrawn that key.
        let (generation, keys_fresh) = match &self.keys {
            Keys::Fixed(_) | Keys::Bridge(_) => (0, true),
            Keys::Jwks(cache) => {
                cache.keep_fresh();
                (cache.generation(), cache.is_fresh())
            }
        };
        if keys_fresh && let Some(caller) = self.verified.get(token, generation) {
            return Ok(caller);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(AuthError::AlgorithmNotAccepted(format!("{:?}", header.alg)));
        }
        // RFC 7515 §4.1.11: a recipient must refuse a token whose `crit` names an extension
        // it does not understand, and this server understands none.
        if let Some(critical) = &header.crit {
            return Err(AuthError::UnsupportedCritical(named_at_most(critical, 3)));
        }
        let key = match &self.keys {
            Keys::Fixed(key) => key.clone(),
            // RFC 9068 §4: only what the bridge issued as an access token is one.
            Keys::Bridge(_) if header.typ.as_deref() != Some("at+jwt") => {
                return Err(AuthError::Malformed);
            }
            Keys::Bridge(ring) => header
                .kid
                .as_deref()
                .and_then(|kid| ring.verifying_key(kid))
                .cloned()
                .ok_or_else(|| AuthError::UnknownKey(header.kid.as_deref().map(bounded)))?,
            Keys::Jwks(cache) => {
                cache
                    .key_for(header.kid.as_deref().map(bounded).as_deref())
                    .await?
            }
        };
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &self.validation)
            .map_err(classify)?;
        // `exp` is a required claim, so validation has already refused a token without one.
        let exp = data
            .claims
            .get("exp")
            .and_then(Value::as_u64)
            .unwrap_or_default();
        let caller = self.caller_from(token, data.claims)?;
        self.verified.insert(token, &caller, exp, generation);
        Ok(caller)
    }

    fn caller_from(&self, token: &str, claims: Map<String, Value>) -> Result<Caller, AuthError> {
        let upstream = match &self.keys {
            Keys::Bridge(ring) => {
                let sealed = claims
                    .get("upt")
                    .and_then(Value::as_str)
                    .ok_or_else(|| AuthError::MissingClaim("upt".into()))?;
                Some(Arc::new(
                    ring.open::<UpstreamTokens>(Purpose::Upstream, sealed)?,
                ))
            }
            Keys::Fixed(_) | Keys::Jwks(_) => None,
        };
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let forwarded = self
            .forward_claims
            .iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .filter_map(|name| {
                claims
                    .get(name)
                    .map(|value| (name.clone(), value.to_string()))
            })
            .collect();
        let (subject, issuer) = (text("sub"), text("iss"));
        Ok(Caller {
            subject,
            issuer,
            claims: forwarded,
            token: VerifiedToken::new(token, claims),
            upstream,
        })
    }
}

fn classify(error: jsonwebtoken::errors::Error) -> AuthError {
    match error.kind() {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim.clone()),
        ErrorKind::InvalidAlgorithm => {
            AuthError::AlgorithmNotAccepted("an algorithm that does not match the key".into())
        }
        _ => AuthError::Malformed,
    }
}

fn decoding_key_from_pem(pem: &[u8]) -> anyhow::Result<DecodingKey> {
    DecodingKey::from_rsa_pem(pem)
        .or_else(|_| DecodingKey::from_ec_pem(pem))
        .or_else(|_| DecodingKey::from_ed_pem(pem))
        .context("--jwt-public-key is not an RSA, EC or Ed25519 public key in PEM form")
}

/// `names` quoted and cut for an error message: the first `shown`, then how many more.
fn named_at_most(names: &[String], shown: usize) -> String {
    let mut text = names
        .iter()
        .take(shown)
        .map(|name| format!("{:?}", bounded(name)))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > shown {
        text.push_str(&format!(" and {} more", names.len() - shown));
    }
    text
}

/// The token from an `Authorization: Bearer …` header value.
pub fn bearer_token(header: Option<&http::HeaderValue>) -> Result<&str, AuthError> {
    let value = header
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::{AuthError, bearer_token, named_at_most};
    use http::HeaderValue;

    #[test]
    fn named_lists_are_cut_for_messages() {
        let names: Vec<String> = (0..15_000).map(|i| format!("ext{i}")).collect();
        assert_eq!(
            named_at_most(&names, 3),
            r#""ext0", "ext1", "ext2" and 14997 more"#
        );
        assert_eq!(named_at_most(&names[..1], 3), r#""ext0""#);
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_required() {
        assert_eq!(
            bearer_token(Some(&HeaderValue::from_static("bearer abc"))).unwrap(),
            "abc"
        );
        assert!(matches!(bearer_token(None), Err(AuthError::Missing)));
        assert!(matches!(
            bearer_token(Some(&HeaderValue::from_static("Basic abc"))),
            Err(AuthError::Malformed)
        ));
        assert!(matches!(
            bearer_token(Some(&HeaderValue::from_static("Bearer "))),
            Err(AuthError::Malformed)
        ));
    }
}
