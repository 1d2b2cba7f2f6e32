//! A real SeaweedFS (`weed mini`: master, volume, filer and S3 in one process) on
//! loopback ports, with static identities so tests can sign S3 requests, and optionally STS
//! for web identities.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use url::Url;

use crate::child::spawn_guarded;
use crate::ports::{free_port, is_free, preferred_or_free};
use crate::s3::{S3Client, S3Credentials};
use crate::sts::WebIdentityTrust;

/// Full access to every bucket.
pub const ADMIN: S3Credentials = S3Credentials {
    access_key_id: "QMCPADMINKEY00000001",
    secret_access_key: "quilt-mcp-admin-secret",
};
/// Read and list on [`READ_ONLY_BUCKET`] only: anything else is AccessDenied.
pub const READER: S3Credentials = S3Credentials {
    access_key_id: "QMCPREADERKEY0000001",
    secret_access_key: "quilt-mcp-reader-secret",
};
/// The one bucket [`READER`] may read; created when the server starts.
pub const READ_ONLY_BUCKET: &str = "reader-visible";

/// What to start.
pub struct SeaweedOptions {
    /// Where the server keeps its data (created if missing).
    pub data_dir: PathBuf,
    /// Use this S3 port when it is free (the dev stack's well-known 8333); else any.
    pub preferred_s3_port: Option<u16>,
}

/// A running `weed mini`; killed when dropped.
pub struct SeaweedFs {
    /// e.g. `http://127.0.0.1:8333`
    pub s3_endpoint: Url,
    log_path: PathBuf,
    /// Every port it listens on, to find the Unix sockets it leaves behind.
    ports: Vec<u16>,
    child: Child,
}

const START_ATTEMPTS: usize = 3;
const READY_DEADLINE: Duration = Duration::from_secs(60);

impl SeaweedFs {
    /// Starts SeaweedFS and waits until its S3 API stores objects. A port taken between
    /// choosing and binding it makes `weed` exit: then it retries with new ports.
    pub async fn start(weed: &Path, options: &SeaweedOptions) -> Result<Self> {
        Self::start_configured(weed, options, None).await
    }

    /// Like [`Self::start`], plus STS answering `AssumeRoleWithWebIdentity` on the S3 port
    /// for the tokens and roles of `trust`. The static identities work as before.
    pub async fn start_with_sts(
        weed: &Path,
        options: &SeaweedOptions,
        trust: &WebIdentityTrust,
    ) -> Result<Self> {
        Self::start_configured(weed, options, Some(&trust.iam_config())).await
    }

    /// Like [`Self::start_with_sts`] with an IAM document built by the caller (e.g. a
    /// [`WebIdentityTrust::iam_config`] whose roles [`crate::sts::allow_writes`] widened).
    pub async fn start_with_iam(
        weed: &Path,
        options: &SeaweedOptions,
        iam: &Value,
    ) -> Result<Self> {
        Self::start_configured(weed, options, Some(iam)).await
    }

    async fn start_configured(
        weed: &Path,
        options: &SeaweedOptions,
        iam: Option<&Value>,
    ) -> Result<Self> {
        std::fs::create_dir_all(&options.data_dir)
            .with_context(|| format!("creating {}", options.data_dir.display()))?;
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(weed, options, iam).await {
                Ok(server) => return Ok(server),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    async fn start_once(
        weed: &Path,
        options: &SeaweedOptions,
        iam: Option<&Value>,
    ) -> Result<Self> {
        let config_path = options.data_dir.join("s3-identities.json");
        std::fs::write(&config_path, identities_config().to_string())?;
        let log_path = options.data_dir.join("weed.log");
        let log = std::fs::File::create(&log_path)?;
        let s3_port = options
            .preferred_s3_port
            .map_or_else(free_port, preferred_or_free);
        let mut ports = component_ports();
        ports.push(("s3.port", s3_port));
        let iam_flag = match iam {
            Some(iam) => {
                let iam_path = options.data_dir.join("s3-iam.json");
                std::fs::write(&iam_path, iam.to_string())?;
                Some(format!("-s3.iam.config={}", iam_path.display()))
            }
            None => None,
        };
        let mut command = Command::new(weed);
        command
            // Its own log files would otherwise go to /tmp; stderr goes to `log_path`.
            .arg("-logtostderr")
            .arg("mini")
            .arg(format!("-dir={}", options.data_dir.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .args([
                "-admin.ui=false",
                "-webdav=false",
                "-master.telemetry=false",
            ])
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            // Each bucket is a collection that takes several volumes at its first write, and
            // by default the volume count is capped by free disk / 128 MB: a suite creating a
            // few dozen buckets ran out on a disk with 46 GB free. Volumes are not
            // preallocated, so a high cap costs nothing until data is written.
            .arg("-volume.max=5000")
            .arg(format!("-s3.config={}", config_path.display()))
            .args(iam_flag)
            .args(ports.iter().map(|(flag, port)| format!("-{flag}={port}")))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child =
            spawn_guarded(&mut command).with_context(|| format!("starting {}", weed.display()))?;
        let mut server = Self {
            s3_endpoint: Url::parse(&format!("http://127.0.0.1:{s3_port}"))?,
            log_path,
            ports: listening_ports(&ports),
            child,
        };
        server.wait_until_ready().await?;
        Ok(server)
    }

    /// An S3 client with full access.
    pub fn admin(&self) -> S3Client {
        S3Client::new(self.s3_endpoint.clone(), ADMIN)
    }

    /// The last lines `weed` wrote, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Ready means a real write goes through: the S3 port answers before the volume
    /// server has registered, and early writes fail until it has.
    async fn wait_until_ready(&mut self) -> Result<()> {
        let admin = self.admin();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "weed exited with {status} while starting:\n{}",
                    self.log_tail()
                );
            }
            let created = admin.create_bucket(READ_ONLY_BUCKET).await;
            let written = match created {
                Ok(()) => admin
                    .put_object(
                        READ_ONLY_BUCKET,
                        "README.md",
                        b"readable by the reader identity".to_vec(),
                    )
                    .send()
                    .await
                    .map(|_| ()),
                Err(error) => Err(error),
            };
            match written {
                Ok(()) => return Ok(()),
                Err(error) if started.elapsed() > READY_DEADLINE => {
                    bail!(
                        "SeaweedFS did not accept a write within {READY_DEADLINE:?}: {error:#}\n{}",
                        self.log_tail()
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        // kill_on_drop would send the same signal; it is sent first here so the sockets
        // below are no longer in use when they go.
        let _ = self.child.start_kill();
        remove_unix_sockets(&self.ports);
    }
}

/// `weed` leaves a Unix socket per port in /tmp (`seaweedfs-<component>-<port>.sock`),
/// and no flag moves them all; remove the ones of the ports this server used.
fn remove_unix_sockets(ports: &[u16]) {
    let Ok(entries) = std::fs::read_dir("/tmp") else {
        return;
    };
    let suffixes: Vec<String> = ports.iter().map(|port| format!("-{port}.sock")).collect();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("seaweedfs-") && suffixes.iter().any(|suffix| name.ends_with(suffix)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The admin server's gRPC port is always its HTTP port + this; no flag changes it.
const ADMIN_GRPC_OFFSET: u16 = 10_000;

/// The ports of `flags` plus the admin gRPC port they imply.
fn listening_ports(flags: &[(&str, u16)]) -> Vec<u16> {
    let admin_grpc = flags
        .iter()
        .filter(|(flag, _)| *flag == "admin.port")
        .map(|(_, port)| port + ADMIN_GRPC_OFFSET);
    flags
        .iter()
        .map(|(_, port)| *port)
        .chain(admin_grpc)
        .collect()
}

/// Every port `weed mini` would otherwise take at its fixed defaults, so that runs
/// (and a developer's own SeaweedFS) never collide.
fn component_ports() -> Vec<(&'static str, u16)> {
    let admin_port = loop {
        let port = free_port();
        // Its implied gRPC port must stay below the ephemeral range too (see `ports`).
        if port + ADMIN_GRPC_OFFSET < 32_768 && is_free(port + ADMIN_GRPC_OFFSET) {
            break port;
        }
    };
    [
        ("master.port", free_port()),
        ("master.port.grpc", free_port()),
        ("volume.port", free_port()),
        ("volume.port.grpc", free_port()),
        ("filer.port", free_port()),
        ("filer.port.grpc", free_port()),
        ("s3.port.grpc", free_port()),
        ("admin.port", admin_port),
    ]
    .into()
}

fn identities_config() -> serde_json::Value {
    json!({"identities": [
        {
            "name": "admin",
            "credentials": [{"accessKey": ADMIN.access_key_id, "secretKey": ADMIN.secret_access_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        },
        {
            "name": "reader",
            "credentials": [{"accessKey": READER.access_key_id, "secretKey": READER.secret_access_key}],
            "actions": [format!("Read:{READ_ONLY_BUCKET}"), format!("List:{READ_ONLY_BUCKET}")],
        },
    ]})
}
