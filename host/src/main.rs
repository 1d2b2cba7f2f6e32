use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use quilt_mcp_host::access::Access;
use quilt_mcp_host::audit::AuditLog;
use quilt_mcp_host::auth::Authenticator;
use quilt_mcp_host::cli::{Cli, Command, ServeConfig};
use quilt_mcp_host::credentials::{self, RegistryToken};
use quilt_mcp_host::logging;
use quilt_mcp_host::metrics;
use quilt_mcp_host::oauth::Bridge;
use quilt_mcp_host::sandbox::{
    self, Deployment, DeploymentConfig, EgressPolicy, EngineLimits, RequestLimits, Sandbox,
};
use quilt_mcp_host::server::{self, App};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(config) => serve(*config).await,
        Command::Compile { guest, output } => sandbox::precompile(&guest, &output),
        Command::BenchInstances { guest, count } => bench_instances(&guest, count).await,
    }
}

/// Process → deployment → request: everything here is built once, then `server::serve` runs
/// each request in a fresh instance against it.
async fn serve(mut config: ServeConfig) -> anyhow::Result<()> {
    logging::init(config.log_format);
    // First: as PID 1 in a container, a signal without a handler is dropped, so a SIGTERM
    // during start-up (loading the guest can take seconds) would be lost. Installed, it waits
    // here and ends the server as soon as it serves.
    let signals = server::ShutdownSignals::install().context("installing the signal handlers")?;
    let listen = config.server.listen;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let bound = listener.local_addr()?;
    let public_url = config.server.public_url(bound)?;
    let resource_url = public_url.join("mcp")?.to_string();

    let access = Access::from_config(&config.access)?;
    let bridge = Bridge::from_config(
        &config.oauth,
        &public_url,
        &resource_url,
        access.bridge_scopes(),
    )?
    .map(Arc::new);
    let auth = Authenticator::from_config(&config.auth, &resource_url, bridge.as_deref())?;
    if auth.is_none() {
        tracing::warn!(
            "AUTHENTICATION IS OFF (--no-auth): anyone who can reach this port acts with this server's credentials. Development only."
        );
    }
    config
        .deployment
        .sql
        .settle(config.sandbox.request_timeout_ms)?;
    let sandbox = Sandbox::from_config(&config.sandbox, config.deployment.egress()?)?;
    let egress: Vec<String> = sandbox
        .egress()
        .origins()
        .map(ToString::to_string)
        .collect();
    tracing::info!(?egress, "guest loaded");

    let registry_token = RegistryToken::from_config(&config.credentials, bridge.is_some())?;
    let credentials = credentials::from_config(
        &config.credentials,
        &config.deployment.s3.region,
        config.deployment.quilt.registry_url.as_ref(),
        registry_token.clone(),
        auth.is_some(),
    )?;
    let deployment = Arc::new(Deployment::new(
        &config.deployment,
        credentials,
        registry_token,
    ));
    deployment.check_policy_fits()?;
    let authorization_server = config.auth.advertised_authorization_server();
    let audit = AuditLog::from_config(&config.audit)?;
    let app = Arc::new(App::new(
        &config.server,
        &public_url,
        resource_url,
        sandbox,
        auth,
        access,
        deployment,
        authorization_server,
        bridge,
        audit,
    ));

    // Harnesses read this first line to learn the port when listening on port 0.
    println!("listening on http://{bound}");
    std::io::stdout().flush()?;
    if let Some(listen) = config.metrics.metrics_listen {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen} for --metrics-listen"))?;
        tracing::info!(bound = %listener.local_addr()?, "serving metrics at /metrics");
        tokio::spawn(metrics::serve(listener));
    }
    tracing::info!(%bound, mcp = %app.resource_url(), "serving");
    let open_files = server::raise_open_files_limit();
    let connections = &config.server.connections;
    server::serve(app, listener, connections, open_files, signals).await;
    Ok(())
}

async fn bench_instances(guest: &std::path::Path, count: usize) -> anyhow::Result<()> {
    let limits = EngineLimits {
        max_instances: 16,
        guest_memory_bytes: 64 << 20,
    };
    let sandbox = Sandbox::load(
        guest,
        &limits,
        EgressPolicy::deny_all(),
        RequestLimits {
            deadline: Duration::from_secs(10),
            max_response_bytes: 1 << 20,
        },
    )?;
    let deployment = Deployment::new(
        &DeploymentConfig::default(),
        credentials::none(),
        RegistryToken::callers_own(),
    );
    let mut timings = sandbox
        .measure_instantiation(Arc::new(deployment), count)
        .await?;
    timings.sort();
    let percentile = |p: f64| timings[((timings.len() - 1) as f64 * p) as usize];
    println!(
        "instance creation over {count} instances: p50 {:?}, p99 {:?}, max {:?}",
        percentile(0.50),
        percentile(0.99),
        timings.last().copied().unwrap_or_default()
    );
    Ok(())
}
