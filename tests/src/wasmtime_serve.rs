//! `wasmtime serve` (the upstream wasmtime-cli release, installed by the Makefile) running a standalone
//! component — the adapter composed in front of a guest — with runtime configuration
//! variables, on an OS-chosen loopback port; its output is kept for assertions.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::artifacts::path_from_env;
use crate::child::spawn_guarded;

/// What the standalone trials run, as the Makefile exports it: read only by those trials,
/// so the rest of the suite runs without them.
pub struct StandaloneArtifacts {
    /// The `wasmtime` binary of wasmtime-cli.
    pub wasmtime: PathBuf,
    /// The adapter composed in front of the tools guest, for `wasmtime serve`.
    pub tools: PathBuf,
    /// The adapter composed in front of `tests/hostile-guest`.
    pub hostile: PathBuf,
}

impl StandaloneArtifacts {
    pub fn from_env() -> Result<Self> {
        Ok(Self {
            wasmtime: path_from_env("QUILT_MCP_WASMTIME")?,
            tools: path_from_env("QUILT_MCP_STANDALONE_WASM")?,
            hostile: path_from_env("QUILT_MCP_HOSTILE_STANDALONE_WASM")?,
        })
    }
}

/// Compiling the component with Cranelift is most of the start-up (2–3 s here).
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
const SERVING_PREFIX: &str = "Serving HTTP on ";

/// A running `wasmtime serve`; killed when dropped.
pub struct WasmtimeServe {
    base_url: String,
    output: Arc<Mutex<String>>,
    _child: Child,
}

impl WasmtimeServe {
    /// `wasmtime serve -S cli -S config -S config-var=KEY=VALUE… COMPONENT`: `-S cli` links
    /// the wasi:cli and wasi:filesystem parts Rust's standard library imports (without it
    /// only the wasi:http proxy world is there), `-S config` the configuration store.
    /// `-O pooling-allocator=n`: `serve`'s pooling allocator reserves address space for
    /// hundreds of instances at start, which one trial's component does not need.
    pub async fn start(
        wasmtime: &Path,
        component: &Path,
        config: &[(&str, String)],
    ) -> Result<Self> {
        let mut command = Command::new(wasmtime);
        command
            .args([
                "serve",
                "-O",
                "pooling-allocator=n",
                "-S",
                "cli",
                "-S",
                "config",
            ])
            .args(["--addr", "127.0.0.1:0"])
            .args(
                config.iter().flat_map(|(key, value)| {
                    ["-S".to_owned(), format!("config-var={key}={value}")]
                }),
            )
            .arg(component)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawn_guarded(&mut command)
            .with_context(|| format!("starting {}", wasmtime.display()))?;
        let output = Arc::new(Mutex::new(String::new()));
        let (address_sender, address_receiver) = tokio::sync::oneshot::channel();
        tokio::spawn(copy_lines(
            child.stdout.take().expect("piped"),
            output.clone(),
            None,
        ));
        tokio::spawn(copy_lines(
            child.stderr.take().expect("piped"),
            output.clone(),
            Some(address_sender),
        ));
        let text = |output: &Arc<Mutex<String>>| output.lock().expect("not poisoned").clone();
        let base_url = match tokio::time::timeout(STARTUP_DEADLINE, address_receiver).await {
            Ok(Ok(url)) => url,
            Ok(Err(_)) => bail!(
                "wasmtime serve exited without printing `{SERVING_PREFIX}URL`:\n{}",
                text(&output)
            ),
            Err(_) => bail!(
                "wasmtime serve printed no `{SERVING_PREFIX}URL` within {STARTUP_DEADLINE:?}:\n{}",
                text(&output)
            ),
        };
        Ok(Self {
            base_url,
            output,
            _child: child,
        })
    }

    /// `http://127.0.0.1:PORT`; the component sees every path, `/mcp` included.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base_url)
    }

    /// Everything wasmtime and the component printed so far (the component's stderr
    /// lines carry wasmtime's `stderr [N] ::` prefix).
    pub fn output(&self) -> String {
        self.output.lock().expect("not poisoned").clone()
    }

    /// Waits until the output contains `needle`: lines arrive a little after the
    /// response of the request that printed them.
    pub async fn wait_for_output(&self, needle: &str) -> Result<()> {
        let started = Instant::now();
        while !self.output().contains(needle) {
            if started.elapsed() > Duration::from_secs(10) {
                bail!(
                    "wasmtime serve never printed {needle:?}; its output:\n{}",
                    self.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

/// Appends every line of `pipe` to `output`; the address of the first `Serving HTTP on
/// URL` line goes to `address`.
async fn copy_lines(
    pipe: impl AsyncRead + Unpin,
    output: Arc<Mutex<String>>,
    mut address: Option<tokio::sync::oneshot::Sender<String>>,
) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(url) = line.strip_prefix(SERVING_PREFIX)
            && let Some(sender) = address.take()
        {
            let _ = sender.send(url.trim().trim_end_matches('/').to_owned());
        }
        let mut output = output.lock().expect("not poisoned");
        output.push_str(&line);
        output.push('\n');
    }
}
