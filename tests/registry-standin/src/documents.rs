//! The documents the real Quilt indexer puts in Elasticsearch, built from what S3 holds.
//!
//! Index `B` has a document per object of bucket B (keys under `.quilt/` excepted); index
//! `B_packages` has, per named package, one document for its `latest` revision and one per
//! file of that revision. Field names follow the real indexer; `ptr_name` and `mnfst_name` on
//! entry documents are this stand-in's addition, so a hit names its package without a join.

use serde_json::{Map, Value, json};

use crate::manifest::Manifest;
use crate::s3::{Head, Listed};

/// Quilt's own objects (manifests, pointers) are package data, not searchable objects.
pub const QUILT_PREFIX: &str = ".quilt/";
const POINTER_PREFIX: &str = ".quilt/named_packages/";
const LATEST: &str = "latest";
pub const PACKAGES_SUFFIX: &str = "_packages";

/// One Elasticsearch document: where it lives, its id and its `_source`.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchDoc {
    pub index: String,
    pub id: String,
    pub source: Map<String, Value>,
}

/// The package index of `bucket`.
pub fn packages_index(bucket: &str) -> String {
    format!("{bucket}{PACKAGES_SUFFIX}")
}

/// The document of one object. `version_id` is `"null"` for an unversioned object, as the
/// real indexer stores it.
pub fn object_doc(bucket: &str, object: &Listed, head: &Head) -> SearchDoc {
    let version_id = head.version_id.as_deref().unwrap_or("null");
    SearchDoc {
        index: bucket.to_owned(),
        id: format!("{}:{version_id}", object.key),
        source: into_map(json!({
            "key": object.key,
            "size": object.size,
            "last_modified": object.last_modified,
            "content_type": head.content_type,
            "ext": extension(&object.key),
            "version_id": version_id,
            "etag": object.etag,
        })),
    }
}

/// The `ext` the real indexer stores: the last suffix of the key's file name, lowercased,
/// with its dot (`.csv`); for a gzipped file the suffix before `.gz` (`x.csv.gz` → `.csv`).
/// Empty when there is none. (The indexer's guesses for Spark/Hive parquet part files are
/// left out.)
pub fn extension(key: &str) -> String {
    let name = key.rsplit('/').next().unwrap_or(key);
    let last = suffix(name);
    if last.eq_ignore_ascii_case(".gz") {
        return suffix(&name[..name.len() - last.len()]).to_lowercase();
    }
    last.to_lowercase()
}

/// Python's `PurePosixPath(name).suffix`: from the last dot, unless the name starts or ends there.
fn suffix(name: &str) -> &str {
    match name.rfind('.') {
        Some(dot) if dot > 0 && dot + 1 < name.len() => &name[dot..],
        _ => "",
    }
}

/// `ns/name` when `key` is the `latest` pointer of a named package.
pub fn latest_pointer_package(key: &str) -> Option<String> {
    let name = key.strip_prefix(POINTER_PREFIX)?.strip_suffix(LATEST)?;
    let name = name.strip_suffix('/')?;
    let (namespace, short) = name.split_once('/')?;
    let valid = !namespace.is_empty() && !short.is_empty() && !short.contains('/');
    valid.then(|| name.to_owned())
}

/// The manifest key of a revision.
pub fn manifest_key(top_hash: &str) -> String {
    format!("{QUILT_PREFIX}packages/{top_hash}")
}

/// A package's `latest` revision as documents: the revision's own, then one per file.
pub fn package_docs(
    bucket: &str,
    name: &str,
    pointer: &Listed,
    top_hash: &str,
    manifest: &Manifest,
) -> Vec<SearchDoc> {
    let index = packages_index(bucket);
    let revision = SearchDoc {
        index: index.clone(),
        id: format!("ptr:{name}/{LATEST}"),
        source: into_map(json!({
            "ptr_name": name,
            "ptr_tag": LATEST,
            "ptr_last_modified": pointer.last_modified,
            "mnfst_name": top_hash,
            "comment": manifest.message.clone().unwrap_or_default(),
            "metadata": json_text(manifest.user_meta.as_ref()),
        })),
    };
    let entries = manifest.entries.iter().map(|entry| SearchDoc {
        index: index.clone(),
        id: format!("entry:{top_hash}:{}", entry.logical_key),
        source: into_map(json!({
            "entry_pk": format!("{}@{top_hash}", entry.logical_key),
            "entry_lk": entry.logical_key,
            "entry_hash": entry.hash,
            "entry_size": entry.size,
            "entry_metadata": json_text(entry.meta.as_ref()),
            "mnfst_name": top_hash,
            "ptr_name": name,
        })),
    });
    std::iter::once(revision).chain(entries).collect()
}

/// Metadata as the real indexer stores it: JSON text, or null when absent or empty.
fn json_text(value: Option<&Value>) -> Value {
    match value {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Object(map)) if map.is_empty() => Value::Null,
        Some(value) => Value::String(value.to_string()),
    }
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("documents are built from object literals"),
    }
}

#[cfg(test)]
mod tests {
    use super::{
        Head, Listed, Manifest, Value, extension, json, latest_pointer_package, object_doc,
        package_docs,
    };
    use crate::manifest::Entry;

    #[test]
    fn extensions_as_the_indexer_stores_them() {
        for (key, ext) in [
            ("data/reads.CSV", ".csv"),
            ("a/b.tar.gz", ".tar"),
            ("table.csv.gz", ".csv"),
            ("archive.gz", ""),
            ("dir.d/README", ""),
            ("a/.hidden", ""),
            ("trailing.", ""),
            ("x.parquet", ".parquet"),
        ] {
            assert_eq!(extension(key), ext, "{key}");
        }
    }

    #[test]
    fn only_latest_pointers_of_valid_names_are_packages() {
        let pointer = |key: &str| latest_pointer_package(key);
        assert_eq!(
            pointer(".quilt/named_packages/team/data/latest").as_deref(),
            Some("team/data")
        );
        assert_eq!(pointer(".quilt/named_packages/team/data/1700000000"), None);
        assert_eq!(pointer(".quilt/named_packages/team/latest"), None);
        assert_eq!(pointer(".quilt/named_packages/a/b/c/latest"), None);
        assert_eq!(pointer("team/data/latest"), None);
    }

    #[test]
    fn object_and_package_documents() {
        let listed = Listed {
            key: "data/reads.csv".into(),
            size: 12,
            last_modified: "2025-01-02T03:04:05.000Z".into(),
            etag: "\"e\"".into(),
        };
        let head = Head {
            content_type: Some("text/csv".into()),
            version_id: None,
        };
        let doc = object_doc("bkt", &listed, &head);
        assert_eq!(doc.index, "bkt");
        assert_eq!(doc.id, "data/reads.csv:null");
        assert_eq!(doc.source["ext"], ".csv");
        assert_eq!(doc.source["version_id"], "null");

        let manifest = Manifest {
            message: Some("hello".into()),
            user_meta: Some(json!({"k": "v"})),
            entries: vec![Entry {
                logical_key: "a.txt".into(),
                size: 3,
                hash: json!({"type": "SHA256", "value": "00"}),
                meta: Some(json!({})),
            }],
        };
        let docs = package_docs("bkt", "team/pkg", &listed, "f00d", &manifest);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].index, "bkt_packages");
        assert_eq!(docs[0].source["metadata"], r#"{"k":"v"}"#);
        assert_eq!(docs[0].source["comment"], "hello");
        assert_eq!(docs[1].source["entry_pk"], "a.txt@f00d");
        assert_eq!(docs[1].source["entry_metadata"], Value::Null);
        assert_eq!(docs[1].source["ptr_name"], "team/pkg");
    }
}
