//! `make soak`: a long mixed load against the local stack, for errors and memory over time. Not
//! a test: it asserts nothing and writes its table to `--output PATH` (the Makefile gives
//! `docs/soak.md`). Two users, each with AWS credentials from the registry stand-in (exchanged
//! at SeaweedFS's STS) over a bucket of their own, send `--requests` requests (1,000,000 by
//! default) at `--concurrency` (64): `tools/list`, a listing, a read, a package browse and a
//! search through the registry, in turn. Every tenth of the run it prints the window's rate,
//! p50 and p99, the errors so far and the host's resident memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use quilt_mcp_tests::generated_doc;
use quilt_mcp_tests::host_process::{HostLaunch, HostProcess};
use quilt_mcp_tests::identity::{now_secs, standard_claims};
use quilt_mcp_tests::stack::{RoleAccess, Stack};
use quilt_mcp_tests::sts::BucketReader;
use serde_json::{Value, json};

/// The `aud` the host, STS and the registry stand-in all accept.
const AUDIENCE: &str = "quilt-mcp-soak";
const USERS: [(&str, &str, &str); 2] = [
    ("SoakReaderA", "ada@example.com", "soak-ada"),
    ("SoakReaderB", "bea@example.com", "soak-bea"),
];
const WINDOWS: usize = 10;
/// Longer than any run.
const TOKEN_SECS: u64 = 24 * 3600;
/// The first few error messages are kept for the report.
const KEPT_ERRORS: usize = 5;

struct Options {
    requests: usize,
    concurrency: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    let output = generated_doc::output_from_args()?;
    let options = options()?;
    let readers = USERS
        .iter()
        .map(|(role, subject, bucket)| BucketReader {
            role_name: (*role).into(),
            subject: (*subject).into(),
            bucket: (*bucket).into(),
        })
        .collect();
    let stack = Stack::builder("soak")
        .temp_data_dir("quilt-mcp-soak-")
        .with_sts(AUDIENCE, readers, RoleAccess::ReadWrite)
        .with_registry_standin(None)
        .start()
        .await?;
    let admin = stack.seaweed.admin();
    for (_, _, bucket) in USERS {
        admin.create_bucket(bucket).await?;
        for i in 0..20 {
            admin
                .put_object(
                    bucket,
                    &format!("data/sample-{i:02}.csv"),
                    format!("id,value\n{i},{}\n", i * i),
                )
                .send()
                .await?;
        }
    }
    let registry = stack.registry_url().context("the stack has a registry")?;
    let mut flags = stack.auth_flags();
    flags.extend(
        [
            "--jwt-audience",
            AUDIENCE,
            "--s3-endpoint",
            &stack.s3_endpoint(),
            "--credentials",
            "registry",
            "--registry-url",
            &registry,
            // One pool shared by two callers: neither is held to a quarter of it.
            "--max-requests-per-caller",
            "1024",
        ]
        .map(str::to_owned),
    );
    let host = HostProcess::start(HostLaunch {
        host_bin: &stack.artifacts.host_bin,
        guest: &stack.artifacts.guest,
        listen: "127.0.0.1:0",
        args: &flags,
        env: &[],
        echo_logs: false,
    })
    .await?;
    let http = reqwest::Client::new();
    let tokens: Vec<String> = USERS
        .iter()
        .map(|(_, subject, _)| {
            let mut claims = standard_claims(&stack.issuer(), AUDIENCE, subject);
            // One token for the whole run, which outlasts the usual ten minutes.
            claims["exp"] = json!(now_secs() + TOKEN_SECS);
            stack.identity.sign(&claims)
        })
        .collect();
    for (token, (_, _, bucket)) in tokens.iter().zip(USERS) {
        let create = call(
            "package_create",
            json!({
                "package_name": "soak/samples",
                "registry": format!("s3://{bucket}"),
                "s3_uris": (0..20).map(|i| format!("s3://{bucket}/data/sample-{i:02}.csv")).collect::<Vec<_>>(),
                "message": "soak",
            }),
        );
        send(&http, &host.mcp_url(), token, &create).await?;
    }

    let run = Arc::new(Run::default());
    let started = Instant::now();
    let workers: Vec<_> = (0..options.concurrency)
        .map(|_| {
            let (run, http, url, tokens) =
                (run.clone(), http.clone(), host.mcp_url(), tokens.clone());
            let requests = options.requests;
            tokio::spawn(async move {
                loop {
                    let n = run.next.fetch_add(1, Ordering::Relaxed);
                    if n >= requests {
                        return;
                    }
                    let user = n % USERS.len();
                    let body = workload(n / USERS.len(), USERS[user].2);
                    let sent = Instant::now();
                    let outcome = send(&http, &url, &tokens[user], &body).await;
                    run.record(sent.elapsed(), outcome.err());
                }
            })
        })
        .collect();

    let mut doc = generated_doc::header("Soak", "make soak");
    doc.push_str(&format!(
        "{} mixed requests (tools/list, bucket_objects_list, bucket_object_text, package_browse, search_catalog in turn) \
         at concurrency {} from two users with registry-exchanged credentials, against the local stack on this \
         machine's cores (load generator, host, SeaweedFS and the registry stand-in share them).\n\n",
        options.requests, options.concurrency
    ));
    doc.push_str("| window | requests | req/s | p50 | p99 | errors (total) | host RSS |\n|---|---|---|---|---|---|---|\n");
    let pid = host.server_pid()?;
    let mut rss = vec![rss_kib(pid)?];
    let window_size = options.requests.div_ceil(WINDOWS);
    let mut window_start = Instant::now();
    for window in 1..=WINDOWS {
        let target = (window * window_size).min(options.requests);
        while run.done.load(Ordering::Relaxed) < target {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut samples = std::mem::take(&mut *run.latencies.lock().expect("not poisoned"));
        samples.sort();
        let seconds = window_start.elapsed().as_secs_f64();
        window_start = Instant::now();
        let resident = rss_kib(pid)?;
        rss.push(resident);
        let line = format!(
            "| {window} | {} | {:.0} | {:.2} ms | {:.2} ms | {} | {:.1} MB |",
            samples.len(),
            samples.len() as f64 / seconds,
            ms(percentile(&samples, 0.5)),
            ms(percentile(&samples, 0.99)),
            run.errors.load(Ordering::Relaxed),
            resident as f64 / 1024.0
        );
        eprintln!("{line}");
        doc.push_str(&line);
        doc.push('\n');
        // What is measured so far stays, should the run be stopped.
        generated_doc::write(output.as_deref(), &doc)?;
    }
    for worker in workers {
        worker.await?;
    }
    let errors = run.errors.load(Ordering::Relaxed);
    let (start, middle, end) = (rss[1], rss[WINDOWS / 2], rss[WINDOWS]);
    doc.push_str(&format!(
        "\n{} requests in {:.0} s, {errors} errors. Host RSS {:.1} MB before the load, then {:.1} MB after the first \
         window, {:.1} MB at the middle and {:.1} MB at the end ({:+.1}% from the first window to the end).\n",
        options.requests,
        started.elapsed().as_secs_f64(),
        rss[0] as f64 / 1024.0,
        start as f64 / 1024.0,
        middle as f64 / 1024.0,
        end as f64 / 1024.0,
        (end as f64 / start as f64 - 1.0) * 100.0
    ));
    let kept = run.kept.lock().expect("not poisoned");
    for error in kept.iter() {
        doc.push_str(&format!("\n- error: {error}"));
    }
    generated_doc::write(output.as_deref(), &doc)?;
    Ok(())
}

fn options() -> Result<Options> {
    let value = |name: &str, default: usize| -> Result<usize> {
        match std::env::var(name) {
            Ok(text) => text.parse().with_context(|| format!("{name}={text}")),
            Err(_) => Ok(default),
        }
    };
    let options = Options {
        requests: value("SOAK_REQUESTS", 1_000_000)?,
        concurrency: value("SOAK_CONCURRENCY", 64)?,
    };
    if options.requests < WINDOWS || options.concurrency == 0 {
        bail!("SOAK_REQUESTS must be at least {WINDOWS} and SOAK_CONCURRENCY at least 1");
    }
    Ok(options)
}

/// The `n`th request of a user whose bucket is `bucket`.
fn workload(n: usize, bucket: &str) -> Value {
    match n % 5 {
        0 => json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        1 => call(
            "bucket_objects_list",
            json!({"bucket": bucket, "include_signed_urls": false}),
        ),
        2 => call(
            "bucket_object_text",
            json!({"s3_uri": format!("s3://{bucket}/data/sample-{:02}.csv", n % 20)}),
        ),
        3 => call(
            "package_browse",
            json!({"package_name": "soak/samples", "registry": format!("s3://{bucket}")}),
        ),
        _ => call("search_catalog", json!({"query": "sample"})),
    }
}

fn call(tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments}})
}

/// One request; an error unless HTTP 200 with a result that is not a tool error.
async fn send(http: &reqwest::Client, url: &str, token: &str, body: &Value) -> Result<()> {
    let response = http
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(body)
        .send()
        .await?;
    let status = response.status();
    let answer: Value = response.json().await?;
    if status != 200 || answer.get("result").is_none() || answer["result"]["isError"] == true {
        bail!(
            "HTTP {status}: {}",
            answer.to_string().chars().take(300).collect::<String>()
        );
    }
    Ok(())
}

#[derive(Default)]
struct Run {
    next: AtomicUsize,
    done: AtomicUsize,
    errors: AtomicUsize,
    latencies: Mutex<Vec<Duration>>,
    kept: Mutex<Vec<String>>,
}

impl Run {
    fn record(&self, latency: Duration, error: Option<anyhow::Error>) {
        self.latencies.lock().expect("not poisoned").push(latency);
        if let Some(error) = error {
            self.errors.fetch_add(1, Ordering::Relaxed);
            let mut kept = self.kept.lock().expect("not poisoned");
            if kept.len() < KEPT_ERRORS {
                kept.push(format!("{error:#}"));
            }
        }
        self.done.fetch_add(1, Ordering::Relaxed);
    }
}

/// VmRSS of `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .context("no VmRSS")?;
    Ok(line.trim().trim_end_matches("kB").trim().parse()?)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
