//! What the host contains when a guest misbehaves, and what it never lets through:
//! traps, endless loops and memory exhaustion end one request, not the server; no
//! state survives a request; egress only to allowed origins; no credential headers.

use anyhow::{Result, ensure};
use quilt_mcp_tests::jwks_server::JwksServer;
use quilt_mcp_tests::mcp::{McpClient, Reply};
use quilt_mcp_tests::seaweedfs::ADMIN;
use serde_json::{Value, json};

use crate::support::{Guest, SUBJECT, Scenario, args};

pub async fn trap_is_contained(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let client = scenario.client(&host);
    let reply = client.post_raw(request_with_id(41, "trap"), &[]).await?;
    ensure!(reply.status == 500, "trap: HTTP {} {}", reply.status, reply.text());
    expect_internal_error(&reply, 41)?;
    still_serving(&client).await
}

pub async fn endless_loop_times_out(scenario: &Scenario<'_>) -> Result<()> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--request-timeout-ms", "1000"]);
    let host = scenario.start(spec).await?;
    let client = scenario.client(&host);
    let reply = client.post_raw(request_with_id(42, "loop"), &[]).await?;
    ensure!(reply.status == 504, "loop: HTTP {} {}", reply.status, reply.text());
    expect_internal_error(&reply, 42)?;
    still_serving(&client).await
}

pub async fn memory_exhaustion_is_contained(scenario: &Scenario<'_>) -> Result<()> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--guest-memory-mib", "16"]);
    let host = scenario.start(spec).await?;
    let client = scenario.client(&host);
    let reply = client.post_raw(request_with_id(43, "alloc"), &[]).await?;
    ensure!(reply.status == 500, "alloc: HTTP {} {}", reply.status, reply.text());
    expect_internal_error(&reply, 43)?;
    still_serving(&client).await
}

pub async fn no_state_survives_a_request(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let client = scenario.client(&host);
    for value in [42, 7] {
        let written = client.request("global_write", json!({"value": value})).await?;
        ensure!(written["counter"] == value, "global_write {value}: {written}");
        let read = client.request("global_read", json!({})).await?;
        ensure!(read["counter"] == 0, "the next request saw the previous one's state: {read}");
    }
    Ok(())
}

pub async fn egress_is_limited_to_the_allowlist(scenario: &Scenario<'_>) -> Result<()> {
    let forbidden = JwksServer::start(json!({"canary": "forbidden"})).await?;
    let allowed = JwksServer::start(json!({"canary": "allowed"})).await?;
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--egress-allow", &allowed.origin()]);
    let host = scenario.start(spec).await?;
    let client = scenario.client(&host);
    let fetch = async |url: String| client.request("fetch", json!({"url": url})).await;

    for url in [
        format!("{}/secret", forbidden.origin()),
        format!("{}/healthz", host.base_url()),
        scenario.stack.jwks.jwks_url(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let result = fetch(url.clone()).await?;
        let error = result["error"].as_str().unwrap_or_default();
        ensure!(error.contains("HttpRequestDenied"), "GET {url} was not denied: {result}");
    }
    ensure!(forbidden.hits() == 0, "a denied request still reached the server ({} hits)", forbidden.hits());

    let result = fetch(format!("{}/anything", allowed.origin())).await?;
    ensure!(result["status"] == 200, "GET to an --egress-allow origin: {result}");
    ensure!(allowed.hits() == 1, "the allowed server saw {} requests", allowed.hits());

    // The S3 endpoint is always allowed; unsigned, SeaweedFS answers with some status.
    let s3_url = scenario.stack.seaweed.s3_endpoint.to_string();
    let result = fetch(s3_url.clone()).await?;
    ensure!(result["status"].is_u64(), "GET {s3_url}: {result}");
    Ok(())
}

pub async fn credential_headers_are_stripped(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let extra = [("cookie", "session=top-secret"), ("x-probe", "reaches-the-guest")];
    let reply = scenario.client(&host).post_raw(request_with_id(1, "headers"), &extra).await?;
    ensure!(reply.status == 200, "HTTP {} {}", reply.status, reply.text());
    let headers = reply.json()?["result"]["headers"].clone();
    let names: Vec<String> = headers
        .as_array()
        .map(|pairs| pairs.iter().filter_map(|pair| pair[0].as_str()).map(str::to_lowercase).collect())
        .unwrap_or_default();
    ensure!(names.iter().any(|name| name == "x-probe"), "ordinary headers do not reach the guest: {headers}");
    for stripped in ["authorization", "cookie"] {
        ensure!(!names.iter().any(|name| name == stripped), "{stripped} reached the guest: {headers}");
    }
    Ok(())
}

pub async fn request_context_carries_the_caller(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let result = scenario.client(&host).request("whoami", json!({})).await?;
    ensure!(result["caller"]["subject"] == SUBJECT, "{result}");
    ensure!(result["caller"]["issuer"] == scenario.stack.issuer().as_str(), "{result}");
    ensure!(result["access_key_id"] == ADMIN.access_key_id, "{result}");
    Ok(())
}

pub async fn no_credentials_configured(scenario: &Scenario<'_>) -> Result<()> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.credentials = args(&["--credentials", "none"]);
    let host = scenario.start(spec).await?;
    let result = scenario.client(&host).request("whoami", json!({})).await?;
    let error = result["access_key_id"]["error"].as_str().unwrap_or_default();
    ensure!(error.contains("NotConfigured"), "credentials with --credentials none: {result}");
    Ok(())
}

fn request_with_id(id: u64, method: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": {}}).to_string()
}

/// The host's JSON-RPC error for a request the guest could not finish.
fn expect_internal_error(reply: &Reply, id: u64) -> Result<()> {
    let body = reply.json()?;
    ensure!(body["jsonrpc"] == "2.0", "{body}");
    ensure!(body["error"]["code"] == -32603, "{body}");
    ensure!(body["error"]["message"].is_string(), "{body}");
    ensure!(body["id"] == id || body["id"] == Value::Null, "{body}");
    Ok(())
}

async fn still_serving(client: &McpClient) -> Result<()> {
    let read = client.request("global_read", json!({})).await?;
    ensure!(read["counter"] == 0, "{read}");
    Ok(())
}
