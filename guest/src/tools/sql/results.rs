//! A finished query's rows as a tool returns them: typed where Athena's type says how, at most
//! `max_results` rows and [`MAX_CELL_BYTES`] of text per call, and a `next_token` that says
//! where the next call starts — Athena's own token for the page, and how many of its rows were
//! already shown, so a page cut short is never re-read from its start by the caller.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::athena::query::{MAX_PAGE_ROWS, Status};
use crate::athena::{Athena, AthenaError};
use crate::tools::ToolError;

/// The most cell text one call returns; more rows wait for the next call. Each cell counts
/// [`CELL_OVERHEAD_BYTES`] besides its text, so a wide row of NULLs is not free.
pub const MAX_CELL_BYTES: usize = 512 * 1024;
/// What a cell costs beyond its text, in the JSON returned and in the guest's memory.
const CELL_OVERHEAD_BYTES: usize = 8;
/// Rows asked for in a call's first page, before the width of a row is known: a page of a
/// thousand rows of thousands of columns would not fit in the guest's memory.
const FIRST_PAGE_ROWS: usize = 100;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Column {
    pub name: String,
    /// Athena's type: varchar, bigint, double, boolean, date, timestamp, decimal, …
    #[serde(rename = "type")]
    pub kind: String,
}

/// Rows of one call, and where the next starts.
pub struct Rows {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
    /// Set when rows remain.
    pub next: Option<String>,
}

/// Where a call starts in a query's results: Athena's token for a page (none: the first),
/// and how many of that page's rows were already shown.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cursor {
    #[serde(rename = "t")]
    token: Option<String>,
    #[serde(rename = "s")]
    shown: u32,
}

impl Cursor {
    pub fn parse(text: &str) -> Result<Self, ToolError> {
        let bad = || ToolError::Argument {
            name: "next_token",
            problem: "is not a next_token this tool gave for this query".into(),
        };
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        if text.len() > 4096 {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| bad())?;
        let cursor: Self = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if cursor.shown >= MAX_PAGE_ROWS {
            return Err(bad());
        }
        Ok(cursor)
    }

    fn text(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("cursors serialise"))
    }
}

/// Up to `max_rows` rows of the finished query `query_id`, from `cursor`.
pub fn read(
    athena: &Athena<'_>,
    query_id: &str,
    status: &Status,
    mut cursor: Cursor,
    max_rows: u32,
) -> Result<Rows, AthenaError> {
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    let mut bytes = 0;
    loop {
        // The first page of a DML query's results begins with the column names.
        let header = cursor.token.is_none() && status.statement_type == "DML";
        // As many rows as are wanted and fit in what is left of the budget, at the width of
        // the rows seen so far, besides those of the page already shown.
        let fitting = match rows.len() {
            0 => FIRST_PAGE_ROWS,
            seen => MAX_CELL_BYTES.saturating_sub(bytes) * seen / bytes.max(1),
        };
        if fitting == 0 {
            return Ok(Rows {
                columns,
                rows,
                next: Some(cursor.text()),
            });
        }
        let skipped = cursor.shown as usize + usize::from(header);
        let wanted = (max_rows as usize - rows.len()).min(fitting) + skipped;
        let page = athena.page(
            query_id,
            cursor.token.as_deref(),
            wanted.min(MAX_PAGE_ROWS as usize) as u32,
        )?;
        if columns.is_empty() {
            columns = page
                .columns
                .iter()
                .map(|(name, kind)| Column {
                    name: name.clone(),
                    kind: kind.clone(),
                })
                .collect();
        }
        let names: Vec<Option<&str>> = columns.iter().map(|c| Some(c.name.as_str())).collect();
        let mut page_rows = page.rows.iter().peekable();
        if header
            && page_rows
                .peek()
                .is_some_and(|first| first.iter().map(Option::as_deref).eq(names.iter().copied()))
        {
            page_rows.next();
        }
        let mut position = 0u32;
        for row in page_rows {
            position += 1;
            if position <= cursor.shown {
                continue;
            }
            let size: usize = row
                .iter()
                .map(|cell| cell.as_ref().map_or(0, String::len) + CELL_OVERHEAD_BYTES)
                .sum();
            if rows.len() == max_rows as usize
                || (bytes + size > MAX_CELL_BYTES && !rows.is_empty())
            {
                let next = Cursor {
                    token: cursor.token.clone(),
                    shown: position - 1,
                };
                return Ok(Rows {
                    columns,
                    rows,
                    next: Some(next.text()),
                });
            }
            bytes += size;
            rows.push(typed(row, &columns));
        }
        match page.next_token {
            Some(token) => {
                cursor = Cursor {
                    token: Some(token),
                    shown: 0,
                };
                if rows.len() == max_rows as usize {
                    return Ok(Rows {
                        columns,
                        rows,
                        next: Some(cursor.text()),
                    });
                }
            }
            None => {
                return Ok(Rows {
                    columns,
                    rows,
                    next: None,
                });
            }
        }
    }
}

/// Numbers and booleans as JSON numbers and booleans, the rest as Athena's text.
fn typed(row: &[Option<String>], columns: &[Column]) -> Vec<Value> {
    row.iter()
        .enumerate()
        .map(|(i, cell)| {
            let Some(text) = cell else { return Value::Null };
            let kind = columns.get(i).map_or("", |c| c.kind.as_str());
            match kind {
                "tinyint" | "smallint" | "integer" | "bigint" => text
                    .parse::<i64>()
                    .map_or_else(|_| Value::String(text.clone()), Value::from),
                "float" | "real" | "double" => text
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map_or_else(|| Value::String(text.clone()), Value::Number),
                "boolean" => match text.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => Value::String(text.clone()),
                },
                _ => Value::String(text.clone()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{Column, Cursor, MAX_CELL_BYTES, read, typed};
    use crate::athena::Athena;
    use crate::athena::query::{State, Status};
    use crate::testing::{FakeContext, FakeHttp, response};

    /// A GetQueryResults page of `rows` rows of `columns` NULLs (a header row first when
    /// `header`), with a next token.
    fn null_page(columns: usize, rows: usize, header: bool) -> Vec<u8> {
        let info: Vec<Value> = (0..columns)
            .map(|i| json!({"Name": format!("c{i}"), "Type": "varchar"}))
            .collect();
        let names = json!({"Data": (0..columns).map(|i| json!({"VarCharValue": format!("c{i}")})).collect::<Vec<_>>()});
        let nulls = json!({"Data": vec![json!({}); columns]});
        let mut all = Vec::new();
        if header {
            all.push(names);
        }
        all.extend(std::iter::repeat_n(nulls, rows));
        serde_json::to_vec(&json!({
            "ResultSet": {"ResultSetMetadata": {"ColumnInfo": info}, "Rows": all},
            "NextToken": "more",
        }))
        .unwrap()
    }

    fn asked_rows(request: &crate::http::Request) -> u64 {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        body["MaxResults"].as_u64().unwrap()
    }

    /// Rows of NULLs cost their cells, and a call's first page is short until it knows how
    /// wide a row is: a thousand rows of thousands of NULLs would not fit in the guest.
    #[test]
    fn wide_rows_of_nulls_are_paged_by_their_width() {
        let columns = 200;
        let fits = MAX_CELL_BYTES / (columns * super::CELL_OVERHEAD_BYTES);
        let http = FakeHttp::answering(vec![
            response(200, &[], &null_page(columns, 100, true)),
            response(200, &[], &null_page(columns, fits - 100, false)),
        ]);
        let context = FakeContext::default();
        let athena = Athena::connect(&context, &http).unwrap();
        let status = Status {
            state: State::Succeeded,
            reason: None,
            statement_type: "DML".into(),
            output_location: None,
            data_scanned_bytes: None,
            execution_ms: None,
        };
        let rows = read(&athena, "q", &status, Cursor::default(), 1_000).unwrap();
        let sent = http.sent.borrow();
        assert_eq!(
            asked_rows(&sent[0]),
            101,
            "a short first page, and its header"
        );
        assert_eq!(
            asked_rows(&sent[1]),
            (fits - 100) as u64,
            "then as many as fit"
        );
        assert_eq!(sent.len(), 2, "no page is asked for that could not fit");
        assert_eq!(rows.rows.len(), fits, "cut by the budget");
        let next = Cursor::parse(&rows.next.unwrap()).unwrap();
        assert_eq!(
            next,
            Cursor {
                token: Some("more".into()),
                shown: 0
            }
        );
    }

    #[test]
    fn cursors_round_trip_and_hostile_ones_are_refused() {
        let cursor = Cursor {
            token: Some("abc".into()),
            shown: 7,
        };
        assert_eq!(Cursor::parse(&cursor.text()).unwrap(), cursor);
        assert_eq!(Cursor::parse("").unwrap(), Cursor::default());
        for hostile in ["%%%", "eyJ0IjoxfQ", &"A".repeat(10_000)] {
            assert!(Cursor::parse(hostile).is_err(), "{hostile}");
        }
        let too_far = Cursor {
            token: None,
            shown: 5000,
        };
        assert!(Cursor::parse(&too_far.text()).is_err());
    }

    #[test]
    fn cells_are_typed_by_their_column() {
        let columns: Vec<Column> = ["bigint", "double", "boolean", "varchar", "bigint"]
            .iter()
            .map(|kind| Column {
                name: "c".into(),
                kind: (*kind).into(),
            })
            .collect();
        let row = [Some("42"), Some("1.5"), Some("true"), Some("007"), None]
            .map(|c| c.map(str::to_owned));
        assert_eq!(
            typed(&row, &columns),
            [
                json!(42),
                json!(1.5),
                json!(true),
                json!("007"),
                json!(null)
            ]
        );
        let odd = [Some("NaN".to_owned()), Some("x".to_owned())];
        assert_eq!(typed(&odd, &columns[1..]), [json!("NaN"), json!("x")]);
    }
}
