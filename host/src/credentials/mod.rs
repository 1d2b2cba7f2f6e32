//! Where a request's AWS credentials come from.
//!
//! A [`CredentialSource`] turns a validated caller into credentials. The guest asks for them
//! through `request-context.get-aws-credentials` only when a tool needs S3, so a source that does a
//! network exchange (STS, the Quilt registry) costs nothing for requests that never touch AWS.
//! No source ever reads `~/.aws`, `~/.quilt` or the process's `AWS_*` variables.

mod cache;
mod config;
mod quilt_exchange;
mod registry_token;
mod roles;
mod static_keys;
mod web_identity;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
pub use cache::CachedCredentials;
pub use quilt_exchange::QuiltExchange;
pub use registry_token::RegistryToken;
pub use static_keys::StaticKeys;
pub use web_identity::WebIdentity;

use crate::access::SessionPolicy;
use crate::auth::Caller;
use url::Url;

pub use config::{CredentialSourceKind, CredentialsConfig, RoleMapping};

/// Credentials handed to the guest for one request.
#[derive(Clone)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// Seconds since the Unix epoch.
    pub expiration: Option<u64>,
}

/// Why a caller gets no credentials; each message tells the person what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialError {
    #[error("{0}")]
    NotConfigured(String),
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    Unavailable(String),
}

#[async_trait::async_trait]
pub trait CredentialSource: Send + Sync {
    /// Short name shown to users by `auth_status` (e.g. "static").
    fn name(&self) -> &'static str;

    /// Credentials for this caller (`None` only under `--no-auth`), narrowed to `policy` by
    /// the sources that can have AWS enforce it (see [`Self::enforces_session_policies`]).
    async fn credentials(
        &self,
        caller: Option<&Caller>,
        policy: &SessionPolicy,
    ) -> Result<AwsCredentials, CredentialError>;

    /// Whether the credentials themselves carry the request's session policy, so that S3
    /// refuses what it does not allow. Otherwise only the host and the guest enforce it.
    fn enforces_session_policies(&self) -> bool {
        false
    }
}

/// The source for deployments that configure none: every S3 tool explains how to get one.
struct NoCredentials;

#[async_trait::async_trait]
impl CredentialSource for NoCredentials {
    fn name(&self) -> &'static str {
        "none"
    }

    async fn credentials(
        &self,
        _: Option<&Caller>,
        _: &SessionPolicy,
    ) -> Result<AwsCredentials, CredentialError> {
        Err(CredentialError::NotConfigured(
            "This server has no AWS credential source configured, so S3 tools cannot run. \
             Ask its operator to start it with --credentials."
                .into(),
        ))
    }
}

/// The caller whose token an exchanging source (`source`) sends on. There is none only under
/// `--no-auth`, which such sources cannot serve.
fn token_holder<'a>(
    caller: Option<&'a Caller>,
    source: &str,
) -> Result<&'a Caller, CredentialError> {
    caller.ok_or_else(|| {
        CredentialError::NotConfigured(format!(
            "{source} credentials need the caller's token, and this server accepts requests without one"
        ))
    })
}

/// The configured source; `region` names the default STS endpoint, `registry` the Quilt
/// registry (`--registry-url`), `registry_token` the bearer a caller has there.
/// `authenticated` says whether callers carry a token, which the sources that exchange one need.
pub fn from_config(
    config: &CredentialsConfig,
    region: &str,
    registry: Option<&Url>,
    registry_token: Arc<RegistryToken>,
    authenticated: bool,
) -> anyhow::Result<Arc<dyn CredentialSource>> {
    let exchanges_tokens = match config.source {
        CredentialSourceKind::WebIdentity => Some("web-identity"),
        CredentialSourceKind::QuiltExchange => Some("registry"),
        CredentialSourceKind::None | CredentialSourceKind::Static => None,
    };
    if let (false, Some(source)) = (authenticated, exchanges_tokens) {
        anyhow::bail!(
            "--credentials {source} exchanges each caller's token, so it cannot run with --no-auth"
        );
    }
    let cached = |exchange: Arc<dyn CredentialSource>| -> Arc<dyn CredentialSource> {
        let margin = Duration::from_secs(config.credentials_refresh_margin_secs);
        Arc::new(CachedCredentials::new(
            exchange,
            margin,
            config.credentials_cache_entries,
        ))
    };
    Ok(match config.source {
        CredentialSourceKind::None => none(),
        CredentialSourceKind::Static => Arc::new(StaticKeys::new(AwsCredentials {
            access_key_id: config.static_access_key_id.clone().unwrap_or_default(),
            secret_access_key: config.static_secret_access_key.clone().unwrap_or_default(),
            session_token: config.static_session_token.clone(),
            expiration: None,
        })),
        CredentialSourceKind::WebIdentity => {
            let roles = roles::RoleChoice::new(config.role_arn_claim.clone(), config.role_map.clone())
                .context("--credentials web-identity needs --role-arn-claim or --role-map: which role does a caller assume?")?;
            let endpoint = config.sts_endpoint(region);
            cached(Arc::new(WebIdentity::new(
                &endpoint,
                region,
                roles,
                config.sts_duration_secs,
            )))
        }
        CredentialSourceKind::QuiltExchange => {
            let registry = registry.context(
                "--credentials registry exchanges each caller's token at the Quilt registry: \
                 give its URL with --registry-url (e.g. https://registry.example.com)",
            )?;
            cached(Arc::new(QuiltExchange::new(
                registry,
                registry_token,
                quilt_exchange::EXCHANGE_TIMEOUT,
            )?))
        }
    })
}

/// The source that never has credentials.
pub fn none() -> Arc<dyn CredentialSource> {
    Arc::new(NoCredentials)
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::{CredentialsConfig, RegistryToken, from_config};
    use crate::cli::parse_serve;

    fn credentials_config(flags: &[&str]) -> CredentialsConfig {
        parse_serve(flags).unwrap().credentials
    }

    #[test]
    fn registry_credentials_need_the_registry_url() {
        let config = credentials_config(&["--credentials", "registry"]);
        let Err(error) = from_config(
            &config,
            "us-east-1",
            None,
            RegistryToken::callers_own(),
            true,
        ) else {
            panic!("a registry source without a registry URL was accepted");
        };
        assert!(format!("{error:#}").contains("--registry-url"), "{error:#}");
        let registry = Url::parse("https://registry.example.com").unwrap();
        let source = from_config(
            &config,
            "us-east-1",
            Some(&registry),
            RegistryToken::callers_own(),
            true,
        )
        .unwrap();
        assert_eq!(source.name(), "registry");
    }

    #[test]
    fn exchanging_sources_need_authenticated_callers() {
        let registry = Url::parse("https://registry.example.com").unwrap();
        for (flags, source) in [
            (&["--credentials", "registry"][..], "registry"),
            (
                &[
                    "--credentials",
                    "web-identity",
                    "--role-arn-claim",
                    "role_arn",
                ][..],
                "web-identity",
            ),
        ] {
            let config = credentials_config(flags);
            let Err(error) = from_config(
                &config,
                "us-east-1",
                Some(&registry),
                RegistryToken::callers_own(),
                false,
            ) else {
                panic!("--credentials {source} was accepted with --no-auth");
            };
            let expected = format!("--credentials {source} exchanges each caller's token");
            assert!(format!("{error:#}").contains(&expected), "{error:#}");
        }
        let config = credentials_config(&["--credentials", "none"]);
        assert!(
            from_config(
                &config,
                "us-east-1",
                None,
                RegistryToken::callers_own(),
                false
            )
            .is_ok()
        );
    }
}
