//! A real Prometheus server (Debian's `prometheus`) scraping the host's metrics listener, and
//! queried through its HTTP API as a platform engineer's dashboards would query it.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::process::Child;

use crate::child::spawn_guarded;
use crate::ports::free_port;

const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// A Prometheus scraping one target every 200 ms; killed, and its data removed, on drop.
pub struct Prometheus {
    api: String,
    _child: Child,
    // Declared last, so it is removed after the server is killed.
    _data: tempfile::TempDir,
}

impl Prometheus {
    /// Starts `binary` scraping `target` (`host:port`, whose `/metrics` it reads).
    pub async fn start(binary: &Path, target: &str) -> Result<Self> {
        let data = tempfile::Builder::new()
            .prefix("quilt-mcp-prometheus-")
            .tempdir()?;
        let config = data.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: quilt-mcp\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )?;
        let listen = format!("127.0.0.1:{}", free_port());
        let mut command = tokio::process::Command::new(binary);
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                data.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={listen}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawn_guarded(&mut command)
            .with_context(|| format!("starting {}", binary.display()))?;
        let prometheus = Self {
            api: format!("http://{listen}/api/v1"),
            _child: child,
            _data: data,
        };
        prometheus.wait_until_ready(&listen).await?;
        Ok(prometheus)
    }

    async fn wait_until_ready(&self, listen: &str) -> Result<()> {
        let started = Instant::now();
        let url = format!("http://{listen}/-/ready");
        loop {
            if let Ok(response) = reqwest::get(&url).await
                && response.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > STARTUP_DEADLINE {
                bail!("Prometheus at {listen} was not ready within {STARTUP_DEADLINE:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The value of an instant PromQL query that yields one sample, or none when it yields
    /// no sample (yet).
    pub async fn query(&self, promql: &str) -> Result<Option<f64>> {
        let answer: Value = reqwest::Client::new()
            .get(format!("{}/query", self.api))
            .query(&[("query", promql)])
            .send()
            .await?
            .json()
            .await?;
        if answer["status"] != "success" {
            bail!("Prometheus refused {promql}: {answer}");
        }
        let Some(sample) = answer["data"]["result"].get(0) else {
            return Ok(None);
        };
        let value = sample["value"][1].as_str().context("a sample value")?;
        Ok(Some(value.parse()?))
    }

    /// Waits until `promql` yields `expected` (scrapes come every 200 ms), or fails with the
    /// last value seen.
    pub async fn wait_for(&self, promql: &str, expected: f64) -> Result<()> {
        let started = Instant::now();
        loop {
            let value = self.query(promql).await?;
            if value == Some(expected) {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(15) {
                bail!("{promql} is {value:?}, not {expected}, after 15 s of scrapes");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
