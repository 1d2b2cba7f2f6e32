//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, installed with
//! its own Node 22 by the Makefile) against the real host and tools guest. The suite sends
//! no Authorization header, so the host runs with `--no-auth`; S3 is the shared SeaweedFS
//! with static credentials.
//!
//! Scenarios that need the reference server's fixtures are listed, each with its reason,
//! in `tests/conformance/expected-failures.yml`. The suite itself fails the run on any
//! other failure, and on a listed scenario that passes.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use quilt_mcp_tests::artifacts::path_from_env;
use quilt_mcp_tests::child::spawn_guarded;
use tokio::process::Command;

use crate::support::{Guest, Scenario, args};

/// The whole suite takes seconds; this bounds a hung scenario.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

pub async fn official_suite(scenario: &Scenario<'_>) -> Result<()> {
    let node = path_from_env("QUILT_MCP_NODE")?;
    let suite = path_from_env("QUILT_MCP_CONFORMANCE")?;
    let expected_failures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/expected-failures.yml");
    let mut spec = scenario.spec(Guest::Tools);
    spec.auth = args(&["--no-auth"]);
    let host = scenario.start(spec).await?;
    let mut command = Command::new(&node);
    command
        .arg(&suite)
        .args(["server", "--url", host.mcp_url().as_str()])
        .arg("--expected-failures")
        .arg(&expected_failures)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = spawn_guarded(&mut command).context("starting the conformance suite")?;
    let output = tokio::time::timeout(SUITE_TIMEOUT, child.wait_with_output())
        .await
        .context("the conformance suite did not finish")??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "the conformance suite failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
