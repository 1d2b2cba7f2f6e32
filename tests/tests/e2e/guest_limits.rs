//! Limits the tools guest keeps within: a refused request is not sent again, the largest
//! reads the tools advertise fit in the default guest memory, and a server's huge error
//! body is neither read whole nor echoed whole.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use quilt_mcp_tests::host_process::{HostLaunch, HostProcess};
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::seaweedfs::ADMIN;
use quilt_mcp_tests::wasmtime_serve::{StandaloneArtifacts, WasmtimeServe};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{Guest, Scenario, args};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    refused_egress_is_attempted_once,
    largest_reads_fit_in_default_memory,
    huge_s3_error_is_cut_short,
    oversized_results_are_a_tool_error,
    standalone_guest_refuses_duplicate_keys,
];

/// The `max_bytes` bucket_object_fetch and bucket_object_text advertise.
const MAX_READ_BYTES: usize = 16 * 1024 * 1024;
const REFUSED: &str = "guest egress refused";

/// A tools host with S3 at `endpoint` (instead of the shared SeaweedFS's) and `extra` flags.
async fn host_with_endpoint(
    scenario: &Scenario<'_>,
    endpoint: &str,
    extra: &[&str],
) -> Result<HostProcess> {
    let spec = scenario.spec(Guest::Tools);
    let mut flags = args(&["--s3-endpoint", endpoint]);
    flags.extend(spec.auth);
    flags.extend(spec.credentials);
    flags.extend(args(extra));
    let artifacts = &scenario.stack.artifacts;
    HostProcess::start(HostLaunch {
        host_bin: &artifacts.host_bin,
        guest: &artifacts.guest,
        listen: "127.0.0.1:0",
        args: &flags,
        env: &[],
        echo_logs: false,
    })
    .await
}

/// Virtual-host buckets make every bucket its own origin, so allowing one bucket's origin
/// leaves the others refused: a put to another bucket is refused by the host's allow-list,
/// which must happen once per call, not once per retry.
pub async fn refused_egress_is_attempted_once(scenario: &Scenario<'_>) -> Result<()> {
    let port = scenario.stack.seaweed.s3_endpoint.port().unwrap_or(80);
    let endpoint = format!("http://localhost:{port}");
    let allowed = format!("http://allowed.localhost:{port}");
    let host = host_with_endpoint(
        scenario,
        &endpoint,
        &["--s3-path-style=false", "--egress-allow", &allowed],
    )
    .await?;
    let client = scenario.client(&host);

    let put = client
        .call_tool(
            "bucket_objects_put",
            json!({"bucket": "elsewhere", "items": [{"key": "k.txt", "text": "hello"}]}),
        )
        .await?
        .failure()?;
    ensure_refused_once(&host, "bucket_objects_put", 0).await?;
    ensure!(
        put.contains("egress allow-list refused http://elsewhere.localhost"),
        "the refusal is not named: {put}"
    );

    let text = client
        .call_tool(
            "bucket_object_text",
            json!({"s3_uri": "s3://elsewhere-too/k.txt"}),
        )
        .await?
        .failure()?;
    ensure_refused_once(&host, "bucket_object_text", 1).await?;
    ensure!(
        text.contains("egress allow-list refused"),
        "the refusal is not named: {text}"
    );
    Ok(())
}

/// Waits for a refusal after the `before` already logged, then checks it was the only one
/// (log lines arrive a little after the response; any retry was logged before it).
async fn ensure_refused_once(host: &HostProcess, tool: &str, before: usize) -> Result<()> {
    let refusals = || host.log().text().matches(REFUSED).count();
    let deadline = Instant::now() + Duration::from_secs(10);
    while refusals() == before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = refusals() - before;
    ensure!(
        sent == 1,
        "{tool}: {sent} refused requests for one call:\n{}",
        host.log().text()
    );
    Ok(())
}

/// The largest read both tools advertise, of an object exactly that large, in the default
/// guest memory: answered 200 with every byte.
pub async fn largest_reads_fit_in_default_memory(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("largest-read").await?;
    let binary: Vec<u8> = (0..MAX_READ_BYTES)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let lines: Vec<u8> = (0..)
        .flat_map(|line| format!("line {line:08} of a large text object\n").into_bytes())
        .take(MAX_READ_BYTES)
        .collect();
    let text = String::from_utf8(lines)?;
    let admin = scenario.admin();
    admin
        .put_object(&bucket, "large.bin", binary.clone())
        .send()
        .await?;
    admin
        .put_object(&bucket, "large.txt", text.clone())
        .send()
        .await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let read = async |tool: &str, key: &str| {
        client
            .call_tool(
                tool,
                json!({"s3_uri": format!("s3://{bucket}/{key}"), "max_bytes": MAX_READ_BYTES}),
            )
            .await
    };

    let fetched = read("bucket_object_fetch", "large.bin").await?.success()?;
    let data = BASE64.decode(fetched["data_base64"].as_str().unwrap_or_default())?;
    ensure!(
        data == binary,
        "bucket_object_fetch returned {} bytes, not the object",
        data.len()
    );
    ensure!(
        fetched["size"] == MAX_READ_BYTES && fetched["truncated"] == false,
        "bucket_object_fetch: size {} truncated {}",
        fetched["size"],
        fetched["truncated"]
    );

    let read_text = read("bucket_object_text", "large.txt").await?.success()?;
    ensure!(
        read_text["text"].as_str() == Some(text.as_str()),
        "bucket_object_text returned {} bytes of text, not the object",
        read_text["text"].as_str().map_or(0, str::len)
    );
    ensure!(
        read_text["bytes_read"] == MAX_READ_BYTES && read_text["truncated"] == false,
        "bucket_object_text: bytes_read {} truncated {}",
        read_text["bytes_read"],
        read_text["truncated"]
    );
    Ok(())
}

/// An S3 endpoint that answers everything with a 500 and an S3 error whose message is
/// `huge` bytes long, or `long` bytes for a key with "long" in it.
async fn erring_s3(huge: usize, long: usize) -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let origin = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((mut connection, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 16 * 1024];
                let read = connection.read(&mut request).await.unwrap_or(0);
                let request_line = String::from_utf8_lossy(&request[..read]);
                let length = if request_line.contains("long") {
                    long
                } else {
                    huge
                };
                let body = format!(
                    "<Error><Code>SlowDown</Code><Message>{}</Message></Error>",
                    "x".repeat(length)
                );
                let head = format!(
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = connection.write_all(head.as_bytes()).await;
                let _ = connection.write_all(body.as_bytes()).await;
            });
        }
    });
    Ok(origin)
}

/// An error message of 12 MiB (under the 16 MiB a read may ask for) and one of 20 KiB
/// (under the error body cap): either way the tool's error stays short.
pub async fn huge_s3_error_is_cut_short(scenario: &Scenario<'_>) -> Result<()> {
    let endpoint = erring_s3(12 * 1024 * 1024, 20 * 1024).await?;
    let host = host_with_endpoint(scenario, &endpoint, &[]).await?;
    let client = scenario.client(&host);
    let read = async |key: &str| {
        client
            .call_tool(
                "bucket_object_text",
                json!({"s3_uri": format!("s3://bucket/{key}"), "max_bytes": MAX_READ_BYTES}),
            )
            .await?
            .failure()
    };
    for key in ["huge.txt", "long.txt"] {
        let error = read(key).await?;
        ensure!(
            error.len() < 1_000,
            "{key}: a {} byte error was echoed: {}…",
            error.len(),
            &error[..200.min(error.len())]
        );
        ensure!(
            error.contains(&format!("s3://bucket/{key}")) && error.contains("500"),
            "{key}: {error}"
        );
    }
    let long = read("long.txt").await?;
    ensure!(
        long.contains("SlowDown (xxx") && long.contains("x…"),
        "a message under the cap is quoted, cut: {long}"
    );
    Ok(())
}

/// Text that JSON must escape (a control character becomes six bytes) makes a result far
/// larger than the bytes read: too large to send, it is refused as a tool error naming what
/// to ask for instead, and the guest never runs out of memory building it.
pub async fn oversized_results_are_a_tool_error(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("escaped-read").await?;
    scenario
        .admin()
        .put_object(&bucket, "controls.txt", vec![1u8; MAX_READ_BYTES])
        .send()
        .await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let read = async |max_bytes: usize| {
        client
            .call_tool(
                "bucket_object_text",
                json!({"s3_uri": format!("s3://{bucket}/controls.txt"), "max_bytes": max_bytes, "encoding": "latin-1"}),
            )
            .await
    };
    let refused = read(MAX_READ_BYTES).await?.failure()?;
    ensure!(
        refused.contains("max_bytes"),
        "the error does not say what to ask for: {refused}"
    );
    let smaller = read(1024 * 1024).await?.success()?;
    ensure!(
        smaller["text"].as_str().map(str::len) == Some(1024 * 1024),
        "a smaller read: {}",
        smaller["bytes_read"]
    );
    Ok(())
}

/// Without our host in front (here under `wasmtime serve`), the guest itself refuses a
/// message with a key twice, as our host does, and runs nothing.
pub async fn standalone_guest_refuses_duplicate_keys(scenario: &Scenario<'_>) -> Result<()> {
    let artifacts = StandaloneArtifacts::from_env()?;
    let endpoint = scenario.stack.seaweed.s3_endpoint.as_str();
    let config = [
        ("s3_endpoint", endpoint.trim_end_matches('/').to_owned()),
        ("aws_access_key_id", ADMIN.access_key_id.to_owned()),
        ("aws_secret_access_key", ADMIN.secret_access_key.to_owned()),
    ];
    let server = WasmtimeServe::start(&artifacts.wasmtime, &artifacts.tools, &config).await?;
    let client = McpClient::new(&server.mcp_url(), None);
    let twice = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"auth_status","name":"bucket_objects_list","arguments":{"bucket":"b"}}}"#;
    let reply = client.post_raw(twice, &[]).await?;
    let answer = reply.json()?;
    ensure!(
        reply.status == 400
            && answer["error"]["code"] == -32600
            && answer["error"]["message"]
                .as_str()
                .is_some_and(|message| message.contains("the key \"name\" twice")),
        "HTTP {}: {answer}",
        reply.status
    );
    Ok(())
}
