//! `--credentials web-identity`: each caller's own validated JWT is exchanged at STS
//! (`AssumeRoleWithWebIdentity`) for temporary keys of the role chosen for them, so every
//! request acts with exactly what that role grants that person.
//!
//! The call is unsigned (the token is the proof), made with the official `aws-sdk-sts` over a
//! ring-based rustls client. Wrap this source in [`super::CachedCredentials`]: on its own it
//! would call STS once per request.

use std::time::Duration;

use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role_with_web_identity::{
    AssumeRoleWithWebIdentityError, AssumeRoleWithWebIdentityOutput,
};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use url::Url;

use super::roles::RoleChoice;
use super::{AwsCredentials, CredentialError, CredentialSource, token_holder};
use crate::access::SessionPolicy;
use crate::auth::Caller;

/// A user waits on this exchange: fail fast rather than hold the request to its deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// One retry absorbs a dropped connection; more would only delay the error a user sees.
const MAX_ATTEMPTS: u32 = 2;
/// STS's limit on `RoleSessionName`.
const SESSION_NAME_MAX: usize = 64;

pub struct WebIdentity {
    client: aws_sdk_sts::Client,
    endpoint: String,
    /// The region's ARN partition, for the session policies' resources.
    partition: &'static str,
    roles: RoleChoice,
    duration_secs: i32,
}

impl WebIdentity {
    pub fn new(endpoint: &Url, region: &str, roles: RoleChoice, duration_secs: i32) -> Self {
        let endpoint = endpoint.as_str().trim_end_matches('/').to_owned();
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&endpoint)
            .http_client(http_client)
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
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
            partition: crate::access::partition(region),
            roles,
            duration_secs,
        }
    }

    fn keys_from(
        &self,
        output: AssumeRoleWithWebIdentityOutput,
    ) -> Result<AwsCredentials, CredentialError> {
        let keys = output.credentials.ok_or_else(|| {
            CredentialError::Unavailable(format!(
                "STS at {} answered without credentials",
                self.endpoint
            ))
        })?;
        let credentials = AwsCredentials {
            access_key_id: keys.access_key_id,
            secret_access_key: keys.secret_access_key,
            session_token: Some(keys.session_token),
            expiration: u64::try_from(keys.expiration.secs()).ok(),
        };
        match missing_part(&credentials) {
            Some(part) => Err(CredentialError::Unavailable(format!(
                "STS at {} answered with incomplete credentials (no {part}); try again",
                self.endpoint
            ))),
            None => Ok(credentials),
        }
    }

    fn refusal(
        &self,
        role: &str,
        subject: &str,
        error: SdkError<AssumeRoleWithWebIdentityError>,
    ) -> CredentialError {
        let endpoint = &self.endpoint;
        match error {
            SdkError::ServiceError(failure) => {
                let status = failure.raw().status().as_u16();
                let error = failure.err();
                let code = error.code().unwrap_or("an unnamed error");
                let detail = error
                    .message()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default();
                if (400..500).contains(&status) {
                    CredentialError::Denied(format!(
                        "STS at {endpoint} refused role {role} for {subject}: {code}{detail}"
                    ))
                } else {
                    CredentialError::Unavailable(format!(
                        "STS at {endpoint} failed (HTTP {status}, {code}{detail}); try again later"
                    ))
                }
            }
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                CredentialError::Unavailable(format!(
                    "STS at {endpoint} is unreachable, so no AWS credentials can be issued; try again later \
                 or ask the operator to check the STS endpoint"
                ))
            }
            other => CredentialError::Unavailable(format!(
                "STS at {endpoint} gave an answer that is not an STS response: {}",
                aws_sdk_sts::error::DisplayErrorContext(&other)
            )),
        }
    }
}

#[async_trait::async_trait]
impl CredentialSource for WebIdentity {
    fn name(&self) -> &'static str {
        "web-identity"
    }

    /// STS intersects the role's policies with the session policy, so S3 itself refuses
    /// what the request may not do, presigned URLs included.
    fn enforces_session_policies(&self) -> bool {
        true
    }

    async fn credentials(
        &self,
        caller: Option<&Caller>,
        policy: &SessionPolicy,
    ) -> Result<AwsCredentials, CredentialError> {
        let caller = token_holder(caller, self.name())?;
        let subject = &caller.subject;
        let role = self.roles.role_for(&caller.token).map_err(|why| {
            CredentialError::Denied(format!("No AWS role is configured for {subject}: {why}"))
        })?;
        let answer = self
            .client
            .assume_role_with_web_identity()
            .role_arn(&role)
            .role_session_name(session_name(subject))
            .web_identity_token(caller.web_identity_token())
            .duration_seconds(self.duration_secs)
            .policy(policy.document(self.partition))
            .send()
            .await;
        match answer {
            Ok(output) => {
                let keys = self.keys_from(output)?;
                tracing::info!(target: "quilt_mcp::credentials", subject, role, expiration = keys.expiration, "assumed role with web identity");
                Ok(keys)
            }
            Err(error) => {
                let error = self.refusal(&role, subject, error);
                tracing::warn!(target: "quilt_mcp::credentials", subject, role, %error, "web identity exchange failed");
                Err(error)
            }
        }
    }
}

/// `sub` as STS accepts it: `[\w+=,.@-]{2,64}`; other characters become `-`.
fn session_name(subject: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    let mut name: String = subject
        .chars()
        .map(|c| if allowed(c) { c } else { '-' })
        .take(SESSION_NAME_MAX)
        .collect();
    while name.len() < 2 {
        name.push('-');
    }
    name
}

/// What an answer lacks that every real one has. The SDK fills required fields a response
/// left out with empty strings and the epoch (its "error correction"), so an answer cut short
/// parses as keys S3 then refuses, cached for the token as if good.
fn missing_part(credentials: &AwsCredentials) -> Option<&'static str> {
    let empty = |value: &str| value.trim().is_empty();
    if empty(&credentials.access_key_id) {
        Some("access key id")
    } else if empty(&credentials.secret_access_key) {
        Some("secret access key")
    } else if credentials.session_token.as_deref().is_none_or(empty) {
        Some("session token")
    } else if credentials.expiration.is_none_or(|at| at == 0) {
        Some("expiration")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{AwsCredentials, SESSION_NAME_MAX, missing_part, session_name};

    #[test]
    fn credentials_an_answer_cut_short_left_empty_are_refused() {
        let whole = AwsCredentials {
            access_key_id: "ASIA1".into(),
            secret_access_key: "secret".into(),
            session_token: Some("token".into()),
            expiration: Some(1_900_000_000),
        };
        assert_eq!(missing_part(&whole), None);
        let cut = |change: fn(&mut AwsCredentials)| {
            let mut keys = whole.clone();
            change(&mut keys);
            missing_part(&keys)
        };
        assert_eq!(cut(|k| k.access_key_id.clear()), Some("access key id"));
        assert_eq!(
            cut(|k| k.secret_access_key = " ".into()),
            Some("secret access key")
        );
        assert_eq!(
            cut(|k| k.session_token = Some(String::new())),
            Some("session token")
        );
        assert_eq!(cut(|k| k.expiration = Some(0)), Some("expiration"));
    }

    #[test]
    fn session_names_keep_allowed_characters_and_replace_others() {
        assert_eq!(session_name("alice@example.com"), "alice@example.com");
        assert_eq!(session_name("auth0|5f1 b/é"), "auth0-5f1-b--");
        assert_eq!(session_name("a+b=c,d_e"), "a+b=c,d_e");
    }

    #[test]
    fn session_names_fit_sts_length_limits() {
        assert_eq!(session_name(&"x".repeat(100)).len(), SESSION_NAME_MAX);
        assert_eq!(
            session_name("é".repeat(100).as_str()).len(),
            SESSION_NAME_MAX
        );
        assert_eq!(session_name(""), "--");
        assert_eq!(session_name("a"), "a-");
    }
}
