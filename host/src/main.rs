use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use quilt_mcp_host::auth::Authenticator;
use quilt_mcp_host::config::{
    AuthConfig, Cli, Command, CredentialSourceKind, LogFormat, ServeConfig,
};
use quilt_mcp_host::credentials;
use quilt_mcp_host::sandbox::{
    self, Deployment, EgressPolicy, EngineLimits, RequestLimits, Sandbox,
};
use quilt_mcp_host::server::{self, Admission, App, HostPolicy, OriginPolicy};
use tokio::net::TcpListener;
use url::Url;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(config) => serve(*config).await,
        Command::Compile { guest, output } => sandbox::precompile(&guest, &output),
        Command::BenchInstances { guest, count } => bench_instances(&guest, count).await,
    }
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    init_logging(config.log_format);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let bound = listener.local_addr()?;
    let public_url = match &config.public_url {
        Some(url) => url.clone(),
        None => Url::parse(&format!("http://{bound}"))?,
    };
    let resource_url = public_url.join("mcp")?.to_string();

    let auth = Authenticator::from_config(&config.auth, &resource_url)?;
    if auth.is_none() {
        tracing::warn!(
            "AUTHENTICATION IS OFF (--no-auth): anyone who can reach this port acts with this server's credentials. Development only."
        );
    }

    let s3_endpoint = config.s3.endpoint();
    let registry_url = config.catalog.registry_url.as_ref();
    let egress = EgressPolicy::new(
        std::iter::once(&s3_endpoint).chain(&config.egress_allow),
        registry_url,
    );
    let limits = EngineLimits {
        max_instances: config.limits.max_instances,
        guest_memory_bytes: config.limits.guest_memory_mib << 20,
    };
    let request_limits = RequestLimits {
        deadline: Duration::from_millis(config.limits.request_timeout_ms),
        max_response_bytes: config.limits.max_response_bytes,
    };
    if !config.s3.path_style && !egress.allows_a_subdomain_of(&s3_endpoint) {
        anyhow::bail!(
            "--s3-path-style=false addresses each bucket as <bucket>.{host}, but no --egress-allow \
             origin is such a name, so every S3 request would be refused: allow each bucket's \
             origin (e.g. --egress-allow {scheme}://my-bucket.{host}) or keep path-style addressing",
            host = s3_endpoint.host_str().unwrap_or_default(),
            scheme = s3_endpoint.scheme(),
        );
    }
    let sandbox = Sandbox::load(&config.guest, &limits, egress, request_limits)?;
    tracing::info!(egress = ?sandbox.egress().origins().map(ToString::to_string).collect::<Vec<_>>(), "guest loaded");

    let exchanges_tokens = match config.credentials.source {
        CredentialSourceKind::WebIdentity => Some("web-identity"),
        CredentialSourceKind::QuiltExchange => Some("registry"),
        CredentialSourceKind::None | CredentialSourceKind::Static => None,
    };
    if let (None, Some(source)) = (&auth, exchanges_tokens) {
        anyhow::bail!(
            "--credentials {source} exchanges each caller's token, so it cannot run with --no-auth"
        );
    }
    let deployment = Arc::new(Deployment {
        credentials: credentials::from_config(
            &config.credentials,
            &config.s3.region,
            registry_url,
        )?,
        region: config.s3.region.clone(),
        s3_endpoint: s3_endpoint.as_str().trim_end_matches('/').to_owned(),
        path_style: config.s3.path_style,
        max_manifest_bytes: config.limits.max_manifest_bytes,
        max_manifest_entries: config.limits.max_manifest_entries,
        catalog_url: config
            .catalog
            .catalog_url
            .as_ref()
            .map(without_trailing_slash),
        registry_url: registry_url.map(without_trailing_slash),
        forward_registry_token: config.catalog.registry_forward_token,
        buckets: config.catalog.buckets.clone(),
    });
    let authorization_servers = advertised_authorization_server(&config.auth)
        .into_iter()
        .collect();
    let admission = Admission::new(
        &config.admission,
        config.limits.max_instances,
        auth.is_some(),
    );
    let app = Arc::new(App {
        sandbox,
        admission,
        auth,
        deployment,
        hosts: HostPolicy::new(&public_url, &config.allowed_hosts),
        origins: OriginPolicy::new(&config.allowed_origins, &public_url),
        max_body_bytes: config.limits.max_body_bytes,
        body_timeout: config.connections.body_timeout(),
        resource_url,
        authorization_servers,
    });

    // Harnesses read this first line to learn the port when listening on port 0.
    println!("listening on http://{bound}");
    std::io::stdout().flush()?;
    tracing::info!(%bound, mcp = %app.resource_url, "serving");
    let open_files = server::raise_open_files_limit();
    server::serve(
        app,
        listener,
        &config.connections,
        open_files,
        shutdown_signal(),
    )
    .await;
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
    let deployment = Arc::new(Deployment {
        credentials: credentials::none(),
        region: "us-east-1".into(),
        s3_endpoint: "http://127.0.0.1:9".into(),
        path_style: true,
        max_manifest_bytes: 0,
        max_manifest_entries: 0,
        catalog_url: None,
        registry_url: None,
        forward_registry_token: false,
        buckets: Vec::new(),
    });
    let mut timings = sandbox.measure_instantiation(deployment, count).await?;
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

fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down after the requests in flight");
}

/// URLs as the operator wrote them: `Url` adds a `/` to a bare origin, which the tools would
/// otherwise repeat in every link and path they build from it.
fn without_trailing_slash(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

/// RFC 9728 metadata names authorization servers by their issuer URL, and clients (mcp-remote,
/// for one) fail on anything else. A JWT issuer need not be a URL, so the default is dropped,
/// with a warning, when it is not one; an explicit `--authorization-server` must be one.
fn advertised_authorization_server(auth: &AuthConfig) -> Option<String> {
    let is_url =
        |value: &str| Url::parse(value).is_ok_and(|url| matches!(url.scheme(), "https" | "http"));
    if let Some(explicit) = &auth.authorization_server {
        return Some(explicit.clone());
    }
    let issuer = auth.jwt_issuer.clone()?;
    if is_url(&issuer) {
        return Some(issuer);
    }
    tracing::warn!(
        issuer,
        "the JWT issuer is not an http(s) URL, so the protected-resource metadata names no \
         authorization server; set --authorization-server to the identity provider's issuer URL"
    );
    None
}
