//! Where a request's AWS credentials come from.
//!
//! A [`CredentialSource`] turns a validated caller into credentials. The guest asks for them
//! through `request-context.get-aws-credentials` only when a tool needs S3, so a source that does a
//! network exchange (STS, the Quilt registry) costs nothing for requests that never touch AWS.
//! No source ever reads `~/.aws`, `~/.quilt` or the process's `AWS_*` variables.

mod static_keys;

use std::sync::Arc;

pub use static_keys::StaticKeys;

use crate::auth::Caller;
use crate::config::{CredentialSourceKind, CredentialsConfig};

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

    /// Credentials for this caller (`None` only under `--no-auth`).
    async fn credentials(&self, caller: Option<&Caller>) -> Result<AwsCredentials, CredentialError>;
}

/// The source for deployments that configure none: every S3 tool explains how to get one.
struct NoCredentials;

#[async_trait::async_trait]
impl CredentialSource for NoCredentials {
    fn name(&self) -> &'static str {
        "none"
    }

    async fn credentials(&self, _: Option<&Caller>) -> Result<AwsCredentials, CredentialError> {
        Err(CredentialError::NotConfigured(
            "This server has no AWS credential source configured, so S3 tools cannot run. \
             Ask its operator to start it with --credentials."
                .into(),
        ))
    }
}

pub fn from_config(config: &CredentialsConfig) -> Arc<dyn CredentialSource> {
    match config.source {
        CredentialSourceKind::None => none(),
        CredentialSourceKind::Static => Arc::new(StaticKeys::new(AwsCredentials {
            access_key_id: config.static_access_key_id.clone().unwrap_or_default(),
            secret_access_key: config.static_secret_access_key.clone().unwrap_or_default(),
            session_token: config.static_session_token.clone(),
            expiration: None,
        })),
    }
}

/// The source that never has credentials.
pub fn none() -> Arc<dyn CredentialSource> {
    Arc::new(NoCredentials)
}
