//! Real MCP clients — released SDKs and tools, pinned and installed by the Makefile — against
//! the real host (JWKS-validated bearer token, static S3 credentials on the shared SeaweedFS).
//! Each lists the tools and lists a bucket holding a known object; the host's request log
//! shows which protocol era the client spoke. A failing trial shows the client's own output.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use quilt_mcp_tests::artifacts::path_from_env;
use quilt_mcp_tests::child::spawn_guarded;
use quilt_mcp_tests::host_process::HostProcess;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::support::{Guest, Scenario};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    python_mcp2_auto,
    python_mcp2_legacy,
    python_mcp1_streamable_http,
    typescript_sdk,
    inspector_cli,
    stdio_client_through_mcp_remote,
    rmcp_auto,
    rmcp_legacy,
];

/// The object every client must find in its listing.
const KNOWN_KEY: &str = "reports/2026/summary.csv";
/// Node and Python start slowly on a loaded machine; a hung client must still end the trial.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// The protocol generation a client is expected to negotiate.
#[derive(Clone, Copy, Debug)]
enum Era {
    /// 2026-07-28: `server/discover`, no `initialize`.
    Modern,
    /// The `initialize` handshake, at the newest legacy revision (what current clients ask for).
    Legacy,
}

impl Era {
    fn version(self) -> &'static str {
        match self {
            Self::Modern => "2026-07-28",
            Self::Legacy => "2025-11-25",
        }
    }
}

pub async fn python_mcp2_auto(scenario: &Scenario<'_>) -> Result<()> {
    let python = path_from_env("QUILT_MCP_PYTHON_MCP2")?;
    let client = Reporting::new(python, Some(script("python_mcp2.py")), Some("auto"));
    client.check(scenario, Era::Modern).await
}

pub async fn python_mcp2_legacy(scenario: &Scenario<'_>) -> Result<()> {
    let python = path_from_env("QUILT_MCP_PYTHON_MCP2")?;
    let client = Reporting::new(python, Some(script("python_mcp2.py")), Some("legacy"));
    client.check(scenario, Era::Legacy).await
}

pub async fn python_mcp1_streamable_http(scenario: &Scenario<'_>) -> Result<()> {
    let python = path_from_env("QUILT_MCP_PYTHON_MCP1")?;
    let client = Reporting::new(python, Some(script("python_mcp1.py")), None);
    client.check(scenario, Era::Legacy).await
}

pub async fn typescript_sdk(scenario: &Scenario<'_>) -> Result<()> {
    let node = path_from_env("QUILT_MCP_NODE")?;
    let mut client = Reporting::new(node, Some(script("typescript_sdk.cjs")), None);
    client
        .env
        .push(("NODE_PATH", path_from_env("QUILT_MCP_TS_SDK")?.into()));
    client.check(scenario, Era::Legacy).await
}

pub async fn rmcp_auto(scenario: &Scenario<'_>) -> Result<()> {
    let client = Reporting::new(path_from_env("QUILT_MCP_RMCP_CLIENT")?, None, Some("auto"));
    client.check(scenario, Era::Modern).await
}

pub async fn rmcp_legacy(scenario: &Scenario<'_>) -> Result<()> {
    let client = Reporting::new(
        path_from_env("QUILT_MCP_RMCP_CLIENT")?,
        None,
        Some("legacy"),
    );
    client.check(scenario, Era::Legacy).await
}

/// The Inspector's CLI over Streamable HTTP, as the README shows it.
pub async fn inspector_cli(scenario: &Scenario<'_>) -> Result<()> {
    let target = Target::start(scenario).await?;
    let home = tempfile::tempdir()?;
    let server: Vec<OsString> = vec![
        target.host.mcp_url().into(),
        "--transport".into(),
        "http".into(),
        "--header".into(),
        format!("Authorization: Bearer {}", target.token).into(),
    ];
    inspect(&target, home.path(), &server).await
}

/// A stdio-only client through the `mcp-remote` bridge, as the README configures Claude
/// Desktop: the Inspector's CLI starts the bridge as its stdio server, and the bridge sends
/// the token from a header file.
pub async fn stdio_client_through_mcp_remote(scenario: &Scenario<'_>) -> Result<()> {
    let target = Target::start(scenario).await?;
    let home = tempfile::tempdir()?;
    let header_file = home.path().join("quilt-mcp.headers");
    std::fs::write(
        &header_file,
        format!("Authorization: Bearer {}\n", target.token),
    )?;
    let server: Vec<OsString> = vec![
        path_from_env("QUILT_MCP_NODE")?.into(),
        path_from_env("QUILT_MCP_MCP_REMOTE")?.into(),
        target.host.mcp_url().into(),
        "--header-file".into(),
        header_file.into(),
    ];
    inspect(&target, home.path(), &server).await
}

/// Runs the Inspector's CLI against `server` (its target arguments) once per method: the
/// tools, then `bucket_objects_list`. `--strict` makes it exit 6 on a tool schema that common
/// clients cannot use. `home` is its $HOME, where it (and mcp-remote) keep their state.
async fn inspect(target: &Target<'_>, home: &Path, server: &[OsString]) -> Result<()> {
    let node = path_from_env("QUILT_MCP_NODE")?;
    let inspector = path_from_env("QUILT_MCP_INSPECTOR")?;
    let invoke = |method_args: &[&str]| {
        let mut command = Command::new(&node);
        command
            .arg(&inspector)
            .arg("--cli")
            .args(server)
            .args(method_args)
            .env("HOME", home);
        run(command, "the Inspector")
    };

    let listed = invoke(&["--method", "tools/list", "--strict"]).await?;
    let listed: Value = serde_json::from_str(&listed).context("tools/list output")?;
    let names: Vec<Value> = listed["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|tool| tool["name"].clone())
        .collect();
    let bucket_arg = format!("bucket={}", target.bucket);
    let called = invoke(&[
        "--method",
        "tools/call",
        "--tool-name",
        "bucket_objects_list",
        "--tool-arg",
        &bucket_arg,
    ])
    .await?;
    // A tool error would have made it exit 5, and `run` would have said so.
    let called: Value = serde_json::from_str(&called).context("tools/call output")?;

    target.check_era(Era::Legacy).await?;
    target.check_tools(&Value::Array(names)).await?;
    target.check_listing(&called["structuredContent"])
}

/// A client taking `[SCRIPT] URL BUCKET [MODE]` and the token in `MCP_BEARER_TOKEN`, which
/// prints what it saw as one JSON line: `protocol_version`, `tools` (names), and the
/// `bucket_objects_list` result's `is_error`, `content` and `listing` (structured content).
struct Reporting {
    program: PathBuf,
    script: Option<PathBuf>,
    mode: Option<&'static str>,
    env: Vec<(&'static str, OsString)>,
}

impl Reporting {
    fn new(program: PathBuf, script: Option<PathBuf>, mode: Option<&'static str>) -> Self {
        Self {
            program,
            script,
            mode,
            env: Vec::new(),
        }
    }

    async fn check(self, scenario: &Scenario<'_>, era: Era) -> Result<()> {
        let target = Target::start(scenario).await?;
        let mut command = Command::new(&self.program);
        command
            .args(&self.script)
            .args([target.host.mcp_url(), target.bucket.clone()])
            .args(self.mode)
            .env("MCP_BEARER_TOKEN", &target.token)
            // anyhow would print a backtrace of the rmcp client's own frames, not the server's.
            .env("RUST_BACKTRACE", "0")
            .envs(self.env);
        let name = self.script.as_ref().unwrap_or(&self.program);
        let stdout = run(command, &name.display().to_string()).await?;
        let report: Value = stdout
            .lines()
            .last()
            .and_then(|line| serde_json::from_str(line).ok())
            .with_context(|| format!("the client printed no JSON report:\n{stdout}"))?;
        ensure!(
            report["protocol_version"] == era.version(),
            "negotiated {} where {era:?} means {}",
            report["protocol_version"],
            era.version()
        );
        ensure!(
            report["is_error"] == false,
            "the tool failed: {}",
            report["content"]
        );
        // The listing's objects come again as resource_links, which each SDK parses.
        let linked = report["content"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|block| {
                block["type"] == "resource_link"
                    && block["uri"]
                        .as_str()
                        .is_some_and(|uri| uri.ends_with(KNOWN_KEY))
            });
        ensure!(
            linked,
            "no resource_link to {KNOWN_KEY}: {}",
            report["content"]
        );
        target.check_era(era).await?;
        target.check_tools(&report["tools"]).await?;
        target.check_listing(&report["listing"])
    }
}

/// A host of its own (so its log holds only this client's requests) and a bucket with
/// [`KNOWN_KEY`] in it.
struct Target<'a> {
    scenario: &'a Scenario<'a>,
    host: HostProcess,
    token: String,
    bucket: String,
}

impl<'a> Target<'a> {
    async fn start(scenario: &'a Scenario<'a>) -> Result<Self> {
        let bucket = scenario.bucket("clients").await?;
        scenario
            .admin()
            .put_object(&bucket, KNOWN_KEY, "id,value\n1,alpha\n")
            .send()
            .await?;
        let host = scenario.host(Guest::Tools).await?;
        Ok(Self {
            scenario,
            token: scenario.token(&host),
            host,
            bucket,
        })
    }

    /// The methods the host logged show the era: `server/discover` first and never
    /// `initialize`, or the reverse.
    async fn check_era(&self, era: Era) -> Result<()> {
        self.host
            .wait_for_log("tool=\"bucket_objects_list\"")
            .await?;
        let log = self.host.log().text();
        let methods: Vec<&str> = log
            .lines()
            .filter(|line| line.contains("quilt_mcp::request"))
            .filter_map(|line| line.split("method=\"").nth(1)?.split('"').next())
            .collect();
        let (first, never) = match era {
            Era::Modern => ("server/discover", "initialize"),
            Era::Legacy => ("initialize", "server/discover"),
        };
        ensure!(
            methods.first() == Some(&first) && !methods.contains(&never),
            "{era:?} means {first} first and no {never}; the client sent {methods:?}"
        );
        Ok(())
    }

    /// The client saw every tool the server lists, in its order.
    async fn check_tools(&self, seen: &Value) -> Result<()> {
        let listed = self
            .scenario
            .client(&self.host)
            .request("tools/list", json!({}))
            .await?;
        let expected: Vec<&Value> = listed["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|tool| &tool["name"])
            .collect();
        ensure!(
            seen.as_array()
                .is_some_and(|names| names.iter().eq(expected.iter().copied())),
            "the client saw tools {seen}, the server lists {expected:?}"
        );
        Ok(())
    }

    fn check_listing(&self, listing: &Value) -> Result<()> {
        ensure!(listing["bucket"] == self.bucket.as_str(), "{listing}");
        let keys: Vec<&str> = listing["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|object| object["key"].as_str())
            .collect();
        ensure!(keys == [KNOWN_KEY], "listed {keys:?}: {listing}");
        Ok(())
    }
}

pub fn script(name: &str) -> PathBuf {
    crate::support::crate_dir().join("clients").join(name)
}

/// Runs a client to completion; its stdout if it succeeded, else an error with all it printed.
pub async fn run(mut command: Command, what: &str) -> Result<String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = spawn_guarded(&mut command).with_context(|| format!("starting {what}"))?;
    let output = tokio::time::timeout(CLIENT_TIMEOUT, child.wait_with_output())
        .await
        .with_context(|| format!("{what} did not finish within {CLIENT_TIMEOUT:?}"))??;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    ensure!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(stdout)
}
