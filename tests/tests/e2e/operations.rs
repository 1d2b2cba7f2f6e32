//! Operating the server: Prometheus metrics (the host's metrics listener scraped by a real
//! Prometheus, Debian's, and the series queried through its API as a dashboard queries them),
//! the audit stream, and rolling restarts under load.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Result, ensure};
use quilt_mcp_tests::artifacts::path_from_env;
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::ports::free_port;
use quilt_mcp_tests::prometheus::Prometheus;
use serde_json::{Value, json};

use crate::support::{Guest, SUBJECT, Scenario, args};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    prometheus_scrapes_requests_tools_and_the_pool,
    each_tool_call_is_audited_with_what_it_touched,
    rolling_restart_under_load_loses_no_request,
    a_second_signal_skips_the_shutdown_delay,
];

pub async fn prometheus_scrapes_requests_tools_and_the_pool(scenario: &Scenario<'_>) -> Result<()> {
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut spec = scenario.spec(Guest::Tools);
    spec.extra = args(&["--metrics-listen", &metrics]);
    let host = scenario.start(spec).await?;
    let prometheus = Prometheus::start(&path_from_env("QUILT_MCP_PROMETHEUS")?, &metrics).await?;
    let alice = scenario.client(&host);
    for _ in 0..3 {
        alice.call_tool("auth_status", json!({})).await?.success()?;
    }
    // A tool this server does not have is counted, under `other`, not under its name.
    let unknown = alice
        .send(
            "tools/call",
            json!({"name": "rm_rf_everything", "arguments": {}}),
        )
        .await?;
    ensure!(unknown.status == 200, "HTTP {}", unknown.status);
    // A tool that fails is told apart from one that succeeds; the guest's word for it is the
    // host's alone.
    let failed = alice
        .send(
            "tools/call",
            json!({"name": "bucket_objects_list", "arguments": {"bucket": "no-such-bucket-here"}}),
        )
        .await?;
    ensure!(
        failed.json()?["result"]["isError"] == true && failed.header("quilt-mcp-outcome").is_none(),
        "{}",
        failed.text()
    );
    // A bad token is refused before its body is read: no method is known.
    let stranger = McpClient::new(&host.mcp_url(), Some("not-a-token".into()));
    let refused = stranger.send("tools/list", json!({})).await?;
    ensure!(refused.status == 401, "HTTP {}", refused.status);

    prometheus.wait_for(r#"up{job="quilt-mcp"}"#, 1.0).await?;
    prometheus
        .wait_for(
            r#"quilt_mcp_tool_calls_total{tool="auth_status",outcome="ok"}"#,
            3.0,
        )
        .await?;
    prometheus
        .wait_for(
            r#"quilt_mcp_tool_calls_total{tool="bucket_objects_list",outcome="tool_error"}"#,
            1.0,
        )
        .await?;
    prometheus
        .wait_for(r#"sum(quilt_mcp_tool_calls_total{tool="other"})"#, 1.0)
        .await?;
    prometheus
        .wait_for(
            r#"quilt_mcp_requests_total{method="none",outcome="refused"}"#,
            1.0,
        )
        .await?;
    prometheus
        .wait_for(
            r#"sum(quilt_mcp_request_duration_seconds_count{method="tools/call"})"#,
            5.0,
        )
        .await?;
    prometheus
        .wait_for("quilt_mcp_admission_wait_seconds_count", 5.0)
        .await?;
    prometheus
        .wait_for("quilt_mcp_instances_in_use", 0.0)
        .await?;
    prometheus
        .wait_for(r#"quilt_mcp_jwks_total{event="fetched"}"#, 1.0)
        .await?;
    let names = reqwest::get(format!("http://{metrics}/metrics"))
        .await?
        .text()
        .await?;
    ensure!(
        !names.contains("rm_rf"),
        "a client's name became a series:\n{names}"
    );
    // The MCP port serves no metrics.
    let on_mcp_port = reqwest::get(format!("{}/metrics", host.base_url())).await?;
    ensure!(on_mcp_port.status() == 404, "HTTP {}", on_mcp_port.status());
    Ok(())
}

/// The audit lines the host wrote to stdout.
fn audit_events(host: &quilt_mcp_tests::host_process::HostProcess) -> Vec<Value> {
    host.log()
        .text()
        .lines()
        .filter(|line| line.starts_with(r#"{"type":"quilt_mcp.tool_call""#))
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// One event per tool call, naming what the host saw it touch; arguments only when asked.
pub async fn each_tool_call_is_audited_with_what_it_touched(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("audit").await?;
    scenario
        .admin()
        .put_object(&bucket, "runs/r1.csv", "a,b\n1,2\n")
        .send()
        .await?;
    let mut spec = scenario.spec(Guest::Tools);
    spec.extra = args(&["--audit-log", "stdout"]);
    let host = scenario.start(spec).await?;
    let token = scenario.token(&host);
    let alice = McpClient::new(&host.mcp_url(), Some(token.clone()));
    let uri = format!("s3://{bucket}/runs/r1.csv");
    alice
        .call_tool("bucket_object_text", json!({"s3_uri": uri}))
        .await?
        .success()?;
    alice
        .call_tool(
            "bucket_objects_list",
            json!({"bucket": bucket, "prefix": "runs/"}),
        )
        .await?
        .success()?;
    // A reader's call of a writer is refused by the host, and audited as refused.
    let mut claims = scenario.claims(&host);
    claims["scope"] = json!("openid quilt:read");
    let reader = McpClient::new(&host.mcp_url(), Some(scenario.stack.identity.sign(&claims)));
    let refused = reader
        .send(
            "tools/call",
            json!({"name": "package_delete", "arguments": {"secret": "hunter2"}}),
        )
        .await?;
    ensure!(refused.status == 403, "HTTP {}", refused.status);
    host.wait_for_log(r#""tool":"package_delete""#).await?;

    let events = audit_events(&host);
    ensure!(events.len() == 3, "three calls, three events: {events:#?}");
    let read = &events[0];
    ensure!(
        read["tool"] == "bucket_object_text"
            && read["subject"] == SUBJECT
            && read["outcome"] == "ok"
            && read["targets"] == json!([uri])
            && read["bytes_read"].as_u64().is_some_and(|bytes| bytes >= 8)
            && read["request_id"].as_str().is_some_and(|id| id.len() == 36),
        "{read}"
    );
    ensure!(
        events[1]["targets"] == json!([format!("s3://{bucket}/runs/")]),
        "{}",
        events[1]
    );
    ensure!(
        events[2]["tool"] == "package_delete"
            && events[2]["outcome"] == "refused"
            && events[2]["http_status"] == 403,
        "{}",
        events[2]
    );
    let log = host.log().text();
    ensure!(
        events.iter().all(|event| event.get("arguments").is_none()) && !log.contains("hunter2"),
        "arguments are left out unless asked: {events:#?}"
    );
    ensure!(!log.contains(&token), "the token reached the log");

    // Asked for, arguments are recorded.
    let mut spec = scenario.spec(Guest::Tools);
    spec.extra = args(&["--audit-log", "stdout", "--audit-arguments"]);
    let host = scenario.start(spec).await?;
    scenario
        .client(&host)
        .call_tool("bucket_objects_list", json!({"bucket": bucket}))
        .await?
        .success()?;
    host.wait_for_log("quilt_mcp.tool_call").await?;
    let events = audit_events(&host);
    ensure!(
        events.len() == 1 && events[0]["arguments"] == json!({"bucket": bucket}),
        "{events:#?}"
    );
    Ok(())
}

/// Concurrent callers, each sending its next request as soon as the last is answered.
const CALLERS: usize = 8;
/// How long each replica goes on answering after SIGTERM (`--shutdown-delay-secs`).
const SHUTDOWN_DELAY_SECS: &str = "1";
/// How often the balancer probes each replica's /readyz (Kubernetes: the readiness probe's
/// period), well under the shutdown delay.
const PROBE_PERIOD: Duration = Duration::from_millis(100);

/// Two replicas behind a round-robin balancer are restarted one after the other (SIGTERM,
/// exit, start again on the same port) while eight callers keep them busy. As Kubernetes
/// does, the balancer sends only to replicas whose /readyz last answered 200, and does not
/// retry: a refused connection or any answer but 200 is a lost request.
pub async fn rolling_restart_under_load_loses_no_request(scenario: &Scenario<'_>) -> Result<()> {
    let spec = || {
        let mut spec = scenario.spec(Guest::Hostile);
        spec.extra = args(&["--shutdown-delay-secs", SHUTDOWN_DELAY_SECS]);
        spec
    };
    let listen = [
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    ];
    let mut replicas = Vec::new();
    for address in &listen {
        replicas.push(scenario.start_on(spec(), address).await?);
    }
    let balancer = Balancer::new(replicas.iter().map(|host| scenario.client(host)).collect());
    let probes = replicas
        .iter()
        .enumerate()
        .map(|(replica, host)| {
            tokio::spawn(balancer.clone().probe(replica, host.base_url().to_owned()))
        })
        .collect::<Vec<_>>();
    let callers: Vec<_> = (0..CALLERS)
        .map(|caller| tokio::spawn(balancer.clone().call_until_stopped(caller)))
        .collect();

    let mut during_shutdown = Vec::new();
    for (replica, address) in listen.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let before = balancer.answered();
        let status = replicas[replica].terminate(Duration::from_secs(20)).await?;
        ensure!(status.success(), "replica {replica} exited with {status}");
        during_shutdown.push(balancer.answered() - before);
        replicas[replica] = scenario.start_on(spec(), address).await?;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    balancer.stop.store(true, Ordering::Relaxed);
    for task in callers.into_iter().chain(probes) {
        task.await??;
    }

    let lost = balancer.lost.lock().expect("not poisoned");
    let logs = || {
        let logs: Vec<String> = replicas.iter().map(|host| host.log().text()).collect();
        logs.join("\n---\n")
    };
    ensure!(
        lost.is_empty(),
        "{} requests lost, e.g. {:?}; replica logs:\n{}",
        lost.len(),
        &lost[..lost.len().min(5)],
        logs()
    );
    let answered = balancer.answered();
    ensure!(answered >= 100, "only {answered} requests answered");
    ensure!(
        during_shutdown.iter().all(|answered| *answered > 0),
        "no request was answered while a replica shut down: {during_shutdown:?}"
    );
    Ok(())
}

/// An operator who signals again does not wait out the shutdown delay: the second SIGTERM
/// ends it, and the host drains (nothing is in flight) and exits at once.
pub async fn a_second_signal_skips_the_shutdown_delay(scenario: &Scenario<'_>) -> Result<()> {
    let mut spec = scenario.spec(Guest::Tools);
    spec.extra = args(&["--shutdown-delay-secs", "120"]);
    let mut host = scenario.start(spec).await?;
    host.sigterm()?;
    host.wait_until_not_ready().await?;
    let status = host.terminate(Duration::from_secs(10)).await?;
    ensure!(status.success(), "the host exited with {status}");
    Ok(())
}

/// A round-robin balancer over the replicas that last probed ready, and what its callers saw.
#[derive(Clone)]
struct Balancer {
    clients: Arc<Vec<McpClient>>,
    ready: Arc<Vec<AtomicBool>>,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    lost: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Balancer {
    fn new(clients: Vec<McpClient>) -> Self {
        Self {
            ready: Arc::new(clients.iter().map(|_| AtomicBool::new(true)).collect()),
            clients: Arc::new(clients),
            stop: Arc::default(),
            answered: Arc::default(),
            lost: Arc::default(),
        }
    }

    fn answered(&self) -> usize {
        self.answered.load(Ordering::Relaxed)
    }

    async fn probe(self, replica: usize, base_url: String) -> Result<()> {
        let http = reqwest::Client::new();
        let url = format!("{base_url}/readyz");
        while !self.stop.load(Ordering::Relaxed) {
            let ready = matches!(http.get(&url).send().await, Ok(reply) if reply.status() == 200);
            self.ready[replica].store(ready, Ordering::Relaxed);
            tokio::time::sleep(PROBE_PERIOD).await;
        }
        Ok(())
    }

    async fn call_until_stopped(self, caller: usize) -> Result<()> {
        let mut next = caller;
        while !self.stop.load(Ordering::Relaxed) {
            next += 1;
            let Some(replica) = (0..self.clients.len())
                .map(|offset| (next + offset) % self.clients.len())
                .find(|replica| self.ready[*replica].load(Ordering::Relaxed))
            else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let (method, params) = if next.is_multiple_of(3) {
                ("whoami_slow", json!({"hold_ms": 150}))
            } else {
                ("whoami", json!({}))
            };
            match self.clients[replica].send(method, params).await {
                Ok(reply) if reply.status == 200 => {
                    self.answered.fetch_add(1, Ordering::Relaxed);
                }
                Ok(reply) => self.lose(format!(
                    "replica {replica}: HTTP {}: {}",
                    reply.status,
                    reply.text()
                )),
                Err(error) => self.lose(format!("replica {replica}: {error:#}")),
            }
        }
        Ok(())
    }

    fn lose(&self, what: String) {
        self.lost.lock().expect("not poisoned").push(what);
    }
}
