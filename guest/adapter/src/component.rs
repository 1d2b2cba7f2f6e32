//! The adapter's exports, over the runtime's imports.

use std::sync::OnceLock;

use crate::config::{ACCESS_KEY_ID, Config, ConfigError, SECRET_ACCESS_KEY};
use crate::egress::Egress;

/// How long a standalone SQL call waits for its query before handing back its id.
const SQL_WAIT_MS: u32 = 20_000;
use quilt_mcp_policy::settings::url_for_guest;

#[allow(clippy::all, dead_code, unused)]
mod bindings {
    wit_bindgen::generate!({
        world: "quilt:mcp-standalone/adapter",
        path: ["../../wit", "wit"],
        generate_all,
    });
}

use bindings::exports::quilt::mcp::request_context::{
    self, AwsCredentials, Caller, CredentialError, Grant, RegistryAccess, Settings, SqlSettings,
};
use bindings::exports::wasi::http::outgoing_handler;
use bindings::wasi::config::store;
use bindings::wasi::http::outgoing_handler as runtime_http;
use bindings::wasi::http::types::{
    ErrorCode, FutureIncomingResponse, OutgoingRequest, RequestOptions, Scheme,
};

/// Read once per instance, which serves one request. A configuration that cannot be used
/// is reported in the runtime's log here, and to the user by every tool that needs S3.
fn config() -> &'static Result<Config, ConfigError> {
    static CONFIG: OnceLock<Result<Config, ConfigError>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let config = store::get_all()
            .map_err(|error| ConfigError::Unreadable(format!("{error:?}")))
            .and_then(Config::from_pairs);
        if let Err(error) = &config {
            eprintln!("quilt-mcp adapter: {error}");
        }
        config
    })
}

/// For the functions whose WIT has no error case. With a configuration that cannot be
/// used, the defaults: no credentials are handed out then and no request is let out, so
/// nothing acts on settings nobody chose, while `auth_status` can still say what is wrong.
fn config_or_defaults() -> &'static Config {
    static DEFAULTS: OnceLock<Config> = OnceLock::new();
    config().as_ref().unwrap_or_else(|_| {
        DEFAULTS.get_or_init(|| Config::from_pairs(Vec::new()).expect("the defaults are valid"))
    })
}

struct Adapter;

impl request_context::Guest for Adapter {
    fn get_caller() -> Option<Caller> {
        None
    }

    fn get_aws_credentials() -> Result<AwsCredentials, CredentialError> {
        let config = config()
            .as_ref()
            .map_err(|error| CredentialError::NotConfigured(error.to_string()))?;
        let keys = config.keys.as_ref().ok_or_else(|| {
            CredentialError::NotConfigured(format!(
                "this deployment has no AWS credentials: set the runtime config variables `{ACCESS_KEY_ID}` and `{SECRET_ACCESS_KEY}`"
            ))
        })?;
        Ok(AwsCredentials {
            access_key_id: keys.access_key_id.clone(),
            secret_access_key: keys.secret_access_key.clone(),
            session_token: keys.session_token.clone(),
            expiration: None,
            source: "static".into(),
        })
    }

    fn get_registry_access() -> RegistryAccess {
        let config = config_or_defaults();
        RegistryAccess {
            catalog_url: config.catalog_url.as_ref().map(url_for_guest),
            registry_url: config.registry_url.as_ref().map(url_for_guest),
            bearer: None,
            buckets: config.buckets.clone(),
        }
    }

    fn get_settings() -> Settings {
        let config = config_or_defaults();
        let [athena, glue] = config.sql_endpoints();
        Settings {
            region: config.region.clone(),
            s3_endpoint: url_for_guest(&config.s3_endpoint),
            path_style: config.path_style,
            max_manifest_bytes: config.max_manifest_bytes,
            max_manifest_entries: config.max_manifest_entries,
            credential_source: if config.keys.is_some() {
                "static"
            } else {
                "none"
            }
            .into(),
            sql: SqlSettings {
                athena_endpoint: url_for_guest(&athena),
                glue_endpoint: url_for_guest(&glue),
                workgroup: "primary".into(),
                other_workgroups: Vec::new(),
                output_location: None,
                callers_results: None,
                tabulator_catalog: None,
                wait_ms: SQL_WAIT_MS,
            },
        }
    }

    /// Standalone, there are no tokens, scopes or narrowed connections: every tool is offered
    /// and the configured keys' own rights are the limit.
    fn get_grant() -> Grant {
        Grant {
            tools: quilt_mcp_policy::tools::TOOLS
                .iter()
                .map(|rule| rule.name.to_owned())
                .collect(),
            bucket: None,
            // No token, so no write scope: SQL that changes data never runs standalone.
            sql_writes: false,
        }
    }
}

impl outgoing_handler::Guest for Adapter {
    fn handle(
        request: OutgoingRequest,
        options: Option<RequestOptions>,
    ) -> Result<FutureIncomingResponse, ErrorCode> {
        static ALLOWED: OnceLock<Option<Egress>> = OnceLock::new();
        let allowed = ALLOWED.get_or_init(|| {
            let config = config().as_ref().ok()?;
            Some(Egress::new(
                &config.s3_endpoint,
                &config.sql_endpoints(),
                config.registry_url.as_ref(),
            ))
        });
        let Some(allowed) = allowed else {
            eprintln!(
                "quilt-mcp adapter: refused an outgoing request: the configuration is not usable"
            );
            return Err(ErrorCode::HttpRequestDenied);
        };
        let scheme = match request.scheme() {
            Some(Scheme::Http) => Some("http"),
            Some(Scheme::Https) => Some("https"),
            Some(Scheme::Other(_)) | None => None,
        };
        // The headers are a child of the request: dropped here, before the request moves on.
        let authorization = request
            .headers()
            .entries()
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            .map(|(_, value)| String::from_utf8_lossy(&value).into_owned());
        if let Err(refusal) = allowed.check(
            scheme,
            request.authority().as_deref(),
            authorization.as_deref(),
        ) {
            eprintln!("quilt-mcp adapter: {refusal}");
            return Err(ErrorCode::HttpRequestDenied);
        }
        runtime_http::handle(request, options)
    }
}

bindings::export!(Adapter with_types_in bindings);
