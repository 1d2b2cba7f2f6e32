//! The 2026-07-28 era through `handle`: routing by headers and `_meta`, header checks,
//! and the result shapes of `server/discover`, `tools/list` and `tools/call`.

use serde_json::{Value, json};

use super::{granted, json_of, listed_names, post_with};
use crate::mcp::{Reply, RequestHeaders};
use crate::testing::{FakeContext, FakeHttp};

const MODERN: &str = "2026-07-28";

fn headers(entries: &[(&str, &str)]) -> RequestHeaders {
    RequestHeaders::new(
        entries
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string())),
    )
}

/// A request as a 2026 client sends it: `_meta` naming `version`, `params` merged in.
fn body(method: &str, version: &str, params: Value) -> String {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    json!({"jsonrpc": "2.0", "id": 3, "method": method, "params": params}).to_string()
}

fn post(headers: &RequestHeaders, body: &str) -> Reply {
    post_with(headers, body, &FakeContext::default(), &FakeHttp::default())
}

/// The headers a 2026 client mirrors from the body.
fn mirrored(method: &str, name: Option<&str>) -> RequestHeaders {
    let mut entries = vec![("mcp-protocol-version", MODERN), ("mcp-method", method)];
    entries.extend(name.map(|name| ("mcp-name", name)));
    headers(&entries)
}

fn modern(method: &str, params: Value) -> Reply {
    let name = params["name"].as_str().map(str::to_owned);
    post(
        &mirrored(method, name.as_deref()),
        &body(method, MODERN, params),
    )
}

fn error_of(reply: &Reply) -> (u16, i64, String) {
    let body = json_of(reply);
    assert_eq!(body["id"], 3, "{body}");
    (
        reply.status,
        body["error"]["code"].as_i64().unwrap_or_default(),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

fn assert_server_named(result: &Value) {
    let info = &result["_meta"]["io.modelcontextprotocol/serverInfo"];
    assert_eq!(info["name"], "quilt-mcp", "{result}");
    assert!(info["version"].is_string(), "{result}");
}

#[test]
fn server_discover_lists_versions_capabilities_and_cache_hints() {
    let reply = modern("server/discover", json!({}));
    assert_eq!(reply.status, 200);
    let result = &json_of(&reply)["result"];
    assert_eq!(
        result["supportedVersions"],
        json!(["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"])
    );
    assert_eq!(
        result["capabilities"],
        json!({"tools": {"listChanged": false}, "resources": {"listChanged": false, "subscribe": false}})
    );
    assert_eq!(result["resultType"], "complete");
    assert!(
        result["ttlMs"].as_u64().is_some_and(|ttl| ttl > 0),
        "{result}"
    );
    assert_eq!(result["cacheScope"], "public");
    assert!(result["instructions"].is_string());
    assert_server_named(result);
}

#[test]
fn tools_list_is_the_legacy_listing_with_cache_hints() {
    let legacy = post(
        &RequestHeaders::default(),
        &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}).to_string(),
    );
    let legacy = &json_of(&legacy)["result"];
    assert!(legacy.get("resultType").is_none() && legacy.get("ttlMs").is_none());

    let reply = modern("tools/list", json!({}));
    assert_eq!(reply.status, 200);
    let result = &json_of(&reply)["result"];
    assert_eq!(result["tools"], legacy["tools"]);
    assert!(!result["tools"].as_array().unwrap().is_empty());
    assert_eq!(result["resultType"], "complete");
    assert!(
        result["ttlMs"].as_u64().is_some_and(|ttl| ttl > 0),
        "{result}"
    );
    assert_eq!(
        result["cacheScope"], "private",
        "the listing follows the caller's grant"
    );
    assert_server_named(result);
}

#[test]
fn tools_call_results_say_complete() {
    for arguments in [json!({}), json!({"unexpected": []})] {
        let reply = modern(
            "tools/call",
            json!({"name": "auth_status", "arguments": arguments}),
        );
        assert_eq!(reply.status, 200);
        let result = &json_of(&reply)["result"];
        assert_eq!(result["resultType"], "complete", "{result}");
        assert_eq!(result["structuredContent"]["authenticated"], true);
        assert_server_named(result);
    }
    let failed = modern(
        "tools/call",
        json!({"name": "bucket_objects_list", "arguments": {}}),
    );
    let result = &json_of(&failed)["result"];
    assert_eq!(result["isError"], true);
    assert_eq!(result["resultType"], "complete");
}

#[test]
fn methods_outside_the_era_are_not_found_with_404() {
    // `ping` and the handshake are gone in 2026-07-28.
    for method in ["ping", "prompts/list", "no/such/method"] {
        let (status, code, message) = error_of(&modern(method, json!({})));
        assert_eq!((status, code), (404, -32601), "{method}");
        assert!(message.contains(method), "{message}");
    }
    let unknown_tool = modern("tools/call", json!({"name": "nope", "arguments": {}}));
    assert_eq!(
        error_of(&unknown_tool),
        (200, -32602, "Unknown tool: nope".into())
    );
}

#[test]
fn initialize_is_always_the_legacy_handshake() {
    let params = json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}});
    for (headers, body) in [
        (
            headers(&[("mcp-protocol-version", MODERN)]),
            json!({"jsonrpc": "2.0", "id": 3, "method": "initialize", "params": params})
                .to_string(),
        ),
        (
            mirrored("initialize", None),
            body("initialize", MODERN, params.clone()),
        ),
        (
            RequestHeaders::default(),
            body("initialize", MODERN, params.clone()),
        ),
    ] {
        let reply = post(&headers, &body);
        assert_eq!(reply.status, 200, "{body}");
        let result = &json_of(&reply)["result"];
        assert_eq!(result["protocolVersion"], "2025-06-18");
        assert!(result.get("resultType").is_none());
    }
}

#[test]
fn version_header_and_meta_must_agree() {
    let discover = |version: &str| body("server/discover", version, json!({}));
    let no_meta =
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {}}).to_string();
    for (case, headers, body) in [
        (
            "header names a legacy version",
            headers(&[
                ("mcp-protocol-version", "2025-11-25"),
                ("mcp-method", "server/discover"),
            ]),
            discover(MODERN),
        ),
        (
            "no version header",
            headers(&[("mcp-method", "server/discover")]),
            discover(MODERN),
        ),
        ("no _meta version", mirrored("tools/list", None), no_meta),
        (
            "version header sent twice",
            headers(&[
                ("mcp-protocol-version", MODERN),
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "server/discover"),
            ]),
            discover(MODERN),
        ),
    ] {
        let (status, code, message) = error_of(&post(&headers, &body));
        assert_eq!((status, code), (400, -32020), "{case}: {message}");
        assert!(
            message.starts_with("Header mismatch: "),
            "{case}: {message}"
        );
    }
}

#[test]
fn method_and_name_headers_must_mirror_the_body() {
    let call = body(
        "tools/call",
        MODERN,
        json!({"name": "auth_status", "arguments": {}}),
    );
    let version = ("mcp-protocol-version", MODERN);
    for (case, entries) in [
        ("no Mcp-Method", vec![version, ("mcp-name", "auth_status")]),
        (
            "another Mcp-Method",
            vec![
                version,
                ("mcp-method", "tools/list"),
                ("mcp-name", "auth_status"),
            ],
        ),
        (
            "Mcp-Method twice",
            vec![
                version,
                ("mcp-method", "tools/call"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "auth_status"),
            ],
        ),
        ("no Mcp-Name", vec![version, ("mcp-method", "tools/call")]),
        (
            "another Mcp-Name",
            vec![
                version,
                ("mcp-method", "tools/call"),
                ("mcp-name", "bucket_objects_put"),
            ],
        ),
        (
            "Mcp-Name of another case",
            vec![
                version,
                ("mcp-method", "tools/call"),
                ("mcp-name", "Auth_Status"),
            ],
        ),
        (
            "Mcp-Name not base64",
            vec![
                version,
                ("mcp-method", "tools/call"),
                ("mcp-name", "=?base64?***?="),
            ],
        ),
    ] {
        let (status, code, message) = error_of(&post(&headers(&entries), &call));
        assert_eq!((status, code), (400, -32020), "{case}: {message}");
    }
    let encoded = headers(&[
        version,
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "=?base64?YXV0aF9zdGF0dXM=?="),
    ]);
    assert_eq!(post(&encoded, &call).status, 200);
    // A resource read is refused on its headers before it is tried.
    let read = body("resources/read", MODERN, json!({"uri": "s3://b/k"}));
    let (status, code, _) = error_of(&post(&mirrored("resources/read", None), &read));
    assert_eq!((status, code), (400, -32020));
    let (status, code, message) =
        error_of(&post(&mirrored("resources/read", Some("s3://b/k")), &read));
    assert_eq!((status, code), (200, -32002), "{message}");
    assert!(message.contains("s3://b/k"), "{message}");
}

#[test]
fn unsupported_versions_list_the_supported_ones() {
    let future = "2027-01-01";
    let reply = post(
        &headers(&[
            ("mcp-protocol-version", future),
            ("mcp-method", "server/discover"),
        ]),
        &body("server/discover", future, json!({})),
    );
    let (status, code, _) = error_of(&reply);
    assert_eq!((status, code), (400, -32022));
    assert_eq!(
        json_of(&reply)["error"]["data"],
        json!({"supported": ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"], "requested": future})
    );
}

#[test]
fn notifications_are_routed_by_their_header() {
    let notification = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let accepted = post(&headers(&[("mcp-protocol-version", MODERN)]), &notification);
    assert_eq!((accepted.status, accepted.body.to_vec().len()), (202, 0));
    let refused = post(
        &headers(&[("mcp-protocol-version", "2099-01-01")]),
        &notification,
    );
    assert_eq!(refused.status, 400);
    assert_eq!(json_of(&refused)["error"]["code"], -32022);
    assert_eq!(json_of(&refused)["id"], Value::Null);
}

#[test]
fn a_client_that_cannot_read_json_is_told_so() {
    let list = body("tools/list", MODERN, json!({}));
    let refused = post(
        &headers(&[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/list"),
            ("accept", "text/event-stream"),
        ]),
        &list,
    );
    assert_eq!(refused.status, 406);
    assert!(String::from_utf8_lossy(&refused.body.to_vec()).contains("application/json"));
    let served = post(
        &headers(&[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/list"),
            ("accept", "application/json, text/event-stream"),
        ]),
        &list,
    );
    assert_eq!(served.status, 200);
}

#[test]
fn the_listing_follows_the_grant_and_is_cached_privately() {
    let context = granted(&["search_catalog"], None);
    let reply = post_with(
        &mirrored("tools/list", None),
        &body("tools/list", MODERN, json!({})),
        &context,
        &FakeHttp::default(),
    );
    let listing = json_of(&reply);
    assert_eq!(listed_names(&listing), ["search_catalog"]);
    assert_eq!(listing["result"]["cacheScope"], "private", "{listing}");
}
