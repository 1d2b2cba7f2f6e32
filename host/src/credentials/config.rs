//! Where each request's AWS credentials come from: the `serve` flags of `credentials`.

use std::num::NonZeroUsize;
use std::str::FromStr;

use clap::{Args, ValueEnum};
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CredentialSourceKind {
    /// No AWS credentials: S3 tools answer that none are configured.
    None,
    /// One fixed key pair for every caller (single user or development).
    Static,
    /// Each caller's own token exchanged at STS (AssumeRoleWithWebIdentity) for a role's
    /// temporary keys; the role comes from --role-arn-claim or --role-map.
    WebIdentity,
    /// Each caller's own token exchanged at the Quilt registry (--registry-url,
    /// /api/auth/get_credentials) for the temporary keys of their Quilt role.
    #[value(name = "registry")]
    QuiltExchange,
}

/// Where each request's AWS credentials come from. Never from AWS_* variables or ~/.aws.
#[derive(Debug, Clone, Args)]
pub struct CredentialsConfig {
    #[arg(long = "credentials", env = "QUILT_MCP_CREDENTIALS", value_enum,
          default_value_t = CredentialSourceKind::None)]
    pub source: CredentialSourceKind,

    /// Access key id for `--credentials static`.
    #[arg(
        long,
        env = "QUILT_MCP_STATIC_ACCESS_KEY_ID",
        required_if_eq("source", "static")
    )]
    pub static_access_key_id: Option<String>,

    /// Secret access key for `--credentials static`.
    #[arg(
        long,
        env = "QUILT_MCP_STATIC_SECRET_ACCESS_KEY",
        hide_env_values = true,
        required_if_eq("source", "static")
    )]
    pub static_secret_access_key: Option<String>,

    /// Session token for `--credentials static` (temporary keys).
    #[arg(long, env = "QUILT_MCP_STATIC_SESSION_TOKEN", hide_env_values = true)]
    pub static_session_token: Option<String>,

    /// For `--credentials web-identity`: the token claim holding the ARN of the role to assume
    /// (e.g. role_arn). STS still checks the role's trust policy.
    #[arg(long, env = "QUILT_MCP_ROLE_ARN_CLAIM")]
    pub role_arn_claim: Option<String>,

    /// For `--credentials web-identity`: CLAIM=VALUE=ARN assumes role ARN for callers whose CLAIM
    /// is VALUE or, for a list claim such as groups, contains it. Repeatable (`;` separates them in
    /// the environment); the first match wins. Used when the --role-arn-claim claim is absent.
    #[arg(long = "role-map", env = "QUILT_MCP_ROLE_MAP", value_delimiter = ';')]
    pub role_map: Vec<RoleMapping>,

    /// STS endpoint for `--credentials web-identity` (default: https://sts.<region>.amazonaws.com).
    #[arg(long, env = "QUILT_MCP_STS_ENDPOINT")]
    pub sts_endpoint: Option<Url>,

    /// Lifetime requested for STS session credentials, in seconds (the role's maximum applies).
    #[arg(long, env = "QUILT_MCP_STS_DURATION_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(i32).range(900..=43_200))]
    pub sts_duration_secs: i32,

    /// Exchanged credentials are reused for the same token until this many seconds before they
    /// expire, so no tool starts with keys about to lapse.
    #[arg(
        long,
        env = "QUILT_MCP_CREDENTIALS_REFRESH_MARGIN_SECS",
        default_value_t = 300
    )]
    pub credentials_refresh_margin_secs: u64,

    /// Tokens whose exchanged credentials are kept at once; past it the oldest are dropped.
    #[arg(
        long,
        env = "QUILT_MCP_CREDENTIALS_CACHE_ENTRIES",
        default_value = "10000"
    )]
    pub credentials_cache_entries: NonZeroUsize,

    /// Exchange each caller's token for one issued for the registry (RFC 8693 token exchange)
    /// at this token endpoint of the identity provider, instead of sending the caller's own
    /// token to the registry. For external authorization servers (not the sign-in bridge).
    #[arg(long, env = "QUILT_MCP_REGISTRY_TOKEN_EXCHANGE_URL")]
    pub registry_token_exchange_url: Option<Url>,

    /// This server's client id at the identity provider, for the token exchange.
    #[arg(long, env = "QUILT_MCP_REGISTRY_TOKEN_EXCHANGE_CLIENT_ID")]
    pub registry_token_exchange_client_id: Option<String>,

    /// This server's client secret at the identity provider, for the token exchange.
    #[arg(
        long,
        env = "QUILT_MCP_REGISTRY_TOKEN_EXCHANGE_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub registry_token_exchange_client_secret: Option<String>,

    /// The `audience` asked for in the token exchange: the registry's, as its tokens carry it.
    #[arg(long, env = "QUILT_MCP_REGISTRY_TOKEN_EXCHANGE_AUDIENCE")]
    pub registry_token_exchange_audience: Option<String>,
}

/// One `--role-map` entry: callers whose `claim` has `value` assume `role_arn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMapping {
    pub claim: String,
    pub value: String,
    pub role_arn: String,
}

impl FromStr for RoleMapping {
    type Err = String;

    /// `CLAIM=VALUE=ARN`; the ARN is everything after the second `=` (role names may hold `=`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.splitn(3, '=');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(claim), Some(value), Some(role_arn))
                if !claim.is_empty() && role_arn.starts_with("arn:") =>
            {
                Ok(Self {
                    claim: claim.into(),
                    value: value.into(),
                    role_arn: role_arn.into(),
                })
            }
            _ => Err(format!(
                "{text:?} is not CLAIM=VALUE=ARN (e.g. groups=analysts=arn:aws:iam::123456789012:role/Analyst)"
            )),
        }
    }
}

impl CredentialsConfig {
    pub fn sts_endpoint(&self, region: &str) -> Url {
        self.sts_endpoint.clone().unwrap_or_else(|| {
            Url::parse(&format!("https://sts.{region}.amazonaws.com"))
                .expect("a region name forms a valid URL")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{CredentialSourceKind, RoleMapping};
    use crate::cli::parse_serve;

    #[test]
    fn role_mapping_keeps_equals_signs_in_the_arn() {
        let mapping: RoleMapping = "groups=analysts=arn:aws:iam::1:role/a=b".parse().unwrap();
        assert_eq!(mapping.claim, "groups");
        assert_eq!(mapping.value, "analysts");
        assert_eq!(mapping.role_arn, "arn:aws:iam::1:role/a=b");
    }

    #[test]
    fn role_mapping_needs_a_claim_and_an_arn() {
        assert!("groups=analysts".parse::<RoleMapping>().is_err());
        assert!(
            "=analysts=arn:aws:iam::1:role/a"
                .parse::<RoleMapping>()
                .is_err()
        );
        assert!("groups=analysts=Analyst".parse::<RoleMapping>().is_err());
    }

    #[test]
    fn registry_is_a_credential_source() {
        let config = parse_serve(&["--credentials", "registry"]).unwrap();
        assert_eq!(
            config.credentials.source,
            CredentialSourceKind::QuiltExchange
        );
    }
}
