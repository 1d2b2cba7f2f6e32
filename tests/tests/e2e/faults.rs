//! Faults between the server and S3, injected by a proxy where the host believes S3 is
//! ([`quilt_mcp_tests::fault_proxy`]): latency under and past the deadline, 5xx answers,
//! a connection reset mid-body, a listing whose XML is cut short, and a body trickled a byte at
//! a time. Each gives the caller a precise error within the deadline (never a hang), leaves no
//! guest instance behind (the pool gauge is back to 0), and the next call, fault gone, works.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use quilt_mcp_tests::fault_proxy::{Fault, FaultProxy};
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::ports::free_port;
use serde_json::{Value, json};

use crate::support::{Guest, Scenario, args};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    latency_under_the_deadline_only_slows_the_call,
    latency_past_the_deadline_ends_the_call_in_time,
    server_errors_are_named,
    a_reset_mid_body_is_a_failed_read,
    a_truncated_listing_is_refused,
    a_trickled_body_ends_at_the_deadline,
];

/// The host's `--request-timeout-ms` in these trials.
const DEADLINE: Duration = Duration::from_secs(3);
/// What an answer may take beyond the deadline: the host's own answer, loopback, a busy CI.
const MARGIN: Duration = Duration::from_millis(1500);
/// How the host says a request ran out of time.
const LIMIT: &str = "took longer than the server's limit of 3s";
/// An object large enough to be cut in two and trickled for longer than the deadline.
const BODY_BYTES: usize = 8 * 1024;

pub async fn latency_under_the_deadline_only_slows_the_call(scenario: &Scenario<'_>) -> Result<()> {
    let faulted = Faulted::start(scenario).await?;
    faulted
        .proxy
        .set(Fault::Latency(Duration::from_millis(400)));
    let started = Instant::now();
    faulted.read().await?.success()?;
    ensure!(
        started.elapsed() >= Duration::from_millis(400),
        "not delayed"
    );
    faulted.recovers().await
}

pub async fn latency_past_the_deadline_ends_the_call_in_time(
    scenario: &Scenario<'_>,
) -> Result<()> {
    let faulted = Faulted::start(scenario).await?;
    faulted
        .fails_within_the_deadline(Fault::Latency(Duration::from_secs(30)), Call::List, LIMIT)
        .await?;
    faulted.recovers().await
}

pub async fn server_errors_are_named(scenario: &Scenario<'_>) -> Result<()> {
    let faulted = Faulted::start(scenario).await?;
    faulted
        .fails_within_the_deadline(Fault::Status(503), Call::List, "SlowDown")
        .await?;
    faulted
        .fails_within_the_deadline(Fault::Status(500), Call::Read, "InternalError")
        .await?;
    faulted.recovers().await
}

pub async fn a_reset_mid_body_is_a_failed_read(scenario: &Scenario<'_>) -> Result<()> {
    let faulted = Faulted::start(scenario).await?;
    faulted
        .fails_within_the_deadline(Fault::ResetMidBody, Call::Read, "reading the response body")
        .await?;
    faulted.recovers().await
}

pub async fn a_truncated_listing_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    let faulted = Faulted::start(scenario).await?;
    faulted
        .fails_within_the_deadline(Fault::TruncatedBody, Call::List, "cut short")
        .await?;
    faulted.recovers().await
}

pub async fn a_trickled_body_ends_at_the_deadline(scenario: &Scenario<'_>) -> Result<()> {
    let faulted = Faulted::start(scenario).await?;
    faulted
        .fails_within_the_deadline(Fault::Trickle(Duration::from_millis(50)), Call::Read, LIMIT)
        .await?;
    faulted.recovers().await
}

/// A host whose S3 is the proxy in front of SeaweedFS, a bucket with one object, and the
/// host's metrics.
struct Faulted {
    proxy: FaultProxy,
    client: McpClient,
    bucket: String,
    metrics: String,
    _host: quilt_mcp_tests::host_process::HostProcess,
}

#[derive(Clone, Copy)]
enum Call {
    /// `bucket_objects_list`: ListObjectsV2, an XML answer.
    List,
    /// `bucket_object_text`: GetObject.
    Read,
}

impl Faulted {
    async fn start(scenario: &Scenario<'_>) -> Result<Self> {
        let bucket = scenario.bucket("faults").await?;
        let text = "fault line\n".repeat(BODY_BYTES / 11);
        scenario
            .admin()
            .put_object(&bucket, "notes.txt", text)
            .send()
            .await?;
        let proxy = FaultProxy::start(&scenario.stack.s3_endpoint()).await?;
        let metrics = format!("127.0.0.1:{}", free_port());
        let mut spec = scenario.spec(Guest::Tools);
        let deadline = DEADLINE.as_millis().to_string();
        spec.extra = args(&[
            "--request-timeout-ms",
            &deadline,
            "--metrics-listen",
            &metrics,
        ]);
        let host = scenario.start_with_s3(spec, &proxy.url()).await?;
        Ok(Self {
            client: scenario.client(&host),
            proxy,
            bucket,
            metrics,
            _host: host,
        })
    }

    async fn call(&self, call: Call) -> Result<Value> {
        let (tool, arguments) = match call {
            Call::List => ("bucket_objects_list", json!({"bucket": self.bucket})),
            Call::Read => (
                "bucket_object_text",
                json!({"s3_uri": format!("s3://{}/notes.txt", self.bucket)}),
            ),
        };
        let reply = self
            .client
            .send("tools/call", json!({"name": tool, "arguments": arguments}))
            .await?;
        Ok(json!({"status": reply.status, "body": reply.text()}))
    }

    async fn read(&self) -> Result<quilt_mcp_tests::mcp::ToolOutcome> {
        let uri = format!("s3://{}/notes.txt", self.bucket);
        self.client
            .call_tool("bucket_object_text", json!({"s3_uri": uri}))
            .await
    }

    /// `call` under `fault` fails, saying `expected`, before the deadline has long passed;
    /// the instance is gone afterwards.
    async fn fails_within_the_deadline(
        &self,
        fault: Fault,
        call: Call,
        expected: &str,
    ) -> Result<()> {
        let damaged = self.proxy.damaged();
        self.proxy.set(fault);
        let started = Instant::now();
        let answer = self.call(call).await?;
        let took = started.elapsed();
        self.proxy.set(Fault::None);
        ensure!(
            took < DEADLINE + MARGIN,
            "{fault:?}: answered after {took:?}: {answer}"
        );
        ensure!(
            self.proxy.damaged() > damaged,
            "{fault:?} was never applied"
        );
        let body = answer["body"].as_str().unwrap_or_default();
        let failed = answer["status"] != 200
            || serde_json::from_str::<Value>(body).is_ok_and(|message| {
                message["result"]["isError"] == true || message["error"].is_object()
            });
        ensure!(failed, "{fault:?}: the call succeeded: {answer}");
        ensure!(
            body.contains(expected),
            "{fault:?}: the error should say {expected:?}: {answer}"
        );
        self.no_instance_left().await
    }

    /// The next calls, with the fault gone, succeed.
    async fn recovers(&self) -> Result<()> {
        self.proxy.set(Fault::None);
        let listing = self.call(Call::List).await?;
        ensure!(
            listing["status"] == 200
                && listing["body"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("notes.txt"),
            "listing after the fault: {listing}"
        );
        let text = self.read().await?.success()?;
        ensure!(text.to_string().contains("fault line"), "{text}");
        self.no_instance_left().await
    }

    /// The pool gauge returns to 0: no instance outlives its request for long.
    async fn no_instance_left(&self) -> Result<()> {
        let started = Instant::now();
        loop {
            let in_use = self.instances_in_use().await?;
            if in_use == 0.0 {
                return Ok(());
            }
            ensure!(
                started.elapsed() < DEADLINE,
                "{in_use} instances still in use"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn instances_in_use(&self) -> Result<f64> {
        let page = reqwest::get(format!("http://{}/metrics", self.metrics))
            .await?
            .text()
            .await?;
        let line = page
            .lines()
            .find_map(|line| line.strip_prefix("quilt_mcp_instances_in_use "))
            .context("no quilt_mcp_instances_in_use in the metrics")?;
        Ok(line.trim().parse()?)
    }
}
