//! What SQL through the server costs: a small aggregate by `athena_query_execute` (the host
//! verifies the token and derives credentials, the guest signs, starts, polls and reads the
//! results) against the same query sent by boto3 straight to the Athena stand-in, polling
//! on the same schedule. Both wait on the same engine; the difference is the server's part.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use quilt_mcp_tests::artifacts::path_from_env;
use quilt_mcp_tests::athena::csv_table;
use quilt_mcp_tests::identity::standard_claims;
use quilt_mcp_tests::stack::{RoleAccess, SQL_RESULTS, SqlTables, Stack};
use quilt_mcp_tests::sts::{BucketReader, assume_role};
use serde_json::json;

const AUDIENCE: &str = "quilt-mcp-bench-sql";
const SUBJECT: &str = "bench-sql-user";
const BUCKET: &str = "bench-sql";
const SAMPLES: usize = 30;
const QUERY: &str =
    "SELECT tissue, sum(reads) AS total FROM samples GROUP BY tissue ORDER BY tissue";

/// boto3's side: start, poll as the guest polls (25 ms, doubling to 500 ms), read the rows;
/// prints each run's seconds as a JSON list.
const DIRECT: &str = r#"
import json, sys, time, boto3
endpoint, region, creds, output, samples, query = sys.argv[1:7]
creds = json.loads(creds)
athena = boto3.client("athena", endpoint_url=endpoint, region_name=region, aws_access_key_id=creds["ak"],
                      aws_secret_access_key=creds["sk"], aws_session_token=creds["st"])
times = []
for _ in range(int(samples)):
    started = time.perf_counter()
    qid = athena.start_query_execution(QueryString=query, QueryExecutionContext={"Database": "lake"},
                                       WorkGroup="primary", ResultConfiguration={"OutputLocation": output})["QueryExecutionId"]
    pause = 0.025
    while athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"] not in ("SUCCEEDED", "FAILED", "CANCELLED"):
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
    rows = athena.get_query_results(QueryExecutionId=qid, MaxResults=1000)["ResultSet"]["Rows"]
    assert len(rows) == 4, rows
    times.append(time.perf_counter() - started)
print(json.dumps(times))
"#;

pub async fn rows(http: &reqwest::Client) -> Result<Vec<String>> {
    let reader = BucketReader {
        role_name: "BenchSqlReader".into(),
        subject: SUBJECT.into(),
        bucket: BUCKET.into(),
    };
    let role_arn = reader.role_arn();
    let columns = [("tissue", "string"), ("reads", "bigint")];
    let stack = Stack::builder("bench-sql")
        .temp_data_dir("quilt-mcp-bench-sql-")
        .with_sts(AUDIENCE, vec![reader], RoleAccess::Read)
        .with_registry_standin(None)
        .with_sql(SqlTables {
            databases: json!({"lake": {"tables": {
                "samples": csv_table(&format!("s3://{BUCKET}/data/"), &columns),
            }}}),
            tabulator: Vec::new(),
        })
        .start()
        .await?;
    let admin = stack.seaweed.admin();
    admin.create_bucket(BUCKET).await?;
    let mut csv = String::from("tissue,reads\n");
    for i in 0..1000 {
        csv.push_str(&format!("{},{}\n", ["liver", "brain", "heart"][i % 3], i));
    }
    admin
        .put_object(BUCKET, "data/runs.csv", csv)
        .send()
        .await?;
    let athena = stack
        .athena
        .as_ref()
        .context("the stack has an Athena stand-in")?
        .url()
        .to_owned();
    let endpoint = stack.s3_endpoint();
    let mut flags = stack.auth_flags();
    flags.extend(
        [
            "--jwt-audience",
            AUDIENCE,
            "--s3-endpoint",
            &endpoint,
            "--credentials",
            "web-identity",
            "--sts-endpoint",
            &endpoint,
            "--role-arn-claim",
            "role_arn",
            "--athena-endpoint",
            &athena,
            "--glue-endpoint",
            &athena,
            "--athena-output-location",
            SQL_RESULTS,
        ]
        .map(String::from),
    );
    let host = super::start_host(&stack.artifacts, &flags).await?;
    let mut claims = standard_claims(&stack.issuer(), AUDIENCE, SUBJECT);
    claims["role_arn"] = json!(role_arn);
    let token = stack.identity.sign(&claims);

    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "athena_query_execute", "arguments": {"query": QUERY, "database_name": "lake"}}});
    let mut through = Vec::new();
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let response = http
            .post(host.mcp_url())
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string())
            .send()
            .await?;
        let text = response.text().await?;
        through.push(started.elapsed());
        if !text.contains(r#"\"row_count\":3"#) && !text.contains(r#""row_count":3"#) {
            bail!("athena_query_execute failed: {text}");
        }
    }

    let keys = assume_role(&endpoint, &role_arn, &stack.identity.sign(&claims)).await?;
    let mut command = tokio::process::Command::new(path_from_env("QUILT_MCP_ATHENA_PYTHON")?);
    command.args([
        "-c",
        DIRECT,
        &athena,
        quilt_mcp_tests::s3::REGION,
        &keys.to_string(),
        SQL_RESULTS,
    ]);
    command.arg(SAMPLES.to_string()).arg(QUERY);
    let output = command.output().await?;
    if !output.status.success() {
        bail!("boto3 failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let seconds: Vec<f64> = serde_json::from_slice(&output.stdout)?;
    let direct: Vec<Duration> = seconds.into_iter().map(Duration::from_secs_f64).collect();
    let (through, direct) = (
        super::median_and_p99(through),
        super::median_and_p99(direct),
    );
    drop(host);
    drop(stack);
    Ok(vec![
        super::one_row(
            "athena_query_execute: GROUP BY over 1,000 rows, through the server",
            through,
        ),
        super::one_row("the same query by boto3, straight to the stand-in", direct),
        String::new(),
        format!(
            "- SQL: through the server p50 {:.1} ms against {:.1} ms for boto3 alone (×{:.2}); the engine's time is in both",
            super::ms(through.0),
            super::ms(direct.0),
            super::ms(through.0) / super::ms(direct.0)
        ),
    ])
}
