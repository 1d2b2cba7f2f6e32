//! `/api/auth/get_credentials`: the caller's own token exchanged at STS
//! (`AssumeRoleWithWebIdentity`) for temporary keys of their Quilt role, as the real registry
//! hands each user their role's credentials.

use std::time::Duration;

use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sts::primitives::DateTimeFormat;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use serde::Serialize;
use url::Url;

use crate::auth::Caller;
use crate::error::ApiError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// STS's bounds on `RoleSessionName`.
const SESSION_NAME_LEN: std::ops::RangeInclusive<usize> = 2..=64;

/// The registry's answer, field names as the real one spells them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// ISO 8601, e.g. `2025-01-01T12:00:00Z`.
    pub expiration: String,
}

pub struct StsExchange {
    client: aws_sdk_sts::Client,
    endpoint: String,
}

impl StsExchange {
    pub fn new(endpoint: &Url, region: &str) -> Self {
        let endpoint = endpoint.as_str().trim_end_matches('/').to_owned();
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&endpoint)
            .http_client(http_client)
            // A test waiting on a dead STS should fail in seconds, not after retries.
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .build();
        Self {
            client: aws_sdk_sts::Client::from_conf(config),
            endpoint,
        }
    }

    pub async fn exchange(
        &self,
        caller: &Caller,
        role_arn: &str,
    ) -> Result<TemporaryCredentials, ApiError> {
        let endpoint = &self.endpoint;
        let subject = &caller.subject;
        let answer = self
            .client
            .assume_role_with_web_identity()
            .role_arn(role_arn)
            .role_session_name(session_name(subject))
            .web_identity_token(&caller.token)
            .send()
            .await;
        let output = answer.map_err(|error| match error {
            SdkError::ServiceError(failure) => {
                let error = failure.err();
                ApiError::Forbidden(format!(
                    "STS at {endpoint} refused role {role_arn} for {subject}: {} ({})",
                    error.code().unwrap_or("an unnamed error"),
                    error.message().unwrap_or("no message"),
                ))
            }
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => ApiError::BadGateway(
                format!("STS at {endpoint} is unreachable; check that it is running"),
            ),
            other => ApiError::BadGateway(format!(
                "STS at {endpoint} gave an answer that is not an STS response: {}",
                DisplayErrorContext(&other)
            )),
        })?;
        let keys = output.credentials.ok_or_else(|| {
            ApiError::BadGateway(format!("STS at {endpoint} answered without credentials"))
        })?;
        let expiration = keys.expiration.fmt(DateTimeFormat::DateTime).map_err(|e| {
            ApiError::BadGateway(format!("STS at {endpoint} gave an unusable expiry: {e}"))
        })?;
        Ok(TemporaryCredentials {
            access_key_id: keys.access_key_id,
            secret_access_key: keys.secret_access_key,
            session_token: keys.session_token,
            expiration,
        })
    }
}

/// `sub` made acceptable as a session name: STS allows `[\w+=,.@-]`, 2 to 64 of them.
fn session_name(subject: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    let mut name: String = subject
        .chars()
        .map(|c| if allowed(c) { c } else { '-' })
        .take(*SESSION_NAME_LEN.end())
        .collect();
    while name.len() < *SESSION_NAME_LEN.start() {
        name.push('-');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::session_name;

    #[test]
    fn session_names_keep_allowed_characters_only() {
        assert_eq!(session_name("alice@example.com"), "alice@example.com");
        assert_eq!(session_name("auth0|abc def/ü"), "auth0-abc-def--");
        assert_eq!(session_name("a"), "a-");
        assert_eq!(session_name(&"x".repeat(100)).len(), 64);
    }
}
