//! Dispatch through the real tool table, with the host's context and S3 faked.

use serde_json::{Value, json};

use super::{Reply, RequestHeaders, handle};
use crate::context::CredentialError;
use crate::testing::{FakeContext, FakeHttp, response};
use crate::tools::Env;

/// The 2026-07-28 era.
mod modern;
/// Resources.
mod resources;

fn post_with(headers: &RequestHeaders, body: &str, context: &FakeContext, s3: &FakeHttp) -> Reply {
    handle(headers, body.as_bytes(), &Env { context, http: s3 })
}

fn post(body: &str) -> Reply {
    post_with(
        &RequestHeaders::default(),
        body,
        &FakeContext::default(),
        &FakeHttp::default(),
    )
}

fn with_version(version: &str) -> RequestHeaders {
    RequestHeaders::new([("mcp-protocol-version".to_owned(), version.to_owned())])
}

fn json_of(reply: &Reply) -> Value {
    assert_eq!(reply.content_type, Some("application/json"));
    serde_json::from_slice(&reply.body.to_vec()).unwrap()
}

fn request(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}).to_string()
}

fn call(name: &str, arguments: Value, s3: &FakeHttp) -> Value {
    let reply = post_with(
        &RequestHeaders::default(),
        &request("tools/call", json!({"name": name, "arguments": arguments})),
        &FakeContext::default(),
        s3,
    );
    assert_eq!(reply.status, 200);
    let body = json_of(&reply);
    assert_eq!(body["id"], 7);
    body["result"].clone()
}

#[test]
fn body_that_is_not_json_is_a_parse_error() {
    let reply = post("{not json");
    assert_eq!(reply.status, 400);
    let body = json_of(&reply);
    assert_eq!(body["error"]["code"], -32700);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Parse error: ")
    );
    assert_eq!(body["id"], Value::Null);
}

#[test]
fn invalid_envelopes_are_invalid_requests() {
    for (body, id) in [
        (r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, Value::Null),
        (r#"{"id":1,"method":"ping"}"#, json!(1)),
        (r#"{"jsonrpc":"1.0","id":"a","method":"ping"}"#, json!("a")),
        (r#"{"jsonrpc":"2.0","id":1,"method":5}"#, json!(1)),
        (
            r#"{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}"#,
            Value::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
            Value::Null,
        ),
        (r#""ping""#, Value::Null),
    ] {
        let reply = post(body);
        assert_eq!(reply.status, 400, "{body}");
        let body_json = json_of(&reply);
        assert_eq!(body_json["error"]["code"], -32600, "{body}");
        assert_eq!(body_json["id"], id, "{body}");
    }
}

#[test]
fn notifications_and_responses_are_accepted_without_a_body() {
    for body in [
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}"#,
    ] {
        let reply = post(body);
        assert_eq!(reply.status, 202, "{body}");
        assert!(reply.body.to_vec().is_empty());
    }
}

#[test]
fn unsupported_protocol_version_header_is_rejected() {
    let reply = post_with(
        &with_version("2024-11-05"),
        &request("ping", json!({})),
        &FakeContext::default(),
        &FakeHttp::default(),
    );
    assert_eq!(reply.status, 400);
    let body = json_of(&reply);
    assert_eq!(body["error"]["code"], -32022);
    assert_eq!(body["id"], 7);
    let supported = json!(["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"]);
    assert_eq!(
        body["error"]["data"],
        json!({"supported": supported, "requested": "2024-11-05"})
    );
    let message = body["error"]["message"].as_str().unwrap();
    for version in supported.as_array().unwrap() {
        assert!(message.contains(version.as_str().unwrap()), "{message}");
    }
}

#[test]
fn supported_legacy_protocol_version_headers_are_served() {
    for version in ["2025-11-25", "2025-06-18", "2025-03-26"] {
        let reply = post_with(
            &with_version(version),
            &request("ping", json!({})),
            &FakeContext::default(),
            &FakeHttp::default(),
        );
        assert_eq!(reply.status, 200, "{version}");
        assert_eq!(json_of(&reply)["result"], json!({}), "{version}");
    }
}

#[test]
fn initialize_negotiates_the_version() {
    for (asked, agreed) in [
        ("2025-06-18", "2025-06-18"),
        ("2025-03-26", "2025-03-26"),
        ("2024-11-05", "2025-11-25"),
        ("2099-01-01", "2025-11-25"),
    ] {
        let reply = post(&request(
            "initialize",
            json!({"protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
        ));
        assert_eq!(reply.status, 200);
        let result = &json_of(&reply)["result"];
        assert_eq!(result["protocolVersion"], agreed);
        assert_eq!(
            result["capabilities"],
            json!({"tools": {"listChanged": false}, "resources": {"listChanged": false, "subscribe": false}})
        );
        assert_eq!(result["serverInfo"]["name"], "quilt-mcp");
        assert_eq!(result["serverInfo"]["title"], "Quilt MCP");
        assert!(result["serverInfo"]["version"].is_string());
        assert!(result["instructions"].is_string());
        assert!(result.get("resultType").is_none());
    }
}

/// Without a version header or `_meta`, a request is of the 2025-03-26 era, which has
/// no `server/discover`.
#[test]
fn unknown_methods_and_legacy_server_discover_are_not_found() {
    for method in ["server/discover", "prompts/list", "nope"] {
        let reply = post(&request(method, json!({})));
        assert_eq!(reply.status, 200);
        let body = json_of(&reply);
        assert_eq!(body["error"]["code"], -32601);
        assert_eq!(
            body["error"]["message"],
            format!("Method not found: {method}")
        );
    }
}

#[test]
fn tools_list_describes_every_tool_fully() {
    let reply = post(&request("tools/list", json!({})));
    if std::env::var_os("PRINT_TOOLS").is_some() {
        println!(
            "{}",
            serde_json::to_string_pretty(&json_of(&reply)).unwrap()
        );
    }
    let tools = json_of(&reply)["result"]["tools"]
        .as_array()
        .unwrap()
        .clone();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "auth_status",
            "bucket_objects_list",
            "bucket_object_info",
            "bucket_object_text",
            "bucket_object_fetch",
            "bucket_object_link",
            "bucket_objects_put",
            "bucket_object_preview",
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
            "athena_databases_list",
            "athena_tables_list",
            "athena_table_schema",
            "athena_query_execute",
            "athena_query_results",
            "athena_query_validate",
            "tabulator_tables_list",
            "tabulator_bucket_query"
        ]
    );
    for tool in &tools {
        let name = &tool["name"];
        assert!(
            tool["title"].is_string() && tool["description"].is_string(),
            "{name}"
        );
        assert_eq!(tool["inputSchema"]["type"], "object", "{name}");
        assert_eq!(tool["outputSchema"]["type"], "object", "{name}");
        for (property, schema) in tool["inputSchema"]["properties"].as_object().unwrap() {
            assert!(schema["description"].is_string(), "{name}.{property}");
        }
        for hint in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(tool["annotations"][hint].is_boolean(), "{name} {hint}");
        }
    }
    let put = tools
        .iter()
        .find(|t| t["name"] == "bucket_objects_put")
        .unwrap();
    assert_eq!(put["annotations"]["readOnlyHint"], false);
    assert_eq!(
        put["annotations"]["destructiveHint"], true,
        "a put replaces whatever object was at its key"
    );
    let list = tools
        .iter()
        .find(|t| t["name"] == "bucket_objects_list")
        .unwrap();
    // Optional: a connection held to one bucket supplies it (and the tool says so when not).
    assert_eq!(list["inputSchema"]["required"], Value::Null);
    assert!(
        list["inputSchema"]["properties"]["bucket"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("/mcp/b/{bucket}")),
        "{list}"
    );
    assert_eq!(
        list["inputSchema"]["properties"]["max_keys"]["default"],
        100
    );
}

#[test]
fn tools_call_rejects_unknown_tools_and_missing_params() {
    let body = json_of(&post(&request("tools/call", json!({"name": "nope"}))));
    assert_eq!(body["error"]["code"], -32602);
    assert_eq!(body["error"]["message"], "Unknown tool: nope");
    let no_params = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call"}).to_string();
    assert_eq!(json_of(&post(&no_params))["error"]["code"], -32602);
    let bad_arguments = request(
        "tools/call",
        json!({"name": "auth_status", "arguments": [1]}),
    );
    assert_eq!(json_of(&post(&bad_arguments))["error"]["code"], -32602);
}

#[test]
fn auth_status_reports_the_caller_and_masked_credentials() {
    let result = call("auth_status", json!({}), &FakeHttp::default());
    assert_eq!(result["isError"], false);
    assert!(result.get("resultType").is_none());
    let status = &result["structuredContent"];
    assert_eq!(status["authenticated"], true);
    assert_eq!(
        status["caller"],
        json!({"subject": "alice", "issuer": "https://issuer.example"})
    );
    assert_eq!(
        status["credentials"],
        json!({"source": "static", "access_key_id": "****MPLE", "temporary": false, "expiration": null})
    );
    assert_eq!(status["s3_endpoint"], "http://127.0.0.1:8333");
    assert_eq!(status["catalog_url"], "https://catalog.example");
    assert_eq!(status["registry_url"], Value::Null);
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(&text, status);
}

#[test]
fn credential_errors_are_tool_errors_with_the_hosts_message() {
    let context = FakeContext {
        credentials: Err(CredentialError::Denied(
            "STS refused alice; ask for access".into(),
        )),
        ..FakeContext::default()
    };
    let reply = post_with(
        &RequestHeaders::default(),
        &request(
            "tools/call",
            json!({"name": "bucket_object_info", "arguments": {"s3_uri": "s3://b/k"}}),
        ),
        &context,
        &FakeHttp::default(),
    );
    assert!(reply.is_tool_error(), "the host is told the tool failed");
    let result = &json_of(&reply)["result"];
    assert_eq!(result["isError"], true);
    assert_eq!(
        result["content"][0]["text"],
        "STS refused alice; ask for access"
    );
    // Neither a success nor a JSON-RPC error is a tool's failure.
    let listed = post(&request("tools/list", json!({})));
    let unknown = post(&request("tools/call", json!({"name": "nope"})));
    assert!(!listed.is_tool_error() && !unknown.is_tool_error());
}

#[test]
fn bad_arguments_are_tool_errors_naming_the_argument() {
    let s3 = FakeHttp::default();
    for (arguments, argument) in [
        (json!({}), "bucket"),
        (json!({"bucket": 5}), "bucket"),
        (json!({"bucket": "b", "max_keys": "many"}), "max_keys"),
        (json!({"bucket": "b", "max_keys": 0}), "max_keys"),
        (json!({"bucket": "b", "max_keys": 1001}), "max_keys"),
    ] {
        let result = call("bucket_objects_list", arguments.clone(), &s3);
        assert_eq!(result["isError"], true, "{arguments}");
        let text = result["content"][0]["text"].as_str().unwrap();
        assert!(text.contains(argument), "{arguments}: {text}");
        assert!(result.get("structuredContent").is_none());
    }
    assert!(s3.sent.borrow().is_empty());
}

#[test]
fn list_reports_objects_prefixes_and_links() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>d/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated><NextContinuationToken>tok</NextContinuationToken><EncodingType>url</EncodingType>
<Contents><Key>d/a+b.txt</Key><LastModified>2024-03-01T12:00:05.000Z</LastModified><ETag>&quot;abc&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>
<CommonPrefixes><Prefix>d/sub/</Prefix></CommonPrefixes></ListBucketResult>"#;
    let s3 = FakeHttp::answering(vec![response(200, &[], xml.as_bytes())]);
    let result = call(
        "bucket_objects_list",
        json!({"bucket": "s3://b", "prefix": "d/", "delimiter": "/", "max_keys": 2}),
        &s3,
    );
    assert_eq!(result["isError"], false, "{result}");
    let list = &result["structuredContent"];
    assert_eq!(list["bucket"], "b");
    assert_eq!(list["objects"][0]["key"], "d/a b.txt");
    assert_eq!(list["objects"][0]["s3_uri"], "s3://b/d/a b.txt");
    assert_eq!(list["objects"][0]["etag"], "abc");
    assert_eq!(list["objects"][0]["size"], 12);
    assert_eq!(list["objects"][0]["last_modified"], "2024-03-01T12:00:05Z");
    assert!(
        list["objects"][0]["signed_url"]
            .as_str()
            .unwrap()
            .contains("X-Amz-Signature=")
    );
    assert_eq!(list["common_prefixes"], json!(["d/sub/"]));
    assert_eq!(list["key_count"], 2);
    assert_eq!(list["is_truncated"], true);
    assert_eq!(list["next_continuation_token"], "tok");
    let sent = s3.sent.borrow();
    let url = sent[0].url.as_str();
    assert!(url.starts_with("http://127.0.0.1:8333/b/?"), "{url}");
    assert!(
        url.contains("list-type=2") && url.contains("max-keys=2") && url.contains("delimiter=%2F"),
        "{url}"
    );
}

#[test]
fn text_reads_a_range_and_reports_truncation() {
    let s3 = FakeHttp::answering(vec![response(
        206,
        &[
            ("content-range", "bytes 0-4/11"),
            ("content-type", "text/plain"),
        ],
        "héllo".as_bytes(),
    )]);
    let result = call(
        "bucket_object_text",
        json!({"s3_uri": "s3://b/k.txt", "max_bytes": 5}),
        &s3,
    );
    let text = &result["structuredContent"];
    assert_eq!(text["text"], "héll");
    assert_eq!(text["bytes_read"], 5);
    assert_eq!(text["size"], 11);
    assert_eq!(text["truncated"], true);
    assert_eq!(text["encoding"], "utf-8");
    assert_eq!(
        s3.sent.borrow()[0].headers,
        vec![("range".to_owned(), "bytes=0-4".to_owned())]
    );
}

#[test]
fn text_of_an_empty_object_is_empty() {
    let s3 = FakeHttp::answering(vec![response(
        416,
        &[("content-range", "bytes */0")],
        b"<Error><Code>InvalidRange</Code></Error>",
    )]);
    let text =
        call("bucket_object_text", json!({"s3_uri": "s3://b/empty"}), &s3)["structuredContent"]
            .clone();
    assert_eq!(text["text"], "");
    assert_eq!(text["size"], 0);
    assert_eq!(text["truncated"], false);
}

#[test]
fn text_rejects_unknown_encodings() {
    let result = call(
        "bucket_object_text",
        json!({"s3_uri": "s3://b/k", "encoding": "utf-16"}),
        &FakeHttp::default(),
    );
    assert_eq!(result["isError"], true);
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("latin-1")
    );
}

#[test]
fn fetch_returns_base64_or_text() {
    let s3 = FakeHttp::answering(vec![
        response(
            200,
            &[("content-length", "3"), ("content-type", "application/x")],
            b"abc",
        ),
        response(200, &[("content-length", "2")], b"\xff\xfe"),
    ]);
    let fetched =
        call("bucket_object_fetch", json!({"s3_uri": "s3://b/k"}), &s3)["structuredContent"]
            .clone();
    assert_eq!(fetched["data_base64"], "YWJj");
    assert_eq!(fetched["content_type"], "application/x");
    assert!(fetched.get("text").is_none());
    let result = call(
        "bucket_object_fetch",
        json!({"s3_uri": "s3://b/k", "base64_encode": false}),
        &s3,
    );
    assert_eq!(result["isError"], true);
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("base64_encode")
    );
}

#[test]
fn s3_errors_name_the_object() {
    let s3 = FakeHttp::answering(vec![
        response(
            404,
            &[],
            b"<Error><Code>NoSuchKey</Code><Message>x</Message></Error>",
        ),
        response(404, &[], b""),
        response(403, &[], b""),
    ]);
    let missing = call("bucket_object_text", json!({"s3_uri": "s3://b/k"}), &s3);
    assert_eq!(missing["content"][0]["text"], "No object at s3://b/k");
    let head = call(
        "bucket_object_info",
        json!({"s3_uri": "s3://b/k?versionId=v1"}),
        &s3,
    );
    assert_eq!(
        head["content"][0]["text"],
        "No object at s3://b/k?versionId=v1"
    );
    let denied = call("bucket_object_info", json!({"s3_uri": "s3://b/k"}), &s3);
    assert_eq!(
        denied["content"][0]["text"],
        "Access denied: s3:GetObject on s3://b/k is not allowed for alice with credentials from static"
    );
}

#[test]
fn info_reports_headers_and_metadata() {
    let s3 = FakeHttp::answering(vec![response(
        200,
        &[
            ("content-length", "42"),
            ("content-type", "text/csv"),
            ("etag", "\"e1\""),
            ("last-modified", "Fri, 01 Mar 2024 12:00:05 GMT"),
            ("x-amz-version-id", "v9"),
            ("x-amz-meta-owner", "alice"),
        ],
        b"",
    )]);
    let info = call(
        "bucket_object_info",
        json!({"s3_uri": "s3://b/d/k.csv"}),
        &s3,
    )["structuredContent"]
        .clone();
    assert_eq!(
        info,
        json!({"s3_uri": "s3://b/d/k.csv", "bucket": "b", "key": "d/k.csv", "version_id": "v9", "size": 42,
               "content_type": "text/csv", "etag": "e1", "last_modified": "2024-03-01T12:00:05Z",
               "metadata": {"owner": "alice"}})
    );
}

#[test]
fn link_caps_the_expiration_at_seven_days() {
    let result = call(
        "bucket_object_link",
        json!({"s3_uri": "s3://b/k", "expiration": 9_999_999}),
        &FakeHttp::default(),
    );
    let link = &result["structuredContent"];
    assert_eq!(link["expires_in"], 604800);
    assert_eq!(link["capped"], true);
    assert!(
        link["signed_url"]
            .as_str()
            .unwrap()
            .contains("X-Amz-Expires=604800")
    );
    assert!(link["expires_at"].as_str().unwrap().ends_with('Z'));
    let zero = call(
        "bucket_object_link",
        json!({"s3_uri": "s3://b/k", "expiration": 0}),
        &FakeHttp::default(),
    );
    assert_eq!(zero["isError"], true);
}

#[test]
fn put_reports_each_item() {
    let s3 = FakeHttp::answering(vec![response(200, &[("etag", "\"e\"")], b"")]);
    let result = call(
        "bucket_objects_put",
        json!({"bucket": "b", "items": [
            {"key": "a.txt", "text": "hi", "metadata": {"owner": "alice"}},
            {"key": "b.bin", "text": "x", "data": "eA=="},
        ]}),
        &s3,
    );
    assert_eq!(result["isError"], false);
    let report = &result["structuredContent"];
    assert_eq!(report["succeeded"], 1);
    assert_eq!(report["failed"], 1);
    assert_eq!(
        report["results"][0],
        json!({"key": "a.txt", "ok": true, "s3_uri": "s3://b/a.txt", "size": 2, "etag": "e", "version_id": null})
    );
    assert_eq!(report["results"][1]["ok"], false);
    let sent = s3.sent.borrow();
    assert_eq!(sent[0].body, b"hi");
    assert!(
        sent[0]
            .headers
            .contains(&("x-amz-meta-owner".to_owned(), "alice".to_owned()))
    );
    assert!(
        sent[0]
            .url
            .as_str()
            .contains("content-type%3Bhost%3Bx-amz-meta-owner"),
        "{}",
        sent[0].url
    );
}

#[test]
fn put_is_an_error_only_when_every_item_fails() {
    let s3 = FakeHttp::answering(vec![response(
        403,
        &[],
        b"<Error><Code>AccessDenied</Code></Error>",
    )]);
    let result = call(
        "bucket_objects_put",
        json!({"bucket": "b", "items": [{"key": "a", "data": "!!"}, {"key": "c", "text": "x"}]}),
        &s3,
    );
    assert_eq!(result["isError"], true);
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("base64") && text.contains("Access denied: s3:PutObject on s3://b/c"),
        "{text}"
    );
}

/// Issue 11 item 2: S3 URLs resolve `.` and `..` segments, so such a key or bucket would
/// address another object (or bucket). Each is refused naming it, and nothing is sent —
/// although the fake would have answered.
#[test]
fn dot_segment_keys_and_bad_buckets_send_nothing() {
    let ok = || response(200, &[("etag", "\"e\""), ("content-length", "1")], b"x");
    for (tool, arguments, named) in [
        (
            "bucket_objects_put",
            json!({"bucket": "b", "items": [{"key": "dir/../hello.txt", "text": "x"}]}),
            "dir/../hello.txt",
        ),
        (
            "bucket_objects_put",
            json!({"bucket": "b", "items": [{"key": "a/../../victim/x", "text": "x"}]}),
            "a/../../victim/x",
        ),
        (
            "bucket_objects_put",
            json!({"bucket": "..", "items": [{"key": "newbucket", "text": "x"}]}),
            "..",
        ),
        (
            "bucket_objects_list",
            json!({"bucket": "../newbucket"}),
            "../newbucket",
        ),
        ("bucket_object_text", json!({"s3_uri": "s3://b/."}), "'.'"),
        ("bucket_object_info", json!({"s3_uri": "s3://../k"}), ".."),
        (
            "bucket_object_fetch",
            json!({"s3_uri": "s3://b/a/%2E%2E/%2e%2e/victim/x"}),
            "a/../../victim/x",
        ),
        (
            "bucket_object_link",
            json!({"s3_uri": "s3://b/x/../../other/secret"}),
            "x/../../other/secret",
        ),
        (
            "package_browse",
            json!({"package_name": "team/p", "registry": "s3://b", "tag": "../../victim/p/latest"}),
            "../../victim/p/latest",
        ),
    ] {
        let s3 = FakeHttp::answering(vec![ok(), ok(), ok()]);
        let result = call(tool, arguments.clone(), &s3);
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        assert_eq!(result["isError"], true, "{tool} {arguments}: {result}");
        assert!(text.contains(named), "{tool} {arguments}: {text}");
        let sent: Vec<String> = s3.sent.borrow().iter().map(|r| r.url.to_string()).collect();
        assert!(sent.is_empty(), "{tool} {arguments} sent {sent:?}");
    }
}

/// Issue 11 item 2, the confused deputy: `package_create copy=true` over a listing holding
/// a planted `..` key would copy onto another package's `latest` pointer. Past the check
/// that the package does not exist yet, the listing is the only request; nothing is read or
/// written for any listed object.
#[test]
fn copy_from_a_listing_with_a_dot_dot_key_sends_nothing_outside_the_listing() {
    let planted = "in/a/../../../.quilt/named_packages/victim/pkg/latest";
    let listing = format!(
        r#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>src</Name><Prefix>in/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>
<Contents><Key>in/ok.txt</Key><LastModified>2024-03-01T12:00:05.000Z</LastModified><ETag>&quot;e&quot;</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>{planted}</Key><LastModified>2024-03-01T12:00:05.000Z</LastModified><ETag>&quot;e&quot;</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>"#
    );
    let head = || response(200, &[("etag", "\"e\""), ("content-length", "0")], b"");
    let empty = r#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>reg</Name><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>"#;
    // Enough answers for the whole create, had it gone ahead: list, two HEADs, two copies,
    // the pointer listing and three PUTs.
    let absent = response(
        404,
        &[],
        b"<Error><Code>NoSuchKey</Code><Message>x</Message></Error>",
    );
    let mut answers = vec![
        absent,
        response(200, &[], listing.as_bytes()),
        head(),
        head(),
    ];
    answers.extend([head(), head(), response(200, &[], empty.as_bytes())]);
    answers.extend([head(), head(), head()]);
    let s3 = FakeHttp::answering(answers);
    let result = call(
        "package_create",
        json!({"package_name": "team/pkg", "registry": "s3://reg", "s3_uris": ["s3://src/in/"], "copy": true}),
        &s3,
    );
    let sent: Vec<String> = s3
        .sent
        .borrow()
        .iter()
        .map(|r| format!("{:?} {}", r.method, r.url.path()))
        .collect();
    let (existence, listing) = sent.split_first().expect("requests were sent");
    assert_eq!(existence, "Get /reg/.quilt/named_packages/team/pkg/latest");
    assert!(
        listing.iter().all(|request| request.ends_with(" /src/")),
        "requests beyond the listing: {sent:?}"
    );
    assert_eq!(result["isError"], true, "{result}");
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains(&planted["in/".len()..]) && text.contains("nothing was written"),
        "{text}"
    );
}

/// Issue 11 item 2, at the S3 client itself: whoever builds the address (a listing, a
/// manifest, a tool), a refused bucket or key is never sent.
#[test]
fn the_s3_client_sends_nothing_for_a_refused_address() {
    use crate::s3::client::Upload;
    use crate::s3::{S3, S3Uri};
    let s3 = FakeHttp::answering(
        (0..8)
            .map(|_| response(200, &[("etag", "\"e\""), ("content-length", "1")], b"x"))
            .collect(),
    );
    let client = S3::connect(&FakeContext::default(), &s3).unwrap();
    let at = |bucket: &str, key: &str| S3Uri {
        bucket: bucket.into(),
        key: key.into(),
        version_id: None,
    };
    let no_metadata = std::collections::BTreeMap::new();
    for (bucket, key) in [
        ("b", "dir/../hello.txt"),
        ("b", "."),
        ("b", ""),
        ("..", "k"),
    ] {
        let uri = at(bucket, key);
        let upload = Upload {
            key,
            body: b"x".to_vec(),
            content_type: "text/plain",
            metadata: &no_metadata,
        };
        let refusals = [
            client.head(&uri).err(),
            client.get_prefix(&uri, 10).err(),
            client.get_range(&uri, 0, 1, "e").err(),
            client.put(bucket, upload).err(),
            client.copy(&at("b", "ok"), "e", bucket, key).err(),
            client.copy(&uri, "e", "b", "ok").err(),
            client.delete(bucket, key).err(),
            client
                .presign_get(
                    &uri,
                    std::time::Duration::from_secs(60),
                    std::time::SystemTime::now(),
                )
                .err(),
        ];
        for (index, refusal) in refusals.iter().enumerate() {
            let refusal = refusal.as_ref().map(ToString::to_string);
            assert!(
                refusal
                    .as_ref()
                    .is_some_and(|text| text.contains("not sent")),
                "{bucket} {key:?} #{index}: {refusal:?}"
            );
        }
        let sent: Vec<String> = s3.sent.borrow().iter().map(|r| r.url.to_string()).collect();
        assert!(sent.is_empty(), "{bucket} {key:?} sent {sent:?}");
    }
}

/// A key twice in any object, at any depth: refused as the host refuses it, and no tool runs
/// (the fake S3 has no answer, so any request would fail the test).
#[test]
fn a_duplicate_key_anywhere_is_an_invalid_request_naming_it() {
    for (body, key) in [
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}"#,
            "method",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"auth_status","name":"bucket_object_text"}}"#,
            "name",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"bucket_object_text","arguments":{"s3_uri":"s3://a/x","s3_uri":"s3://b/y"}}}"#,
            "s3_uri",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"bucket_objects_put","arguments":{"bucket":"b","items":[{"key":"k","key":"j","text":"t"}]}}}"#,
            "key",
        ),
        // Met before the syntax error, as the host meets it.
        (r#"{"id":1,"id":2,"#, "id"),
    ] {
        let reply = post(body);
        assert_eq!(reply.status, 400, "{body}");
        let answer = json_of(&reply);
        assert_eq!(answer["error"]["code"], -32600, "{body}");
        assert_eq!(answer["id"], Value::Null, "{body}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("the key \"{key}\" twice")),
            "{body}: {message}"
        );
    }
}

#[test]
fn the_same_key_in_two_objects_is_no_duplicate() {
    let reply = post(
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":{"x":1},"b":{"x":1},"_meta":{}}}"#,
    );
    assert_eq!(reply.status, 200);
    assert_eq!(json_of(&reply)["result"], json!({}));
}

#[test]
fn a_long_duplicate_key_is_quoted_in_short() {
    let key = "k".repeat(100_000);
    let reply = post(&format!(
        r#"{{"jsonrpc":"2.0","id":1,"{key}":1,"{key}":2}}"#
    ));
    let message = json_of(&reply)["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.len() < 300, "{} bytes: {message}", message.len());
    assert!(message.contains("k…"), "{message}");
}

/// 6 MiB of control characters is 36 MiB of JSON (each is escaped as `\u0001`): more than a
/// call may return, so the tool refuses it, naming what to ask for instead.
#[test]
fn a_result_too_large_to_return_is_a_tool_error() {
    let size = 6 * 1024 * 1024;
    let s3 = FakeHttp::answering(vec![response(
        200,
        &[("content-length", &size.to_string())],
        &vec![1u8; size],
    )]);
    let result = call(
        "bucket_object_text",
        json!({"s3_uri": "s3://b/controls.txt", "max_bytes": size, "encoding": "latin-1"}),
        &s3,
    );
    assert_eq!(result["isError"], true, "a {size} byte read was returned");
    let message = result["content"][0]["text"].as_str().unwrap();
    assert!(message.contains("max_bytes"), "{message}");
}

/// A listing holding a key this server refuses to address still answers; that one object
/// gets no signed link (a link to it would point at another object).
#[test]
fn a_planted_dot_dot_key_in_a_listing_gets_no_link() {
    let planted = "in/../victim.txt";
    let listing = format!(
        r#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>src</Name><Prefix></Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>
<Contents><Key>in/ok.txt</Key><LastModified>2024-03-01T12:00:05.000Z</LastModified><ETag>&quot;e&quot;</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>{planted}</Key><LastModified>2024-03-01T12:00:05.000Z</LastModified><ETag>&quot;e&quot;</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>"#
    );
    let s3 = FakeHttp::answering(vec![response(200, &[], listing.as_bytes())]);
    let result = call(
        "bucket_objects_list",
        json!({"bucket": "src", "include_signed_urls": true}),
        &s3,
    );
    assert_eq!(result["isError"], false, "{result}");
    let objects = result["structuredContent"]["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 2, "{result}");
    let link = |key: &str| {
        objects
            .iter()
            .find(|object| object["key"] == key)
            .map(|object| object["signed_url"].clone())
    };
    assert!(link("in/ok.txt").unwrap().is_string(), "{result}");
    assert_eq!(link(planted), Some(Value::Null), "{result}");
}

/// A context whose grant names only `tools` (and holds it to `bucket`).
fn granted(tools: &[&str], bucket: Option<&str>) -> FakeContext {
    let mut context = FakeContext::default();
    context.grant.tools = tools.iter().map(|tool| tool.to_string()).collect();
    context.grant.bucket = bucket.map(str::to_owned);
    context
}

fn listed_names(listing: &Value) -> Vec<String> {
    listing["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{listing}"))
        .iter()
        .map(|tool| tool["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn tools_list_shows_only_the_granted_tools() {
    let context = granted(&["bucket_list", "auth_status"], None);
    let body = request("tools/list", json!({}));
    let reply = post_with(
        &RequestHeaders::default(),
        &body,
        &context,
        &FakeHttp::default(),
    );
    let names = listed_names(&json_of(&reply));
    assert_eq!(
        names,
        ["auth_status", "bucket_list"],
        "in the table's order"
    );
    let none = granted(&[], None);
    let reply = post_with(
        &RequestHeaders::default(),
        &body,
        &none,
        &FakeHttp::default(),
    );
    assert_eq!(json_of(&reply)["result"]["tools"], json!([]));
}

#[test]
fn a_tool_outside_the_grant_is_refused_without_running() {
    let context = granted(&["bucket_list"], None);
    let s3 = FakeHttp::default();
    let items = json!([{"key": "k.txt", "text": "would be written"}]);
    let body = request(
        "tools/call",
        json!({"name": "bucket_objects_put", "arguments": {"bucket": "b", "items": items}}),
    );
    let reply = json_of(&post_with(&RequestHeaders::default(), &body, &context, &s3));
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("bucket_objects_put is not offered"),
        "{reply}"
    );
    assert!(s3.sent.borrow().is_empty());
    let unknown = request("tools/call", json!({"name": "rm_rf", "arguments": {}}));
    let reply = json_of(&post_with(
        &RequestHeaders::default(),
        &unknown,
        &context,
        &s3,
    ));
    assert_eq!(reply["error"]["message"], "Unknown tool: rm_rf");
}

#[test]
fn a_held_bucket_queries_only_the_glue_catalog_before_sending() {
    let context = granted(&["athena_query_execute"], Some("raw"));
    let http = FakeHttp::default();
    let refusal = |arguments: Value| {
        let body = request(
            "tools/call",
            json!({"name": "athena_query_execute", "arguments": arguments}),
        );
        let reply = json_of(&post_with(
            &RequestHeaders::default(),
            &body,
            &context,
            &http,
        ));
        assert_eq!(reply["result"]["isError"], true, "{reply}");
        reply["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let text = refusal(json!({
        "query": "SELECT * FROM other_bucket.t", "data_catalog_name": "quilt_tabulator"}));
    assert!(text.contains("held to the bucket raw"), "{text}");
    // Nor may the statement name another catalog itself.
    let text = refusal(json!({
        "query": "SELECT * FROM lake.t JOIN \"Quilt_Tabulator\".other_bucket.u ON true"}));
    assert!(
        text.contains("reach only the catalog AwsDataCatalog"),
        "{text}"
    );
    assert!(http.sent.borrow().is_empty(), "nothing reaches Athena");
}

/// The catalog tools hold to the bucket as queries do: Tabulator's connector reads every
/// bucket's tables with its own rights.
#[test]
fn a_held_bucket_lists_only_its_own_catalog_entries_before_sending() {
    let tools = [
        "athena_databases_list",
        "athena_tables_list",
        "athena_table_schema",
    ];
    let context = granted(&tools, Some("raw"));
    let http = FakeHttp::answering(vec![
        response(200, &[], br#"{"TableMetadataList": []}"#),
        response(200, &[], br#"{"TableList": []}"#),
    ]);
    let call = |tool: &str, arguments: Value| {
        let body = request("tools/call", json!({"name": tool, "arguments": arguments}));
        json_of(&post_with(
            &RequestHeaders::default(),
            &body,
            &context,
            &http,
        ))
    };
    let tabulator = "quilt_tabulator";
    for (tool, arguments) in [
        (
            "athena_databases_list",
            json!({"data_catalog_name": tabulator}),
        ),
        (
            "athena_tables_list",
            json!({"data_catalog_name": tabulator, "database": "other_bucket"}),
        ),
        (
            "athena_table_schema",
            json!({"data_catalog_name": "Quilt_Tabulator", "database": "other_bucket", "table": "t"}),
        ),
        (
            "athena_tables_list",
            json!({"data_catalog_name": "someone_elses_catalog", "database": "raw"}),
        ),
    ] {
        let reply = call(tool, arguments);
        let text = reply["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(text.contains("held to the bucket raw"), "{tool}: {reply}");
    }
    assert!(http.sent.borrow().is_empty(), "nothing reaches Athena");
    // The held bucket's own Tabulator database, and Glue, are asked.
    for arguments in [
        json!({"data_catalog_name": tabulator, "database": "RAW"}),
        json!({"database": "lake"}),
    ] {
        let reply = call("athena_tables_list", arguments);
        assert_eq!(reply["result"]["isError"], false, "{reply}");
    }
    assert_eq!(http.sends(), 2, "both reach the catalog");
}

#[test]
fn a_held_bucket_refuses_every_other_before_sending() {
    let context = granted(
        &[
            "bucket_objects_list",
            "bucket_object_link",
            "bucket_list",
            "catalog_uri",
        ],
        Some("held-bucket"),
    );
    let s3 = FakeHttp::default();
    for (tool, arguments) in [
        ("bucket_objects_list", json!({"bucket": "elsewhere"})),
        (
            "bucket_object_link",
            json!({"s3_uri": "s3://elsewhere/key"}),
        ),
        (
            "catalog_uri",
            json!({"registry": "s3://elsewhere", "package_name": "a/b"}),
        ),
    ] {
        let body = request("tools/call", json!({"name": tool, "arguments": arguments}));
        let result =
            json_of(&post_with(&RequestHeaders::default(), &body, &context, &s3))["result"].clone();
        assert_eq!(result["isError"], true, "{tool}: {result}");
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        assert!(
            text.contains("held-bucket") && text.contains("elsewhere"),
            "{tool}: {text}"
        );
    }
    assert!(s3.sent.borrow().is_empty(), "nothing was sent");
    let body = request(
        "tools/call",
        json!({"name": "bucket_list", "arguments": {}}),
    );
    let result =
        json_of(&post_with(&RequestHeaders::default(), &body, &context, &s3))["result"].clone();
    assert_eq!(
        result["structuredContent"]["buckets"][0]["name"], "held-bucket",
        "{result}"
    );
    assert_eq!(result["structuredContent"]["source"], "connection");
    // Left out, the bucket is the held one.
    let body = request(
        "tools/call",
        json!({"name": "catalog_uri", "arguments": {"package_name": "a/b"}}),
    );
    let result =
        json_of(&post_with(&RequestHeaders::default(), &body, &context, &s3))["result"].clone();
    assert_eq!(result["isError"], false, "{result}");
    assert!(
        result["structuredContent"]
            .to_string()
            .contains("held-bucket"),
        "{result}"
    );
}

/// A connection held to one bucket, at the S3 client itself: no request to, and no copy
/// from, another bucket is built.
#[test]
fn the_s3_client_of_a_held_connection_addresses_no_other_bucket() {
    use crate::s3::{S3, S3Uri};
    let s3 = FakeHttp::default();
    let context = granted(&[], Some("held-bucket"));
    let client = S3::connect(&context, &s3).unwrap();
    let at = |bucket: &str| S3Uri {
        bucket: bucket.into(),
        key: "k".into(),
        version_id: None,
    };
    let copied_in = client.copy(&at("elsewhere"), "e", "held-bucket", "k").err();
    let copied_out = client.copy(&at("held-bucket"), "e", "elsewhere", "k").err();
    let linked = client
        .presign_get(
            &at("elsewhere"),
            std::time::Duration::from_secs(60),
            std::time::SystemTime::now(),
        )
        .err();
    for refused in [
        copied_in.map(|f| f.to_string()),
        copied_out.map(|f| f.to_string()),
        linked.map(|f| f.to_string()),
    ] {
        let refused = refused.expect("refused");
        assert!(
            refused.contains("held-bucket") && refused.contains("elsewhere"),
            "{refused}"
        );
    }
    assert!(s3.sent.borrow().is_empty());
    assert!(client.may_address("held-bucket") && !client.may_address("elsewhere"));
}

/// Each caller's query results lie in a place of their own, and the role many callers share
/// may read them all: the S3 client reaches no other caller's place, and lists only its own.
#[test]
fn the_s3_client_reaches_no_other_callers_query_results() {
    use crate::s3::client::ListQuery;
    use crate::s3::{S3, S3Uri};
    // FakeContext's own place is s3://results/athena/callers/alice/.
    let listing = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>results</Name><Prefix>athena/</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>
<Contents><Key>athena/callers/alice/q1.csv</Key><Size>1</Size></Contents>
<Contents><Key>athena/callers/bob/q2.csv</Key><Size>1</Size></Contents>
<Contents><Key>athena/notes.txt</Key><Size>1</Size></Contents>
<CommonPrefixes><Prefix>athena/callers/bobby/</Prefix></CommonPrefixes>
<CommonPrefixes><Prefix>athena/callers/</Prefix></CommonPrefixes></ListBucketResult>"#;
    let s3 = FakeHttp::answering(vec![response(200, &[], listing.as_bytes())]);
    let context = FakeContext::default();
    let client = S3::connect(&context, &s3).unwrap();
    let at = |key: &str| S3Uri {
        bucket: "results".into(),
        key: key.into(),
        version_id: None,
    };
    let bobs = at("athena/callers/bob/q2.csv");
    let refusals = [
        client.get_prefix(&bobs, 10).err(),
        client.head(&bobs).err(),
        client.copy(&bobs, "e", "mine", "k").err(),
        client
            .copy(
                &at("athena/callers/alice/q1.csv"),
                "e",
                "results",
                "athena/callers/bob/x",
            )
            .err(),
        client
            .presign_get(
                &bobs,
                std::time::Duration::from_secs(60),
                std::time::SystemTime::now(),
            )
            .err(),
        client
            .list(
                "results",
                &ListQuery {
                    prefix: "athena/callers/b",
                    delimiter: "",
                    max_keys: 10,
                    continuation_token: "",
                },
            )
            .err(),
    ];
    for refused in refusals {
        let refused = refused.expect("refused").to_string();
        assert!(
            refused.contains("another caller's query results"),
            "{refused}"
        );
    }
    assert!(s3.sent.borrow().is_empty(), "nothing was sent");
    let listed = client
        .list(
            "results",
            &ListQuery {
                prefix: "athena/",
                delimiter: "",
                max_keys: 1000,
                continuation_token: "",
            },
        )
        .unwrap();
    let keys: Vec<&str> = listed.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["athena/callers/alice/q1.csv", "athena/notes.txt"]);
    assert_eq!(listed.common_prefixes, ["athena/callers/"]);
}
