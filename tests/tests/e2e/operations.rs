//! Operating the server: Prometheus metrics (the host's metrics listener scraped by a real
//! Prometheus, Debian's, and the series queried through its API as a dashboard queries them),
//! and the audit stream.

use anyhow::{Result, ensure};
use quilt_mcp_tests::artifacts::path_from_env;
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::ports::free_port;
use quilt_mcp_tests::prometheus::Prometheus;
use serde_json::{Value, json};

use crate::support::{Guest, SUBJECT, Scenario, args};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    prometheus_scrapes_requests_tools_and_the_pool,
    each_tool_call_is_audited_with_what_it_touched,
];

pub async fn prometheus_scrapes_requests_tools_and_the_pool(scenario: &Scenario<'_>) -> Result<()> {
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut spec = scenario.spec(Guest::Tools);
    spec.extra = args(&["--metrics-listen", &metrics]);
    let host = scenario.start(spec).await?;
    let prometheus = Prometheus::start(&path_from_env("QUILT_MCP_PROMETHEUS")?, &metrics).await?;
    let alice = scenario.client(&host);
    for _ in 0..3 {
        alice.call_tool("auth_status", json!({})).await?.success()?;
    }
    // A tool this server does not have is counted, under `other`, not under its name.
    let unknown = alice
        .send(
            "tools/call",
            json!({"name": "rm_rf_everything", "arguments": {}}),
        )
        .await?;
    ensure!(unknown.status == 200, "HTTP {}", unknown.status);
    // A tool that fails is told apart from one that succeeds; the guest's word for it is the
    // host's alone.
    let failed = alice
        .send(
            "tools/call",
            json!({"name": "bucket_objects_list", "arguments": {"bucket": "no-such-bucket-here"}}),
        )
        .await?;
    ensure!(
        failed.json()?["result"]["isError"] == true && failed.header("quilt-mcp-outcome").is_none(),
        "{}",
        failed.text()
    );
    // A bad token is refused before its body is read: no method is known.
    let stranger = McpClient::new(&host.mcp_url(), Some("not-a-token".into()));
    let refused = stranger.send("tools/list", json!({})).await?;
    ensure!(refused.status == 401, "HTTP {}", refused.status);

    prometheus.wait_for(r#"up{job="quilt-mcp"}"#, 1.0).await?;
    prometheus
        .wait_for(
            r#"quilt_mcp_tool_calls_total{tool="auth_status",outcome="ok"}"#,
            3.0,
        )
        .await?;
    prometheus
        .wait_for(
            r#"quilt_mcp_tool_calls_total{tool="bucket_objects_list",outcome="tool_error"}"#,
            1.0,
        )
        .await?;
    prometheus
        .wait_for(r#"sum(quilt_mcp_tool_calls_total{tool="other"})"#, 1.0)
        .await?;
    prometheus
        .wait_for(
            r#"quilt_mcp_requests_total{method="none",outcome="refused"}"#,
            1.0,
        )
        .await?;
    prometheus
        .wait_for(
            r#"sum(quilt_mcp_request_duration_seconds_count{method="tools/call"})"#,
            5.0,
        )
        .await?;
    prometheus
        .wait_for("quilt_mcp_admission_wait_seconds_count", 5.0)
        .await?;
    prometheus
        .wait_for("quilt_mcp_instances_in_use", 0.0)
        .await?;
    prometheus
        .wait_for(r#"quilt_mcp_jwks_total{event="fetched"}"#, 1.0)
        .await?;
    let names = reqwest::get(format!("http://{metrics}/metrics"))
        .await?
        .text()
        .await?;
    ensure!(
        !names.contains("rm_rf"),
        "a client's name became a series:\n{names}"
    );
    // The MCP port serves no metrics.
    let on_mcp_port = reqwest::get(format!("{}/metrics", host.base_url())).await?;
    ensure!(on_mcp_port.status() == 404, "HTTP {}", on_mcp_port.status());
    Ok(())
}

/// The audit lines the host wrote to stdout.
fn audit_events(host: &quilt_mcp_tests::host_process::HostProcess) -> Vec<Value> {
    host.log()
        .text()
        .lines()
        .filter(|line| line.starts_with(r#"{"type":"quilt_mcp.tool_call""#))
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// One event per tool call, naming what the host saw it touch; arguments only when asked.
pub async fn each_tool_call_is_audited_with_what_it_touched(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("audit").await?;
    scenario
        .admin()
        .put_object(&bucket, "runs/r1.csv", "a,b\n1,2\n")
        .send()
        .await?;
    let mut spec = scenario.spec(Guest::Tools);
    spec.extra = args(&["--audit-log", "stdout"]);
    let host = scenario.start(spec).await?;
    let token = scenario.token(&host);
    let alice = McpClient::new(&host.mcp_url(), Some(token.clone()));
    let uri = format!("s3://{bucket}/runs/r1.csv");
    alice
        .call_tool("bucket_object_text", json!({"s3_uri": uri}))
        .await?
        .success()?;
    alice
        .call_tool(
            "bucket_objects_list",
            json!({"bucket": bucket, "prefix": "runs/"}),
        )
        .await?
        .success()?;
    // A reader's call of a writer is refused by the host, and audited as refused.
    let mut claims = scenario.claims(&host);
    claims["scope"] = json!("openid quilt:read");
    let reader = McpClient::new(&host.mcp_url(), Some(scenario.stack.identity.sign(&claims)));
    let refused = reader
        .send(
            "tools/call",
            json!({"name": "package_delete", "arguments": {"secret": "hunter2"}}),
        )
        .await?;
    ensure!(refused.status == 403, "HTTP {}", refused.status);
    host.wait_for_log(r#""tool":"package_delete""#).await?;

    let events = audit_events(&host);
    ensure!(events.len() == 3, "three calls, three events: {events:#?}");
    let read = &events[0];
    ensure!(
        read["tool"] == "bucket_object_text"
            && read["subject"] == SUBJECT
            && read["outcome"] == "ok"
            && read["targets"] == json!([uri])
            && read["bytes_read"].as_u64().is_some_and(|bytes| bytes >= 8)
            && read["request_id"].as_str().is_some_and(|id| id.len() == 36),
        "{read}"
    );
    ensure!(
        events[1]["targets"] == json!([format!("s3://{bucket}/runs/")]),
        "{}",
        events[1]
    );
    ensure!(
        events[2]["tool"] == "package_delete"
            && events[2]["outcome"] == "refused"
            && events[2]["http_status"] == 403,
        "{}",
        events[2]
    );
    let log = host.log().text();
    ensure!(
        events.iter().all(|event| event.get("arguments").is_none()) && !log.contains("hunter2"),
        "arguments are left out unless asked: {events:#?}"
    );
    ensure!(!log.contains(&token), "the token reached the log");

    // Asked for, arguments are recorded.
    let mut spec = scenario.spec(Guest::Tools);
    spec.extra = args(&["--audit-log", "stdout", "--audit-arguments"]);
    let host = scenario.start(spec).await?;
    scenario
        .client(&host)
        .call_tool("bucket_objects_list", json!({"bucket": bucket}))
        .await?
        .success()?;
    host.wait_for_log("quilt_mcp.tool_call").await?;
    let events = audit_events(&host);
    ensure!(
        events.len() == 1 && events[0]["arguments"] == json!({"bucket": bucket}),
        "{events:#?}"
    );
    Ok(())
}
