//! Every tool against real SeaweedFS through the real host: data arranged with a
//! native S3 client, read and written through MCP, and checked both ways.

use anyhow::{Result, ensure};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use quilt_mcp_tests::seaweedfs::ADMIN;
use serde_json::{Value, json};

use crate::support::{Guest, SUBJECT, Scenario};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    auth_status,
    list_objects,
    list_objects_pages,
    object_info,
    object_text,
    object_text_encodings,
    object_fetch,
    object_link,
    put_then_read_back,
    put_reports_each_item,
    versioned_objects,
];

/// Objects with a two-level layout, for listing with prefixes and delimiters.
const LAYOUT: [(&str, &str); 4] = [
    ("README.md", "# Demo\n"),
    ("data/a.csv", "id,value\n1,alpha\n"),
    ("data/b.csv", "id,value\n2,beta\n"),
    ("data/nested/c.json", "{\"c\": 3}"),
];

async fn bucket_with_layout(scenario: &Scenario<'_>, label: &str) -> Result<String> {
    let bucket = scenario.bucket(label).await?;
    for (key, body) in LAYOUT {
        scenario
            .admin()
            .put_object(&bucket, key, body)
            .send()
            .await?;
    }
    Ok(bucket)
}

pub async fn auth_status(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Tools).await?;
    let outcome = scenario
        .client(&host)
        .call_tool("auth_status", json!({}))
        .await?;
    let text_form: Value = serde_json::from_str(&outcome.text)?;
    let status = outcome.success()?;
    ensure!(
        text_form == status,
        "the text content is not the structured result: {text_form} vs {status}"
    );
    ensure!(status["authenticated"] == true, "{status}");
    ensure!(status["caller"]["subject"] == SUBJECT, "{status}");
    ensure!(
        status["caller"]["issuer"] == scenario.stack.issuer().as_str(),
        "{status}"
    );
    let credentials = &status["credentials"];
    ensure!(credentials["source"] == "static", "{credentials}");
    ensure!(credentials["temporary"] == false, "{credentials}");
    let last_four = &ADMIN.access_key_id[ADMIN.access_key_id.len() - 4..];
    ensure!(
        credentials["access_key_id"] == format!("****{last_four}").as_str(),
        "{credentials}"
    );
    ensure!(
        !status.to_string().contains(ADMIN.secret_access_key),
        "the secret key is shown"
    );
    ensure!(status["region"] == "us-east-1", "{status}");
    let endpoint = scenario
        .stack
        .seaweed
        .s3_endpoint
        .as_str()
        .trim_end_matches('/');
    ensure!(
        status["s3_endpoint"]
            .as_str()
            .map(|url| url.trim_end_matches('/'))
            == Some(endpoint),
        "{status}"
    );
    Ok(())
}

pub async fn list_objects(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = bucket_with_layout(scenario, "list").await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);

    let top = client
        .call_tool(
            "bucket_objects_list",
            json!({"bucket": bucket, "delimiter": "/"}),
        )
        .await?
        .success()?;
    ensure!(keys_of(&top) == ["README.md"], "top level: {top}");
    ensure!(
        top["common_prefixes"] == json!(["data/"]),
        "top level: {top}"
    );
    ensure!(
        top["is_truncated"] == false && top["key_count"].is_u64(),
        "top level: {top}"
    );

    let data = client
        .call_tool(
            "bucket_objects_list",
            json!({"bucket": format!("s3://{bucket}"), "prefix": "data/", "delimiter": "/"}),
        )
        .await?
        .success()?;
    ensure!(
        keys_of(&data) == ["data/a.csv", "data/b.csv"],
        "data/: {data}"
    );
    ensure!(
        data["common_prefixes"] == json!(["data/nested/"]),
        "data/: {data}"
    );
    ensure!(
        data["prefix"] == "data/" && data["bucket"] == bucket.as_str(),
        "data/: {data}"
    );

    let everything = client
        .call_tool("bucket_objects_list", json!({"bucket": bucket}))
        .await?
        .success()?;
    ensure!(
        keys_of(&everything).len() == LAYOUT.len(),
        "no delimiter: {everything}"
    );
    for object in everything["objects"].as_array().into_iter().flatten() {
        let key = object["key"].as_str().unwrap_or_default();
        let (_, body) = LAYOUT
            .iter()
            .find(|(layout_key, _)| *layout_key == key)
            .expect("listed keys come from the layout");
        ensure!(
            object["s3_uri"] == format!("s3://{bucket}/{key}").as_str(),
            "{object}"
        );
        ensure!(object["size"] == body.len(), "{object}");
        ensure!(
            object["etag"].as_str().is_some_and(|etag| !etag.is_empty()),
            "{object}"
        );
        ensure!(object["last_modified"].is_string(), "{object}");
        let signed_url = object["signed_url"].as_str().unwrap_or_default();
        let fetched = reqwest::get(signed_url).await?.bytes().await?;
        ensure!(
            fetched == body.as_bytes(),
            "{key}: its signed_url gives {fetched:?}"
        );
    }

    let unsigned = client
        .call_tool(
            "bucket_objects_list",
            json!({"bucket": bucket, "include_signed_urls": false}),
        )
        .await?
        .success()?;
    let has_signed_url = unsigned["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|object| object["signed_url"].is_string());
    ensure!(
        !has_signed_url,
        "include_signed_urls=false still signs: {unsigned}"
    );
    Ok(())
}

pub async fn list_objects_pages(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("pages").await?;
    let keys: Vec<String> = (0..5).map(|n| format!("page/item-{n}.txt")).collect();
    for key in &keys {
        scenario
            .admin()
            .put_object(&bucket, key, key.as_bytes().to_vec())
            .send()
            .await?;
    }
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .call_tool(
                "bucket_objects_list",
                json!({"bucket": bucket, "max_keys": 2, "continuation_token": token}),
            )
            .await?
            .success()?;
        pages += 1;
        let page_keys = keys_of(&page);
        ensure!(page_keys.len() <= 2, "max_keys 2 gave {page}");
        seen.extend(page_keys);
        if page["is_truncated"] == false {
            ensure!(
                page["next_continuation_token"].is_null(),
                "last page: {page}"
            );
            break;
        }
        token = page["next_continuation_token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        ensure!(
            !token.is_empty() && pages < 5,
            "truncated page without a usable token: {page}"
        );
    }
    ensure!(seen == keys, "pages gave {seen:?}");
    ensure!(pages == 3, "5 keys at 2 a page took {pages} pages");
    Ok(())
}

pub async fn object_info(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("info").await?;
    let body = "id,value\n1,alpha\n";
    let put = scenario
        .admin()
        .put_object(&bucket, "tables/t.csv", body)
        .content_type("text/csv")
        .metadata("owner", "alice")
        .send()
        .await?;
    let host = scenario.host(Guest::Tools).await?;
    let s3_uri = format!("s3://{bucket}/tables/t.csv");
    let info = scenario
        .client(&host)
        .call_tool("bucket_object_info", json!({"s3_uri": s3_uri}))
        .await?
        .success()?;
    ensure!(
        info["s3_uri"] == s3_uri.as_str()
            && info["bucket"] == bucket.as_str()
            && info["key"] == "tables/t.csv",
        "{info}"
    );
    ensure!(info["size"] == body.len(), "{info}");
    ensure!(info["content_type"] == "text/csv", "{info}");
    ensure!(info["metadata"] == json!({"owner": "alice"}), "{info}");
    ensure!(info["version_id"].is_null(), "unversioned bucket: {info}");
    ensure!(info["last_modified"].is_string(), "{info}");
    let etag = info["etag"].as_str().unwrap_or_default();
    ensure!(
        etag.trim_matches('"') == put.etag.trim_matches('"'),
        "etag {etag} vs {}",
        put.etag
    );
    Ok(())
}

pub async fn object_text(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("text").await?;
    let admin = scenario.admin();
    admin
        .put_object(&bucket, "hello.txt", "hello world")
        .send()
        .await?;
    let long = "0123456789".repeat(10);
    admin
        .put_object(&bucket, "long.txt", long.clone())
        .send()
        .await?;
    admin
        .put_object(&bucket, "accents.txt", "ééééé")
        .send()
        .await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let text = async |key: &str, arguments: Value| {
        let mut arguments = arguments;
        arguments["s3_uri"] = json!(format!("s3://{bucket}/{key}"));
        client
            .call_tool("bucket_object_text", arguments)
            .await?
            .success()
    };

    let whole = text("hello.txt", json!({})).await?;
    ensure!(
        whole["text"] == "hello world" && whole["truncated"] == false,
        "{whole}"
    );
    ensure!(
        whole["bytes_read"] == 11 && whole["size"] == 11 && whole["encoding"].is_string(),
        "{whole}"
    );

    let head = text("long.txt", json!({"max_bytes": 10})).await?;
    ensure!(
        head["text"] == "0123456789" && head["truncated"] == true,
        "{head}"
    );
    ensure!(head["bytes_read"] == 10 && head["size"] == 100, "{head}");

    // 3 bytes cut the second two-byte character: only whole characters come back.
    let cut = text("accents.txt", json!({"max_bytes": 3})).await?;
    ensure!(cut["text"] == "é" && cut["truncated"] == true, "{cut}");
    Ok(())
}

pub async fn object_text_encodings(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("encodings").await?;
    scenario
        .admin()
        .put_object(&bucket, "latin1.txt", b"caf\xe9".to_vec())
        .send()
        .await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let s3_uri = format!("s3://{bucket}/latin1.txt");

    for encoding in ["latin-1", "iso-8859-1"] {
        let decoded = client
            .call_tool(
                "bucket_object_text",
                json!({"s3_uri": s3_uri, "encoding": encoding}),
            )
            .await?
            .success()?;
        ensure!(decoded["text"] == "café", "{encoding}: {decoded}");
    }
    let lossy = client
        .call_tool("bucket_object_text", json!({"s3_uri": s3_uri}))
        .await?
        .success()?;
    ensure!(
        lossy["text"] == "caf\u{fffd}",
        "utf-8 of latin-1 bytes: {lossy}"
    );
    let refused = client
        .call_tool(
            "bucket_object_text",
            json!({"s3_uri": s3_uri, "encoding": "utf-16"}),
        )
        .await?
        .failure()?;
    ensure!(
        refused.contains("utf-8") && refused.contains("latin-1"),
        "unsupported encoding message: {refused}"
    );
    Ok(())
}

pub async fn object_fetch(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("fetch").await?;
    let binary: Vec<u8> = (0..=255).collect();
    let admin = scenario.admin();
    admin
        .put_object(&bucket, "all-bytes.bin", binary.clone())
        .content_type("application/octet-stream")
        .send()
        .await?;
    admin
        .put_object(&bucket, "note.txt", "plain text")
        .send()
        .await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let fetch = async |key: &str, mut arguments: Value| {
        arguments["s3_uri"] = json!(format!("s3://{bucket}/{key}"));
        client.call_tool("bucket_object_fetch", arguments).await
    };

    let whole = fetch("all-bytes.bin", json!({})).await?.success()?;
    ensure!(decode(&whole)? == binary, "all-bytes.bin: {whole}");
    ensure!(
        whole["size"] == 256 && whole["bytes_read"] == 256 && whole["truncated"] == false,
        "{whole}"
    );
    ensure!(
        whole["content_type"] == "application/octet-stream",
        "{whole}"
    );

    let head = fetch("all-bytes.bin", json!({"max_bytes": 16}))
        .await?
        .success()?;
    ensure!(decode(&head)? == binary[..16], "first 16 bytes: {head}");
    ensure!(
        head["truncated"] == true && head["bytes_read"] == 16 && head["size"] == 256,
        "{head}"
    );

    let text = fetch("note.txt", json!({"base64_encode": false}))
        .await?
        .success()?;
    ensure!(text["text"] == "plain text", "{text}");
    let refused = fetch("all-bytes.bin", json!({"base64_encode": false}))
        .await?
        .failure()?;
    ensure!(
        refused.to_lowercase().contains("utf-8"),
        "binary without base64: {refused}"
    );
    Ok(())
}

pub async fn object_link(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("link").await?;
    scenario
        .admin()
        .put_object(&bucket, "shared/report.txt", "quarterly numbers")
        .send()
        .await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let s3_uri = format!("s3://{bucket}/shared/report.txt");
    let link = async |arguments: Value| {
        let mut arguments = arguments;
        arguments["s3_uri"] = json!(s3_uri);
        client.call_tool("bucket_object_link", arguments).await
    };

    let default = link(json!({})).await?.success()?;
    ensure!(
        default["expires_in"] == 3600 && default["s3_uri"] == s3_uri.as_str(),
        "{default}"
    );
    ensure!(
        default["expires_at"]
            .as_str()
            .is_some_and(|at| at.contains('T')),
        "expires_at is not RFC 3339: {default}"
    );
    let signed_url = default["signed_url"].as_str().unwrap_or_default();
    let response = reqwest::get(signed_url).await?;
    ensure!(
        response.status() == 200,
        "GET signed_url: HTTP {}",
        response.status()
    );
    ensure!(
        response.bytes().await? == "quarterly numbers".as_bytes(),
        "the signed URL gives other bytes"
    );

    let short = link(json!({"expiration": 900})).await?.success()?;
    ensure!(
        short["expires_in"] == 900 && short["capped"] != true,
        "{short}"
    );
    let capped = link(json!({"expiration": 10 * 24 * 3600}))
        .await?
        .success()?;
    ensure!(
        capped["expires_in"] == 604_800 && capped["capped"] == true,
        "{capped}"
    );
    let refused = link(json!({"expiration": 0})).await?.failure()?;
    ensure!(refused.contains("expiration"), "expiration 0: {refused}");
    Ok(())
}

pub async fn put_then_read_back(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("put").await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let binary = vec![0u8, 159, 146, 150, 255];
    let put = client
        .call_tool(
            "bucket_objects_put",
            json!({"bucket": bucket, "items": [
                {"key": "notes/hello.md", "text": "# Hello\n", "content_type": "text/markdown", "metadata": {"author": "alice"}},
                {"key": "raw/blob.bin", "data": BASE64.encode(&binary)},
            ]}),
        )
        .await?
        .success()?;
    ensure!(
        put["succeeded"] == 2 && put["failed"] == 0 && put["bucket"] == bucket.as_str(),
        "{put}"
    );
    for result in put["results"].as_array().into_iter().flatten() {
        ensure!(
            result["ok"] == true && result["etag"].is_string(),
            "{result}"
        );
        let key = result["key"].as_str().unwrap_or_default();
        ensure!(
            result["s3_uri"] == format!("s3://{bucket}/{key}").as_str(),
            "{result}"
        );
    }

    let admin = scenario.admin();
    ensure!(
        admin.get_object(&bucket, "notes/hello.md").await? == b"# Hello\n",
        "text item stored differently"
    );
    ensure!(
        admin.get_object(&bucket, "raw/blob.bin").await? == binary,
        "data item stored differently"
    );
    let info = client
        .call_tool(
            "bucket_object_info",
            json!({"s3_uri": format!("s3://{bucket}/notes/hello.md")}),
        )
        .await?
        .success()?;
    ensure!(
        info["content_type"] == "text/markdown" && info["metadata"] == json!({"author": "alice"}),
        "{info}"
    );
    let text = client
        .call_tool(
            "bucket_object_text",
            json!({"s3_uri": format!("s3://{bucket}/notes/hello.md")}),
        )
        .await?
        .success()?;
    ensure!(text["text"] == "# Hello\n", "{text}");
    Ok(())
}

pub async fn put_reports_each_item(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("put-items").await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let both = json!({"key": "both.txt", "text": "a", "data": BASE64.encode("a")});
    let neither = json!({"key": "neither.txt"});

    let mixed = client
        .call_tool(
            "bucket_objects_put",
            json!({"bucket": bucket, "items": [{"key": "fine.txt", "text": "fine"}, both]}),
        )
        .await?;
    ensure!(
        !mixed.is_error,
        "one item succeeded, yet isError: {}",
        mixed.text
    );
    let mixed = mixed.structured;
    ensure!(mixed["succeeded"] == 1 && mixed["failed"] == 1, "{mixed}");
    let failed = &mixed["results"][1];
    ensure!(
        failed["key"] == "both.txt" && failed["ok"] == false && failed["error"].is_string(),
        "{mixed}"
    );
    ensure!(
        scenario.admin().get_object(&bucket, "fine.txt").await? == b"fine",
        "fine.txt not stored"
    );

    let all_failed = client
        .call_tool(
            "bucket_objects_put",
            json!({"bucket": bucket, "items": [neither]}),
        )
        .await?;
    ensure!(
        all_failed.is_error,
        "every item failed, yet no isError: {}",
        all_failed.structured
    );
    Ok(())
}

pub async fn versioned_objects(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("versions").await?;
    let admin = scenario.admin();
    admin.enable_versioning(&bucket).await?;
    let first = admin.put_object(&bucket, "doc.txt", "first").send().await?;
    let second = admin
        .put_object(&bucket, "doc.txt", "second version")
        .send()
        .await?;
    let first_id = first.version_id.clone().unwrap_or_default();
    ensure!(
        !first_id.is_empty() && second.version_id != first.version_id,
        "SeaweedFS gave versions {first:?} {second:?}"
    );
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let latest_uri = format!("s3://{bucket}/doc.txt");
    let first_uri = format!("{latest_uri}?versionId={first_id}");

    let latest = client
        .call_tool("bucket_object_text", json!({"s3_uri": latest_uri}))
        .await?
        .success()?;
    ensure!(latest["text"] == "second version", "{latest}");
    let old = client
        .call_tool("bucket_object_text", json!({"s3_uri": first_uri}))
        .await?
        .success()?;
    ensure!(old["text"] == "first", "{old}");
    let info = client
        .call_tool("bucket_object_info", json!({"s3_uri": first_uri}))
        .await?
        .success()?;
    ensure!(
        info["version_id"] == first_id.as_str() && info["size"] == 5,
        "{info}"
    );
    let fetched = client
        .call_tool("bucket_object_fetch", json!({"s3_uri": first_uri}))
        .await?
        .success()?;
    ensure!(decode(&fetched)? == b"first", "{fetched}");

    let put = client
        .call_tool(
            "bucket_objects_put",
            json!({"bucket": bucket, "items": [{"key": "doc.txt", "text": "third"}]}),
        )
        .await?
        .success()?;
    let new_id = put["results"][0]["version_id"].as_str().unwrap_or_default();
    ensure!(
        !new_id.is_empty() && new_id != first_id,
        "put into a versioned bucket: {put}"
    );
    Ok(())
}

fn keys_of(listing: &Value) -> Vec<String> {
    listing["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|object| object["key"].as_str().map(str::to_string))
        .collect()
}

fn decode(fetched: &Value) -> Result<Vec<u8>> {
    Ok(BASE64.decode(fetched["data_base64"].as_str().unwrap_or_default())?)
}
