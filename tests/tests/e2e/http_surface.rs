//! The host's own HTTP surface: health, OAuth protected-resource metadata, methods,
//! paths, Host and Origin checks and the body limit.

use anyhow::{Result, ensure};
use quilt_mcp_tests::host_process::HostProcess;
use quilt_mcp_tests::hostile_guest::{assert_guest_never_ran, refused_message};
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::ports::ClosedPort;
use serde_json::{Value, json};

use crate::support::{Guest, Scenario, args};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    health_check,
    ready_once_tokens_can_be_checked,
    protected_resource_metadata,
    get_and_delete_are_not_allowed,
    unknown_path_is_not_found,
    origin_allowlist,
    oversized_body_is_refused,
    host_allowlist,
];

pub async fn health_check(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let response = reqwest::get(format!("{}/healthz", host.base_url())).await?;
    ensure!(response.status() == 200, "HTTP {}", response.status());
    let body = response.text().await?;
    ensure!(body.trim() == "ok", "body {body:?}");
    Ok(())
}

/// Live and ready differ: a host whose identity provider cannot be reached serves (live),
/// but is not ready, since it could check no token.
pub async fn ready_once_tokens_can_be_checked(scenario: &Scenario<'_>) -> Result<()> {
    let get = |url: String| async move {
        let response = reqwest::get(url).await?;
        anyhow::Ok((response.status().as_u16(), response.text().await?))
    };
    let host = scenario.host(Guest::Hostile).await?;
    let (status, body) = get(format!("{}/readyz", host.base_url())).await?;
    ensure!(status == 200 && body == "ready", "HTTP {status}: {body}");
    let closed = ClosedPort::bind()?;
    let mut spec = scenario.spec(Guest::Hostile);
    spec.auth = args(&[
        "--jwks-url",
        &format!("{}/jwks.json", closed.origin()),
        "--jwt-issuer",
        &scenario.stack.issuer(),
    ]);
    let unready = scenario.start(spec).await?;
    let (status, _) = get(format!("{}/healthz", unready.base_url())).await?;
    ensure!(status == 200, "/healthz: HTTP {status}");
    let (status, body) = get(format!("{}/readyz", unready.base_url())).await?;
    ensure!(
        status == 503 && body.contains("signing keys"),
        "/readyz: HTTP {status}: {body}"
    );
    Ok(())
}

pub async fn protected_resource_metadata(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let response = reqwest::get(format!("{}{path}", host.base_url())).await?;
        ensure!(
            response.status() == 200,
            "{path}: HTTP {}",
            response.status()
        );
        let document: Value = response.json().await?;
        ensure!(
            document["resource"] == host.mcp_url().as_str(),
            "{path}: {document}"
        );
        ensure!(
            document["authorization_servers"] == json!([scenario.stack.issuer()]),
            "{path}: {document}"
        );
        ensure!(
            document["bearer_methods_supported"] == json!(["header"]),
            "{path}: {document}"
        );
        // RFC 9728: that field names algorithms the resource signs its responses with, which
        // this server does not do; the token algorithms it accepts are not for it.
        ensure!(
            document
                .get("resource_signing_alg_values_supported")
                .is_none(),
            "{path}: {document}"
        );
    }

    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--authorization-server", "https://login.example.test"]);
    let host = scenario.start(spec).await?;
    let document: Value = reqwest::get(format!(
        "{}/.well-known/oauth-protected-resource",
        host.base_url()
    ))
    .await?
    .json()
    .await?;
    ensure!(
        document["authorization_servers"] == json!(["https://login.example.test"]),
        "{document}"
    );
    Ok(())
}

pub async fn get_and_delete_are_not_allowed(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let http = reqwest::Client::new();
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        // A body the guest would log, were it to run.
        let response = http
            .request(method.clone(), host.mcp_url())
            .bearer_auth(scenario.token(&host))
            .header("accept", "text/event-stream")
            .body(refused_message(method.as_str()))
            .send()
            .await?;
        ensure!(
            response.status() == 405,
            "{method}: HTTP {}",
            response.status()
        );
        let allow = response
            .headers()
            .get("allow")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        ensure!(allow.contains("POST"), "{method}: Allow {allow:?}");
    }
    assert_guest_never_ran(&host, &scenario.client(&host)).await
}

pub async fn unknown_path_is_not_found(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let http = reqwest::Client::new();
    for path in ["/", "/mcp/extra", "/sse"] {
        let response = http
            .post(format!("{}{path}", host.base_url()))
            .bearer_auth(scenario.token(&host))
            .body(refused_message("not-found"))
            .send()
            .await?;
        ensure!(
            response.status() == 404,
            "POST {path}: HTTP {}",
            response.status()
        );
    }
    assert_guest_never_ran(&host, &scenario.client(&host)).await
}

pub async fn origin_allowlist(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let own_origin = host.base_url().to_string();
    for origin in [
        "http://evil.example.test",
        "https://localhost.example.test",
        "null",
    ] {
        let status = status_with_origin(scenario, &host, origin, false).await?;
        ensure!(
            status == 403,
            "Origin {origin} was not refused: HTTP {status}"
        );
    }
    for origin in [
        own_origin.as_str(),
        "http://localhost:6274",
        "http://127.0.0.1:3000",
    ] {
        let status = status_with_origin(scenario, &host, origin, true).await?;
        ensure!(status == 200, "Origin {origin}: HTTP {status}");
    }
    assert_guest_never_ran(&host, &scenario.client(&host)).await?;

    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--allowed-origin", "https://app.example.test"]);
    let host = scenario.start(spec).await?;
    let status = status_with_origin(scenario, &host, "https://app.example.test", true).await?;
    ensure!(status == 200, "configured Origin: HTTP {status}");
    let status = status_with_origin(scenario, &host, "https://other.example.test", false).await?;
    ensure!(status == 403, "unlisted Origin: HTTP {status}");
    assert_guest_never_ran(&host, &scenario.client(&host)).await
}

/// The status of a request with `Origin: origin`, named as one to be served or refused.
async fn status_with_origin(
    scenario: &Scenario<'_>,
    host: &HostProcess,
    origin: &str,
    served: bool,
) -> Result<u16> {
    Ok(scenario
        .client(host)
        .post_raw(message(served, "origin"), &[("origin", origin)])
        .await?
        .status)
}

/// A `whoami` for a request to be served, else a `rejected-<case>` one.
fn message(served: bool, case: &str) -> String {
    match served {
        true => json!({"jsonrpc": "2.0", "id": 1, "method": "whoami"}).to_string(),
        false => refused_message(case),
    }
}

/// DNS rebinding: /mcp answers only to the names this server is known by, before any token
/// check; /healthz answers to any, since probes address pods by IP.
pub async fn host_allowlist(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let client = scenario.client(&host);
    let port = url::Url::parse(host.base_url())?
        .port()
        .expect("the harness's hosts listen on explicit ports");
    // Loopback on another port is a port-forward to this server, not a rebinding.
    for name in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "localhost:1".into(),
    ] {
        let status = status_with_host(&client, &name, true).await?;
        ensure!(status == 200, "Host {name}: HTTP {status}");
    }
    for name in [
        "evil.example.test".to_string(),
        format!("evil.example.test:{port}"),
    ] {
        let status = status_with_host(&client, &name, false).await?;
        ensure!(status == 403, "Host {name} was not refused: HTTP {status}");
    }
    let anonymous = McpClient::new(&host.mcp_url(), None);
    let tokenless = status_with_host(&anonymous, "evil.example.test", false).await?;
    ensure!(
        tokenless == 403,
        "refused Host without a token: HTTP {tokenless}"
    );
    let refusal = client
        .post_raw(refused_message("host"), &[("host", "evil.example.test")])
        .await?
        .json()?;
    ensure!(
        refusal["error"] == "forbidden_host"
            && refusal["error_description"]
                .as_str()
                .is_some_and(
                    |text| text.contains("evil.example.test") && text.contains("--allowed-host")
                ),
        "{refusal}"
    );
    let health = reqwest::Client::new()
        .get(format!("{}/healthz", host.base_url()))
        .header("host", "10.1.2.3:8080")
        .send()
        .await?;
    ensure!(
        health.status() == 200,
        "/healthz by IP: HTTP {}",
        health.status()
    );

    assert_guest_never_ran(&host, &client).await?;

    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--allowed-host", "quilt-mcp.internal"]);
    let host = scenario.start(spec).await?;
    let client = scenario.client(&host);
    let status = status_with_host(&client, "quilt-mcp.internal:8080", true).await?;
    ensure!(status == 200, "configured Host: HTTP {status}");
    let status = status_with_host(&client, "other.internal", false).await?;
    ensure!(status == 403, "unlisted Host: HTTP {status}");
    assert_guest_never_ran(&host, &client).await
}

/// The status of `client`'s request with `Host: name`, named as one to be served or refused.
async fn status_with_host(client: &McpClient, name: &str, served: bool) -> Result<u16> {
    Ok(client
        .post_raw(message(served, "host"), &[("host", name)])
        .await?
        .status)
}

pub async fn oversized_body_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--max-body-bytes", "2048"]);
    let host = scenario.start(spec).await?;
    let client = scenario.client(&host);
    let message_of = |method: &str, padding: usize| {
        json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": {"padding": "x".repeat(padding)}}).to_string()
    };

    let oversized = message_of("rejected-oversized", 4096);
    let reply = client.post_raw(oversized, &[]).await?;
    ensure!(
        reply.status == 413,
        "4 KiB body: HTTP {} {}",
        reply.status,
        reply.text()
    );
    let fitting = message_of("whoami", 1024);
    let reply = client.post_raw(fitting, &[]).await?;
    ensure!(
        reply.status == 200,
        "1 KiB body: HTTP {} {}",
        reply.status,
        reply.text()
    );
    assert_guest_never_ran(&host, &client).await
}
