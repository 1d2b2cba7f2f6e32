//! Search through the registry's Elasticsearch proxy, as the established Quilt
//! tools send it: explicit index lists (the proxy rejects wildcards), Lucene-escaped
//! query text, and fewer buckets when the proxy refuses too many indices.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{RegistryApi, RegistryError};
use crate::package::layout::PackageName;
use crate::package::links::{Revision, quilt_uri};
use crate::s3::uri::S3Uri;

/// Index suffix of a bucket's package and package-entry documents.
const PACKAGES_SUFFIX: &str = "_packages";
/// Bucket counts tried, in turn, after the proxy refuses a longer index list.
const NARROWING_STEPS: [usize; 5] = [50, 40, 30, 20, 10];

/// What kind of documents to search.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
// Inline: some MCP clients do not resolve `$ref` in tool schemas.
#[schemars(inline)]
pub enum Scope {
    /// Objects in the buckets.
    #[default]
    #[serde(rename = "file")]
    File,
    /// Package revisions (name, message, metadata).
    #[serde(rename = "package")]
    Package,
    /// Files inside packages (logical key, metadata).
    #[serde(rename = "packageEntry")]
    PackageEntry,
    /// Objects and packages together.
    #[serde(rename = "global")]
    Global,
}

/// One search hit, in the shape the established Quilt tools return.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Hit {
    /// The document's id in the search index.
    pub id: String,
    /// `file`, `package` or `packageEntry`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Object key, package name, or logical key inside a package.
    pub name: String,
    /// A short name for people: the file name or the package name.
    pub title: String,
    /// The package message, or which package an entry belongs to.
    pub description: Option<String>,
    /// s3:// URI of an object, quilt+s3:// URI of a package or package entry.
    pub s3_uri: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// When the object or package revision was last modified.
    pub last_modified: Option<String>,
    /// User metadata of the package or entry.
    pub metadata: Option<Value>,
    /// Relevance score from the search engine.
    pub score: Option<f64>,
    pub bucket: String,
    pub content_type: Option<String>,
    /// File extension as indexed.
    pub extension: Option<String>,
}

/// What one search found, and where it looked.
#[derive(Debug)]
pub struct Found {
    /// Matching documents in all searched indices (may exceed the hits returned).
    pub total: u64,
    pub hits: Vec<Hit>,
    /// The buckets actually searched.
    pub buckets: Vec<String>,
}

/// What to ask for: the query, and which page of its hits.
pub struct Page<'q> {
    pub query: &'q str,
    pub scope: Scope,
    /// Hits skipped (Elasticsearch's `from`).
    pub from: u32,
    pub limit: u32,
}

/// Searches `buckets` (most relevant first) as the registry's caller.
pub fn search(
    registry: &RegistryApi<'_>,
    page: &Page<'_>,
    buckets: &[String],
) -> Result<Found, RegistryError> {
    let (scope, limit) = (page.scope, page.limit);
    let body = request_body(&escape(page.query), scope, page.from, limit).to_string();
    let size = limit.to_string();
    let mut attempts = std::iter::once(buckets.len())
        .chain(NARROWING_STEPS.into_iter().filter(|&n| n < buckets.len()))
        .peekable();
    while let Some(count) = attempts.next() {
        let searched = &buckets[..count];
        let index = indices(scope, searched);
        let query = [
            ("index", index.as_str()),
            ("action", "freeform"),
            ("body", body.as_str()),
            ("size", size.as_str()),
        ];
        match registry.get::<SearchAnswer>("/api/search", &query) {
            Ok(answer) => {
                return Ok(Found {
                    total: answer.hits.total.count(),
                    hits: answer.hits.hits.into_iter().map(Hit::from).collect(),
                    buckets: searched.to_vec(),
                });
            }
            // The proxy answers 403 when an index list is too long for it; the established
            // client then asks again about fewer buckets.
            Err(RegistryError::Forbidden { .. }) if attempts.peek().is_some() => continue,
            Err(error) => return Err(error),
        }
    }
    unreachable!("at least one attempt is made")
}

/// Lucene `query_string` escaping as the established client does it: every operator
/// character is searched literally, while `*` and `?` stay wildcards.
pub fn escape(query: &str) -> String {
    const SPECIAL: &str = "\\+-=><!(){}[]^\"~:/";
    let mut escaped = String::with_capacity(query.len());
    for c in query.chars() {
        if SPECIAL.contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The explicit index list for a scope (the proxy rejects `*` and `_all`).
fn indices(scope: Scope, buckets: &[String]) -> String {
    let objects = buckets.iter().map(String::clone);
    let packages = buckets.iter().map(|b| format!("{b}{PACKAGES_SUFFIX}"));
    let names: Vec<String> = match scope {
        Scope::File => objects.collect(),
        Scope::Package | Scope::PackageEntry => packages.collect(),
        Scope::Global => objects.chain(packages).collect(),
    };
    names.join(",")
}

fn request_body(escaped: &str, scope: Scope, from: u32, limit: u32) -> Value {
    let text = json!({ "query_string": { "query": escaped } });
    let query = match scope {
        Scope::File | Scope::Global => text,
        // Manifest documents carry `ptr_name`; entry documents carry `entry_lk`, and a
        // registry may index the package name on them too, so entries are excluded.
        Scope::Package => json!({ "bool": {
            "must": [{ "exists": { "field": "ptr_name" } }, text],
            "must_not": [{ "exists": { "field": "entry_lk" } }],
        }}),
        Scope::PackageEntry => json!({ "bool": {
            "must": [{ "exists": { "field": "entry_lk" } }, text],
        }}),
    };
    json!({ "from": from, "size": limit, "query": query })
}

#[derive(Deserialize)]
struct SearchAnswer {
    hits: Hits,
}

#[derive(Deserialize)]
struct Hits {
    #[serde(default)]
    total: Total,
    #[serde(default)]
    hits: Vec<EsHit>,
}

/// Elasticsearch 7+ answers `{"value": n}`; older versions a bare number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Total {
    Count { value: u64 },
    Bare(u64),
}

impl Default for Total {
    fn default() -> Self {
        Self::Bare(0)
    }
}

impl Total {
    fn count(&self) -> u64 {
        match self {
            Self::Count { value } | Self::Bare(value) => *value,
        }
    }
}

#[derive(Deserialize)]
struct EsHit {
    #[serde(rename = "_index")]
    index: String,
    #[serde(rename = "_id", default)]
    id: String,
    #[serde(rename = "_score")]
    score: Option<f64>,
    #[serde(rename = "_source", default)]
    source: Value,
}

impl From<EsHit> for Hit {
    fn from(hit: EsHit) -> Self {
        let source = &hit.source;
        let text = |field: &str| source[field].as_str().map(str::to_owned);
        let (bucket, is_packages) = match hit.index.strip_suffix(PACKAGES_SUFFIX) {
            Some(bucket) => (bucket.to_owned(), true),
            None => (hit.index.clone(), false),
        };
        let common = |kind, name: String, title: String| Hit {
            id: hit.id.clone(),
            kind,
            name,
            title,
            description: None,
            s3_uri: None,
            size: None,
            last_modified: None,
            metadata: None,
            score: hit.score,
            bucket: bucket.clone(),
            content_type: None,
            extension: None,
        };
        let package = text("ptr_name").and_then(|name| PackageName::parse(&name).ok());
        if let (true, Some(logical_key)) = (is_packages, text("entry_lk")) {
            let top_hash = text("mnfst_name");
            Hit {
                description: package.as_ref().map(|p| format!("file in package {p}")),
                s3_uri: package.as_ref().map(|p| {
                    let revision = revision_of(top_hash.as_deref());
                    quilt_uri(&bucket, Some(p), revision, &logical_key)
                }),
                size: source["entry_size"].as_u64(),
                metadata: json_text(&source["entry_metadata"]),
                ..common("packageEntry", logical_key.clone(), file_name(&logical_key))
            }
        } else if is_packages {
            let name = text("ptr_name").unwrap_or_default();
            let top_hash = text("mnfst_name");
            Hit {
                description: text("comment"),
                s3_uri: package.as_ref().map(|p| {
                    let revision = revision_of(top_hash.as_deref());
                    quilt_uri(&bucket, Some(p), revision, "")
                }),
                last_modified: text("ptr_last_modified"),
                metadata: json_text(&source["metadata"]),
                ..common("package", name.clone(), name)
            }
        } else {
            let key = text("key").unwrap_or_default();
            let uri = S3Uri {
                bucket: bucket.clone(),
                key: key.clone(),
                version_id: text("version_id").filter(|v| !v.is_empty() && v != "null"),
            };
            Hit {
                s3_uri: Some(uri.to_string()),
                size: source["size"].as_u64(),
                last_modified: text("last_modified"),
                content_type: text("content_type").or_else(|| text("contentType")),
                extension: text("ext"),
                ..common("file", key.clone(), file_name(&key))
            }
        }
    }
}

/// Metadata is indexed as JSON text; an object given as-is is taken as it is.
fn json_text(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::String(text) => serde_json::from_str(text)
            .ok()
            .or_else(|| Some(Value::String(text.clone()))),
        other => Some(other.clone()),
    }
}

fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

/// The revision an index document names. Only hex is a top hash (or a prefix of one): any
/// other text would be spliced into the Quilt+ URI as is (`&path=…`), so it is ignored.
fn revision_of(top_hash: Option<&str>) -> Revision<'_> {
    match top_hash {
        Some(hash) if !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Revision::Hash(hash)
        }
        _ => Revision::Latest,
    }
}

#[cfg(test)]
mod tests {
    use super::{Revision, revision_of};

    #[test]
    fn only_hex_names_a_revision() {
        assert!(matches!(
            revision_of(Some("abc123")),
            Revision::Hash("abc123")
        ));
        for planted in ["abc&path=../../x", "", "latest", "ab cd"] {
            assert!(
                matches!(revision_of(Some(planted)), Revision::Latest),
                "{planted}"
            );
        }
        assert!(matches!(revision_of(None), Revision::Latest));
    }
}
