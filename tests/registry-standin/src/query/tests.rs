//! Search bodies as the Quilt clients send them, run on a real index of a small bucket.

use serde_json::{Value, json};

use super::compile;
use crate::documents::{SearchDoc, object_doc, package_docs};
use crate::error::ApiError;
use crate::index::SearchSchema;
use crate::manifest::{Entry, Manifest};
use crate::s3::{Head, Listed};

const BUCKET: &str = "bkt";

fn object(key: &str, size: u64, last_modified: &str) -> SearchDoc {
    let listed = Listed {
        key: key.into(),
        size,
        last_modified: last_modified.into(),
        etag: "\"etag\"".into(),
    };
    let head = Head {
        content_type: Some("application/octet-stream".into()),
        version_id: None,
    };
    object_doc(BUCKET, &listed, &head)
}

fn docs() -> Vec<SearchDoc> {
    let mut docs = vec![
        object("data/reads-2024.csv", 100, "2024-06-01T00:00:00.000Z"),
        object("data/reads.csv", 2_000, "2025-01-01T00:00:00.000Z"),
        object("notes/Summary Report.TXT", 50, "2023-01-01T00:00:00Z"),
        object("odd/star*name.bin", 7, "2023-01-01T00:00:00Z"),
    ];
    let pointer = Listed {
        key: ".quilt/named_packages/team/genomes/latest".into(),
        size: 64,
        last_modified: "2025-02-01T00:00:00Z".into(),
        etag: "\"p\"".into(),
    };
    let manifest = Manifest {
        message: Some("first genome drop".into()),
        user_meta: Some(json!({"species": "zebrafish"})),
        entries: vec![Entry {
            logical_key: "chr1/reads.fastq".into(),
            size: 10,
            hash: json!({"type": "SHA256", "value": "aa"}),
            meta: Some(json!({"user_meta": {"lane": "L001"}})),
        }],
    };
    docs.extend(package_docs(
        BUCKET,
        "team/genomes",
        &pointer,
        "c0ffee",
        &manifest,
    ));
    docs
}

/// The ids of the hits of `body` over both indices of the bucket, best first, and the total.
fn run(body: Value) -> Result<(usize, Vec<String>), ApiError> {
    let schema = SearchSchema::new();
    let index = schema.build(&docs()).expect("indexing");
    let search = compile(&body, None, None, &schema)?;
    let indices = [BUCKET.to_owned(), format!("{BUCKET}_packages")];
    let (total, hits) = index
        .search(
            &schema,
            search.query.as_ref(),
            &indices,
            search.from + search.size,
        )
        .expect("searching");
    let ids = hits
        .into_iter()
        .skip(search.from)
        .map(|hit| hit.id)
        .collect();
    Ok((total, ids))
}

fn ids(query: &str) -> Vec<String> {
    let mut ids = run(json!({"query": {"query_string": {"query": query}}}))
        .unwrap_or_else(|error| panic!("{query}: {error}"))
        .1;
    ids.sort();
    ids
}

#[test]
fn escaped_punctuation_is_searched_literally() {
    assert_eq!(ids(r"reads\-2024"), ["data/reads-2024.csv:null"]);
    assert_eq!(ids(r"data\/reads\-2024.csv"), ["data/reads-2024.csv:null"]);
    assert_eq!(ids(r"data\/reads.csv"), ["data/reads.csv:null"]);
    assert_eq!(ids(r"star\*name"), ["odd/star*name.bin:null"]);
}

#[test]
fn words_match_any_field_case_insensitively() {
    assert_eq!(ids("summary"), ["notes/Summary Report.TXT:null"]);
    assert_eq!(ids("zebrafish"), ["ptr:team/genomes/latest"]);
    assert_eq!(ids("L001"), ["entry:c0ffee:chr1/reads.fastq"]);
    assert_eq!(ids("nothing-like-this"), Vec::<String>::new());
}

#[test]
fn wildcards() {
    assert_eq!(ids("*").len(), docs().len());
    assert_eq!(
        ids("rea*"),
        [
            "data/reads-2024.csv:null",
            "data/reads.csv:null",
            "entry:c0ffee:chr1/reads.fastq",
        ]
    );
    assert_eq!(ids(r"notes\/sum*"), ["notes/Summary Report.TXT:null"]);
    assert_eq!(
        ids("*.csv"),
        ["data/reads-2024.csv:null", "data/reads.csv:null"]
    );
    assert_eq!(ids("zebr?fish"), ["ptr:team/genomes/latest"]);
}

#[test]
fn package_scope_and_filters() {
    let package = |query: &str| {
        json!({"query": {"bool": {"must": [
            {"exists": {"field": "ptr_name"}},
            {"query_string": {"query": query}},
        ]}}})
    };
    let (_, hits) = run(package("*")).unwrap();
    assert_eq!(hits.len(), 2, "the package and its entry: {hits:?}");
    let (_, hits) = run(package("genome")).unwrap();
    assert_eq!(hits, ["ptr:team/genomes/latest"]);

    let filtered = |filter: Value| {
        let body = json!({"query": {"bool": {
            "must": [{"query_string": {"query": "*"}}],
            "filter": filter,
        }}});
        let mut ids = run(body).unwrap().1;
        ids.sort();
        ids
    };
    assert_eq!(
        filtered(json!([{"terms": {"ext": [".csv"]}}])),
        ["data/reads-2024.csv:null", "data/reads.csv:null"]
    );
    assert_eq!(
        filtered(json!([{"terms": {"ext": [".txt", ".bin"]}}, {"range": {"size": {"gte": 10}}}])),
        ["notes/Summary Report.TXT:null"]
    );
    assert_eq!(
        filtered(json!([{"range": {"size": {"gt": 100, "lte": 2000}}}])),
        ["data/reads.csv:null"]
    );
    assert_eq!(
        filtered(
            json!([{"range": {"last_modified": {"gte": "2024-01-01", "lt": "2025-01-01T00:00:00Z"}}}])
        ),
        ["data/reads-2024.csv:null"]
    );
    assert_eq!(
        filtered(json!({"range": {"no_such_field": {"gte": 1}}})),
        Vec::<String>::new()
    );
}

#[test]
fn paging_and_totals() {
    let body = |from: usize, size: usize| json!({"from": from, "size": size, "query": {"query_string": {"query": "reads"}}});
    let (total, first) = run(body(0, 2)).unwrap();
    assert_eq!((total, first.len()), (3, 2));
    let (total, rest) = run(body(2, 2)).unwrap();
    assert_eq!((total, rest.len()), (3, 1));
    assert!(!first.contains(&rest[0]));
    let (total, none) = run(body(0, 0)).unwrap();
    assert_eq!((total, none.len()), (3, 0));
}

#[test]
fn boolean_logic() {
    assert_eq!(ids("reads -2024 -fastq"), ["data/reads.csv:null"]);
    assert_eq!(ids("csv AND 2024"), ["data/reads-2024.csv:null"]);
    let (_, hits) =
        run(json!({"query": {"bool": {"must_not": {"exists": {"field": "key"}}}}})).unwrap();
    assert_eq!(hits.len(), 2, "only package documents lack a key: {hits:?}");
}

#[test]
fn unsupported_requests_are_refused_in_elasticsearch_terms() {
    let refusal = |body: Value| match run(body) {
        Err(ApiError::Search { kind, reason, .. }) => (kind, reason),
        other => panic!("{other:?}"),
    };
    let (kind, reason) = refusal(json!({"query": {"fuzzy": {"key": "x"}}}));
    assert_eq!(kind, "parsing_exception");
    assert!(reason.contains("unknown query [fuzzy]"), "{reason}");
    let (kind, _) = refusal(json!({"sort": ["size"], "query": {"match_all": {}}}));
    assert_eq!(kind, "parsing_exception");
    let (kind, reason) = refusal(json!({"query": {"query_string": {"query": "key:x"}}}));
    assert_eq!(kind, "query_shard_exception");
    assert!(reason.contains("escape it"), "{reason}");
    let (kind, _) = refusal(json!({"query": {"range": {"size": {"gte": "big"}}}}));
    assert_eq!(kind, "parsing_exception");
}
