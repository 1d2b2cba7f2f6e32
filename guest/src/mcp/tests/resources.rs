//! `resources/list`, `resources/templates/list` and `resources/read`, with the rules the
//! tools follow: the grant's tools, the connection's bucket.

use serde_json::{Value, json};

use super::{json_of, post_with, request};
use crate::mcp::RequestHeaders;
use crate::testing::{FakeContext, FakeHttp, response};

fn read(uri: &str, context: &FakeContext, s3: &FakeHttp) -> Value {
    json_of(&post_with(
        &RequestHeaders::default(),
        &request("resources/read", json!({"uri": uri})),
        context,
        s3,
    ))
}

#[test]
fn lists_fixed_resources_and_templates_the_grant_offers() {
    let all = FakeContext::default();
    let listed = json_of(&post_with(
        &RequestHeaders::default(),
        &request("resources/list", json!({})),
        &all,
        &FakeHttp::default(),
    ));
    let uris: Vec<&str> = listed["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert_eq!(
        uris,
        [
            "quilt-mcp://search-syntax",
            "quilt-mcp://buckets",
            "quilt-mcp://me"
        ]
    );
    let templates = json_of(&post_with(
        &RequestHeaders::default(),
        &request("resources/templates/list", json!({})),
        &all,
        &FakeHttp::default(),
    ));
    assert_eq!(
        templates["result"]["resourceTemplates"][0]["uriTemplate"],
        "s3://{bucket}/{+key}"
    );
    let mut search_only = FakeContext::default();
    search_only.grant.tools = vec!["search_catalog".into()];
    let listed = json_of(&post_with(
        &RequestHeaders::default(),
        &request("resources/list", json!({})),
        &search_only,
        &FakeHttp::default(),
    ));
    assert_eq!(listed["result"]["resources"].as_array().unwrap().len(), 1);
    let templates = json_of(&post_with(
        &RequestHeaders::default(),
        &request("resources/templates/list", json!({})),
        &search_only,
        &FakeHttp::default(),
    ));
    assert_eq!(templates["result"]["resourceTemplates"], json!([]));
    let refused = read("s3://b/k.txt", &search_only, &FakeHttp::default());
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bucket_object_fetch"),
        "{refused}"
    );
}

#[test]
fn objects_read_as_text_or_blob_by_their_type() {
    let context = FakeContext::default();
    let s3 = FakeHttp::answering(vec![response(
        200,
        &[("content-type", "text/csv")],
        b"a,b\n1,2\n",
    )]);
    let text = read("s3://b/t.csv", &context, &s3);
    let content = &text["result"]["contents"][0];
    assert_eq!(
        (content["mimeType"].as_str(), content["text"].as_str()),
        (Some("text/csv"), Some("a,b\n1,2\n")),
        "{text}"
    );
    let s3 = FakeHttp::answering(vec![response(200, &[], &[0, 159, 146, 150])]);
    let blob = read("s3://b/x.png", &context, &s3);
    let content = &blob["result"]["contents"][0];
    assert_eq!(
        (content["mimeType"].as_str(), content["blob"].as_str()),
        (Some("image/png"), Some("AJ+Slg==")),
        "{blob}"
    );
}

#[test]
fn a_missing_object_is_resource_not_found_and_a_held_connection_reaches_no_other_bucket() {
    let context = FakeContext::default();
    let s3 = FakeHttp::answering(vec![response(
        404,
        &[],
        b"<Error><Code>NoSuchKey</Code><Message>x</Message></Error>",
    )]);
    let missing = read("s3://b/nope", &context, &s3);
    assert_eq!(missing["error"]["code"], -32002, "{missing}");
    let mut held = FakeContext::default();
    held.grant.bucket = Some("mine".into());
    let s3 = FakeHttp::default();
    let other = read("s3://theirs/k", &held, &s3);
    assert_eq!(other["error"]["code"], -32602, "{other}");
    let entry = read("quilt+s3://theirs#package=a/b&path=k", &held, &s3);
    assert!(
        entry["error"]["message"]
            .as_str()
            .unwrap()
            .contains("held to the bucket mine"),
        "{entry}"
    );
    assert_eq!(s3.sends(), 0);
    let unknown = read("file:///etc/passwd", &context, &s3);
    assert_eq!(unknown["error"]["code"], -32002, "{unknown}");
}
