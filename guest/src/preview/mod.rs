//! Previews: an object's bytes turned into what a model can look at — images as image
//! content small enough to send, PDFs as embedded files, tables (CSV, TSV, JSON Lines,
//! Parquet) as columns and first rows, anything else as text — each bounded, and each
//! saying where the next part starts when there is more.
//!
//! Pure functions over bytes already read; `tools/preview.rs` decides what to read.

pub mod image;
pub mod parquet;
pub mod table;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// What an object is, for previewing: by its key's extension, else its content type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Image,
    Pdf,
    Delimited(u8),
    JsonLines,
    Parquet,
    Text,
}

impl Kind {
    pub fn of(key: &str, content_type: Option<&str>) -> Self {
        let extension = key
            .rsplit('/')
            .next()
            .and_then(|name| name.rsplit_once('.'))
            .map(|(_, extension)| extension.to_ascii_lowercase());
        let by_extension = match extension.as_deref() {
            Some("png" | "jpg" | "jpeg" | "gif" | "webp") => Some(Self::Image),
            Some("pdf") => Some(Self::Pdf),
            Some("csv") => Some(Self::Delimited(b',')),
            Some("tsv" | "tab") => Some(Self::Delimited(b'\t')),
            Some("jsonl" | "ndjson") => Some(Self::JsonLines),
            Some("parquet" | "pq") => Some(Self::Parquet),
            _ => None,
        };
        let mime = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase());
        by_extension.unwrap_or(match mime.as_deref() {
            Some(m) if m.starts_with("image/") => Self::Image,
            Some("application/pdf") => Self::Pdf,
            Some("text/csv") => Self::Delimited(b','),
            Some("text/tab-separated-values") => Self::Delimited(b'\t'),
            Some("application/x-ndjson" | "application/jsonl") => Self::JsonLines,
            Some("application/vnd.apache.parquet" | "application/x-parquet") => Self::Parquet,
            _ => Self::Text,
        })
    }
}

/// A table's columns and some of its rows.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Table {
    /// csv, tsv, jsonl or parquet.
    pub format: &'static str,
    pub columns: Vec<Column>,
    /// The rows shown, each a list of values in column order.
    #[schemars(schema_with = "rows_schema")]
    pub rows: Vec<Vec<Value>>,
    /// Rows in the whole table, when the format says (Parquet does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_rows: Option<u64>,
    /// Where the next part starts, when there is more: pass it as `offset` to see it.
    pub next_offset: Option<u64>,
    /// Anything the model should know: lines that did not parse, codecs refused.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Rows of cells, each any JSON value — said as a schema, since a bare `true` (what a
/// `Value` would get) is refused by clients that map schemas onto narrower dialects.
pub fn rows_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {
            "type": "array",
            "items": {"anyOf": [
                {"type": "string"}, {"type": "number"}, {"type": "boolean"},
                {"type": "null"}, {"type": "object"}, {"type": "array"}
            ]}
        }
    })
}

#[derive(Debug, Serialize, JsonSchema, PartialEq)]
pub struct Column {
    pub name: String,
    /// The type: inferred from the rows shown for CSV, TSV and JSON Lines (integer, number,
    /// boolean, string, empty or mixed); the file's own for Parquet.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The type the values of one column suggest.
pub fn infer(values: impl Iterator<Item = ValueKind>) -> String {
    let mut seen: Option<ValueKind> = None;
    for value in values {
        seen = Some(match (seen, value) {
            (_, ValueKind::Empty) => seen.unwrap_or(ValueKind::Empty),
            (None | Some(ValueKind::Empty), v) => v,
            (Some(a), b) if a == b => a,
            (Some(ValueKind::Integer), ValueKind::Number)
            | (Some(ValueKind::Number), ValueKind::Integer) => ValueKind::Number,
            _ => ValueKind::Mixed,
        });
    }
    seen.unwrap_or(ValueKind::Empty).name().to_owned()
}

/// The kind of one value, for [`infer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueKind {
    Empty,
    Integer,
    Number,
    Boolean,
    String,
    Mixed,
}

impl ValueKind {
    pub fn of_text(cell: &str) -> Self {
        let cell = cell.trim();
        if cell.is_empty() {
            Self::Empty
        } else if cell.parse::<i64>().is_ok() {
            Self::Integer
        } else if cell.parse::<f64>().is_ok_and(f64::is_finite) {
            Self::Number
        } else if matches!(cell.to_ascii_lowercase().as_str(), "true" | "false") {
            Self::Boolean
        } else {
            Self::String
        }
    }

    pub fn of_json(value: &Value) -> Self {
        match value {
            Value::Null => Self::Empty,
            Value::Bool(_) => Self::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => Self::Integer,
            Value::Number(_) => Self::Number,
            Value::String(_) => Self::String,
            Value::Array(_) | Value::Object(_) => Self::Mixed,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::String => "string",
            Self::Mixed => "mixed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Kind, ValueKind, infer};

    #[test]
    fn kinds_by_extension_then_content_type() {
        assert_eq!(Kind::of("a/b.PNG", None), Kind::Image);
        assert_eq!(
            Kind::of("t.tsv", Some("text/plain")),
            Kind::Delimited(b'\t')
        );
        assert_eq!(Kind::of("noext", Some("image/webp")), Kind::Image);
        assert_eq!(
            Kind::of("x.data", Some("text/csv; charset=utf-8")),
            Kind::Delimited(b',')
        );
        assert_eq!(Kind::of("dir.csv/file", None), Kind::Text);
        assert_eq!(Kind::of("f.parquet", None), Kind::Parquet);
    }

    #[test]
    fn types_are_inferred_from_the_cells() {
        let cells = |c: &[&str]| infer(c.iter().map(|v| ValueKind::of_text(v)));
        assert_eq!(cells(&["1", "", "3"]), "integer");
        assert_eq!(cells(&["1", "2.5"]), "number");
        assert_eq!(cells(&["true", "FALSE"]), "boolean");
        assert_eq!(cells(&["a", "1"]), "mixed");
        assert_eq!(cells(&["", ""]), "empty");
        assert_eq!(cells(&["nan"]), "string");
    }
}
