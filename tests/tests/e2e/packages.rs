//! The package tools against real SeaweedFS through the real host: objects arranged
//! with a native S3 client, packaged, browsed, diffed and deleted through MCP, and the
//! registry's manifests and pointers checked directly.

use anyhow::{Context, Result, ensure};
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::seaweedfs::{READ_ONLY_BUCKET, READER};
use serde_json::{Value, json};

use crate::support::{Guest, Scenario};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    create_browse_and_list,
    big_object_hashed_in_chunks,
    copy_mode_puts_data_in_the_registry,
    versioned_bucket_pins_versions,
    update_then_diff,
    delete_revision_then_whole_package,
    package_errors,
    denied_create_leaves_no_pointer,
    quilt3_reads_ours_and_we_read_its,
    quilt3_resolves_ours_by_name_and_lists_it,
    duplicate_manifest_keys_read_as_quilt3_reads_them,
    manifest_limits_come_from_configuration,
];

/// sha2-256-chunked values, computed with Python's hashlib.
const HELLO_HASH: &str = "7LZbuY+dkFtwRYmGw5/LrXcV5fL8w7Hwd2fXyD4kOMw=";
const ONE_HASH: &str = "nGQHH8GW0z/sADb0iJi3/yz4OYuJLq2K/ObpVo9/tt4=";
const TWO_HASH: &str = "2mO054XBdfxa9I6KtxdcLtutLfKxwFsQ9qJ3nHSv1yA=";
const TWO_CHANGED_HASH: &str = "0AWQRUkZsyFmHrq2WWA7PMtng0ZA13Mc55x93FaqLDM=";
/// 20,000,000 bytes, byte i = (i*7+3) % 251: three 8 MiB chunks.
const BIG_SIZE: usize = 20_000_000;
const BIG_HASH: &str = "eap6a7xaCR7h1ANUUNVF5CIbJk3lUEYo/BJ9D9+PzQU=";

/// Writes an object as the SeaweedFS admin, behind the server's back.
pub(crate) async fn put(
    scenario: &Scenario<'_>,
    bucket: &str,
    key: &str,
    body: impl Into<Vec<u8>>,
) -> Result<()> {
    scenario
        .admin()
        .put_object(bucket, key, body)
        .send()
        .await
        .map(|_| ())
}

pub(crate) async fn call(client: &McpClient, tool: &str, arguments: Value) -> Result<Value> {
    client
        .call_tool(tool, arguments)
        .await?
        .success()
        .with_context(|| tool.to_string())
}

pub(crate) async fn fail(client: &McpClient, tool: &str, arguments: Value) -> Result<String> {
    client.call_tool(tool, arguments).await?.failure()
}

fn entry<'v>(browse: &'v Value, logical_key: &str) -> Result<&'v Value> {
    browse["entries"]
        .as_array()
        .and_then(|entries| entries.iter().find(|e| e["logical_key"] == logical_key))
        .with_context(|| format!("no entry {logical_key} in {browse}"))
}

fn keys(browse: &Value) -> Vec<String> {
    browse["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["logical_key"].as_str().map(str::to_owned))
        .collect()
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

pub async fn create_browse_and_list(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("pkg").await?;
    put(scenario, &bucket, "raw/data/a.txt", "hello\n").await?;
    put(scenario, &bucket, "raw/data/sub/b c.txt", "one\n").await?;
    put(scenario, &bucket, "raw/notes.txt", "two\n").await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let registry = format!("s3://{bucket}");

    let created = call(
        &client,
        "package_create",
        json!({
            "package_name": "team/demo",
            "registry": registry,
            "s3_uris": [format!("s3://{bucket}/raw/data/"), format!("s3://{bucket}/raw/notes.txt")],
            "metadata": {"owner": "alice", "score": 1.5},
            "message": "first cut",
        }),
    )
    .await?;
    let top_hash = created["top_hash"].as_str().context("top_hash")?.to_owned();
    ensure!(top_hash.len() == 64, "{created}");
    ensure!(
        created["entries"] == 3 && created["total_size"] == 14,
        "{created}"
    );

    // quilt3's layout: the manifest, a timestamp pointer and latest, all naming the hash.
    let admin = scenario.admin();
    let manifest = text(
        admin
            .get_object(&bucket, &format!(".quilt/packages/{top_hash}"))
            .await?,
    );
    let lines: Vec<&str> = manifest.lines().collect();
    ensure!(
        lines[0]
            == r#"{"version": "v0", "user_meta": {"owner": "alice", "score": 1.5}, "message": "first cut"}"#,
        "{manifest}"
    );
    ensure!(
        lines.len() == 4 && lines[1].starts_with(r#"{"logical_key": "a.txt", "physical_keys": ["#),
        "{manifest}"
    );
    ensure!(
        manifest.contains("raw/data/sub/b%20c.txt"),
        "physical keys are quoted: {manifest}"
    );
    let latest = text(
        admin
            .get_object(&bucket, ".quilt/named_packages/team/demo/latest")
            .await?,
    );
    ensure!(latest == top_hash, "latest {latest}");
    let timestamp = created["timestamp"].as_u64().context("timestamp")?;
    let pointer = text(
        admin
            .get_object(
                &bucket,
                &format!(".quilt/named_packages/team/demo/{timestamp}"),
            )
            .await?,
    );
    ensure!(pointer == top_hash, "timestamp pointer {pointer}");

    let browse = call(
        &client,
        "package_browse",
        json!({"package_name": "team/demo", "registry": registry}),
    )
    .await?;
    ensure!(browse["top_hash"] == top_hash.as_str(), "{browse}");
    ensure!(
        browse["message"] == "first cut" && browse["user_meta"]["owner"] == "alice",
        "{browse}"
    );
    // Walk order: the folder `sub` sorts among the names of its level.
    ensure!(
        keys(&browse) == ["a.txt", "notes.txt", "sub/b c.txt"],
        "{browse}"
    );
    let a = entry(&browse, "a.txt")?;
    ensure!(
        a["hash"] == json!({"type": "sha2-256-chunked", "value": HELLO_HASH}),
        "{a}"
    );
    ensure!(
        a["size"] == 6 && a["physical_key"] == format!("s3://{bucket}/raw/data/a.txt").as_str(),
        "{a}"
    );
    let link = a["signed_url"].as_str().context("signed_url")?;
    let downloaded = reqwest::get(link).await?.text().await?;
    ensure!(downloaded == "hello\n", "signed URL gave {downloaded:?}");
    ensure!(
        entry(&browse, "sub/b c.txt")?["hash"]["value"] == ONE_HASH,
        "{browse}"
    );

    let shallow = call(
        &client,
        "package_browse",
        json!({"package_name": "team/demo", "registry": registry, "recursive": false, "include_signed_urls": false, "top": 1}),
    )
    .await?;
    ensure!(
        keys(&shallow) == ["a.txt"] && shallow["next_offset"] == 1,
        "{shallow}"
    );
    ensure!(
        shallow["folders"] == json!(["sub/"]) && shallow["total_entries"] == 2,
        "{shallow}"
    );
    ensure!(
        shallow["entries"][0].get("signed_url").is_none(),
        "{shallow}"
    );
    let by_prefix = call(
        &client,
        "package_browse",
        json!({"package_name": "team/demo", "registry": registry, "top_hash": &top_hash[..10], "path": "sub"}),
    )
    .await?;
    ensure!(keys(&by_prefix) == ["sub/b c.txt"], "{by_prefix}");

    let listed = call(&client, "packages_list", json!({"registry": registry})).await?;
    ensure!(listed["packages"][0]["name"] == "team/demo", "{listed}");
    ensure!(
        listed["packages"][0]["top_hash"] == top_hash.as_str() && listed["total"] == 1,
        "{listed}"
    );

    let uri = call(
        &client,
        "catalog_uri",
        json!({"registry": registry, "package_name": "team/demo", "top_hash": top_hash, "path": "sub/b c.txt"}),
    )
    .await?;
    ensure!(
        uri["uri"]
            == format!("quilt+s3://{bucket}#package=team/demo@{top_hash}&path=sub/b%20c.txt")
                .as_str(),
        "{uri}"
    );
    let no_catalog = fail(
        &client,
        "catalog_url",
        json!({"registry": registry, "package_name": "team/demo"}),
    )
    .await?;
    ensure!(no_catalog.contains("no web catalog"), "{no_catalog}");
    Ok(())
}

pub async fn big_object_hashed_in_chunks(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("pkg-big").await?;
    let big: Vec<u8> = (0..BIG_SIZE).map(|i| ((i * 7 + 3) % 251) as u8).collect();
    put(scenario, &bucket, "big/big.bin", big).await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let registry = format!("s3://{bucket}");

    let created = call(
        &client,
        "package_create",
        json!({"package_name": "team/big", "registry": registry, "s3_uris": [format!("s3://{bucket}/big/big.bin")]}),
    )
    .await?;
    let browse = call(
        &client,
        "package_browse",
        json!({"package_name": "team/big", "registry": registry}),
    )
    .await?;
    ensure!(browse["top_hash"] == created["top_hash"], "{browse}");
    let big = entry(&browse, "big.bin")?;
    ensure!(
        big["hash"]["value"] == BIG_HASH && big["size"] == BIG_SIZE,
        "{big}"
    );
    ensure!(
        big["physical_key"] == format!("s3://{bucket}/big/big.bin").as_str(),
        "referenced in place: {big}"
    );
    Ok(())
}

pub async fn copy_mode_puts_data_in_the_registry(scenario: &Scenario<'_>) -> Result<()> {
    let source = scenario.bucket("pkg-src").await?;
    let registry_bucket = scenario.bucket("pkg-reg").await?;
    put(scenario, &source, "in/one.txt", "one\n").await?;
    put(scenario, &source, "in/deep/two.txt", "two\n").await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let registry = format!("s3://{registry_bucket}");

    call(
        &client,
        "package_create",
        json!({"package_name": "team/copied", "registry": registry, "s3_uris": [format!("s3://{source}/in/")], "copy": true}),
    )
    .await?;
    let browse = call(
        &client,
        "package_browse",
        json!({"package_name": "team/copied", "registry": registry}),
    )
    .await?;
    ensure!(keys(&browse) == ["deep/two.txt", "one.txt"], "{browse}");
    let two = entry(&browse, "deep/two.txt")?;
    ensure!(
        two["physical_key"] == format!("s3://{registry_bucket}/team/copied/deep/two.txt").as_str(),
        "{two}"
    );
    ensure!(two["hash"]["value"] == TWO_HASH, "{two}");
    let copied = text(
        scenario
            .admin()
            .get_object(&registry_bucket, "team/copied/one.txt")
            .await?,
    );
    ensure!(copied == "one\n", "copied {copied:?}");
    Ok(())
}

pub async fn versioned_bucket_pins_versions(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("pkg-versions").await?;
    let admin = scenario.admin();
    admin.enable_versioning(&bucket).await?;
    put(scenario, &bucket, "doc.txt", "one\n").await?;
    let packaged = admin.put_object(&bucket, "doc.txt", "two\n").send().await?;
    let version = packaged
        .version_id
        .context("SeaweedFS gave no version id")?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let registry = format!("s3://{bucket}");

    call(
        &client,
        "package_create",
        json!({"package_name": "team/versions", "registry": registry, "s3_uris": [format!("s3://{bucket}/doc.txt")]}),
    )
    .await?;
    admin
        .put_object(&bucket, "doc.txt", "three\n")
        .send()
        .await?;
    let browse = call(
        &client,
        "package_browse",
        json!({"package_name": "team/versions", "registry": registry}),
    )
    .await?;
    let doc = entry(&browse, "doc.txt")?;
    ensure!(
        doc["physical_key"] == format!("s3://{bucket}/doc.txt?versionId={version}").as_str(),
        "{doc}"
    );
    ensure!(doc["hash"]["value"] == TWO_HASH, "{doc}");
    let downloaded = reqwest::get(doc["signed_url"].as_str().context("signed_url")?)
        .await?
        .text()
        .await?;
    ensure!(
        downloaded == "two\n",
        "the link follows the newer version: {downloaded:?}"
    );
    Ok(())
}

pub async fn update_then_diff(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("pkg-diff").await?;
    put(scenario, &bucket, "v1/one.txt", "one\n").await?;
    put(scenario, &bucket, "v1/two.txt", "two\n").await?;
    put(scenario, &bucket, "v2/two.txt", "two, changed\n").await?;
    put(scenario, &bucket, "v2/three.txt", "three\n").await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let registry = format!("s3://{bucket}");

    let first = call(
        &client,
        "package_create",
        json!({"package_name": "team/diff", "registry": registry, "s3_uris": [format!("s3://{bucket}/v1/")], "metadata": {"stage": "raw"}}),
    )
    .await?;
    let second = call(
        &client,
        "package_update",
        json!({"package_name": "team/diff", "registry": registry, "s3_uris": [format!("s3://{bucket}/v2/")], "message": "more"}),
    )
    .await?;
    ensure!(
        second["entries"] == 3 && second["top_hash"] != first["top_hash"],
        "{second}"
    );
    let browse = call(
        &client,
        "package_browse",
        json!({"package_name": "team/diff", "registry": registry}),
    )
    .await?;
    ensure!(
        keys(&browse) == ["one.txt", "three.txt", "two.txt"],
        "{browse}"
    );
    ensure!(
        browse["user_meta"] == json!({"stage": "raw"}) && browse["message"] == "more",
        "kept metadata: {browse}"
    );

    let diff = call(
        &client,
        "package_diff",
        json!({"package1_name": "team/diff", "package2_name": "team/diff", "registry": registry, "package1_hash": first["top_hash"]}),
    )
    .await?;
    ensure!(
        diff["added"] == json!([{"logical_key": "three.txt", "size": 6}]),
        "{diff}"
    );
    ensure!(
        diff["removed"] == json!([]) && diff["unchanged"] == 1,
        "{diff}"
    );
    ensure!(
        diff["changed"]
            == json!([{"logical_key": "two.txt", "size1": 4, "size2": 13, "hash1": TWO_HASH, "hash2": TWO_CHANGED_HASH}]),
        "{diff}"
    );
    ensure!(diff["package2_hash"] == second["top_hash"], "{diff}");
    ensure!(
        entry(&browse, "one.txt")?["hash"]["value"] == ONE_HASH,
        "{browse}"
    );
    Ok(())
}

pub async fn delete_revision_then_whole_package(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("pkg-delete").await?;
    put(scenario, &bucket, "one.txt", "one\n").await?;
    put(scenario, &bucket, "two.txt", "two\n").await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let registry = format!("s3://{bucket}");
    let name = "team/gone";

    let first = call(
        &client,
        "package_create",
        json!({"package_name": name, "registry": registry, "s3_uris": [format!("s3://{bucket}/one.txt")]}),
    )
    .await?;
    let second = call(
        &client,
        "package_update",
        json!({"package_name": name, "registry": registry, "s3_uris": [format!("s3://{bucket}/two.txt")]}),
    )
    .await?;
    let deleted = call(
        &client,
        "package_delete",
        json!({"package_name": name, "registry": registry, "top_hash": &second["top_hash"].as_str().context("hash")?[..12]}),
    )
    .await?;
    ensure!(
        deleted["latest"] == first["top_hash"],
        "latest repaired: {deleted}"
    );
    let browse = call(
        &client,
        "package_browse",
        json!({"package_name": name, "registry": registry}),
    )
    .await?;
    ensure!(
        browse["top_hash"] == first["top_hash"] && keys(&browse) == ["one.txt"],
        "{browse}"
    );

    let whole = call(
        &client,
        "package_delete",
        json!({"package_name": name, "registry": registry}),
    )
    .await?;
    ensure!(
        whole["deleted_pointers"]
            .as_array()
            .is_some_and(|p| p.len() == 2),
        "{whole}"
    );
    let missing = fail(
        &client,
        "package_browse",
        json!({"package_name": name, "registry": registry}),
    )
    .await?;
    ensure!(
        missing.contains("There is no package 'team/gone'"),
        "{missing}"
    );
    let listed = call(&client, "packages_list", json!({"registry": registry})).await?;
    ensure!(listed["packages"] == json!([]), "{listed}");
    Ok(())
}

pub async fn package_errors(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("pkg-errors").await?;
    put(scenario, &bucket, "a/x.txt", "one\n").await?;
    put(scenario, &bucket, "b/x.txt", "two\n").await?;
    // Two manifests sharing the prefix abcdef0, and a pointer to the first.
    let first = format!("abcdef01{}", "0".repeat(56));
    let second = format!("abcdef02{}", "0".repeat(56));
    for hash in [&first, &second] {
        put(
            scenario,
            &bucket,
            &format!(".quilt/packages/{hash}"),
            "{\"version\": \"v0\"}\n",
        )
        .await?;
    }
    put(
        scenario,
        &bucket,
        ".quilt/named_packages/team/p/latest",
        first.as_str(),
    )
    .await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let registry = format!("s3://{bucket}");
    let browse_at =
        |hash: &str| json!({"package_name": "team/p", "registry": registry, "top_hash": hash});

    let ambiguous = fail(&client, "package_browse", browse_at("abcdef0")).await?;
    ensure!(
        ambiguous.contains("matches 2 revisions")
            && ambiguous.contains(&first)
            && ambiguous.contains(&second),
        "{ambiguous}"
    );
    // A unique prefix resolves, but these planted manifests do not hash to their names.
    let tampered = fail(&client, "package_browse", browse_at("ABCDEF02")).await?;
    ensure!(
        tampered.contains(&format!(
            "The manifest at s3://{bucket}/.quilt/packages/{second} does not hash to {second}"
        )) && tampered.contains("tampered with"),
        "{tampered}"
    );
    let none = fail(&client, "package_browse", browse_at("abcdef9")).await?;
    ensure!(none.contains("No revision of 'team/p'"), "{none}");
    let short = fail(&client, "package_browse", browse_at("abcde")).await?;
    ensure!(
        short.contains("'top_hash'") && short.contains("7 to 64"),
        "{short}"
    );
    let no_tag = fail(
        &client,
        "package_browse",
        json!({"package_name": "team/p", "registry": registry, "tag": "v9"}),
    )
    .await?;
    ensure!(no_tag.contains("no tag 'v9'"), "{no_tag}");

    let duplicates = fail(
        &client,
        "package_create",
        json!({"package_name": "team/dup", "registry": registry, "s3_uris": [format!("s3://{bucket}/a/x.txt"), format!("s3://{bucket}/b/x.txt")]}),
    )
    .await?;
    ensure!(
        duplicates.contains("same logical key: x.txt"),
        "{duplicates}"
    );
    let bad_name = fail(
        &client,
        "package_create",
        json!({"package_name": "nonamespace", "registry": registry, "s3_uris": [format!("s3://{bucket}/a/x.txt")]}),
    )
    .await?;
    ensure!(
        bad_name.contains("'package_name'") && bad_name.contains("namespace/name"),
        "{bad_name}"
    );
    let missing_object = fail(
        &client,
        "package_create",
        json!({"package_name": "team/none", "registry": registry, "s3_uris": [format!("s3://{bucket}/nope.txt")]}),
    )
    .await?;
    ensure!(missing_object.contains("No object at"), "{missing_object}");
    let no_update = fail(
        &client,
        "package_update",
        json!({"package_name": "team/none", "registry": registry, "s3_uris": [format!("s3://{bucket}/a/x.txt")]}),
    )
    .await?;
    ensure!(
        no_update.contains("There is no package 'team/none'"),
        "{no_update}"
    );
    Ok(())
}

pub async fn denied_create_leaves_no_pointer(scenario: &Scenario<'_>) -> Result<()> {
    let mut spec = scenario.spec(Guest::Tools);
    spec.credentials = READER.static_source_flags();
    let host = scenario.start(spec).await?;
    let client = scenario.client(&host);
    let registry = format!("s3://{READ_ONLY_BUCKET}");
    let denied = fail(
        &client,
        "package_create",
        json!({"package_name": "team/denied", "registry": registry, "s3_uris": [format!("s3://{READ_ONLY_BUCKET}/README.md")]}),
    )
    .await?;
    ensure!(
        denied.contains("Access denied: s3:PutObject") && denied.contains(".quilt/packages/"),
        "{denied}"
    );
    let pointer = scenario
        .admin()
        .get_object(READ_ONLY_BUCKET, ".quilt/named_packages/team/denied/latest")
        .await;
    ensure!(
        pointer.is_err(),
        "a latest pointer was written for a failed create"
    );
    Ok(())
}

/// Drives the real quilt3 client (7.2.0, from the project's tools virtualenv) at SeaweedFS.
/// `browse` without a top hash resolves the name through the `latest` pointer, as people do;
/// `push-workflow` pushes under a bucket workflow with the metadata and message given.
const QUILT3_SCRIPT: &str = r#"
import json, sys
import quilt3
from quilt3 import Package
mode, args = sys.argv[1], sys.argv[2:]
if mode == "browse":
    registry, name = args[:2]
    package = Package.browse(name, registry=registry, top_hash=args[2] if len(args) > 2 else None)
    verified = []
    for key, entry in package.walk():
        entry._verify_hash(entry.get_bytes())  # raises on a mismatch
        verified.append(key)
    print(json.dumps({"top_hash": package.top_hash, "verified": verified, "header": package._meta}))
elif mode == "list":
    registry, name = args
    print(json.dumps({
        "packages": sorted(quilt3.list_packages(registry)),
        "versions": sorted(quilt3.list_package_versions(name, registry=registry)),
    }))
elif mode == "load":
    with open(args[0]) as manifest:
        package = Package.load(manifest)
    print(json.dumps({"top_hash": package.top_hash, "header": package._meta, "keys": [key for key, _ in package.walk()]}))
elif mode == "push-workflow":
    registry, name, workflow, meta, message = args[:5]
    package = Package()
    for pair in args[5:]:
        logical_key, s3_uri = pair.split("=", 1)
        package.set(logical_key, s3_uri)
    package.set_meta(json.loads(meta))
    pushed = package.push(name, registry=registry, message=message, workflow=workflow, selector_fn=lambda k, e: False, force=True)
    manifest = pushed._meta
    print(json.dumps({"top_hash": pushed.top_hash, "header": manifest}))
else:
    registry, name = args[:2]
    package = Package()
    for pair in args[2:]:
        logical_key, s3_uri = pair.split("=", 1)
        package.set(logical_key, s3_uri)
    package.set_meta({"by": "quilt3"})
    pushed = package.push(name, registry=registry, message="from quilt3", selector_fn=lambda k, e: False, force=True)
    print(json.dumps({"top_hash": pushed.top_hash}))
"#;

pub(crate) async fn quilt3(scenario: &Scenario<'_>, arguments: &[&str]) -> Result<Value> {
    let python = std::env::var("QUILT_MCP_QUILT3_PYTHON")
        .context("QUILT_MCP_QUILT3_PYTHON (set by make test)")?;
    let home = tempfile::tempdir()?;
    let output = tokio::process::Command::new(python)
        .arg("-c")
        .arg(QUILT3_SCRIPT)
        .args(arguments)
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path())
        .env(
            "AWS_ACCESS_KEY_ID",
            quilt_mcp_tests::seaweedfs::ADMIN.access_key_id,
        )
        .env(
            "AWS_SECRET_ACCESS_KEY",
            quilt_mcp_tests::seaweedfs::ADMIN.secret_access_key,
        )
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env(
            "AWS_ENDPOINT_URL",
            scenario
                .stack
                .seaweed
                .s3_endpoint
                .as_str()
                .trim_end_matches('/'),
        )
        .env("QUILT_DISABLE_USAGE_METRICS", "true")
        .output()
        .await?;
    ensure!(
        output.status.success(),
        "quilt3 {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().context("quilt3 printed nothing")?;
    Ok(serde_json::from_str(last)?)
}

pub async fn quilt3_reads_ours_and_we_read_its(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("pkg-quilt3").await?;
    put(scenario, &bucket, "src/a.txt", "hello\n").await?;
    put(scenario, &bucket, "src/deep/b c.txt", "one\n").await?;
    put(scenario, &bucket, "src/été.txt", "two\n").await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let registry = format!("s3://{bucket}");

    // Ours, read by quilt3: same top hash, every entry's bytes verify.
    let ours = call(
        &client,
        "package_create",
        json!({"package_name": "mcp/made", "registry": registry, "s3_uris": [format!("s3://{bucket}/src/")],
               "metadata": {"n": 1, "x": 0.5, "s": "ü"}, "message": "by mcp"}),
    )
    .await?;
    let top_hash = ours["top_hash"].as_str().context("top_hash")?;
    let seen = quilt3(scenario, &["browse", &registry, "mcp/made", top_hash]).await?;
    ensure!(
        seen["top_hash"] == top_hash,
        "quilt3 computes {seen} for ours {ours}"
    );
    ensure!(
        seen["verified"] == json!(["a.txt", "deep/b c.txt", "été.txt"]),
        "{seen}"
    );

    // Theirs, read and diffed by us.
    let theirs = quilt3(
        scenario,
        &[
            "push",
            &registry,
            "quilt3/made",
            &format!("a.txt=s3://{bucket}/src/a.txt"),
            &format!("deep/b c.txt=s3://{bucket}/src/deep/b c.txt"),
        ],
    )
    .await?;
    let browse = call(
        &client,
        "package_browse",
        json!({"package_name": "quilt3/made", "registry": registry}),
    )
    .await?;
    ensure!(
        browse["top_hash"] == theirs["top_hash"],
        "{browse} vs {theirs}"
    );
    ensure!(
        browse["message"] == "from quilt3" && browse["user_meta"] == json!({"by": "quilt3"}),
        "{browse}"
    );
    ensure!(
        entry(&browse, "a.txt")?["hash"]["value"] == HELLO_HASH,
        "{browse}"
    );
    let diff = call(
        &client,
        "package_diff",
        json!({"package1_name": "quilt3/made", "package2_name": "mcp/made", "registry": registry}),
    )
    .await?;
    ensure!(
        diff["added"] == json!([{"logical_key": "été.txt", "size": 4}]),
        "{diff}"
    );
    ensure!(
        diff["unchanged"] == 2 && diff["changed"] == json!([]) && diff["removed"] == json!([]),
        "{diff}"
    );
    Ok(())
}

/// quilt3 resolves our package by name (through our `latest` pointer, never by a hash it
/// was given) and lists it with our timestamp pointers, reading the metadata we wrote.
pub async fn quilt3_resolves_ours_by_name_and_lists_it(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("pkg-quilt3-named").await?;
    put(scenario, &bucket, "src/a.txt", "hello\n").await?;
    put(scenario, &bucket, "src/b.txt", "one\n").await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let registry = format!("s3://{bucket}");
    let create = |uri: String, meta: Value, message: &str| {
        json!({"package_name": "mcp/named", "registry": registry, "s3_uris": [uri],
               "metadata": meta, "message": message})
    };
    let first_meta = json!({"round": 1});
    let first = call(
        &client,
        "package_create",
        create(format!("s3://{bucket}/src/a.txt"), first_meta, "first"),
    )
    .await?;
    let second_meta = json!({"round": 2, "nested": {"x": [1, 2.5, "é"]}, "none": null});
    let second = call(
        &client,
        "package_update",
        create(
            format!("s3://{bucket}/src/b.txt"),
            second_meta.clone(),
            "second",
        ),
    )
    .await?;

    let seen = quilt3(scenario, &["browse", &registry, "mcp/named"]).await?;
    ensure!(
        seen["top_hash"] == second["top_hash"],
        "quilt3 resolves latest to {seen}, we wrote {second}"
    );
    ensure!(seen["verified"] == json!(["a.txt", "b.txt"]), "{seen}");
    ensure!(
        seen["header"]["user_meta"] == second_meta && seen["header"]["message"] == "second",
        "quilt3 reads the metadata {seen}, we wrote {second_meta}"
    );

    let listed = quilt3(scenario, &["list", &registry, "mcp/named"]).await?;
    ensure!(listed["packages"] == json!(["mcp/named"]), "{listed}");
    let pointer =
        |revision: &Value| json!([revision["timestamp"].to_string(), revision["top_hash"]]);
    let mut expected = vec![
        pointer(&first),
        pointer(&second),
        json!(["latest", second["top_hash"]]),
    ];
    expected.sort_by_key(Value::to_string);
    ensure!(
        listed["versions"] == Value::Array(expected.clone()),
        "quilt3 lists {listed}, we wrote {expected:?}"
    );
    Ok(())
}

/// A manifest with duplicate JSON keys reads as quilt3 (Python's json) reads it, last value
/// wins, and so hashes to the name quilt3 computes for it: we accept it under that name.
pub async fn duplicate_manifest_keys_read_as_quilt3_reads_them(
    scenario: &Scenario<'_>,
) -> Result<()> {
    let bucket = scenario.bucket("pkg-dup-keys").await?;
    put(scenario, &bucket, "a.txt", "hello\n").await?;
    let header = r#"{"version": "v0", "message": "first", "user_meta": {"k": 1, "k": 2}, "message": "last"}"#;
    let entry_line = format!(
        r#"{{"logical_key": "first.txt", "physical_keys": ["s3://{bucket}/a.txt"], "size": 9, "hash": {{"type": "sha2-256-chunked", "value": "{HELLO_HASH}"}}, "meta": {{}}, "logical_key": "last.txt", "size": 6}}"#
    );
    let manifest = format!("{header}\n{entry_line}\n");
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("manifest.jsonl");
    std::fs::write(&path, &manifest)?;
    let theirs = quilt3(scenario, &["load", &path.to_string_lossy()]).await?;
    ensure!(
        theirs["keys"] == json!(["last.txt"]) && theirs["header"]["message"] == "last",
        "{theirs}"
    );
    let top_hash = theirs["top_hash"].as_str().context("top_hash")?;
    put(
        scenario,
        &bucket,
        &format!(".quilt/packages/{top_hash}"),
        manifest,
    )
    .await?;
    put(
        scenario,
        &bucket,
        ".quilt/named_packages/team/dup/latest",
        top_hash,
    )
    .await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let browse = call(
        &client,
        "package_browse",
        json!({"package_name": "team/dup", "registry": format!("s3://{bucket}")}),
    )
    .await?;
    ensure!(
        browse["top_hash"] == top_hash
            && browse["message"] == "last"
            && browse["user_meta"] == theirs["header"]["user_meta"]
            && keys(&browse) == ["last.txt"]
            && entry(&browse, "last.txt")?["size"] == 6,
        "we read {browse}, quilt3 read {theirs}"
    );
    Ok(())
}

/// The manifest limits are the deployment's: a host started with lower ones refuses a
/// package past them, naming the limit, and writes nothing.
pub async fn manifest_limits_come_from_configuration(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("pkg-limits").await?;
    for key in ["in/a.txt", "in/b.txt", "in/c.txt"] {
        put(scenario, &bucket, key, "x").await?;
    }
    let mut spec = scenario.spec(Guest::Tools);
    spec.extra = ["--max-manifest-entries", "2"].map(String::from).to_vec();
    let host = scenario.start(spec).await?;
    let client = scenario.client(&host);
    let registry = format!("s3://{bucket}");
    let refused = fail(
        &client,
        "package_create",
        json!({"package_name": "team/big", "registry": registry,
               "s3_uris": (["a", "b", "c"].map(|k| format!("s3://{bucket}/in/{k}.txt")))}),
    )
    .await?;
    ensure!(
        refused.contains("3 entries") && refused.contains("over the 2"),
        "{refused}"
    );
    let listed = call(&client, "packages_list", json!({"registry": registry})).await?;
    ensure!(
        listed["packages"].as_array().is_some_and(Vec::is_empty),
        "{listed}"
    );
    Ok(())
}
