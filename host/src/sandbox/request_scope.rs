//! The host side of `quilt:mcp/request-context`: what one request's guest may learn.
//!
//! Everything here belongs to a single request. Credentials are derived on first use and
//! remembered only for the rest of this request, in this request's store.

use std::sync::Arc;

use super::bindings::request_context as wit;
use crate::auth::Caller;
use crate::credentials::{CredentialError, CredentialSource};

/// Deployment-wide facts shared by every request (read-only).
pub struct Deployment {
    pub credentials: Arc<dyn CredentialSource>,
    pub region: String,
    pub s3_endpoint: String,
    pub path_style: bool,
    pub max_manifest_bytes: u64,
    pub max_manifest_entries: u32,
    pub catalog_url: Option<String>,
    pub registry_url: Option<String>,
}

pub struct RequestScope {
    deployment: Arc<Deployment>,
    caller: Option<Caller>,
    derived: Option<Result<wit::AwsCredentials, wit::CredentialError>>,
}

impl RequestScope {
    pub fn new(deployment: Arc<Deployment>, caller: Option<Caller>) -> Self {
        Self {
            deployment,
            caller,
            derived: None,
        }
    }
}

impl wit::Host for RequestScope {
    fn get_caller(&mut self) -> Option<wit::Caller> {
        self.caller.as_ref().map(|caller| wit::Caller {
            subject: caller.subject.clone(),
            issuer: caller.issuer.clone(),
            claims: caller.claims.clone(),
        })
    }

    async fn get_aws_credentials(&mut self) -> Result<wit::AwsCredentials, wit::CredentialError> {
        if let Some(derived) = &self.derived {
            return derived.clone();
        }
        let source = &self.deployment.credentials;
        let derived = match source.credentials(self.caller.as_ref()).await {
            Ok(keys) => Ok(wit::AwsCredentials {
                access_key_id: keys.access_key_id,
                secret_access_key: keys.secret_access_key,
                session_token: keys.session_token,
                expiration: keys.expiration,
                source: source.name().to_owned(),
            }),
            Err(CredentialError::NotConfigured(why)) => {
                Err(wit::CredentialError::NotConfigured(why))
            }
            Err(CredentialError::Denied(why)) => Err(wit::CredentialError::Denied(why)),
            Err(CredentialError::Unavailable(why)) => Err(wit::CredentialError::Unavailable(why)),
        };
        self.derived = Some(derived.clone());
        derived
    }

    fn get_catalog(&mut self) -> wit::CatalogAccess {
        wit::CatalogAccess {
            catalog_url: self.deployment.catalog_url.clone(),
            registry_url: self.deployment.registry_url.clone(),
            // Forwarding the caller's token to the registry arrives with the registry issue;
            // until then the guest gets no bearer at all.
            bearer: None,
        }
    }

    fn get_settings(&mut self) -> wit::Settings {
        wit::Settings {
            region: self.deployment.region.clone(),
            s3_endpoint: self.deployment.s3_endpoint.clone(),
            path_style: self.deployment.path_style,
            max_manifest_bytes: self.deployment.max_manifest_bytes,
            max_manifest_entries: self.deployment.max_manifest_entries,
        }
    }
}
