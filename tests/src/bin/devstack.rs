//! `make run`: a local quilt-mcp a real MCP client can use. Starts SeaweedFS with a
//! demo bucket, a development token issuer (RSA key + JWKS server) and the host;
//! prints the MCP URL, a token and a client configuration; writes the same to
//! `.run/connection.json`. Ctrl-C stops everything it started.

use std::path::Path;

use anyhow::{Context, Result};
use quilt_mcp_tests::artifacts::Artifacts;
use quilt_mcp_tests::host_process::{HostLaunch, HostProcess};
use quilt_mcp_tests::identity::{Identity, jwks, now_secs, standard_claims};
use quilt_mcp_tests::jwks_server::JwksServer;
use quilt_mcp_tests::ports::preferred_or_free;
use quilt_mcp_tests::s3::S3Client;
use quilt_mcp_tests::seaweedfs::{ADMIN, SeaweedFs, SeaweedOptions};
use serde_json::json;

const RUN_DIR: &str = ".run";
const DEMO_BUCKET: &str = "quilt-demo";
const DEV_SUBJECT: &str = "developer@localhost";
const TOKEN_HOURS: u64 = 8;
/// Well-known ports, used when free so the printed configuration stays the same.
const S3_PORT: u16 = 8333;
const MCP_PORT: u16 = 8080;

const DEMO_OBJECTS: [(&str, &str, &str); 3] = [
    (
        "README.md",
        "text/markdown",
        "# quilt-demo\n\nSample objects served by the quilt-mcp development stack.\n\n- `data/penguins.csv`: a small table\n- `data/summary.json`: a JSON document\n",
    ),
    (
        "data/penguins.csv",
        "text/csv",
        "species,island,bill_length_mm,body_mass_g\nAdelie,Torgersen,39.1,3750\nGentoo,Biscoe,46.1,4500\nChinstrap,Dream,46.5,3500\n",
    ),
    (
        "data/summary.json",
        "application/json",
        "{\n  \"rows\": 3,\n  \"species\": [\"Adelie\", \"Gentoo\", \"Chinstrap\"]\n}\n",
    ),
];

#[tokio::main]
async fn main() -> Result<()> {
    let artifacts = Artifacts::from_env()?;
    let run_dir = std::env::current_dir()?.join(RUN_DIR);
    std::fs::create_dir_all(&run_dir)?;
    std::fs::write(run_dir.join("devstack.pid"), std::process::id().to_string())?;

    let options = SeaweedOptions {
        data_dir: run_dir.join("seaweedfs"),
        preferred_s3_port: Some(S3_PORT),
    };
    let seaweed = SeaweedFs::start(&artifacts.weed, &options).await?;
    add_demo_objects(&seaweed.admin()).await?;

    let identity = Identity::generate("quilt-mcp-dev")?;
    let jwks_server = JwksServer::start(jwks(&[&identity])).await?;
    let issuer = jwks_server.origin();
    let endpoint = seaweed.s3_endpoint.as_str().trim_end_matches('/');
    let mut flags: Vec<String> = [
        "--jwks-url",
        &jwks_server.jwks_url(),
        "--jwt-issuer",
        &issuer,
        "--s3-endpoint",
        endpoint,
    ]
    .map(String::from)
    .to_vec();
    flags.extend(ADMIN.static_source_flags());
    let listen = format!("127.0.0.1:{}", preferred_or_free(MCP_PORT));
    let launch = HostLaunch {
        env: &[],
        host_bin: &artifacts.host_bin,
        guest: &artifacts.guest,
        listen: &listen,
        args: &flags,
        echo_logs: true,
    };
    let host = HostProcess::start(launch).await?;

    let mut claims = standard_claims(&issuer, &host.mcp_url(), DEV_SUBJECT);
    claims["exp"] = json!(now_secs() + TOKEN_HOURS * 3600);
    let token = identity.sign(&claims);
    let s3_endpoint = seaweed.s3_endpoint.as_str().trim_end_matches('/');
    write_connection_file(&run_dir, &host.mcp_url(), &token, s3_endpoint)?;
    print_instructions(&host.mcp_url(), &token, s3_endpoint);

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    eprintln!("stopping the quilt-mcp dev stack");
    drop(host);
    drop(jwks_server);
    drop(seaweed);
    std::fs::remove_file(run_dir.join("devstack.pid")).ok();
    Ok(())
}

async fn add_demo_objects(admin: &S3Client) -> Result<()> {
    admin.create_bucket(DEMO_BUCKET).await?;
    for (key, content_type, body) in DEMO_OBJECTS {
        admin
            .put_object(DEMO_BUCKET, key, body)
            .content_type(content_type)
            .send()
            .await?;
    }
    Ok(())
}

fn write_connection_file(
    run_dir: &Path,
    mcp_url: &str,
    token: &str,
    s3_endpoint: &str,
) -> Result<()> {
    let connection = json!({
        "mcp_url": mcp_url,
        "tokens": [{"subject": DEV_SUBJECT, "token": token, "buckets": [DEMO_BUCKET]}],
        "demo_buckets": [DEMO_BUCKET],
        "s3_endpoint": s3_endpoint,
    });
    let path = run_dir.join("connection.json");
    std::fs::write(&path, serde_json::to_string_pretty(&connection)?)
        .with_context(|| format!("writing {}", path.display()))
}

fn print_instructions(mcp_url: &str, token: &str, s3_endpoint: &str) {
    let client_config = json!({"mcpServers": {"quilt": {
        "type": "http",
        "url": mcp_url,
        "headers": {"Authorization": format!("Bearer {token}")},
    }}});
    println!(
        "\nquilt-mcp dev stack is running\n\n\
         MCP URL:  {mcp_url}\n\
         Token for {DEV_SUBJECT} (valid {TOKEN_HOURS} h, may use bucket {DEMO_BUCKET}):\n{token}\n\n\
         S3 (SeaweedFS): {s3_endpoint}  demo bucket: {DEMO_BUCKET}\n\n\
         Client configuration (e.g. .mcp.json for Claude Code, or any `mcpServers` file):\n{}\n\n\
         Or: claude mcp add --transport http quilt {mcp_url} --header \"Authorization: Bearer {token}\"\n\n\
         The same details are in {RUN_DIR}/connection.json. Ctrl-C stops everything.\n",
        serde_json::to_string_pretty(&client_config).expect("JSON encodes"),
    );
}
