//! What deriving a caller's AWS credentials costs: `bucket_objects_list` as the first call
//! of a new token (host verifies the JWT, exchanges it, lists) against the same call again
//! (verified token and exchanged keys both cached), in `registry` and `web-identity` modes.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use quilt_mcp_tests::host_process::HostProcess;
use quilt_mcp_tests::identity::standard_claims;
use quilt_mcp_tests::stack::{RoleAccess, Stack};
use quilt_mcp_tests::sts::BucketReader;
use serde_json::json;

const AUDIENCE: &str = "quilt-mcp-bench-exchange";
const SUBJECT: &str = "bench-user";
const BUCKET: &str = "bench-exchange";
/// New tokens per mode; each costs one exchange.
const SAMPLES: usize = 40;

/// Table rows, then one summary line per mode, from a stack of their own: SeaweedFS with STS
/// and the registry stand-in, both trusting that stack's issuer.
pub async fn rows(http: &reqwest::Client) -> Result<Vec<String>> {
    let reader = BucketReader {
        role_name: "BenchReader".into(),
        subject: SUBJECT.into(),
        bucket: BUCKET.into(),
    };
    let role_arn = reader.role_arn();
    let stack = Stack::builder("bench-exchange")
        .temp_data_dir("quilt-mcp-bench-exchange-")
        .with_sts(AUDIENCE, vec![reader], RoleAccess::Read)
        .with_registry_standin(None)
        .start()
        .await?;
    super::listed_bucket(&stack.seaweed.admin(), BUCKET).await?;
    let endpoint = stack.s3_endpoint();
    let registry_url = stack
        .registry_url()
        .context("the stack has a registry stand-in")?;

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
        let mut flags = stack.auth_flags();
        flags.extend(["--jwt-audience", AUDIENCE, "--s3-endpoint", &endpoint].map(String::from));
        flags.extend(credentials.iter().map(|flag| flag.to_string()));
        let host = super::start_host(&stack.artifacts, &flags).await?;
        let (mut first, mut cached) = (Vec::new(), Vec::new());
        for sample in 0..SAMPLES {
            let mut claims = standard_claims(&stack.issuer(), AUDIENCE, SUBJECT);
            // A distinct token each time: caches are keyed by the token's hash.
            claims["jti"] = json!(format!("bench-{mode}-{sample}"));
            claims["role_arn"] = json!(role_arn);
            let token = stack.identity.sign(&claims);
            first.push(timed_list(http, &host, &token).await?);
            cached.push(timed_list(http, &host, &token).await?);
        }
        let (first, cached) = (super::median_and_p99(first), super::median_and_p99(cached));
        rows.push(super::one_row(
            &format!("bucket_objects_list, 100 keys, new token ({mode} exchange)"),
            first,
        ));
        rows.push(super::one_row(
            &format!("bucket_objects_list, 100 keys, same token again ({mode}, cached)"),
            cached,
        ));
        summaries.push(format!(
            "- {mode}: the first call of a token takes p50 {:.2} ms against {:.2} ms cached (+{:.2} ms for JWT verification and the exchange)",
            super::ms(first.0),
            super::ms(cached.0),
            super::ms(first.0) - super::ms(cached.0)
        ));
    }
    let exchanges = stack
        .registry
        .as_ref()
        .map_or(0, |registry| registry.credential_exchanges());
    if exchanges != SAMPLES {
        bail!("{exchanges} registry exchanges for {SAMPLES} tokens");
    }
    drop(stack);
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
