//! What the host contains when a guest misbehaves, and what it never lets through:
//! traps, endless loops and memory exhaustion end one request, not the server; no
//! state survives a request; egress only to allowed origins; no credential headers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use quilt_mcp_tests::host_process::{HostLaunch, HostProcess};
use quilt_mcp_tests::host_sandbox::HostSandbox;
use quilt_mcp_tests::identity::standard_claims;
use quilt_mcp_tests::jwks_server::JwksServer;
use quilt_mcp_tests::mcp::{McpClient, Reply};
use quilt_mcp_tests::sandbox_report::Attempt;
use quilt_mcp_tests::seaweedfs::{ADMIN, READER};
use quilt_mcp_tests::sts::{BucketReader, WebIdentityTrust, role_arn};
use serde_json::{Value, json};

use crate::support::{Guest, SUBJECT, Scenario, args};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    trap_is_contained,
    endless_loop_times_out,
    memory_exhaustion_is_contained,
    no_state_survives_a_request,
    deadline_covers_a_slow_outgoing_request,
    deadline_covers_a_slow_s3,
    full_pool_answers_503,
    egress_is_limited_to_the_allowlist,
    credential_headers_are_stripped,
    request_context_carries_the_caller,
    guest_output_is_logged_per_request,
    no_credentials_configured,
    guest_with_forbidden_import_is_refused_at_start,
    no_files_environment_or_arguments,
    planted_credentials_are_never_used,
    stack_overflow_is_contained,
    oversized_response_is_replaced_by_an_error,
    concurrent_callers_see_only_their_own,
];

/// What every contained failure must look like to the client and to the next request.
const CONTAINED: &str = "HTTP 500, JSON-RPC error -32603; next request served";

pub async fn trap_is_contained(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let client = scenario.client(&host);
    let attempt = Attempt::new("resources", "panic (a trap) in the guest", CONTAINED);
    attempt.record(contained(&client, request(41, "trap", json!({})), 500).await)
}

pub async fn endless_loop_times_out(scenario: &Scenario<'_>) -> Result<()> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--request-timeout-ms", "1000"]);
    let host = scenario.start(spec).await?;
    let client = scenario.client(&host);
    let attempt = Attempt::new(
        "resources",
        "endless loop, --request-timeout-ms 1000",
        "HTTP 504 at the deadline, JSON-RPC error -32603; next request served",
    );
    attempt.record(
        times_out(
            &client,
            request(42, "loop", json!({})),
            still_serving(&client),
        )
        .await,
    )
}

/// A 1 s deadline (`--request-timeout-ms 1000`) seen from the client: not before it, and not
/// long after it (scheduling slack on a busy machine, never an unbounded wait).
const DEADLINE_WINDOW: std::ops::Range<Duration> =
    Duration::from_millis(900)..Duration::from_secs(3);

/// Sends `message`, expects 504 with the host's JSON-RPC error inside [`DEADLINE_WINDOW`],
/// then `next` to be served; describes what it saw.
async fn times_out(
    client: &McpClient,
    message: Value,
    next: impl Future<Output = Result<()>>,
) -> Result<String> {
    let started = Instant::now();
    let reply = tokio::time::timeout(
        DEADLINE_WINDOW.end,
        client.post_raw(message.to_string(), &[]),
    )
    .await
    .with_context(|| format!("no answer within {:?}", DEADLINE_WINDOW.end))??;
    let elapsed = started.elapsed();
    ensure!(
        reply.status == 504,
        "{}: HTTP {} after {elapsed:?}: {}",
        message["method"],
        reply.status,
        reply.text()
    );
    ensure!(
        DEADLINE_WINDOW.contains(&elapsed),
        "answered after {elapsed:?}, outside {DEADLINE_WINDOW:?} of a 1 s deadline"
    );
    expect_internal_error(&reply, message["id"].as_u64().unwrap_or_default())?;
    next.await?;
    Ok(format!(
        "HTTP 504 after {:.2} s; next request served",
        elapsed.as_secs_f64()
    ))
}

/// The guest waits on the host for an allowed origin that accepts the connection and never
/// answers: the deadline still ends the request.
pub async fn deadline_covers_a_slow_outgoing_request(scenario: &Scenario<'_>) -> Result<()> {
    let silent = SilentServer::start().await?;
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&[
        "--request-timeout-ms",
        "1000",
        "--egress-allow",
        silent.origin(),
    ]);
    let host = scenario.start(spec).await?;
    let client = scenario.client(&host);
    let attempt = Attempt::new(
        "resources",
        "fetch from an allowed origin that never answers, --request-timeout-ms 1000",
        "HTTP 504 at the deadline; next request served",
    );
    let fetch = request(
        45,
        "fetch",
        json!({"url": format!("{}/slow", silent.origin())}),
    );
    let outcome = times_out(&client, fetch, still_serving(&client)).await;
    attempt.record(outcome.and_then(|observed| silent.was_reached(observed)))
}

/// The tools guest lists a bucket at an S3 endpoint that accepts the connection and never
/// answers: the deadline ends the request, and the host serves the next one.
pub async fn deadline_covers_a_slow_s3(scenario: &Scenario<'_>) -> Result<()> {
    let silent = SilentServer::start().await?;
    let spec = scenario.spec(Guest::Tools);
    let mut flags = args(&[
        "--s3-endpoint",
        silent.origin(),
        "--request-timeout-ms",
        "1000",
    ]);
    flags.extend(spec.auth);
    flags.extend(spec.credentials);
    // Started here rather than by the scenario, which points every host at the shared S3.
    let host = HostProcess::start(HostLaunch {
        host_bin: &scenario.stack.artifacts.host_bin,
        guest: &scenario.stack.artifacts.guest,
        listen: "127.0.0.1:0",
        args: &flags,
        env: &[],
        echo_logs: false,
    })
    .await?;
    let client = scenario.client(&host);
    let attempt = Attempt::new(
        "resources",
        "bucket_objects_list at an S3 that never answers, --request-timeout-ms 1000",
        "HTTP 504 at the deadline; next request served",
    );
    let list = request(
        46,
        "tools/call",
        json!({"name": "bucket_objects_list", "arguments": {"bucket": "slow"}}),
    );
    let next = async {
        client.request("tools/list", json!({})).await?;
        Ok(())
    };
    let outcome = times_out(&client, list, next).await;
    attempt
        .record(outcome.and_then(|observed| silent.was_reached(observed)))
        .map_err(|error| anyhow!("{error:#}\n--- host log ---\n{}", host.log().text()))
}

/// A loopback server that accepts connections, reads what comes and never answers; it counts
/// the connections, so a test can tell "waited on it" from "never got there".
struct SilentServer {
    origin: String,
    connections: Arc<AtomicUsize>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl SilentServer {
    async fn start() -> Result<Self> {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let origin = format!("http://{}", listener.local_addr()?);
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let accept_loop = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                // Held until the client gives up: reading to the end never answers.
                tokio::spawn(async move {
                    let mut sink = [0u8; 4096];
                    while stream.read(&mut sink).await.is_ok_and(|read| read > 0) {}
                });
            }
        });
        Ok(Self {
            origin,
            connections,
            accept_loop,
        })
    }

    fn origin(&self) -> &str {
        &self.origin
    }

    /// `observed`, if the guest's request got here at all.
    fn was_reached(&self, observed: String) -> Result<String> {
        let connections = self.connections.load(Ordering::SeqCst);
        ensure!(
            connections > 0,
            "the request never reached the silent server: the timeout came from elsewhere"
        );
        Ok(observed)
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

pub async fn memory_exhaustion_is_contained(scenario: &Scenario<'_>) -> Result<()> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--guest-memory-mib", "16"]);
    let host = scenario.start(spec).await?;
    let client = scenario.client(&host);
    let attempt = Attempt::new(
        "resources",
        "allocate past --guest-memory-mib 16",
        CONTAINED,
    );
    attempt.record(contained(&client, request(43, "alloc", json!({})), 500).await)?;
    // Allocating without end fails under any cap; these two sizes tell 16 MiB from the
    // 64 MiB default.
    let attempt = Attempt::new(
        "resources",
        "hold 8 MiB, then 32 MiB, under --guest-memory-mib 16",
        "8 MiB served; 32 MiB HTTP 500; next request served",
    );
    let outcome = async {
        let held = client.request("hold", json!({"mib": 8})).await?;
        ensure!(held["held_mib"] == 8, "holding 8 MiB: {held}");
        let refused = contained(&client, request(47, "hold", json!({"mib": 32})), 500).await?;
        Ok(format!("8 MiB served; 32 MiB: {refused}"))
    };
    attempt.record(outcome.await)
}

pub async fn no_state_survives_a_request(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let client = scenario.client(&host);
    let attempt = Attempt::new(
        "state",
        "write a global, read it in the next request",
        "the next request reads 0",
    );
    let outcome = async {
        let mut seen = Vec::new();
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
            seen.push(format!("wrote {value}, next read {}", read["counter"]));
        }
        Ok(seen.join("; "))
    };
    attempt.record(outcome.await)
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

    let denied = [
        (
            "http to an origin allowed only over https",
            format!("{}/secret", forbidden.origin()),
        ),
        (
            "the host's own port (not on the list)",
            format!("{}/healthz", host.base_url()),
        ),
        (
            "the JWKS server (not on the list)",
            scenario.stack.jwks.jwks_url(),
        ),
        (
            "cloud metadata 169.254.169.254",
            "http://169.254.169.254/latest/meta-data/".to_string(),
        ),
    ];
    for (what, url) in denied {
        let attempt = Attempt::new(
            "egress",
            format!("GET {what}"),
            "HttpRequestDenied, refused before connecting",
        );
        let outcome = async {
            let result = fetch(url.clone()).await?;
            let error = result["error"].as_str().unwrap_or_default();
            ensure!(
                error.contains("HttpRequestDenied"),
                "GET {url} was not denied: {result}"
            );
            Ok(error.to_owned())
        };
        attempt.record(outcome.await)?;
    }
    // An allowed origin answering with a redirect elsewhere: the redirect comes back to the
    // guest instead of being followed, and following it is a new request, refused as above.
    let attempt = Attempt::new(
        "egress",
        "redirect from an allowed origin to a forbidden one",
        "302 handed back to the guest, not followed; forbidden server never reached",
    );
    let outcome = async {
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
        Ok("302 returned to the guest; forbidden server: 0 requests".to_owned())
    };
    attempt.record(outcome.await)?;

    let attempt = Attempt::new(
        "egress",
        "GET an --egress-allow origin, and the S3 endpoint",
        "served",
    );
    let outcome = async {
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
        let s3 = fetch(s3_url.clone()).await?;
        ensure!(s3["status"].is_u64(), "GET {s3_url}: {s3}");
        Ok(format!(
            "HTTP {} and HTTP {}",
            result["status"], s3["status"]
        ))
    };
    attempt.record(outcome.await)
}

pub async fn credential_headers_are_stripped(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let attempt = Attempt::new(
        "request",
        "read the Authorization, Cookie and Proxy-Authorization headers",
        "stripped before the guest runs",
    );
    attempt.record(stripped_headers(scenario, &host).await)
}

async fn stripped_headers(scenario: &Scenario<'_>, host: &HostProcess) -> Result<String> {
    let extra = [
        ("cookie", "session=top-secret"),
        ("proxy-authorization", "Basic cHJveHk6dG9wLXNlY3JldA=="),
        ("x-probe", "reaches-the-guest"),
    ];
    let reply = scenario
        .client(host)
        .post_raw(request(1, "headers", json!({})).to_string(), &extra)
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
    for stripped in ["authorization", "cookie", "proxy-authorization"] {
        ensure!(
            !names.iter().any(|name| name == stripped),
            "{stripped} reached the guest: {headers}"
        );
    }
    Ok(format!("the guest saw {}", names.join(", ")))
}

/// How long the requests filling the pool stay in the guest: longer than any wait for a free
/// slot the host may make before it answers 503, so the request sent meanwhile must get 503.
const POOL_HOLD: Duration = Duration::from_secs(8);
/// The longest wait for the holding requests to reach the guest (instances start in ms).
const POOL_ARRIVAL: Duration = Duration::from_secs(30);

/// `--max-instances 2` with two requests held in the guest: a third gets 503 with the host's
/// JSON-RPC error, and once they are done the next request is served. Each request comes from
/// a caller of its own, so only the pool, not a per-caller cap, can refuse it.
pub async fn full_pool_answers_503(scenario: &Scenario<'_>) -> Result<()> {
    // Each holding request calls here once it is inside the guest.
    let arrivals = JwksServer::start(json!({})).await?;
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--max-instances", "2", "--egress-allow", &arrivals.origin()]);
    let host = scenario.start(spec).await?;
    let client_for = |subject: &str| {
        let claims = standard_claims(&scenario.stack.issuer(), &host.mcp_url(), subject);
        McpClient::new(&host.mcp_url(), Some(scenario.stack.identity.sign(&claims)))
    };
    let callers = [
        client_for("holder-1@example.com"),
        client_for("holder-2@example.com"),
        client_for("third@example.com"),
    ];
    let attempt = Attempt::new(
        "resources",
        "a third request while --max-instances 2 are busy",
        "HTTP 503, JSON-RPC error -32603; served once a slot is free",
    );
    attempt.record(overflow_the_pool(&callers, &arrivals).await)
}

/// The first two callers hold the pool; once both have called `arrivals` from inside the
/// guest, the third sends its request.
async fn overflow_the_pool(
    [first, second, third]: &[McpClient; 3],
    arrivals: &JwksServer,
) -> Result<String> {
    let hold = json!({
        "hold_ms": POOL_HOLD.as_millis() as u64,
        "signal_url": format!("{}/inside", arrivals.origin()),
    });
    let holders = futures::future::try_join(
        first.request("whoami_slow", hold.clone()),
        second.request("whoami_slow", hold),
    );
    let overflow = async {
        let waiting = Instant::now();
        while arrivals.hits() < 2 {
            ensure!(
                waiting.elapsed() < POOL_ARRIVAL,
                "the holding requests did not reach the guest within {POOL_ARRIVAL:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let sent_ms = unix_millis();
        let reply = third
            .post_raw(request(49, "whoami", json!({})).to_string(), &[])
            .await?;
        Ok((sent_ms, unix_millis(), reply))
    };
    let (held, (sent_ms, answered_ms, reply)) =
        futures::future::try_join(holders, overflow).await?;
    for answer in [&held.0, &held.1] {
        let (started, finished) = (
            answer["started_ms"].as_u64(),
            answer["finished_ms"].as_u64(),
        );
        ensure!(
            started.is_some_and(|at| at <= sent_ms) && finished.is_some_and(|at| at >= answered_ms),
            "the pool was not full while the third request ran ({sent_ms}..{answered_ms} ms): {answer}"
        );
    }
    ensure!(
        reply.status == 503,
        "third request with a full pool: HTTP {} {}",
        reply.status,
        reply.text()
    );
    expect_internal_error(&reply, 49)?;
    still_serving(third).await?;
    Ok(format!(
        "HTTP 503 after {} ms, JSON-RPC error {}; next request served",
        answered_ms - sent_ms,
        reply.json()?["error"]["code"]
    ))
}

fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

pub async fn request_context_carries_the_caller(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let mut claims = scenario.claims(&host);
    claims["email"] = json!(SUBJECT);
    claims["internal_note"] = json!("not for the guest");
    let client = McpClient::new(&host.mcp_url(), Some(scenario.stack.identity.sign(&claims)));
    let attempt = Attempt::new(
        "request",
        "read the caller and a claim not on the forwarded list",
        "own subject and issuer; only forwarded claims",
    );
    attempt.record(caller_as_forwarded(scenario, &client).await)
}

async fn caller_as_forwarded(scenario: &Scenario<'_>, client: &McpClient) -> Result<String> {
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
    let names: Vec<&str> = forwarded.iter().map(|(name, _)| name.as_str()).collect();
    Ok(format!(
        "subject {}, claims [{}]",
        caller["subject"],
        names.join(", ")
    ))
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
    let attempt = Attempt::new(
        "credentials",
        "ask for AWS credentials, --credentials none",
        "NotConfigured",
    );
    let outcome = async {
        let result = scenario.client(&host).request("whoami", json!({})).await?;
        let error = result["access_key_id"]["error"]
            .as_str()
            .unwrap_or_default();
        ensure!(
            error.contains("NotConfigured"),
            "credentials with --credentials none: {result}"
        );
        Ok(first_words(error))
    };
    attempt.record(outcome.await)
}

fn request(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// Sends `message`, expects the host's HTTP `status` with its JSON-RPC error, then a normal
/// answer to the next request; describes what it saw.
async fn contained(client: &McpClient, message: Value, status: u16) -> Result<String> {
    let reply = client.post_raw(message.to_string(), &[]).await?;
    ensure!(
        reply.status == status,
        "{}: HTTP {} {}",
        message["method"],
        reply.status,
        reply.text()
    );
    expect_internal_error(&reply, message["id"].as_u64().unwrap_or_default())?;
    still_serving(client).await?;
    let code = &reply.json()?["error"]["code"];
    Ok(format!(
        "HTTP {}, JSON-RPC error {code}; next request served",
        reply.status
    ))
}

/// The start of a long error message, enough for the report.
fn first_words(text: &str) -> String {
    const WORDS: usize = 12;
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() > WORDS {
        format!("{} …", words[..WORDS].join(" "))
    } else {
        words.join(" ")
    }
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
    let host_bin = &scenario.stack.artifacts.host_bin;
    let attempt = Attempt::new(
        "imports",
        "start the host with a guest importing wasi:sockets/tcp",
        "refused at start-up, naming the import",
    );
    let outcome = async {
        let output = HostSandbox::from_env()?
            .command(host_bin, &[guest.as_os_str()], &[])
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
        let code = output.status.code().unwrap_or(-1);
        Ok(format!("exit code {code}, names wasi:sockets/tcp@0.2.12"))
    };
    attempt.record(outcome.await)
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
        let attempt = Attempt::new("filesystem", format!("read {path}"), "error: no preopens");
        let outcome = async {
            let read = client.request("read_file", json!({"path": path})).await?;
            ensure!(
                read["error"].is_string() && read.get("read").is_none(),
                "{path} was readable: {read}"
            );
            Ok(format!(
                "error: {}",
                read["error"].as_str().unwrap_or_default()
            ))
        };
        attempt.record(outcome.await)?;
    }
    for path in ["/", "."] {
        let attempt = Attempt::new("filesystem", format!("list {path}"), "error: no preopens");
        let outcome = async {
            let listed = client.request("list_dir", json!({"path": path})).await?;
            ensure!(listed["error"].is_string(), "{path} was listable: {listed}");
            Ok(format!(
                "error: {}",
                listed["error"].as_str().unwrap_or_default()
            ))
        };
        attempt.record(outcome.await)?;
    }
    let target = std::env::temp_dir().join(format!("quilt-mcp-hostile-{}", std::process::id()));
    let attempt = Attempt::new(
        "filesystem",
        format!(
            "write {}/quilt-mcp-hostile-<pid>",
            std::env::temp_dir().display()
        ),
        "error; no file appears",
    );
    let outcome = async {
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
        Ok(format!(
            "error: {}",
            written["error"].as_str().unwrap_or_default()
        ))
    };
    attempt.record(outcome.await)?;
    let environment = client.request("environment", json!({})).await?;
    for (what, key) in [("environment variables", "vars"), ("arguments", "args")] {
        let attempt = Attempt::new("environment", format!("read the {what}"), "empty");
        let outcome = if environment[key] == json!([]) {
            Ok("empty".to_owned())
        } else {
            Err(anyhow::anyhow!("{what} visible: {environment}"))
        };
        attempt.record(outcome)?;
    }
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
    let attempt = Attempt::new(
        "credentials",
        "planted ~/.aws, ~/.quilt, AWS_*: request without a token",
        "HTTP 401",
    );
    let outcome = async {
        let anonymous = McpClient::new(&host.mcp_url(), None);
        let refused = anonymous.send("tools/list", json!({})).await?;
        ensure!(refused.status == 401, "no token: HTTP {}", refused.status);
        Ok(format!("HTTP {}", refused.status))
    };
    attempt.record(outcome.await)?;
    let attempt = Attempt::new(
        "credentials",
        "planted admin keys: read a bucket the configured keys cannot",
        "Access denied",
    );
    let outcome = async {
        let denied = scenario
            .client(&host)
            .call_tool("bucket_object_text", secret.clone())
            .await?
            .failure()?;
        ensure!(denied.contains("Access denied"), "{denied}");
        Ok(first_words(&denied))
    };
    attempt.record(outcome.await)?;

    // With no credential source configured at all, the planted ones are not a fallback.
    let mut unconfigured = scenario.spec(Guest::Tools);
    unconfigured.credentials = Vec::new();
    unconfigured.env = planted;
    let host = scenario.start(unconfigured).await?;
    let attempt = Attempt::new(
        "credentials",
        "planted admin keys, no credential source configured",
        "not a fallback: no source configured",
    );
    let outcome = async {
        let refused = scenario
            .client(&host)
            .call_tool("bucket_object_text", secret)
            .await?
            .failure()?;
        ensure!(
            refused.contains("no AWS credential source configured"),
            "{refused}"
        );
        Ok(first_words(&refused))
    };
    attempt.record(outcome.await)
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
    let attempt = Attempt::new("resources", "recurse past the wasm stack", CONTAINED);
    attempt.record(contained(&client, request(48, "recurse", json!({})), 500).await)
}

pub async fn oversized_response_is_replaced_by_an_error(scenario: &Scenario<'_>) -> Result<()> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--max-response-bytes", "1048576"]);
    let host = scenario.start(spec).await?;
    let client = scenario.client(&host);
    let body = json!({"jsonrpc": "2.0", "id": 44, "method": "huge_response", "params": {"mib": 8}})
        .to_string();
    let attempt = Attempt::new(
        "resources",
        "an 8 MiB response, --max-response-bytes 1 MiB",
        "HTTP 500 naming the limit; next request served",
    );
    let outcome = async {
        let reply = client.post_raw(body, &[]).await?;
        ensure!(reply.status == 500, "8 MiB response: HTTP {}", reply.status);
        expect_internal_error(&reply, 44)?;
        ensure!(
            reply.text().contains("limit of 1048576 bytes"),
            "{}",
            reply.text()
        );
        still_serving(&client).await?;
        Ok(format!(
            "HTTP {}, names the limit of 1048576 bytes; next request served",
            reply.status
        ))
    };
    attempt.record(outcome.await)
}

/// Alice and Bob, each with their own web-identity keys, send 20 interleaved requests at once,
/// each held open inside the guest between reading the caller and reading the credentials:
/// every answer names exactly the caller and the keys of the token that sent it.
pub async fn concurrent_callers_see_only_their_own(scenario: &Scenario<'_>) -> Result<()> {
    const AUDIENCE: &str = "quilt-mcp-concurrency-e2e";
    let (alice, bob) = ("alice@example.com", "bob@example.com");
    let reader = |role: &str, subject: &str| BucketReader {
        role_name: role.into(),
        subject: subject.into(),
        bucket: format!("{}-bucket", role.to_lowercase()),
    };
    let trust = WebIdentityTrust {
        issuer: scenario.stack.issuer(),
        audience: AUDIENCE.into(),
        jwks_url: scenario.stack.jwks.jwks_url(),
        readers: vec![reader("ReaderA", alice), reader("ReaderB", bob)],
    };
    // Its own SeaweedFS: STS must know the shared issuer's JWKS when it starts.
    let seaweed = scenario.own_seaweed(&trust.iam_config()).await?;
    let sts = seaweed.s3_endpoint.as_str().trim_end_matches('/');
    let mut spec = scenario.spec(Guest::Hostile);
    spec.auth.extend(args(&["--jwt-audience", AUDIENCE]));
    spec.credentials = args(&[
        "--credentials",
        "web-identity",
        "--sts-endpoint",
        sts,
        "--role-arn-claim",
        "role_arn",
    ]);
    let host = scenario.start(spec).await?;
    let client_for = |subject: &str, role: &str| {
        let mut claims = standard_claims(&scenario.stack.issuer(), AUDIENCE, subject);
        claims["role_arn"] = json!(role_arn(role));
        McpClient::new(&host.mcp_url(), Some(scenario.stack.identity.sign(&claims)))
    };
    let callers = [
        (alice, client_for(alice, "ReaderA")),
        (bob, client_for(bob, "ReaderB")),
    ];
    let attempt = Attempt::new(
        "state",
        "20 concurrent requests from Alice and Bob (web identity)",
        "each sees only its own caller and keys",
    );
    attempt.record(interleaved_whoami(&callers).await)
}

/// Learns each caller's keys one request at a time, then sends ten requests per caller at
/// once, interleaved, and checks every answer against its sender.
async fn interleaved_whoami(callers: &[(&str, McpClient); 2]) -> Result<String> {
    let mut keys = Vec::new();
    for (subject, client) in callers {
        let answer = client.request("whoami", json!({})).await?;
        ensure!(answer["caller"]["subject"] == *subject, "{answer}");
        let key = answer["access_key_id"].as_str().unwrap_or_default();
        ensure!(!key.is_empty(), "{subject} got no keys: {answer}");
        keys.push(key.to_owned());
    }
    ensure!(keys[0] != keys[1], "Alice and Bob got the same keys");

    let hold = json!({"hold_ms": 300});
    let answers = futures::future::try_join_all((0..20).map(|index| {
        let (subject, client) = &callers[index % 2];
        let hold = hold.clone();
        async move {
            Ok::<_, anyhow::Error>((
                index % 2,
                *subject,
                client.request("whoami_slow", hold).await?,
            ))
        }
    }))
    .await?;
    for (caller, subject, answer) in &answers {
        ensure!(
            answer["subject_before_hold"] == *subject
                && answer["caller"]["subject"] == *subject
                && answer["access_key_id"] == keys[*caller].as_str(),
            "{subject}'s request (keys {}) was answered with {answer}",
            keys[*caller]
        );
    }
    // Overlap is what makes the check mean something: count Alice–Bob pairs in flight together.
    let span = |answer: &Value| {
        (
            answer["started_ms"].as_u64(),
            answer["finished_ms"].as_u64(),
        )
    };
    let overlapping = answers
        .iter()
        .filter(|(caller, _, _)| *caller == 0)
        .flat_map(|(_, _, a)| {
            answers
                .iter()
                .filter(|(caller, _, _)| *caller == 1)
                .map(move |(_, _, b)| (span(a), span(b)))
        })
        .filter(|((a_start, a_end), (b_start, b_end))| a_start < b_end && b_start < a_end)
        .count();
    ensure!(
        overlapping > 0,
        "no Alice and Bob requests overlapped: nothing was proven"
    );
    Ok(format!(
        "20 of 20 answers matched their sender; {overlapping} of 100 Alice–Bob pairs overlapped"
    ))
}
