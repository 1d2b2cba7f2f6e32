//! Previews and resources against real SeaweedFS: files made by pyarrow and Pillow (the
//! project's pinned venv), previewed through the host — an image received by the Python SDK
//! as image content of the right type and size, a Parquet file's schema and first rows as
//! pyarrow reads them, parts that follow each other — and objects and package entries read
//! as resources under the rules the tools follow.

use anyhow::{Context, Result, ensure};
use quilt_mcp_tests::artifacts::path_from_env;
use quilt_mcp_tests::seaweedfs::{READ_ONLY_BUCKET, READER};
use serde_json::{Value, json};
use tokio::process::Command;

use crate::clients::{run, script};
use crate::packages::{call, fail, put};
use crate::support::{Guest, Scenario};

crate::support::trials![
    an_image_reaches_a_real_client_as_image_content,
    parquet_schema_and_rows_match_pyarrow,
    a_long_table_comes_in_parts,
    resources_read_objects_and_entries_as_the_tools_do,
];

/// Writes the test files into `dir` with pyarrow and Pillow and prints what pyarrow reads
/// back from the Parquet ones: column names, types and the first rows.
const MAKE_FILES: &str = r#"
import json, sys
import pyarrow as pa, pyarrow.parquet as pq
from PIL import Image
out = sys.argv[1]
Image.new("RGB", (1600, 900), (200, 40, 90)).save(f"{out}/wide.png")
Image.new("RGB", (120, 80), (10, 20, 30)).save(f"{out}/small.jpg", quality=90)
table = pa.table({
    "sample": pa.array([f"s{i}" for i in range(1000)]),
    "reads": pa.array(list(range(1000)), type=pa.int64()),
    "ratio": pa.array([i / 8 for i in range(1000)], type=pa.float64()),
    "ok": pa.array([i % 3 == 0 for i in range(1000)]),
})
pq.write_table(table, f"{out}/table.parquet", compression="snappy", row_group_size=300)
pq.write_table(table, f"{out}/zstd.parquet", compression="zstd")
read = pq.read_table(f"{out}/table.parquet")
print(json.dumps({
    "names": read.schema.names,
    "types": [str(t) for t in read.schema.types],
    "rows": read.slice(0, 5).to_pylist(),
    "rows_from_298": read.slice(298, 4).to_pylist(),
    "total": read.num_rows,
}))
"#;

/// The files, in a bucket of their own, and what pyarrow said about them.
async fn files_bucket(scenario: &Scenario<'_>, label: &str) -> Result<(String, Value)> {
    let dir = tempfile::tempdir()?;
    let mut command = Command::new(path_from_env("QUILT_MCP_PYARROW_PYTHON")?);
    command.arg("-c").arg(MAKE_FILES).arg(dir.path());
    let printed = run(command, "pyarrow").await?;
    let seen: Value =
        serde_json::from_str(printed.lines().last().context("pyarrow printed nothing")?)?;
    let bucket = scenario.bucket(label).await?;
    for name in ["wide.png", "small.jpg", "table.parquet", "zstd.parquet"] {
        put(
            scenario,
            &bucket,
            name,
            std::fs::read(dir.path().join(name))?,
        )
        .await?;
    }
    Ok((bucket, seen))
}

pub async fn an_image_reaches_a_real_client_as_image_content(
    scenario: &Scenario<'_>,
) -> Result<()> {
    let (bucket, _) = files_bucket(scenario, "preview-image").await?;
    let host = scenario.host(Guest::Tools).await?;
    let mut command = Command::new(path_from_env("QUILT_MCP_PYTHON_MCP2")?);
    command
        .arg(script("python_preview.py"))
        .args([host.mcp_url(), format!("s3://{bucket}/wide.png")])
        .env("MCP_BEARER_TOKEN", scenario.token(&host));
    let printed = run(command, "the Python SDK").await?;
    let report: Value = serde_json::from_str(printed.lines().last().context("no report")?)?;
    ensure!(report["is_error"] == false, "{report}");
    let image = &report["blocks"][1];
    ensure!(
        image["type"] == "image"
            && image["mime_type"] == "image/png"
            && image["size"] == json!([768, 432]),
        "the image block: {report}"
    );
    let described = &report["structured"]["image"];
    ensure!(
        described["original_width"] == 1600
            && described["width"] == 768
            && described["unchanged"] == false,
        "{report}"
    );
    // A small JPEG goes as it is.
    let client = scenario.client(&host);
    let small = call(
        &client,
        "bucket_object_preview",
        json!({"s3_uri": format!("s3://{bucket}/small.jpg")}),
    )
    .await?;
    ensure!(
        small["image"]["mime_type"] == "image/jpeg"
            && small["image"]["unchanged"] == true
            && small["image"]["width"] == 120,
        "{small}"
    );
    Ok(())
}

pub async fn parquet_schema_and_rows_match_pyarrow(scenario: &Scenario<'_>) -> Result<()> {
    let (bucket, pyarrow) = files_bucket(scenario, "preview-parquet").await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let uri = format!("s3://{bucket}/table.parquet");
    let first = call(
        &client,
        "bucket_object_preview",
        json!({"s3_uri": uri, "max_rows": 5}),
    )
    .await?;
    let table = &first["table"];
    let names: Vec<&Value> = table["columns"]
        .as_array()
        .context("columns")?
        .iter()
        .map(|c| &c["name"])
        .collect();
    ensure!(json!(names) == pyarrow["names"], "{table} vs {pyarrow}");
    let types: Vec<String> = table["columns"]
        .as_array()
        .context("columns")?
        .iter()
        .map(|c| c["type"].to_string())
        .collect();
    ensure!(
        types[0].contains("BYTE_ARRAY")
            && types[1].contains("INT64")
            && types[2].contains("DOUBLE")
            && types[3].contains("BOOLEAN"),
        "{types:?} for pyarrow's {}",
        pyarrow["types"]
    );
    ensure!(
        as_records(table)? == pyarrow["rows"],
        "{table} vs {pyarrow}"
    );
    ensure!(
        table["total_rows"] == pyarrow["total"] && first["next_offset"] == 5,
        "{first}"
    );
    // Rows across a row-group boundary (groups of 300), from an offset.
    let later = call(
        &client,
        "bucket_object_preview",
        json!({"s3_uri": uri, "max_rows": 4, "offset": 298}),
    )
    .await?;
    ensure!(
        as_records(&later["table"])? == pyarrow["rows_from_298"],
        "{later} vs {pyarrow}"
    );
    let zstd = fail(
        &client,
        "bucket_object_preview",
        json!({"s3_uri": format!("s3://{bucket}/zstd.parquet")}),
    )
    .await?;
    ensure!(zstd.contains("ZSTD") && zstd.contains("Snappy"), "{zstd}");
    Ok(())
}

/// A table's rows as pyarrow's `to_pylist()` gives them: one object per row.
fn as_records(table: &Value) -> Result<Value> {
    let names: Vec<&str> = table["columns"]
        .as_array()
        .context("columns")?
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let rows = table["rows"].as_array().context("rows")?;
    Ok(Value::Array(
        rows.iter()
            .map(|row| {
                let cells = row.as_array().cloned().unwrap_or_default();
                Value::Object(names.iter().map(|n| n.to_string()).zip(cells).collect())
            })
            .collect(),
    ))
}

pub async fn a_long_table_comes_in_parts(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("preview-parts").await?;
    let mut csv = String::from("id,name\n");
    for i in 0..5000 {
        csv.push_str(&format!("{i},name-{i}\n"));
    }
    put(scenario, &bucket, "long.csv", csv.clone()).await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let uri = format!("s3://{bucket}/long.csv");
    let (mut offset, mut seen, mut parts) = (0u64, Vec::new(), 0);
    loop {
        let part = call(
            &client,
            "bucket_object_preview",
            json!({"s3_uri": uri, "offset": offset, "max_rows": 500, "max_bytes": 4096}),
        )
        .await?;
        let table = &part["table"];
        ensure!(
            table["columns"][0]["name"] == "id" && table["columns"][0]["type"] == "integer",
            "{part}"
        );
        for row in table["rows"].as_array().context("rows")? {
            seen.push(row[0].as_str().context("id")?.parse::<u32>()?);
        }
        parts += 1;
        match part["next_offset"].as_u64() {
            Some(next) => {
                ensure!(
                    part["note"]
                        .as_str()
                        .is_some_and(|n| n.contains(&format!("offset {next}"))),
                    "{part}"
                );
                offset = next;
            }
            None => break,
        }
        ensure!(parts < 100, "no end after 100 parts");
    }
    ensure!(
        seen == (0..5000).collect::<Vec<_>>(),
        "rows lost or repeated across {parts} parts"
    );
    ensure!(parts > 10, "{parts} parts of 4 KiB for {} bytes", csv.len());
    Ok(())
}

pub async fn resources_read_objects_and_entries_as_the_tools_do(
    scenario: &Scenario<'_>,
) -> Result<()> {
    let bucket = scenario.bucket("resources").await?;
    put(scenario, &bucket, "notes/a.txt", "hello\n").await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let listed = client.request("resources/list", json!({})).await?;
    ensure!(
        listed["resources"].as_array().is_some_and(|r| r.len() == 3),
        "{listed}"
    );
    let templates = client
        .request("resources/templates/list", json!({}))
        .await?;
    ensure!(
        templates["resourceTemplates"]
            .as_array()
            .is_some_and(|t| t.len() == 2),
        "{templates}"
    );
    let object = client
        .request(
            "resources/read",
            json!({"uri": format!("s3://{bucket}/notes/a.txt")}),
        )
        .await?;
    ensure!(object["contents"][0]["text"] == "hello\n", "{object}");
    call(
        &client,
        "package_create",
        json!({"package_name": "team/res", "registry": format!("s3://{bucket}"), "files": [{"logical_key": "x/readme.md", "text": "# Hi\n"}]}),
    )
    .await?;
    let entry_uri = format!("quilt+s3://{bucket}#package=team/res&path=x/readme.md");
    let entry = client
        .request("resources/read", json!({"uri": entry_uri}))
        .await?;
    ensure!(entry["contents"][0]["text"] == "# Hi\n", "{entry}");
    let me = client
        .request("resources/read", json!({"uri": "quilt-mcp://me"}))
        .await?;
    ensure!(
        me["contents"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("\"authenticated\":true")),
        "{me}"
    );
    let missing = client
        .send(
            "resources/read",
            json!({"uri": format!("s3://{bucket}/nope")}),
        )
        .await?
        .json()?;
    ensure!(missing["error"]["code"] == -32002, "{missing}");

    // A caller whose credentials reach only the read-only bucket: another bucket is refused,
    // as bucket_object_text refuses it.
    let mut spec = scenario.spec(Guest::Tools);
    spec.credentials = READER.static_source_flags();
    let reader_host = scenario.start(spec).await?;
    let reader = scenario.client(&reader_host);
    let denied = reader
        .send(
            "resources/read",
            json!({"uri": format!("s3://{bucket}/notes/a.txt")}),
        )
        .await?
        .json()?;
    let message = denied["error"]["message"].as_str().unwrap_or_default();
    ensure!(message.contains("Access denied"), "{denied}");
    let tool = fail(
        &reader,
        "bucket_object_text",
        json!({"s3_uri": format!("s3://{bucket}/notes/a.txt")}),
    )
    .await?;
    ensure!(tool.contains("Access denied"), "{tool}");
    let own = reader
        .request(
            "resources/read",
            json!({"uri": format!("s3://{READ_ONLY_BUCKET}/README.md")}),
        )
        .await?;
    ensure!(own["contents"][0]["uri"].is_string(), "{own}");
    Ok(())
}
