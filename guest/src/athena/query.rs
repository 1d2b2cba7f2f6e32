//! A query's life in Athena: started in a workgroup, polled until it ends or this call's wait
//! is over, and its results read a page at a time. Nothing is kept between calls: the query
//! execution id is the handle, and Athena's `NextToken` the place in its results.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Athena, AthenaError, Service};

/// Athena answers GetQueryResults with at most this many rows.
pub const MAX_PAGE_ROWS: u32 = 1000;
/// The first poll comes soon (small queries finish in well under a second); later ones
/// back off to this.
const MAX_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Where and how a query runs.
pub struct Start<'a> {
    pub sql: &'a str,
    pub catalog: &'a str,
    pub database: Option<&'a str>,
    pub workgroup: &'a str,
}

/// A query's state as Athena reports it.
#[derive(Debug, Clone)]
pub struct Status {
    pub state: State,
    pub reason: Option<String>,
    /// DML (SELECT among them), DDL or UTILITY: DML results begin with a header row.
    pub statement_type: String,
    pub output_location: Option<String>,
    pub data_scanned_bytes: Option<u64>,
    pub execution_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    fn ended(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResultsAnswer {
    result_set: ResultSet,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResultSet {
    #[serde(default)]
    rows: Vec<ResultRow>,
    result_set_metadata: ResultSetMetadata,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResultRow {
    #[serde(default)]
    data: Vec<Datum>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Datum {
    var_char_value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResultSetMetadata {
    #[serde(default)]
    column_info: Vec<ColumnInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ColumnInfo {
    name: String,
    #[serde(rename = "Type")]
    kind: String,
}

/// One page of results: Athena's column names and types, rows of text (`None` for NULL).
#[derive(Debug, Clone)]
pub struct Page {
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Vec<Option<String>>>,
    pub next_token: Option<String>,
}

impl Athena<'_> {
    /// Starts a query and returns its execution id. Not sent twice: a lost connection could
    /// have started it already.
    pub fn start(&self, start: &Start<'_>) -> Result<String, AthenaError> {
        let mut context = json!({"Catalog": start.catalog});
        if let Some(database) = start.database {
            context["Database"] = json!(database);
        }
        let mut body = json!({
            "QueryString": start.sql,
            "QueryExecutionContext": context,
            "WorkGroup": start.workgroup,
        });
        if let Some(output) = &self.settings.output_location {
            body["ResultConfiguration"] = json!({"OutputLocation": output});
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Started {
            query_execution_id: String,
        }
        let started: Started = self.call(Service::Athena, "StartQueryExecution", &body, false)?;
        Ok(started.query_execution_id)
    }

    pub fn status(&self, query_id: &str) -> Result<Status, AthenaError> {
        let answer: Value = self.call(
            Service::Athena,
            "GetQueryExecution",
            &json!({"QueryExecutionId": query_id}),
            true,
        )?;
        let execution = &answer["QueryExecution"];
        let status = &execution["Status"];
        let state = match status["State"].as_str() {
            Some("QUEUED") => State::Queued,
            Some("RUNNING") => State::Running,
            Some("SUCCEEDED") => State::Succeeded,
            Some("FAILED") => State::Failed,
            Some("CANCELLED") => State::Cancelled,
            other => {
                let state = other.map(super::error::quoted);
                return Err(AthenaError::Failed {
                    service: Service::Athena,
                    detail: format!("it reported the query in an unknown state {state:?}"),
                });
            }
        };
        let text = |value: &Value| value.as_str().map(super::error::quoted);
        Ok(Status {
            state,
            reason: text(&status["StateChangeReason"]),
            statement_type: execution["StatementType"]
                .as_str()
                .unwrap_or("DML")
                .to_owned(),
            output_location: text(&execution["ResultConfiguration"]["OutputLocation"]),
            data_scanned_bytes: execution["Statistics"]["DataScannedInBytes"].as_u64(),
            execution_ms: execution["Statistics"]["TotalExecutionTimeInMillis"].as_u64(),
        })
    }

    /// Polls until the query ends or `wait` has passed; the last status either way. A query
    /// that failed or was cancelled is an error carrying Athena's reason. `known` is a status
    /// the caller has just read, taken as the first poll rather than asked for again.
    pub fn wait(
        &self,
        query_id: &str,
        wait: Duration,
        mut known: Option<Status>,
    ) -> Result<Status, AthenaError> {
        let until = Instant::now() + wait;
        let mut interval = Duration::from_millis(25);
        loop {
            let status = match known.take() {
                Some(status) => status,
                None => self.status(query_id)?,
            };
            match status.state {
                State::Failed => {
                    return Err(AthenaError::QueryFailed {
                        query_id: query_id.to_owned(),
                        reason: status.reason.unwrap_or_else(|| "no reason given".into()),
                    });
                }
                State::Cancelled => {
                    return Err(AthenaError::QueryCancelled {
                        query_id: query_id.to_owned(),
                    });
                }
                state if state.ended() => return Ok(status),
                _ => {}
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(status);
            }
            std::thread::sleep(interval.min(left));
            interval = (interval * 2).min(MAX_POLL_INTERVAL);
        }
    }

    /// One page of a finished query's results, from `token` (none: the first page).
    pub fn page(
        &self,
        query_id: &str,
        token: Option<&str>,
        max_rows: u32,
    ) -> Result<Page, AthenaError> {
        let mut body = json!({
            "QueryExecutionId": query_id,
            "MaxResults": max_rows.clamp(1, MAX_PAGE_ROWS),
        });
        if let Some(token) = token {
            body["NextToken"] = json!(token);
        }
        // Typed, not a `Value`: a page of 1,000 wide rows would otherwise cost tens of times its
        // JSON size in the guest's memory.
        let answer: ResultsAnswer = self.call(Service::Athena, "GetQueryResults", &body, true)?;
        let set = answer.result_set;
        Ok(Page {
            columns: set
                .result_set_metadata
                .column_info
                .into_iter()
                .map(|c| (c.name, c.kind))
                .collect(),
            rows: set
                .rows
                .into_iter()
                .map(|row| row.data.into_iter().map(|d| d.var_char_value).collect())
                .collect(),
            next_token: answer.next_token,
        })
    }
}
