//! What the host contains when a guest misbehaves, and what it never lets through:
//! traps, endless loops and memory exhaustion end one request, not the server; no
//! state survives a request; egress only to allowed origins; no credential headers.

use anyhow::{Result, ensure};
use quilt_mcp_tests::jwks_server::JwksServer;
use quilt_mcp_tests::mcp::{McpClient, Reply};
use quilt_mcp_tests::seaweedfs::{ADMIN, READER};
use serde_json::{Value, json};

use crate::support::{Guest, SUBJECT, Scenario, args};

pub async fn trap_is_contained(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let client = scenario.client(&host);
    let reply = client.post_raw(request_with_id(41, "trap"), &[]).await?;
    ensure!(
        reply.status == 500,
        "trap: HTTP {} {}",
        reply.status,
        reply.text()
    );
    expect_internal_error(&reply, 41)?;
    still_serving(&client).await
}

pub async fn endless_loop_times_out(scenario: &Scenario<'_>) -> Result<()> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--request-timeout-ms", "1000"]);
    let host = scenario.start(spec).await?;
    let client = scenario.client(&host);
    let reply = client.post_raw(request_with_id(42, "loop"), &[]).await?;
    ensure!(
        reply.status == 504,
        "loop: HTTP {} {}",
        reply.status,
        reply.text()
    );
    expect_internal_error(&reply, 42)?;
    still_serving(&client).await
}

pub async fn memory_exhaustion_is_contained(scenario: &Scenario<'_>) -> Result<()> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--guest-memory-mib", "16"]);
    let host = scenario.start(spec).await?;
    let client = scenario.client(&host);
    let reply = client.post_raw(request_with_id(43, "alloc"), &[]).await?;
    ensure!(
        reply.status == 500,
        "alloc: HTTP {} {}",
        reply.status,
        reply.text()
    );
    expect_internal_error(&reply, 43)?;
    still_serving(&client).await
}

pub async fn no_state_survives_a_request(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let client = scenario.client(&host);
    for value in [42, 7] {
        let written = client
            .request("global_write", json!({"value": value}))
            .await?;
        ensure!(
            written["counter"] == value,
            "global_write {value}: {written}"
        );
        let read = client.request("global_read", json!({})).await?;
        ensure!(
            read["counter"] == 0,
            "the next request saw the previous one's state: {read}"
        );
    }
    Ok(())
}

pub async fn egress_is_limited_to_the_allowlist(scenario: &Scenario<'_>) -> Result<()> {
    let forbidden = JwksServer::start(json!({"canary": "forbidden"})).await?;
    let allowed = JwksServer::start(json!({"canary": "allowed"})).await?;
    let redirector = redirect_server(&format!("{}/secret", forbidden.origin())).await?;
    // The forbidden server's origin is allowed only over https: plain http to it must fail.
    let https_only = forbidden.origin().replacen("http://", "https://", 1);
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&[
        "--egress-allow",
        &allowed.origin(),
        "--egress-allow",
        &https_only,
        "--egress-allow",
        &redirector,
    ]);
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
        ensure!(
            error.contains("HttpRequestDenied"),
            "GET {url} was not denied: {result}"
        );
    }
    // An allowed origin answering with a redirect elsewhere: the redirect comes back to the
    // guest instead of being followed, and following it is a new request, refused as above.
    let redirected = fetch(format!("{redirector}/go")).await?;
    ensure!(
        redirected["status"] == 302,
        "the redirect was followed or lost: {redirected}"
    );
    ensure!(
        forbidden.hits() == 0,
        "a denied request still reached the server ({} hits)",
        forbidden.hits()
    );

    let result = fetch(format!("{}/anything", allowed.origin())).await?;
    ensure!(
        result["status"] == 200,
        "GET to an --egress-allow origin: {result}"
    );
    ensure!(
        allowed.hits() == 1,
        "the allowed server saw {} requests",
        allowed.hits()
    );

    // The S3 endpoint is always allowed; unsigned, SeaweedFS answers with some status.
    let s3_url = scenario.stack.seaweed.s3_endpoint.to_string();
    let result = fetch(s3_url.clone()).await?;
    ensure!(result["status"].is_u64(), "GET {s3_url}: {result}");
    Ok(())
}

pub async fn credential_headers_are_stripped(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let extra = [
        ("cookie", "session=top-secret"),
        ("x-probe", "reaches-the-guest"),
    ];
    let reply = scenario
        .client(&host)
        .post_raw(request_with_id(1, "headers"), &extra)
        .await?;
    ensure!(
        reply.status == 200,
        "HTTP {} {}",
        reply.status,
        reply.text()
    );
    let headers = reply.json()?["result"]["headers"].clone();
    let names: Vec<String> = headers
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|pair| pair[0].as_str())
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default();
    ensure!(
        names.iter().any(|name| name == "x-probe"),
        "ordinary headers do not reach the guest: {headers}"
    );
    for stripped in ["authorization", "cookie"] {
        ensure!(
            !names.iter().any(|name| name == stripped),
            "{stripped} reached the guest: {headers}"
        );
    }
    Ok(())
}

pub async fn request_context_carries_the_caller(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let mut claims = scenario.claims(&host);
    claims["email"] = json!(SUBJECT);
    claims["internal_note"] = json!("not for the guest");
    let client = McpClient::new(&host.mcp_url(), Some(scenario.stack.identity.sign(&claims)));
    let result = client.request("whoami", json!({})).await?;
    let caller = &result["caller"];
    ensure!(
        caller["subject"] == SUBJECT && caller["issuer"] == scenario.stack.issuer().as_str(),
        "{result}"
    );
    // Claims travel as (name, JSON-encoded value); only the forwarded ones (email by default).
    let forwarded: Vec<(String, String)> = serde_json::from_value(caller["claims"].clone())?;
    ensure!(
        forwarded.contains(&("email".into(), json!(SUBJECT).to_string())),
        "claims {forwarded:?}"
    );
    ensure!(
        !forwarded.iter().any(|(name, _)| name == "internal_note"),
        "an unlisted claim was forwarded: {forwarded:?}"
    );
    ensure!(result["access_key_id"] == ADMIN.access_key_id, "{result}");
    Ok(())
}

/// Guest output reaches the host log tagged with the request id, next to the one
/// request line (method, status, subject) of that request.
pub async fn guest_output_is_logged_per_request(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    scenario
        .client(&host)
        .request("log-probe", json!({}))
        .await?;
    host.wait_for_log("hostile-guest handling log-probe")
        .await?;
    host.wait_for_log("method=\"log-probe\"").await?;
    let log = host.log().text();
    let guest_line = log
        .lines()
        .find(|line| line.contains("hostile-guest handling log-probe"))
        .unwrap_or_default();
    let request_id = field(guest_line, "request_id").unwrap_or_default();
    ensure!(
        !request_id.is_empty(),
        "the guest's line carries no request_id: {guest_line}"
    );
    let request_lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("quilt_mcp::request") && line.contains(&request_id))
        .collect();
    ensure!(
        request_lines.len() == 1,
        "request lines for {request_id}: {request_lines:?}"
    );
    let request_line = request_lines[0];
    for expected in ["status=200", "duration_ms=", SUBJECT] {
        ensure!(
            request_line.contains(expected),
            "request line lacks {expected}: {request_line}"
        );
    }
    Ok(())
}

/// The value of `name=value` or `name="value"` in a text log line.
fn field(line: &str, name: &str) -> Option<String> {
    let start = line.find(&format!("{name}="))? + name.len() + 1;
    let value = line[start..].split_whitespace().next()?;
    Some(value.trim_matches('"').to_string())
}

pub async fn no_credentials_configured(scenario: &Scenario<'_>) -> Result<()> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.credentials = args(&["--credentials", "none"]);
    let host = scenario.start(spec).await?;
    let result = scenario.client(&host).request("whoami", json!({})).await?;
    let error = result["access_key_id"]["error"]
        .as_str()
        .unwrap_or_default();
    ensure!(
        error.contains("NotConfigured"),
        "credentials with --credentials none: {result}"
    );
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

/// The smallest component that imports `wasi:sockets/tcp@0.2.12` (as an empty instance):
/// the component-model preamble, a type section with one empty instance type, and an
/// import section naming the interface.
fn component_importing_sockets() -> Vec<u8> {
    let name = b"wasi:sockets/tcp@0.2.12";
    let mut bytes = vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    bytes.extend([0x07, 0x03, 0x01, 0x42, 0x00]);
    let mut import = vec![0x01, 0x00, name.len() as u8];
    import.extend(name);
    import.extend([0x05, 0x00]);
    bytes.extend([0x0a, import.len() as u8]);
    bytes.extend(import);
    bytes
}

pub async fn guest_with_forbidden_import_is_refused_at_start(
    scenario: &Scenario<'_>,
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let guest = dir.path().join("sockets.wasm");
    std::fs::write(&guest, component_importing_sockets())?;
    let output = tokio::process::Command::new(&scenario.stack.artifacts.host_bin)
        .args(["serve", "--no-auth", "--listen", "127.0.0.1:0", "--guest"])
        .arg(&guest)
        .kill_on_drop(true)
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        !output.status.success(),
        "the host started with a sockets-importing guest: {stderr}"
    );
    ensure!(
        stderr.contains("imports wasi:sockets/tcp@0.2.12"),
        "the refusal does not name the import: {stderr}"
    );
    Ok(())
}

/// The guest has no preopened directory, no environment and no arguments: every file the
/// old design quietly read is out of reach, and nothing can be written.
pub async fn no_files_environment_or_arguments(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let client = scenario.client(&host);
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let secrets = [
        "/etc/passwd".to_owned(),
        format!("{home}/.quilt/auth.json"),
        format!("{home}/.aws/credentials"),
    ];
    for path in &secrets {
        let read = client.request("read_file", json!({"path": path})).await?;
        ensure!(
            read["error"].is_string() && read.get("read").is_none(),
            "{path} was readable: {read}"
        );
    }
    for path in ["/", "."] {
        let listed = client.request("list_dir", json!({"path": path})).await?;
        ensure!(listed["error"].is_string(), "{path} was listable: {listed}");
    }
    let target = std::env::temp_dir().join(format!("quilt-mcp-hostile-{}", std::process::id()));
    let written = client
        .request("write_file", json!({"path": target.display().to_string()}))
        .await?;
    ensure!(
        written["error"].is_string(),
        "a file was written: {written}"
    );
    ensure!(
        !target.exists(),
        "{} appeared on the host",
        target.display()
    );
    let environment = client.request("environment", json!({})).await?;
    ensure!(
        environment["vars"] == json!([]),
        "environment visible: {environment}"
    );
    ensure!(
        environment["args"] == json!([]),
        "arguments visible: {environment}"
    );
    still_serving(&client).await
}

/// Credentials lying around the host — `~/.quilt/auth.json`, `~/.aws/credentials`, `AWS_*`
/// variables — all granting the admin identity, are never used: without a token the request is
/// refused, and with one the caller gets exactly what the configured source grants.
pub async fn planted_credentials_are_never_used(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("planted").await?;
    scenario
        .admin()
        .put_object(&bucket, "secret.txt", "admin only")
        .send()
        .await?;
    let home = tempfile::tempdir()?;
    std::fs::create_dir_all(home.path().join(".quilt"))?;
    std::fs::create_dir_all(home.path().join(".aws"))?;
    std::fs::write(
        home.path().join(".quilt/auth.json"),
        json!({"registry": {"refresh_token": "planted", "access_token": "planted", "expires_at": 4_102_444_800u64}}).to_string(),
    )?;
    std::fs::write(
        home.path().join(".aws/credentials"),
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            ADMIN.access_key_id, ADMIN.secret_access_key
        ),
    )?;
    let planted = vec![
        ("HOME".to_owned(), home.path().display().to_string()),
        (
            "AWS_ACCESS_KEY_ID".to_owned(),
            ADMIN.access_key_id.to_owned(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".to_owned(),
            ADMIN.secret_access_key.to_owned(),
        ),
        ("AWS_DEFAULT_REGION".to_owned(), "us-east-1".to_owned()),
    ];
    let secret = json!({"s3_uri": format!("s3://{bucket}/secret.txt")});

    // A caller whose configured credentials cannot read the bucket is denied it.
    let mut reader = scenario.spec(Guest::Tools);
    reader.credentials = READER.static_source_flags();
    reader.env = planted.clone();
    let host = scenario.start(reader).await?;
    let anonymous = McpClient::new(&host.mcp_url(), None);
    let refused = anonymous.send("tools/list", json!({})).await?;
    ensure!(refused.status == 401, "no token: HTTP {}", refused.status);
    let denied = scenario
        .client(&host)
        .call_tool("bucket_object_text", secret.clone())
        .await?
        .failure()?;
    ensure!(denied.contains("Access denied"), "{denied}");

    // With no credential source configured at all, the planted ones are not a fallback.
    let mut unconfigured = scenario.spec(Guest::Tools);
    unconfigured.credentials = Vec::new();
    unconfigured.env = planted;
    let host = scenario.start(unconfigured).await?;
    let refused = scenario
        .client(&host)
        .call_tool("bucket_object_text", secret)
        .await?
        .failure()?;
    ensure!(
        refused.contains("no AWS credential source configured"),
        "{refused}"
    );
    Ok(())
}

/// An HTTP server on a free loopback port answering every request with a 302 to `location`;
/// returns its origin. It lives until the test's runtime ends.
async fn redirect_server(location: &str) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let origin = format!("http://{}", listener.local_addr()?);
    let response = format!(
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    Ok(origin)
}

pub async fn stack_overflow_is_contained(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let client = scenario.client(&host);
    let reply = client.post_raw(request_with_id(43, "recurse"), &[]).await?;
    ensure!(
        reply.status == 500,
        "recursion: HTTP {} {}",
        reply.status,
        reply.text()
    );
    expect_internal_error(&reply, 43)?;
    still_serving(&client).await
}

pub async fn oversized_response_is_replaced_by_an_error(scenario: &Scenario<'_>) -> Result<()> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--max-response-bytes", "1048576"]);
    let host = scenario.start(spec).await?;
    let client = scenario.client(&host);
    let body = json!({"jsonrpc": "2.0", "id": 44, "method": "huge_response", "params": {"mib": 8}})
        .to_string();
    let reply = client.post_raw(body, &[]).await?;
    ensure!(reply.status == 500, "8 MiB response: HTTP {}", reply.status);
    expect_internal_error(&reply, 44)?;
    ensure!(
        reply.text().contains("limit of 1048576 bytes"),
        "{}",
        reply.text()
    );
    still_serving(&client).await
}
