//! The read-only deployment, checked from outside on a running host. `make test`'s second pass
//! runs every trial's host this way (`QUILT_MCP_HOST_SANDBOX=bwrap`); this trial starts one so
//! in both passes and proves the wrapper really is what that pass relies on: the host serves S3
//! work while everything but its private `/tmp` refuses writes, and it holds no capabilities.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use quilt_mcp_tests::host_process::{HostLaunch, HostProcess};
use quilt_mcp_tests::host_sandbox::{HostSandbox, WRITABLE_DIR};
use quilt_mcp_tests::identity::standard_claims;
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::sandbox_report::Attempt;
use quilt_mcp_tests::seaweedfs::{ADMIN, READ_ONLY_BUCKET};
use serde_json::json;

use crate::support::{SUBJECT, Scenario, args};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![bwrap_host_writes_only_its_private_tmp,];

const EXPECTED_REFUSAL: &str = "refused: read-only file system";

pub async fn bwrap_host_writes_only_its_private_tmp(scenario: &Scenario<'_>) -> Result<()> {
    let stack = scenario.stack;
    let mut flags = args(&[
        "--s3-endpoint",
        stack.seaweed.s3_endpoint.as_str().trim_end_matches('/'),
        "--jwks-url",
        &stack.jwks.jwks_url(),
        "--jwt-issuer",
        &stack.issuer(),
    ]);
    flags.extend(ADMIN.static_source_flags());
    let launch = HostLaunch {
        host_bin: &stack.artifacts.host_bin,
        guest: &stack.artifacts.guest,
        listen: "127.0.0.1:0",
        args: &flags,
        env: &[],
        echo_logs: false,
    };
    let host = HostProcess::start_in(HostSandbox::Bwrap, launch).await?;
    let log = host.log();
    checks(scenario, &host)
        .await
        .with_context(|| format!("--- host log ---\n{}", log.text()))
}

async fn checks(scenario: &Scenario<'_>, host: &HostProcess) -> Result<()> {
    let claims = standard_claims(&scenario.stack.issuer(), &host.mcp_url(), SUBJECT);
    let client = McpClient::new(&host.mcp_url(), Some(scenario.stack.identity.sign(&claims)));
    let attempt = Attempt::new(
        "deployment",
        "serve an S3 tool call on a read-only root",
        "served",
    );
    let outcome = async {
        let listing = client
            .call_tool("bucket_objects_list", json!({"bucket": READ_ONLY_BUCKET}))
            .await?
            .success()?;
        ensure!(listing.to_string().contains("README.md"), "{listing}");
        Ok("bucket_objects_list answered".to_owned())
    };
    attempt.record(outcome.await)?;

    let pid = host.server_pid()?;
    // Paths under /proc/PID/root resolve in the host's own mount namespace, so these writes meet
    // exactly the mounts the host sees — and a read-only mount refuses even root.
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    let probe = format!("quilt-mcp-probe-{}", std::process::id());
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let build_dir = scenario
        .stack
        .artifacts
        .host_bin
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for dir in [
        PathBuf::from("/"),
        PathBuf::from("/etc"),
        PathBuf::from(home),
        build_dir,
        PathBuf::from("/var/tmp"),
        PathBuf::from("/dev/shm"),
    ]
    .into_iter()
    // A HOME or build directory under /tmp (HOME=/tmp in a container) lies in the private
    // tmpfs, writable by design; everything else must refuse.
    .filter(|dir| !dir.starts_with(WRITABLE_DIR))
    {
        let attempt = Attempt::new(
            "deployment",
            format!("create a file in {} (host under bwrap)", dir.display()),
            EXPECTED_REFUSAL,
        );
        attempt.record(refused_write(&root, &dir.join(&probe), true))?;
    }
    // Opened for writing, never written: were it allowed, nothing would change.
    let attempt = Attempt::new(
        "deployment",
        "open /proc/sys/kernel/hostname for writing (host under bwrap)",
        EXPECTED_REFUSAL,
    );
    attempt.record(refused_write(
        &root,
        Path::new("/proc/sys/kernel/hostname"),
        false,
    ))?;

    let attempt = Attempt::new(
        "deployment",
        "create a file in /tmp (host under bwrap)",
        "written to a private tmpfs, invisible outside",
    );
    attempt.record(private_tmp(&root, &probe))?;

    let attempt = Attempt::new(
        "deployment",
        "HOME and capabilities of the host under bwrap",
        "HOME=/tmp, no capabilities",
    );
    attempt.record(home_and_capabilities(pid))
}

/// Opening `path` (a new file when `create`) inside the host's root must fail with EROFS.
fn refused_write(root: &Path, path: &Path, create: bool) -> Result<String> {
    let inside = root.join(path.strip_prefix("/").unwrap_or(path));
    let opened = std::fs::OpenOptions::new()
        .write(true)
        .create_new(create)
        .open(&inside);
    match opened {
        Err(error) if error.kind() == ErrorKind::ReadOnlyFilesystem => Ok(error.to_string()),
        Err(error) => Err(anyhow::anyhow!(
            "{}: expected a read-only file system, got {error}",
            path.display()
        )),
        Ok(_) => {
            if create {
                std::fs::remove_file(&inside)?;
            }
            Err(anyhow::anyhow!(
                "{} was writable for the sandboxed host",
                path.display()
            ))
        }
    }
}

fn private_tmp(root: &Path, probe: &str) -> Result<String> {
    let inside = root.join(WRITABLE_DIR.trim_start_matches('/')).join(probe);
    std::fs::write(&inside, b"probe").with_context(|| {
        format!(
            "{WRITABLE_DIR} must be writable for the host: {}",
            inside.display()
        )
    })?;
    let outside = Path::new(WRITABLE_DIR).join(probe);
    let leaked = outside.exists();
    std::fs::remove_file(&inside)?;
    ensure!(
        !leaked,
        "{} appeared in the harness's own {WRITABLE_DIR}: not private",
        outside.display()
    );
    Ok("written; not in the harness's /tmp".to_owned())
}

fn home_and_capabilities(pid: u32) -> Result<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ"))?;
    let home = environ
        .split(|byte| *byte == 0)
        .find_map(|entry| entry.strip_prefix(b"HOME="))
        .map(|home| String::from_utf8_lossy(home).into_owned());
    ensure!(
        home.as_deref() == Some(WRITABLE_DIR),
        "HOME of the host: {home:?}"
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .map(str::trim)
        .unwrap_or("missing");
    ensure!(
        effective.chars().all(|digit| digit == '0'),
        "effective capabilities of the host: {effective}"
    );
    Ok(format!("HOME={WRITABLE_DIR}, CapEff {effective}"))
}
