//! `auth_status`: who the server thinks the caller is and what it will use for them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Effect, Entry, Env, ToolError};
use crate::context::credential_error_message;

/// No arguments.
#[derive(Deserialize, JsonSchema)]
pub struct Args {}

#[derive(Serialize, JsonSchema)]
pub struct AuthStatus {
    /// Whether the request carried a validated token.
    authenticated: bool,
    /// The signed-in user, or null when the server runs without authentication.
    caller: Option<CallerInfo>,
    /// The AWS credentials S3 requests are signed with, or why there are none.
    credentials: CredentialsInfo,
    /// AWS region used for signing.
    region: String,
    /// The S3 endpoint requests go to.
    s3_endpoint: String,
    /// The configured AWS credential source: none, static, web-identity or registry.
    credential_source: String,
    /// The web catalog, when configured.
    catalog_url: Option<String>,
    /// The registry API behind the catalog (search, bucket list), when configured.
    registry_url: Option<String>,
    /// Whether your sign-in token is forwarded to the registry, so search and bucket_list
    /// act as you there.
    registry_authorized: bool,
    /// Buckets this server is configured with (used when there is no registry).
    configured_buckets: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct CallerInfo {
    /// The token's subject.
    subject: String,
    /// The token's issuer.
    issuer: String,
}

#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum CredentialsInfo {
    Available {
        /// Which credential source produced them.
        source: String,
        /// Only the last four characters, e.g. "****ABCD".
        access_key_id: String,
        /// Whether they are temporary (carry a session token).
        temporary: bool,
        /// When they expire (RFC 3339), if known.
        expiration: Option<String>,
    },
    Unavailable {
        /// Why no credentials could be had, and what to do.
        error: String,
    },
}

pub fn entry() -> Entry {
    super::entry(
        "auth_status",
        "Authentication status",
        "Shows who the server thinks you are, which credential source and AWS credentials it will use for you (key masked), which S3 endpoint, catalog and registry are in use, and whether your sign-in reaches the registry.",
        Effect::Introspect,
        run,
    )
}

fn run(env: &Env<'_>, _: Args) -> Result<AuthStatus, ToolError> {
    let context = env.context;
    let caller = context.caller();
    let credentials = match context.aws_credentials() {
        Ok(aws) => CredentialsInfo::Available {
            source: aws.source,
            access_key_id: mask(&aws.access_key_id),
            temporary: aws.session_token.is_some_and(|t| !t.is_empty()),
            expiration: aws.expiration.map(rfc3339),
        },
        Err(error) => CredentialsInfo::Unavailable {
            error: credential_error_message(&error).to_owned(),
        },
    };
    let settings = context.settings();
    let access = context.registry_access();
    Ok(AuthStatus {
        authenticated: caller.is_some(),
        caller: caller.map(|c| CallerInfo {
            subject: c.subject,
            issuer: c.issuer,
        }),
        credentials,
        region: settings.region,
        s3_endpoint: settings.s3_endpoint,
        credential_source: settings.credential_source,
        catalog_url: access.catalog_url,
        registry_authorized: access.registry_url.is_some() && access.bearer.is_some(),
        registry_url: access.registry_url,
        configured_buckets: access.buckets,
    })
}

/// Enough of the key to tell two apart, never enough to use it.
fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 4 {
        return "****".to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("****{tail}")
}

fn rfc3339(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(|| seconds.to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::{mask, rfc3339};

    #[test]
    fn masks_all_but_the_last_four_characters() {
        assert_eq!(mask("AKIAIOSFODNN7EXAMPLE"), "****MPLE");
        assert_eq!(mask("ABCD"), "****");
    }

    #[test]
    fn formats_expiry_as_rfc3339() {
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
