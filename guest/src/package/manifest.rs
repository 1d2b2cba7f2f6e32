//! Package manifests: JSON Lines read in any key order and spacing, written byte for
//! byte as quilt3 writes them, and the top hash that names a revision.

use std::cmp::Ordering;
use std::fmt;

use sha2::{Digest, Sha256};

use super::content_hash::HashType;
use super::json::Json;

#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Line 1 as read: `version`, and optionally `user_meta`, `message`, `workflow`.
    /// Absent, `null` and `{}` user meta hash differently, so it is kept verbatim.
    pub header: Json,
    /// Folder-metadata lines (`{"logical_key": "data/", "meta": ...}`), not hashed.
    pub folders: Vec<(String, Json)>,
    /// File entries in walk order.
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub logical_key: String,
    pub physical_key: String,
    pub size: u64,
    pub hash: ContentHash,
    /// The full entry metadata; user metadata sits under `user_meta`.
    pub meta: Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContentHash {
    pub kind: HashType,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestError {
    NotUtf8,
    BadLine { line: usize, problem: String },
    NoHeader,
    DuplicateKey(String),
    BadLogicalKey(String),
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotUtf8 => f.write_str("the manifest is not UTF-8 text"),
            Self::BadLine { line, problem } => write!(
                f,
                "line {line} of the manifest is not a valid entry: {problem}"
            ),
            Self::NoHeader => f.write_str("the manifest is empty (no header line)"),
            Self::DuplicateKey(key) => write!(f, "the manifest lists '{key}' twice"),
            Self::BadLogicalKey(key) => write!(
                f,
                "the logical key '{key}' is empty or has an empty, '.' or '..' segment, which quilt3 refuses too"
            ),
        }
    }
}

impl Manifest {
    /// A header as quilt3 builds one on push: `version`, then `user_meta`, `workflow` and
    /// `message` when given.
    pub fn new_header(
        user_meta: Option<Json>,
        workflow: Option<Json>,
        message: Option<String>,
    ) -> Json {
        let mut members = vec![("version".to_owned(), Json::String("v0".into()))];
        if let Some(meta) = user_meta {
            members.push(("user_meta".into(), meta));
        }
        if let Some(workflow) = workflow {
            members.push(("workflow".into(), workflow));
        }
        if let Some(message) = message {
            members.push(("message".into(), Json::String(message)));
        }
        Json::Object(members)
    }

    /// Entries are put in walk order; the same logical key twice, or one [`validate_logical_key`]
    /// refuses, is refused.
    pub fn new(
        header: Json,
        folders: Vec<(String, Json)>,
        mut entries: Vec<Entry>,
    ) -> Result<Self, ManifestError> {
        for entry in &entries {
            validate_logical_key(&entry.logical_key)?;
        }
        for (folder, _) in &folders {
            // Folder lines name a folder with its trailing '/': `data/`.
            validate_logical_key(folder.strip_suffix('/').unwrap_or(folder))
                .map_err(|_| ManifestError::BadLogicalKey(folder.clone()))?;
        }
        entries.sort_by(|a, b| walk_order(&a.logical_key, &b.logical_key));
        if let Some(pair) = entries
            .windows(2)
            .find(|pair| pair[0].logical_key == pair[1].logical_key)
        {
            return Err(ManifestError::DuplicateKey(pair[0].logical_key.clone()));
        }
        Ok(Self {
            header,
            folders,
            entries,
        })
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ManifestError::NotUtf8)?;
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty());
        let (_, first) = lines.next().ok_or(ManifestError::NoHeader)?;
        let header: Json = serde_json::from_str(first).map_err(|e| bad_line(0, e.to_string()))?;
        if !matches!(header, Json::Object(_)) {
            return Err(bad_line(0, "the header is not a JSON object".into()));
        }
        let mut folders = Vec::new();
        let mut entries = Vec::new();
        for (index, line) in lines {
            let value: Json =
                serde_json::from_str(line).map_err(|e| bad_line(index, e.to_string()))?;
            let logical_key = value
                .get("logical_key")
                .and_then(Json::as_str)
                .ok_or_else(|| bad_line(index, "no logical_key".into()))?
                .to_owned();
            let meta = value
                .get("meta")
                .cloned()
                .unwrap_or(Json::Object(Vec::new()));
            match value.get("physical_keys") {
                None => folders.push((logical_key, meta)),
                Some(keys) => entries.push(parse_entry(index, logical_key, keys, &value, meta)?),
            }
        }
        Self::new(header, folders, entries)
    }

    /// The manifest as quilt3 writes it: header, folder lines, entries, `\n` after each.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        self.header.write_quilt3(&mut out);
        out.push('\n');
        for (logical_key, meta) in &self.folders {
            Json::Object(vec![
                ("logical_key".into(), Json::String(logical_key.clone())),
                ("meta".into(), meta.clone()),
            ])
            .write_quilt3(&mut out);
            out.push('\n');
        }
        for entry in &self.entries {
            Json::Object(vec![
                (
                    "logical_key".into(),
                    Json::String(entry.logical_key.clone()),
                ),
                (
                    "physical_keys".into(),
                    Json::Array(vec![Json::String(entry.physical_key.clone())]),
                ),
                ("size".into(), Json::Int(entry.size.into())),
                ("hash".into(), entry.hash.to_json()),
                ("meta".into(), entry.meta.clone()),
            ])
            .write_quilt3(&mut out);
            out.push('\n');
        }
        out
    }

    /// sha256 over the canonical header and each entry's hash, key, meta and size, in
    /// walk order; physical keys and folder metadata are not part of the identity.
    pub fn top_hash(&self) -> String {
        let mut hasher = Sha256::new();
        let mut buffer = String::new();
        self.header.write_canonical(&mut buffer);
        hasher.update(buffer.as_bytes());
        for entry in &self.entries {
            buffer.clear();
            Json::Object(vec![
                ("hash".into(), entry.hash.to_json()),
                (
                    "logical_key".into(),
                    Json::String(entry.logical_key.clone()),
                ),
                ("meta".into(), entry.meta.clone()),
                ("size".into(), Json::Int(entry.size.into())),
            ])
            .write_canonical(&mut buffer);
            hasher.update(buffer.as_bytes());
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn message(&self) -> Option<&str> {
        self.header.get("message").and_then(Json::as_str)
    }

    pub fn user_meta(&self) -> Option<&Json> {
        self.header.get("user_meta")
    }
}

impl ContentHash {
    fn to_json(&self) -> Json {
        Json::Object(vec![
            ("type".into(), Json::String(self.kind.name().to_owned())),
            ("value".into(), Json::String(self.value.clone())),
        ])
    }
}

fn parse_entry(
    index: usize,
    logical_key: String,
    keys: &Json,
    value: &Json,
    meta: Json,
) -> Result<Entry, ManifestError> {
    let physical_key = match keys {
        Json::Array(items) => items.first().and_then(Json::as_str),
        _ => None,
    }
    .ok_or_else(|| bad_line(index, "physical_keys is not a list of one URL".into()))?
    .to_owned();
    let size = match value.get("size") {
        Some(Json::Int(size)) => u64::try_from(*size).ok(),
        _ => None,
    }
    .ok_or_else(|| bad_line(index, "size is not a non-negative integer".into()))?;
    let hash = value
        .get("hash")
        .ok_or_else(|| bad_line(index, "no hash".into()))?;
    let kind = hash.get("type").and_then(Json::as_str);
    let hash_value = hash.get("value").and_then(Json::as_str);
    let (Some(kind), Some(hash_value)) = (kind, hash_value) else {
        return Err(bad_line(index, "hash needs a type and a value".into()));
    };
    Ok(Entry {
        logical_key,
        physical_key,
        size,
        hash: ContentHash {
            kind: HashType::parse(kind),
            value: hash_value.to_owned(),
        },
        meta,
    })
}

fn bad_line(index: usize, problem: String) -> ManifestError {
    ManifestError::BadLine {
        line: index + 1,
        problem,
    }
}

/// quilt3's rule for a logical key (`quilt3.util.validate_key`): not empty, and no empty, `.` or
/// `..` segment. Copied data lands at `<ns>/<name>/<logical key>`, so such a key would write
/// outside the package.
pub fn validate_logical_key(key: &str) -> Result<(), ManifestError> {
    if key.is_empty() || key.split('/').any(|part| matches!(part, "" | "." | "..")) {
        return Err(ManifestError::BadLogicalKey(key.to_owned()));
    }
    Ok(())
}

/// quilt3 walks a package folder by folder, sorting names within each: `data/a.txt`
/// (in folder `data`) comes before `data-z.txt` although a flat sort says otherwise.
pub fn walk_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

#[cfg(test)]
mod tests {
    use super::{Json, Manifest, ManifestError, walk_order};
    use std::path::Path;

    const FIXTURES: [&str; 6] = [
        "header-no-user-meta",
        "header-user-meta-empty",
        "header-user-meta-null",
        "nested",
        "numbers-unicode",
        "two-chunks",
    ];

    fn fixture(name: &str, file: &str) -> Vec<u8> {
        // Read at run time: clones sharing one target directory reuse the test binary.
        let path = Path::new(
            &std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
        )
        .join("src/package/testdata")
        .join(name)
        .join(file);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn every_fixture_reproduces_its_top_hash_and_bytes() {
        for name in FIXTURES {
            let bytes = fixture(name, "manifest.jsonl");
            let manifest = Manifest::parse(&bytes).unwrap();
            let expected = String::from_utf8(fixture(name, "top_hash")).unwrap();
            assert_eq!(manifest.top_hash(), expected.trim(), "{name}");
            assert_eq!(
                manifest.to_jsonl().as_bytes(),
                bytes.as_slice(),
                "{name}: not byte-exact"
            );
        }
    }

    #[test]
    fn every_fixture_entry_matches_expected_json() {
        for name in FIXTURES {
            let manifest = Manifest::parse(&fixture(name, "manifest.jsonl")).unwrap();
            let expected: serde_json::Value =
                serde_json::from_slice(&fixture(name, "expected.json")).unwrap();
            let entries = expected["entries"].as_object().unwrap();
            assert_eq!(entries.len(), manifest.entries.len(), "{name}");
            for entry in &manifest.entries {
                let want = &entries[&entry.logical_key];
                assert_eq!(want["size"], entry.size, "{name} {}", entry.logical_key);
                assert_eq!(want["hash"]["type"], entry.hash.kind.name(), "{name}");
                assert_eq!(want["hash"]["value"], entry.hash.value.as_str(), "{name}");
            }
        }
    }

    #[test]
    fn fixture_file_contents_hash_to_their_entries() {
        use super::super::content_hash::Hasher;
        for name in FIXTURES {
            let manifest = Manifest::parse(&fixture(name, "manifest.jsonl")).unwrap();
            let expected: serde_json::Value =
                serde_json::from_slice(&fixture(name, "expected.json")).unwrap();
            for entry in &manifest.entries {
                let content = expected["files"][&entry.logical_key].as_str().unwrap();
                if content.starts_with("GENERATED") {
                    continue; // two-chunks/big.bin: covered by content_hash's tests.
                }
                let mut hasher = Hasher::new(&entry.hash.kind, content.len() as u64).unwrap();
                hasher.update(content.as_bytes());
                assert_eq!(
                    hasher.finish(),
                    entry.hash.value,
                    "{name} {}",
                    entry.logical_key
                );
            }
        }
    }

    #[test]
    fn compact_and_reordered_json_reads_the_same() {
        let spaced = fixture("nested", "manifest.jsonl");
        let mut compact = String::new();
        for line in std::str::from_utf8(&spaced).unwrap().lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            // serde_json's map sorts keys: a different order from quilt3's.
            compact.push_str(&serde_json::to_string(&value).unwrap());
            compact.push('\n');
        }
        let original = Manifest::parse(&spaced).unwrap();
        let reread = Manifest::parse(compact.as_bytes()).unwrap();
        assert_eq!(reread.top_hash(), original.top_hash());
        assert_eq!(reread.entries, original.entries);
    }

    #[test]
    fn header_user_meta_absent_null_and_empty_differ() {
        let hashes: Vec<String> = [
            "header-no-user-meta",
            "header-user-meta-null",
            "header-user-meta-empty",
        ]
        .iter()
        .map(|name| {
            Manifest::parse(&fixture(name, "manifest.jsonl"))
                .unwrap()
                .top_hash()
        })
        .collect();
        assert!(hashes[0] != hashes[1] && hashes[1] != hashes[2] && hashes[0] != hashes[2]);
    }

    #[test]
    fn header_only_vectors() {
        for (header, expected) in [
            (
                r#"{"version": "v0", "user_meta": {}, "message": ""}"#,
                "0929824c58e90a6d2cc3ad2c7bdc66e34f43e8ed7063a6b48595a3834dd3ec99",
            ),
            (
                r#"{"message": "", "version": "v0"}"#,
                "770459d4230273fd44b272c552d1204458175e7d7cb26fcd601c662cf5f72d05",
            ),
            (
                r#"{"version": "v0", "message": "", "user_meta": null}"#,
                "39ee9fb46019db2d8373c991d7881ba90bbb6a6c65417e108c295363794dec3c",
            ),
        ] {
            assert_eq!(
                Manifest::parse(header.as_bytes()).unwrap().top_hash(),
                expected,
                "{header}"
            );
        }
    }

    #[test]
    fn walk_order_is_per_folder() {
        let mut keys = vec![
            "data-z.txt",
            "data/sub/b c.csv",
            "a",
            "data/a.txt",
            "data.txt",
            "data/empty.bin",
        ];
        keys.sort_by(|a, b| walk_order(a, b));
        assert_eq!(
            keys,
            [
                "a",
                "data/a.txt",
                "data/empty.bin",
                "data/sub/b c.csv",
                "data-z.txt",
                "data.txt"
            ]
        );
    }

    #[test]
    fn entries_are_walk_ordered_and_unique_on_build() {
        let manifest = Manifest::parse(&fixture("nested", "manifest.jsonl")).unwrap();
        let mut shuffled = manifest.entries.clone();
        shuffled.reverse();
        let rebuilt =
            Manifest::new(manifest.header.clone(), manifest.folders.clone(), shuffled).unwrap();
        assert_eq!(rebuilt.top_hash(), manifest.top_hash());
        let mut doubled = manifest.entries.clone();
        doubled.push(manifest.entries[0].clone());
        assert_eq!(
            Manifest::new(manifest.header.clone(), Vec::new(), doubled),
            Err(ManifestError::DuplicateKey("data/a.txt".into()))
        );
    }

    #[test]
    fn new_header_follows_quilt3_key_order() {
        let header = Manifest::new_header(Some(Json::Object(vec![])), None, Some("m".into()));
        let mut out = String::new();
        header.write_quilt3(&mut out);
        assert_eq!(out, r#"{"version": "v0", "user_meta": {}, "message": "m"}"#);
        let workflow = Json::Object(vec![("id".into(), Json::Null)]);
        let header = Manifest::new_header(None, Some(workflow), Some("m".into()));
        let mut out = String::new();
        header.write_quilt3(&mut out);
        assert_eq!(
            out,
            r#"{"version": "v0", "workflow": {"id": null}, "message": "m"}"#
        );
    }

    #[test]
    fn bad_lines_are_named() {
        let error = Manifest::parse(b"{\"version\": \"v0\"}\n{\"logical_key\": \"a\", \"physical_keys\": [\"s3://b/a\"], \"size\": -1, \"hash\": {}}\n").unwrap_err();
        assert!(
            matches!(error, ManifestError::BadLine { line: 2, .. }),
            "{error}"
        );
        assert_eq!(Manifest::parse(b""), Err(ManifestError::NoHeader));
    }

    fn entry_line(logical_key: &str) -> String {
        format!(
            r#"{{"logical_key": "{logical_key}", "physical_keys": ["s3://b/k"], "size": 1, "hash": {{"type": "SHA256", "value": "00"}}, "meta": {{}}}}"#
        )
    }

    #[test]
    fn logical_keys_follow_quilt3s_rule() {
        for bad in [
            "",
            "a/../victim",
            "../x",
            "a/./b",
            ".",
            "..",
            "a//b",
            "/a",
            "a/",
        ] {
            let text = format!("{{\"version\": \"v0\"}}\n{}\n", entry_line(bad));
            let error = Manifest::parse(text.as_bytes()).expect_err(bad);
            assert_eq!(error, ManifestError::BadLogicalKey(bad.into()), "{bad}");
            assert!(error.to_string().contains(&format!("'{bad}'")), "{error}");
        }
        let folder = "{\"version\": \"v0\"}\n{\"logical_key\": \"a/../\", \"meta\": {}}\n";
        assert_eq!(
            Manifest::parse(folder.as_bytes()),
            Err(ManifestError::BadLogicalKey("a/../".into()))
        );
        for good in ["a", "..a/b..", "dir/.hidden", "é t/x"] {
            let text = format!("{{\"version\": \"v0\"}}\n{}\n", entry_line(good));
            assert!(Manifest::parse(text.as_bytes()).is_ok(), "{good}");
        }
        let nested = Manifest::parse(&fixture("nested", "manifest.jsonl")).unwrap();
        assert!(!nested.folders.is_empty(), "the fixture has folder lines");
    }

    /// Python's json (quilt3) keeps the last of duplicate keys; so does this reader, for the
    /// header and for entries, and the top hash is the one quilt3 computes for that reading.
    #[test]
    fn duplicate_json_keys_resolve_as_quilt3_reads_them() {
        let doubled = concat!(
            r#"{"version": "v0", "message": "first", "user_meta": {"k": 1, "k": 2}, "message": "last"}"#,
            "\n",
            r#"{"logical_key": "first.txt", "physical_keys": ["s3://b/first"], "size": 9, "hash": {"type": "SHA256", "value": "00"}, "meta": {}, "logical_key": "last.txt", "size": 1, "physical_keys": ["s3://b/last"]}"#,
            "\n"
        );
        let as_quilt3_reads_it = concat!(
            r#"{"version": "v0", "message": "last", "user_meta": {"k": 2}}"#,
            "\n",
            r#"{"logical_key": "last.txt", "physical_keys": ["s3://b/last"], "size": 1, "hash": {"type": "SHA256", "value": "00"}, "meta": {}}"#,
            "\n"
        );
        let read = Manifest::parse(doubled.as_bytes()).unwrap();
        let expected = Manifest::parse(as_quilt3_reads_it.as_bytes()).unwrap();
        assert_eq!(read.message(), Some("last"));
        assert_eq!(read.entries, expected.entries);
        assert_eq!(read.top_hash(), expected.top_hash());
        assert_eq!(read.to_jsonl(), as_quilt3_reads_it);
    }
}
