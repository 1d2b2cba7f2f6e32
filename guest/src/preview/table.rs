//! CSV, TSV and JSON Lines: the header (first line) and the rows of a window of the object.
//! A window that stops inside the object is cut after its last full line, and the next
//! part starts there; a quoted field holding a line break across that cut is the one case
//! read wrong (the next part then starts mid-field).

use std::collections::HashSet;

use serde_json::Value;

use super::{Column, Table, ValueKind, infer};

/// The most columns shown: a line of a million commas is not a million columns of answer.
const MAX_COLUMNS: usize = 256;
/// The longest cell shown, in characters; a longer one is cut with an ellipsis.
const MAX_CELL_CHARS: usize = 1000;
/// The most notes (lines that did not parse) listed; past it they are counted.
const MAX_NOTES: usize = 10;

/// The table in `window` (the object's bytes from `offset`; `more` when the object goes on),
/// with `header` the object's first line when `offset` is past it.
pub fn delimited(
    delimiter: u8,
    header: Option<&[u8]>,
    window: &[u8],
    offset: u64,
    more: bool,
    max_rows: usize,
) -> Table {
    let (window, cut) = whole_lines(window, more);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(window);
    let mut records = reader.byte_records();
    let names: Vec<String> = match header {
        Some(line) => first_record(delimiter, line),
        None => records
            .next()
            .and_then(Result::ok)
            .map(|r| cells(&r))
            .unwrap_or_default(),
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut notes = Vec::new();
    let mut next = None;
    for record in records.by_ref() {
        if rows.len() == max_rows {
            next = record
                .ok()
                .and_then(|r| r.position().map(|p| offset + p.byte()));
            break;
        }
        match record {
            Ok(record) => rows.push(cells(&record)),
            Err(error) => {
                notes.push(format!(
                    "a row did not parse ({error}); the rows after it are not shown"
                ));
                break;
            }
        }
    }
    if next.is_none() && more && notes.is_empty() {
        next = advance(offset, cut, &mut notes);
    }
    if rows.iter().any(|r| r.len() == MAX_COLUMNS) || names.len() == MAX_COLUMNS {
        notes.push(format!("only the first {MAX_COLUMNS} columns are shown"));
    }
    let width = rows
        .iter()
        .map(Vec::len)
        .chain([names.len()])
        .max()
        .unwrap_or(0);
    let columns = (0..width)
        .map(|i| Column {
            name: names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("column_{}", i + 1)),
            kind: infer(
                rows.iter()
                    .map(|r| r.get(i).map_or(ValueKind::Empty, |c| ValueKind::of_text(c))),
            ),
        })
        .collect();
    Table {
        format: if delimiter == b'\t' { "tsv" } else { "csv" },
        columns,
        rows: rows
            .into_iter()
            .map(|r| r.into_iter().map(Value::String).collect())
            .collect(),
        total_rows: None,
        next_offset: next,
        notes,
    }
}

/// Where the next part starts: after the last full line, or nowhere (with a note) when the
/// window held no full line, which asking again from the same place would not change.
fn advance(offset: u64, cut: usize, notes: &mut Vec<String>) -> Option<u64> {
    if cut == 0 {
        notes.push("a line is longer than max_bytes, so no row could be shown; ask again with a larger max_bytes".into());
        return None;
    }
    Some(offset + cut as u64)
}

/// JSON Lines: one value per line; objects become rows under the union of their keys. A line
/// that is not JSON counts toward `max_rows` and gets a note.
pub fn json_lines(window: &[u8], offset: u64, more: bool, max_rows: usize) -> Table {
    let (window, cut) = whole_lines(window, more);
    let mut values: Vec<Value> = Vec::new();
    let mut notes = Vec::new();
    let mut unparsed = 0usize;
    let mut next = None;
    let mut position = 0;
    for line in window.split_inclusive(|b| *b == b'\n') {
        let start = position;
        position += line.len();
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        if values.len() + unparsed == max_rows {
            next = Some(offset + start as u64);
            break;
        }
        match serde_json::from_slice::<Value>(text) {
            Ok(value) => values.push(value),
            Err(error) => {
                unparsed += 1;
                if unparsed <= MAX_NOTES {
                    notes.push(format!(
                        "the line at byte {} is not JSON ({error})",
                        offset + start as u64
                    ));
                }
            }
        }
    }
    if unparsed > MAX_NOTES {
        notes.push(format!(
            "and {} more lines that are not JSON",
            unparsed - MAX_NOTES
        ));
    }
    if next.is_none() && more {
        next = advance(offset, cut, &mut notes);
    }
    let mut names: Vec<String> = Vec::new();
    let mut named = HashSet::new();
    let mut add = |name: &str| {
        if names.len() < MAX_COLUMNS && named.insert(name.to_owned()) {
            names.push(name.to_owned());
        }
    };
    for value in &values {
        match value {
            Value::Object(members) => members.keys().for_each(|key| add(key)),
            _ => add("value"),
        }
    }
    if names.len() == MAX_COLUMNS {
        notes.push(format!(
            "only the first {MAX_COLUMNS} keys are shown as columns"
        ));
    }
    let cell = |value: &Value, name: &str| match value {
        Value::Object(members) => members.get(name).map_or(Value::Null, bounded_value),
        other if name == "value" => bounded_value(other),
        _ => Value::Null,
    };
    let rows: Vec<Vec<Value>> = values
        .iter()
        .map(|v| names.iter().map(|n| cell(v, n)).collect())
        .collect();
    let columns = names
        .iter()
        .enumerate()
        .map(|(i, name)| Column {
            name: name.clone(),
            kind: infer(rows.iter().map(|r| ValueKind::of_json(&r[i]))),
        })
        .collect();
    Table {
        format: "jsonl",
        columns,
        rows,
        total_rows: None,
        next_offset: next,
        notes,
    }
}

/// The window up to its last line break when the object goes on, and where that is.
fn whole_lines(window: &[u8], more: bool) -> (&[u8], usize) {
    if !more {
        return (window, window.len());
    }
    match window.iter().rposition(|b| *b == b'\n') {
        Some(end) => (&window[..=end], end + 1),
        None => (&window[..0], 0),
    }
}

fn first_record(delimiter: u8, line: &[u8]) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .from_reader(line);
    reader
        .byte_records()
        .next()
        .and_then(Result::ok)
        .map(|r| cells(&r))
        .unwrap_or_default()
}

/// A record's first [`MAX_COLUMNS`] fields as text (bytes that are not UTF-8 shown as
/// U+FFFD), each at most [`MAX_CELL_CHARS`].
fn cells(record: &csv::ByteRecord) -> Vec<String> {
    record
        .iter()
        .take(MAX_COLUMNS)
        .map(|f| crate::echo::bounded(&String::from_utf8_lossy(f), MAX_CELL_CHARS))
        .collect()
}

/// A JSON value as shown in a cell: itself, or when its text is longer than
/// [`MAX_CELL_CHARS`], that text cut short.
fn bounded_value(value: &Value) -> Value {
    match value {
        Value::Array(_) | Value::Object(_) | Value::String(_) => {
            let text = value.to_string();
            if text.chars().count() <= MAX_CELL_CHARS {
                value.clone()
            } else {
                Value::String(crate::echo::bounded(&text, MAX_CELL_CHARS))
            }
        }
        scalar => scalar.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{MAX_COLUMNS, delimited, json_lines};

    #[test]
    fn csv_header_types_rows_and_the_next_part() {
        let data = b"id,name,score\n1,ada,9.5\n2,\"b, c\",7\n3,dee,\n4,eve,1";
        let table = delimited(b',', None, data, 0, false, 2);
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "name", "score"]);
        assert_eq!(table.columns[2].kind, "number");
        assert_eq!(table.rows[1], [json!("2"), json!("b, c"), json!("7")]);
        let next = table.next_offset.expect("more rows") as usize;
        assert_eq!(&data[next..next + 5], b"3,dee");
        // The next part, read from there with the header given.
        let rest = delimited(
            b',',
            Some(b"id,name,score\n"),
            &data[next..],
            next as u64,
            false,
            10,
        );
        assert_eq!(rest.rows.len(), 2);
        assert_eq!(rest.columns[0].name, "id");
        assert_eq!(rest.next_offset, None);
    }

    #[test]
    fn a_window_cut_mid_line_ends_at_its_last_full_line() {
        let data = b"a\tb\n1\t2\n3\t4";
        let table = delimited(b'\t', None, data, 0, true, 10);
        assert_eq!(table.rows, [[json!("1"), json!("2")]]);
        assert_eq!(table.next_offset, Some(8));
        assert_eq!(table.format, "tsv");
    }

    #[test]
    fn json_lines_take_the_union_of_keys() {
        let data = b"{\"a\": 1}\n\n{\"b\": \"x\", \"a\": 2.5}\nnot json\n{\"a\": 3}\n";
        let table = json_lines(data, 0, false, 2);
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            table.rows,
            [[json!(1), json!(null)], [json!(2.5), json!("x")]]
        );
        assert_eq!(table.columns[0].kind, "number");
        assert_eq!(table.next_offset, Some(31));
        let rest = json_lines(&data[31..], 31, false, 5);
        assert_eq!(rest.rows, [[json!(3)]]);
        assert_eq!(rest.notes.len(), 1, "{:?}", rest.notes);
    }

    #[test]
    fn hostile_windows_stay_small_and_never_stall() {
        let commas = ",".repeat(100_000) + "\n1\n";
        let table = delimited(b',', None, commas.as_bytes(), 0, false, 5);
        assert_eq!(table.columns.len(), MAX_COLUMNS);
        assert!(
            table.notes.iter().any(|n| n.contains("first 256")),
            "{:?}",
            table.notes
        );
        let long = "x".repeat(5000);
        let table = delimited(b',', None, format!("a\n{long}\n").as_bytes(), 0, false, 5);
        assert!(table.rows[0][0].as_str().unwrap().chars().count() <= 1001);
        // No line break in the window: no next part that would be this one again.
        let table = delimited(b',', None, long.as_bytes(), 0, true, 5);
        assert_eq!(table.next_offset, None);
        assert!(
            table.notes[0].contains("larger max_bytes"),
            "{:?}",
            table.notes
        );
        let table = json_lines(long.as_bytes(), 7, true, 5);
        assert_eq!(table.next_offset, None);
        let garbage = "nope\n".repeat(1000);
        let table = json_lines(garbage.as_bytes(), 0, false, 20);
        assert_eq!(table.notes.len(), 11, "{:?}", table.notes);
        assert_eq!(
            table.next_offset,
            Some(100),
            "bad lines count toward max_rows"
        );
    }
}
