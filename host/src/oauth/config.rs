//! The sign-in bridge's `serve` flags. The bridge is off unless `--oauth-upstream-issuer` is
//! given; with it on, this server is the authorization server its MCP clients sign in with.

use std::time::Duration;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct OAuthConfig {
    /// Turns the sign-in bridge on: the organization's OpenID Connect provider (its issuer URL,
    /// e.g. https://company.okta.com) that users sign in with. This server then is the OAuth
    /// 2.1 authorization server its MCP clients find in the protected-resource metadata, and it
    /// verifies only the access tokens it issued itself (see the README, "Sign-in").
    #[arg(long, env = "QUILT_MCP_OAUTH_UPSTREAM_ISSUER", value_parser = issuer_url,
          requires_all = ["oauth_upstream_client_id", "oauth_upstream_client_secret"])]
    pub oauth_upstream_issuer: Option<String>,

    /// This server's client id at the upstream provider (a confidential web client whose
    /// redirect URI is <public-url>/oauth/callback).
    #[arg(long, env = "QUILT_MCP_OAUTH_UPSTREAM_CLIENT_ID")]
    pub oauth_upstream_client_id: Option<String>,

    /// This server's client secret at the upstream provider.
    #[arg(
        long,
        env = "QUILT_MCP_OAUTH_UPSTREAM_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub oauth_upstream_client_secret: Option<String>,

    /// Scopes asked of the upstream provider (space-separated). `openid` is required (its ID
    /// token is what STS trusts); `offline_access` gets the refresh token that lets clients
    /// refresh without signing in again.
    #[arg(
        long,
        env = "QUILT_MCP_OAUTH_UPSTREAM_SCOPES",
        default_value = "openid email profile offline_access"
    )]
    pub oauth_upstream_scopes: String,

    /// The `resource` (RFC 8707) asked of the upstream provider, so that its access token is
    /// issued for the Quilt registry (the registry's bearer). Leave unset for providers that
    /// choose the audience by scope or by configuration (Okta, Entra ID).
    #[arg(long, env = "QUILT_MCP_OAUTH_UPSTREAM_RESOURCE")]
    pub oauth_upstream_resource: Option<String>,

    /// The bridge's secret keys (comma list or repeated flag), each the base64 of at least 32
    /// random bytes (`openssl rand -base64 32`). The first signs access tokens and seals codes,
    /// refresh tokens and registrations; the others are still accepted, so a key is rotated by
    /// putting a new one first and removing the old one after the refresh-token lifetime.
    /// Every replica must have the same keys.
    #[arg(
        long = "oauth-key",
        env = "QUILT_MCP_OAUTH_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub oauth_keys: Vec<String>,

    /// Lifetime of the access tokens the bridge issues (never past the upstream ID token's).
    #[arg(long, env = "QUILT_MCP_OAUTH_ACCESS_TOKEN_SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(5..=86_400))]
    pub oauth_access_token_secs: u64,

    /// Lifetime of the refresh tokens the bridge issues (the upstream's refresh token may end
    /// sooner, which ends this one too).
    #[arg(long, env = "QUILT_MCP_OAUTH_REFRESH_TOKEN_SECS", default_value_t = 30 * 86_400,
          value_parser = clap::value_parser!(u64).range(60..=365 * 86_400))]
    pub oauth_refresh_token_secs: u64,

    /// DEVELOPMENT ONLY: accept Client ID Metadata Documents served over http from loopback
    /// (http://127.0.0.1:PORT/client.json), which are refused otherwise as server-side request
    /// forgery.
    #[arg(
        long,
        env = "QUILT_MCP_OAUTH_ALLOW_LOOPBACK_CLIENTS",
        default_value_t = false
    )]
    pub oauth_allow_loopback_clients: bool,
}

impl OAuthConfig {
    pub fn enabled(&self) -> bool {
        self.oauth_upstream_issuer.is_some()
    }

    pub fn access_token_lifetime(&self) -> Duration {
        Duration::from_secs(self.oauth_access_token_secs)
    }

    pub fn refresh_token_lifetime(&self) -> Duration {
        Duration::from_secs(self.oauth_refresh_token_secs)
    }
}

/// An https issuer URL kept as written (issuers are compared as exact strings); http only on
/// loopback, since the client secret and the users' tokens travel to it.
fn issuer_url(text: &str) -> Result<String, String> {
    let loopback = |url: &url::Url| match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url::Url::parse(text) {
        Ok(url)
            if (url.scheme() == "https" || (url.scheme() == "http" && loopback(&url)))
                && url.query().is_none() =>
        {
            Ok(text.to_owned())
        }
        _ => Err(format!(
            "{text:?} is not an https issuer URL (e.g. https://company.okta.com; http only on loopback)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::parse_serve;

    #[test]
    fn the_bridge_needs_its_client_at_the_upstream() {
        let refused = parse_serve(&["--oauth-upstream-issuer", "https://idp.example.com"])
            .unwrap_err()
            .to_string();
        assert!(refused.contains("--oauth-upstream-client-id"), "{refused}");
        let config = parse_serve(&[
            "--oauth-upstream-issuer",
            "https://idp.example.com",
            "--oauth-upstream-client-id",
            "quilt-mcp",
            "--oauth-upstream-client-secret",
            "s3cret",
        ])
        .unwrap();
        assert!(config.oauth.enabled());
        assert!(!parse_serve(&[]).unwrap().oauth.enabled());
        let plain =
            parse_serve(&["--oauth-upstream-issuer", "http://idp.example.com"]).unwrap_err();
        assert!(
            plain.to_string().contains("http only on loopback"),
            "{plain}"
        );
    }
}
