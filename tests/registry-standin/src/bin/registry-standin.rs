//! Runs a registry stand-in by hand, e.g. against the `make run` SeaweedFS:
//! `registry-standin --jwks-url … --issuer … --audience … --indexer-access-key-id … \
//!  --indexer-secret-access-key … --user alice@example.com=arn:aws:iam::role/ReaderA=bucket-a`

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use quilt_registry_standin::{AccessKeys, RegistryStandin, StandinConfig, UserGrant};
use url::Url;

/// A local stand-in for the Quilt registry (credentials, search, GraphQL).
#[derive(Parser)]
#[command(version)]
struct Args {
    #[arg(
        long,
        env = "REGISTRY_STANDIN_LISTEN",
        default_value = "127.0.0.1:8090"
    )]
    listen: SocketAddr,
    /// Where the identity provider publishes its signing keys.
    #[arg(long, env = "REGISTRY_STANDIN_JWKS_URL")]
    jwks_url: Url,
    /// The `iss` tokens must carry.
    #[arg(long, env = "REGISTRY_STANDIN_ISSUER")]
    issuer: String,
    /// The `aud` tokens must carry.
    #[arg(long, env = "REGISTRY_STANDIN_AUDIENCE")]
    audience: String,
    #[arg(
        long,
        env = "REGISTRY_STANDIN_S3_ENDPOINT",
        default_value = "http://127.0.0.1:8333"
    )]
    s3_endpoint: Url,
    /// Where AssumeRoleWithWebIdentity goes; defaults to the S3 endpoint (SeaweedFS serves both).
    #[arg(long, env = "REGISTRY_STANDIN_STS_ENDPOINT")]
    sts_endpoint: Option<Url>,
    #[arg(long, env = "REGISTRY_STANDIN_REGION", default_value = "us-east-1")]
    region: String,
    /// Keys that may list and read every granted bucket (the indexer's).
    #[arg(long, env = "REGISTRY_STANDIN_INDEXER_ACCESS_KEY_ID")]
    indexer_access_key_id: String,
    #[arg(long, env = "REGISTRY_STANDIN_INDEXER_SECRET_ACCESS_KEY")]
    indexer_secret_access_key: String,
    /// A user's grant, `SUBJECT=ROLE_ARN=BUCKET[,BUCKET…]`; repeat per user.
    #[arg(long = "user", value_parser = parse_grant)]
    users: Vec<UserGrant>,
    /// Searches naming more indices are refused with 403.
    #[arg(long, default_value_t = 100)]
    max_indices: usize,
    /// Seconds a bucket's index is reused before it is read again (0: before every search).
    #[arg(long, default_value_t = 0)]
    refresh_secs: u64,
}

fn parse_grant(text: &str) -> Result<UserGrant, String> {
    let mut parts = text.splitn(3, '=');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(subject), Some(role_arn), Some(buckets)) if !subject.is_empty() => Ok(UserGrant {
            subject: subject.to_owned(),
            role_arn: role_arn.to_owned(),
            buckets: buckets
                .split(',')
                .filter(|b| !b.is_empty())
                .map(str::to_owned)
                .collect(),
        }),
        _ => Err(format!("{text:?} is not SUBJECT=ROLE_ARN=BUCKET[,BUCKET…]")),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let config = StandinConfig {
        listen: args.listen,
        jwks_url: args.jwks_url,
        issuer: args.issuer,
        audience: args.audience,
        sts_endpoint: args
            .sts_endpoint
            .unwrap_or_else(|| args.s3_endpoint.clone()),
        s3_endpoint: args.s3_endpoint,
        region: args.region,
        indexer: AccessKeys {
            access_key_id: args.indexer_access_key_id,
            secret_access_key: args.indexer_secret_access_key,
        },
        users: args.users,
        max_indices: args.max_indices,
        refresh: Duration::from_secs(args.refresh_secs),
        tabulator: Vec::new(),
        service_token: None,
    };
    let standin = RegistryStandin::start(config).await?;
    println!("Quilt registry stand-in at {}", standin.url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
