//! The local stack the e2e suite, `make run` (devstack) and `make bench` share: SeaweedFS, a
//! token issuer (an RSA key) with its JWKS server, and optionally SeaweedFS's STS trusting that
//! issuer and the Quilt registry stand-in exchanging tokens there.
//!
//! ```ignore
//! let stack = Stack::builder("e2e-key-1").temp_data_dir("quilt-mcp-e2e-").start().await?;
//! let dev = Stack::builder("quilt-mcp-dev")
//!     .data_dir(run_dir.join("seaweedfs"))
//!     .preferred_s3_port(8333)
//!     .with_sts(AUDIENCE, readers, RoleAccess::ReadWrite)
//!     .with_registry_standin(Some(8090))
//!     .start()
//!     .await?;
//! ```

use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::artifacts::Artifacts;
use crate::athena::{AthenaStandin, sts_of};
use crate::identity::{Identity, jwks};
use crate::jwks_server::JwksServer;
use crate::ports::preferred_or_free;
use crate::registry::{RegistryStandin, TabulatorTable, grant, standin_config};
use crate::seaweedfs::{SeaweedFs, SeaweedOptions};
use crate::sts::{BucketReader, WebIdentityTrust, allow_results, allow_writes};

/// What the STS roles of [`StackBuilder::with_sts`] may do in their buckets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RoleAccess {
    /// List and read.
    Read,
    /// List, read, write and delete (the dev stack's users create packages).
    ReadWrite,
}

/// Where SeaweedFS keeps its data.
enum DataDir {
    /// A fresh temporary directory with this prefix, removed when the stack is dropped.
    Temp(&'static str),
    /// This directory, kept.
    At(PathBuf),
}

struct StsRoles {
    audience: String,
    readers: Vec<BucketReader>,
    access: RoleAccess,
}

/// What to start; see [`Stack::builder`].
pub struct StackBuilder {
    kid: String,
    data_dir: DataDir,
    preferred_s3_port: Option<u16>,
    sts: Option<StsRoles>,
    /// `Some(preferred port)` when the registry stand-in is wanted.
    registry: Option<Option<u16>>,
    /// `(issuer, JWKS URL)` that STS and the stand-in trust instead of the stack's own issuer.
    trusted_issuer: Option<(String, String)>,
    sql: Option<SqlTables>,
}

/// What the Athena stand-in serves: Glue databases (its `databases` configuration, see
/// tests/athena-standin/README.md) and Tabulator tables, which the registry stand-in holds.
pub struct SqlTables {
    pub databases: serde_json::Value,
    pub tabulator: Vec<TabulatorTable>,
}

/// Where every reader's query results go (each role may write there), and the name of the
/// Tabulator catalog.
pub const SQL_RESULTS: &str = "s3://quilt-athena-results/athena/";
pub const TABULATOR_CATALOG: &str = "quilt_tabulator";
const RESULTS_BUCKET: &str = "quilt-athena-results";

impl StackBuilder {
    /// SeaweedFS's data in a fresh temporary directory named `prefix…` (the default, with
    /// prefix `quilt-mcp-stack-`), removed when the stack is dropped.
    pub fn temp_data_dir(mut self, prefix: &'static str) -> Self {
        self.data_dir = DataDir::Temp(prefix);
        self
    }

    /// SeaweedFS's data in `dir` (created if missing), left in place.
    pub fn data_dir(mut self, dir: PathBuf) -> Self {
        self.data_dir = DataDir::At(dir);
        self
    }

    /// S3 on this port when it is free, else on any.
    pub fn preferred_s3_port(mut self, port: u16) -> Self {
        self.preferred_s3_port = Some(port);
        self
    }

    /// SeaweedFS with STS for web identities: it trusts the stack's issuer for tokens whose
    /// `aud` is `audience`, and each reader may assume their role over their bucket.
    pub fn with_sts(
        mut self,
        audience: &str,
        readers: Vec<BucketReader>,
        access: RoleAccess,
    ) -> Self {
        self.sts = Some(StsRoles {
            audience: audience.to_owned(),
            readers,
            access,
        });
        self
    }

    /// The Quilt registry stand-in, granting each STS reader their role and bucket and checking
    /// tokens of the same issuer and audience; on `preferred_port` when it is free, else on any.
    /// Needs [`Self::with_sts`], where it exchanges tokens.
    pub fn with_registry_standin(mut self, preferred_port: Option<u16>) -> Self {
        self.registry = Some(preferred_port);
        self
    }

    /// The Athena + Glue stand-in with these tables, results under [`SQL_RESULTS`] and
    /// Tabulator's catalog at [`TABULATOR_CATALOG`]. Needs [`Self::with_registry_standin`].
    pub fn with_sql(mut self, tables: SqlTables) -> Self {
        self.sql = Some(tables);
        self
    }

    /// STS and the registry stand-in trust tokens of this issuer (e.g. the local OpenID
    /// provider), whose keys are at `jwks_url`, instead of the stack's own issuer.
    pub fn trusting_issuer(mut self, issuer: &str, jwks_url: &str) -> Self {
        self.trusted_issuer = Some((issuer.to_owned(), jwks_url.to_owned()));
        self
    }

    /// Starts the issuer first (STS must know its JWKS when SeaweedFS starts), then SeaweedFS
    /// (ready once it stores objects), then the stand-in. The artifacts come from the
    /// environment the Makefile sets.
    pub async fn start(self) -> Result<Stack> {
        let artifacts = Artifacts::from_env()?;
        if self.registry.is_some() && self.sts.is_none() {
            bail!("the registry stand-in exchanges tokens at STS: ask for with_sts too");
        }
        let (temp_dir, seaweed_dir) = match self.data_dir {
            DataDir::Temp(prefix) => {
                let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
                let seaweed_dir = dir.path().join("seaweedfs");
                (Some(dir), seaweed_dir)
            }
            DataDir::At(dir) => (None, dir),
        };
        let identity = Identity::generate(&self.kid)?;
        // The Tabulator service's bearer at the registry stand-in, new each run.
        let service_token = format!("tabulator-{:032x}", rand::random::<u128>());
        let jwks = JwksServer::start(jwks(&[&identity])).await?;
        let options = SeaweedOptions {
            data_dir: seaweed_dir,
            preferred_s3_port: self.preferred_s3_port,
        };
        let (issuer, jwks_url) = self
            .trusted_issuer
            .unwrap_or_else(|| (jwks.origin(), jwks.jwks_url()));
        let trust = self.sts.map(|roles| {
            let trust = WebIdentityTrust {
                issuer,
                audience: roles.audience,
                jwks_url,
                readers: roles.readers,
            };
            (trust, roles.access)
        });
        let mut sts_settings = None;
        let seaweed = match &trust {
            None => SeaweedFs::start(&artifacts.weed, &options).await?,
            Some((trust, access)) => {
                let mut iam = trust.iam_config();
                for reader in &trust.readers {
                    if *access == RoleAccess::ReadWrite {
                        allow_writes(&mut iam, reader);
                    }
                    allow_results(&mut iam, reader, RESULTS_BUCKET, "athena/");
                }
                let seaweed = SeaweedFs::start_with_iam(&artifacts.weed, &options, &iam).await?;
                sts_settings = Some(sts_of(&iam));
                seaweed
            }
        };
        let registry = match (&trust, self.registry) {
            (Some((trust, _)), Some(preferred_port)) => {
                let mut config = standin_config(
                    &seaweed,
                    &trust.jwks_url,
                    &trust.issuer,
                    &trust.audience,
                    trust.readers.iter().map(grant).collect(),
                )?;
                if let Some(port) = preferred_port {
                    config.listen = format!("127.0.0.1:{}", preferred_or_free(port)).parse()?;
                }
                if let Some(sql) = &self.sql {
                    config.tabulator = sql.tabulator.clone();
                    config.service_token = Some(service_token.clone());
                }
                Some(RegistryStandin::start(config).await?)
            }
            _ => None,
        };
        let athena = match (self.sql, &registry, sts_settings) {
            (Some(sql), Some(registry), Some(sts)) => {
                seaweed.admin().create_bucket(RESULTS_BUCKET).await?;
                let config = serde_json::json!({
                    "sts": sts,
                    "workgroups": {"primary": {"output_location": SQL_RESULTS}},
                    "databases": sql.databases,
                    "tabulator": {
                        "catalog": TABULATOR_CATALOG,
                        "registry_url": registry.url().as_str(),
                        "service_token": service_token,
                    },
                });
                Some(AthenaStandin::start(seaweed.s3_endpoint.as_str(), config).await?)
            }
            (None, _, _) => None,
            _ => bail!(
                "the Athena stand-in needs STS and the registry stand-in: ask for with_sts and with_registry_standin"
            ),
        };
        Ok(Stack {
            athena,
            registry,
            jwks,
            seaweed,
            identity,
            trust: trust.map(|(trust, _)| trust),
            artifacts,
            _temp_dir: temp_dir,
        })
    }
}

/// A running stack; dropping it stops everything it started (stand-in, JWKS server, then
/// SeaweedFS) and removes a temporary data directory.
pub struct Stack {
    /// The Athena + Glue stand-in, when [`StackBuilder::with_sql`] asked for it.
    pub athena: Option<AthenaStandin>,
    /// The registry stand-in, when [`StackBuilder::with_registry_standin`] asked for it.
    pub registry: Option<RegistryStandin>,
    pub jwks: JwksServer,
    pub seaweed: SeaweedFs,
    /// The issuer's key: signs the tokens the stack's JWKS publishes.
    pub identity: Identity,
    /// Whose tokens STS accepts and for which roles, when [`StackBuilder::with_sts`] asked.
    pub trust: Option<WebIdentityTrust>,
    pub artifacts: Artifacts,
    // Declared last so it is removed after `seaweed` has been killed.
    _temp_dir: Option<tempfile::TempDir>,
}

impl Stack {
    /// A stack whose issuer's key has this `kid`; nothing but SeaweedFS and the issuer unless
    /// asked for.
    pub fn builder(kid: &str) -> StackBuilder {
        StackBuilder {
            kid: kid.to_owned(),
            data_dir: DataDir::Temp("quilt-mcp-stack-"),
            preferred_s3_port: None,
            sts: None,
            registry: None,
            trusted_issuer: None,
            sql: None,
        }
    }

    /// The `iss` of the issuer's tokens: its JWKS server's origin.
    pub fn issuer(&self) -> String {
        self.jwks.origin()
    }

    /// SeaweedFS's S3 (and STS) endpoint, without a trailing slash, as host flags take it.
    pub fn s3_endpoint(&self) -> String {
        self.seaweed
            .s3_endpoint
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }

    /// The registry stand-in's URL, without a trailing slash (`None` without one).
    pub fn registry_url(&self) -> Option<String> {
        let registry = self.registry.as_ref()?;
        Some(registry.url().as_str().trim_end_matches('/').to_owned())
    }

    /// The host flags trusting this issuer: `--jwks-url`, `--jwt-issuer`.
    pub fn auth_flags(&self) -> Vec<String> {
        vec![
            "--jwks-url".into(),
            self.jwks.jwks_url(),
            "--jwt-issuer".into(),
            self.issuer(),
        ]
    }
}
