//! The Quilt registry stand-in (`tests/registry-standin`) against real parts: the shared token
//! issuer, SeaweedFS holding objects and a package written as quilt3 lays them out, and a
//! SeaweedFS with STS for the credentials exchange. What the stand-in answers here is what the
//! server's registry client will be tested against, so it is held to the real registry's
//! behaviour: statuses, Elasticsearch's response shape, escaping, grants and index limits.

use anyhow::{Context, Result, ensure};
use quilt_mcp_tests::identity::standard_claims;
use quilt_mcp_tests::registry::{self, RegistryStandin, SearchRecord, UserGrant};
use quilt_mcp_tests::s3::REGION;
use quilt_mcp_tests::seaweedfs::SeaweedFs;
use quilt_mcp_tests::sts::{BucketReader, WebIdentityTrust, role_arn};
use rusty_s3::actions::ListObjectsV2;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use serde_json::{Value, json};

use crate::support::Scenario;

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![credentials_and_grants, search_objects_and_packages,];

/// The audience of the stand-in's tokens (and the `clientId` of SeaweedFS's OIDC provider).
const AUDIENCE: &str = "quilt-registry-standin-e2e";
const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
/// Granted a role whose trust policy names only Alice: STS refuses her.
const CAROL: &str = "carol@example.com";
/// Valid token, no grant.
const DAVE: &str = "dave@example.com";
const OBJECT_KEY: &str = "hello.txt";
const TOP_HASH: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";
const PACKAGE: &str = "team/genomes";

/// A running stand-in and a client minting tokens of the shared issuer for it.
struct Registry<'a> {
    standin: RegistryStandin,
    scenario: &'a Scenario<'a>,
    http: reqwest::Client,
}

impl<'a> Registry<'a> {
    async fn start(
        scenario: &'a Scenario<'a>,
        seaweed: &SeaweedFs,
        users: Vec<UserGrant>,
        max_indices: usize,
    ) -> Result<Self> {
        let stack = scenario.stack;
        let mut config = registry::standin_config(
            seaweed,
            &stack.jwks.jwks_url(),
            &stack.issuer(),
            AUDIENCE,
            users,
        )?;
        config.max_indices = max_indices;
        Ok(Self {
            standin: RegistryStandin::start(config).await?,
            scenario,
            http: reqwest::Client::new(),
        })
    }

    fn token(&self, subject: &str) -> String {
        let stack = self.scenario.stack;
        stack
            .identity
            .sign(&standard_claims(&stack.issuer(), AUDIENCE, subject))
    }

    /// Status and JSON body of `request` with `token` as its bearer (none when `None`).
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        token: Option<&str>,
    ) -> Result<(u16, Value)> {
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let body = serde_json::from_str(&text)
            .with_context(|| format!("HTTP {status} with a body that is not JSON: {text}"))?;
        Ok((status, body))
    }

    async fn credentials(&self, token: Option<&str>) -> Result<(u16, Value)> {
        let url = self.standin.url().join("api/auth/get_credentials")?;
        self.send(self.http.get(url), token).await
    }

    async fn graphql(&self, subject: &str, query: &str) -> Result<(u16, Value)> {
        let url = self.standin.url().join("graphql")?;
        let request = self
            .http
            .post(url)
            .json(&json!({"query": query, "variables": {}}));
        self.send(request, Some(&self.token(subject))).await
    }

    /// A search as the Quilt clients send it: explicit indices, `action=freeform`, the body as JSON text.
    async fn search(&self, token: Option<&str>, index: &str, body: Value) -> Result<(u16, Value)> {
        let url = self.standin.url().join("api/search")?;
        let request = self.http.get(url).query(&[
            ("index", index),
            ("action", "freeform"),
            ("body", &body.to_string()),
            ("size", "20"),
        ]);
        self.send(request, token).await
    }

    /// The `_id`s of a successful search by `subject`, checking Elasticsearch's response shape.
    async fn hits(&self, subject: &str, index: &str, body: Value) -> Result<Vec<Value>> {
        let (status, answer) = self.search(Some(&self.token(subject)), index, body).await?;
        ensure!(status == 200, "searching {index}: HTTP {status}: {answer}");
        ensure!(
            answer["took"].is_u64() && answer["timed_out"] == false,
            "{answer}"
        );
        let hits = answer["hits"]["hits"]
            .as_array()
            .context("no hits.hits")?
            .clone();
        ensure!(
            answer["hits"]["total"] == json!({"value": hits.len(), "relation": "eq"}),
            "{answer}"
        );
        for hit in &hits {
            ensure!(
                hit["_index"].is_string()
                    && hit["_id"].is_string()
                    && hit["_score"].is_number()
                    && hit["_source"].is_object(),
                "a hit not in Elasticsearch's shape: {hit}"
            );
        }
        Ok(hits)
    }
}

/// `{"query": {"query_string": {"query": ...}}}`, as the file scope sends it.
fn query_string(query: &str) -> Value {
    json!({"from": 0, "size": 20, "query": {"query_string": {"query": query}}})
}

/// The package scope's wrapping of a query.
fn package_query(query: &str) -> Value {
    json!({"from": 0, "size": 20, "query": {"bool": {"must": [
        {"exists": {"field": "ptr_name"}},
        {"query_string": {"query": query}},
    ]}}})
}

fn sorted_keys(hits: &[Value]) -> Vec<String> {
    let mut keys: Vec<String> = hits
        .iter()
        .map(|hit| {
            hit["_source"]["key"]
                .as_str()
                .unwrap_or("<no key>")
                .to_owned()
        })
        .collect();
    keys.sort();
    keys
}

pub async fn credentials_and_grants(scenario: &Scenario<'_>) -> Result<()> {
    let (bucket_a, bucket_b) = ("standin-alpha", "standin-beta");
    let reader = |role: &str, subject: &str, bucket: &str| BucketReader {
        role_name: role.into(),
        subject: subject.into(),
        bucket: bucket.into(),
    };
    let readers = vec![
        reader("ReaderA", ALICE, bucket_a),
        reader("ReaderB", BOB, bucket_b),
    ];
    let trust = WebIdentityTrust {
        issuer: scenario.stack.issuer(),
        audience: AUDIENCE.into(),
        jwks_url: scenario.stack.jwks.jwks_url(),
        readers,
    };
    // Its own SeaweedFS: STS must know the issuer when it starts.
    let seaweed = scenario.own_seaweed(&trust.iam_config()).await?;
    for bucket in [bucket_a, bucket_b] {
        seaweed.admin().create_bucket(bucket).await?;
        seaweed
            .admin()
            .put_object(bucket, OBJECT_KEY, format!("in {bucket}"))
            .send()
            .await?;
    }
    let mut users: Vec<UserGrant> = trust.readers.iter().map(registry::grant).collect();
    users.push(UserGrant {
        subject: CAROL.into(),
        role_arn: role_arn("ReaderA"),
        buckets: vec![bucket_a.into()],
    });
    let registry =
        Registry::start(scenario, &seaweed, users, registry::DEFAULT_MAX_INDICES).await?;

    let wrong_audience = scenario.stack.identity.sign(&standard_claims(
        &scenario.stack.issuer(),
        "some-other-audience",
        ALICE,
    ));
    for (kind, token) in [
        ("no token", None),
        ("garbage", Some("not-a-jwt")),
        ("wrong audience", Some(wrong_audience.as_str())),
    ] {
        let (status, body) = registry.credentials(token).await?;
        ensure!(
            status == 401 && body["message"].is_string(),
            "{kind}: HTTP {status}: {body}"
        );
    }
    let (status, body) = registry.credentials(Some(&registry.token(DAVE))).await?;
    ensure!(
        status == 403,
        "a user without a grant: HTTP {status}: {body}"
    );
    ensure!(
        registry.standin.credential_exchanges() == 0,
        "a refused caller reached STS"
    );

    let (status, keys) = registry.credentials(Some(&registry.token(ALICE))).await?;
    ensure!(status == 200, "Alice's credentials: HTTP {status}: {keys}");
    let expiration = keys["Expiration"].as_str().unwrap_or_default();
    ensure!(
        expiration.get(10..11) == Some("T") && expiration.ends_with('Z'),
        "Expiration is not ISO 8601 UTC: {keys}"
    );
    let own = list_with(&seaweed, &keys, bucket_a).await?;
    ensure!(
        own.0 == 200 && own.1.contains(OBJECT_KEY),
        "Alice's keys listing her bucket: {own:?}"
    );
    let other = list_with(&seaweed, &keys, bucket_b).await?;
    ensure!(
        other.0 == 403,
        "Alice's keys listing Bob's bucket: {other:?}"
    );

    let (status, body) = registry.credentials(Some(&registry.token(CAROL))).await?;
    ensure!(
        status == 403
            && body["message"]
                .as_str()
                .is_some_and(|why| why.contains("refused role")),
        "a role whose trust excludes the caller: HTTP {status}: {body}"
    );
    ensure!(
        registry.standin.credential_exchanges() == 2,
        "{} exchanges for Alice and Carol",
        registry.standin.credential_exchanges()
    );

    for (subject, bucket) in [(ALICE, bucket_a), (BOB, bucket_b)] {
        let (status, body) = registry
            .graphql(
                subject,
                "{ bucketConfigs { name title browsable } me { email } }",
            )
            .await?;
        ensure!(
            status == 200
                && body["data"]["bucketConfigs"]
                    == json!([{"name": bucket, "title": bucket, "browsable": true}])
                && body["data"]["me"]["email"] == subject,
            "{subject}'s buckets: HTTP {status}: {body}"
        );
    }
    let (status, body) = registry.graphql(DAVE, "{ bucketConfigs { name } }").await?;
    ensure!(
        status == 403,
        "GraphQL for a user without a grant: HTTP {status}: {body}"
    );
    Ok(())
}

/// ListObjectsV2 on `bucket` with temporary keys as the registry returned them.
async fn list_with(seaweed: &SeaweedFs, keys: &Value, bucket: &str) -> Result<(u16, String)> {
    let field = |name: &str| keys[name].as_str().unwrap_or_default().to_owned();
    let credentials = Credentials::new_with_token(
        field("AccessKeyId"),
        field("SecretAccessKey"),
        field("SessionToken"),
    );
    let bucket = Bucket::new(
        seaweed.s3_endpoint.clone(),
        UrlStyle::Path,
        bucket.to_owned(),
        REGION,
    )?;
    let url =
        ListObjectsV2::new(&bucket, Some(&credentials)).sign(std::time::Duration::from_secs(60));
    let response = reqwest::get(url).await?;
    Ok((response.status().as_u16(), response.text().await?))
}

pub async fn search_objects_and_packages(scenario: &Scenario<'_>) -> Result<()> {
    let data = scenario.bucket("standin-data").await?;
    let other = scenario.bucket("standin-other").await?;
    let bobs = scenario.bucket("standin-bob").await?;
    let put = async |bucket: &str, key: &str, body: &str| {
        scenario
            .admin()
            .put_object(bucket, key, body.to_owned())
            .send()
            .await
            .map(|_| ())
    };
    for key in ["data/reads-2024.csv", "data/reads.csv", "notes/readme.md"] {
        put(&data, key, "a,b\n1,2\n").await?;
    }
    put(&other, "other/summary.txt", "summary").await?;
    put(&bobs, "bob.txt", "Bob's").await?;
    let manifest = [
        json!({"version": "v0", "message": "first genome drop", "user_meta": {"species": "zebrafish"}}),
        json!({
            "logical_key": "chr1/reads.fastq",
            "physical_keys": [format!("s3://{data}/data/reads.csv")],
            "size": 8,
            "hash": {"type": "SHA256", "value": "00"},
            "meta": {"user_meta": {"lane": "L001"}},
        }),
    ]
    .map(|line| format!("{line}\n"))
    .concat();
    put(&data, &format!(".quilt/packages/{TOP_HASH}"), &manifest).await?;
    for tag in ["1700000000", "latest"] {
        put(
            &data,
            &format!(".quilt/named_packages/{PACKAGE}/{tag}"),
            TOP_HASH,
        )
        .await?;
    }

    let unused_role = role_arn("NotAssumedHere");
    let grant = |subject: &str, buckets: &[&String]| UserGrant {
        subject: subject.into(),
        role_arn: unused_role.clone(),
        buckets: buckets.iter().map(|bucket| bucket.to_string()).collect(),
    };
    let users = vec![grant(ALICE, &[&data, &other]), grant(BOB, &[&bobs])];
    let registry = Registry::start(scenario, &scenario.stack.seaweed, users, 3).await?;
    let objects = format!("{data},{other}");
    let data_packages = format!("{data}_packages");

    let (status, body) = registry.search(None, &objects, query_string("*")).await?;
    ensure!(
        status == 401,
        "a search without a token: HTTP {status}: {body}"
    );

    let all = registry.hits(ALICE, &objects, query_string("*")).await?;
    ensure!(
        sorted_keys(&all)
            == [
                "data/reads-2024.csv",
                "data/reads.csv",
                "notes/readme.md",
                "other/summary.txt"
            ],
        "every object but Quilt's own: {all:?}"
    );
    let reads = registry
        .hits(ALICE, &objects, query_string("reads*"))
        .await?;
    ensure!(
        sorted_keys(&reads) == ["data/reads-2024.csv", "data/reads.csv"],
        "prefix: {reads:?}"
    );
    let first = &reads[0]["_source"];
    ensure!(
        reads[0]["_index"] == data.as_str()
            && first["size"] == 8
            && first["ext"] == ".csv"
            && first["version_id"] == "null"
            && first["last_modified"].is_string()
            && first["etag"].is_string(),
        "an object document: {}",
        reads[0]
    );
    for (escaped, key) in [
        (r"reads\-2024", "data/reads-2024.csv"),
        (r"data\/reads.csv", "data/reads.csv"),
    ] {
        let hits = registry
            .hits(ALICE, &objects, query_string(escaped))
            .await?;
        ensure!(sorted_keys(&hits) == [key], "{escaped}: {hits:?}");
    }
    let markdown = json!({"query": {"bool": {
        "must": [{"query_string": {"query": "*"}}],
        "filter": [{"terms": {"ext": [".md"]}}, {"range": {"size": {"gte": 1, "lte": 100}}}],
    }}});
    let hits = registry.hits(ALICE, &objects, markdown).await?;
    ensure!(
        sorted_keys(&hits) == ["notes/readme.md"],
        "filters: {hits:?}"
    );

    let packages = registry
        .hits(ALICE, &data_packages, package_query("zebrafish"))
        .await?;
    let source = &packages.first().context("no package hit")?["_source"];
    ensure!(
        packages.len() == 1
            && source["ptr_name"] == PACKAGE
            && source["ptr_tag"] == "latest"
            && source["mnfst_name"] == TOP_HASH
            && source["comment"] == "first genome drop"
            && source["metadata"]
                .as_str()
                .and_then(|text| serde_json::from_str::<Value>(text).ok())
                == Some(json!({"species": "zebrafish"})),
        "the package document: {packages:?}"
    );
    let entries = registry
        .hits(ALICE, &data_packages, query_string("chr1"))
        .await?;
    let entry = &entries.first().context("no entry hit")?["_source"];
    ensure!(
        entries.len() == 1
            && entry["entry_lk"] == "chr1/reads.fastq"
            && entry["entry_pk"] == format!("chr1/reads.fastq@{TOP_HASH}")
            && entry["entry_size"] == 8
            && entry["ptr_name"] == PACKAGE,
        "the package entry document: {entries:?}"
    );

    put(&data, "data/fresh-reads.csv", "new").await?;
    let fresh = registry.hits(ALICE, &data, query_string("fresh")).await?;
    ensure!(
        sorted_keys(&fresh) == ["data/fresh-reads.csv"],
        "an object written just before the search: {fresh:?}"
    );

    let (status, body) = registry
        .search(Some(&registry.token(ALICE)), &bobs, query_string("*"))
        .await?;
    ensure!(
        status == 403,
        "Alice searching Bob's bucket: HTTP {status}: {body}"
    );
    let bob = registry.hits(BOB, &bobs, query_string("*")).await?;
    ensure!(
        sorted_keys(&bob) == ["bob.txt"],
        "Bob's own bucket: {bob:?}"
    );

    let too_many = format!("{data},{data}_packages,{other},{other}_packages");
    let (status, body) = registry
        .search(Some(&registry.token(ALICE)), &too_many, query_string("*"))
        .await?;
    ensure!(
        status == 403
            && body["message"]
                .as_str()
                .is_some_and(|why| why.contains("too many indices")),
        "four indices where three are allowed: HTTP {status}: {body}"
    );
    registry.hits(ALICE, &objects, query_string("*")).await?;
    let log = registry.standin.searches();
    let last_two = &log[log.len() - 2..];
    let record = |index: &str, status: u16| SearchRecord {
        subject: Some(ALICE.into()),
        index: index.into(),
        status,
    };
    ensure!(
        last_two == [record(&too_many, 403), record(&objects, 200)],
        "the search log: {log:?}"
    );
    Ok(())
}
