//! `make run`: a local quilt-mcp a real MCP client can use. Starts a development token
//! issuer (RSA key + JWKS server), SeaweedFS with STS trusting it (one role per user), the
//! Quilt registry stand-in (credentials, search, bucket list) and the host in `registry`
//! credentials mode; creates demo data and a demo package; prints the MCP URL, two users'
//! tokens and a client configuration, and writes them to `.run/connection.json`.
//! Ctrl-C stops everything it started.

use std::path::Path;

use anyhow::{Context, Result};
use quilt_mcp_tests::host_process::{HostLaunch, HostProcess};
use quilt_mcp_tests::identity::{now_secs, standard_claims};
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::ports::preferred_or_free;
use quilt_mcp_tests::s3::S3Client;
use quilt_mcp_tests::stack::{RoleAccess, Stack};
use quilt_mcp_tests::sts::BucketReader;
use serde_json::json;

const RUN_DIR: &str = ".run";
const DEMO_BUCKET: &str = "quilt-demo";
const DEMO_PACKAGE: &str = "demo/penguins";
const DEV_SUBJECT: &str = "developer@localhost";
/// A second user, with a bucket of their own and no access to the demo bucket.
const SECOND_SUBJECT: &str = "analyst@localhost";
const SECOND_BUCKET: &str = "quilt-sandbox";
/// One audience for the host, the registry and STS: each checks the same token.
const AUDIENCE: &str = "quilt-mcp-dev";
const TOKEN_HOURS: u64 = 8;
/// Well-known ports, used when free so the printed configuration stays the same.
const S3_PORT: u16 = 8333;
const MCP_PORT: u16 = 8080;
const REGISTRY_PORT: u16 = 8090;

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
    let run_dir = std::env::current_dir()?.join(RUN_DIR);
    std::fs::create_dir_all(&run_dir)?;
    std::fs::write(run_dir.join("devstack.pid"), std::process::id().to_string())?;

    let users = dev_users();
    let stack = Stack::builder("quilt-mcp-dev")
        .data_dir(run_dir.join("seaweedfs"))
        .preferred_s3_port(S3_PORT)
        .with_sts(
            AUDIENCE,
            users.iter().map(DevUser::role).collect(),
            RoleAccess::ReadWrite,
        )
        .with_registry_standin(Some(REGISTRY_PORT))
        .start()
        .await?;
    add_demo_objects(&stack.seaweed.admin()).await?;
    let issuer = stack.issuer();
    let registry_url = stack
        .registry_url()
        .context("the stack has a registry stand-in")?;
    let endpoint = stack.s3_endpoint();
    let mut flags = stack.auth_flags();
    flags.extend(
        [
            "--jwt-audience",
            AUDIENCE,
            "--s3-endpoint",
            &endpoint,
            "--credentials",
            "registry",
            "--registry-url",
            &registry_url,
        ]
        .map(String::from),
    );
    let listen = format!("127.0.0.1:{}", preferred_or_free(MCP_PORT));
    let launch = HostLaunch {
        env: &[],
        host_bin: &stack.artifacts.host_bin,
        guest: &stack.artifacts.guest,
        listen: &listen,
        args: &flags,
        echo_logs: true,
    };
    let host = HostProcess::start(launch).await?;

    let tokens: Vec<(&DevUser, String)> = users
        .iter()
        .map(|user| {
            let mut claims = standard_claims(&issuer, AUDIENCE, user.subject);
            claims["exp"] = json!(now_secs() + TOKEN_HOURS * 3600);
            (user, stack.identity.sign(&claims))
        })
        .collect();
    // The demo package is made through the server itself, as its first user.
    let first = McpClient::new(&host.mcp_url(), Some(tokens[0].1.clone()));
    add_demo_package(&first).await?;

    let connection = Connection {
        mcp_url: host.mcp_url(),
        registry_url,
        s3_endpoint: endpoint,
        tokens,
    };
    connection.write(&run_dir)?;
    connection.print();

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    eprintln!("stopping the quilt-mcp dev stack");
    drop(host);
    // The registry stand-in, the JWKS server, then SeaweedFS.
    drop(stack);
    std::fs::remove_file(run_dir.join("devstack.pid")).ok();
    Ok(())
}

/// A signed-in user of the dev stack, with a role that reads and writes one bucket.
struct DevUser {
    subject: &'static str,
    role_name: &'static str,
    bucket: &'static str,
}

impl DevUser {
    fn role(&self) -> BucketReader {
        BucketReader {
            role_name: self.role_name.into(),
            subject: self.subject.into(),
            bucket: self.bucket.into(),
        }
    }
}

fn dev_users() -> [DevUser; 2] {
    [
        DevUser {
            subject: DEV_SUBJECT,
            role_name: "QuiltDemoEditor",
            bucket: DEMO_BUCKET,
        },
        DevUser {
            subject: SECOND_SUBJECT,
            role_name: "QuiltSandboxEditor",
            bucket: SECOND_BUCKET,
        },
    ]
}

async fn add_demo_objects(admin: &S3Client) -> Result<()> {
    admin.create_bucket(DEMO_BUCKET).await?;
    admin.create_bucket(SECOND_BUCKET).await?;
    admin
        .put_object(
            SECOND_BUCKET,
            "notes/welcome.txt",
            "Only analyst@localhost can read this bucket.\n",
        )
        .content_type("text/plain")
        .send()
        .await?;
    for (key, content_type, body) in DEMO_OBJECTS {
        admin
            .put_object(DEMO_BUCKET, key, body)
            .content_type(content_type)
            .send()
            .await?;
    }
    Ok(())
}

async fn add_demo_package(client: &McpClient) -> Result<()> {
    let created = client
        .call_tool(
            "package_create",
            json!({
                "package_name": DEMO_PACKAGE,
                "registry": format!("s3://{DEMO_BUCKET}"),
                "s3_uris": [format!("s3://{DEMO_BUCKET}/data/")],
                "message": "Penguin measurements for trying out quilt-mcp",
                "metadata": {"source": "quilt-mcp dev stack"},
            }),
        )
        .await?;
    anyhow::ensure!(
        !created.is_error,
        "creating the demo package: {}",
        created.text
    );
    Ok(())
}

/// What a client needs to connect, written to `.run/connection.json` and printed.
struct Connection<'a> {
    mcp_url: String,
    registry_url: String,
    s3_endpoint: String,
    tokens: Vec<(&'a DevUser, String)>,
}

impl Connection<'_> {
    fn write(&self, run_dir: &Path) -> Result<()> {
        let tokens: Vec<_> = self
            .tokens
            .iter()
            .map(|(user, token)| {
                json!({"subject": user.subject, "token": token, "buckets": [user.bucket]})
            })
            .collect();
        let connection = json!({
            "mcp_url": self.mcp_url,
            "tokens": tokens,
            "demo_buckets": [DEMO_BUCKET, SECOND_BUCKET],
            "demo_package": DEMO_PACKAGE,
            "registry_url": self.registry_url,
            "s3_endpoint": self.s3_endpoint,
        });
        let path = run_dir.join("connection.json");
        std::fs::write(&path, serde_json::to_string_pretty(&connection)?)
            .with_context(|| format!("writing {}", path.display()))
    }

    fn print(&self) {
        let (first, token) = &self.tokens[0];
        let mcp_url = &self.mcp_url;
        let client_config = json!({"mcpServers": {"quilt": {
            "type": "http",
            "url": mcp_url,
            "headers": {"Authorization": format!("Bearer {token}")},
        }}});
        println!(
            "\nquilt-mcp dev stack is running\n\n\
             MCP URL:  {mcp_url}\n\
             Registry (search, bucket list, credentials): {}\n\
             S3 (SeaweedFS with STS): {}\n",
            self.registry_url, self.s3_endpoint
        );
        for (user, token) in &self.tokens {
            println!(
                "Token for {} (valid {TOKEN_HOURS} h, may read and write bucket {}):\n{token}\n",
                user.subject, user.bucket
            );
        }
        println!(
            "Demo package: {DEMO_PACKAGE} in s3://{DEMO_BUCKET} (try search_catalog \"penguins\").\n\n\
             Client configuration for {} (e.g. .mcp.json for Claude Code, or any `mcpServers` file):\n{}\n\n\
             Or: claude mcp add --transport http quilt {mcp_url} --header \"Authorization: Bearer {token}\"\n\n\
             The same details are in {RUN_DIR}/connection.json. Ctrl-C stops everything.\n",
            first.subject,
            serde_json::to_string_pretty(&client_config).expect("JSON encodes"),
        );
    }
}
