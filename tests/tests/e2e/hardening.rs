//! What an attacker found (issue 11), each kept fixed: floods of connections, dribbled
//! bodies, smuggled hosts, duplicate keys, huge names, withdrawn and slow identity-provider
//! keys, secrets in logs, greedy callers, and guest failures leaking internals.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use quilt_mcp_tests::host_process::HostProcess;
use quilt_mcp_tests::hostile_guest::GUEST_RAN;
use quilt_mcp_tests::identity::{Identity, jwks, standard_claims};
use quilt_mcp_tests::jwks_server::JwksServer;
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::sandbox_report::Attempt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Guest, Scenario, args};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    connection_floods_are_survived,
    idle_connections_are_reaped,
    clients_that_never_read_are_cut_off,
    shutdown_drains_and_exits,
    abandoned_requests_are_logged,
    token_header_fields_are_bounded,
    dribbled_body_gets_408,
    secrets_stay_out_of_logs,
    duplicate_keys_are_refused,
    logged_fields_are_bounded,
    one_caller_cannot_starve_the_others,
    host_smuggling_is_refused,
    guest_failures_are_short_for_clients,
    critical_header_extensions_are_refused,
    withdrawn_keys_stop_being_trusted,
    slow_identity_provider_stalls_no_known_key,
];

/// How long a raw-socket exchange may take before the test calls it hung.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(10);

fn address(host: &HostProcess) -> String {
    host.base_url().trim_start_matches("http://").to_owned()
}

/// Writes `request` on a new connection and reads until the server closes it or answers one
/// response (`Content-Length` framed), whichever comes first.
async fn exchange(host: &HostProcess, request: &[u8]) -> Result<String> {
    let mut stream = TcpStream::connect(address(host)).await?;
    stream.write_all(request).await?;
    let mut received = Vec::new();
    let read = async {
        let mut buffer = [0; 4096];
        loop {
            let n = stream.read(&mut buffer).await?;
            if n == 0 || response_complete(&received) {
                break;
            }
            received.extend_from_slice(&buffer[..n]);
            if response_complete(&received) {
                break;
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(EXCHANGE_LIMIT, read)
        .await
        .context("the server neither answered nor closed the connection")??;
    Ok(String::from_utf8_lossy(&received).into_owned())
}

fn response_complete(received: &[u8]) -> bool {
    let text = String::from_utf8_lossy(received);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    body.len() >= length
}

fn status_of(response: &str) -> Option<u16> {
    response.split(' ').nth(1)?.parse().ok()
}

/// Item 1: `accept()` failing with EMFILE under a flood of idle connections is survived, and
/// connections past `--max-connections` are refused while the server goes on serving.
pub async fn connection_floods_are_survived(scenario: &Scenario<'_>) -> Result<()> {
    let attempt = Attempt::new(
        "connections",
        "120 idle connections under ulimit -n 64; then a newcomer while 4 of --max-connections 4 are busy",
        "accept errors survived, /healthz served; the newcomer served, the longest-held connection closed",
    );
    attempt.record(connection_floods_are_survived_checked(scenario).await)
}

async fn connection_floods_are_survived_checked(scenario: &Scenario<'_>) -> Result<String> {
    let host = scenario.host(Guest::Hostile).await?;
    limit_open_files(host.server_pid()?, 64)?;
    let mut flood = Vec::new();
    for _ in 0..120 {
        // Connections past the descriptor limit wait in the kernel's backlog: connecting works.
        flood.push(TcpStream::connect(address(&host)).await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(flood);
    healthy_within(&host, Duration::from_secs(15)).await?;
    ensure!(
        host.log().text().contains("accepting connections failed"),
        "the flood never reached the descriptor limit, so this proved nothing:\n{}",
        host.log().text()
    );

    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--max-connections", "4"]);
    let capped = scenario.start(spec).await?;
    // Four connections kept busy with cheap requests hold every place; a newcomer still gets
    // in, because the longest-held connection is asked to close to make room.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut connection = TcpStream::connect(address(&capped)).await?;
        connection
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut buffer = [0; 256];
        let _ = connection.read(&mut buffer).await?;
        held.push(connection);
    }
    let newcomer = exchange(&capped, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await?;
    ensure!(
        status_of(&newcomer) == Some(200),
        "a newcomer was not served while 4 of 4 connections were held: {newcomer:?}"
    );
    let mut oldest = held.remove(0);
    let mut buffer = [0; 64];
    let closed = tokio::time::timeout(EXCHANGE_LIMIT, oldest.read(&mut buffer)).await;
    ensure!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the longest-held connection was not closed: {closed:?}"
    );
    Ok(
        "EMFILE survived, /healthz served; newcomer HTTP 200, longest-held connection closed"
            .into(),
    )
}

/// A client that never reads its response loses the connection after the write timeout,
/// and until then the response counts against its caller's share.
pub async fn clients_that_never_read_are_cut_off(scenario: &Scenario<'_>) -> Result<()> {
    let attempt = Attempt::new(
        "connections",
        "a client that never reads an 8 MiB response, --write-timeout-secs 1",
        "connection closed, buffer freed; its share held until then (429), then served",
    );
    attempt.record(clients_that_never_read_are_cut_off_checked(scenario).await)
}

async fn clients_that_never_read_are_cut_off_checked(scenario: &Scenario<'_>) -> Result<String> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&[
        "--write-timeout-secs",
        "1",
        "--max-requests-per-caller",
        "1",
    ]);
    let host = scenario.start(spec).await?;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "huge_response", "params": {"mib": 8}})
        .to_string();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: {}\r\n\r\n{body}",
        scenario.token(&host),
        body.len()
    );
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let mut stalled = socket.connect(address(&host).parse()?).await?;
    stalled.write_all(request.as_bytes()).await?;
    // Answered by the guest, buffered by the host, and stuck: its caller is at its share.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = scenario.client(&host);
    let busy = client.send("whoami", json!({})).await?;
    ensure!(
        busy.status == 429,
        "a caller whose response is still unread started another request: HTTP {}",
        busy.status
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut received = 0;
    let mut buffer = vec![0; 1 << 16];
    let read_all = async {
        loop {
            match stalled.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received += n,
            }
        }
    };
    tokio::time::timeout(EXCHANGE_LIMIT, read_all)
        .await
        .context("the stalled connection was never closed")?;
    ensure!(
        received < 8 << 20,
        "the whole response ({received} bytes) waited for a client that did not read"
    );
    client.request("whoami", json!({})).await?;
    Ok(format!(
        "closed after {received} of 8388608 bytes; 429 while unread; then served"
    ))
}

/// On SIGTERM the server stops accepting, closes idle keep-alive connections at once, answers
/// what is in flight, and exits.
pub async fn shutdown_drains_and_exits(scenario: &Scenario<'_>) -> Result<()> {
    let attempt = Attempt::new(
        "connections",
        "SIGTERM with one request in flight and one idle keep-alive connection",
        "the request answered, the idle connection closed, no new connections accepted",
    );
    attempt.record(shutdown_drains_and_exits_checked(scenario).await)
}

async fn shutdown_drains_and_exits_checked(scenario: &Scenario<'_>) -> Result<String> {
    let host = scenario.host(Guest::Hostile).await?;
    let client = scenario.client(&host);
    let mut idle = TcpStream::connect(address(&host)).await?;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut buffer = [0; 256];
    let _ = idle.read(&mut buffer).await?;
    let in_flight = client.send("whoami_slow", json!({"hold_ms": 1500}));
    let terminate = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        // SAFETY: kill only sends a signal to the host process this trial started.
        let sent = unsafe { libc::kill(host.server_pid()? as libc::pid_t, libc::SIGTERM) };
        ensure!(
            sent == 0,
            "kill failed: {}",
            std::io::Error::last_os_error()
        );
        anyhow::Ok(Instant::now())
    };
    let (answered, signalled) = tokio::join!(in_flight, terminate);
    let signalled = signalled?;
    let answered = answered?;
    ensure!(
        answered.status == 200,
        "a request in flight at SIGTERM got HTTP {}",
        answered.status
    );
    let closed = tokio::time::timeout(Duration::from_secs(3), idle.read(&mut buffer)).await;
    ensure!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "an idle keep-alive connection outlived the shutdown: {closed:?}"
    );
    loop {
        if TcpStream::connect(address(&host)).await.is_err() {
            break;
        }
        ensure!(
            signalled.elapsed() < Duration::from_secs(5),
            "still accepting connections 5 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok("in-flight request HTTP 200; idle connection closed; accepting stopped".into())
}

/// A client that goes away before its answer still leaves the request's log line (status
/// 499), naming the tool it called, which may still be running.
pub async fn abandoned_requests_are_logged(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let client = scenario.client(&host);
    let abandoned = client.send("whoami_slow", json!({"hold_ms": 1500}));
    let _ = tokio::time::timeout(Duration::from_millis(300), abandoned).await;
    host.wait_for_log("status=499").await?;
    let log = host.log().text();
    ensure!(
        log.lines().any(|line| line.contains("status=499")
            && line.contains("whoami_slow")
            && line.contains("alice@example.com")),
        "the abandoned request's line lacks its method or subject:\n{log}"
    );
    Ok(())
}

/// Idle connections are closed after `--header-timeout-secs`, so they cannot hold the cap.
pub async fn idle_connections_are_reaped(scenario: &Scenario<'_>) -> Result<()> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--header-timeout-secs", "1"]);
    let host = scenario.start(spec).await?;
    let mut idle = TcpStream::connect(address(&host)).await?;
    let started = Instant::now();
    let mut buffer = [0; 64];
    let read = tokio::time::timeout(EXCHANGE_LIMIT, idle.read(&mut buffer)).await;
    ensure!(
        matches!(read, Ok(Ok(_)) | Ok(Err(_))),
        "an idle connection was kept past {EXCHANGE_LIMIT:?}"
    );
    let waited = started.elapsed();
    ensure!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "an idle connection was closed after {waited:?}, not about 1 s"
    );
    Ok(())
}

fn limit_open_files(pid: u32, limit: u64) -> Result<()> {
    let rlimit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: prlimit reads the struct passed to it and writes nothing (old limit: null).
    let result = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &rlimit,
            std::ptr::null_mut(),
        )
    };
    ensure!(
        result == 0,
        "prlimit failed: {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}

async fn healthy_within(host: &HostProcess, limit: Duration) -> Result<()> {
    let url = format!("{}/healthz", host.base_url());
    let started = Instant::now();
    loop {
        match reqwest::get(&url).await {
            Ok(response) if response.status() == 200 => return Ok(()),
            _ if started.elapsed() > limit => {
                bail!(
                    "{url} did not answer within {limit:?}:\n{}",
                    host.log().text()
                )
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Item 4: a body dribbled after its head gets 408 within the body deadline; no guest runs.
pub async fn dribbled_body_gets_408(scenario: &Scenario<'_>) -> Result<()> {
    let attempt = Attempt::new(
        "connections",
        "a body dribbled after its head, --body-timeout-secs 1",
        "HTTP 408 in about 1 s; no guest runs",
    );
    attempt.record(dribbled_body_gets_408_checked(scenario).await)
}

async fn dribbled_body_gets_408_checked(scenario: &Scenario<'_>) -> Result<String> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--body-timeout-secs", "1"]);
    let host = scenario.start(spec).await?;
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: 100\r\n\r\n{{\"jsonrpc\":\"2.0\",",
        scenario.token(&host)
    );
    let started = Instant::now();
    let response = exchange(&host, head.as_bytes()).await?;
    let waited = started.elapsed();
    ensure!(
        status_of(&response) == Some(408),
        "expected 408, got: {response}"
    );
    ensure!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "408 after {waited:?}, not about 1 s"
    );
    ensure!(
        !host.log().text().contains(GUEST_RAN),
        "the guest ran for a body that never arrived"
    );
    Ok(format!(
        "HTTP 408 after {:.1} s; the guest never ran",
        waited.as_secs_f64()
    ))
}

/// Item 5: a refused egress request is logged without its query (an S3 URL's signature and
/// session token), and a virtual-host S3 configuration that could never work is refused at
/// start with the reason.
pub async fn secrets_stay_out_of_logs(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let client = scenario.client(&host);
    let url = "http://127.0.0.1:9/bucket/key?X-Amz-Signature=SIGNATURE-SECRET&X-Amz-Security-Token=SESSION-SECRET";
    client.request("fetch", json!({"url": url})).await?;
    host.wait_for_log("guest egress refused").await?;
    let log = host.log().text();
    ensure!(
        log.contains("http://127.0.0.1:9/bucket/key"),
        "the refusal does not name its target:\n{log}"
    );
    ensure!(
        !log.contains("SIGNATURE-SECRET") && !log.contains("SESSION-SECRET"),
        "a presigned URL's secrets reached the log:\n{log}"
    );

    let mut spec = scenario.spec(Guest::Tools);
    spec.extra = args(&["--s3-path-style=false"]);
    let refused = match scenario.start(spec).await {
        Ok(_) => bail!("a host with --s3-path-style=false and no bucket origin allowed started"),
        Err(error) => format!("{error:#}"),
    };
    ensure!(
        refused.contains("--s3-path-style=false") && refused.contains("--egress-allow"),
        "the start-up refusal does not say why: {refused}"
    );
    Ok(())
}

/// Item 7: a message with a duplicate key is refused with -32600 before any guest runs, so
/// the log and the guest can never disagree about which method or tool ran.
pub async fn duplicate_keys_are_refused(scenario: &Scenario<'_>) -> Result<()> {
    let attempt = Attempt::new(
        "requests",
        "a message with a duplicate key (method, params.name)",
        "HTTP 400, -32600, before any guest runs",
    );
    attempt.record(duplicate_keys_are_refused_checked(scenario).await)
}

async fn duplicate_keys_are_refused_checked(scenario: &Scenario<'_>) -> Result<String> {
    let host = scenario.host(Guest::Hostile).await?;
    let client = scenario.client(&host);
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"rejected-duplicate-method"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"rejected-duplicate-name","params":{"name":"a","name":"b"}}"#,
    ] {
        let reply = client.post_raw(body, &[]).await?;
        ensure!(reply.status == 400, "{body}: HTTP {}", reply.status);
        let message = reply.json()?;
        ensure!(message["error"]["code"] == -32600, "{body}: {message}");
    }
    quilt_mcp_tests::hostile_guest::assert_guest_never_ran(&host, &client).await?;
    Ok("HTTP 400, -32600; the guest never ran".into())
}

/// Item 8: a client-chosen name or value is cut in the log line and in the answer.
pub async fn logged_fields_are_bounded(scenario: &Scenario<'_>) -> Result<()> {
    let attempt = Attempt::new(
        "requests",
        "900 KB tool name, argument value and key",
        "answers and log lines stay short",
    );
    attempt.record(logged_fields_are_bounded_checked(scenario).await)
}

async fn logged_fields_are_bounded_checked(scenario: &Scenario<'_>) -> Result<String> {
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let huge = "x".repeat(900_000);
    for (what, params) in [
        ("a tool name", json!({"name": huge, "arguments": {}})),
        (
            "an argument's value",
            json!({"name": "bucket_object_text", "arguments": {"s3_uri": "s3://b/k", "max_bytes": huge}}),
        ),
        (
            "a key",
            json!({"name": "bucket_object_info", "arguments": {"s3_uri": format!("s3://b/{huge}")}}),
        ),
    ] {
        let reply = client.send("tools/call", params).await?;
        ensure!(reply.status < 500, "{what}: HTTP {}", reply.status);
        ensure!(
            reply.text().len() < 8192,
            "{what} of 900 KB came back in a {} byte answer",
            reply.text().len()
        );
    }
    host.wait_for_log("quilt_mcp::request").await?;
    let log = host.log().text();
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    ensure!(
        longest < 4096,
        "a log line of {longest} bytes: client-chosen fields are not bounded"
    );
    Ok(format!(
        "answers under 8 KiB; longest log line {longest} bytes"
    ))
}

/// Item 9: while one caller floods the server with slow calls, another caller is served; the
/// flooding caller gets 429 with Retry-After past its share.
pub async fn one_caller_cannot_starve_the_others(scenario: &Scenario<'_>) -> Result<()> {
    let attempt = Attempt::new(
        "fairness",
        "40 concurrent slow calls from one caller, --max-instances 8",
        "every other caller served; the flooding caller held to its share with 429 + Retry-After",
    );
    attempt.record(one_caller_cannot_starve_the_others_checked(scenario).await)
}

async fn one_caller_cannot_starve_the_others_checked(scenario: &Scenario<'_>) -> Result<String> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--max-instances", "8"]);
    let host = scenario.start(spec).await?;
    let greedy = scenario.client(&host);
    let bob_claims = standard_claims(&scenario.stack.issuer(), &host.mcp_url(), "bob@example.com");
    let bob = McpClient::new(
        &host.mcp_url(),
        Some(scenario.stack.identity.sign(&bob_claims)),
    );

    let flood = futures::future::join_all(
        (0..40).map(|_| greedy.send("whoami_slow", json!({"hold_ms": 2000}))),
    );
    let others = async {
        // Let the flood take what it can first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(bob.send("whoami", json!({})).await?.status);
        }
        anyhow::Ok(statuses)
    };
    let (flood, others) = tokio::join!(flood, others);
    let others = others?;
    ensure!(
        others.iter().all(|status| *status == 200),
        "another caller was not served during the flood: {others:?}"
    );
    let mut too_many = 0;
    for reply in flood {
        let reply = reply?;
        match reply.status {
            200 => {}
            429 => {
                ensure!(
                    reply.header("retry-after").is_some(),
                    "429 without Retry-After"
                );
                too_many += 1;
            }
            status => bail!("the flooding caller got HTTP {status}: {}", reply.text()),
        }
    }
    ensure!(
        too_many > 0,
        "the flooding caller was never held to its share"
    );
    Ok(format!(
        "other caller: {others:?}; flooding caller: {too_many} of 40 got 429"
    ))
}

/// Item 10: two Host headers get 400; an absolute-form target's authority is the host that
/// must pass the allow-list.
pub async fn host_smuggling_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    let attempt = Attempt::new(
        "requests",
        "two Host headers; an absolute-form target naming another host",
        "HTTP 400; HTTP 403; the guest never ran",
    );
    attempt.record(host_smuggling_is_refused_checked(scenario).await)
}

async fn host_smuggling_is_refused_checked(scenario: &Scenario<'_>) -> Result<String> {
    let host = scenario.host(Guest::Hostile).await?;
    let token = scenario.token(&host);
    let request = |target: &str, hosts: &[&str], method: &str| {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method}).to_string();
        let mut request = format!("POST {target} HTTP/1.1\r\n");
        for name in hosts {
            request.push_str(&format!("Host: {name}\r\n"));
        }
        request.push_str(&format!(
            "Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        ));
        request
    };
    let two = request(
        "/mcp",
        &["localhost", "evil.example.com"],
        "rejected-two-hosts",
    );
    let two = exchange(&host, two.as_bytes()).await?;
    ensure!(status_of(&two) == Some(400), "two Host headers: {two}");
    let absolute = request(
        "http://evil.example.com/mcp",
        &["localhost"],
        "rejected-absolute-form",
    );
    let absolute = exchange(&host, absolute.as_bytes()).await?;
    ensure!(
        status_of(&absolute) == Some(403),
        "absolute-form target naming another host: {absolute}"
    );
    let allowed = request(
        &format!("{}/mcp", host.base_url()),
        &["localhost"],
        "absolute-form-allowed",
    );
    let allowed = exchange(&host, allowed.as_bytes()).await?;
    ensure!(
        status_of(&allowed) == Some(200),
        "absolute-form target naming this server: {allowed}"
    );
    let client = scenario.client(&host);
    quilt_mcp_tests::hostile_guest::assert_guest_never_ran(&host, &client).await?;
    Ok("HTTP 400; HTTP 403; the guest never ran".into())
}

/// Item 11 (host side): a trapped guest's 500 tells the client little and the log all.
pub async fn guest_failures_are_short_for_clients(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let reply = scenario.client(&host).send("trap", json!({})).await?;
    ensure!(reply.status == 500, "HTTP {}", reply.status);
    let text = reply.text();
    ensure!(
        text.len() < 512 && !text.contains("backtrace") && !text.contains("hostile guest"),
        "the client got the guest's internals ({} bytes): {text}",
        text.len()
    );
    let message = reply.json()?;
    let message = message["error"]["message"].as_str().unwrap_or_default();
    let request_id = message
        .split_whitespace()
        .find(|word| word.len() == 36 && word.matches('-').count() == 4)
        .with_context(|| format!("no request id in {message:?}"))?;
    host.wait_for_log("guest produced no response").await?;
    let log = host.log().text();
    ensure!(
        log.lines()
            .any(|line| line.contains("guest produced no response") && line.contains(request_id)),
        "no log line for request {request_id}:\n{log}"
    );
    ensure!(
        log.contains("backtrace"),
        "the log lacks the failure's detail:\n{log}"
    );
    Ok(())
}

/// Item 13: a token whose header marks an extension critical is refused (RFC 7515 §4.1.11).
pub async fn critical_header_extensions_are_refused(scenario: &Scenario<'_>) -> Result<()> {
    let attempt = Attempt::new(
        "tokens",
        "a token whose header marks crit: [\"exp\"]",
        "HTTP 401 naming the critical extension; no guest runs",
    );
    attempt.record(critical_header_extensions_are_refused_checked(scenario).await)
}

async fn critical_header_extensions_are_refused_checked(scenario: &Scenario<'_>) -> Result<String> {
    const SECRET: &str = "hardening-hs256-secret";
    let mut spec = scenario.spec(Guest::Hostile);
    spec.auth = args(&[
        "--jwt-hs256-secret",
        SECRET,
        "--jwt-issuer",
        "https://issuer.example",
    ]);
    let host = scenario.start(spec).await?;
    let claims = standard_claims("https://issuer.example", &host.mcp_url(), "alice");
    let sign = |crit: Option<Vec<String>>| {
        let mut header = Header::new(Algorithm::HS256);
        header.crit = crit;
        jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
    };
    let plain = McpClient::new(&host.mcp_url(), Some(sign(None)?));
    plain.request("whoami", json!({})).await?;
    let critical = McpClient::new(&host.mcp_url(), Some(sign(Some(vec!["exp".into()]))?));
    let reply = critical.send("rejected-crit", json!({})).await?;
    ensure!(
        reply.status == 401,
        "HTTP {}: {}",
        reply.status,
        reply.text()
    );
    ensure!(
        reply.text().contains("critical"),
        "the refusal does not say why: {}",
        reply.text()
    );
    quilt_mcp_tests::hostile_guest::assert_guest_never_ran(&host, &plain).await?;
    Ok("HTTP 401 (critical extension); the guest never ran".into())
}

/// Item 8: a token's header fields reach the log and the 401 cut short.
pub async fn token_header_fields_are_bounded(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let huge_kid = "k".repeat(100_000);
    let token = scenario
        .stack
        .identity
        .sign_with_kid(&scenario.claims(&host), &huge_kid);
    let reply = McpClient::new(&host.mcp_url(), Some(token))
        .send("rejected-huge-kid", json!({}))
        .await?;
    ensure!(reply.status == 401, "HTTP {}", reply.status);
    let challenge = reply.header("www-authenticate").unwrap_or_default().len();
    ensure!(
        reply.text().len() < 1024 && challenge < 1024,
        "a 100 KB kid came back in a {} byte body and a {challenge} byte challenge",
        reply.text().len()
    );
    host.wait_for_log("bearer token refused").await?;
    let longest = host.log().text().lines().map(str::len).max().unwrap_or(0);
    ensure!(longest < 4096, "a log line of {longest} bytes");
    Ok(())
}

/// Item 3: a key withdrawn from the JWKS stops being trusted once the set's max-age has
/// passed, even for a token verified before.
pub async fn withdrawn_keys_stop_being_trusted(scenario: &Scenario<'_>) -> Result<()> {
    let attempt = Attempt::new(
        "tokens",
        "a key withdrawn from the JWKS (max-age 1 s), token verified before",
        "HTTP 401 once the set is past its max age; the remaining key still accepted",
    );
    attempt.record(withdrawn_keys_stop_being_trusted_checked(scenario).await)
}

async fn withdrawn_keys_stop_being_trusted_checked(scenario: &Scenario<'_>) -> Result<String> {
    let (first, second) = (Identity::generate("first")?, Identity::generate("second")?);
    let jwks_server = JwksServer::start(jwks(&[&first, &second])).await?;
    jwks_server.set_max_age(Some(1));
    let host = scenario
        .host_trusting(&jwks_server, &["--jwks-min-refetch-secs", "1"])
        .await?;
    let token = first.sign(&claims_for(&jwks_server, &host, "alice"));
    let client = McpClient::new(&host.mcp_url(), Some(token));
    client.request("whoami", json!({})).await?;

    jwks_server.publish(jwks(&[&second]));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The set is past its max age: the very next request waits for the refresh.
    let statuses = vec![client.send("whoami", json!({})).await?.status];
    ensure!(
        statuses == [401],
        "a withdrawn key was still trusted: {statuses:?}"
    );
    let kept = McpClient::new(
        &host.mcp_url(),
        Some(second.sign(&claims_for(&jwks_server, &host, "bob"))),
    );
    kept.request("whoami", json!({})).await?;
    Ok(format!(
        "statuses after withdrawal: {statuses:?}; the other key accepted"
    ))
}

/// Item 3: a slow identity provider, fetched for an unknown `kid`, stalls no token whose key
/// is already known.
pub async fn slow_identity_provider_stalls_no_known_key(scenario: &Scenario<'_>) -> Result<()> {
    let attempt = Attempt::new(
        "tokens",
        "an unknown kid while the JWKS answers in 4 s",
        "a token whose key is known is answered at once",
    );
    attempt.record(slow_identity_provider_stalls_no_known_key_checked(scenario).await)
}

async fn slow_identity_provider_stalls_no_known_key_checked(
    scenario: &Scenario<'_>,
) -> Result<String> {
    let known = Identity::generate("known")?;
    let jwks_server = JwksServer::start(jwks(&[&known])).await?;
    let host = scenario
        .host_trusting(&jwks_server, &["--jwks-min-refetch-secs", "0"])
        .await?;
    let sign = |subject: &str| known.sign(&claims_for(&jwks_server, &host, subject));
    McpClient::new(&host.mcp_url(), Some(sign("first")))
        .request("whoami", json!({}))
        .await?;

    jwks_server.set_delay(Duration::from_secs(4));
    let unknown = known.sign_with_kid(&claims_for(&jwks_server, &host, "stranger"), "unknown");
    let stranger = McpClient::new(&host.mcp_url(), Some(unknown));
    let fresh = McpClient::new(&host.mcp_url(), Some(sign("second")));
    let stalled = stranger.send("rejected-unknown-kid", json!({}));
    let known_key = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let reply = fresh.send("whoami", json!({})).await?;
        anyhow::Ok((reply.status, started.elapsed()))
    };
    let (stalled, known_key) = tokio::join!(stalled, known_key);
    let (status, waited) = known_key?;
    ensure!(status == 200, "the known key's token got HTTP {status}");
    ensure!(
        waited < Duration::from_millis(2000),
        "a token with a known key waited {waited:?} behind a slow JWKS fetch"
    );
    ensure!(stalled?.status == 401, "an unknown kid was accepted");
    Ok(format!(
        "known key answered in {:.2} s; unknown kid 401",
        waited.as_secs_f64()
    ))
}

fn claims_for(jwks_server: &JwksServer, host: &HostProcess, subject: &str) -> Value {
    standard_claims(&jwks_server.origin(), &host.mcp_url(), subject)
}
