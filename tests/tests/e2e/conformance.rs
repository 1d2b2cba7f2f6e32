//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, installed with
//! its own Node 22 by the Makefile) against the real host and tools guest. The suite sends
//! no Authorization header, so the host runs with `--no-auth`; S3 is the shared SeaweedFS
//! with static credentials.
//!
//! Scenarios that need the reference server's fixtures are listed, each with its reason,
//! in `tests/conformance/expected-failures.yml`. The suite itself fails the run on any
//! other failure, and on a listed scenario that passes — but not on a run of no scenarios,
//! nor on a listed one that never ran, so its summary is read here as well.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, ensure};
use quilt_mcp_tests::artifacts::path_from_env;
use quilt_mcp_tests::child::spawn_guarded;
use tokio::process::Command;

use crate::support::{Guest, Scenario, args};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![official_suite,];

/// The whole suite takes seconds; this bounds a hung scenario.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

pub async fn official_suite(scenario: &Scenario<'_>) -> Result<()> {
    let node = path_from_env("QUILT_MCP_NODE")?;
    let suite = path_from_env("QUILT_MCP_CONFORMANCE")?;
    let expected_failures = crate::support::crate_dir().join("conformance/expected-failures.yml");
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
    let baseline = std::fs::read_to_string(&expected_failures)?;
    check_summary(&stdout, &listed_scenarios(&baseline))
        .map_err(|error| anyhow!("{error:#}; the suite's output:\n{stdout}"))
}

/// The suite's own account of the run: it announced a number of scenarios, summarised each
/// of them, found the failures all expected — and every listed scenario is among those run.
fn check_summary(stdout: &str, listed: &[&str]) -> Result<()> {
    let announced: usize = stdout
        .lines()
        .find_map(|line| line.split_once(" suite (")?.1.split_once(" scenarios)"))
        .context("no `Running … suite (N scenarios)` line")?
        .0
        .parse()?;
    let ran = summarised_scenarios(stdout);
    ensure!(announced > 0, "the suite ran no scenarios");
    ensure!(
        ran.len() == announced,
        "{announced} scenarios announced, {} summarised",
        ran.len()
    );
    ensure!(
        stdout.contains("Baseline check passed"),
        "the suite did not report its baseline check as passed"
    );
    let missing: Vec<&&str> = listed.iter().filter(|name| !ran.contains(name)).collect();
    ensure!(
        missing.is_empty(),
        "listed in expected-failures.yml but never run: {missing:?}"
    );
    Ok(())
}

/// Scenario names from the `=== SUMMARY ===` lines, `✓ name: 3 passed, 0 failed` (or `✗`).
fn summarised_scenarios(stdout: &str) -> Vec<&str> {
    let summary = stdout
        .split_once("=== SUMMARY ===")
        .map_or("", |(_, rest)| rest);
    summary
        .lines()
        .filter_map(|line| line.strip_prefix("✓ ").or_else(|| line.strip_prefix("✗ ")))
        .filter_map(|line| line.split_once(": ").map(|(name, _)| name))
        .collect()
}

/// The scenario names of expected-failures.yml: its `- name # reason` list items.
fn listed_scenarios(document: &str) -> Vec<&str> {
    document
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("- "))
        .filter_map(|item| item.split_whitespace().next())
        .collect()
}
