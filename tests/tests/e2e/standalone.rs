//! The tools guest beyond our host: the single-tenant adapter composed in front of it
//! (guest/adapter, guest/compose), served by `wasmtime serve` with runtime configuration
//! variables, against the shared SeaweedFS. `wasmtime serve` passes every outgoing
//! request on, so what limits egress here is the adapter alone.

use anyhow::{Context, Result, ensure};
use quilt_mcp_tests::jwks_server::JwksServer;
use quilt_mcp_tests::mcp::{McpClient, PROTOCOL_VERSION};
use quilt_mcp_tests::seaweedfs::ADMIN;
use quilt_mcp_tests::wasmtime_serve::{StandaloneArtifacts, WasmtimeServe};
use serde_json::{Value, json};

use crate::support::Scenario;

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    s3_tools_under_wasmtime_serve,
    hostile_guest_reaches_only_s3_and_the_registry,
    unusable_configuration_is_named,
];

fn s3_endpoint(scenario: &Scenario<'_>) -> String {
    scenario
        .stack
        .seaweed
        .s3_endpoint
        .as_str()
        .trim_end_matches('/')
        .to_owned()
}

async fn call(client: &McpClient, tool: &str, arguments: Value) -> Result<Value> {
    client
        .call_tool(tool, arguments)
        .await?
        .success()
        .with_context(|| tool.to_owned())
}

/// Initialize, tools/list, and the S3 tools — list, read, write and read back, a missing
/// object, a manifest limit — with the admin keys from runtime configuration.
pub async fn s3_tools_under_wasmtime_serve(scenario: &Scenario<'_>) -> Result<()> {
    let artifacts = StandaloneArtifacts::from_env()?;
    let bucket = scenario.bucket("standalone").await?;
    let admin = scenario.admin();
    for (key, body) in [("README.md", "# Standalone\n"), ("data/a.csv", "id\n1\n")] {
        admin.put_object(&bucket, key, body).send().await?;
    }
    let config = [
        ("s3_endpoint", s3_endpoint(scenario)),
        ("aws_access_key_id", ADMIN.access_key_id.to_owned()),
        ("aws_secret_access_key", ADMIN.secret_access_key.to_owned()),
        ("buckets", bucket.clone()),
        ("max_manifest_entries", "1".to_owned()),
    ];
    let server = WasmtimeServe::start(&artifacts.wasmtime, &artifacts.tools, &config).await?;
    let outcome = exercise_s3_tools(scenario, &server, &bucket).await;
    outcome.with_context(|| format!("wasmtime serve output:\n{}", server.output()))
}

async fn exercise_s3_tools(
    scenario: &Scenario<'_>,
    server: &WasmtimeServe,
    bucket: &str,
) -> Result<()> {
    let client = McpClient::new(&server.mcp_url(), None);
    let initialized = client
        .request(
            "initialize",
            json!({"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                   "clientInfo": {"name": "quilt-mcp-e2e", "version": "0"}}),
        )
        .await?;
    ensure!(
        initialized["protocolVersion"] == PROTOCOL_VERSION
            && initialized["serverInfo"]["name"] == "quilt-mcp",
        "{initialized}"
    );
    let listed = client.request("tools/list", json!({})).await?;
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    for tool in [
        "bucket_objects_list",
        "bucket_object_text",
        "bucket_objects_put",
        "package_create",
    ] {
        ensure!(names.contains(&tool), "{tool} missing from {names:?}");
    }

    // Single-tenant: nobody signed in, the configured keys, settings from configuration.
    let status = call(&client, "auth_status", json!({})).await?;
    let last_four = &ADMIN.access_key_id[ADMIN.access_key_id.len() - 4..];
    ensure!(
        status["authenticated"] == false
            && status["caller"].is_null()
            && status["credential_source"] == "static"
            && status["credentials"]["access_key_id"] == format!("****{last_four}").as_str()
            && status["s3_endpoint"] == s3_endpoint(scenario).as_str()
            && status["region"] == "us-east-1"
            && status["configured_buckets"] == json!([bucket]),
        "{status}"
    );

    let listing = call(
        &client,
        "bucket_objects_list",
        json!({"bucket": bucket, "delimiter": "/"}),
    )
    .await?;
    ensure!(
        listing["objects"][0]["key"] == "README.md"
            && listing["common_prefixes"] == json!(["data/"]),
        "{listing}"
    );
    let text = call(
        &client,
        "bucket_object_text",
        json!({"s3_uri": format!("s3://{bucket}/README.md")}),
    )
    .await?;
    ensure!(text["text"] == "# Standalone\n", "{text}");

    let put = call(
        &client,
        "bucket_objects_put",
        json!({"bucket": bucket, "items": [{"key": "notes/new.md", "text": "written standalone\n"}]}),
    )
    .await?;
    ensure!(put["succeeded"] == 1 && put["failed"] == 0, "{put}");
    let stored = scenario.admin().get_object(bucket, "notes/new.md").await?;
    ensure!(stored == b"written standalone\n", "stored {stored:?}");
    let read_back = call(
        &client,
        "bucket_object_text",
        json!({"s3_uri": format!("s3://{bucket}/notes/new.md")}),
    )
    .await?;
    ensure!(read_back["text"] == "written standalone\n", "{read_back}");

    let missing = format!("s3://{bucket}/no/such/key.txt");
    let message = client
        .call_tool("bucket_object_text", json!({"s3_uri": missing}))
        .await?
        .failure()?;
    ensure!(
        message.contains(&format!("No object at {missing}")),
        "{message}"
    );

    // max_manifest_entries=1 from configuration reaches the guest's settings.
    let refused = client
        .call_tool(
            "package_create",
            json!({"package_name": "team/two", "registry": format!("s3://{bucket}"),
                   "s3_uris": [format!("s3://{bucket}/README.md"), format!("s3://{bucket}/data/a.csv")]}),
        )
        .await?
        .failure()?;
    ensure!(refused.contains("over the 1"), "{refused}");
    Ok(())
}

/// The hostile guest behind the adapter asks for what the tools guest never would:
/// other origins, the S3 origin over the other scheme, an `Authorization` header where it
/// does not belong. The adapter refuses each before anything connects; the S3 endpoint and
/// the registry are reached. Configured without keys, the deployment says so.
pub async fn hostile_guest_reaches_only_s3_and_the_registry(scenario: &Scenario<'_>) -> Result<()> {
    let artifacts = StandaloneArtifacts::from_env()?;
    let registry = JwksServer::start(json!({"canary": "registry"})).await?;
    let forbidden = JwksServer::start(json!({"canary": "forbidden"})).await?;
    let s3 = s3_endpoint(scenario);
    let config = [
        ("s3_endpoint", s3.clone()),
        ("registry_url", registry.origin()),
        // Space-separated: `wasmtime serve -S` would split the value at a comma.
        ("buckets", "alpha beta".to_owned()),
    ];
    let server = WasmtimeServe::start(&artifacts.wasmtime, &artifacts.hostile, &config).await?;
    let outcome = probe_egress(&server, &s3, &registry, &forbidden).await;
    outcome.with_context(|| format!("wasmtime serve output:\n{}", server.output()))
}

async fn probe_egress(
    server: &WasmtimeServe,
    s3: &str,
    registry: &JwksServer,
    forbidden: &JwksServer,
) -> Result<()> {
    let client = McpClient::new(&server.mcp_url(), None);
    let fetch = async |url: String, authorization: Option<&str>| {
        client
            .request("fetch", json!({"url": url, "authorization": authorization}))
            .await
    };

    let reached = fetch(format!("{s3}/"), None).await?;
    ensure!(reached["status"].is_u64(), "the S3 endpoint: {reached}");
    let reached = fetch(registry.jwks_url(), Some("Bearer registry-token")).await?;
    ensure!(
        reached["status"] == 200,
        "the registry with a bearer: {reached}"
    );
    ensure!(
        registry.hits() == 1,
        "the registry saw {} requests",
        registry.hits()
    );

    let https_s3 = s3.replacen("http://", "https://", 1);
    let refused = [
        ("another origin", forbidden.jwks_url(), None),
        ("the S3 origin over https", format!("{https_s3}/"), None),
        (
            "cloud metadata",
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            None,
        ),
        (
            "an authorization header to S3",
            format!("{s3}/"),
            Some("Bearer stolen"),
        ),
        (
            "the wasmtime serve port itself",
            format!("{}/mcp", server.base_url()),
            None,
        ),
    ];
    for (what, url, authorization) in refused {
        let answer = fetch(url.clone(), authorization).await?;
        ensure!(
            answer["error"]
                .as_str()
                .is_some_and(|error| error.contains("HttpRequestDenied")),
            "{what} ({url}) was not refused: {answer}"
        );
    }
    ensure!(forbidden.hits() == 0, "the forbidden origin was reached");
    let forbidden_authority = forbidden.origin().replacen("http://", "", 1);
    server
        .wait_for_output(&format!(
            "quilt-mcp adapter: refused an outgoing request to http://{forbidden_authority}"
        ))
        .await?;

    // Single-tenant: no caller; no keys configured, and the answer says which to set.
    let whoami = client.request("whoami", json!({})).await?;
    ensure!(whoami["caller"].is_null(), "{whoami}");
    let credentials = whoami["access_key_id"]["error"]
        .as_str()
        .unwrap_or_default();
    ensure!(
        credentials.contains("NotConfigured") && credentials.contains("aws_access_key_id"),
        "{whoami}"
    );
    // Nor does `wasmtime serve -S cli` hand over the machine: no directories, no
    // arguments, and of the environment only the instance number wasmtime sets.
    let listed = client.request("list_dir", json!({"path": "/"})).await?;
    ensure!(listed["error"].is_string(), "{listed}");
    let environment = client.request("environment", json!({})).await?;
    let vars = environment["vars"].as_array().cloned().unwrap_or_default();
    ensure!(
        environment["args"] == json!([])
            && vars.len() == 1
            && vars[0]
                .as_str()
                .is_some_and(|var| var.starts_with("INSTANCE_ID=")),
        "{environment}"
    );

    let catalog = client.request("catalog", json!({})).await?;
    ensure!(
        catalog["registry_url"] == registry.origin().as_str()
            && catalog["buckets"] == json!(["alpha", "beta"])
            && catalog["bearer"] == false,
        "{catalog}"
    );
    Ok(())
}

/// A value the adapter cannot use names itself wherever it matters: in the tool errors of
/// S3 tools, in `auth_status`, and in the runtime's log; and no request leaves.
pub async fn unusable_configuration_is_named(scenario: &Scenario<'_>) -> Result<()> {
    let artifacts = StandaloneArtifacts::from_env()?;
    let config = [
        ("s3_endpoint", s3_endpoint(scenario)),
        ("s3_path_style", "yes".to_owned()),
        ("aws_access_key_id", ADMIN.access_key_id.to_owned()),
        ("aws_secret_access_key", ADMIN.secret_access_key.to_owned()),
    ];
    let server = WasmtimeServe::start(&artifacts.wasmtime, &artifacts.tools, &config).await?;
    let client = McpClient::new(&server.mcp_url(), None);
    let complaint =
        "runtime config variable `s3_path_style` is \"yes\", which is not true or false";
    let outcome = async {
        let listed = client
            .call_tool("bucket_objects_list", json!({"bucket": "reader-visible"}))
            .await?
            .failure()?;
        ensure!(listed.contains(complaint), "{listed}");
        let status = call(&client, "auth_status", json!({})).await?;
        ensure!(
            status["credentials"]["error"]
                .as_str()
                .is_some_and(|error| error.contains(complaint)),
            "{status}"
        );
        server
            .wait_for_output(&format!("quilt-mcp adapter: {complaint}"))
            .await
    };
    outcome
        .await
        .with_context(|| format!("wasmtime serve output:\n{}", server.output()))?;

    // Not even the S3 endpoint itself is reached while the configuration is unusable.
    let hostile = WasmtimeServe::start(&artifacts.wasmtime, &artifacts.hostile, &config).await?;
    let fetched = McpClient::new(&hostile.mcp_url(), None)
        .request(
            "fetch",
            json!({"url": format!("{}/", s3_endpoint(scenario))}),
        )
        .await?;
    ensure!(
        fetched["error"]
            .as_str()
            .is_some_and(|error| error.contains("HttpRequestDenied")),
        "{fetched}\n{}",
        hostile.output()
    );
    Ok(())
}
