//! Bucket workflows and package editing against real SeaweedFS and the real quilt3: a bucket
//! whose `.quilt/workflows/config.yml` (the guest's fixture, pushed there) requires the
//! `checked` workflow takes a conforming package and records the workflow as quilt3 does —
//! quilt3, pushing the same package under the same workflow, gets the same top hash and
//! header bytes — refuses one that breaks the rules with every problem named and nothing
//! written, and `package_update` edits a package in one revision quilt3 reads and verifies.

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use crate::packages::{call, fail, put, quilt3};
use crate::support::{Guest, Scenario, crate_dir};

crate::support::trials![
    a_conforming_package_is_written_as_quilt3_writes_it,
    a_package_breaking_the_rules_is_refused_with_every_problem,
    a_required_workflow_cannot_be_skipped,
    one_revision_removes_renames_and_adds_inline_files,
    creating_over_a_package_needs_overwrite,
];

fn fixture(name: &str) -> Result<Vec<u8>> {
    let path = crate_dir()
        .join("../guest/src/package/testdata/workflow")
        .join(name);
    std::fs::read(&path).with_context(|| path.display().to_string())
}

/// A bucket holding the fixture's workflow config (schema URLs pointing into it, and
/// `config` edited by `edit`) and two objects, `src/README.md` and `src/data.csv`.
async fn workflow_bucket(
    scenario: &Scenario<'_>,
    label: &str,
    edit: impl Fn(String) -> String,
) -> Result<String> {
    let bucket = scenario.bucket(label).await?;
    let config = String::from_utf8(fixture("config.yml")?)?.replace("workflow-fixture", &bucket);
    put(
        scenario,
        &bucket,
        ".quilt/workflows/config.yml",
        edit(config),
    )
    .await?;
    for schema in ["metadata.schema.json", "entries.schema.json"] {
        let key = format!(".quilt/workflows/schemas/{schema}");
        put(scenario, &bucket, &key, fixture(schema)?).await?;
    }
    put(scenario, &bucket, "src/README.md", "# Readme\n").await?;
    put(scenario, &bucket, "src/data.csv", "a,b\n1,2\n").await?;
    Ok(bucket)
}

/// The manifest's first line, as written.
async fn header_line(scenario: &Scenario<'_>, bucket: &str, top_hash: &str) -> Result<String> {
    let manifest = scenario
        .admin()
        .get_object(bucket, &format!(".quilt/packages/{top_hash}"))
        .await?;
    let text = String::from_utf8(manifest)?;
    Ok(text.lines().next().context("empty manifest")?.to_owned())
}

pub async fn a_conforming_package_is_written_as_quilt3_writes_it(
    scenario: &Scenario<'_>,
) -> Result<()> {
    let bucket = workflow_bucket(scenario, "wf-ok", |c| c).await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let registry = format!("s3://{bucket}");
    // Sorted keys: serde_json (ours) and Python's dict (quilt3's) keep the same order.
    let meta = json!({"samples": 3, "tissue": "liver"});
    let arguments = json!({
        "package_name": "team/ours",
        "registry": registry,
        "s3_uris": [format!("s3://{bucket}/src/README.md"), format!("s3://{bucket}/src/data.csv")],
        "metadata": meta,
        "message": "under a workflow",
        "workflow": "checked",
    });
    let validated = call(&client, "package_validate", arguments.clone()).await?;
    ensure!(
        validated["valid"] == true && validated["workflow"] == "checked",
        "{validated}"
    );
    let ours = call(&client, "package_create", arguments).await?;
    ensure!(ours["workflow"] == "checked", "{ours}");
    let top_hash = ours["top_hash"].as_str().context("top_hash")?;

    let theirs = quilt3(
        scenario,
        &[
            "push-workflow",
            &registry,
            "team/theirs",
            "checked",
            &meta.to_string(),
            "under a workflow",
            &format!("README.md=s3://{bucket}/src/README.md"),
            &format!("data.csv=s3://{bucket}/src/data.csv"),
        ],
    )
    .await?;
    ensure!(
        theirs["top_hash"] == top_hash,
        "quilt3 pushed {theirs}, we wrote {ours}"
    );
    let ours_line = header_line(scenario, &bucket, top_hash).await?;
    ensure!(
        ours_line.contains(&format!(
            r#""workflow": {{"id": "checked", "config": "s3://{bucket}/.quilt/workflows/config.yml", "schemas": {{"metadata": "#
        )),
        "{ours_line}"
    );
    let seen = quilt3(scenario, &["browse", &registry, "team/ours"]).await?;
    ensure!(
        seen["header"]["workflow"] == theirs["header"]["workflow"],
        "quilt3 reads {seen}, pushed {theirs}"
    );
    Ok(())
}

pub async fn a_package_breaking_the_rules_is_refused_with_every_problem(
    scenario: &Scenario<'_>,
) -> Result<()> {
    let bucket = workflow_bucket(scenario, "wf-bad", |c| c).await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let arguments = json!({
        "package_name": "other/pkg",
        "registry": format!("s3://{bucket}"),
        "s3_uris": [format!("s3://{bucket}/src/data.csv")],
        "metadata": {"tissue": "skin", "samples": 0},
    });
    let refused = fail(&client, "package_create", arguments.clone()).await?;
    for problem in [
        "workflow 'checked'",
        "commit message is required",
        "'other/pkg' does not match the pattern ^team/",
        "metadata/tissue",
        "metadata/samples",
        "entries:",
        "nothing was written",
    ] {
        ensure!(refused.contains(problem), "{problem} not in: {refused}");
    }
    let pointer = scenario
        .admin()
        .get_object(&bucket, ".quilt/named_packages/other/pkg/latest")
        .await;
    ensure!(pointer.is_err(), "a refused package got a latest pointer");
    let validated = call(&client, "package_validate", arguments).await?;
    let problems = validated["problems"].as_array().context("problems")?;
    ensure!(
        validated["valid"] == false && problems.len() == 5,
        "{validated}"
    );
    Ok(())
}

pub async fn a_required_workflow_cannot_be_skipped(scenario: &Scenario<'_>) -> Result<()> {
    let no_default = |config: String| config.replace("default_workflow: checked\n", "");
    let bucket = workflow_bucket(scenario, "wf-required", no_default).await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let mut arguments = json!({
        "package_name": "team/p",
        "registry": format!("s3://{bucket}"),
        "s3_uris": [format!("s3://{bucket}/src/README.md")],
        "message": "m",
    });
    let omitted = fail(&client, "package_create", arguments.clone()).await?;
    ensure!(
        omitted.contains("requires a workflow") && omitted.contains("loose"),
        "{omitted}"
    );
    arguments["workflow"] = Value::Null;
    let none = fail(&client, "package_create", arguments.clone()).await?;
    ensure!(none.contains("requires a workflow"), "{none}");
    arguments["workflow"] = json!("loose");
    let loose = call(&client, "package_create", arguments).await?;
    ensure!(loose["workflow"] == "loose", "{loose}");
    Ok(())
}

pub async fn one_revision_removes_renames_and_adds_inline_files(
    scenario: &Scenario<'_>,
) -> Result<()> {
    let bucket = scenario.bucket("pkg-edit").await?;
    put(scenario, &bucket, "src/a.txt", "hello\n").await?;
    put(scenario, &bucket, "src/old/b.txt", "one\n").await?;
    put(scenario, &bucket, "src/gone.txt", "two\n").await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let registry = format!("s3://{bucket}");
    call(
        &client,
        "package_create",
        json!({"package_name": "team/edited", "registry": registry,
               "s3_uris": [format!("s3://{bucket}/src/")], "metadata": {"v": 1}}),
    )
    .await?;
    let updated = call(
        &client,
        "package_update",
        json!({
            "package_name": "team/edited",
            "registry": registry,
            "remove": ["gone.txt"],
            "rename": [{"from": "old/", "to": "new/"}],
            "files": [
                {"logical_key": "README.md", "text": "# Edited\n"},
                {"logical_key": "bin/blob", "base64": "AAEC/w=="},
            ],
            "metadata": {"v": 2},
            "message": "one edit",
        }),
    )
    .await?;
    let changes = &updated["changes"];
    ensure!(
        changes["added"] == json!(["README.md", "bin/blob", "new/b.txt"])
            && changes["removed"] == json!(["gone.txt", "old/b.txt"])
            && changes["unchanged_count"] == 1,
        "{updated}"
    );
    let seen = quilt3(scenario, &["browse", &registry, "team/edited"]).await?;
    ensure!(
        seen["top_hash"] == updated["top_hash"],
        "{seen} vs {updated}"
    );
    ensure!(
        seen["verified"] == json!(["README.md", "a.txt", "bin/blob", "new/b.txt"]),
        "{seen}"
    );
    ensure!(
        seen["header"]["user_meta"] == json!({"v": 2}) && seen["header"]["message"] == "one edit",
        "{seen}"
    );
    let blob = scenario
        .admin()
        .get_object(&bucket, "team/edited/bin/blob")
        .await?;
    ensure!(blob == [0, 1, 2, 255], "{blob:?}");
    let missing = fail(
        &client,
        "package_update",
        json!({"package_name": "team/edited", "registry": registry, "remove": ["gone.txt"]}),
    )
    .await?;
    ensure!(missing.contains("'gone.txt'"), "{missing}");
    Ok(())
}

pub async fn creating_over_a_package_needs_overwrite(scenario: &Scenario<'_>) -> Result<()> {
    let bucket = scenario.bucket("pkg-overwrite").await?;
    put(scenario, &bucket, "a.txt", "hello\n").await?;
    put(scenario, &bucket, "b.txt", "one\n").await?;
    let host = scenario.host(Guest::Tools).await?;
    let client = scenario.client(&host);
    let registry = format!("s3://{bucket}");
    let create = |key: &str| json!({"package_name": "team/p", "registry": registry, "s3_uris": [format!("s3://{bucket}/{key}")]});
    let first = call(&client, "package_create", create("a.txt")).await?;
    let refused = fail(&client, "package_create", create("b.txt")).await?;
    let first_hash = first["top_hash"].as_str().context("top_hash")?;
    ensure!(
        refused.contains("already exists") && refused.contains(first_hash),
        "{refused}"
    );
    let mut again = create("b.txt");
    again["overwrite"] = json!(true);
    let replaced = call(&client, "package_create", again).await?;
    ensure!(
        replaced["changes"]["previous_top_hash"] == first_hash
            && replaced["changes"]["added"] == json!(["b.txt"])
            && replaced["changes"]["removed"] == json!(["a.txt"]),
        "{replaced}"
    );
    Ok(())
}
