//! Running SQL: `athena_query_execute` (and `tabulator_bucket_query`, the same in the
//! Tabulator catalog with the bucket as database) starts a query and waits for it within
//! this call; `athena_query_results` continues from a query execution id and a next_token;
//! `athena_query_validate` says whether a statement would be allowed, without running it.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::results::{self, Column, Cursor};
use super::{GLUE_CATALOG, default_catalog, name_argument};
use crate::athena::Athena;
use crate::athena::query::{Start, State, Status};
use crate::athena::statement::{self, Scope};
use crate::tools::{Effect, Entry, Env, ToolError, entry};

const DEFAULT_MAX_RESULTS: u32 = 1000;

pub fn execute_entry() -> Entry {
    entry(
        "athena_query_execute",
        "Run a SQL query",
        "Runs one SQL statement in Athena as you and returns the first rows with column names and types. Only queries (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN) run unless your token may write and the server allows more. A query still running when this call's wait ends returns its query_execution_id: call athena_query_results with it. Results beyond max_results, or too large for one call, come back with truncated true and a next_token for athena_query_results.",
        Effect::Read,
        execute,
    )
}

pub fn results_entry() -> Entry {
    entry(
        "athena_query_results",
        "Get a query's results",
        "Waits for a query started by athena_query_execute or tabulator_bucket_query (by its query_execution_id) and returns its rows, from next_token when given.",
        Effect::Read,
        results,
    )
}

pub fn validate_entry() -> Entry {
    entry(
        "athena_query_validate",
        "Check a SQL statement",
        "Parses one SQL statement and says whether it only reads and whether this connection may run it, without running it.",
        Effect::Introspect,
        validate,
    )
}

pub fn tabulator_query_entry() -> Entry {
    entry(
        "tabulator_bucket_query",
        "Query a bucket's Tabulator tables",
        "Runs SQL over a bucket's Tabulator tables (see tabulator_tables_list) in Athena as you: the bucket is the database, so tables are named directly. Results as athena_query_execute gives them.",
        Effect::Read,
        tabulator_query,
    )
}

#[derive(Clone, Copy, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Rows as JSON arrays.
    #[default]
    Json,
    /// Rows as CSV text in `text`.
    Csv,
    /// Rows as a Markdown table in `text`.
    Markdown,
}

#[derive(Deserialize, JsonSchema)]
pub struct ExecuteArgs {
    /// One SQL statement, e.g. `SELECT tissue, count(*) FROM samples GROUP BY tissue`.
    query: String,
    /// The database unqualified table names are in.
    #[serde(default)]
    database_name: String,
    /// The data catalog (AwsDataCatalog is Glue's).
    #[serde(default = "default_catalog")]
    data_catalog_name: String,
    #[serde(flatten)]
    run: RunArgs,
}

#[derive(Deserialize, JsonSchema)]
pub struct TabulatorQueryArgs {
    /// The bucket whose Tabulator tables to query (`name` or `s3://name`).
    bucket_name: String,
    /// One SQL statement over the bucket's tables.
    query: String,
    #[serde(flatten)]
    run: RunArgs,
}

/// Where a query runs, and how its rows come back.
#[derive(Deserialize, JsonSchema)]
pub struct RunArgs {
    /// The workgroup to run in; empty: the server's.
    #[serde(default)]
    workgroup_name: String,
    #[serde(flatten)]
    page: PageArgs,
}

/// How many rows come back, and how.
#[derive(Deserialize, JsonSchema)]
pub struct PageArgs {
    /// Most rows to return in this call.
    #[serde(default = "default_max_results")]
    #[schemars(range(min = 1, max = 1000))]
    max_results: u32,
    /// json (rows), csv or markdown (text).
    #[serde(default)]
    output_format: OutputFormat,
}

#[derive(Deserialize, JsonSchema)]
pub struct ResultsArgs {
    /// The query_execution_id athena_query_execute returned.
    query_execution_id: String,
    /// next_token of the previous call, to continue from there.
    #[serde(default)]
    next_token: String,
    #[serde(flatten)]
    page: PageArgs,
}

fn default_max_results() -> u32 {
    DEFAULT_MAX_RESULTS
}

#[derive(Serialize, JsonSchema)]
pub struct QueryResult {
    /// The handle of the query: athena_query_results accepts it on any server replica.
    query_execution_id: String,
    /// QUEUED, RUNNING or SUCCEEDED.
    state: String,
    columns: Vec<Column>,
    /// Rows of values (numbers and booleans typed, NULL as null), for output_format json.
    #[schemars(schema_with = "crate::preview::rows_schema")]
    rows: Vec<Vec<Value>>,
    /// The rows as CSV or Markdown, for those output formats.
    text: Option<String>,
    row_count: usize,
    /// More rows remain: call athena_query_results with next_token.
    truncated: bool,
    next_token: Option<String>,
    /// Where Athena wrote the full results.
    output_location: Option<String>,
    data_scanned_bytes: Option<u64>,
    execution_ms: Option<u64>,
    note: Option<String>,
}

fn execute(env: &Env<'_>, args: ExecuteArgs) -> Result<QueryResult, ToolError> {
    let catalog = name_argument(&args.data_catalog_name, "data_catalog_name")?;
    // Statements name their own databases, so on a held connection only Glue's catalog is
    // queried here; tabulator_bucket_query, which names the bucket, reaches Tabulator.
    env.check_held_catalog(&catalog, None)?;
    let scope = execute_scope(env);
    let database = optional_name(&args.database_name, "database_name")?;
    run(
        env,
        &args.query,
        scope,
        &catalog,
        database.as_deref(),
        args.run,
    )
}

/// Where athena_query_execute's statements may reach: anywhere the caller's credentials
/// do, except on a connection held to one bucket, where only Glue's tables are read.
fn execute_scope(env: &Env<'_>) -> Scope<'static> {
    match env.context.grant().bucket {
        Some(_) => Scope::Catalog(GLUE_CATALOG),
        None => Scope::Anywhere,
    }
}

fn tabulator_query(env: &Env<'_>, args: TabulatorQueryArgs) -> Result<QueryResult, ToolError> {
    let bucket = env.bucket_argument(&args.bucket_name, "bucket_name")?;
    let catalog = env.context.settings().sql.tabulator_catalog.ok_or_else(|| {
        ToolError::Argument {
            name: "bucket_name",
            problem: "this server names no Tabulator catalog (its operator sets --tabulator-catalog), so there are no Tabulator tables to query".into(),
        }
    })?;
    let scope = Scope::Database {
        catalog: &catalog,
        database: &bucket,
    };
    run(env, &args.query, scope, &catalog, Some(&bucket), args.run)
}

fn run(
    env: &Env<'_>,
    sql: &str,
    scope: Scope<'_>,
    catalog: &str,
    database: Option<&str>,
    args: RunArgs,
) -> Result<QueryResult, ToolError> {
    check_max(args.page.max_results)?;
    let kind = statement::classify(sql, scope).map_err(ToolError::Sql)?;
    if !kind.read_only() && !env.context.grant().sql_writes {
        return Err(ToolError::SqlRefused(kind.name().to_owned()));
    }
    let athena = env.athena()?;
    let workgroup = workgroup_argument(&athena, &args.workgroup_name)?;
    // Web-identity credentials may write results only where the host's session policy says,
    // so without a location Athena would fail later, and less clearly.
    if athena.settings.output_location.is_none()
        && env.context.settings().credential_source == "web-identity"
    {
        return Err(ToolError::Argument {
            name: "query",
            problem: "this server names no place for query results (its operator sets --athena-output-location), and its web-identity credentials may write them nowhere else".into(),
        });
    }
    let start = Start {
        sql,
        catalog,
        database,
        workgroup: &workgroup,
    };
    let query_id = athena.start(&start)?;
    respond(&athena, query_id, None, Cursor::default(), args.page)
}

/// The workgroup a call names, which must be one the server allows (a workgroup sets a
/// query's limits, costs and results place).
fn workgroup_argument(athena: &Athena<'_>, given: &str) -> Result<String, ToolError> {
    let settings = &athena.settings;
    let given = given.trim();
    if given.is_empty() || given == settings.workgroup {
        return Ok(settings.workgroup.clone());
    }
    if settings.other_workgroups.iter().any(|other| other == given) {
        return Ok(given.to_owned());
    }
    let allowed: Vec<&str> = std::iter::once(settings.workgroup.as_str())
        .chain(settings.other_workgroups.iter().map(String::as_str))
        .collect();
    Err(ToolError::Argument {
        name: "workgroup_name",
        problem: format!(
            "is not a workgroup this server runs queries in; use one of: {}",
            allowed.join(", ")
        ),
    })
}

fn results(env: &Env<'_>, args: ResultsArgs) -> Result<QueryResult, ToolError> {
    check_max(args.page.max_results)?;
    let query_id = args.query_execution_id.trim();
    // Athena's ids are UUIDs; anything else is refused before it is sent anywhere.
    let id_ok = (1..=128).contains(&query_id.len())
        && query_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !id_ok {
        return Err(ToolError::Argument {
            name: "query_execution_id",
            problem: "is not a query execution id (a UUID such as athena_query_execute returns)"
                .into(),
        });
    }
    let cursor = Cursor::parse(&args.next_token)?;
    let athena = env.athena()?;
    let known = check_own(&athena, query_id)?;
    respond(&athena, query_id.to_owned(), known, cursor, args.page)
}

/// Refuses a query whose results lie outside this caller's own place, when the deployment
/// gives each caller one: in a shared workgroup an id is all Athena asks for, and the read
/// rights of a role shared by many callers may reach every caller's results. The status read
/// for the check is returned, to serve as the wait's first poll.
fn check_own(athena: &Athena<'_>, query_id: &str) -> Result<Option<Status>, ToolError> {
    let Some(own) = &athena.settings.output_location else {
        return Ok(None);
    };
    let status = athena.status(query_id).map_err(ToolError::Athena)?;
    match &status.output_location {
        Some(location) if location.starts_with(own.as_str()) => Ok(Some(status)),
        _ => Err(ToolError::Argument {
            name: "query_execution_id",
            problem: format!(
                "{query_id} is not a query of yours: its results are not in your results location"
            ),
        }),
    }
}

/// Waits for the query within this call (from `known`, a status just read, if any), then its
/// rows from `cursor` — or its id when it is still running.
fn respond(
    athena: &Athena<'_>,
    query_id: String,
    known: Option<Status>,
    cursor: Cursor,
    page: PageArgs,
) -> Result<QueryResult, ToolError> {
    let PageArgs {
        max_results,
        output_format: format,
    } = page;
    let wait = Duration::from_millis(u64::from(athena.settings.wait_ms));
    let status = athena.wait(&query_id, wait, known)?;
    if status.state != State::Succeeded {
        return Ok(pending(query_id, &status));
    }
    let read = results::read(athena, &query_id, &status, cursor, max_results)?;
    let truncated = read.next.is_some();
    let note = truncated.then(|| {
        format!(
            "{} rows shown and more remain: call athena_query_results with this query_execution_id and next_token for the next part",
            read.rows.len()
        )
    });
    let text = match format {
        OutputFormat::Json => None,
        OutputFormat::Csv => Some(csv(&read.columns, &read.rows)),
        OutputFormat::Markdown => Some(markdown(&read.columns, &read.rows)),
    };
    let row_count = read.rows.len();
    Ok(QueryResult {
        query_execution_id: query_id,
        state: status.state.name().to_owned(),
        columns: read.columns,
        rows: if text.is_some() {
            Vec::new()
        } else {
            read.rows
        },
        text,
        row_count,
        truncated,
        next_token: read.next,
        output_location: status.output_location,
        data_scanned_bytes: status.data_scanned_bytes,
        execution_ms: status.execution_ms,
        note,
    })
}

fn pending(query_id: String, status: &Status) -> QueryResult {
    QueryResult {
        note: Some(format!(
            "The query is still {}; call athena_query_results with query_execution_id {query_id} to wait for it and get its rows",
            status.state.name()
        )),
        query_execution_id: query_id,
        state: status.state.name().to_owned(),
        columns: Vec::new(),
        rows: Vec::new(),
        text: None,
        row_count: 0,
        truncated: false,
        next_token: None,
        output_location: status.output_location.clone(),
        data_scanned_bytes: status.data_scanned_bytes,
        execution_ms: status.execution_ms,
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct ValidateArgs {
    /// One SQL statement.
    query: String,
}

#[derive(Serialize, JsonSchema)]
pub struct Validated {
    /// It parses as one statement.
    valid: bool,
    /// query, SHOW, DESCRIBE, EXPLAIN, or what it changes (e.g. `CREATE TABLE`).
    kind: Option<String>,
    read_only: bool,
    /// This connection may run it.
    allowed: bool,
    problem: Option<String>,
}

fn validate(env: &Env<'_>, args: ValidateArgs) -> Result<Validated, ToolError> {
    Ok(match statement::classify(&args.query, execute_scope(env)) {
        Ok(kind) => {
            let allowed = kind.read_only() || env.context.grant().sql_writes;
            Validated {
                valid: true,
                read_only: kind.read_only(),
                allowed,
                problem: (!allowed)
                    .then(|| ToolError::SqlRefused(kind.name().to_owned()).to_string()),
                kind: Some(kind.name().to_owned()),
            }
        }
        Err(problem) => Validated {
            valid: false,
            kind: None,
            read_only: false,
            allowed: false,
            problem: Some(problem.to_string()),
        },
    })
}

fn check_max(max_results: u32) -> Result<(), ToolError> {
    if !(1..=1000).contains(&max_results) {
        return Err(ToolError::Argument {
            name: "max_results",
            problem: "must be between 1 and 1000".into(),
        });
    }
    Ok(())
}

fn optional_name(value: &str, name: &'static str) -> Result<Option<String>, ToolError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    name_argument(value, name).map(Some)
}

fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn csv(columns: &[Column], rows: &[Vec<Value>]) -> String {
    let field = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    };
    let mut out = columns
        .iter()
        .map(|c| field(&c.name))
        .collect::<Vec<_>>()
        .join(",");
    for row in rows {
        out.push('\n');
        out.push_str(
            &row.iter()
                .map(|v| field(&cell_text(v)))
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    out
}

fn markdown(columns: &[Column], rows: &[Vec<Value>]) -> String {
    // A lone carriage return ends a line in Markdown too.
    let cell = |text: String| text.replace('|', "\\|").replace(['\n', '\r'], " ");
    let line = |cells: Vec<String>| format!("| {} |", cells.join(" | "));
    let mut out = vec![
        line(columns.iter().map(|c| cell(c.name.clone())).collect()),
        line(columns.iter().map(|_| "---".to_owned()).collect()),
    ];
    out.extend(
        rows.iter()
            .map(|row| line(row.iter().map(|v| cell(cell_text(v))).collect())),
    );
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Column, csv, markdown};

    #[test]
    fn csv_and_markdown_quote_what_would_break_them() {
        let columns = vec![
            Column {
                name: "a".into(),
                kind: "varchar".into(),
            },
            Column {
                name: "b".into(),
                kind: "bigint".into(),
            },
        ];
        let rows = vec![
            vec![json!("x,\"y\""), json!(1)],
            vec![json!("p|q\nr"), json!(null)],
            vec![json!("s\r| [link](x) |"), json!(2)],
        ];
        assert_eq!(
            csv(&columns, &rows),
            "a,b\n\"x,\"\"y\"\"\",1\n\"p|q\nr\",\n\"s\r| [link](x) |\",2"
        );
        assert_eq!(
            markdown(&columns, &rows),
            "| a | b |\n| --- | --- |\n| x,\"y\" | 1 |\n| p\\|q r |  |\n| s \\| [link](x) \\| | 2 |"
        );
    }
}
