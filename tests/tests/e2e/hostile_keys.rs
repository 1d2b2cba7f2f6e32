//! Keys and buckets with `.`/`..` segments (issue 11, item 2) through the real host and
//! SeaweedFS: request URLs resolve such segments, so each would address another object,
//! another bucket or the bucket itself. Every one is a tool error naming it, the objects it
//! would have reached are untouched (checked behind the server's back), and the server
//! serves on. SeaweedFS cannot store such keys, so listings holding them are tested with a
//! recording fake in the guest's unit tests instead.

use anyhow::{Result, ensure};
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::sandbox_report::Attempt;
use serde_json::{Value, json};

use crate::support::{Guest, Scenario};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![dot_segments_are_refused_and_nothing_moves,];

const ORIGINAL: &str = "original\n";
const VICTIM: &str = "the victim's\n";

async fn refused(client: &McpClient, tool: &str, arguments: Value, named: &str) -> Result<()> {
    let outcome = client.call_tool(tool, arguments.clone()).await?;
    ensure!(
        outcome.is_error,
        "{tool} {arguments} was served: {}",
        outcome.text
    );
    ensure!(
        outcome.text.contains(named),
        "{tool} {arguments}: the error does not name {named}: {}",
        outcome.text
    );
    Ok(())
}

fn put_text(bucket: &str, key: &str) -> Value {
    json!({"bucket": bucket, "items": [{"key": key, "text": "overwritten\n"}]})
}

pub async fn dot_segments_are_refused_and_nothing_moves(scenario: &Scenario<'_>) -> Result<()> {
    let attempt = Attempt::new(
        "keys",
        "dir/../hello.txt, a/../../victim/x, ../newbucket, s3://b/., bucket ..",
        "tool errors naming each; nothing written, no bucket created; server still serving",
    );
    attempt.record(dot_segments_are_refused_and_nothing_moves_checked(scenario).await)
}

async fn dot_segments_are_refused_and_nothing_moves_checked(
    scenario: &Scenario<'_>,
) -> Result<String> {
    let bucket = scenario.bucket("hostile").await?;
    let victim = scenario.bucket("victim").await?;
    let admin = scenario.admin();
    admin
        .put_object(&bucket, "hello.txt", ORIGINAL)
        .send()
        .await?;
    admin.put_object(&victim, "x", VICTIM).send().await?;
    let new_bucket = format!("{bucket}-new");
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);

    let escape = format!("a/../../{victim}/x");
    let create = format!("../{new_bucket}");
    for (tool, arguments, named) in [
        (
            "bucket_objects_put",
            put_text(&bucket, "dir/../hello.txt"),
            "dir/../hello.txt",
        ),
        ("bucket_objects_put", put_text(&bucket, &escape), &escape),
        ("bucket_objects_put", put_text(&bucket, &create), &create),
        ("bucket_objects_put", put_text("..", "x"), "'..'"),
        ("bucket_objects_list", json!({"bucket": ".."}), "'..'"),
        (
            "bucket_object_text",
            json!({"s3_uri": format!("s3://{bucket}/.")}),
            "'.'",
        ),
        (
            "bucket_object_fetch",
            json!({"s3_uri": format!("s3://{bucket}/{escape}")}),
            &escape,
        ),
        (
            "bucket_object_info",
            json!({"s3_uri": format!("s3://{bucket}/%2E%2E/{victim}/x")}),
            &format!("'../{victim}/x'"),
        ),
        (
            "package_create",
            json!({"package_name": "team/p", "registry": format!("s3://{bucket}"),
                   "s3_uris": [format!("s3://{bucket}/dir/../hello.txt")]}),
            "dir/../hello.txt",
        ),
        (
            "package_browse",
            json!({"package_name": "team/p", "registry": format!("s3://{bucket}"),
                   "tag": format!("../../../../{victim}/x")}),
            &format!("../../../../{victim}/x"),
        ),
    ] {
        refused(&client, tool, arguments, named).await?;
    }

    let hello = admin.get_object(&bucket, "hello.txt").await?;
    ensure!(hello == ORIGINAL.as_bytes(), "hello.txt was overwritten");
    let x = admin.get_object(&victim, "x").await?;
    ensure!(
        x == VICTIM.as_bytes(),
        "the victim's object was overwritten"
    );
    let absent = admin.get_object(&new_bucket, "any").await;
    ensure!(
        absent
            .as_ref()
            .is_err_and(|e| e.to_string().contains("NoSuchBucket")),
        "bucket {new_bucket} was created: {absent:?}"
    );
    let pointer = admin
        .get_object(&bucket, ".quilt/named_packages/team/p/latest")
        .await;
    ensure!(pointer.is_err(), "a package was written");

    // The server serves on.
    let read = client
        .call_tool(
            "bucket_object_text",
            json!({"s3_uri": format!("s3://{bucket}/hello.txt")}),
        )
        .await?
        .success()?;
    ensure!(read["text"] == ORIGINAL, "{read}");
    Ok("each refused by name; victim objects untouched, no new bucket; still serving".into())
}
