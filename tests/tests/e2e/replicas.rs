//! Stateless replicas: three hosts with the same configuration, and one client that sends
//! each request to the next replica in turn — as a round-robin load balancer would — runs
//! a whole workflow (list, read, package_create, package_browse, search). One replica is
//! killed mid-run; the request that fails on it is retried on another and succeeds, so no
//! request depended on the replica that served the one before.
//!
//! Search needs the registry, so this trial starts its own SeaweedFS with STS (Alice may
//! read and write one bucket) and a registry stand-in granting her that bucket; every
//! replica exchanges her token there for S3 keys and searches as her.

use anyhow::{Context, Result, bail, ensure};
use quilt_mcp_tests::host_process::{HostLaunch, HostProcess};
use quilt_mcp_tests::identity::standard_claims;
use quilt_mcp_tests::mcp::{McpClient, ToolOutcome};
use quilt_mcp_tests::registry::{RegistryStandin, grant, standin_config};
use quilt_mcp_tests::sts::{BucketReader, WebIdentityTrust, allow_writes};
use serde_json::{Value, json};

use crate::support::{Scenario, args};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![round_robin_workflow_survives_a_lost_replica,];

const AUDIENCE: &str = "quilt-mcp-replicas-e2e";
const ALICE: &str = "alice@example.com";
const BUCKET: &str = "replicas-fieldwork";
const SURVEY_KEY: &str = "raw/albatross-survey.csv";
const SURVEY: &str = "species,count\nalbatross,12\n";
const REPLICAS: usize = 3;

/// A client that sends each request to the next replica; a request that gets no HTTP
/// answer at all (the replica is gone) is sent again to the one after.
struct RoundRobin {
    replicas: Vec<McpClient>,
    next: usize,
}

/// Who answered a call, after which failed attempts.
struct Served {
    replica: usize,
    failed_on: Vec<(usize, String)>,
    outcome: ToolOutcome,
}

impl RoundRobin {
    async fn call(&mut self, tool: &str, arguments: Value) -> Result<Served> {
        let mut failed_on = Vec::new();
        for _ in 0..self.replicas.len() {
            let replica = self.next;
            self.next = (self.next + 1) % self.replicas.len();
            let client = &self.replicas[replica];
            match client
                .send("tools/call", json!({"name": tool, "arguments": arguments}))
                .await
            {
                Ok(reply) => {
                    ensure!(
                        reply.status == 200,
                        "{tool} on replica {replica}: HTTP {}: {}",
                        reply.status,
                        reply.text()
                    );
                    let result = reply.json()?["result"].take();
                    let outcome = ToolOutcome {
                        is_error: result["isError"].as_bool().unwrap_or(false),
                        text: result["content"][0]["text"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        structured: result["structuredContent"].clone(),
                    };
                    return Ok(Served {
                        replica,
                        failed_on,
                        outcome,
                    });
                }
                Err(error) => failed_on.push((replica, format!("{error:#}"))),
            }
        }
        bail!("{tool}: no replica answered: {failed_on:?}")
    }

    /// A call that must succeed on `expected` without a retry.
    async fn expect(&mut self, expected: usize, tool: &str, arguments: Value) -> Result<Value> {
        let served = self.call(tool, arguments).await?;
        ensure!(
            served.replica == expected && served.failed_on.is_empty(),
            "{tool} was served by replica {} after {:?}, not by replica {expected}",
            served.replica,
            served.failed_on
        );
        served.outcome.success().with_context(|| tool.to_owned())
    }
}

pub async fn round_robin_workflow_survives_a_lost_replica(scenario: &Scenario<'_>) -> Result<()> {
    let stack = scenario.stack;
    let alice = BucketReader {
        role_name: "FieldworkWriter".into(),
        subject: ALICE.into(),
        bucket: BUCKET.into(),
    };
    let grants = vec![grant(&alice)];
    let trust = WebIdentityTrust {
        issuer: stack.issuer(),
        audience: AUDIENCE.into(),
        jwks_url: stack.jwks.jwks_url(),
        readers: vec![alice],
    };
    let mut iam = trust.iam_config();
    allow_writes(&mut iam, &trust.readers[0]);
    let seaweed = scenario.own_seaweed(&iam).await?;
    let admin = seaweed.admin();
    admin.create_bucket(BUCKET).await?;
    admin.put_object(BUCKET, SURVEY_KEY, SURVEY).send().await?;
    let registry = RegistryStandin::start(standin_config(
        &seaweed,
        &stack.jwks.jwks_url(),
        &stack.issuer(),
        AUDIENCE,
        grants,
    )?)
    .await?;

    let registry_url = registry.url().as_str().trim_end_matches('/').to_owned();
    let flags = args(&[
        "--s3-endpoint",
        seaweed.s3_endpoint.as_str().trim_end_matches('/'),
        "--jwks-url",
        &stack.jwks.jwks_url(),
        "--jwt-issuer",
        &stack.issuer(),
        "--jwt-audience",
        AUDIENCE,
        "--credentials",
        "registry",
        "--registry-url",
        &registry_url,
    ]);
    let mut hosts = Vec::with_capacity(REPLICAS);
    for _ in 0..REPLICAS {
        hosts.push(
            HostProcess::start(HostLaunch {
                host_bin: &stack.artifacts.host_bin,
                guest: &stack.artifacts.guest,
                listen: "127.0.0.1:0",
                args: &flags,
                env: &[],
                echo_logs: false,
            })
            .await?,
        );
    }
    let outcome = workflow(scenario, &hosts).await;
    outcome.with_context(|| {
        let logs: Vec<String> = hosts.iter().map(|host| host.log().text()).collect();
        format!("replica logs:\n{}", logs.join("\n---\n"))
    })
}

async fn workflow(scenario: &Scenario<'_>, hosts: &[HostProcess]) -> Result<()> {
    // One token for all: the replicas share the audience, as behind one load balancer.
    let token =
        scenario
            .stack
            .identity
            .sign(&standard_claims(&scenario.stack.issuer(), AUDIENCE, ALICE));
    let mut client = RoundRobin {
        replicas: hosts
            .iter()
            .map(|host| McpClient::new(&host.mcp_url(), Some(token.clone())))
            .collect(),
        next: 0,
    };
    let registry = format!("s3://{BUCKET}");

    let listing = client
        .expect(
            0,
            "bucket_objects_list",
            json!({"bucket": BUCKET, "prefix": "raw/"}),
        )
        .await?;
    ensure!(listing["objects"][0]["key"] == SURVEY_KEY, "{listing}");
    let text = client
        .expect(
            1,
            "bucket_object_text",
            json!({"s3_uri": format!("s3://{BUCKET}/{SURVEY_KEY}")}),
        )
        .await?;
    ensure!(text["text"] == SURVEY, "{text}");
    let created = client
        .expect(
            2,
            "package_create",
            json!({"package_name": "fieldwork/albatross", "registry": registry,
                   "s3_uris": [format!("s3://{BUCKET}/raw/")], "message": "seabird census"}),
        )
        .await?;
    let top_hash = created["top_hash"].as_str().context("top_hash")?.to_owned();
    // Replica 0 browses what replica 2 wrote: the package lives in S3, not in a replica.
    let browse = client
        .expect(
            0,
            "package_browse",
            json!({"package_name": "fieldwork/albatross", "registry": registry}),
        )
        .await?;
    ensure!(
        browse["top_hash"] == top_hash.as_str()
            && browse["entries"][0]["logical_key"] == "albatross-survey.csv",
        "{browse}"
    );

    // Replica 1 dies; the next request is its turn.
    let killed = hosts[1].server_pid()?;
    // SAFETY: kill(2) on the PID of a host this trial started and still holds.
    ensure!(
        unsafe { libc::kill(killed as libc::pid_t, libc::SIGKILL) } == 0,
        "could not kill replica 1 (pid {killed})"
    );
    wait_until_refused(&hosts[1]).await?;
    let served = client
        .call(
            "search_catalog",
            json!({"query": "census", "scope": "package"}),
        )
        .await?;
    ensure!(
        served.failed_on.len() == 1 && served.failed_on[0].0 == 1,
        "the search should have failed on replica 1 first: {:?}",
        served.failed_on
    );
    ensure!(served.replica == 2, "retried on replica {}", served.replica);
    let found = served.outcome.success()?;
    let packages: Vec<&str> = found["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|hit| hit["name"].as_str())
        .collect();
    ensure!(packages == ["fieldwork/albatross"], "{found}");

    // The survivors carry on: replica 0 is next in turn.
    let again = client
        .expect(
            0,
            "bucket_object_info",
            json!({"s3_uri": format!("s3://{BUCKET}/{SURVEY_KEY}")}),
        )
        .await?;
    ensure!(again["size"] == SURVEY.len(), "{again}");
    Ok(())
}

/// A killed process's listening socket closes as the kernel reaps it, a moment later.
async fn wait_until_refused(host: &HostProcess) -> Result<()> {
    let health = format!("{}/healthz", host.base_url());
    for _ in 0..100 {
        if reqwest::get(&health).await.is_err() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    bail!("{health} still answers after its process was killed")
}
