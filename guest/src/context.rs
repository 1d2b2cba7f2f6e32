//! What the host derived for this request, behind a trait so the MCP and tool logic
//! can be exercised natively with a fake.
//!
//! The host side of `quilt:mcp/request-context` (`wit/world.wit`) is
//! `host/src/sandbox/request_scope.rs`: it answers these calls for the one request this
//! instance serves, deriving AWS credentials only when [`Context::aws_credentials`] is
//! first called.

#[cfg(target_arch = "wasm32")]
use crate::bindings::quilt::mcp::request_context as host;
pub use crate::bindings::quilt::mcp::request_context::{
    AwsCredentials, Caller, CredentialError, Grant, RegistryAccess, Settings, SqlSettings,
};

pub trait Context {
    fn caller(&self) -> Option<Caller>;
    fn aws_credentials(&self) -> Result<AwsCredentials, CredentialError>;
    fn registry_access(&self) -> RegistryAccess;
    fn settings(&self) -> Settings;
    fn grant(&self) -> Grant;
}

/// The request context as the host hands it over.
#[cfg(target_arch = "wasm32")]
pub struct HostContext;

#[cfg(target_arch = "wasm32")]
impl Context for HostContext {
    fn caller(&self) -> Option<Caller> {
        host::get_caller()
    }

    fn aws_credentials(&self) -> Result<AwsCredentials, CredentialError> {
        host::get_aws_credentials()
    }

    fn registry_access(&self) -> RegistryAccess {
        host::get_registry_access()
    }

    fn settings(&self) -> Settings {
        host::get_settings()
    }

    fn grant(&self) -> Grant {
        host::get_grant()
    }
}

/// The host already words each message for the person using the assistant.
pub fn credential_error_message(error: &CredentialError) -> &str {
    match error {
        CredentialError::NotConfigured(message)
        | CredentialError::Denied(message)
        | CredentialError::Unavailable(message) => message,
    }
}
