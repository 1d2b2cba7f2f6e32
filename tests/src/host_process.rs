//! The `quilt-mcp` host as a child process: `serve` on an OS-chosen port, its address
//! read from the first stdout line, its logs captured for assertions.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::child::spawn_guarded;

const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
const LOG_DEADLINE: Duration = Duration::from_secs(10);
const LISTENING_PREFIX: &str = "listening on ";

/// Everything the host printed, shared with the tasks that read its pipes.
#[derive(Clone, Default)]
pub struct HostLog {
    text: Arc<Mutex<String>>,
    /// Also copy each line to our stderr (the dev stack shows the host's log live).
    echo: bool,
}

impl HostLog {
    pub fn text(&self) -> String {
        self.text.lock().expect("not poisoned").clone()
    }

    fn push_line(&self, line: &str) {
        if self.echo {
            eprintln!("{line}");
        }
        let mut text = self.text.lock().expect("not poisoned");
        text.push_str(line);
        text.push('\n');
    }
}

/// How to run `quilt-mcp serve`.
pub struct HostLaunch<'a> {
    pub host_bin: &'a Path,
    pub guest: &'a Path,
    /// `--listen`; port 0 lets the OS choose.
    pub listen: &'a str,
    /// Every other flag.
    pub args: &'a [String],
    /// Variables set for the host on top of the inherited environment (e.g. a planted HOME).
    pub env: &'a [(String, String)],
    pub echo_logs: bool,
}

/// A running host; killed when dropped.
pub struct HostProcess {
    base_url: String,
    log: HostLog,
    _child: Child,
}

impl HostProcess {
    /// Runs `quilt-mcp serve --listen LISTEN --guest GUEST ARGS...` and waits until it
    /// has printed its address and answers `/healthz`.
    ///
    /// The child gets no `QUILT_MCP_*` or `AWS_*` variables from this environment: its
    /// configuration is exactly the launch's flags (and `env`, where a test plants some).
    pub async fn start(launch: HostLaunch<'_>) -> Result<Self> {
        let host_bin = launch.host_bin;
        let mut command = Command::new(host_bin);
        command
            .args(["serve", "--listen", launch.listen, "--guest"])
            .arg(launch.guest)
            .args(launch.args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars_os() {
            if is_configuration_variable(&name) {
                command.env_remove(name);
            }
        }
        command.envs(launch.env.iter().map(|(name, value)| (name, value)));
        let mut child = spawn_guarded(&mut command)
            .with_context(|| format!("starting {}", host_bin.display()))?;
        let log = HostLog {
            echo: launch.echo_logs,
            ..HostLog::default()
        };
        tokio::spawn(copy_lines(
            child.stderr.take().expect("piped"),
            log.clone(),
            None,
        ));
        let (address_sender, address_receiver) = tokio::sync::oneshot::channel();
        tokio::spawn(copy_lines(
            child.stdout.take().expect("piped"),
            log.clone(),
            Some(address_sender),
        ));

        let base_url = match tokio::time::timeout(STARTUP_DEADLINE, address_receiver).await {
            Ok(Ok(url)) => url,
            Ok(Err(_)) => bail!(
                "quilt-mcp exited without printing `{LISTENING_PREFIX}URL`:\n{}",
                log.text()
            ),
            Err(_) => bail!(
                "quilt-mcp printed no `{LISTENING_PREFIX}URL` within {STARTUP_DEADLINE:?}:\n{}",
                log.text()
            ),
        };
        let host = Self {
            base_url,
            log,
            _child: child,
        };
        host.wait_until_healthy().await?;
        Ok(host)
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The MCP endpoint, which is also the default token audience.
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base_url)
    }

    pub fn log(&self) -> HostLog {
        self.log.clone()
    }

    /// Waits until the host has logged a line containing `needle` (log lines reach us
    /// asynchronously, a little after the response that caused them).
    pub async fn wait_for_log(&self, needle: &str) -> Result<()> {
        let started = Instant::now();
        while !self.log.text().contains(needle) {
            if started.elapsed() > LOG_DEADLINE {
                bail!(
                    "the host never logged {needle:?}; its log:\n{}",
                    self.log.text()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    async fn wait_until_healthy(&self) -> Result<()> {
        let url = format!("{}/healthz", self.base_url);
        let started = Instant::now();
        loop {
            match reqwest::get(&url).await {
                Ok(response) if response.status().is_success() => return Ok(()),
                _ if started.elapsed() > STARTUP_DEADLINE => {
                    bail!(
                        "{url} did not answer 200 within {STARTUP_DEADLINE:?}:\n{}",
                        self.log.text()
                    )
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

fn is_configuration_variable(name: &OsString) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("QUILT_MCP_") || name.starts_with("AWS_")
}

/// Appends every line of `pipe` to `log`; the first `listening on URL` line is also
/// sent to `address`.
async fn copy_lines(
    pipe: impl AsyncRead + Unpin,
    log: HostLog,
    mut address: Option<tokio::sync::oneshot::Sender<String>>,
) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(url) = line.strip_prefix(LISTENING_PREFIX)
            && let Some(sender) = address.take()
        {
            let _ = sender.send(url.trim().trim_end_matches('/').to_string());
        }
        log.push_line(&line);
    }
}
