//! The `quilt-mcp` host as a child process: `serve` on an OS-chosen port, its address
//! read from the first stdout line, its logs captured for assertions.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;

use crate::child::spawn_guarded;
use crate::host_sandbox::{HostSandbox, find_process};

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
    host_bin: PathBuf,
    /// The host, or the bwrap process wrapping it.
    child: Child,
}

impl HostProcess {
    /// Runs `quilt-mcp serve --listen LISTEN --guest GUEST ARGS...` the way
    /// `QUILT_MCP_HOST_SANDBOX` says (see [`HostSandbox`]) and waits until it has printed its
    /// address and answers `/healthz`.
    pub async fn start(launch: HostLaunch<'_>) -> Result<Self> {
        Self::start_in(HostSandbox::from_env()?, launch).await
    }

    /// Like [`Self::start`], run as `sandbox` says whatever the environment says.
    ///
    /// The child gets no `QUILT_MCP_*` or `AWS_*` variables from this environment: its
    /// configuration is exactly the launch's flags (and `env`, where a test plants some).
    pub async fn start_in(sandbox: HostSandbox, launch: HostLaunch<'_>) -> Result<Self> {
        let host_bin = launch.host_bin;
        let mentioned: Vec<&OsStr> = std::iter::once(launch.guest.as_os_str())
            .chain(launch.args.iter().map(OsStr::new))
            .collect();
        let mut command = sandbox.command(host_bin, &mentioned, launch.env);
        command
            .args(["serve", "--listen", launch.listen, "--guest"])
            .arg(launch.guest)
            .args(launch.args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child =
            spawn_guarded(&mut command).with_context(|| sandbox.spawn_context(host_bin))?;
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
            host_bin: host_bin.to_path_buf(),
            child,
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

    /// The PID of the `quilt-mcp` process itself, wrapped or not.
    pub fn server_pid(&self) -> Result<u32> {
        let child = self.child.id().context("the host has exited")?;
        find_process(child, &self.host_bin)
    }

    /// Sends SIGTERM to the host, without waiting.
    pub fn sigterm(&self) -> Result<()> {
        let pid = libc::pid_t::try_from(self.server_pid()?)?;
        // SAFETY: kill only sends a signal to the host process this harness started.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            bail!("kill {pid}: {}", std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sends SIGTERM to the host and waits, up to `within`, for it to exit.
    pub async fn terminate(&mut self, within: Duration) -> Result<std::process::ExitStatus> {
        self.sigterm()?;
        self.wait_for_exit(within).await
    }

    /// Waits, up to `within`, for the host to exit after a SIGTERM.
    pub async fn wait_for_exit(&mut self, within: Duration) -> Result<std::process::ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .with_context(|| format!("the host was still running {within:?} after SIGTERM"))?
            .context("waiting for the host to exit")
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

    /// Waits until `/readyz` answers 503, as it does from SIGTERM on (`--shutdown-delay-secs`).
    pub async fn wait_until_not_ready(&self) -> Result<()> {
        let url = format!("{}/readyz", self.base_url);
        let started = Instant::now();
        while reqwest::get(&url).await?.status() != 503 {
            if started.elapsed() > LOG_DEADLINE {
                bail!("{url} still answered ready after {LOG_DEADLINE:?}");
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
