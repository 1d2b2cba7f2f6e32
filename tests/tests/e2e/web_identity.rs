//! `--credentials web-identity`: each caller's own token exchanged at SeaweedFS's STS for the
//! keys of their role, checked through the MCP tools; refused tokens never reach STS; STS down
//! is a precise tool error.

use anyhow::{Context, Result, ensure};
use quilt_mcp_tests::host_process::{HostLaunch, HostProcess};
use quilt_mcp_tests::identity::{now_secs, standard_claims};
use quilt_mcp_tests::jwks_server::JwksServer;
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::ports::ClosedPort;
use quilt_mcp_tests::sts::{BucketReader, WebIdentityTrust, role_arn};
use serde_json::{Value, json};

use crate::support::{Guest, HostSpec, Scenario, args};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    each_caller_reaches_only_their_bucket,
    refused_tokens_never_reach_sts,
    sts_down_is_a_precise_tool_error,
];

/// The audience both the host and SeaweedFS's OIDC provider (its `clientId`) accept.
const AUDIENCE: &str = "quilt-mcp-web-identity-e2e";
const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const BOB_GROUP: &str = "beta-readers";
const OBJECT_KEY: &str = "hello.txt";

/// Host flags: tokens for [`AUDIENCE`], credentials from STS at `sts_endpoint`; a token's
/// `role_arn` claim names its role, else `groups` containing [`BOB_GROUP`] maps to ReaderB.
fn web_identity_flags(scenario: &Scenario<'_>, sts_endpoint: &str) -> (Vec<String>, Vec<String>) {
    let auth = args(&[
        "--jwks-url",
        &scenario.stack.jwks.jwks_url(),
        "--jwt-issuer",
        &scenario.stack.issuer(),
        "--jwt-audience",
        AUDIENCE,
    ]);
    let credentials = args(&[
        "--credentials",
        "web-identity",
        "--sts-endpoint",
        sts_endpoint,
        "--role-arn-claim",
        "role_arn",
        "--role-map",
        &format!("groups={BOB_GROUP}={}", role_arn("ReaderB")),
    ]);
    (auth, credentials)
}

/// A client whose token for `subject` carries `extra` claims.
fn client(scenario: &Scenario<'_>, host: &HostProcess, subject: &str, extra: Value) -> McpClient {
    let mut claims = standard_claims(&scenario.stack.issuer(), AUDIENCE, subject);
    for (name, value) in extra.as_object().into_iter().flatten() {
        claims[name] = value.clone();
    }
    McpClient::new(&host.mcp_url(), Some(scenario.stack.identity.sign(&claims)))
}

/// A host in web-identity mode at the shared SeaweedFS (whose STS knows no roles).
async fn host_with_sts_at(scenario: &Scenario<'_>, sts_endpoint: &str) -> Result<HostProcess> {
    let (auth, credentials) = web_identity_flags(scenario, sts_endpoint);
    let spec = HostSpec {
        auth,
        credentials,
        ..scenario.spec(Guest::Tools)
    };
    scenario.start(spec).await
}

pub async fn each_caller_reaches_only_their_bucket(scenario: &Scenario<'_>) -> Result<()> {
    let (bucket_a, bucket_b) = ("web-identity-alpha", "web-identity-beta");
    let trust = WebIdentityTrust {
        issuer: scenario.stack.issuer(),
        audience: AUDIENCE.into(),
        jwks_url: scenario.stack.jwks.jwks_url(),
        readers: vec![
            BucketReader {
                role_name: "ReaderA".into(),
                subject: ALICE.into(),
                bucket: bucket_a.into(),
            },
            BucketReader {
                role_name: "ReaderB".into(),
                subject: BOB.into(),
                bucket: bucket_b.into(),
            },
        ],
    };
    // Its own SeaweedFS: STS must know the shared issuer's JWKS when it starts.
    let seaweed = scenario.own_seaweed(&trust.iam_config()).await?;
    let endpoint = seaweed
        .s3_endpoint
        .as_str()
        .trim_end_matches('/')
        .to_string();
    for bucket in [bucket_a, bucket_b] {
        seaweed.admin().create_bucket(bucket).await?;
        seaweed
            .admin()
            .put_object(bucket, OBJECT_KEY, format!("only for readers of {bucket}"))
            .send()
            .await?;
    }

    let (auth, credentials) = web_identity_flags(scenario, &endpoint);
    let mut flags = args(&["--s3-endpoint", &endpoint]);
    flags.extend(auth);
    flags.extend(credentials);
    let host = HostProcess::start(HostLaunch {
        env: &[],
        host_bin: &scenario.stack.artifacts.host_bin,
        guest: &scenario.stack.artifacts.guest,
        listen: "127.0.0.1:0",
        args: &flags,
        echo_logs: false,
    })
    .await?;
    let log = host.log();

    let alice = client(
        scenario,
        &host,
        ALICE,
        json!({"role_arn": role_arn("ReaderA")}),
    );
    let bob = client(
        scenario,
        &host,
        BOB,
        json!({"groups": ["staff", BOB_GROUP]}),
    );
    let checks = async {
        reads_own_bucket_only(&alice, ALICE, bucket_a, bucket_b).await?;
        reads_own_bucket_only(&bob, BOB, bucket_b, bucket_a).await?;

        let status = alice.call_tool("auth_status", json!({})).await?.success()?;
        let keys = &status["credentials"];
        ensure!(keys["source"] == "web-identity", "{status}");
        ensure!(
            keys["temporary"] == true && keys["expiration"].is_string(),
            "{status}"
        );

        let roleless = client(
            scenario,
            &host,
            "carol@example.com",
            json!({"groups": ["staff"]}),
        );
        let why = roleless
            .call_tool("bucket_objects_list", json!({"bucket": bucket_a}))
            .await?
            .failure()?;
        ensure!(
            why.contains("No AWS role is configured for carol@example.com")
                && why.contains("`role_arn`")
                && why.contains("`groups`"),
            "a caller without a role: {why}"
        );

        let claims_foreign_role = client(
            scenario,
            &host,
            ALICE,
            json!({"role_arn": role_arn("ReaderB")}),
        );
        let why = claims_foreign_role
            .call_tool("bucket_objects_list", json!({"bucket": bucket_b}))
            .await?
            .failure()?;
        ensure!(
            why.contains(&format!(
                "STS at {endpoint} refused role {} for {ALICE}",
                role_arn("ReaderB")
            )),
            "a role whose trust policy excludes the caller: {why}"
        );
        // Alice's and Bob's tokens served five calls each: one exchange per token, then the cache.
        let exchanges = log.text().matches("assumed role with web identity").count();
        ensure!(exchanges == 2, "{exchanges} STS exchanges for two tokens");
        Ok::<_, anyhow::Error>(())
    };
    checks
        .await
        .with_context(|| format!("--- host log ---\n{}", log.text()))
}

async fn reads_own_bucket_only(
    client: &McpClient,
    subject: &str,
    own: &str,
    other: &str,
) -> Result<()> {
    let listing = client
        .call_tool("bucket_objects_list", json!({"bucket": own}))
        .await?
        .success()?;
    ensure!(
        listing.to_string().contains(OBJECT_KEY),
        "{subject} listing {own}: {listing}"
    );
    let text = client
        .call_tool(
            "bucket_object_text",
            json!({"s3_uri": format!("s3://{own}/{OBJECT_KEY}")}),
        )
        .await?
        .success()?;
    ensure!(
        text.to_string()
            .contains(&format!("only for readers of {own}")),
        "{subject} reading {own}: {text}"
    );

    let denials = [
        client
            .call_tool("bucket_objects_list", json!({"bucket": other}))
            .await?
            .failure()?,
        client
            .call_tool(
                "bucket_object_text",
                json!({"s3_uri": format!("s3://{other}/{OBJECT_KEY}")}),
            )
            .await?
            .failure()?,
    ];
    for message in denials {
        ensure!(
            message.contains("Access denied")
                && message.contains(subject)
                && message.contains("web-identity"),
            "{subject} reaching {other}: {message}"
        );
    }
    Ok(())
}

pub async fn refused_tokens_never_reach_sts(scenario: &Scenario<'_>) -> Result<()> {
    // Counts every request; answers JSON, which no STS client takes for credentials.
    let counting_sts = JwksServer::start(json!({})).await?;
    let host = host_with_sts_at(scenario, &counting_sts.origin()).await?;
    let role = json!(role_arn("ReaderA"));

    let mut expired = standard_claims(&scenario.stack.issuer(), AUDIENCE, ALICE);
    expired["exp"] = json!(now_secs() - 3600);
    expired["role_arn"] = role.clone();
    let mut foreign = standard_claims("https://issuer.invalid", AUDIENCE, ALICE);
    foreign["role_arn"] = role;
    for (kind, claims) in [("expired", expired), ("foreign-issuer", foreign)] {
        let refused = McpClient::new(&host.mcp_url(), Some(scenario.stack.identity.sign(&claims)));
        let reply = refused
            .send(
                "tools/call",
                json!({"name": "bucket_objects_list", "arguments": {"bucket": "any"}}),
            )
            .await?;
        ensure!(
            reply.status == 401,
            "{kind} token: HTTP {}: {}",
            reply.status,
            reply.text()
        );
    }
    ensure!(counting_sts.hits() == 0, "a refused token reached STS");

    let valid = client(
        scenario,
        &host,
        ALICE,
        json!({"role_arn": role_arn("ReaderA")}),
    );
    valid
        .call_tool("bucket_objects_list", json!({"bucket": "any"}))
        .await?
        .failure()?;
    ensure!(
        counting_sts.hits() > 0,
        "a valid token never reached STS: the count proves nothing"
    );
    Ok(())
}

pub async fn sts_down_is_a_precise_tool_error(scenario: &Scenario<'_>) -> Result<()> {
    let closed_port = ClosedPort::bind()?;
    let closed = closed_port.origin();
    let host = host_with_sts_at(scenario, &closed).await?;
    let alice = client(
        scenario,
        &host,
        ALICE,
        json!({"role_arn": role_arn("ReaderA")}),
    );
    for _ in 0..2 {
        let why = alice
            .call_tool("bucket_objects_list", json!({"bucket": "any"}))
            .await?
            .failure()?;
        ensure!(
            why.contains(&format!("STS at {closed} is unreachable")),
            "{why}"
        );
    }
    let status = alice.call_tool("auth_status", json!({})).await?.success()?;
    ensure!(
        status["credentials"]["error"]
            .as_str()
            .is_some_and(|error| error.contains("is unreachable")),
        "{status}"
    );
    let health = reqwest::get(format!("{}/healthz", host.base_url())).await?;
    ensure!(health.status().is_success(), "the host stopped serving");
    Ok(())
}
