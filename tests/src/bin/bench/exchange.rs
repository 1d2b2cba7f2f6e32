//! What deriving a caller's AWS credentials costs: `bucket_objects_list` as the first call
//! of a new token (host verifies the JWT, exchanges it, lists) against the same call again
//! (verified token and exchanged keys both cached), in `registry` and `web-identity` modes.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use quilt_mcp_tests::artifacts::Artifacts;
use quilt_mcp_tests::host_process::HostProcess;
use quilt_mcp_tests::identity::{Identity, standard_claims};
use quilt_mcp_tests::jwks_server::JwksServer;
use quilt_mcp_tests::registry::{RegistryStandin, grant, standin_config};
use quilt_mcp_tests::seaweedfs::{SeaweedFs, SeaweedOptions};
use quilt_mcp_tests::sts::{BucketReader, WebIdentityTrust};
use serde_json::json;

const AUDIENCE: &str = "quilt-mcp-bench-exchange";
const SUBJECT: &str = "bench-user";
const BUCKET: &str = "bench-exchange";
/// New tokens per mode; each costs one exchange.
const SAMPLES: usize = 40;

/// Table rows, then one summary line per mode.
pub async fn rows(
    artifacts: &Artifacts,
    identity: &Identity,
    jwks: &JwksServer,
    http: &reqwest::Client,
) -> Result<Vec<String>> {
    let reader = BucketReader {
        role_name: "BenchReader".into(),
        subject: SUBJECT.into(),
        bucket: BUCKET.into(),
    };
    let role_arn = reader.role_arn();
    let trust = WebIdentityTrust {
        issuer: jwks.origin(),
        audience: AUDIENCE.into(),
        jwks_url: jwks.jwks_url(),
        readers: vec![reader],
    };
    let data_dir = tempfile_dir()?;
    let options = SeaweedOptions {
        data_dir: data_dir.clone(),
        preferred_s3_port: None,
    };
    let seaweed = SeaweedFs::start_with_sts(&artifacts.weed, &options, &trust).await?;
    super::listed_bucket(&seaweed.admin(), BUCKET).await?;
    let config = standin_config(
        &seaweed,
        &jwks.jwks_url(),
        &jwks.origin(),
        AUDIENCE,
        trust.readers.iter().map(grant).collect(),
    )?;
    let registry = RegistryStandin::start(config).await?;
    let endpoint = seaweed
        .s3_endpoint
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let registry_url = registry.url().as_str().trim_end_matches('/').to_owned();

    let modes: [(&str, Vec<&str>); 2] = [
        (
            "registry",
            vec!["--credentials", "registry", "--registry-url", &registry_url],
        ),
        (
            "web-identity",
            vec![
                "--credentials",
                "web-identity",
                "--sts-endpoint",
                &endpoint,
                "--role-arn-claim",
                "role_arn",
            ],
        ),
    ];
    let (mut rows, mut summaries) = (Vec::new(), Vec::new());
    for (mode, credentials) in modes {
        let mut flags: Vec<String> = [
            "--jwks-url",
            &jwks.jwks_url(),
            "--jwt-issuer",
            &jwks.origin(),
            "--jwt-audience",
            AUDIENCE,
            "--s3-endpoint",
            &endpoint,
        ]
        .map(String::from)
        .to_vec();
        flags.extend(credentials.iter().map(|flag| flag.to_string()));
        let host = super::start_host(artifacts, &flags).await?;
        let (mut first, mut cached) = (Vec::new(), Vec::new());
        for sample in 0..SAMPLES {
            let mut claims = standard_claims(&jwks.origin(), AUDIENCE, SUBJECT);
            // A distinct token each time: caches are keyed by the token's hash.
            claims["jti"] = json!(format!("bench-{mode}-{sample}"));
            claims["role_arn"] = json!(role_arn);
            let token = identity.sign(&claims);
            first.push(timed_list(http, &host, &token).await?);
            cached.push(timed_list(http, &host, &token).await?);
        }
        let (first, cached) = (median_and_p99(first), median_and_p99(cached));
        rows.push(row(
            &format!("bucket_objects_list, 100 keys, new token ({mode} exchange)"),
            first,
        ));
        rows.push(row(
            &format!("bucket_objects_list, 100 keys, same token again ({mode}, cached)"),
            cached,
        ));
        summaries.push(format!(
            "{mode}: the first call of a token takes p50 {:.2} ms against {:.2} ms cached (+{:.2} ms for JWT verification and the exchange)",
            ms(first.0),
            ms(cached.0),
            ms(first.0) - ms(cached.0)
        ));
    }
    let exchanges = registry.credential_exchanges();
    if exchanges != SAMPLES {
        bail!("{exchanges} registry exchanges for {SAMPLES} tokens");
    }
    drop(registry);
    drop(seaweed);
    let _ = std::fs::remove_dir_all(data_dir);
    rows.push(String::new());
    rows.extend(summaries);
    Ok(rows)
}

async fn timed_list(http: &reqwest::Client, host: &HostProcess, token: &str) -> Result<Duration> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "bucket_objects_list",
        "arguments": {"bucket": BUCKET, "max_keys": super::OBJECTS, "include_signed_urls": false}}});
    let started = Instant::now();
    let response = http
        .post(host.mcp_url())
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string())
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    let elapsed = started.elapsed();
    if !status.is_success() || text.contains(r#""isError":true"#) {
        bail!("bucket_objects_list failed: HTTP {status}: {text}");
    }
    Ok(elapsed)
}

fn median_and_p99(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.99))
}

fn row(workload: &str, (p50, p99): (Duration, Duration)) -> String {
    format!(
        "| {workload} | 1 | — | {:.2} ms | {:.2} ms | 0 |",
        ms(p50),
        ms(p99)
    )
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("quilt-mcp-bench-exchange-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
