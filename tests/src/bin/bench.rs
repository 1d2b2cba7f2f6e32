//! `make bench`: throughput and latency of the real server against a real SeaweedFS, and the
//! same S3 listing done natively, for the overhead the sandbox adds. Not a test: it asserts
//! nothing and prints a table (quote medians and ratios with the command that made them).

use std::future::Future;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use quilt_mcp_tests::artifacts::Artifacts;
use quilt_mcp_tests::host_process::{HostLaunch, HostProcess};
use quilt_mcp_tests::identity::{Identity, jwks, standard_claims};
use quilt_mcp_tests::jwks_server::JwksServer;
use quilt_mcp_tests::s3::REGION;
use quilt_mcp_tests::seaweedfs::{ADMIN, SeaweedFs, SeaweedOptions};
use rusty_s3::actions::ListObjectsV2;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use serde_json::json;

const BUCKET: &str = "bench";
const OBJECTS: usize = 100;
const WARMUP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(5);
const CONCURRENCIES: [usize; 2] = [1, 16];

#[tokio::main]
async fn main() -> Result<()> {
    let artifacts = Artifacts::from_env()?;
    let data_dir = std::env::temp_dir().join(format!("quilt-mcp-bench-{}", std::process::id()));
    let seaweed = SeaweedFs::start(
        &artifacts.weed,
        &SeaweedOptions {
            data_dir: data_dir.clone(),
            preferred_s3_port: None,
        },
    )
    .await?;
    let admin = seaweed.admin();
    admin.create_bucket(BUCKET).await?;
    for i in 0..OBJECTS {
        admin
            .put_object(
                BUCKET,
                &format!("data/object-{i:03}.txt"),
                format!("object {i}"),
            )
            .send()
            .await?;
    }

    let identity = Identity::generate("bench")?;
    let jwks_server = JwksServer::start(jwks(&[&identity])).await?;
    let endpoint = seaweed
        .s3_endpoint
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let flags: Vec<String> = [
        "--jwks-url",
        &jwks_server.jwks_url(),
        "--jwt-issuer",
        &jwks_server.origin(),
        "--s3-endpoint",
        &endpoint,
        "--credentials",
        "static",
        "--static-access-key-id",
        ADMIN.access_key_id,
        "--static-secret-access-key",
        ADMIN.secret_access_key,
    ]
    .map(String::from)
    .to_vec();
    let host = HostProcess::start(HostLaunch {
        host_bin: &artifacts.host_bin,
        guest: &artifacts.guest,
        listen: "127.0.0.1:0",
        args: &flags,
        echo_logs: false,
    })
    .await?;
    let token = identity.sign(&standard_claims(
        &jwks_server.origin(),
        &host.mcp_url(),
        "bench-user",
    ));

    println!(
        "quilt-mcp benchmark: {} cores, {MEASURE:?} per row after {WARMUP:?} warm-up",
        num_cpus()
    );
    println!("{}", instance_creation(&artifacts)?);
    println!();
    println!("| workload | concurrency | req/s | p50 | p99 | errors |");
    println!("|---|---|---|---|---|---|");

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
            "tools/list",
            concurrency,
            load(concurrency, || mcp(tools_list.clone())).await,
        );
        let through_mcp = load(concurrency, || mcp(list_objects.clone())).await;
        let native = load(concurrency, direct).await;
        medians.push((
            concurrency,
            through_mcp.percentile(0.5),
            native.percentile(0.5),
        ));
        report(
            "bucket_objects_list (100 keys) via MCP",
            concurrency,
            through_mcp,
        );
        report(
            "ListObjectsV2 (100 keys) direct, native client",
            concurrency,
            native,
        );
    }
    println!();
    for (concurrency, mcp, native) in medians {
        println!(
            "bucket_objects_list overhead at concurrency {concurrency}: p50 {:.2} ms via MCP vs {:.2} ms direct (+{:.2} ms, x{:.2})",
            ms(mcp),
            ms(native),
            ms(mcp) - ms(native),
            mcp.as_secs_f64() / native.as_secs_f64()
        );
    }
    if let Ok(path) = std::env::var("QUILT_MCP_BENCH_HOST_LOG") {
        std::fs::write(path, host.log().text())?;
    }
    drop(host);
    drop(seaweed);
    let _ = std::fs::remove_dir_all(data_dir);
    Ok(())
}

async fn expect_ok(response: reqwest::Response) -> Result<bytes::Bytes> {
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body)
}

/// A JSON-RPC success whose result is not a failed tool call.
fn expect_mcp_success(body: &[u8]) -> Result<()> {
    let reply: serde_json::Value = serde_json::from_slice(body)?;
    if reply.get("error").is_some() || reply["result"]["isError"] == true {
        bail!("MCP error: {reply}");
    }
    Ok(())
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

fn report(workload: &str, concurrency: usize, samples: Samples) {
    println!(
        "| {workload} | {concurrency} | {:.0} | {:.2} ms | {:.2} ms | {} |",
        samples.latencies.len() as f64 / samples.elapsed.as_secs_f64(),
        ms(samples.percentile(0.5)),
        ms(samples.percentile(0.99)),
        samples.errors
    );
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
