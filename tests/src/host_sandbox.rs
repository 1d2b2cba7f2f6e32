//! How the harness runs `quilt-mcp`: directly, or as a read-only deployment under bubblewrap —
//! the local equivalent of a container started with `--read-only`.
//!
//! `make test` runs the end-to-end suite once each way: every host the suite starts then finds
//! the whole filesystem read-only, a private empty tmpfs at `/tmp` and `HOME=/tmp`, so any write
//! elsewhere fails loudly instead of passing unnoticed.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tokio::process::Command;

/// `bwrap` selects the read-only deployment; unset or empty runs hosts directly.
pub const SANDBOX_VARIABLE: &str = "QUILT_MCP_HOST_SANDBOX";

/// Where the read-only deployment's one writable filesystem is mounted.
pub const WRITABLE_DIR: &str = "/tmp";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostSandbox {
    Direct,
    /// Under `bwrap`: read-only root, `/dev` and `/proc`; a private tmpfs at `/tmp`; its own
    /// PID, IPC and UTS namespaces; no capabilities. The network is shared, since tests and
    /// the services the host calls (SeaweedFS, JWKS, STS) are on loopback.
    Bwrap,
}

impl HostSandbox {
    pub fn from_env() -> Result<Self> {
        match std::env::var(SANDBOX_VARIABLE).as_deref() {
            Err(std::env::VarError::NotPresent) | Ok("") => Ok(Self::Direct),
            Ok("bwrap") => Ok(Self::Bwrap),
            _ => bail!("{SANDBOX_VARIABLE} must be `bwrap` or unset"),
        }
    }

    /// A command running `host_bin` with the variables of `env` added and none of the
    /// harness's `QUILT_MCP_*` or `AWS_*` ones: its configuration is exactly what a test gives.
    ///
    /// Sandboxed, the private `/tmp` would hide what a test wrote there for the host: so each
    /// of `mentioned` (the guest, every argument) and `host_bin` that names an existing file or
    /// directory under `/tmp` — a guest, a key file — stays visible at its path, read-only. A `HOME` in `env` (a
    /// test's planted home) stays the host's home the same way; otherwise HOME is `/tmp`.
    pub fn command(
        self,
        host_bin: &Path,
        mentioned: &[&OsStr],
        env: &[(String, String)],
    ) -> Command {
        let mut command = match self {
            Self::Direct => Command::new(host_bin),
            Self::Bwrap => {
                let planted_home = env
                    .iter()
                    .find(|(name, _)| name == "HOME")
                    .map(|(_, home)| PathBuf::from(home));
                // The binary is mentioned too: a build directory under /tmp (as when HOME is
                // /tmp) must stay visible to bwrap's exec.
                let mentioned: Vec<&OsStr> = std::iter::once(host_bin.as_os_str())
                    .chain(mentioned.iter().copied())
                    .collect();
                let mut command = Command::new("bwrap");
                command.args(bwrap_args(&mentioned, planted_home.as_deref()));
                command.arg("--").arg(host_bin);
                command
            }
        };
        for (name, _) in std::env::vars_os() {
            if is_configuration_variable(&name) {
                command.env_remove(name);
            }
        }
        command.envs(env.iter().map(|(name, value)| (name, value)));
        command
    }

    /// Why starting the host failed, with the fix when bubblewrap itself is missing.
    pub fn spawn_context(self, host_bin: &Path) -> String {
        match self {
            Self::Direct => format!("starting {}", host_bin.display()),
            Self::Bwrap => format!(
                "starting {} under bwrap ({SANDBOX_VARIABLE}=bwrap; `make test` installs Debian's bubblewrap)",
                host_bin.display()
            ),
        }
    }
}

/// The read-only deployment, grouped by purpose (one group a line).
#[rustfmt::skip]
const BWRAP_BASE: &[&str] = &[
    // Everything read-only, submounts included.
    "--ro-bind", "/", "/",
    // Fresh /dev and /proc, read-only too: bwrap leaves a fresh /proc/sys writable to root.
    "--dev", "/dev", "--remount-ro", "/dev",
    "--proc", "/proc", "--remount-ro", "/proc",
    // The one writable place: private, empty, in memory.
    "--tmpfs", WRITABLE_DIR,
    // Its own processes, IPC and host name; the network stays shared (loopback services).
    "--unshare-pid", "--unshare-ipc", "--unshare-uts",
    // Root without capabilities cannot remount anything writable again.
    "--cap-drop", "ALL",
    // Dies with the harness's handle on it.
    "--die-with-parent",
];

fn bwrap_args(mentioned: &[&OsStr], planted_home: Option<&Path>) -> Vec<String> {
    let mut args = strings(BWRAP_BASE);
    // `--flag=value` arguments mention a path after the `=`.
    let values = mentioned.iter().map(|arg| {
        let arg = arg.to_string_lossy();
        let value = arg.split_once('=').map_or(&*arg, |(_, value)| value);
        PathBuf::from(value)
    });
    let mut bound: Vec<PathBuf> = Vec::new();
    for path in values.chain(planted_home.map(Path::to_path_buf)) {
        if path.starts_with(WRITABLE_DIR) && path.exists() && !bound.contains(&path) {
            let text = path.display().to_string();
            args.extend(["--ro-bind".into(), text.clone(), text]);
            bound.push(path);
        }
    }
    if planted_home.is_none() {
        args.extend(strings(&["--setenv", "HOME", WRITABLE_DIR]));
    }
    args
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| value.to_string()).collect()
}

fn is_configuration_variable(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("QUILT_MCP_") || name.starts_with("AWS_")
}

/// The PID of the process running `exe` at or below `root` (the host itself, when `root` is
/// its bwrap wrapper), found through every process's parent in `/proc`.
pub fn find_process(root: u32, exe: &Path) -> Result<u32> {
    let exe = exe
        .canonicalize()
        .with_context(|| format!("resolving {}", exe.display()))?;
    let parents = parent_pids()?;
    let mut pending = vec![root];
    while let Some(pid) = pending.pop() {
        if std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|path| path == exe) {
            return Ok(pid);
        }
        pending.extend(
            parents
                .iter()
                .filter(|(_, parent)| *parent == pid)
                .map(|(child, _)| *child),
        );
    }
    bail!(
        "no process running {} at or below PID {root}",
        exe.display()
    )
}

/// (pid, parent pid) of every process.
fn parent_pids() -> Result<Vec<(u32, u32)>> {
    let mut pairs = Vec::new();
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse().ok())
        else {
            continue;
        };
        // The process may have exited since the listing; skip it.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split after the last `)`.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|field| field.parse().ok());
        if let Some(parent) = parent {
            pairs.push((pid, parent));
        }
    }
    Ok(pairs)
}
