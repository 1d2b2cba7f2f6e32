//! SQL as the caller through the real host: the Athena + Glue stand-in (DataFusion over the
//! SeaweedFS buckets, callers proven by their STS session's signature) answers the guest's
//! SigV4-signed calls. Tables, schemas and aggregates checked against numbers computed here
//! from the source files; paging; a query outliving its call finished by another replica;
//! Tabulator tables spanning two packages; writes, other callers' buckets and a down Athena
//! refused in words; and the stand-in's protocol as boto3 and pyathena see it.
//!
//! Each trial starts its own SeaweedFS (STS: Alice reads one bucket, Bob another, both may
//! write query results), a registry stand-in and an Athena stand-in.

use anyhow::{Context, Result, ensure};
use quilt_mcp_tests::artifacts::path_from_env;
use quilt_mcp_tests::athena::{AthenaStandin, csv_table, sts_of};
use quilt_mcp_tests::host_process::{HostLaunch, HostProcess};
use quilt_mcp_tests::identity::standard_claims;
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::ports::ClosedPort;
use quilt_mcp_tests::registry::{RegistryStandin, TabulatorTable, grant, standin_config};
use quilt_mcp_tests::sts::{BucketReader, WebIdentityTrust, allow_results, assume_role, role_arn};
use serde_json::{Value, json};
use tokio::process::Command;

use crate::clients::{run, script};
use crate::support::{OwnSeaweed, Scenario, args};

crate::support::trials![
    tables_schema_and_an_aggregate_as_the_caller,
    a_long_query_hands_back_an_id_another_replica_finishes,
    tabulator_tables_span_packages,
    writes_and_other_callers_data_are_refused,
    athena_down_is_a_precise_error,
    boto3_and_pyathena_speak_to_the_standin,
];

const AUDIENCE: &str = "quilt-mcp-sql-e2e";
const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const ALPHA: &str = "sql-alpha";
const BETA: &str = "sql-beta";
const RESULTS: &str = "sql-results";
const TABULATOR: &str = "quilt_tabulator";
const SERVICE_TOKEN: &str = "tabulator-service-token-for-tests";

/// Two CSV files of one Glue table: tissue and read counts.
const SAMPLES: [(&str, &str); 2] = [
    (
        "data/run1.csv",
        "tissue,reads\nliver,30\nbrain,12\nliver,5\n",
    ),
    (
        "data/run2.csv",
        "tissue,reads\nbrain,8\nheart,40\nliver,1\n",
    ),
];

/// SeaweedFS with STS, the registry stand-in and the Athena stand-in, all knowing Alice and Bob.
struct Lake {
    athena: AthenaStandin,
    registry: RegistryStandin,
    seaweed: OwnSeaweed,
}

impl Lake {
    async fn start(scenario: &Scenario<'_>) -> Result<Self> {
        let stack = scenario.stack;
        let readers = vec![
            BucketReader {
                role_name: "ReaderA".into(),
                subject: ALICE.into(),
                bucket: ALPHA.into(),
            },
            BucketReader {
                role_name: "ReaderB".into(),
                subject: BOB.into(),
                bucket: BETA.into(),
            },
        ];
        let trust = WebIdentityTrust {
            issuer: stack.issuer(),
            audience: AUDIENCE.into(),
            jwks_url: stack.jwks.jwks_url(),
            readers: readers.clone(),
        };
        let mut iam = trust.iam_config();
        for reader in &readers {
            allow_results(&mut iam, reader, RESULTS, "athena/");
        }
        let seaweed = scenario.own_seaweed(&iam).await?;
        let admin = seaweed.admin();
        for bucket in [ALPHA, BETA, RESULTS] {
            admin.create_bucket(bucket).await?;
        }
        for (key, body) in SAMPLES {
            admin.put_object(ALPHA, key, body).send().await?;
        }
        admin
            .put_object(
                BETA,
                "data/secret.csv",
                "tissue,reads\nbobs-own-tissue,999\n",
            )
            .send()
            .await?;
        put_package(
            &seaweed,
            "study/first",
            &[("counts/liver.csv", "gene,count\nA,3\nB,4\n")],
        )
        .await?;
        put_package(
            &seaweed,
            "study/second",
            &[
                ("counts/brain.csv", "gene,count\nA,10\n"),
                ("README.md", "not a table"),
            ],
        )
        .await?;

        let mut config = standin_config(
            &seaweed,
            &stack.jwks.jwks_url(),
            &stack.issuer(),
            AUDIENCE,
            readers.iter().map(grant).collect(),
        )?;
        config.tabulator = vec![TabulatorTable {
            bucket: ALPHA.into(),
            name: "gene_counts".into(),
            config: TABULATOR_CONFIG.into(),
        }];
        config.service_token = Some(SERVICE_TOKEN.into());
        let registry = RegistryStandin::start(config).await?;
        let columns = [("tissue", "string"), ("reads", "bigint")];
        let athena = AthenaStandin::start(
            seaweed.s3_endpoint.as_str(),
            json!({
                "sts": sts_of(&iam),
                "workgroups": {
                    "primary": {"output_location": format!("s3://{RESULTS}/athena/")},
                    "slow": {"output_location": format!("s3://{RESULTS}/athena/"), "min_running_ms": 4000},
                },
                "databases": {"lake": {"description": "the demo lake", "tables": {
                    "samples": csv_table(&format!("s3://{ALPHA}/data/"), &columns),
                    "secrets": csv_table(&format!("s3://{BETA}/data/"), &columns),
                }}},
                "tabulator": {
                    "catalog": TABULATOR,
                    "registry_url": registry.url().as_str(),
                    "service_token": SERVICE_TOKEN,
                },
            }),
        )
        .await?;
        Ok(Self {
            athena,
            registry,
            seaweed,
        })
    }

    /// A host with web-identity credentials at this SeaweedFS, Athena and Glue at the
    /// stand-in, and `extra` flags.
    async fn host(&self, scenario: &Scenario<'_>, extra: &[&str]) -> Result<HostProcess> {
        self.host_at(scenario, self.athena.url(), extra).await
    }

    /// The same, with Athena and Glue at `sql_endpoint`.
    async fn host_at(
        &self,
        scenario: &Scenario<'_>,
        sql_endpoint: &str,
        extra: &[&str],
    ) -> Result<HostProcess> {
        let stack = scenario.stack;
        let s3 = self
            .seaweed
            .s3_endpoint
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let registry = self
            .registry
            .url()
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let mut flags = args(&[
            "--s3-endpoint",
            &s3,
            "--jwks-url",
            &stack.jwks.jwks_url(),
            "--jwt-issuer",
            &stack.issuer(),
            "--jwt-audience",
            AUDIENCE,
            "--credentials",
            "web-identity",
            "--sts-endpoint",
            &s3,
            "--role-arn-claim",
            "role_arn",
            "--registry-url",
            &registry,
            "--athena-endpoint",
            sql_endpoint,
            "--glue-endpoint",
            sql_endpoint,
            "--athena-output-location",
            &format!("s3://{RESULTS}/athena/"),
            "--tabulator-catalog",
            TABULATOR,
            "--athena-workgroup-allow",
            "slow",
        ]);
        flags.extend(args(extra));
        let home = tempfile::tempdir()?;
        let env = [("HOME".to_owned(), home.path().display().to_string())];
        HostProcess::start(HostLaunch {
            host_bin: &stack.artifacts.host_bin,
            guest: &stack.artifacts.guest,
            listen: "127.0.0.1:0",
            args: &flags,
            env: &env,
            echo_logs: false,
        })
        .await
    }
}

/// Tabulator's configuration of one table: every `counts/<tissue>.csv` in a `study/*`
/// package, the tissue taken from the file's name.
const TABULATOR_CONFIG: &str = r#"schema:
- name: gene
  type: STRING
- name: count
  type: BIGINT
source:
  type: quilt-packages
  package_name: ^study/(?<study>[^/]+)$
  logical_key: ^counts/(?<tissue>[^/]+)\.csv$
parser:
  format: csv
  header: true
"#;

/// A package as quilt3 lays one out: its files under the package's name, a manifest at a
/// top hash, and `latest` naming it. (The stand-in reads packages as Tabulator does; it does
/// not check hashes, so this one is a fixed value.)
async fn put_package(seaweed: &OwnSeaweed, name: &str, files: &[(&str, &str)]) -> Result<()> {
    let admin = seaweed.admin();
    let top_hash = format!("{:064x}", name.len() * 7919 + files.len());
    let mut manifest = String::from("{\"version\": \"v0\", \"message\": \"for Tabulator\"}\n");
    for (logical_key, body) in files {
        let key = format!("{name}/{logical_key}");
        admin.put_object(ALPHA, &key, *body).send().await?;
        let entry = json!({
            "logical_key": logical_key,
            "physical_keys": [format!("s3://{ALPHA}/{key}")],
            "size": body.len(),
            "hash": {"type": "SHA256", "value": "0".repeat(64)},
            "meta": {},
        });
        manifest.push_str(&format!("{entry}\n"));
    }
    admin
        .put_object(ALPHA, &format!(".quilt/packages/{top_hash}"), manifest)
        .send()
        .await?;
    admin
        .put_object(
            ALPHA,
            &format!(".quilt/named_packages/{name}/latest"),
            top_hash,
        )
        .send()
        .await?;
    Ok(())
}

/// A client for `subject`, whose token names their role.
fn client(scenario: &Scenario<'_>, host: &HostProcess, subject: &str) -> McpClient {
    let mut claims = standard_claims(&scenario.stack.issuer(), AUDIENCE, subject);
    let role = if subject == ALICE {
        "ReaderA"
    } else {
        "ReaderB"
    };
    claims["role_arn"] = json!(role_arn(role));
    McpClient::new(&host.mcp_url(), Some(scenario.stack.identity.sign(&claims)))
}

async fn call(client: &McpClient, tool: &str, arguments: Value) -> Result<Value> {
    client
        .call_tool(tool, arguments)
        .await?
        .success()
        .with_context(|| format!("{tool} failed"))
}

async fn fail(client: &McpClient, tool: &str, arguments: Value) -> Result<String> {
    client.call_tool(tool, arguments).await?.failure()
}

/// Sum of reads per tissue, computed from the CSV text of [`SAMPLES`].
fn expected_totals() -> Vec<(String, i64)> {
    let mut totals: std::collections::BTreeMap<String, i64> = Default::default();
    for (_, body) in SAMPLES {
        for line in body.lines().skip(1) {
            let (tissue, reads) = line.split_once(',').expect("two columns");
            *totals.entry(tissue.to_owned()).or_default() +=
                reads.parse::<i64>().expect("a number");
        }
    }
    totals.into_iter().collect()
}

fn rows_of(result: &Value) -> Vec<Value> {
    result["rows"].as_array().cloned().unwrap_or_default()
}

pub async fn tables_schema_and_an_aggregate_as_the_caller(scenario: &Scenario<'_>) -> Result<()> {
    let lake = Lake::start(scenario).await?;
    let host = lake.host(scenario, &[]).await?;
    let alice = client(scenario, &host, ALICE);

    let databases = call(&alice, "athena_databases_list", json!({})).await?;
    ensure!(databases["databases"][0]["name"] == "lake", "{databases}");
    let tables = call(&alice, "athena_tables_list", json!({"database": "lake"})).await?;
    let names: Vec<&str> = tables["tables"]
        .as_array()
        .context("tables")?
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    ensure!(names == ["samples", "secrets"], "{tables}");
    ensure!(
        tables["tables"][0]["location"] == format!("s3://{ALPHA}/data/"),
        "{tables}"
    );
    let schema = call(
        &alice,
        "athena_table_schema",
        json!({"database": "lake", "table": "samples"}),
    )
    .await?;
    ensure!(
        schema["columns"]
            == json!([{"name": "tissue", "type": "string", "comment": null}, {"name": "reads", "type": "bigint", "comment": null}]),
        "{schema}"
    );
    ensure!(schema["format"] == "csv", "{schema}");

    let sql = "SELECT tissue, sum(reads) AS total FROM samples GROUP BY tissue ORDER BY tissue";
    let result = call(
        &alice,
        "athena_query_execute",
        json!({"query": sql, "database_name": "lake"}),
    )
    .await?;
    let expected: Vec<Value> = expected_totals()
        .into_iter()
        .map(|(t, n)| json!([t, n]))
        .collect();
    ensure!(
        rows_of(&result) == expected,
        "{result}\nexpected {expected:?}"
    );
    ensure!(
        result["columns"]
            == json!([{"name": "tissue", "type": "varchar"}, {"name": "total", "type": "bigint"}]),
        "{result}"
    );
    ensure!(
        result["truncated"] == false && result["state"] == "SUCCEEDED",
        "{result}"
    );
    let query_id = result["query_execution_id"]
        .as_str()
        .context("id")?
        .to_owned();
    // Athena wrote the results as Alice, in her own place under the deployment's location.
    let location = result["output_location"].as_str().context("location")?;
    let key = location
        .strip_prefix(&format!("s3://{RESULTS}/"))
        .with_context(|| location.to_owned())?;
    let own = key
        .strip_prefix("athena/callers/")
        .and_then(|rest| rest.strip_suffix(&format!("/{query_id}.csv")))
        .with_context(|| location.to_owned())?;
    ensure!(
        own.len() == 32 && own.bytes().all(|b| b.is_ascii_hexdigit()),
        "{location}"
    );
    let written = lake.seaweed.admin().get_object(RESULTS, key).await?;
    let written = String::from_utf8(written)?;
    ensure!(
        written.starts_with("\"tissue\",\"total\"\n\"brain\",\"20\""),
        "{written}"
    );

    // A page of one row, then the next from its next_token, on another replica.
    let first = call(
        &alice,
        "athena_query_execute",
        json!({"query": sql, "database_name": "lake", "max_results": 1}),
    )
    .await?;
    ensure!(
        first["truncated"] == true && rows_of(&first) == expected[..1],
        "{first}"
    );
    ensure!(
        first["note"]
            .as_str()
            .is_some_and(|n| n.contains("athena_query_results")),
        "{first}"
    );
    let replica = lake.host(scenario, &[]).await?;
    let alice_there = client(scenario, &replica, ALICE);
    let second = call(
        &alice_there,
        "athena_query_results",
        json!({"query_execution_id": first["query_execution_id"], "next_token": first["next_token"], "max_results": 1}),
    )
    .await?;
    ensure!(rows_of(&second) == expected[1..2], "{second}");
    let rest = call(
        &alice_there,
        "athena_query_results",
        json!({"query_execution_id": first["query_execution_id"], "next_token": second["next_token"]}),
    )
    .await?;
    ensure!(
        rows_of(&rest) == expected[2..] && rest["truncated"] == false,
        "{rest}"
    );

    let csv = call(
        &alice,
        "athena_query_execute",
        json!({"query": sql, "database_name": "lake", "output_format": "csv"}),
    )
    .await?;
    ensure!(
        csv["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("tissue,total\nbrain,20\n")),
        "{csv}"
    );
    Ok(())
}

pub async fn a_long_query_hands_back_an_id_another_replica_finishes(
    scenario: &Scenario<'_>,
) -> Result<()> {
    let lake = Lake::start(scenario).await?;
    let host = lake.host(scenario, &["--athena-wait-ms", "300"]).await?;
    let alice = client(scenario, &host, ALICE);
    let sql = "SELECT count(*) AS n FROM samples";
    let started = call(
        &alice,
        "athena_query_execute",
        json!({"query": sql, "database_name": "lake", "workgroup_name": "slow"}),
    )
    .await?;
    ensure!(
        started["state"] == "RUNNING" || started["state"] == "QUEUED",
        "{started}"
    );
    ensure!(rows_of(&started).is_empty(), "{started}");
    let id = started["query_execution_id"].as_str().context("id")?;
    ensure!(
        started["note"].as_str().is_some_and(|n| n.contains(id)),
        "{started}"
    );
    // Another replica, with the default wait, continues from the id alone.
    let replica = lake.host(scenario, &[]).await?;
    let finished = call(
        &client(scenario, &replica, ALICE),
        "athena_query_results",
        json!({"query_execution_id": id}),
    )
    .await?;
    ensure!(
        finished["state"] == "SUCCEEDED" && rows_of(&finished) == [json!([6])],
        "{finished}"
    );
    // Bob cannot read Alice's results by their id, though his role may read every caller's
    // results and Athena (here the stand-in, as Athena) hands any execution to anyone who
    // holds its id: they are not in his own results place.
    let bob = client(scenario, &replica, BOB);
    let refused = fail(
        &bob,
        "athena_query_results",
        json!({"query_execution_id": id}),
    )
    .await?;
    ensure!(refused.contains("not a query of yours"), "{refused}");
    ensure!(
        !refused.contains("\"n\""),
        "no row of Alice's leaks: {refused}"
    );
    // A workgroup the server does not run queries in is refused before Athena is asked.
    let refused = fail(
        &alice,
        "athena_query_execute",
        json!({"query": sql, "database_name": "lake", "workgroup_name": "admin"}),
    )
    .await?;
    ensure!(refused.contains("primary, slow"), "{refused}");
    for hostile in ["../../etc", "a b", &"x".repeat(200)] {
        let refused = fail(
            &bob,
            "athena_query_results",
            json!({"query_execution_id": hostile}),
        )
        .await?;
        ensure!(
            refused.contains("query_execution_id"),
            "{hostile}: {refused}"
        );
    }
    let refused = fail(
        &alice,
        "athena_query_results",
        json!({"query_execution_id": id, "next_token": "garbage!"}),
    )
    .await?;
    ensure!(refused.contains("next_token"), "{refused}");
    Ok(())
}

pub async fn tabulator_tables_span_packages(scenario: &Scenario<'_>) -> Result<()> {
    let lake = Lake::start(scenario).await?;
    let host = lake.host(scenario, &[]).await?;
    let alice = client(scenario, &host, ALICE);
    let tables = call(&alice, "tabulator_tables_list", json!({"bucket": ALPHA})).await?;
    ensure!(tables["tables"][0]["name"] == "gene_counts", "{tables}");
    ensure!(tables["data_catalog_name"] == TABULATOR, "{tables}");
    let sql = r#"SELECT study, tissue, sum("count") AS total, count(DISTINCT "$pkg_name") AS packages FROM gene_counts GROUP BY study, tissue ORDER BY study"#;
    let result = call(
        &alice,
        "tabulator_bucket_query",
        json!({"bucket_name": ALPHA, "query": sql}),
    )
    .await?;
    ensure!(
        rows_of(&result)
            == [
                json!(["first", "liver", 7, 1]),
                json!(["second", "brain", 10, 1])
            ],
        "{result}"
    );
    let all = call(&alice, "tabulator_bucket_query", json!({"bucket_name": ALPHA, "query": "SELECT count(DISTINCT \"$pkg_name\") AS n FROM gene_counts"})).await?;
    ensure!(
        rows_of(&all) == [json!([2])],
        "two packages in one table: {all}"
    );
    // Bob may not read Alice's bucket: the registry shows him no such bucket.
    let bob = client(scenario, &host, BOB);
    let refused = fail(&bob, "tabulator_tables_list", json!({"bucket": ALPHA})).await?;
    ensure!(refused.contains(ALPHA), "{refused}");
    Ok(())
}

pub async fn writes_and_other_callers_data_are_refused(scenario: &Scenario<'_>) -> Result<()> {
    let lake = Lake::start(scenario).await?;
    let host = lake.host(scenario, &[]).await?;
    let alice = client(scenario, &host, ALICE);
    for sql in [
        "DROP TABLE samples",
        "INSERT INTO samples VALUES ('x', 1)",
        "WITH a AS (SELECT 1) INSERT INTO samples SELECT * FROM a",
    ] {
        let refused = fail(
            &alice,
            "athena_query_execute",
            json!({"query": sql, "database_name": "lake"}),
        )
        .await?;
        ensure!(
            refused.contains("was not run") && refused.contains("write scope"),
            "{sql}: {refused}"
        );
    }
    let verdict = call(
        &alice,
        "athena_query_validate",
        json!({"query": "CREATE TABLE x AS SELECT 1"}),
    )
    .await?;
    ensure!(
        verdict["valid"] == true && verdict["read_only"] == false && verdict["allowed"] == false,
        "{verdict}"
    );
    let verdict = call(&alice, "athena_query_validate", json!({"query": "SELEC 1"})).await?;
    ensure!(
        verdict["valid"] == false && verdict["problem"].as_str().is_some(),
        "{verdict}"
    );
    // Bob's table: the engine reads S3 as Alice, and S3 refuses.
    let denied = fail(
        &alice,
        "athena_query_execute",
        json!({"query": "SELECT * FROM secrets", "database_name": "lake"}),
    )
    .await?;
    ensure!(
        denied.contains("PERMISSION_DENIED") || denied.contains("Access denied"),
        "{denied}"
    );
    ensure!(
        !denied.contains("bobs-own-tissue"),
        "no row of Bob's leaks: {denied}"
    );
    // A deeply nested statement is refused by the parse, and the server serves on.
    let deep = format!("SELECT {}1{}", "(".repeat(3000), ")".repeat(3000));
    let refused = fail(&alice, "athena_query_execute", json!({"query": deep})).await?;
    ensure!(refused.contains("nests deeper"), "{refused}");
    // A chain of operators nests without parentheses: at the limit the guest's stack holds
    // it (its parse, walk and drop), and far over it is refused before the parse.
    let chain = |operators: usize| format!("SELECT 1{}", "+1".repeat(operators));
    let verdict = call(
        &alice,
        "athena_query_validate",
        json!({"query": chain(1_000)}),
    )
    .await?;
    ensure!(verdict["valid"] == true, "{verdict}");
    let refused = fail(
        &alice,
        "athena_query_execute",
        json!({"query": chain(100_000)}),
    )
    .await?;
    ensure!(refused.contains("operators, over"), "{refused}");
    call(&alice, "athena_databases_list", json!({})).await?;
    Ok(())
}

pub async fn athena_down_is_a_precise_error(scenario: &Scenario<'_>) -> Result<()> {
    let lake = Lake::start(scenario).await?;
    let closed = ClosedPort::bind()?;
    let down = closed.origin();
    let host = lake.host_at(scenario, &down, &[]).await?;
    let alice = client(scenario, &host, ALICE);
    let refused = fail(&alice, "athena_query_execute", json!({"query": "SELECT 1"})).await?;
    ensure!(
        refused.contains("Athena at") && refused.contains("could not be reached"),
        "{refused}"
    );
    let refused = fail(&alice, "athena_tables_list", json!({"database": "lake"})).await?;
    ensure!(refused.contains("Glue at"), "{refused}");
    // The host serves on.
    let listed = call(&alice, "bucket_objects_list", json!({"bucket": ALPHA})).await?;
    ensure!(listed.to_string().contains("run1.csv"), "{listed}");
    Ok(())
}

pub async fn boto3_and_pyathena_speak_to_the_standin(scenario: &Scenario<'_>) -> Result<()> {
    let lake = Lake::start(scenario).await?;
    let s3 = lake.seaweed.s3_endpoint.as_str().trim_end_matches('/');
    let sign = |subject: &str| {
        scenario.stack.identity.sign(&standard_claims(
            &scenario.stack.issuer(),
            AUDIENCE,
            subject,
        ))
    };
    let alice = assume_role(s3, &role_arn("ReaderA"), &sign(ALICE)).await?;
    let bob = assume_role(s3, &role_arn("ReaderB"), &sign(BOB)).await?;
    let credentials =
        json!({"ak": alice["ak"], "sk": alice["sk"], "st": alice["st"], "other": bob});
    let mut command = Command::new(path_from_env("QUILT_MCP_ATHENA_PYTHON")?);
    command
        .arg(script("athena_clients.py"))
        .arg(lake.athena.url())
        .arg(quilt_mcp_tests::s3::REGION)
        .arg(credentials.to_string())
        .arg(format!("s3://{RESULTS}/athena/"));
    let printed = run(command, "boto3 and pyathena").await?;
    let checks: std::collections::HashMap<String, Value> = printed
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|v| Some((v["check"].as_str()?.to_owned(), v)))
        .collect();
    let check = |name: &str| {
        checks
            .get(name)
            .cloned()
            .with_context(|| format!("no {name} in {printed}"))
    };
    ensure!(check("databases")?["names"] == json!(["lake"]), "{printed}");
    ensure!(
        check("tables")?["names"] == json!(["samples", "secrets"]),
        "{printed}"
    );
    ensure!(
        check("glue_table")?["location"] == format!("s3://{ALPHA}/data/"),
        "{printed}"
    );
    ensure!(
        check("missing_table")?["code"] == "EntityNotFoundException",
        "{printed}"
    );
    let expected: Vec<Value> = expected_totals()
        .into_iter()
        .map(|(t, n)| json!([t, n.to_string()]))
        .collect();
    let query = check("boto3_query")?;
    let pages: Vec<Value> = query["pages"]
        .as_array()
        .context("pages")?
        .iter()
        .flat_map(|p| p.as_array().cloned().unwrap_or_default())
        .collect();
    ensure!(
        pages[0] == json!(["tissue", "total"]) && pages[1..] == expected[..],
        "{query}"
    );
    ensure!(query["types"] == json!(["varchar", "bigint"]), "{query}");
    for (name, code) in [
        ("malformed", "InvalidRequestException"),
        ("too_many_results", "InvalidRequestException"),
        ("no_such_query", "InvalidRequestException"),
        ("unsigned", "AccessDeniedException"),
        ("forged_secret", "InvalidSignatureException"),
    ] {
        ensure!(check(name)?["code"] == code, "{name}: {printed}");
    }
    ensure!(
        check("other_callers_query")?["code"].is_null(),
        "an id is found by any caller, as in Athena: {printed}"
    );
    let pyathena = check("pyathena")?;
    ensure!(
        pyathena["description"] == json!([["tissue", "varchar"], ["reads", "bigint"]]),
        "{pyathena}"
    );
    ensure!(
        pyathena["rows"]
            == json!([
                ["liver", 5],
                ["brain", 8],
                ["brain", 12],
                ["liver", 30],
                ["heart", 40]
            ]),
        "{pyathena}"
    );
    ensure!(
        check("pyathena_denied")?["error"] == "OperationalError",
        "{printed}"
    );
    Ok(())
}
