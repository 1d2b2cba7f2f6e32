//! The server as an OAuth 2.1 resource server, seen as a client discovers it: a refused
//! request's challenge names the metadata document, and that document names this server
//! and where to get a token for it. (The official conformance suite has no scenario for
//! this side of authorization; e2e/auth.rs covers each way a token is refused.)

use anyhow::{Context, Result, ensure};
use quilt_mcp_tests::mcp::{McpClient, Reply};
use serde_json::{Value, json};

use crate::support::{Guest, Scenario};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![challenges_lead_to_the_metadata,];

pub async fn challenges_lead_to_the_metadata(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let mut expired = scenario.claims(&host);
    expired["exp"] = json!(quilt_mcp_tests::identity::now_secs() - 3600);
    for (case, bearer, error) in [
        ("no token", None, None),
        (
            "expired token",
            Some(scenario.stack.identity.sign(&expired)),
            Some("invalid_token"),
        ),
    ] {
        // The same refusal in either era: authorization happens before any MCP is read.
        for reply in [
            McpClient::new(&host.mcp_url(), bearer.clone())
                .send("tools/list", json!({}))
                .await?,
            modern_discover(&McpClient::new(&host.mcp_url(), bearer.clone())).await?,
        ] {
            ensure!(
                reply.status == 401,
                "{case}: HTTP {} {}",
                reply.status,
                reply.text()
            );
            let challenge = reply.header("www-authenticate").unwrap_or_default();
            ensure!(challenge.starts_with("Bearer "), "{case}: {challenge:?}");
            // RFC 6750 §3.1: no error code when the request carried no token at all.
            ensure!(
                parameter(challenge, "error").as_deref() == error,
                "{case}: error in {challenge:?}"
            );
            let metadata_url = parameter(challenge, "resource_metadata")
                .with_context(|| format!("{case}: no resource_metadata in {challenge:?}"))?;
            let response = reqwest::get(&metadata_url).await?;
            ensure!(
                response.status() == 200,
                "{case}: {metadata_url}: HTTP {}",
                response.status()
            );
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            ensure!(
                content_type.starts_with("application/json"),
                "{case}: {content_type:?}"
            );
            let document: Value = response.json().await?;
            ensure!(
                document["resource"] == host.mcp_url().as_str(),
                "{case}: {document}"
            );
            ensure!(
                document["authorization_servers"]
                    .as_array()
                    .is_some_and(|servers| !servers.is_empty()),
                "{case}: {document}"
            );
        }
    }
    Ok(())
}

/// A 2026-07-28 `server/discover`, headers and `_meta` as a modern client sends them.
async fn modern_discover(client: &McpClient) -> Result<Reply> {
    let message = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }}});
    client
        .post_raw(
            message.to_string(),
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "server/discover"),
            ],
        )
        .await
}

/// The value of `name="value"` in a `WWW-Authenticate` challenge.
fn parameter(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let length = challenge[start..].find('"')?;
    Some(challenge[start..start + length].to_owned())
}
