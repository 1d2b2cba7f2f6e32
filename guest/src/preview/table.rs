//! CSV, TSV and JSON Lines: the header (first line) and the rows of a window of the object.
//! A window that stops inside the object is cut after its last full line, and the next
//! part starts there; a quoted field holding a line break across that cut is the one case
//! read wrong (the next part then starts mid-field).

use serde_json::Value;

use super::{Column, Table, ValueKind, infer};

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
        next = Some(offset + cut as u64);
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

/// JSON Lines: one value per line; objects become rows under the union of their keys.
pub fn json_lines(window: &[u8], offset: u64, more: bool, max_rows: usize) -> Table {
    let (window, cut) = whole_lines(window, more);
    let mut values: Vec<Value> = Vec::new();
    let mut notes = Vec::new();
    let mut next = None;
    let mut position = 0;
    for line in window.split_inclusive(|b| *b == b'\n') {
        let start = position;
        position += line.len();
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        if values.len() == max_rows {
            next = Some(offset + start as u64);
            break;
        }
        match serde_json::from_slice::<Value>(text) {
            Ok(value) => values.push(value),
            Err(error) => notes.push(format!(
                "the line at byte {} is not JSON ({error})",
                offset + start as u64
            )),
        }
    }
    if next.is_none() && more {
        next = Some(offset + cut as u64);
    }
    let mut names: Vec<String> = Vec::new();
    for value in &values {
        match value {
            Value::Object(members) => {
                for key in members.keys() {
                    if !names.contains(key) {
                        names.push(key.clone());
                    }
                }
            }
            _ if !names.iter().any(|n| n == "value") => names.push("value".into()),
            _ => {}
        }
    }
    let cell = |value: &Value, name: &str| match value {
        Value::Object(members) => members.get(name).cloned().unwrap_or(Value::Null),
        other if name == "value" => other.clone(),
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

/// A record's fields as text (bytes that are not UTF-8 shown as U+FFFD).
fn cells(record: &csv::ByteRecord) -> Vec<String> {
    record
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{delimited, json_lines};

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
}
