//! MCP over Streamable HTTP against the real tools guest: version negotiation,
//! notifications, ping, tool discovery, JSON-RPC errors, statelessness, and the
//! 2026-07-28 era (headers mirrored from the body, `server/discover`, cache hints)
//! served beside the legacy eras on the same endpoint.

use anyhow::{Result, ensure};
use quilt_mcp_tests::mcp::{McpClient, PROTOCOL_VERSION, Reply};
use serde_json::{Value, json};

use crate::support::{Guest, Scenario};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    initialize_negotiates_the_version,
    notifications_are_accepted_without_a_body,
    ping,
    tools_list_describes_every_tool,
    tools_call_needs_no_initialize,
    unknown_methods,
    malformed_messages,
    unsupported_protocol_version_header,
    never_a_session,
    modern_era_discover_list_and_call,
    modern_era_refusals,
    eras_are_chosen_per_request,
    accept_header,
];

const TOOLS: [&str; 18] = [
    "auth_status",
    "bucket_objects_list",
    "bucket_object_info",
    "bucket_object_text",
    "bucket_object_fetch",
    "bucket_object_link",
    "bucket_objects_put",
    "packages_list",
    "package_browse",
    "package_diff",
    "package_create",
    "package_update",
    "package_validate",
    "package_delete",
    "catalog_uri",
    "catalog_url",
    "search_catalog",
    "bucket_list",
];

/// Every version served, newest first, as `server/discover` and version errors list them.
const SUPPORTED: [&str; 4] = ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"];
const MODERN: &str = "2026-07-28";

fn initialize_params(version: &str) -> Value {
    json!({
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": {"name": "quilt-mcp-e2e", "version": "0"},
    })
}

pub async fn initialize_negotiates_the_version(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    for (asked, answered) in [
        ("2025-11-25", "2025-11-25"),
        ("2025-06-18", "2025-06-18"),
        ("2025-03-26", "2025-03-26"),
        ("2024-11-05", PROTOCOL_VERSION),
        ("2099-01-01", PROTOCOL_VERSION),
    ] {
        let result = client
            .request("initialize", initialize_params(asked))
            .await?;
        ensure!(
            result["protocolVersion"] == answered,
            "asked {asked}: {result}"
        );
        ensure!(result["serverInfo"]["name"] == "quilt-mcp", "{result}");
        ensure!(result["capabilities"]["tools"].is_object(), "{result}");
    }
    Ok(())
}

pub async fn notifications_are_accepted_without_a_body(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    for message in [
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}}),
        // A response to a server request is accepted the same way.
        json!({"jsonrpc": "2.0", "id": 5, "result": {}}),
    ] {
        let reply = client.post_raw(message.to_string(), &[]).await?;
        ensure!(
            reply.status == 202,
            "{message}: HTTP {} {}",
            reply.status,
            reply.text()
        );
        ensure!(reply.body.is_empty(), "{message}: body {}", reply.text());
    }
    Ok(())
}

pub async fn ping(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let result = scenario.client(&host).request("ping", json!({})).await?;
    ensure!(result == json!({}), "{result}");
    Ok(())
}

pub async fn tools_list_describes_every_tool(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let result = scenario
        .client(&host)
        .request("tools/list", json!({}))
        .await?;
    let tools = result["tools"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = tools
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    for expected in TOOLS {
        ensure!(
            names.contains(&expected),
            "tools/list lacks {expected}: {names:?}"
        );
    }
    for tool in &tools {
        let name = tool["name"].as_str().unwrap_or_default();
        ensure!(
            tool["description"]
                .as_str()
                .is_some_and(|text| !text.is_empty()),
            "{name}: no description"
        );
        ensure!(tool["title"].is_string(), "{name}: no title");
        let schema = &tool["inputSchema"];
        ensure!(schema["type"] == "object", "{name}: inputSchema {schema}");
        for (property, definition) in schema["properties"].as_object().into_iter().flatten() {
            ensure!(
                definition["description"].is_string(),
                "{name}.{property} has no description: {definition}"
            );
        }
        let annotations = &tool["annotations"];
        for hint in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            ensure!(
                annotations[hint].is_boolean(),
                "{name}: annotation {hint} missing: {annotations}"
            );
        }
        let deletes = name == "package_delete";
        let writes =
            deletes || ["bucket_objects_put", "package_create", "package_update"].contains(&name);
        ensure!(
            annotations["readOnlyHint"] == !writes,
            "{name}: readOnlyHint {annotations}"
        );
        // A put replaces whatever object was at its key.
        let destroys = deletes || name == "bucket_objects_put";
        ensure!(
            annotations["destructiveHint"] == destroys,
            "{name}: destructiveHint {annotations}"
        );
    }
    let required_of = |name: &str| {
        tools
            .iter()
            .find(|tool| tool["name"] == name)
            .map(|tool| tool["inputSchema"]["required"].clone())
            .unwrap_or_default()
    };
    ensure!(
        required_of("bucket_object_text") == json!(["s3_uri"]),
        "{}",
        required_of("bucket_object_text")
    );
    Ok(())
}

pub async fn tools_call_needs_no_initialize(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let status = scenario
        .client(&host)
        .call_tool("auth_status", json!({}))
        .await?
        .success()?;
    ensure!(status["authenticated"] == true, "{status}");
    Ok(())
}

pub async fn unknown_methods(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    for method in ["no/such/method", "server/discover"] {
        let reply = client.send(method, json!({})).await?;
        ensure!(
            reply.status == 200,
            "{method}: HTTP {} {}",
            reply.status,
            reply.text()
        );
        let (code, message) = rpc_error(&reply)?;
        ensure!(code == -32601, "{method}: code {code}");
        ensure!(message.contains(method), "{method}: message {message:?}");
    }
    let reply = client
        .send(
            "tools/call",
            json!({"name": "no_such_tool", "arguments": {}}),
        )
        .await?;
    let (code, message) = rpc_error(&reply)?;
    ensure!(
        code == -32602 && message.contains("no_such_tool"),
        "unknown tool: {code} {message}"
    );
    let reply = client
        .post_raw(
            json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call"}).to_string(),
            &[],
        )
        .await?;
    let (code, _) = rpc_error(&reply)?;
    ensure!(code == -32602, "tools/call without params: {code}");
    Ok(())
}

pub async fn malformed_messages(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);

    let reply = client
        .post_raw("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ", &[])
        .await?;
    ensure!(
        reply.status == 400,
        "truncated JSON: HTTP {} {}",
        reply.status,
        reply.text()
    );
    let (code, _) = rpc_error(&reply)?;
    ensure!(code == -32700, "truncated JSON: code {code}");
    ensure!(
        reply.json()?["id"].is_null(),
        "parse error id: {}",
        reply.text()
    );

    for (case, message, id) in [
        (
            "no jsonrpc member",
            json!({"id": 4, "method": "ping"}),
            json!(4),
        ),
        (
            "method not a string",
            json!({"jsonrpc": "2.0", "id": 5, "method": 17}),
            json!(5),
        ),
        (
            "id of the wrong type",
            json!({"jsonrpc": "2.0", "id": {"nested": true}, "method": "ping"}),
            Value::Null,
        ),
        (
            "batch",
            json!([{"jsonrpc": "2.0", "id": 6, "method": "ping"}]),
            Value::Null,
        ),
    ] {
        let reply = client.post_raw(message.to_string(), &[]).await?;
        ensure!(
            reply.status == 400,
            "{case}: HTTP {} {}",
            reply.status,
            reply.text()
        );
        let (code, _) = rpc_error(&reply)?;
        ensure!(code == -32600, "{case}: code {code}");
        ensure!(reply.json()?["id"] == id, "{case}: id in {}", reply.text());
    }
    Ok(())
}

pub async fn unsupported_protocol_version_header(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();

    let reply = client
        .post_raw(ping.clone(), &[("mcp-protocol-version", "1999-01-01")])
        .await?;
    ensure!(
        reply.status == 400,
        "unsupported version: HTTP {} {}",
        reply.status,
        reply.text()
    );
    let (code, message) = rpc_error(&reply)?;
    ensure!(
        code == -32022 && message.contains("2025-11-25"),
        "unsupported version: {code} {message:?}"
    );
    let supported = &reply.json()?["error"]["data"]["supported"];
    ensure!(
        *supported == json!(SUPPORTED),
        "unsupported version: data.supported {supported}"
    );

    for version in ["2025-11-25", "2025-06-18", "2025-03-26"] {
        let reply = client
            .post_raw(ping.clone(), &[("mcp-protocol-version", version)])
            .await?;
        ensure!(
            reply.status == 200,
            "{version}: HTTP {} {}",
            reply.status,
            reply.text()
        );
    }
    Ok(())
}

pub async fn never_a_session(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let replies = [
        client
            .send("initialize", initialize_params(PROTOCOL_VERSION))
            .await?,
        client
            .post_raw(
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
                &[],
            )
            .await?,
        client.send("tools/list", json!({})).await?,
        client.send("no/such/method", json!({})).await?,
    ];
    for reply in &replies {
        ensure!(
            reply.header("mcp-session-id").is_none(),
            "an Mcp-Session-Id was issued: {:?}",
            reply.headers
        );
    }
    for reply in replies.iter().filter(|reply| reply.status == 200) {
        let content_type = reply.header("content-type").unwrap_or_default();
        ensure!(
            content_type.starts_with("application/json"),
            "content-type {content_type:?}"
        );
    }
    // A session id the client makes up is ignored, not an error.
    let reply = client
        .post_raw(
            json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}).to_string(),
            &[("mcp-session-id", "made-up")],
        )
        .await?;
    ensure!(
        reply.status == 200,
        "with a made-up Mcp-Session-Id: HTTP {} {}",
        reply.status,
        reply.text()
    );
    Ok(())
}

/// The code and message of a JSON-RPC error reply.
fn rpc_error(reply: &Reply) -> Result<(i64, String)> {
    let body = reply.json()?;
    let code = body["error"]["code"].as_i64();
    ensure!(code.is_some(), "not a JSON-RPC error: {body}");
    Ok((
        code.unwrap_or_default(),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    ))
}

/// A 2026-07-28 request: `_meta` in the body, the version, method and name mirrored in
/// headers. `overrides` replace or add headers, to send what a faulty client would.
async fn modern(
    client: &McpClient,
    method: &str,
    mut params: Value,
    overrides: &[(&str, &str)],
) -> Result<Reply> {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "quilt-mcp-e2e", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let name = params["name"].as_str().unwrap_or_default().to_string();
    let mut headers = vec![("mcp-protocol-version", MODERN), ("mcp-method", method)];
    if !name.is_empty() {
        headers.push(("mcp-name", &name));
    }
    for (header, value) in overrides {
        headers.retain(|(existing, _)| existing != header);
        headers.push((header, value));
    }
    let message = json!({"jsonrpc": "2.0", "id": 11, "method": method, "params": params});
    client.post_raw(message.to_string(), &headers).await
}

/// The `result` of an HTTP 200 reply.
fn result_of(reply: &Reply) -> Result<Value> {
    ensure!(
        reply.status == 200,
        "HTTP {}: {}",
        reply.status,
        reply.text()
    );
    let result = reply.json()?["result"].clone();
    ensure!(result.is_object(), "no result in {}", reply.text());
    Ok(result)
}

/// `scope` is who may be served the cached result: `public` for what is the same for everyone,
/// `private` for what follows the caller's scopes and connection.
fn ensure_cacheable(what: &str, result: &Value, scope: &str) -> Result<()> {
    ensure!(result["resultType"] == "complete", "{what}: {result}");
    ensure!(
        result["ttlMs"].as_u64().is_some_and(|ttl| ttl > 0),
        "{what}: ttlMs in {result}"
    );
    ensure!(result["cacheScope"] == scope, "{what}: {result}");
    ensure!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "quilt-mcp",
        "{what}: serverInfo in {result}"
    );
    Ok(())
}

pub async fn modern_era_discover_list_and_call(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let bucket = scenario.bucket("modern").await?;
    scenario
        .admin()
        .put_object(&bucket, "notes/today.txt", "hello from 2026")
        .send()
        .await?;

    let discovered = result_of(&modern(&client, "server/discover", json!({}), &[]).await?)?;
    ensure!(
        discovered["supportedVersions"] == json!(SUPPORTED),
        "{discovered}"
    );
    ensure!(
        discovered["capabilities"]["tools"].is_object(),
        "{discovered}"
    );
    ensure_cacheable("server/discover", &discovered, "public")?;

    let listing = result_of(&modern(&client, "tools/list", json!({}), &[]).await?)?;
    ensure_cacheable("tools/list", &listing, "private")?;
    let legacy_listing = client.request("tools/list", json!({})).await?;
    ensure!(
        legacy_listing.get("resultType").is_none() && legacy_listing.get("ttlMs").is_none(),
        "the legacy listing carries 2026 fields: {legacy_listing}"
    );
    ensure!(
        listing["tools"] == legacy_listing["tools"],
        "the eras list different tools"
    );

    let called = result_of(
        &modern(
            &client,
            "tools/call",
            json!({"name": "bucket_object_text", "arguments": {"s3_uri": format!("s3://{bucket}/notes/today.txt")}}),
            &[],
        )
        .await?,
    )?;
    ensure!(called["resultType"] == "complete", "{called}");
    ensure!(called["isError"] == false, "{called}");
    ensure!(
        called["structuredContent"]["text"] == "hello from 2026",
        "{called}"
    );
    Ok(())
}

pub async fn modern_era_refusals(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let status_call = json!({"name": "auth_status", "arguments": {}});
    for (case, method, params, overrides, status, code) in [
        (
            "unknown method",
            "no/such/method",
            json!({}),
            vec![],
            404,
            -32601,
        ),
        ("ping is gone", "ping", json!({}), vec![], 404, -32601),
        (
            "Mcp-Method disagrees",
            "tools/call",
            status_call.clone(),
            vec![("mcp-method", "tools/list")],
            400,
            -32020,
        ),
        (
            "Mcp-Name disagrees",
            "tools/call",
            status_call.clone(),
            vec![("mcp-name", "bucket_objects_put")],
            400,
            -32020,
        ),
        (
            "version header disagrees with _meta",
            "tools/list",
            json!({}),
            vec![("mcp-protocol-version", "2025-11-25")],
            400,
            -32020,
        ),
    ] {
        let reply = modern(&client, method, params, &overrides).await?;
        ensure!(
            reply.status == status,
            "{case}: HTTP {} {}",
            reply.status,
            reply.text()
        );
        let (got, message) = rpc_error(&reply)?;
        ensure!(got == code, "{case}: code {got} {message:?}");
        ensure!(reply.json()?["id"] == 11, "{case}: id in {}", reply.text());
    }
    // The method is refused by its headers before anything runs: no Mcp-Name at all.
    let reply = client
        .post_raw(
            json!({"jsonrpc": "2.0", "id": 12, "method": "tools/call", "params": {
                "name": "auth_status",
                "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}},
            }})
            .to_string(),
            &[("mcp-protocol-version", MODERN), ("mcp-method", "tools/call")],
        )
        .await?;
    ensure!(reply.status == 400, "no Mcp-Name: HTTP {}", reply.status);
    ensure!(
        rpc_error(&reply)?.0 == -32020,
        "no Mcp-Name: {}",
        reply.text()
    );

    let future = "2099-12-31";
    let mut params = json!({});
    params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": future, "io.modelcontextprotocol/clientCapabilities": {}});
    let reply = client
        .post_raw(
            json!({"jsonrpc": "2.0", "id": 13, "method": "server/discover", "params": params})
                .to_string(),
            &[
                ("mcp-protocol-version", future),
                ("mcp-method", "server/discover"),
            ],
        )
        .await?;
    ensure!(reply.status == 400, "future version: HTTP {}", reply.status);
    let error = &reply.json()?["error"];
    ensure!(
        error["code"] == -32022
            && error["data"]["supported"] == json!(SUPPORTED)
            && error["data"]["requested"] == future,
        "future version: {error}"
    );
    Ok(())
}

/// Each request alone decides its era: legacy and 2026 requests interleave on one host,
/// and neither needs a handshake first.
pub async fn eras_are_chosen_per_request(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    for round in 0..2 {
        let modern_call = result_of(
            &modern(
                &client,
                "tools/call",
                json!({"name": "auth_status", "arguments": {}}),
                &[],
            )
            .await?,
        )?;
        ensure!(
            modern_call["resultType"] == "complete",
            "round {round}: {modern_call}"
        );
        let legacy_call = client
            .request(
                "tools/call",
                json!({"name": "auth_status", "arguments": {}}),
            )
            .await?;
        ensure!(
            legacy_call.get("resultType").is_none(),
            "round {round}: legacy result {legacy_call}"
        );
        let handshake = client
            .request("initialize", initialize_params(PROTOCOL_VERSION))
            .await?;
        ensure!(
            handshake["protocolVersion"] == PROTOCOL_VERSION,
            "round {round}: {handshake}"
        );
        // The handshake changes nothing for the next request: 2026 methods stay 2026's.
        let reply = client.send("server/discover", json!({})).await?;
        ensure!(
            rpc_error(&reply)?.0 == -32601 && reply.status == 200,
            "round {round}: server/discover without 2026 headers: HTTP {} {}",
            reply.status,
            reply.text()
        );
    }
    Ok(())
}

pub async fn accept_header(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let http = reqwest::Client::new();
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    for (accept, status) in [
        (None, 200),
        (Some("application/json"), 200),
        (Some("text/event-stream, application/json"), 200),
        (Some("*/*"), 200),
        (Some("text/event-stream"), 406),
        (Some("text/html"), 406),
    ] {
        let mut request = http
            .post(host.mcp_url())
            .bearer_auth(scenario.token(&host))
            .header("content-type", "application/json")
            .body(ping.clone());
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let response = request.send().await?;
        ensure!(
            response.status() == status,
            "Accept {accept:?}: HTTP {}",
            response.status()
        );
    }
    Ok(())
}
