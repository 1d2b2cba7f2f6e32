//! `make bench`: throughput and latency of the real server against a real SeaweedFS, and the
//! same S3 listing done natively, for the overhead the sandbox adds. Not a test: it asserts
//! nothing and writes its tables as a Markdown document to `--output PATH` (the Makefile gives
//! `docs/benchmarks.md`; stdout without it), printing each line to stderr as it is measured.

mod exchange;
mod sign_in;
mod sql;

use std::future::Future;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use quilt_mcp_tests::artifacts::Artifacts;
use quilt_mcp_tests::generated_doc;
use quilt_mcp_tests::host_process::{HostLaunch, HostProcess};
use quilt_mcp_tests::identity::standard_claims;
use quilt_mcp_tests::s3::{REGION, S3Client};
use quilt_mcp_tests::seaweedfs::ADMIN;
use quilt_mcp_tests::stack::Stack;
use rusty_s3::actions::ListObjectsV2;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use serde_json::json;
use sha2::{Digest, Sha256};

const BUCKET: &str = "bench";
const OBJECTS: usize = 100;
const WARMUP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(5);
const CONCURRENCIES: [usize; 2] = [1, 16];
const BROWSE_SIZES: [usize; 3] = [10, 1_000, 10_000];
const HASHED_MIB: usize = 64;
const HASH_RUNS: usize = 3;

/// What the figures are measured against.
const AIMS: &str = "Aims: creating an instance under 100 µs; `tools/list` at least 5,000 req/s at concurrency 16; \
`bucket_objects_list` within 2 ms of the direct call at concurrency 1; hashing in the guest at least x0.5 of native \
`sha256sum`; `package_browse` of 10,000 entries under 1 s.";

/// The Markdown document `make bench` writes, each line also printed to stderr as it is
/// measured.
struct Document {
    text: String,
}

impl Document {
    fn new() -> Self {
        Self {
            text: generated_doc::header("Benchmarks", "make bench"),
        }
    }

    fn line(&mut self, line: String) {
        eprintln!("{line}");
        self.text.push_str(&line);
        self.text.push('\n');
    }
}

/// `out!(doc, "format", args..)` adds a line to `doc`; `out!(doc)` an empty one.
macro_rules! out {
    ($doc:expr) => {
        $doc.line(String::new())
    };
    ($doc:expr, $($format:tt)*) => {
        $doc.line(format!($($format)*))
    };
}

#[tokio::main]
async fn main() -> Result<()> {
    let output = generated_doc::output_from_args()?;
    let stack = Stack::builder("bench")
        .temp_data_dir("quilt-mcp-bench-")
        .start()
        .await?;
    let (artifacts, seaweed) = (&stack.artifacts, &stack.seaweed);
    let admin = seaweed.admin();
    listed_bucket(&admin, BUCKET).await?;

    let mut flags = stack.auth_flags();
    flags.extend(["--s3-endpoint".to_owned(), stack.s3_endpoint()]);
    flags.extend(ADMIN.static_source_flags());
    let host = start_host(artifacts, &flags).await?;
    let token = stack.identity.sign(&standard_claims(
        &stack.issuer(),
        &host.mcp_url(),
        "bench-user",
    ));

    let mut doc = Document::new();
    out!(
        doc,
        "The load generator, the server (validating the bearer token of every request and writing its \
         per-request log line) and SeaweedFS share this machine's {} cores. Each row measures for {MEASURE:?} \
         after {WARMUP:?} of warm-up; rows marked wrk use `wrk -t1` (a C load generator, installed by \
         `make bench`), the others an in-process reqwest client.",
        num_cpus()
    );
    out!(doc);
    out!(doc, "{}", instance_creation(artifacts)?);
    out!(doc);
    out!(
        doc,
        "| workload | concurrency | req/s | p50 | p99 | errors |"
    );
    out!(doc, "|---|---|---|---|---|---|");

    let http = reqwest::Client::new();
    let mcp = |body: serde_json::Value| {
        let request = http
            .post(host.mcp_url())
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        async move { expect_mcp_success(&expect_ok(request.send().await?).await?) }
    };
    let tools_list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let list_objects = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "bucket_objects_list",
        "arguments": {"bucket": BUCKET, "max_keys": OBJECTS, "include_signed_urls": false}}});

    let credentials = Credentials::new(ADMIN.access_key_id, ADMIN.secret_access_key);
    let bucket = Bucket::new(
        seaweed.s3_endpoint.clone(),
        UrlStyle::Path,
        BUCKET.to_owned(),
        REGION,
    )?;
    let direct = || {
        let mut action = ListObjectsV2::new(&bucket, Some(&credentials));
        action.with_max_keys(OBJECTS);
        let request = http.get(action.sign(Duration::from_secs(60)));
        async move {
            let body = expect_ok(request.send().await?).await?;
            let listing = ListObjectsV2::parse_response(std::str::from_utf8(&body)?)?;
            if listing.contents.len() != OBJECTS {
                bail!(
                    "listed {} objects, expected {OBJECTS}",
                    listing.contents.len()
                );
            }
            Ok(())
        }
    };

    let mut medians = Vec::new();
    for concurrency in CONCURRENCIES {
        report(
            &mut doc,
            "tools/list",
            concurrency,
            load(concurrency, || mcp(tools_list.clone())).await,
        );
        if let Some(row) = wrk_row(
            &host.mcp_url(),
            &token,
            &tools_list.to_string(),
            concurrency,
        )? {
            out!(doc, "{row}");
        }
        let through_mcp = load(concurrency, || mcp(list_objects.clone())).await;
        let native = load(concurrency, direct).await;
        medians.push((
            concurrency,
            through_mcp.percentile(0.5),
            native.percentile(0.5),
        ));
        report(
            &mut doc,
            "bucket_objects_list (100 keys) via MCP",
            concurrency,
            through_mcp,
        );
        report(
            &mut doc,
            "ListObjectsV2 (100 keys) direct, native client",
            concurrency,
            native,
        );
    }
    out!(doc);
    for (concurrency, mcp, native) in medians {
        out!(
            doc,
            "- bucket_objects_list overhead at concurrency {concurrency}: p50 {:.2} ms via MCP vs {:.2} ms direct (+{:.2} ms, x{:.2})",
            ms(mcp),
            ms(native),
            ms(mcp) - ms(native),
            mcp.as_secs_f64() / native.as_secs_f64()
        );
    }
    out!(doc);
    out!(
        doc,
        "| credential workload | concurrency | req/s | p50 | p99 | errors |"
    );
    out!(doc, "|---|---|---|---|---|---|");
    for line in exchange::rows(&http).await? {
        out!(doc, "{line}");
    }
    out!(doc);
    out!(
        doc,
        "| SQL workload | concurrency | req/s | p50 | p99 | errors |"
    );
    out!(doc, "|---|---|---|---|---|---|");
    for line in sql::rows(&http).await? {
        out!(doc, "{line}");
    }
    out!(doc);
    out!(
        doc,
        "| sign-in workload | concurrency | req/s | p50 | p99 | errors |"
    );
    out!(doc, "|---|---|---|---|---|---|");
    let summary = sign_in::rows(&mut doc, &stack, BUCKET).await?;
    out!(doc);
    out!(doc, "{summary}");
    out!(doc);
    out!(
        doc,
        "| package workload | concurrency | req/s | p50 | p99 | errors |"
    );
    out!(doc, "|---|---|---|---|---|---|");
    for entries in BROWSE_SIZES {
        let name = store_package(&admin, entries).await?;
        let browse = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "package_browse",
            "arguments": {"package_name": name, "registry": format!("s3://{BUCKET}")}}});
        report(
            &mut doc,
            &format!("package_browse ({entries} entries, signed URLs)"),
            1,
            load(1, || mcp(browse.clone())).await,
        );
    }
    out!(doc);
    out!(
        doc,
        "{}",
        hashing(&admin, &http, &bucket, &credentials, &mcp).await?
    );
    out!(doc);
    out!(doc, "{AIMS}");
    generated_doc::write(output.as_deref(), &doc.text)?;
    if let Ok(path) = std::env::var("QUILT_MCP_BENCH_HOST_LOG") {
        std::fs::write(path, host.log().text())?;
    }
    drop(host);
    drop(stack);
    Ok(())
}

/// The host under test with `flags`, on a free port, its log kept quiet. One user drives every
/// workload, so the per-caller share (a quarter of the instances by default, and a request
/// holds its ticket until its response is written) is lifted to the whole pool: the bench
/// measures throughput, not the fairness limit.
async fn start_host(artifacts: &Artifacts, flags: &[String]) -> Result<HostProcess> {
    start_host_at(artifacts, "127.0.0.1:0", flags).await
}

/// [`start_host`] listening on `listen`.
async fn start_host_at(
    artifacts: &Artifacts,
    listen: &str,
    flags: &[String],
) -> Result<HostProcess> {
    let mut args = vec!["--max-requests-per-caller".to_owned(), "1024".to_owned()];
    args.extend_from_slice(flags);
    HostProcess::start(HostLaunch {
        env: &[],
        host_bin: &artifacts.host_bin,
        guest: &artifacts.guest,
        listen,
        args: &args,
        echo_logs: false,
    })
    .await
}

/// `bucket` holding the [`OBJECTS`] small objects every listing row lists.
async fn listed_bucket(admin: &S3Client, bucket: &str) -> Result<()> {
    admin.create_bucket(bucket).await?;
    for i in 0..OBJECTS {
        admin
            .put_object(
                bucket,
                &format!("data/object-{i:03}.txt"),
                format!("object {i}"),
            )
            .send()
            .await?;
    }
    Ok(())
}

/// A package of `entries` entries written straight to the registry (manifest and
/// `latest`), so browsing is measured without creating thousands of objects.
async fn store_package(admin: &S3Client, entries: usize) -> Result<String> {
    let name = format!("bench/entries-{entries}");
    let header = json!({"version": "v0", "message": "bench"});
    let mut manifest = format!("{header}\n");
    // The top hash is quilt3's: sha256 over the canonical header and entries (keys sorted,
    // no spaces: serde_json's default map and compact writer), entries in walk order, which
    // for `data/<digit>/file-<zero-padded>.csv` is the order written here.
    let mut top_hash = Sha256::new();
    top_hash.update(header.to_string());
    let hash = json!({"type": "sha2-256-chunked", "value": "7LZbuY+dkFtwRYmGw5/LrXcV5fL8w7Hwd2fXyD4kOMw="});
    for folder in 0..10 {
        for i in (folder..entries).step_by(10) {
            let logical_key = format!("data/{folder}/file-{i:05}.csv");
            let physical_key = format!("s3://{BUCKET}/data/object-000.txt");
            let hashed = json!({"logical_key": logical_key, "hash": hash, "size": 8, "meta": {}});
            top_hash.update(hashed.to_string());
            let mut line = hashed;
            line["physical_keys"] = json!([physical_key]);
            manifest.push_str(&format!("{line}\n"));
        }
    }
    let top_hash: String = top_hash
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    admin
        .put_object(BUCKET, &format!(".quilt/packages/{top_hash}"), manifest)
        .send()
        .await?;
    admin
        .put_object(
            BUCKET,
            &format!(".quilt/named_packages/{name}/latest"),
            top_hash,
        )
        .send()
        .await?;
    Ok(name)
}

/// Hashing inside the guest (package_create of one large object, which also reads it
/// from S3) against native `sha256sum` over the same bytes from the page cache, and the
/// native S3 read alone, as medians of a few runs.
async fn hashing<F, Fut>(
    admin: &S3Client,
    http: &reqwest::Client,
    bucket: &Bucket,
    credentials: &Credentials,
    mcp: &F,
) -> Result<String>
where
    F: Fn(serde_json::Value) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let size = HASHED_MIB * 1024 * 1024;
    let bytes: Vec<u8> = (0..size).map(|i| ((i * 7 + 3) % 251) as u8).collect();
    admin
        .put_object(BUCKET, "big/hashed.bin", bytes.clone())
        .send()
        .await?;
    let file = std::env::temp_dir().join(format!("quilt-mcp-bench-hash-{}", std::process::id()));
    std::fs::write(&file, &bytes)?;
    let create = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "package_create",
        "arguments": {"package_name": "bench/hashed", "registry": format!("s3://{BUCKET}"),
                      "s3_uris": [format!("s3://{BUCKET}/big/hashed.bin")], "overwrite": true}}});
    let (mut guest, mut native, mut read) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..HASH_RUNS {
        let started = Instant::now();
        mcp(create.clone()).await?;
        guest.push(started.elapsed());
        let started = Instant::now();
        let status = Command::new("sha256sum").arg(&file).output()?.status;
        native.push(started.elapsed());
        if !status.success() {
            bail!("sha256sum failed");
        }
        let url = rusty_s3::actions::GetObject::new(bucket, Some(credentials), "big/hashed.bin")
            .sign(Duration::from_secs(60));
        let started = Instant::now();
        let body = expect_ok(http.get(url).send().await?).await?;
        read.push(started.elapsed());
        if body.len() != size {
            bail!("read {} bytes, expected {size}", body.len());
        }
    }
    let _ = std::fs::remove_file(&file);
    let rate = |mut runs: Vec<Duration>| {
        runs.sort();
        HASHED_MIB as f64 / runs[runs.len() / 2].as_secs_f64()
    };
    let (guest, native, read) = (rate(guest), rate(native), rate(read));
    Ok(format!(
        "hashing {HASHED_MIB} MiB (sha2-256-chunked): package_create in the guest {guest:.0} MiB/s (S3 read + hash), \
         native sha256sum {native:.0} MiB/s (x{:.2} of native), native S3 read alone {read:.0} MiB/s",
        guest / native
    ))
}

async fn expect_ok(response: reqwest::Response) -> Result<bytes::Bytes> {
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body)
}

/// A JSON-RPC success whose result is not a failed tool call. Checked on the raw bytes:
/// parsing every response would make the load generator, not the server, the bottleneck.
/// The top-level `result`/`error` member comes first (right after `id`); a tool listing
/// names `error` again later, inside output schemas.
fn expect_mcp_success(body: &[u8]) -> Result<()> {
    let find = |needle: &[u8]| body.windows(needle.len()).position(|w| w == needle);
    let result_first = match (find(br#""result":"#), find(br#""error":"#)) {
        (Some(result), Some(error)) => result < error,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if !result_first || find(br#""isError":true"#).is_some() {
        bail!("MCP error: {}", String::from_utf8_lossy(body));
    }
    Ok(())
}

/// The same `tools/list` load from wrk, a C load generator that needs far less CPU per
/// request than the in-process client, when wrk is installed (`make bench` installs it).
fn wrk_row(url: &str, token: &str, body: &str, concurrency: usize) -> Result<Option<String>> {
    if Command::new("wrk").arg("--version").output().is_err() {
        return Ok(None);
    }
    let script = std::env::temp_dir().join(format!("quilt-mcp-bench-{}.lua", std::process::id()));
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = {body:?}\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
             wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n"
        ),
    )?;
    let output = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{concurrency}"),
            &format!("-d{}s", MEASURE.as_secs()),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(url)
        .output()
        .context("running wrk")?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix(prefix)
                    .map(|rest| rest.trim().to_owned())
            })
            .unwrap_or_else(|| "?".into())
    };
    let errors = field("Non-2xx or 3xx responses:");
    Ok(Some(format!(
        "| tools/list (wrk -t1) | {concurrency} | {} | {} | {} | {} |",
        field("Requests/sec:"),
        field("50%"),
        field("99%"),
        if errors == "?" { "0".into() } else { errors }
    )))
}

struct Samples {
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

impl Samples {
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies[((self.latencies.len() - 1) as f64 * p).round() as usize]
    }
}

/// Runs `concurrency` workers, each sending one request after another, for WARMUP + MEASURE;
/// only requests started during MEASURE count.
async fn load<F, Fut>(concurrency: usize, request: F) -> Samples
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let start = Instant::now();
    let measure_from = start + WARMUP;
    let end = measure_from + MEASURE;
    let worker = || async {
        let mut latencies = Vec::new();
        let mut errors = 0;
        loop {
            let sent = Instant::now();
            if sent >= end {
                break;
            }
            let outcome = request().await;
            if sent >= measure_from {
                match outcome {
                    Ok(()) => latencies.push(sent.elapsed()),
                    Err(error) => {
                        if errors == 0 {
                            eprintln!("request failed: {error:#}");
                        }
                        errors += 1;
                    }
                }
            }
        }
        (latencies, errors)
    };
    let results = futures::future::join_all((0..concurrency).map(|_| worker())).await;
    let mut samples = Samples {
        latencies: Vec::new(),
        errors: 0,
        elapsed: MEASURE,
    };
    for (latencies, errors) in results {
        samples.latencies.extend(latencies);
        samples.errors += errors;
    }
    samples.latencies.sort();
    samples
}

fn report(doc: &mut Document, workload: &str, concurrency: usize, samples: Samples) {
    out!(
        doc,
        "| {workload} | {concurrency} | {:.0} | {:.2} ms | {:.2} ms | {} |",
        samples.latencies.len() as f64 / samples.elapsed.as_secs_f64(),
        ms(samples.percentile(0.5)),
        ms(samples.percentile(0.99)),
        samples.errors
    );
}

/// The median and the 99th percentile of `samples`.
fn median_and_p99(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.99))
}

/// A table row of one-at-a-time samples.
fn one_row(workload: &str, (p50, p99): (Duration, Duration)) -> String {
    format!(
        "| {workload} | 1 | — | {:.2} ms | {:.2} ms | 0 |",
        ms(p50),
        ms(p99)
    )
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The host's own measurement of creating a fresh instance (store + instantiate).
fn instance_creation(artifacts: &Artifacts) -> Result<String> {
    let output = Command::new(&artifacts.host_bin)
        .args(["bench-instances", "--count", "5000", "--guest"])
        .arg(&artifacts.guest)
        .output()
        .context("running quilt-mcp bench-instances")?;
    if !output.status.success() {
        bail!(
            "bench-instances failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
