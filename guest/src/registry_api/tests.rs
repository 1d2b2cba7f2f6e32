//! The registry client against canned registry answers: what is sent (index lists, escaping,
//! the bearer) and how every kind of refusal reads.

use serde_json::{Value, json};

use super::buckets::bucket_configs;
use super::search::{Page, Scope, escape, search};
use super::{RegistryApi, RegistryError};
use crate::http::{HttpError, Method};
use crate::testing::{FakeContext, FakeHttp, response};

/// A deployment with its registry at `registry_url`, forwarding the caller's token as
/// `bearer`.
fn registry_at(registry_url: Option<&str>, bearer: Option<&str>) -> FakeContext {
    let mut context = FakeContext::default();
    context.registry_access.registry_url = registry_url.map(str::to_owned);
    context.registry_access.bearer = bearer.map(str::to_owned);
    context
}

fn forwarded() -> FakeContext {
    registry_at(Some("https://registry.example/"), Some("caller-token"))
}

/// Answers with canned (status, JSON body) pairs in order.
fn answers(answers: Vec<Result<(u16, Value), HttpError>>) -> FakeHttp {
    let json =
        |(status, body): (u16, Value)| response(status, &[], &serde_json::to_vec(&body).unwrap());
    FakeHttp::scripted(answers.into_iter().map(|answer| answer.map(json)).collect())
}

/// The query parameter `name` of the `index`th request sent.
fn query_of(http: &FakeHttp, index: usize, name: &str) -> String {
    let sent = http.sent.borrow();
    let (_, value) = sent[index]
        .url
        .query_pairs()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("request {index} has no {name}"));
    value.into_owned()
}

fn es_answer(hits: Value) -> Result<(u16, Value), HttpError> {
    let count = hits.as_array().unwrap().len();
    Ok((
        200,
        json!({"hits": {"total": {"value": count}, "hits": hits}}),
    ))
}

fn buckets(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn escapes_operators_but_keeps_wildcards() {
    assert_eq!(escape("a-b/c:d"), r"a\-b\/c\:d");
    assert_eq!(escape(r#"(x)+"y"~!"#), r#"\(x\)\+\"y\"\~\!"#);
    assert_eq!(escape("data*.cs?"), "data*.cs?");
    assert_eq!(escape(r"back\slash"), r"back\\slash");
}

#[test]
fn file_search_names_each_bucket_and_sends_the_bearer() {
    let http = answers(vec![es_answer(json!([{
        "_index": "alpha", "_id": "k", "_score": 1.5,
        "_source": {"key": "dir/report.csv", "size": 12, "ext": ".csv",
                    "last_modified": "2026-01-01T00:00:00Z", "version_id": "v1"}
    }]))]);
    let registry = RegistryApi::connect(&forwarded(), &http, "search").unwrap();
    let page = Page {
        query: "report-2026",
        scope: Scope::File,
        from: 0,
        limit: 5,
    };
    let found = search(&registry, &page, &buckets(&["alpha", "beta"])).unwrap();

    let sent = &http.sent.borrow()[0];
    assert_eq!(sent.url.path(), "/api/search");
    assert!(
        sent.headers
            .contains(&("authorization".into(), "Bearer caller-token".into()))
    );
    assert_eq!(query_of(&http, 0, "index"), "alpha,beta");
    assert_eq!(query_of(&http, 0, "action"), "freeform");
    assert_eq!(query_of(&http, 0, "size"), "5");
    let body: Value = serde_json::from_str(&query_of(&http, 0, "body")).unwrap();
    assert_eq!(
        body,
        json!({"from": 0, "size": 5, "query": {"query_string": {"query": r"report\-2026"}}})
    );

    assert_eq!(found.total, 1);
    let hit = &found.hits[0];
    assert_eq!(
        (hit.kind, hit.name.as_str(), hit.title.as_str()),
        ("file", "dir/report.csv", "report.csv")
    );
    assert_eq!(
        hit.s3_uri.as_deref(),
        Some("s3://alpha/dir/report.csv?versionId=v1")
    );
    assert_eq!(
        (hit.size, hit.extension.as_deref()),
        (Some(12), Some(".csv"))
    );
}

#[test]
fn package_scopes_search_the_package_indices() {
    let http = answers(vec![
        es_answer(json!([{
            "_index": "alpha_packages", "_id": "p", "_score": 2.0,
            "_source": {"ptr_name": "team/data", "mnfst_name": "abc123", "comment": "first",
                        "metadata": "{\"owner\": \"ann\"}", "ptr_last_modified": "2026-01-02T00:00:00Z"}
        }])),
        es_answer(json!([{
            "_index": "alpha_packages", "_id": "e", "_score": 1.0,
            "_source": {"entry_lk": "dir/a.csv", "entry_size": 7, "entry_metadata": "{}",
                        "ptr_name": "team/data", "mnfst_name": "abc123"}
        }])),
        es_answer(json!([])),
    ]);
    let registry = RegistryApi::connect(&forwarded(), &http, "search").unwrap();
    let two = buckets(&["alpha", "beta"]);

    let packages = search(
        &registry,
        &Page {
            query: "first",
            scope: Scope::Package,
            from: 0,
            limit: 10,
        },
        &two,
    )
    .unwrap();
    assert_eq!(query_of(&http, 0, "index"), "alpha_packages,beta_packages");
    let body: Value = serde_json::from_str(&query_of(&http, 0, "body")).unwrap();
    assert_eq!(
        body["query"]["bool"]["must"][0],
        json!({"exists": {"field": "ptr_name"}})
    );
    assert_eq!(
        body["query"]["bool"]["must_not"][0],
        json!({"exists": {"field": "entry_lk"}})
    );
    let package = &packages.hits[0];
    assert_eq!(
        (package.kind, package.name.as_str()),
        ("package", "team/data")
    );
    assert_eq!(
        package.s3_uri.as_deref(),
        Some("quilt+s3://alpha#package=team/data@abc123")
    );
    assert_eq!(package.metadata, Some(json!({"owner": "ann"})));
    assert_eq!(package.description.as_deref(), Some("first"));

    let entries = search(
        &registry,
        &Page {
            query: "a.csv",
            scope: Scope::PackageEntry,
            from: 0,
            limit: 10,
        },
        &two,
    )
    .unwrap();
    let body: Value = serde_json::from_str(&query_of(&http, 1, "body")).unwrap();
    assert_eq!(
        body["query"]["bool"]["must"][0],
        json!({"exists": {"field": "entry_lk"}})
    );
    let entry = &entries.hits[0];
    assert_eq!(
        (entry.kind, entry.name.as_str(), entry.size),
        ("packageEntry", "dir/a.csv", Some(7))
    );
    assert_eq!(
        entry.s3_uri.as_deref(),
        Some("quilt+s3://alpha#package=team/data@abc123&path=dir/a.csv")
    );

    search(
        &registry,
        &Page {
            query: "x",
            scope: Scope::Global,
            from: 0,
            limit: 10,
        },
        &two,
    )
    .unwrap();
    assert_eq!(
        query_of(&http, 2, "index"),
        "alpha,beta,alpha_packages,beta_packages"
    );
}

#[test]
fn too_many_indices_retries_with_fewer_buckets() {
    let many: Vec<String> = (0..45).map(|i| format!("b{i}")).collect();
    let refused = Ok((403, json!({"error": {"reason": "too many indices"}})));
    let http = answers(vec![refused.clone(), refused, es_answer(json!([]))]);
    let registry = RegistryApi::connect(&forwarded(), &http, "search").unwrap();
    let found = search(
        &registry,
        &Page {
            query: "x",
            scope: Scope::File,
            from: 0,
            limit: 10,
        },
        &many,
    )
    .unwrap();
    assert_eq!(found.buckets.len(), 30);
    let counts: Vec<usize> = (0..3)
        .map(|i| query_of(&http, i, "index").split(',').count())
        .collect();
    assert_eq!(counts, [45, 40, 30]);
}

#[test]
fn a_refusal_that_survives_narrowing_is_an_authorization_error() {
    let http = answers(vec![Ok((403, json!({"message": "no access"})))]);
    let registry = RegistryApi::connect(&forwarded(), &http, "search").unwrap();
    let error = search(
        &registry,
        &Page {
            query: "x",
            scope: Scope::File,
            from: 0,
            limit: 10,
        },
        &buckets(&["alpha"]),
    )
    .unwrap_err();
    assert!(matches!(&error, RegistryError::Forbidden { reason, .. } if reason == "no access"));
    assert!(
        error
            .to_string()
            .starts_with("Catalog access is not authorized"),
        "{error}"
    );
}

#[test]
fn each_failure_reads_as_what_happened() {
    let cases = [
        (
            Ok((401, json!({"message": "Token expired"}))),
            "did not accept your sign-in token (401: Token expired)",
        ),
        (
            Ok((500, json!({"message": "boom"}))),
            "failed: HTTP 500: boom",
        ),
        (
            Ok((200, json!({"unexpected": true}))),
            "not the JSON this API returns",
        ),
        (
            Err(HttpError::Transport {
                origin: "x".into(),
                detail: "connection refused".into(),
            }),
            "could not be reached (connection refused); it may be down",
        ),
    ];
    for (answer, expected) in cases {
        let http = answers(vec![answer]);
        let registry = RegistryApi::connect(&forwarded(), &http, "search").unwrap();
        let error = search(
            &registry,
            &Page {
                query: "x",
                scope: Scope::File,
                from: 0,
                limit: 1,
            },
            &buckets(&["a"]),
        )
        .unwrap_err();
        assert!(error.to_string().contains(expected), "{error}");
        assert!(
            error.to_string().contains("https://registry.example"),
            "{error}"
        );
    }
}

#[test]
fn no_registry_or_withheld_token_never_sends_anything() {
    let http = answers(vec![]);
    let none = registry_at(None, None);
    let error = RegistryApi::connect(&none, &http, "search_catalog")
        .err()
        .unwrap();
    assert!(
        error
            .to_string()
            .contains("no Quilt registry configured, so search_catalog"),
        "{error}"
    );

    let withheld = registry_at(Some("https://registry.example"), None);
    let error = RegistryApi::connect(&withheld, &http, "search_catalog")
        .err()
        .unwrap();
    assert!(
        error
            .to_string()
            .starts_with("Catalog access is not authorized"),
        "{error}"
    );
    assert!(http.sent.borrow().is_empty());
}

#[test]
fn bucket_configs_posts_graphql_and_orders_by_relevance() {
    let http = answers(vec![Ok((
        200,
        json!({"data": {"bucketConfigs": [
            {"name": "low", "relevanceScore": 1, "title": "Low", "tags": null},
            {"name": "high", "relevanceScore": 5, "browsable": true, "tags": ["x"]},
        ]}}),
    ))]);
    let registry = RegistryApi::connect(&forwarded(), &http, "bucket_list").unwrap();
    let names: Vec<String> = bucket_configs(&registry)
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["high", "low"]);
    let sent = &http.sent.borrow()[0];
    assert_eq!(
        (sent.method, sent.url.as_str()),
        (Method::Post, "https://registry.example/graphql")
    );
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert!(body["query"].as_str().unwrap().contains("bucketConfigs"));
}

#[test]
fn graphql_errors_are_reported() {
    let http = answers(vec![Ok((
        200,
        json!({"data": null, "errors": [{"message": "denied"}]}),
    ))]);
    let registry = RegistryApi::connect(&forwarded(), &http, "bucket_list").unwrap();
    let error = bucket_configs(&registry).unwrap_err();
    assert!(
        error.to_string().contains("bucketConfigs failed: denied"),
        "{error}"
    );
}

#[test]
fn a_later_page_asks_from_where_the_last_ended() {
    let http = answers(vec![es_answer(json!([]))]);
    let registry = RegistryApi::connect(&forwarded(), &http, "search").unwrap();
    let page = Page {
        query: "x",
        scope: Scope::File,
        from: 40,
        limit: 20,
    };
    search(&registry, &page, &buckets(&["alpha"])).unwrap();
    let body: Value = serde_json::from_str(&query_of(&http, 0, "body")).unwrap();
    assert_eq!(
        (body["from"].as_u64(), body["size"].as_u64()),
        (Some(40), Some(20))
    );
}
