//! Least privilege: scopes per tool with the 403 scope challenge, read-only and toolsets by
//! flag, path and header (which narrow and never widen), a connection held to one bucket,
//! and read-only web-identity credentials that S3 itself refuses to write with.

use anyhow::{Context, Result, ensure};
use quilt_mcp_tests::host_process::{HostLaunch, HostProcess};
use quilt_mcp_tests::identity::standard_claims;
use quilt_mcp_tests::mcp::{McpClient, Reply};
use quilt_mcp_tests::s3::S3Client;
use quilt_mcp_tests::sts::{BucketReader, WebIdentityTrust, allow_writes, role_arn};
use serde_json::{Value, json};
use url::Url;

use quilt_mcp_tests::artifacts::path_from_env;
use tokio::process::Command;

use crate::clients::{run, script};
use crate::support::{Guest, HostSpec, Scenario, args};

crate::support::trials![
    a_read_scope_lists_no_writer_and_is_challenged_for_one,
    paths_and_headers_narrow_and_never_widen,
    a_bucket_connection_reaches_no_other_bucket,
    read_only_credentials_cannot_write_even_presigned,
    real_clients_at_narrowed_paths,
];

const WRITERS: [&str; 4] = [
    "bucket_objects_put",
    "package_create",
    "package_update",
    "package_delete",
];

/// A client at `path` of `host` whose token carries `scope` (none: the standard claims' scopes, all three).
fn client_at(
    scenario: &Scenario<'_>,
    host: &HostProcess,
    path: &str,
    scope: Option<&str>,
) -> McpClient {
    let mut claims = scenario.claims(host);
    if let Some(scope) = scope {
        claims["scope"] = json!(scope);
    }
    let url = host.mcp_url().replacen("/mcp", path, 1);
    McpClient::new(&url, Some(scenario.stack.identity.sign(&claims)))
}

async fn listed(client: &McpClient, headers: &[(&str, &str)]) -> Result<Vec<String>> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let reply = client.post_raw(body, headers).await?;
    ensure!(
        reply.status == 200,
        "tools/list: HTTP {}: {}",
        reply.status,
        reply.text()
    );
    let names = reply.json()?["result"]["tools"]
        .as_array()
        .context("a tools array")?
        .iter()
        .filter_map(|tool| tool["name"].as_str().map(str::to_owned))
        .collect();
    Ok(names)
}

async fn call(
    client: &McpClient,
    tool: &str,
    arguments: Value,
    headers: &[(&str, &str)],
) -> Result<Reply> {
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": tool, "arguments": arguments}});
    client.post_raw(body.to_string(), headers).await
}

pub async fn a_read_scope_lists_no_writer_and_is_challenged_for_one(
    scenario: &Scenario<'_>,
) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let reader = client_at(scenario, &host, "/mcp", Some("openid quilt:read"));
    let tools = listed(&reader, &[]).await?;
    ensure!(
        tools.iter().any(|t| t == "bucket_objects_list"),
        "{tools:?}"
    );
    for writer in WRITERS {
        ensure!(
            !tools.iter().any(|t| t == writer),
            "{writer} listed for a reader: {tools:?}"
        );
    }

    let refused = call(&reader, "package_create", json!({}), &[]).await?;
    ensure!(
        refused.status == 403,
        "HTTP {}: {}",
        refused.status,
        refused.text()
    );
    let challenge = refused.header("www-authenticate").unwrap_or_default();
    let metadata = format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        host.base_url()
    );
    for part in [
        "Bearer error=\"insufficient_scope\"".to_owned(),
        "scope=\"quilt:read quilt:write\"".to_owned(),
        format!("resource_metadata=\"{metadata}\""),
    ] {
        ensure!(challenge.contains(&part), "{part} missing from {challenge}");
    }
    ensure!(
        refused.json()?["error"] == "insufficient_scope",
        "{}",
        refused.text()
    );
    let log = host.log().text();
    ensure!(
        log.contains("scope challenge"),
        "the challenge is the host's: {log}"
    );

    // With the scope, the same call reaches the tool (which then wants its arguments).
    let writer = client_at(scenario, &host, "/mcp", Some("quilt:read quilt:write"));
    let answered = call(&writer, "package_create", json!({}), &[]).await?;
    ensure!(
        answered.status == 200,
        "HTTP {}: {}",
        answered.status,
        answered.text()
    );
    let delete = call(&writer, "package_delete", json!({}), &[]).await?;
    ensure!(
        delete
            .header("www-authenticate")
            .unwrap_or_default()
            .contains("scope=\"quilt:read quilt:write quilt:delete\""),
        "the challenge keeps the scopes the token has: {:?}",
        delete.header("www-authenticate")
    );

    // The 401 asks for what the connection offers.
    for (path, scope) in [
        ("/mcp", "quilt:read quilt:write"),
        ("/mcp/readonly", "quilt:read"),
    ] {
        let anonymous = McpClient::new(&host.mcp_url().replacen("/mcp", path, 1), None);
        let reply = anonymous.send("tools/list", json!({})).await?;
        let challenge = reply
            .header("www-authenticate")
            .unwrap_or_default()
            .to_owned();
        ensure!(
            reply.status == 401 && challenge.contains(&format!("scope=\"{scope}\"")),
            "{path}: {challenge}"
        );
    }
    let metadata: Value = reqwest::get(&metadata).await?.json().await?;
    ensure!(
        metadata["scopes_supported"] == json!(["quilt:read", "quilt:write", "quilt:delete"]),
        "{metadata}"
    );
    Ok(())
}

pub async fn paths_and_headers_narrow_and_never_widen(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let everything = "quilt:read quilt:write quilt:delete";
    let read_only = client_at(scenario, &host, "/mcp/readonly", Some(everything));
    let tools = listed(&read_only, &[("X-MCP-Readonly", "false")]).await?;
    ensure!(
        WRITERS.iter().all(|w| !tools.iter().any(|t| t == w)),
        "{tools:?}"
    );
    let refused = call(
        &read_only,
        "bucket_objects_put",
        json!({}),
        &[("X-MCP-Tools", "bucket_objects_put")],
    )
    .await?;
    let message = refused.json()?["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ensure!(
        refused.status == 200 && message.contains("not offered"),
        "{}",
        refused.text()
    );

    let search = client_at(scenario, &host, "/mcp/x/search", Some(everything));
    ensure!(
        listed(&search, &[]).await? == ["auth_status", "search_catalog"],
        "a toolset path"
    );
    let widened = listed(&search, &[("X-MCP-Toolsets", "objects,search")]).await?;
    ensure!(
        widened == ["auth_status", "search_catalog"],
        "a header cannot add a toolset: {widened:?}"
    );
    let full = client_at(scenario, &host, "/mcp", Some(everything));
    let picked = listed(
        &full,
        &[
            ("X-MCP-Tools", "bucket_list,package_create"),
            ("X-MCP-Readonly", "true"),
        ],
    )
    .await?;
    ensure!(picked == ["bucket_list"], "{picked:?}");

    for (path, status) in [
        ("/mcp/x/athena", 404),
        ("/mcp/b/Bad_Bucket", 404),
        ("/mcp/admin", 404),
    ] {
        let reply = client_at(scenario, &host, path, Some(everything))
            .send("tools/list", json!({}))
            .await?;
        ensure!(
            reply.status == status,
            "{path}: HTTP {}: {}",
            reply.status,
            reply.text()
        );
    }
    let reply = full
        .post_raw(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string(),
            &[("X-MCP-Toolsets", "admin")],
        )
        .await?;
    ensure!(
        reply.status == 400
            && reply
                .text()
                .contains("the toolsets are objects, packages, search, sql"),
        "{}",
        reply.text()
    );

    // A server started read-only offers no writer to any token, path or header.
    let spec = HostSpec {
        extra: args(&["--read-only", "--exclude-tools", "search_catalog"]),
        ..scenario.spec(Guest::Tools)
    };
    let read_only_server = scenario.start(spec).await?;
    let owner = client_at(scenario, &read_only_server, "/mcp", Some(everything));
    let tools = listed(
        &owner,
        &[
            ("X-MCP-Readonly", "false"),
            ("X-MCP-Tools", "package_create,search_catalog,bucket_list"),
        ],
    )
    .await?;
    ensure!(tools == ["bucket_list"], "{tools:?}");
    let reply = call(&owner, "package_create", json!({}), &[]).await?;
    ensure!(
        reply.status == 200 && reply.text().contains("not offered"),
        "{}",
        reply.text()
    );
    Ok(())
}

pub async fn a_bucket_connection_reaches_no_other_bucket(scenario: &Scenario<'_>) -> Result<()> {
    let (held, other) = (
        scenario.bucket("held").await?,
        scenario.bucket("other").await?,
    );
    let (held, other) = (held.as_str(), other.as_str());
    for bucket in [held, other] {
        scenario
            .admin()
            .put_object(bucket, "note.txt", format!("in {bucket}"))
            .send()
            .await?;
    }
    let host = scenario.host(Guest::Tools).await?;
    let client = client_at(scenario, &host, &format!("/mcp/b/{held}"), None);
    let own = client
        .call_tool(
            "bucket_object_text",
            json!({"s3_uri": format!("s3://{held}/note.txt")}),
        )
        .await?
        .success()?;
    ensure!(own["text"] == format!("in {held}"), "{own}");
    for (tool, arguments) in [
        ("bucket_objects_list", json!({"bucket": other})),
        (
            "bucket_object_text",
            json!({"s3_uri": format!("s3://{other}/note.txt")}),
        ),
        (
            "bucket_object_link",
            json!({"s3_uri": format!("s3://{other}/note.txt")}),
        ),
        (
            "package_create",
            json!({"package_name": "a/b", "registry": format!("s3://{held}"), "s3_uris": [format!("s3://{other}/note.txt")], "copy": true}),
        ),
        ("search_catalog", json!({"query": "*", "bucket": other})),
    ] {
        let why = client.call_tool(tool, arguments).await?.failure()?;
        ensure!(why.contains(held) && why.contains(other), "{tool}: {why}");
    }
    let buckets = client
        .call_tool("bucket_list", json!({}))
        .await?
        .success()?;
    ensure!(
        buckets["buckets"].as_array().map(Vec::len) == Some(1)
            && buckets["buckets"][0]["name"] == held,
        "{buckets}"
    );

    // A package in the held bucket whose entries live in both: browsing it there links only
    // the held bucket's, and defaults the registry to it.
    scenario
        .admin()
        .put_object(other, "far/away.txt", "far")
        .send()
        .await?;
    let unheld = client_at(scenario, &host, "/mcp", None);
    unheld
        .call_tool(
            "package_create",
            json!({"package_name": "team/mixed", "registry": format!("s3://{held}"),
                   "s3_uris": [format!("s3://{held}/note.txt"), format!("s3://{other}/far/away.txt")]}),
        )
        .await?
        .success()?;
    let browsed = client
        .call_tool("package_browse", json!({"package_name": "team/mixed"}))
        .await?
        .success()?;
    let entries = browsed["entries"].as_array().context("entries")?;
    ensure!(entries.len() == 2, "{browsed}");
    for entry in entries {
        let physical = entry["physical_key"].as_str().unwrap_or_default();
        let linked = entry["signed_url"].is_string();
        ensure!(
            linked == physical.starts_with(&format!("s3://{held}/")),
            "{physical}: signed_url {}",
            entry["signed_url"]
        );
    }
    Ok(())
}

/// The audience both the host and SeaweedFS's OIDC provider accept.
const AUDIENCE: &str = "quilt-mcp-access-e2e";
const OWNER: &str = "owner@example.com";

pub async fn read_only_credentials_cannot_write_even_presigned(
    scenario: &Scenario<'_>,
) -> Result<()> {
    let (bucket, second) = ("policy-own", "policy-second");
    let reader = BucketReader {
        role_name: "PolicyOwner".into(),
        subject: OWNER.into(),
        bucket: bucket.into(),
    };
    let trust = WebIdentityTrust {
        issuer: scenario.stack.issuer(),
        audience: AUDIENCE.into(),
        jwks_url: scenario.stack.jwks.jwks_url(),
        readers: vec![reader.clone()],
    };
    let mut iam = trust.iam_config();
    allow_writes(&mut iam, &reader);
    // The role reaches a second bucket too, so a bucket connection has something to take away.
    iam["policies"][0]["document"]["Statement"][0]["Resource"] = json!([
        format!("arn:aws:s3:::{bucket}"),
        format!("arn:aws:s3:::{bucket}/*"),
        format!("arn:aws:s3:::{second}"),
        format!("arn:aws:s3:::{second}/*"),
    ]);
    let seaweed = scenario.own_seaweed(&iam).await?;
    let endpoint = seaweed
        .s3_endpoint
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    for name in [bucket, second] {
        seaweed.admin().create_bucket(name).await?;
        seaweed
            .admin()
            .put_object(name, "seed.txt", "seed")
            .send()
            .await?;
    }
    let flags = args(&[
        "--s3-endpoint",
        &endpoint,
        "--jwks-url",
        &scenario.stack.jwks.jwks_url(),
        "--jwt-issuer",
        &scenario.stack.issuer(),
        "--jwt-audience",
        AUDIENCE,
        "--credentials",
        "web-identity",
        "--sts-endpoint",
        &endpoint,
        "--role-arn-claim",
        "role_arn",
    ]);
    // At this trial's own SeaweedFS, so not through `Scenario::start` (which names the shared one).
    let start = |guest| {
        HostProcess::start(HostLaunch {
            env: &[],
            host_bin: &scenario.stack.artifacts.host_bin,
            guest,
            listen: "127.0.0.1:0",
            args: &flags,
            echo_logs: false,
        })
    };
    let token = |scope: &str| {
        let mut claims = standard_claims(&scenario.stack.issuer(), AUDIENCE, OWNER);
        claims["role_arn"] = json!(role_arn("PolicyOwner"));
        claims["scope"] = json!(scope);
        scenario.stack.identity.sign(&claims)
    };
    let hostile = start(&scenario.stack.hostile_guest).await?;
    let endpoint_url = Url::parse(&endpoint)?;
    // What a guest that meant harm would do with the keys it was handed: presign a PUT.
    let keys_for = |path: &str, scope: &str| {
        let url = hostile.mcp_url().replacen("/mcp", path, 1);
        let client = McpClient::new(&url, Some(token(scope)));
        let endpoint_url = endpoint_url.clone();
        async move {
            let keys = client.request("credentials", json!({})).await?;
            ensure!(keys["access_key_id"].is_string(), "{keys}");
            let text = |name: &str| keys[name].as_str().unwrap_or_default().to_owned();
            Ok::<_, anyhow::Error>(S3Client::temporary(
                endpoint_url,
                &text("access_key_id"),
                &text("secret_access_key"),
                &text("session_token"),
            ))
        }
    };
    let checks = async {
        let read_only = keys_for("/mcp", "quilt:read").await?;
        ensure!(
            read_only.get_object(bucket, "seed.txt").await? == b"seed",
            "read-only keys still read"
        );
        let refused = read_only
            .put_object(bucket, "forbidden.txt", "no")
            .send()
            .await
            .err()
            .context("a read-only PUT was accepted")?;
        ensure!(format!("{refused:#}").contains("403"), "{refused:#}");

        let writer = keys_for("/mcp", "quilt:read quilt:write").await?;
        writer
            .put_object(bucket, "allowed.txt", "yes")
            .send()
            .await
            .context("the write scope's keys write")?;
        let narrowed = keys_for("/mcp/readonly", "quilt:read quilt:write").await?;
        let refused = narrowed
            .put_object(bucket, "forbidden.txt", "no")
            .send()
            .await
            .err()
            .context("/mcp/readonly keys wrote")?;
        ensure!(format!("{refused:#}").contains("403"), "{refused:#}");

        ensure!(
            writer.get_object(second, "seed.txt").await.is_ok(),
            "the role itself reaches the second bucket"
        );
        let held = keys_for(&format!("/mcp/b/{bucket}"), "quilt:read quilt:write").await?;
        ensure!(
            held.get_object(bucket, "seed.txt").await.is_ok(),
            "held keys read their bucket"
        );
        let other = held
            .get_object(second, "seed.txt")
            .await
            .err()
            .context("held keys read another bucket")?;
        ensure!(format!("{other:#}").contains("403"), "{other:#}");
        Ok::<_, anyhow::Error>(())
    };
    checks.await.with_context(|| {
        format!(
            "--- host log ---\n{}\n--- seaweed ---\n{}",
            hostile.log().text(),
            seaweed.log_tail()
        )
    })?;

    // And the tools work with the narrowed keys: a reader lists, a writer puts.
    let tools = start(&scenario.stack.artifacts.guest).await?;
    let reader = McpClient::new(&tools.mcp_url(), Some(token("quilt:read")));
    reader
        .call_tool("bucket_objects_list", json!({"bucket": bucket}))
        .await?
        .success()?;
    let writer = McpClient::new(&tools.mcp_url(), Some(token("quilt:read quilt:write")));
    writer
        .call_tool(
            "bucket_objects_put",
            json!({"bucket": bucket, "items": [{"key": "by-tool.txt", "text": "hi"}]}),
        )
        .await?
        .success()
        .with_context(|| tools.log().text())?;
    Ok(())
}

/// The Inspector's CLI and the Python SDK at `/mcp/readonly` and `/mcp/x/{toolset}`: what they
/// list is what the path offers, and a writer called there is refused.
pub async fn real_clients_at_narrowed_paths(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("narrowed").await?;
    scenario
        .admin()
        .put_object(&bucket, "a.txt", "a")
        .send()
        .await?;
    let host = scenario.host(Guest::Tools).await?;
    let token = scenario.token(&host);
    let at = |path: &str| host.mcp_url().replacen("/mcp", path, 1);
    let node = path_from_env("QUILT_MCP_NODE")?;
    let inspector = path_from_env("QUILT_MCP_INSPECTOR")?;
    let home = tempfile::tempdir()?;
    let inspect = |url: String, method_args: Vec<String>| {
        let mut command = Command::new(&node);
        command
            .arg(&inspector)
            .arg("--cli")
            .arg(url)
            .args(["--transport", "http", "--header"])
            .arg(format!("Authorization: Bearer {token}"))
            .args(method_args)
            .env("HOME", home.path());
        run(command, "the Inspector")
    };
    let names = |listing: &Value| -> Vec<String> {
        listing["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect()
    };
    let read_only: Value = serde_json::from_str(
        &inspect(at("/mcp/readonly"), args(&["--method", "tools/list"])).await?,
    )?;
    let read_only = names(&read_only);
    ensure!(
        read_only.iter().any(|t| t == "bucket_objects_list"),
        "{read_only:?}"
    );
    ensure!(
        WRITERS.iter().all(|w| !read_only.iter().any(|t| t == w)),
        "{read_only:?}"
    );
    let search: Value = serde_json::from_str(
        &inspect(at("/mcp/x/search"), args(&["--method", "tools/list"])).await?,
    )?;
    ensure!(
        names(&search) == ["auth_status", "search_catalog"],
        "{search}"
    );
    let bucket_arg = format!("bucket={bucket}");
    let put = inspect(
        at("/mcp/readonly"),
        args(&[
            "--method",
            "tools/call",
            "--tool-name",
            "bucket_objects_put",
            "--tool-arg",
            &bucket_arg,
        ]),
    )
    .await;
    let refused = format!(
        "{:#}",
        put.err()
            .context("the Inspector put through /mcp/readonly")?
    );
    // The Inspector itself refuses a tool the listing leaves out; the server would too.
    ensure!(
        refused.contains("not offered")
            || refused.contains("'bucket_objects_put' not found on server"),
        "{refused}"
    );

    let python = path_from_env("QUILT_MCP_PYTHON_MCP2")?;
    let mut command = Command::new(python);
    command
        .arg(script("python_mcp2.py"))
        .args([at("/mcp/readonly"), bucket.clone(), "auto".into()])
        .env("MCP_BEARER_TOKEN", &token);
    let stdout = run(command, "python_mcp2.py").await?;
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .with_context(|| format!("no JSON report: {stdout}"))?;
    ensure!(
        report["is_error"] == false && report["listing"]["objects"][0]["key"] == "a.txt",
        "{report}"
    );
    let seen: Vec<String> = report["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|name| name.as_str().map(str::to_owned))
        .collect();
    ensure!(
        seen == read_only,
        "the Python SDK saw {seen:?}, the Inspector {read_only:?}"
    );
    Ok(())
}
