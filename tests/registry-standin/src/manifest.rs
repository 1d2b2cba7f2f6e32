//! Quilt manifests (`.quilt/packages/<top hash>`, JSON Lines): the header line's message and
//! user metadata, then one line per file. Folder-metadata lines (no physical keys) are skipped,
//! as the real indexer skips them.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is empty")]
    Empty,
    #[error("line {line} of the manifest is not a manifest line: {source}")]
    Line {
        line: usize,
        source: serde_json::Error,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub message: Option<String>,
    pub user_meta: Option<Value>,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Entry {
    pub logical_key: String,
    pub size: u64,
    /// As written, e.g. `{"type": "sha2-256-chunked", "value": "<base64>"}`.
    pub hash: Value,
    #[serde(default)]
    pub meta: Option<Value>,
}

#[derive(Deserialize)]
struct Header {
    message: Option<String>,
    user_meta: Option<Value>,
}

/// A line after the header: a file entry, or folder metadata (which has no physical keys).
#[derive(Deserialize)]
struct Line {
    physical_keys: Option<Vec<String>>,
    #[serde(flatten)]
    rest: Value,
}

pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    let mut lines = bytes
        .split(|byte| *byte == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.trim_ascii().is_empty());
    let (_, first) = lines.next().ok_or(ManifestError::Empty)?;
    let header: Header =
        serde_json::from_slice(first).map_err(|source| ManifestError::Line { line: 1, source })?;
    let mut entries = Vec::new();
    for (index, text) in lines {
        let bad = |source| ManifestError::Line {
            line: index + 1,
            source,
        };
        let line: Line = serde_json::from_slice(text).map_err(bad)?;
        if line.physical_keys.is_some() {
            entries.push(serde_json::from_value(line.rest).map_err(bad)?);
        }
    }
    Ok(Manifest {
        message: header.message,
        user_meta: header.user_meta,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{ManifestError, parse};

    #[test]
    fn header_then_files_with_folder_lines_skipped() {
        let text = concat!(
            r#"{"version": "v0", "message": "first", "user_meta": {"team": "x"}}"#,
            "\n",
            r#"{"logical_key": "data/", "meta": {"k": 1}}"#,
            "\n",
            r#"{"logical_key": "data/a.csv", "physical_keys": ["s3://b/a.csv"], "size": 6, "hash": {"type": "SHA256", "value": "ab"}, "meta": {}}"#,
            "\n",
        );
        let manifest = parse(text.as_bytes()).unwrap();
        assert_eq!(manifest.message.as_deref(), Some("first"));
        assert_eq!(manifest.user_meta, Some(json!({"team": "x"})));
        assert_eq!(manifest.entries.len(), 1);
        assert_eq!(manifest.entries[0].logical_key, "data/a.csv");
        assert_eq!(manifest.entries[0].size, 6);
        assert_eq!(manifest.entries[0].meta, Some(json!({})));
    }

    #[test]
    fn broken_lines_are_named() {
        assert!(matches!(parse(b""), Err(ManifestError::Empty)));
        let error = parse(b"{\"version\": \"v0\"}\n{not json\n").unwrap_err();
        assert!(error.to_string().starts_with("line 2 "), "{error}");
    }
}
