//! The deployment: what every request shares, read-only, for the life of the process — the
//! credential source (with its cache), where S3 and the Quilt stack (web catalog, registry)
//! are, what the guest may reach, and the package limits. Built once from its `serve` flags.

use std::sync::Arc;

use clap::Args;
use quilt_mcp_policy::defaults;
use quilt_mcp_policy::settings::url_for_guest;
use url::Url;

use super::EgressPolicy;
use super::sql::{SqlConfig, SqlConfigError, SqlDeployment};
use crate::access::partition;
use crate::credentials::{CredentialSource, RegistryToken};

/// Deployment-wide facts shared by every request (read-only).
pub struct Deployment {
    pub(super) credentials: Arc<dyn CredentialSource>,
    pub(super) region: String,
    pub(super) s3_endpoint: String,
    pub(super) path_style: bool,
    pub(super) max_manifest_bytes: u64,
    pub(super) max_manifest_entries: u32,
    pub(super) catalog_url: Option<String>,
    pub(super) registry_url: Option<String>,
    /// Whether the caller's registry token goes to the guest as the registry's bearer.
    pub(super) forward_registry_token: bool,
    /// What a caller presents to the registry.
    pub(super) registry_token: Arc<RegistryToken>,
    pub(super) buckets: Vec<String>,
    pub(super) sql: SqlDeployment,
}

impl Deployment {
    pub fn new(
        config: &DeploymentConfig,
        credentials: Arc<dyn CredentialSource>,
        registry_token: Arc<RegistryToken>,
    ) -> Self {
        let quilt = &config.quilt;
        Self {
            credentials,
            region: config.s3.region.clone(),
            s3_endpoint: url_for_guest(&config.s3.endpoint()),
            path_style: config.s3.path_style,
            max_manifest_bytes: config.max_manifest_bytes,
            max_manifest_entries: config.max_manifest_entries,
            catalog_url: quilt.catalog_url.as_ref().map(url_for_guest),
            registry_url: quilt.registry_url.as_ref().map(url_for_guest),
            forward_registry_token: quilt.registry_forward_token,
            registry_token,
            buckets: quilt.buckets.clone(),
            sql: SqlDeployment::new(&config.sql, &config.s3.region),
        }
    }
}

impl Deployment {
    /// Refuses, at start-up, a deployment whose web-identity requests STS would refuse for
    /// the length of their session policy.
    pub fn check_policy_fits(&self) -> Result<(), SqlConfigError> {
        if self.credentials.name() != "web-identity" {
            return Ok(());
        }
        self.sql.check_policy_fits(partition(&self.region))
    }
}

/// What every request of this deployment shares: where S3 and the Quilt stack are, what the
/// guest may reach, and the package limits. The `serve` flags of the deployment.
#[derive(Debug, Clone, Args)]
pub struct DeploymentConfig {
    #[command(flatten)]
    pub s3: S3Config,

    /// Largest package manifest the tools read or write, in bytes; larger ones are refused
    /// with a clear error. Keep it well under --guest-memory-mib.
    #[arg(long, env = "QUILT_MCP_MAX_MANIFEST_BYTES", default_value_t = defaults::MAX_MANIFEST_BYTES)]
    pub max_manifest_bytes: u64,

    /// Most entries a package manifest may have for the tools to read or write it.
    #[arg(long, env = "QUILT_MCP_MAX_MANIFEST_ENTRIES", default_value_t = defaults::MAX_MANIFEST_ENTRIES)]
    pub max_manifest_entries: u32,

    /// Extra origins (scheme://host:port) the guest may call over HTTP (repeatable). The S3
    /// endpoint is always allowed; everything else is refused before a connection is made.
    #[arg(
        long = "egress-allow",
        env = "QUILT_MCP_EGRESS_ALLOW",
        value_delimiter = ','
    )]
    pub egress_allow: Vec<Url>,

    #[command(flatten)]
    pub quilt: QuiltConfig,

    #[command(flatten)]
    pub sql: SqlConfig,
}

#[derive(Debug, Clone, Args)]
pub struct S3Config {
    /// AWS region for signing.
    #[arg(
        long = "aws-region",
        env = "QUILT_MCP_AWS_REGION",
        default_value = defaults::REGION,
        value_parser = region_name
    )]
    pub region: String,

    /// S3 endpoint (default: https://s3.<region>.amazonaws.com).
    #[arg(long = "s3-endpoint", env = "QUILT_MCP_S3_ENDPOINT")]
    pub endpoint: Option<Url>,

    /// Address buckets in the path (endpoint/bucket/key) rather than as a subdomain.
    #[arg(long = "s3-path-style", env = "QUILT_MCP_S3_PATH_STYLE", default_value_t = defaults::PATH_STYLE,
          action = clap::ArgAction::Set)]
    pub path_style: bool,
}

impl S3Config {
    pub fn endpoint(&self) -> Url {
        self.endpoint.clone().unwrap_or_else(|| {
            defaults::s3_endpoint(&self.region).expect("--aws-region is checked when parsed")
        })
    }
}

/// The Quilt stack this deployment belongs to: its web catalog (for links shown to people) and
/// its registry (the API the tools call).
#[derive(Debug, Clone, Args)]
pub struct QuiltConfig {
    /// Web catalog URL, for links shown to people.
    #[arg(long, env = "QUILT_MCP_CATALOG_URL")]
    pub catalog_url: Option<Url>,

    /// The Quilt registry API URL (what the web catalog calls). Its origin is added to the guest's egress allow-list, and
    /// `--credentials registry` exchanges each caller's token there.
    #[arg(long, env = "QUILT_MCP_REGISTRY_URL")]
    pub registry_url: Option<Url>,

    /// Hand each caller's registry token to the tools as the bearer for the registry (search,
    /// bucket listing): with the sign-in bridge, the upstream access token of their sign-in;
    /// with --registry-token-exchange-url, the token the IdP exchanged theirs for; otherwise
    /// the caller's own token, whose audience must then include the registry. The host lets an
    /// `Authorization` header leave the sandbox only toward the registry's origin. With false,
    /// tools that need the registry say why they cannot run.
    #[arg(long, env = "QUILT_MCP_REGISTRY_FORWARD_TOKEN", default_value_t = FORWARD_REGISTRY_TOKEN,
          action = clap::ArgAction::Set)]
    pub registry_forward_token: bool,

    /// Buckets bucket_list offers when no registry is configured (repeatable or comma-separated;
    /// search always needs the registry). Names only, e.g. my-bucket.
    #[arg(long = "bucket", env = "QUILT_MCP_BUCKETS", value_name = "NAME", value_delimiter = ',',
          value_parser = bucket_name)]
    pub buckets: Vec<String>,
}

/// The region names the default endpoint's host, so it must be a region name and nothing
/// that could point that host elsewhere.
fn region_name(text: &str) -> Result<String, String> {
    defaults::check_region(text)
        .map(str::to_owned)
        .map_err(|error| format!("{text:?} is {error}"))
}

/// A bucket name as S3 addresses it; a URI or a name with spaces is a mistake worth stopping on.
fn bucket_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() || name.contains(['/', ':']) || name.contains(char::is_whitespace) {
        return Err(format!(
            "{text:?} is not a bucket name: give the name only, e.g. my-bucket rather than s3://my-bucket/"
        ));
    }
    Ok(name.to_owned())
}

/// Why a deployment cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    #[error(
        "--s3-path-style=false addresses each bucket as <bucket>.{host}, but no --egress-allow \
         origin is such a name, so every S3 request would be refused: allow each bucket's \
         origin (e.g. --egress-allow {scheme}://my-bucket.{host}) or keep path-style addressing"
    )]
    NoBucketOrigin { host: String, scheme: String },
}

impl DeploymentConfig {
    /// The guest's egress allow-list: the S3, Athena and Glue endpoints, the registry and
    /// `--egress-allow`.
    pub fn egress(&self) -> Result<EgressPolicy, DeploymentError> {
        let s3_endpoint = self.s3.endpoint();
        let region = &self.s3.region;
        let sql = [
            self.sql.athena_endpoint(region),
            self.sql.glue_endpoint(region),
        ];
        let egress = EgressPolicy::new(
            std::iter::once(&s3_endpoint).chain(&self.egress_allow),
            &sql,
            self.quilt.registry_url.as_ref(),
        );
        if !self.s3.path_style && !egress.allows_a_subdomain_of(&s3_endpoint) {
            return Err(DeploymentError::NoBucketOrigin {
                host: s3_endpoint.host_str().unwrap_or_default().to_owned(),
                scheme: s3_endpoint.scheme().to_owned(),
            });
        }
        Ok(egress)
    }
}

/// `--registry-forward-token`'s default, for the flag and for [`DeploymentConfig::default`].
const FORWARD_REGISTRY_TOKEN: bool = true;

/// The flags' defaults, without reading the environment: for a deployment that only measures
/// instances, and for tests.
impl Default for DeploymentConfig {
    fn default() -> Self {
        Self {
            s3: S3Config {
                region: defaults::REGION.to_owned(),
                endpoint: None,
                path_style: defaults::PATH_STYLE,
            },
            max_manifest_bytes: defaults::MAX_MANIFEST_BYTES,
            max_manifest_entries: defaults::MAX_MANIFEST_ENTRIES,
            egress_allow: Vec::new(),
            quilt: QuiltConfig {
                catalog_url: None,
                registry_url: None,
                registry_forward_token: FORWARD_REGISTRY_TOKEN,
                buckets: Vec::new(),
            },
            sql: SqlConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DeploymentConfig;
    use crate::cli::parse_serve;

    fn deployment(flags: &[&str]) -> Result<DeploymentConfig, clap::Error> {
        parse_serve(flags).map(|config| config.deployment)
    }

    #[test]
    fn the_registry_gets_the_token_unless_turned_off() {
        let config = deployment(&["--registry-url", "https://registry.example.com"]).unwrap();
        assert!(config.quilt.registry_forward_token);
        let config = deployment(&["--registry-forward-token=false"]).unwrap();
        assert!(!config.quilt.registry_forward_token);
    }

    #[test]
    fn buckets_repeat_and_split_on_commas() {
        let config = deployment(&["--bucket", "raw", "--bucket", "curated, shared"]).unwrap();
        assert_eq!(config.quilt.buckets, ["raw", "curated", "shared"]);
        assert!(deployment(&[]).unwrap().quilt.buckets.is_empty());
    }

    #[test]
    fn bucket_uris_are_refused_with_the_fix() {
        let refused = deployment(&["--bucket", "s3://raw/"])
            .unwrap_err()
            .to_string();
        assert!(refused.contains("give the name only"), "{refused}");
        assert!(deployment(&["--bucket", "raw,,curated"]).is_err());
    }

    #[test]
    fn a_region_that_is_no_region_name_is_refused() {
        for hostile in ["x@evil.example#", "no such region", "a/b"] {
            let refused = deployment(&["--aws-region", hostile])
                .unwrap_err()
                .to_string();
            assert!(refused.contains("not an AWS region name"), "{refused}");
        }
        assert_eq!(
            deployment(&["--aws-region", "eu-west-2"])
                .unwrap()
                .s3
                .region,
            "eu-west-2"
        );
    }

    #[test]
    fn the_defaults_are_the_flags_defaults() {
        let parsed = deployment(&[]).unwrap();
        let default = DeploymentConfig::default();
        assert_eq!(parsed.s3.region, default.s3.region);
        assert_eq!(parsed.s3.path_style, default.s3.path_style);
        assert_eq!(parsed.max_manifest_bytes, default.max_manifest_bytes);
        assert_eq!(parsed.max_manifest_entries, default.max_manifest_entries);
        assert_eq!(
            parsed.quilt.registry_forward_token,
            default.quilt.registry_forward_token
        );
    }

    #[test]
    fn virtual_host_addressing_needs_a_bucket_origin() {
        let config = deployment(&[
            "--s3-path-style=false",
            "--s3-endpoint",
            "http://s3.local:8333",
        ]);
        let Err(refused) = config.unwrap().egress() else {
            panic!("virtual-host addressing without a bucket origin was accepted");
        };
        let refused = refused.to_string();
        assert!(
            refused.contains("--egress-allow http://my-bucket.s3.local"),
            "{refused}"
        );
        let allowed = deployment(&[
            "--s3-path-style=false",
            "--s3-endpoint",
            "http://s3.local:8333",
            "--egress-allow",
            "http://raw.s3.local:8333",
        ]);
        assert!(allowed.unwrap().egress().is_ok());
    }
}
