//! What every trial shares: one SeaweedFS, one token issuer with its JWKS server, the
//! built artifacts — started lazily by the first trial and stopped after the last —
//! and per trial a `Scenario` that starts hosts and reports their logs on failure.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow};
use libtest_mimic::{Failed, Trial};
use quilt_mcp_tests::artifacts::path_from_env;
use quilt_mcp_tests::host_process::{HostLaunch, HostLog, HostProcess};
use quilt_mcp_tests::identity::standard_claims;
use quilt_mcp_tests::jwks_server::JwksServer;
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::s3::S3Client;
use quilt_mcp_tests::seaweedfs::{ADMIN, SeaweedFs, SeaweedOptions};
use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::OnceCell;

/// This crate's directory, read when the suite runs rather than when it was built: clones
/// sharing one target directory (a CI clone and a working copy) reuse the same binary.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
}

/// The `kid` of the shared issuer's key.
pub const KID: &str = "e2e-key-1";
/// The subject of the tokens tests mint unless they say otherwise.
pub const SUBJECT: &str = "alice@example.com";

/// The shared [`quilt_mcp_tests::stack::Stack`] (SeaweedFS, issuer, JWKS server, artifacts),
/// plus the misbehaving test guest and a counter for bucket names no two trials share.
pub struct Stack {
    stack: quilt_mcp_tests::stack::Stack,
    /// `tests/hostile-guest`, built by `make build` for the tests only.
    pub hostile_guest: PathBuf,
    bucket_counter: AtomicUsize,
}

impl Stack {
    async fn start() -> Result<Self> {
        let stack = quilt_mcp_tests::stack::Stack::builder(KID)
            .temp_data_dir("quilt-mcp-e2e-")
            .start()
            .await?;
        Ok(Self {
            stack,
            hostile_guest: path_from_env("QUILT_MCP_HOSTILE_WASM")?,
            bucket_counter: AtomicUsize::new(0),
        })
    }
}

impl Deref for Stack {
    type Target = quilt_mcp_tests::stack::Stack;

    fn deref(&self) -> &Self::Target {
        &self.stack
    }
}

/// The shared stack, started on first use (so `--list` or a filter matching nothing
/// starts nothing). A failed start fails every trial with the same message.
#[derive(Default)]
pub struct SharedStack(OnceCell<Result<Stack, String>>);

impl SharedStack {
    pub async fn get(&self) -> Result<&Stack> {
        let started = self
            .0
            .get_or_init(|| async { Stack::start().await.map_err(|error| format!("{error:#}")) })
            .await;
        started
            .as_ref()
            .map_err(|error| anyhow!("the shared test stack did not start: {error}"))
    }
}

/// Which component a host runs.
#[derive(Clone, Copy)]
pub enum Guest {
    /// The real tools guest.
    Tools,
    /// `tests/hostile-guest`.
    Hostile,
}

/// The flags of a host to start, grouped so a test can replace one group.
pub struct HostSpec {
    pub guest: Guest,
    pub auth: Vec<String>,
    pub credentials: Vec<String>,
    pub extra: Vec<String>,
    /// Environment variables for the host process.
    pub env: Vec<(String, String)>,
}

/// A SeaweedFS of one trial's own, for STS set-ups: STS reads the issuer's JWKS and the roles
/// when it starts, so the shared server cannot serve them. Stopped, and its data removed, on drop.
pub struct OwnSeaweed {
    server: SeaweedFs,
    // Declared last so it is removed after the server has been killed.
    _data_dir: tempfile::TempDir,
}

impl Deref for OwnSeaweed {
    type Target = SeaweedFs;

    fn deref(&self) -> &SeaweedFs {
        &self.server
    }
}

/// One trial's view of the stack.
pub struct Scenario<'a> {
    pub stack: &'a Stack,
    host_logs: Mutex<Vec<HostLog>>,
}

impl Scenario<'_> {
    /// Default host flags: JWKS auth against the shared issuer, S3 at SeaweedFS with
    /// the admin identity as static credentials.
    pub fn spec(&self, guest: Guest) -> HostSpec {
        HostSpec {
            guest,
            auth: self.stack.auth_flags(),
            credentials: ADMIN.static_source_flags(),
            extra: Vec::new(),
            env: Vec::new(),
        }
    }

    pub async fn start(&self, spec: HostSpec) -> Result<HostProcess> {
        self.start_on(spec, "127.0.0.1:0").await
    }

    /// Like [`Self::start`], listening on `listen` (a replica restarted on its own port).
    pub async fn start_on(&self, spec: HostSpec, listen: &str) -> Result<HostProcess> {
        self.launch(spec, listen, &self.stack.s3_endpoint()).await
    }

    /// Like [`Self::start`], with S3 at `s3_endpoint` (a proxy in front of SeaweedFS).
    pub async fn start_with_s3(&self, spec: HostSpec, s3_endpoint: &str) -> Result<HostProcess> {
        self.launch(spec, "127.0.0.1:0", s3_endpoint).await
    }

    async fn launch(&self, spec: HostSpec, listen: &str, s3_endpoint: &str) -> Result<HostProcess> {
        let guest: &PathBuf = match spec.guest {
            Guest::Tools => &self.stack.artifacts.guest,
            Guest::Hostile => &self.stack.hostile_guest,
        };
        let mut flags = args(&["--s3-endpoint", s3_endpoint]);
        flags.extend(spec.auth);
        flags.extend(spec.credentials);
        flags.extend(spec.extra);
        let launch = HostLaunch {
            host_bin: &self.stack.artifacts.host_bin,
            guest,
            listen,
            args: &flags,
            env: &spec.env,
            echo_logs: false,
        };
        let host = HostProcess::start(launch).await?;
        self.host_logs
            .lock()
            .expect("not poisoned")
            .push(host.log());
        Ok(host)
    }

    /// A host with the default flags.
    pub async fn host(&self, guest: Guest) -> Result<HostProcess> {
        self.start(self.spec(guest)).await
    }

    /// A hostile-guest host trusting `jwks_server`'s keys (its origin as the issuer), with
    /// `extra` flags (e.g. how often it may refetch them).
    pub async fn host_trusting(
        &self,
        jwks_server: &JwksServer,
        extra: &[&str],
    ) -> Result<HostProcess> {
        let mut spec = self.spec(Guest::Hostile);
        spec.auth = args(&[
            "--jwks-url",
            &jwks_server.jwks_url(),
            "--jwt-issuer",
            &jwks_server.origin(),
        ]);
        spec.extra = args(extra);
        self.start(spec).await
    }

    /// Valid claims for [`SUBJECT`] on `host` (its MCP URL is the default audience).
    pub fn claims(&self, host: &HostProcess) -> Value {
        standard_claims(&self.stack.issuer(), &host.mcp_url(), SUBJECT)
    }

    pub fn token(&self, host: &HostProcess) -> String {
        self.stack.identity.sign(&self.claims(host))
    }

    /// A client carrying a valid token for `host`.
    pub fn client(&self, host: &HostProcess) -> McpClient {
        McpClient::new(&host.mcp_url(), Some(self.token(host)))
    }

    pub fn admin(&self) -> S3Client {
        self.stack.seaweed.admin()
    }

    /// Starts a SeaweedFS for this trial alone with the `-s3.iam.config` document `iam` (e.g.
    /// [`quilt_mcp_tests::sts::WebIdentityTrust::iam_config`]).
    pub async fn own_seaweed(&self, iam: &Value) -> Result<OwnSeaweed> {
        let data_dir = tempfile::Builder::new()
            .prefix("quilt-mcp-own-seaweed-")
            .tempdir()?;
        let options = SeaweedOptions {
            data_dir: data_dir.path().to_path_buf(),
            preferred_s3_port: None,
        };
        let server = SeaweedFs::start_with_iam(&self.stack.artifacts.weed, &options, iam).await?;
        Ok(OwnSeaweed {
            server,
            _data_dir: data_dir,
        })
    }

    /// Creates a bucket no other trial uses.
    pub async fn bucket(&self, label: &str) -> Result<String> {
        let number = self.stack.bucket_counter.fetch_add(1, Ordering::SeqCst);
        let name = format!("e2e-{label}-{number}");
        self.admin().create_bucket(&name).await?;
        Ok(name)
    }
}

pub fn args(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| value.to_string()).collect()
}

/// What each module's `trials()` returns its trials to.
pub type TrialList = fn(&Handle, &Arc<SharedStack>) -> Vec<Trial>;

/// Declares the calling module's `pub fn trials(..) -> Vec<Trial>` (a [`TrialList`]) with one
/// trial per named test fn, named `module::test` (the module from `module_path!`, without the
/// crate), so names cannot drift from where the test lives. Invoked once in each module, next
/// to its tests: a test fn left out of the list is never used, and `#![deny(dead_code)]` on
/// the e2e crate turns that into a build error; main.rs does the same for a module whose list
/// it does not join.
macro_rules! trials {
    ($($test:ident),* $(,)?) => {
        /// This module's trials.
        pub fn trials(
            runtime: &tokio::runtime::Handle,
            stack: &std::sync::Arc<crate::support::SharedStack>,
        ) -> Vec<libtest_mimic::Trial> {
            let module = crate::support::module_name(module_path!());
            vec![$(crate::support::trial(&format!("{module}::{}", stringify!($test)), $test, runtime, stack)),*]
        }
    };
}
pub(crate) use trials;

/// `e2e::auth` → `auth`: trial names leave out the test binary's crate name.
pub fn module_name(path: &str) -> &str {
    path.split_once("::").map_or(path, |(_, module)| module)
}

/// A libtest-mimic trial running `test` on the shared runtime; a failure carries the
/// logs of the hosts the trial started and the end of the shared SeaweedFS's log.
pub fn trial<T>(name: &str, test: T, runtime: &Handle, stack: &Arc<SharedStack>) -> Trial
where
    T: AsyncFn(&Scenario) -> Result<()> + Send + 'static,
{
    let (runtime, stack) = (runtime.clone(), stack.clone());
    Trial::test(name, move || {
        runtime.block_on(async {
            let scenario = Scenario {
                stack: stack
                    .get()
                    .await
                    .map_err(|error| Failed::from(format!("{error:#}")))?,
                host_logs: Mutex::default(),
            };
            test(&scenario).await.map_err(|error| {
                let logs: Vec<String> = scenario
                    .host_logs
                    .lock()
                    .expect("not poisoned")
                    .iter()
                    .map(HostLog::text)
                    .collect();
                Failed::from(format!(
                    "{error:#}\n--- host logs ---\n{}\n--- SeaweedFS log (last lines) ---\n{}",
                    logs.join("\n---\n"),
                    scenario.stack.seaweed.log_tail()
                ))
            })
        })
    })
}
