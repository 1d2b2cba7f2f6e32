//! How a request reaches the Quilt catalog: the caller's token handed to the guest as the
//! registry's bearer (unless the deployment turns that off), an `Authorization` header let out
//! of the sandbox toward the registry's origin only, the deployment's buckets, and AWS
//! credentials exchanged at the registry once per token. Stand-in registries here are counting
//! servers; the lead's tests exercise the real stand-in registry.

use anyhow::{Result, ensure};
use quilt_mcp_tests::jwks_server::JwksServer;
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::seaweedfs::ADMIN;
use serde_json::{Value, json};

use crate::support::{Guest, Scenario, args};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    bearer_is_forwarded_unless_turned_off,
    authorization_header_goes_only_to_the_registry,
    registry_credentials_are_exchanged_once_per_token,
];

/// Whatever a guest sends it: a header leaving the sandbox must never reach it.
const PROBE_AUTHORIZATION: &str = "Bearer not-a-real-token";

pub async fn bearer_is_forwarded_unless_turned_off(scenario: &Scenario<'_>) -> Result<()> {
    let registry = JwksServer::start(json!({})).await?;
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&[
        "--registry-url",
        &registry.origin(),
        "--bucket",
        "raw",
        "--bucket",
        "curated",
    ]);
    let host = scenario.start(spec).await?;
    let token = scenario.token(&host);
    let client = McpClient::new(&host.mcp_url(), Some(token.clone()));
    let catalog = client.request("catalog", json!({})).await?;
    ensure!(
        catalog["bearer"] == true && catalog["bearer_length"] == token.len(),
        "the caller's token was not forwarded for the registry: {catalog}"
    );
    ensure!(
        catalog["registry_url"]
            .as_str()
            .is_some_and(|url| url.starts_with(&registry.origin())),
        "{catalog}"
    );
    ensure!(catalog["buckets"] == json!(["raw", "curated"]), "{catalog}");

    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&[
        "--registry-url",
        &registry.origin(),
        "--registry-forward-token=false",
    ]);
    spec.env = vec![("QUILT_MCP_BUCKETS".into(), "raw,shared".into())];
    let host = scenario.start(spec).await?;
    let catalog = scenario.client(&host).request("catalog", json!({})).await?;
    ensure!(
        catalog["bearer"] == false,
        "a bearer was handed over with --registry-forward-token=false: {catalog}"
    );
    ensure!(catalog["buckets"] == json!(["raw", "shared"]), "{catalog}");
    ensure!(registry.hits() == 0, "nothing here calls the registry");
    Ok(())
}

pub async fn authorization_header_goes_only_to_the_registry(scenario: &Scenario<'_>) -> Result<()> {
    let registry = JwksServer::start(json!({})).await?;
    let other = JwksServer::start(json!({})).await?;
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&[
        "--registry-url",
        &registry.origin(),
        "--egress-allow",
        &other.origin(),
    ]);
    let host = scenario.start(spec).await?;
    let client = scenario.client(&host);
    let fetch = async |url: String, authorization: Option<&str>| {
        client
            .request("fetch", json!({"url": url, "authorization": authorization}))
            .await
    };
    let denied = |result: &Value| {
        result["error"]
            .as_str()
            .is_some_and(|error| error.contains("HttpRequestDenied"))
    };

    let s3 = scenario.stack.seaweed.s3_endpoint.to_string();
    for url in [format!("{}/anything", other.origin()), s3] {
        let result = fetch(url.clone(), Some(PROBE_AUTHORIZATION)).await?;
        ensure!(
            denied(&result),
            "an Authorization header left for {url}: {result}"
        );
    }
    ensure!(other.hits() == 0, "the refused request reached the server");
    host.wait_for_log("authorization header toward an origin other than the registry's")
        .await?;

    // The origin itself is allowed: it was the header that was refused.
    let plain = fetch(format!("{}/anything", other.origin()), None).await?;
    ensure!(plain["status"] == 200, "GET without the header: {plain}");
    ensure!(
        other.hits() == 1,
        "the allowed server saw {} requests",
        other.hits()
    );

    let to_registry = fetch(
        format!("{}/graphql", registry.origin()),
        Some(PROBE_AUTHORIZATION),
    )
    .await?;
    ensure!(
        to_registry["status"] == 200,
        "the registry did not get the header: {to_registry}"
    );
    ensure!(
        registry.hits() == 1,
        "the registry saw {} requests",
        registry.hits()
    );
    Ok(())
}

pub async fn registry_credentials_are_exchanged_once_per_token(
    scenario: &Scenario<'_>,
) -> Result<()> {
    let registry = JwksServer::start(json!({
        "AccessKeyId": ADMIN.access_key_id,
        "SecretAccessKey": ADMIN.secret_access_key,
        "SessionToken": "session",
        "Expiration": "2099-01-01T00:00:00Z",
    }))
    .await?;
    let mut spec = scenario.spec(Guest::Hostile);
    spec.credentials = args(&["--credentials", "registry"]);
    spec.extra = args(&["--registry-url", &registry.origin()]);
    let host = scenario.start(spec).await?;

    let client = scenario.client(&host);
    for _ in 0..2 {
        let result = client.request("whoami", json!({})).await?;
        ensure!(result["access_key_id"] == ADMIN.access_key_id, "{result}");
    }
    ensure!(
        registry.hits() == 1,
        "one token, {} registry exchanges",
        registry.hits()
    );

    let mut claims = scenario.claims(&host);
    claims["sub"] = json!("bob@example.com");
    let bob = McpClient::new(&host.mcp_url(), Some(scenario.stack.identity.sign(&claims)));
    bob.request("whoami", json!({})).await?;
    ensure!(
        registry.hits() == 2,
        "another token is another exchange ({} exchanges)",
        registry.hits()
    );
    Ok(())
}
