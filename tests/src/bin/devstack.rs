//! `make run`: a local quilt-mcp that a real MCP client connects to and signs in through.
//! Starts a local OpenID provider (`tests/idp`, oidc-provider) as the organization's IdP with
//! two users and a login form; SeaweedFS with STS trusting it (one role per user); the Quilt
//! registry stand-in trusting it (credentials, search, bucket list); and the host with its
//! sign-in bridge on, in `registry` credentials mode. Then it signs both users in through the
//! bridge, as a person would, for tokens scripts can use; creates demo data and a demo package
//! as the first user; prints the MCP URL, the logins, the tokens and client configurations, and
//! writes them to `.run/connection.json`. Ctrl-C stops everything it started.

use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use quilt_mcp_tests::athena::csv_table;
use quilt_mcp_tests::bridge_sign_in::{self, OAuthClient};
use quilt_mcp_tests::host_process::{HostLaunch, HostProcess};
use quilt_mcp_tests::local_idp::{IdpClient, IdpTtl, IdpUser, LocalIdp, LocalIdpConfig};
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::ports::preferred_or_free;
use quilt_mcp_tests::registry::TabulatorTable;
use quilt_mcp_tests::s3::S3Client;
use quilt_mcp_tests::stack::{RoleAccess, SQL_RESULTS, SqlTables, Stack, TABULATOR_CATALOG};
use quilt_mcp_tests::sts::BucketReader;
use rand::RngCore as _;
use serde_json::{Value, json};

const RUN_DIR: &str = ".run";
const DEMO_BUCKET: &str = "quilt-demo";
const DEMO_PACKAGE: &str = "demo/penguins";
/// A second user, with a bucket of their own and no access to the demo bucket.
const SECOND_BUCKET: &str = "quilt-sandbox";
/// The bridge's client id at the IdP. It is the `aud` of the IdP's ID tokens, and the IdP
/// issues its access tokens for the same audience, so STS (which gets the ID token) and the
/// registry stand-in (which gets the access token) both trust this one audience.
const IDP_CLIENT_ID: &str = "quilt-mcp-dev";
/// How long the IdP's tokens, and so the bridge's access tokens, last: a working day.
const TOKEN_SECS: u64 = 8 * 3600;
/// Where the scripts' OAuth client wants its code (nothing listens: the dev stack reads the
/// redirect itself).
const SCRIPT_REDIRECT: &str = "http://127.0.0.1:9/callback";
/// Well-known ports, used when free so the printed configuration stays the same.
const S3_PORT: u16 = 8333;
const MCP_PORT: u16 = 8080;
const REGISTRY_PORT: u16 = 8090;
const IDP_PORT: u16 = 8070;

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
    // The host's public URL must be known before the IdP starts: its callback is registered there.
    let listen = format!("127.0.0.1:{}", preferred_or_free(MCP_PORT));
    let public_url = format!("http://{listen}");
    let idp_secret = URL_SAFE_NO_PAD.encode(random_bytes());
    let idp = LocalIdp::start(&LocalIdpConfig {
        port: preferred_or_free(IDP_PORT),
        issuer_host: None,
        clients: vec![IdpClient {
            client_id: IDP_CLIENT_ID.into(),
            client_secret: idp_secret.clone(),
            redirect_uris: vec![format!("{public_url}/oauth/callback")],
        }],
        users: users.iter().map(DevUser::idp_user).collect(),
        access_token_audience: IDP_CLIENT_ID.into(),
        ttl: Some(IdpTtl {
            access_token: Some(TOKEN_SECS),
            id_token: Some(TOKEN_SECS),
            ..IdpTtl::default()
        }),
        jwks: None,
    })
    .await?;
    let stack = Stack::builder("quilt-mcp-dev")
        .data_dir(run_dir.join("seaweedfs"))
        .preferred_s3_port(S3_PORT)
        .trusting_issuer(&idp.issuer(), &idp.jwks_url())
        .with_sts(
            IDP_CLIENT_ID,
            users.iter().map(DevUser::role).collect(),
            RoleAccess::ReadWrite,
        )
        .with_registry_standin(Some(REGISTRY_PORT))
        .with_sql(demo_tables())
        .start()
        .await?;
    let sql_endpoint = stack
        .athena
        .as_ref()
        .context("the stack has an Athena stand-in")?
        .url()
        .to_owned();
    add_demo_objects(&stack.seaweed.admin()).await?;
    let registry_url = stack
        .registry_url()
        .context("the stack has a registry stand-in")?;
    let endpoint = stack.s3_endpoint();
    let flags: Vec<String> = [
        "--public-url",
        &public_url,
        "--oauth-upstream-issuer",
        &idp.issuer(),
        "--oauth-upstream-client-id",
        IDP_CLIENT_ID,
        "--oauth-allow-loopback-clients",
        "--oauth-access-token-secs",
        &TOKEN_SECS.to_string(),
        "--s3-endpoint",
        &endpoint,
        "--credentials",
        "registry",
        "--registry-url",
        &registry_url,
        "--athena-endpoint",
        &sql_endpoint,
        "--glue-endpoint",
        &sql_endpoint,
        "--athena-output-location",
        SQL_RESULTS,
        "--tabulator-catalog",
        TABULATOR_CATALOG,
    ]
    .map(String::from)
    .to_vec();
    // The secrets go by environment, which the process list does not show. A fresh key each
    // run: tokens, refresh tokens and client registrations of an earlier run do not open.
    let secrets = [
        (
            "QUILT_MCP_OAUTH_UPSTREAM_CLIENT_SECRET".to_owned(),
            idp_secret,
        ),
        (
            "QUILT_MCP_OAUTH_KEYS".to_owned(),
            STANDARD.encode(random_bytes()),
        ),
    ];
    let launch = HostLaunch {
        env: &secrets,
        host_bin: &stack.artifacts.host_bin,
        guest: &stack.artifacts.guest,
        listen: &listen,
        args: &flags,
        echo_logs: true,
    };
    let host = HostProcess::start(launch).await?;
    let resource = host.mcp_url();

    // Tokens for scripts: each user signs in through the bridge as a person would (consent,
    // the IdP's login form), for a client registered like any other (DCR).
    let client = bridge_sign_in::register(&public_url, SCRIPT_REDIRECT, "quilt-mcp dev stack")
        .await
        .context("registering the scripts' client with the sign-in bridge")?;
    let mut signed_in = Vec::new();
    for user in &users {
        let answer =
            bridge_sign_in::sign_in(&public_url, &resource, &client, user.login, user.password)
                .await
                .with_context(|| format!("signing {} in through the bridge", user.login))?;
        signed_in.push(SignedIn::from_answer(user, &answer)?);
    }
    // And a token that may only read, for the first user: the limits can be tried at once.
    let read_only = bridge_sign_in::sign_in_with(
        &public_url,
        &resource,
        &client,
        (users[0].login, users[0].password),
        &[("scope", "quilt:read")],
    )
    .await
    .context("signing the first user in with only quilt:read")?;
    let read_only = SignedIn::from_answer(&users[0], &read_only)?;
    // The demo package is made through the server itself, as its first user.
    let first = McpClient::new(&resource, Some(signed_in[0].token.clone()));
    add_demo_package(&first).await?;

    let connection = Connection {
        mcp_url: resource,
        authorization_server: public_url,
        identity_provider: idp.issuer(),
        registry_url,
        s3_endpoint: endpoint,
        sql_endpoint,
        client,
        users: signed_in,
        read_only,
    };
    connection.write(&run_dir)?;
    connection.print();

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    eprintln!("stopping the quilt-mcp dev stack");
    drop(host);
    // The registry stand-in, the JWKS server, SeaweedFS, then the IdP.
    drop(stack);
    drop(idp);
    std::fs::remove_file(run_dir.join("devstack.pid")).ok();
    Ok(())
}

fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

/// A user of the dev stack: a login at the IdP, and a role that reads and writes one bucket.
struct DevUser {
    login: &'static str,
    password: &'static str,
    /// The IdP's `sub` (and email), which STS and the registry stand-in map to the role.
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

    fn idp_user(&self) -> IdpUser {
        IdpUser {
            login: self.login.into(),
            password: self.password.into(),
            sub: self.subject.into(),
            email: self.subject.into(),
            name: self.login.into(),
            groups: None,
        }
    }
}

/// Fixed development passwords: the IdP runs on loopback only and holds nothing else.
fn dev_users() -> [DevUser; 2] {
    [
        DevUser {
            login: "developer",
            password: "quilt-developer",
            subject: "developer@localhost",
            role_name: "QuiltDemoEditor",
            bucket: DEMO_BUCKET,
        },
        DevUser {
            login: "analyst",
            password: "quilt-analyst",
            subject: "analyst@localhost",
            role_name: "QuiltSandboxEditor",
            bucket: SECOND_BUCKET,
        },
    ]
}

/// A user signed in through the bridge.
struct SignedIn<'a> {
    user: &'a DevUser,
    token: String,
    /// The scopes granted, space-separated.
    scopes: String,
    expires_in: u64,
}

impl<'a> SignedIn<'a> {
    fn from_answer(user: &'a DevUser, answer: &Value) -> Result<Self> {
        Ok(Self {
            user,
            token: answer["access_token"]
                .as_str()
                .with_context(|| format!("no access_token in {answer}"))?
                .to_owned(),
            scopes: answer["scope"].as_str().unwrap_or_default().to_owned(),
            expires_in: answer["expires_in"].as_u64().unwrap_or_default(),
        })
    }
}

const DEMO_DATABASE: &str = "demo";
const DEMO_TABLE: &str = "penguins";
const DEMO_TABULATOR_TABLE: &str = "penguin_files";
/// The columns of `data/penguins.csv`, in Hive's types (Glue) and Tabulator's.
const PENGUIN_COLUMNS: [(&str, &str, &str); 4] = [
    ("species", "string", "STRING"),
    ("island", "string", "STRING"),
    ("bill_length_mm", "double", "DOUBLE"),
    ("body_mass_g", "bigint", "BIGINT"),
];

/// A Glue table over the demo bucket's CSV files, and a Tabulator table over the CSV files of
/// its `demo/*` packages.
fn demo_tables() -> SqlTables {
    let columns: Vec<(&str, &str)> = PENGUIN_COLUMNS
        .iter()
        .map(|(n, hive, _)| (*n, *hive))
        .collect();
    let mut table = csv_table(&format!("s3://{DEMO_BUCKET}/data/"), &columns);
    table["file_extension"] = json!(".csv");
    let schema: String = PENGUIN_COLUMNS
        .iter()
        .map(|(name, _, kind)| format!("- name: {name}\n  type: {kind}\n"))
        .collect();
    let config = format!(
        "schema:\n{schema}source:\n  type: quilt-packages\n  package_name: ^demo/(?<dataset>[^/]+)$\n  logical_key: (?<file>[^/]+)\\.csv$\nparser:\n  format: csv\n  header: true\n"
    );
    SqlTables {
        databases: json!({DEMO_DATABASE: {
            "description": "The dev stack's demo data",
            "tables": {DEMO_TABLE: table},
        }}),
        tabulator: vec![TabulatorTable {
            bucket: DEMO_BUCKET.into(),
            name: DEMO_TABULATOR_TABLE.into(),
            config,
        }],
    }
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

/// What a client or a script needs to connect, written to `.run/connection.json` and printed.
struct Connection<'a> {
    mcp_url: String,
    /// The sign-in bridge's issuer (this server's public URL).
    authorization_server: String,
    /// The local IdP's issuer.
    identity_provider: String,
    registry_url: String,
    s3_endpoint: String,
    /// The Athena + Glue stand-in.
    sql_endpoint: String,
    /// The client the dev stack registered to sign the users in.
    client: OAuthClient,
    users: Vec<SignedIn<'a>>,
    /// The first user again, with only `quilt:read`.
    read_only: SignedIn<'a>,
}

impl Connection<'_> {
    fn write(&self, run_dir: &Path) -> Result<()> {
        let entry = |signed_in: &SignedIn<'_>| {
            let user = signed_in.user;
            json!({
                "login": user.login,
                "password": user.password,
                "subject": user.subject,
                "buckets": [user.bucket],
                "scopes": signed_in.scopes,
                "token": signed_in.token,
            })
        };
        let users: Vec<_> = self.users.iter().map(entry).collect();
        let connection = json!({
            "mcp_url": self.mcp_url,
            "authorization_server": self.authorization_server,
            "identity_provider": self.identity_provider,
            // Per user: the login and password the IdP's form accepts, and a ready token.
            "users": users,
            // The same entries under the name earlier scripts read.
            "tokens": users,
            // Tokens that may only read: tools/list shows no writer, and a writer is refused.
            "read_only_tokens": [entry(&self.read_only)],
            "oauth_client": {
                "client_id": self.client.client_id,
                "redirect_uri": self.client.redirect_uri,
            },
            "demo_buckets": [DEMO_BUCKET, SECOND_BUCKET],
            "demo_package": DEMO_PACKAGE,
            "registry_url": self.registry_url,
            "s3_endpoint": self.s3_endpoint,
            // The first SQL questions work at once: a Glue table over the demo data, a
            // Tabulator table over the demo package's CSV files.
            "sql": {
                "athena_endpoint": self.sql_endpoint,
                "glue_endpoint": self.sql_endpoint,
                "workgroup": "primary",
                "output_location": SQL_RESULTS,
                "data_catalog": "AwsDataCatalog",
                "database": DEMO_DATABASE,
                "tables": [DEMO_TABLE],
                "tabulator_catalog": TABULATOR_CATALOG,
                "tabulator_tables": [{"bucket": DEMO_BUCKET, "table": DEMO_TABULATOR_TABLE}],
            },
        });
        let path = run_dir.join("connection.json");
        std::fs::write(&path, serde_json::to_string_pretty(&connection)?)
            .with_context(|| format!("writing {}", path.display()))
    }

    fn print(&self) {
        let mcp_url = &self.mcp_url;
        println!(
            "\nquilt-mcp dev stack is running\n\n\
             MCP URL:  {mcp_url}\n\
             Sign-in (the server's own authorization server): {}\n\
             Identity provider (local OpenID provider): {}\n\
             Registry (search, bucket list, credentials): {}\n\
             S3 (SeaweedFS with STS): {}\n\
             Athena and Glue (DataFusion stand-in): {}\n\n\
             Connect a client to the MCP URL and sign in when it opens the browser, e.g.\n  \
             claude mcp add --transport http quilt {mcp_url}\n\
             then /mcp in Claude Code to log in. Logins:",
            self.authorization_server,
            self.identity_provider,
            self.registry_url,
            self.s3_endpoint,
            self.sql_endpoint
        );
        for SignedIn { user, .. } in &self.users {
            println!(
                "  {:<10} password {:<16} ({}: reads and writes bucket {})",
                user.login, user.password, user.subject, user.bucket
            );
        }
        println!(
            "\nFor scripts, tokens the server issued to each user (sent as a bearer header):\n"
        );
        for signed_in in self.users.iter().chain([&self.read_only]) {
            println!(
                "Token for {} with scopes {} (valid {} h):\n{}\n",
                signed_in.user.subject,
                signed_in.scopes,
                (signed_in.expires_in + 1800) / 3600,
                signed_in.token
            );
        }
        let first = &self.users[0];
        let script_config = json!({"mcpServers": {"quilt": {
            "type": "http",
            "url": mcp_url,
            "headers": {"Authorization": format!("Bearer {}", first.token)},
        }}});
        println!(
            "Demo package: {DEMO_PACKAGE} in s3://{DEMO_BUCKET} (try search_catalog \"penguins\").\n\
             SQL: table {DEMO_DATABASE}.{DEMO_TABLE} (try athena_query_execute \"SELECT species, avg(body_mass_g) FROM {DEMO_TABLE} GROUP BY species\" \
             with database_name {DEMO_DATABASE}), and Tabulator table {DEMO_TABULATOR_TABLE} of {DEMO_BUCKET} (tabulator_bucket_query).\n\n\
             A configuration with a fixed token for {} (scripts, or a client that cannot sign in):\n{}\n\n\
             The same details are in {RUN_DIR}/connection.json. Ctrl-C stops everything.\n",
            first.user.subject,
            serde_json::to_string_pretty(&script_config).expect("JSON encodes"),
        );
    }
}
