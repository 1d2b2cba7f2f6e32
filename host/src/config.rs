//! All configuration, in one place. Every flag has an environment-variable twin so the
//! same binary is configured by flags on a laptop and by env in a container; `--help`
//! is the reference.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

use crate::server::{AdmissionConfig, AllowedHost, ConnectionConfig};

#[derive(Debug, Parser)]
#[command(
    name = "quilt-mcp",
    version,
    about = "Stateless multi-user MCP server for Quilt data"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP over HTTP at /mcp.
    Serve(Box<ServeConfig>),
    /// Precompile the guest component for this host's engine settings (loads faster at start-up).
    Compile {
        /// The guest component (.wasm).
        #[arg(long)]
        guest: PathBuf,
        /// Where to write the precompiled artifact (.cwasm).
        #[arg(long)]
        output: PathBuf,
    },
    /// Measure how long creating a fresh guest instance takes on this machine.
    BenchInstances {
        /// The guest component (.wasm or .cwasm).
        #[arg(long)]
        guest: PathBuf,
        /// How many instances to create.
        #[arg(long, default_value_t = 2000)]
        count: usize,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on. Port 0 picks a free port; the bound address is printed first on stdout.
    #[arg(long, env = "QUILT_MCP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The URL clients use to reach this server (default: http://<bound address>). The MCP
    /// resource is <public-url>/mcp; it is also the default JWT audience.
    #[arg(long, env = "QUILT_MCP_PUBLIC_URL")]
    pub public_url: Option<Url>,

    /// The tools guest: a component (.wasm) or an artifact precompiled by `quilt-mcp compile` (.cwasm).
    #[arg(long, env = "QUILT_MCP_GUEST")]
    pub guest: PathBuf,

    #[command(flatten)]
    pub auth: AuthConfig,

    /// Origins allowed to call /mcp from a browser (repeatable). Default: the public URL's origin and
    /// http://localhost / http://127.0.0.1 on any port. Requests without an Origin header are allowed.
    #[arg(
        long = "allowed-origin",
        env = "QUILT_MCP_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Host names clients use to reach /mcp (repeatable), e.g. the names a reverse proxy
    /// forwards: NAME on any port, NAME:PORT on that port only. Always accepted: the public URL's
    /// host and port, and localhost / 127.0.0.1 / [::1] on any port. Any other Host
    /// header gets 403, a defence against DNS rebinding.
    #[arg(
        long = "allowed-host",
        env = "QUILT_MCP_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<AllowedHost>,

    #[command(flatten)]
    pub limits: LimitsConfig,

    #[command(flatten)]
    pub connections: ConnectionConfig,

    #[command(flatten)]
    pub admission: AdmissionConfig,

    #[command(flatten)]
    pub s3: S3Config,

    /// Extra origins (scheme://host:port) the guest may call over HTTP (repeatable). The S3
    /// endpoint is always allowed; everything else is refused before a connection is made.
    #[arg(
        long = "egress-allow",
        env = "QUILT_MCP_EGRESS_ALLOW",
        value_delimiter = ','
    )]
    pub egress_allow: Vec<Url>,

    #[command(flatten)]
    pub credentials: CredentialsConfig,

    #[command(flatten)]
    pub catalog: CatalogConfig,

    /// Log line format (logs go to stderr; filter with RUST_LOG).
    #[arg(long, env = "QUILT_MCP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// How bearer tokens are validated. Exactly one key source is required unless `--no-auth`.
#[derive(Debug, Clone, Args)]
pub struct AuthConfig {
    /// Shared HS256 secret to verify tokens with.
    #[arg(long, env = "QUILT_MCP_JWT_HS256_SECRET", hide_env_values = true,
          conflicts_with_all = ["jwt_public_key", "jwks_url"])]
    pub jwt_hs256_secret: Option<String>,

    /// PEM public key (RSA, EC P-256 or Ed25519) to verify tokens with.
    #[arg(long, env = "QUILT_MCP_JWT_PUBLIC_KEY", conflicts_with = "jwks_url")]
    pub jwt_public_key: Option<PathBuf>,

    /// JWKS URL of the identity provider. Keys are cached for --jwks-max-age-secs (or the
    /// provider's shorter Cache-Control max-age) and refetched (rate-limited) when a token
    /// names an unknown `kid`.
    #[arg(long, env = "QUILT_MCP_JWKS_URL")]
    pub jwks_url: Option<Url>,

    /// Least time between two JWKS fetches caused by unknown `kid`s, so forged `kid`s cannot
    /// make this server hammer the identity provider.
    #[arg(long, env = "QUILT_MCP_JWKS_MIN_REFETCH_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub jwks_min_refetch_secs: u64,

    /// Longest time a fetched JWKS is trusted before it is fetched again, so a key the identity
    /// provider withdrew stops being honoured; a shorter `Cache-Control: max-age` wins.
    #[arg(long, env = "QUILT_MCP_JWKS_MAX_AGE_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=crate::auth::JWKS_MAX_AGE_LIMIT_SECS))]
    pub jwks_max_age_secs: u64,

    /// Accepted signature algorithms (comma list). The token's header never chooses: a token
    /// signed with anything else is rejected. Default: HS256 with a secret, RS256 otherwise.
    #[arg(long, env = "QUILT_MCP_JWT_ALGORITHMS", value_delimiter = ',')]
    pub jwt_algorithms: Vec<jsonwebtoken::Algorithm>,

    /// Required `iss` of accepted tokens.
    #[arg(long, env = "QUILT_MCP_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Accepted `aud` values (repeatable). Default: <public-url>/mcp.
    #[arg(long, env = "QUILT_MCP_JWT_AUDIENCE", value_delimiter = ',')]
    pub jwt_audience: Vec<String>,

    /// Authorization server advertised in the protected-resource metadata, as its issuer URL.
    /// Default: the JWT issuer, when that is an http(s) URL.
    #[arg(long, env = "QUILT_MCP_AUTHORIZATION_SERVER", value_parser = http_url)]
    pub authorization_server: Option<String>,

    /// Clock skew tolerated for `exp` and `nbf`, in seconds.
    #[arg(long, env = "QUILT_MCP_JWT_LEEWAY_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub jwt_leeway_secs: u64,

    /// Claims passed on to the tools (besides `sub` and `iss`), e.g. email,groups.
    #[arg(
        long,
        env = "QUILT_MCP_FORWARD_CLAIMS",
        value_delimiter = ',',
        default_value = "email,name,groups"
    )]
    pub forward_claims: Vec<String>,

    /// DEVELOPMENT ONLY: accept requests without any token. Every request runs as nobody.
    #[arg(long, env = "QUILT_MCP_NO_AUTH", default_value_t = false)]
    pub no_auth: bool,
}

/// Per-request resource limits.
#[derive(Debug, Clone, Args)]
pub struct LimitsConfig {
    /// Largest accepted request body; larger requests get 413.
    #[arg(long, env = "QUILT_MCP_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,

    /// Wall-clock and CPU deadline of one request; past it the guest is stopped and 504 returned.
    #[arg(long, env = "QUILT_MCP_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Largest response body the guest may produce; a larger one is replaced by an error.
    #[arg(long, env = "QUILT_MCP_MAX_RESPONSE_BYTES", default_value_t = 64 << 20)]
    pub max_response_bytes: usize,

    /// Linear-memory cap of one guest instance, in MiB; growing past it traps the guest.
    #[arg(long, env = "QUILT_MCP_GUEST_MEMORY_MIB", default_value_t = 64)]
    pub guest_memory_mib: usize,

    /// Largest package manifest the tools read or write, in bytes; larger ones are refused
    /// with a clear error. Keep it well under --guest-memory-mib.
    #[arg(long, env = "QUILT_MCP_MAX_MANIFEST_BYTES", default_value_t = 16 << 20)]
    pub max_manifest_bytes: u64,

    /// Most entries a package manifest may have for the tools to read or write it.
    #[arg(long, env = "QUILT_MCP_MAX_MANIFEST_ENTRIES", default_value_t = 50_000)]
    pub max_manifest_entries: u32,

    /// Guest instances alive at once (the pooling allocator's slots); more concurrent requests
    /// wait up to --admission-wait-ms for one, then get 503.
    #[arg(long, env = "QUILT_MCP_MAX_INSTANCES", default_value_t = 64)]
    pub max_instances: u32,
}

#[derive(Debug, Clone, Args)]
pub struct S3Config {
    /// AWS region for signing.
    #[arg(
        long = "aws-region",
        env = "QUILT_MCP_AWS_REGION",
        default_value = "us-east-1"
    )]
    pub region: String,

    /// S3 endpoint (default: https://s3.<region>.amazonaws.com).
    #[arg(long = "s3-endpoint", env = "QUILT_MCP_S3_ENDPOINT")]
    pub endpoint: Option<Url>,

    /// Address buckets in the path (endpoint/bucket/key) rather than as a subdomain.
    #[arg(long = "s3-path-style", env = "QUILT_MCP_S3_PATH_STYLE", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub path_style: bool,
}

impl S3Config {
    pub fn endpoint(&self) -> Url {
        self.endpoint.clone().unwrap_or_else(|| {
            Url::parse(&format!("https://s3.{}.amazonaws.com", self.region))
                .expect("a region name forms a valid URL")
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CredentialSourceKind {
    /// No AWS credentials: S3 tools answer that none are configured.
    None,
    /// One fixed key pair for every caller (single user or development).
    Static,
    /// Each caller's own token exchanged at STS (AssumeRoleWithWebIdentity) for a role's
    /// temporary keys; the role comes from --role-arn-claim or --role-map.
    WebIdentity,
    /// Each caller's own token exchanged at the Quilt registry (--registry-url,
    /// /api/auth/get_credentials) for the temporary keys of their Quilt role.
    #[value(name = "registry")]
    QuiltExchange,
}

/// Where each request's AWS credentials come from. Never from AWS_* variables or ~/.aws.
#[derive(Debug, Clone, Args)]
pub struct CredentialsConfig {
    #[arg(long = "credentials", env = "QUILT_MCP_CREDENTIALS", value_enum,
          default_value_t = CredentialSourceKind::None)]
    pub source: CredentialSourceKind,

    /// Access key id for `--credentials static`.
    #[arg(
        long,
        env = "QUILT_MCP_STATIC_ACCESS_KEY_ID",
        required_if_eq("source", "static")
    )]
    pub static_access_key_id: Option<String>,

    /// Secret access key for `--credentials static`.
    #[arg(
        long,
        env = "QUILT_MCP_STATIC_SECRET_ACCESS_KEY",
        hide_env_values = true,
        required_if_eq("source", "static")
    )]
    pub static_secret_access_key: Option<String>,

    /// Session token for `--credentials static` (temporary keys).
    #[arg(long, env = "QUILT_MCP_STATIC_SESSION_TOKEN", hide_env_values = true)]
    pub static_session_token: Option<String>,

    /// For `--credentials web-identity`: the token claim holding the ARN of the role to assume
    /// (e.g. role_arn). STS still checks the role's trust policy.
    #[arg(long, env = "QUILT_MCP_ROLE_ARN_CLAIM")]
    pub role_arn_claim: Option<String>,

    /// For `--credentials web-identity`: CLAIM=VALUE=ARN assumes role ARN for callers whose CLAIM
    /// is VALUE or, for a list claim such as groups, contains it. Repeatable (`;` separates them in
    /// the environment); the first match wins. Used when the --role-arn-claim claim is absent.
    #[arg(long = "role-map", env = "QUILT_MCP_ROLE_MAP", value_delimiter = ';')]
    pub role_map: Vec<RoleMapping>,

    /// STS endpoint for `--credentials web-identity` (default: https://sts.<region>.amazonaws.com).
    #[arg(long, env = "QUILT_MCP_STS_ENDPOINT")]
    pub sts_endpoint: Option<Url>,

    /// Lifetime requested for STS session credentials, in seconds (the role's maximum applies).
    #[arg(long, env = "QUILT_MCP_STS_DURATION_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(i32).range(900..=43_200))]
    pub sts_duration_secs: i32,

    /// Exchanged credentials are reused for the same token until this many seconds before they
    /// expire, so no tool starts with keys about to lapse.
    #[arg(
        long,
        env = "QUILT_MCP_CREDENTIALS_REFRESH_MARGIN_SECS",
        default_value_t = 300
    )]
    pub credentials_refresh_margin_secs: u64,

    /// Tokens whose exchanged credentials are kept at once; past it the oldest are dropped.
    #[arg(
        long,
        env = "QUILT_MCP_CREDENTIALS_CACHE_ENTRIES",
        default_value = "10000"
    )]
    pub credentials_cache_entries: NonZeroUsize,
}

/// An absolute http(s) URL, kept as written (a parsed `Url` would add a trailing `/`, and
/// issuer identifiers are compared as exact strings).
fn http_url(text: &str) -> Result<String, String> {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "https" | "http") => Ok(text.to_owned()),
        _ => Err(format!(
            "{text:?} is not an http(s) URL (e.g. https://idp.example.com)"
        )),
    }
}

/// One `--role-map` entry: callers whose `claim` has `value` assume `role_arn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMapping {
    pub claim: String,
    pub value: String,
    pub role_arn: String,
}

impl FromStr for RoleMapping {
    type Err = String;

    /// `CLAIM=VALUE=ARN`; the ARN is everything after the second `=` (role names may hold `=`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.splitn(3, '=');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(claim), Some(value), Some(role_arn))
                if !claim.is_empty() && role_arn.starts_with("arn:") =>
            {
                Ok(Self {
                    claim: claim.into(),
                    value: value.into(),
                    role_arn: role_arn.into(),
                })
            }
            _ => Err(format!(
                "{text:?} is not CLAIM=VALUE=ARN (e.g. groups=analysts=arn:aws:iam::123456789012:role/Analyst)"
            )),
        }
    }
}

impl CredentialsConfig {
    pub fn sts_endpoint(&self, region: &str) -> Url {
        self.sts_endpoint.clone().unwrap_or_else(|| {
            Url::parse(&format!("https://sts.{region}.amazonaws.com"))
                .expect("a region name forms a valid URL")
        })
    }
}

/// The Quilt catalog this deployment belongs to.
#[derive(Debug, Clone, Args)]
pub struct CatalogConfig {
    /// Web catalog URL, for links shown to people.
    #[arg(long, env = "QUILT_MCP_CATALOG_URL")]
    pub catalog_url: Option<Url>,

    /// Registry (catalog API) URL. Its origin is added to the guest's egress allow-list, and
    /// `--credentials registry` exchanges each caller's token there.
    #[arg(long, env = "QUILT_MCP_REGISTRY_URL")]
    pub registry_url: Option<Url>,

    /// Hand each caller's token to the tools as the bearer for the registry (search, bucket
    /// listing). The token's audience must then include the registry. The host lets an
    /// `Authorization` header leave the sandbox only toward the registry's origin. With false,
    /// tools that need the registry say why they cannot run.
    #[arg(long, env = "QUILT_MCP_REGISTRY_FORWARD_TOKEN", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub registry_forward_token: bool,

    /// Buckets bucket_list offers when no registry is configured (repeatable or comma-separated;
    /// search always needs the registry). Names only, e.g. my-bucket.
    #[arg(long = "bucket", env = "QUILT_MCP_BUCKETS", value_name = "NAME", value_delimiter = ',',
          value_parser = bucket_name)]
    pub buckets: Vec<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_mapping_keeps_equals_signs_in_the_arn() {
        let mapping: RoleMapping = "groups=analysts=arn:aws:iam::1:role/a=b".parse().unwrap();
        assert_eq!(mapping.claim, "groups");
        assert_eq!(mapping.value, "analysts");
        assert_eq!(mapping.role_arn, "arn:aws:iam::1:role/a=b");
    }

    fn serve(flags: &[&str]) -> Result<ServeConfig, clap::Error> {
        let command = ["quilt-mcp", "serve", "--guest", "guest.wasm"];
        let cli = Cli::try_parse_from(command.iter().chain(flags))?;
        let Command::Serve(config) = cli.command else {
            unreachable!("serve was asked for")
        };
        Ok(*config)
    }

    #[test]
    fn the_registry_gets_the_token_unless_turned_off() {
        let config = serve(&["--registry-url", "https://registry.example.com"]).unwrap();
        assert!(config.catalog.registry_forward_token);
        let config = serve(&["--registry-forward-token=false"]).unwrap();
        assert!(!config.catalog.registry_forward_token);
    }

    #[test]
    fn buckets_repeat_and_split_on_commas() {
        let config = serve(&["--bucket", "raw", "--bucket", "curated, shared"]).unwrap();
        assert_eq!(config.catalog.buckets, ["raw", "curated", "shared"]);
        assert!(serve(&[]).unwrap().catalog.buckets.is_empty());
    }

    #[test]
    fn bucket_uris_are_refused_with_the_fix() {
        let refused = serve(&["--bucket", "s3://raw/"]).unwrap_err().to_string();
        assert!(refused.contains("give the name only"), "{refused}");
        assert!(serve(&["--bucket", "raw,,curated"]).is_err());
    }

    #[test]
    fn the_authorization_server_must_be_an_issuer_url_kept_as_written() {
        let config = serve(&["--authorization-server", "https://idp.example.com"]).unwrap();
        assert_eq!(
            config.auth.authorization_server.as_deref(),
            Some("https://idp.example.com")
        );
        let refused = serve(&["--authorization-server", "idp"]).unwrap_err();
        assert!(
            refused.to_string().contains("not an http(s) URL"),
            "{refused}"
        );
    }

    #[test]
    fn allowed_hosts_repeat_and_refuse_urls_with_the_fix() {
        let config = serve(&[
            "--allowed-host",
            "a.internal",
            "--allowed-host",
            "b.internal:8443,c",
        ])
        .unwrap();
        let expected: Vec<AllowedHost> = ["a.internal", "b.internal:8443", "c"]
            .iter()
            .map(|host| host.parse().unwrap())
            .collect();
        assert_eq!(config.allowed_hosts, expected);
        let refused = serve(&["--allowed-host", "https://mcp.example.com"])
            .unwrap_err()
            .to_string();
        assert!(refused.contains("e.g. mcp.example.com"), "{refused}");
    }

    #[test]
    fn registry_is_a_credential_source() {
        let config = serve(&["--credentials", "registry"]).unwrap();
        assert_eq!(
            config.credentials.source,
            CredentialSourceKind::QuiltExchange
        );
    }

    #[test]
    fn role_mapping_needs_a_claim_and_an_arn() {
        assert!("groups=analysts".parse::<RoleMapping>().is_err());
        assert!(
            "=analysts=arn:aws:iam::1:role/a"
                .parse::<RoleMapping>()
                .is_err()
        );
        assert!("groups=analysts=Analyst".parse::<RoleMapping>().is_err());
    }
}
