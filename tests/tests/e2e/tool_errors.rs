//! Tool failures a person can act on: missing objects and buckets, bad arguments, and
//! S3 refusing an identity — all `isError: true` results naming what went wrong.

use anyhow::{Result, ensure};
use quilt_mcp_tests::seaweedfs::{READ_ONLY_BUCKET, READER};
use serde_json::json;

use crate::support::{Guest, SUBJECT, Scenario};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    missing_object_and_bucket,
    bad_arguments_name_the_argument,
    read_only_identity_is_denied,
];

pub async fn missing_object_and_bucket(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("missing").await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let missing = format!("s3://{bucket}/no/such/key.txt");

    for tool in [
        "bucket_object_text",
        "bucket_object_fetch",
        "bucket_object_info",
    ] {
        let message = client
            .call_tool(tool, json!({"s3_uri": missing}))
            .await?
            .failure()?;
        ensure!(
            message.contains(&format!("No object at {missing}")),
            "{tool}: {message}"
        );
    }
    let absent_bucket = format!("{bucket}-absent");
    let message = client
        .call_tool("bucket_objects_list", json!({"bucket": absent_bucket}))
        .await?
        .failure()?;
    ensure!(
        message.contains(&format!("Bucket '{absent_bucket}' does not exist")),
        "list: {message}"
    );
    let message = client
        .call_tool(
            "bucket_object_text",
            json!({"s3_uri": format!("s3://{absent_bucket}/k")}),
        )
        .await?
        .failure()?;
    ensure!(
        message.contains(&absent_bucket),
        "text in a missing bucket: {message}"
    );
    Ok(())
}

pub async fn bad_arguments_name_the_argument(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    for (tool, arguments, named) in [
        ("bucket_object_text", json!({}), "s3_uri"),
        ("bucket_object_text", json!({"s3_uri": 17}), "s3_uri"),
        // A value of the right type but the wrong form: the message shows the right form.
        (
            "bucket_object_info",
            json!({"s3_uri": "https://example.test/not-s3"}),
            "s3://",
        ),
        ("bucket_objects_list", json!({}), "bucket"),
        (
            "bucket_objects_list",
            json!({"bucket": READ_ONLY_BUCKET, "max_keys": "ten"}),
            "max_keys",
        ),
        (
            "bucket_objects_list",
            json!({"bucket": READ_ONLY_BUCKET, "max_keys": 0}),
            "max_keys",
        ),
        (
            "bucket_objects_list",
            json!({"bucket": READ_ONLY_BUCKET, "max_keys": 1001}),
            "max_keys",
        ),
        (
            "bucket_objects_put",
            json!({"bucket": READ_ONLY_BUCKET}),
            "items",
        ),
    ] {
        let message = client.call_tool(tool, arguments.clone()).await?.failure()?;
        ensure!(
            message.contains(named),
            "{tool} {arguments}: message {message:?} does not mention {named}"
        );
    }
    Ok(())
}

pub async fn read_only_identity_is_denied(scenario: &Scenario<'_>) -> Result<()> {
    let other_bucket = scenario.bucket("not-for-reader").await?;
    scenario
        .admin()
        .put_object(&other_bucket, "private.txt", "private")
        .send()
        .await?;
    let mut spec = scenario.spec(Guest::Tools);
    spec.credentials = READER.static_source_flags();
    let host = scenario.start(spec).await?;
    let client = scenario.client(&host);

    let listing = client
        .call_tool("bucket_objects_list", json!({"bucket": READ_ONLY_BUCKET}))
        .await?
        .success()?;
    ensure!(
        listing["objects"]
            .as_array()
            .is_some_and(|objects| !objects.is_empty()),
        "{listing}"
    );
    let readme = format!("s3://{READ_ONLY_BUCKET}/README.md");
    client
        .call_tool("bucket_object_text", json!({"s3_uri": readme}))
        .await?
        .success()?;

    let denials = [
        client
            .call_tool("bucket_objects_list", json!({"bucket": other_bucket}))
            .await?
            .failure()?,
        client
            .call_tool(
                "bucket_object_text",
                json!({"s3_uri": format!("s3://{other_bucket}/private.txt")}),
            )
            .await?
            .failure()?,
    ];
    for message in &denials {
        ensure!(
            message.contains("Access denied"),
            "reading another bucket: {message}"
        );
        ensure!(
            message.contains(SUBJECT) && message.contains("static"),
            "the denial names neither caller nor source: {message}"
        );
    }

    let put = client
        .call_tool(
            "bucket_objects_put",
            json!({"bucket": READ_ONLY_BUCKET, "items": [{"key": "new.txt", "text": "no"}]}),
        )
        .await?;
    ensure!(
        put.is_error,
        "a write with read-only credentials succeeded: {}",
        put.structured
    );
    ensure!(
        put.text.contains("Access denied"),
        "write denial: {}",
        put.text
    );
    Ok(())
}
