//! The Athena + Glue stand-in (`tests/athena-standin`, Python on DataFusion) as a child
//! process: configured with a SeaweedFS's S3 endpoint and its STS signing key (so it can prove
//! each caller and act as them), Glue databases and tables, workgroups, and optionally a
//! Tabulator catalog read from a registry stand-in.
//!
//! ```ignore
//! let athena = AthenaStandin::start(&config).await?;   // athena.url()
//! ```

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::artifacts::path_from_env;
use crate::child::spawn_guarded;
use crate::s3::REGION;

/// How long the stand-in may take to import DataFusion and listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The `-s3.iam.config` document's STS settings, which the stand-in checks tokens with.
pub fn sts_of(iam: &Value) -> Value {
    json!({"issuer": iam["sts"]["issuer"], "signing_key": iam["sts"]["signingKey"]})
}

/// A Glue table over every file under `location` (`s3://bucket/prefix/`), in CSV with a header.
pub fn csv_table(location: &str, columns: &[(&str, &str)]) -> Value {
    let columns: Vec<Value> = columns
        .iter()
        .map(|(name, kind)| json!({"name": name, "type": kind}))
        .collect();
    json!({"location": location, "format": "csv", "columns": columns, "header": true})
}

pub struct AthenaStandin {
    url: String,
    _child: Child,
    _config: tempfile::NamedTempFile,
}

impl AthenaStandin {
    /// Starts the stand-in with `config` (see tests/athena-standin/README.md); `listen`,
    /// `region` and the S3 endpoint default to a free loopback port, [`REGION`] and `s3`.
    pub async fn start(s3_endpoint: &str, mut config: Value) -> Result<Self> {
        config["listen"] = json!("127.0.0.1:0");
        config["region"] = json!(REGION);
        config["s3_endpoint"] = json!(s3_endpoint.trim_end_matches('/'));
        let file = tempfile::NamedTempFile::new()?;
        std::fs::write(file.path(), config.to_string())?;
        let python = path_from_env("QUILT_MCP_ATHENA_PYTHON")?;
        let mut command = Command::new(python);
        command
            .arg("-m")
            .arg("standin")
            .arg("--config")
            .arg(file.path())
            .current_dir(standin_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = spawn_guarded(&mut command).context("starting the Athena stand-in")?;
        let stdout = child.stdout.take().context("the stand-in's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(START_TIMEOUT, lines.next_line())
            .await
            .context("the Athena stand-in did not start in time")??;
        let Some(url) =
            first.and_then(|line| line.strip_prefix("listening on ").map(str::to_owned))
        else {
            bail!("the Athena stand-in exited before listening");
        };
        Ok(Self {
            url,
            _child: child,
            _config: file,
        })
    }

    /// `http://127.0.0.1:PORT`, the endpoint of both Athena and Glue.
    pub fn url(&self) -> &str {
        &self.url
    }
}

fn standin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("athena-standin")
}
