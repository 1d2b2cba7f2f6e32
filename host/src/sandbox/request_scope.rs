//! The host side of `quilt:mcp/request-context`: what one request's guest may learn.
//!
//! Everything here belongs to a single request. Credentials are derived on first use and
//! remembered only for the rest of this request, in this request's store.

use std::sync::Arc;

use super::bindings::request_context as wit;
use super::deployment::Deployment;
use crate::access::{Grant, ResultsAccess, SqlAccess};
use crate::audit::{Namer, Touched};
use crate::auth::Caller;
use crate::credentials::CredentialError;

pub struct RequestScope {
    deployment: Arc<Deployment>,
    caller: Option<Caller>,
    grant: Grant,
    derived: Option<Result<wit::AwsCredentials, wit::CredentialError>>,
    /// What this request's guest reaches, recorded at the egress hook for its audit event.
    touched: Arc<Touched>,
}

impl RequestScope {
    pub fn new(deployment: Arc<Deployment>, caller: Option<Caller>, grant: Grant) -> Self {
        let touched = Arc::new(Touched::new(Namer {
            s3_endpoint: deployment.s3_endpoint.clone(),
            path_style: deployment.path_style,
        }));
        Self {
            deployment,
            caller,
            grant,
            derived: None,
            touched,
        }
    }

    pub fn touched(&self) -> Arc<Touched> {
        self.touched.clone()
    }
}

impl RequestScope {
    fn sql_access(&self) -> SqlAccess {
        let caller = self.caller.as_ref();
        let who = caller.map(|caller| (caller.issuer.as_str(), caller.subject.as_str()));
        self.deployment.sql.access(who, self.sql_writes())
    }

    /// Statements other than queries: the token's write scope and the deployment's leave.
    fn sql_writes(&self) -> bool {
        self.grant.may_write() && self.deployment.sql.allow_writes
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
        let mut policy = self.grant.session_policy();
        if self.grant.uses_athena() {
            policy = policy.with_sql(self.sql_access());
        }
        if policy.allows_nothing() {
            // No tool this request may call touches S3, so neither may anything else.
            return Err(wit::CredentialError::Denied(
                "This connection and token allow no tool that uses S3, so no AWS credentials are issued for it"
                    .into(),
            ));
        }
        let derived = match source.credentials(self.caller.as_ref(), &policy).await {
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

    async fn get_registry_access(&mut self) -> wit::RegistryAccess {
        let deployment = &self.deployment;
        // Only with a registry to send it to (the egress hook lets it go nowhere else), and only
        // to a request that may call a tool that needs it.
        let forwards = deployment.forward_registry_token
            && deployment.registry_url.is_some()
            && self.grant.uses_registry();
        let bearer = match self.caller.as_ref().filter(|_| forwards) {
            None => None,
            // A failed exchange leaves the tools without a bearer; they say so.
            Some(caller) => deployment
                .registry_token
                .for_caller(caller)
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(target: "quilt_mcp::credentials", %error, "no registry token for this caller");
                    None
                }),
        };
        wit::RegistryAccess {
            catalog_url: deployment.catalog_url.clone(),
            registry_url: deployment.registry_url.clone(),
            bearer,
            buckets: deployment.buckets.clone(),
        }
    }

    fn get_settings(&mut self) -> wit::Settings {
        let deployment = self.deployment.clone();
        let results = self.sql_access().results;
        wit::Settings {
            region: deployment.region.clone(),
            s3_endpoint: deployment.s3_endpoint.clone(),
            path_style: deployment.path_style,
            max_manifest_bytes: deployment.max_manifest_bytes,
            max_manifest_entries: deployment.max_manifest_entries,
            credential_source: deployment.credentials.name().to_owned(),
            sql: wit::SqlSettings {
                athena_endpoint: deployment.sql.athena_endpoint.clone(),
                glue_endpoint: deployment.sql.glue_endpoint.clone(),
                workgroup: deployment.sql.workgroups[0].clone(),
                other_workgroups: deployment.sql.workgroups[1..].to_vec(),
                output_location: results.as_ref().map(ResultsAccess::own_location),
                callers_results: results.as_ref().map(ResultsAccess::callers_location),
                tabulator_catalog: deployment.sql.tabulator_catalog.clone(),
                wait_ms: deployment.sql.wait_ms,
            },
        }
    }

    fn get_grant(&mut self) -> wit::Grant {
        wit::Grant {
            tools: self.grant.tools(),
            bucket: self.grant.bucket().map(str::to_owned),
            sql_writes: self.sql_writes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::Map;
    use url::Url;

    use super::RequestScope;
    use super::wit::Host;
    use crate::access::Grant;
    use crate::auth::{Caller, VerifiedToken};
    use crate::credentials;
    use crate::sandbox::{Deployment, DeploymentConfig};

    const TOKEN: &str = "header.payload.signature";

    fn deployment(registry_url: Option<&str>, forward_registry_token: bool) -> Arc<Deployment> {
        let mut config = DeploymentConfig::default();
        config.quilt.registry_url = registry_url.map(|url| Url::parse(url).unwrap());
        config.quilt.registry_forward_token = forward_registry_token;
        config.quilt.buckets = vec!["raw".into(), "curated".into()];
        Arc::new(Deployment::new(
            &config,
            credentials::none(),
            credentials::RegistryToken::callers_own(),
        ))
    }

    fn scope(deployment: Arc<Deployment>) -> RequestScope {
        let caller = Caller {
            subject: "alice".into(),
            issuer: "https://issuer.example".into(),
            claims: Vec::new(),
            token: VerifiedToken::new(TOKEN, Map::new()),
            upstream: None,
        };
        RequestScope::new(deployment, Some(caller), Grant::unrestricted())
    }

    #[tokio::test]
    async fn the_registry_gets_the_callers_token_by_default() {
        let mut scope = scope(deployment(Some("https://registry.example.com"), true));
        let access = scope.get_registry_access().await;
        assert_eq!(access.bearer.as_deref(), Some(TOKEN));
        assert_eq!(access.buckets, ["raw", "curated"]);
    }

    #[tokio::test]
    async fn no_bearer_when_forwarding_is_off_or_there_is_no_registry() {
        let mut off = scope(deployment(Some("https://registry.example.com"), false));
        assert_eq!(off.get_registry_access().await.bearer, None);
        let mut no_registry = scope(deployment(None, true));
        assert_eq!(no_registry.get_registry_access().await.bearer, None);
        let mut anonymous = RequestScope::new(
            deployment(Some("https://r.example.com"), true),
            None,
            Grant::unrestricted(),
        );
        assert_eq!(anonymous.get_registry_access().await.bearer, None);
    }

    /// A grant from the server's default flags for the connection at `path`.
    fn grant_at(path: &str) -> Grant {
        let access =
            crate::access::Access::from_config(&crate::cli::parse_serve(&[]).unwrap().access)
                .unwrap();
        let connection = crate::access::Narrowing::of_path(path).unwrap().unwrap();
        access.grant(None, &connection)
    }

    #[tokio::test]
    async fn a_request_that_may_call_no_s3_tool_gets_no_credentials() {
        let deployment = deployment(None, true);
        let mut search_only =
            RequestScope::new(deployment.clone(), None, grant_at("/mcp/x/search"));
        let refused = search_only.get_aws_credentials().await.err().unwrap();
        assert!(
            matches!(&refused, super::wit::CredentialError::Denied(why) if why.contains("no tool that uses S3")),
            "{refused:?}"
        );
        let mut objects = RequestScope::new(deployment, None, grant_at("/mcp/x/objects"));
        let answered = objects.get_aws_credentials().await.err().unwrap();
        assert!(
            matches!(answered, super::wit::CredentialError::NotConfigured(_)),
            "the source itself was asked: {answered:?}"
        );
    }

    #[tokio::test]
    async fn a_request_that_may_call_no_registry_tool_gets_no_bearer() {
        let with_registry = deployment(Some("https://registry.example.com"), true);
        let caller = scope(with_registry.clone()).caller;
        let mut packages = RequestScope::new(
            with_registry.clone(),
            caller.clone(),
            grant_at("/mcp/x/packages"),
        );
        assert_eq!(packages.get_registry_access().await.bearer, None);
        let mut search = RequestScope::new(with_registry, caller, grant_at("/mcp/x/search"));
        assert_eq!(
            search.get_registry_access().await.bearer.as_deref(),
            Some(TOKEN)
        );
    }

    #[test]
    fn settings_name_the_credential_source() {
        let mut scope = scope(deployment(None, true));
        assert_eq!(scope.get_settings().credential_source, "none");
    }
}
