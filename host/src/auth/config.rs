//! How bearer tokens are validated: the `serve` flags of `auth`.

use std::path::PathBuf;

use clap::Args;
use url::Url;

use super::jwks;

/// How bearer tokens are validated. Exactly one key source is required unless `--no-auth`.
#[derive(Debug, Clone, Args)]
pub struct AuthConfig {
    /// Shared HS256 secret to verify tokens with.
    #[arg(long, env = "QUILT_MCP_JWT_HS256_SECRET", hide_env_values = true,
          conflicts_with_all = ["jwt_public_key", "jwks_url"])]
    pub jwt_hs256_secret: Option<String>,

    /// PEM public key (RSA, EC P-256 or Ed25519) to verify tokens with.
    #[arg(long, env = "QUILT_MCP_JWT_PUBLIC_KEY", conflicts_with = "jwks_url")]
    pub jwt_public_key: Option<PathBuf>,

    /// JWKS URL of the identity provider. Keys are cached for --jwks-max-age-secs (or the
    /// provider's shorter Cache-Control max-age) and refetched (rate-limited) when a token
    /// names an unknown `kid`.
    #[arg(long, env = "QUILT_MCP_JWKS_URL")]
    pub jwks_url: Option<Url>,

    /// Least time between two JWKS fetches caused by unknown `kid`s, so forged `kid`s cannot
    /// make this server hammer the identity provider.
    #[arg(long, env = "QUILT_MCP_JWKS_MIN_REFETCH_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub jwks_min_refetch_secs: u64,

    /// Longest time a fetched JWKS is trusted before it is fetched again, so a key the identity
    /// provider withdrew stops being honoured; a shorter `Cache-Control: max-age` wins.
    #[arg(long, env = "QUILT_MCP_JWKS_MAX_AGE_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=jwks::MAX_AGE_LIMIT_SECS))]
    pub jwks_max_age_secs: u64,

    /// Accepted signature algorithms (comma list). The token's header never chooses: a token
    /// signed with anything else is rejected. Default: HS256 with a secret, RS256 otherwise.
    #[arg(long, env = "QUILT_MCP_JWT_ALGORITHMS", value_delimiter = ',')]
    pub jwt_algorithms: Vec<jsonwebtoken::Algorithm>,

    /// Required `iss` of accepted tokens.
    #[arg(long, env = "QUILT_MCP_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Accepted `aud` values (repeatable). Default: <public-url>/mcp.
    #[arg(long, env = "QUILT_MCP_JWT_AUDIENCE", value_delimiter = ',')]
    pub jwt_audience: Vec<String>,

    /// Authorization server advertised in the protected-resource metadata, as its issuer URL.
    /// Default: the JWT issuer, when that is an http(s) URL.
    #[arg(long, env = "QUILT_MCP_AUTHORIZATION_SERVER", value_parser = http_url)]
    pub authorization_server: Option<String>,

    /// Clock skew tolerated for `exp` and `nbf`, in seconds.
    #[arg(long, env = "QUILT_MCP_JWT_LEEWAY_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub jwt_leeway_secs: u64,

    /// Claims passed on to the tools (besides `sub` and `iss`), e.g. email,groups.
    #[arg(
        long,
        env = "QUILT_MCP_FORWARD_CLAIMS",
        value_delimiter = ',',
        default_value = "email,name,groups"
    )]
    pub forward_claims: Vec<String>,

    /// DEVELOPMENT ONLY: accept requests without any token. Every request runs as nobody.
    #[arg(long, env = "QUILT_MCP_NO_AUTH", default_value_t = false)]
    pub no_auth: bool,
}

impl AuthConfig {
    /// RFC 9728 metadata names authorization servers by their issuer URL, and clients
    /// (mcp-remote, for one) fail on anything else. A JWT issuer need not be a URL, so the
    /// default is dropped, with a warning, when it is not one; an explicit
    /// `--authorization-server` must be one.
    pub fn advertised_authorization_server(&self) -> Option<String> {
        if let Some(explicit) = &self.authorization_server {
            return Some(explicit.clone());
        }
        let issuer = self.jwt_issuer.clone()?;
        if http_url(&issuer).is_ok() {
            return Some(issuer);
        }
        tracing::warn!(
            issuer,
            "the JWT issuer is not an http(s) URL, so the protected-resource metadata names no \
             authorization server; set --authorization-server to the identity provider's issuer URL"
        );
        None
    }
}

/// An absolute http(s) URL, kept as written (a parsed `Url` would add a trailing `/`, and
/// issuer identifiers are compared as exact strings).
fn http_url(text: &str) -> Result<String, String> {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "https" | "http") => Ok(text.to_owned()),
        _ => Err(format!(
            "{text:?} is not an http(s) URL (e.g. https://idp.example.com)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::parse_serve;

    #[test]
    fn the_authorization_server_must_be_an_issuer_url_kept_as_written() {
        let config = parse_serve(&["--authorization-server", "https://idp.example.com"]).unwrap();
        assert_eq!(
            config.auth.authorization_server.as_deref(),
            Some("https://idp.example.com")
        );
        let refused = parse_serve(&["--authorization-server", "idp"]).unwrap_err();
        assert!(
            refused.to_string().contains("not an http(s) URL"),
            "{refused}"
        );
    }

    #[test]
    fn a_non_url_issuer_is_not_advertised() {
        let config = parse_serve(&["--jwt-issuer", "issuer-name"]).unwrap();
        assert_eq!(config.auth.advertised_authorization_server(), None);
        let config = parse_serve(&["--jwt-issuer", "https://idp.example.com"]).unwrap();
        assert_eq!(
            config.auth.advertised_authorization_server().as_deref(),
            Some("https://idp.example.com")
        );
    }
}
