//! `rmcp-client URL BUCKET auto|legacy`, with the bearer token in `MCP_BEARER_TOKEN`: connects
//! with the official Rust SDK, lists the tools, lists BUCKET with `bucket_objects_list`, and
//! prints what it saw as one JSON line for tests/tests/e2e/clients.rs to check.

use anyhow::{Context, Result, bail};
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientLifecycleMode, ClientServiceExt};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [url, bucket, mode] = arguments.as_slice() else {
        bail!("usage: rmcp-client URL BUCKET auto|legacy (bearer token in MCP_BEARER_TOKEN)");
    };
    let token = std::env::var("MCP_BEARER_TOKEN").context("MCP_BEARER_TOKEN is not set")?;
    let lifecycle = match mode.as_str() {
        // Discover first, fall back to initialize: what an rmcp user gets by asking for both eras.
        "auto" => ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::LATEST],
            legacy_version: None,
        },
        "legacy" => ClientLifecycleMode::Initialize,
        other => bail!("mode {other:?} is neither auto nor legacy"),
    };

    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.as_str()).auth_header(token),
    );
    let config = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("quilt-mcp-tests-rmcp-client", env!("CARGO_PKG_VERSION")),
    );
    let client = config
        .serve_with_lifecycle(transport, lifecycle)
        .await
        .context("connecting")?;
    let protocol_version = client
        .peer_info()
        .context("connected without the server's info")?
        .protocol_version
        .clone();
    let tools = client.list_all_tools().await.context("tools/list")?;
    let listing = client
        .call_tool(
            CallToolRequestParams::new("bucket_objects_list").with_arguments(
                json!({"bucket": bucket})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .await
        .context("tools/call bucket_objects_list")?;
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    println!(
        "{}",
        json!({
            "protocol_version": protocol_version,
            "tools": names,
            "is_error": listing.is_error.unwrap_or(false),
            "content": listing.content,
            "listing": listing.structured_content,
        })
    );
    client.cancel().await.context("closing")?;
    Ok(())
}
