//! The stand-in over HTTP with real RS256 tokens checked against a JWKS served here; S3 and
//! STS point at a closed port, so their failures show too.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::routing;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpSocket};
use url::Url;

use crate::{AccessKeys, RegistryStandin, SearchRecord, StandinConfig, UserGrant};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "quilt-registry-standin-tests";
const KID: &str = "test-key";
const ALICE: &str = "alice@example.com";

struct Signer {
    key: EncodingKey,
    jwk: Value,
}

impl Signer {
    fn generate() -> Self {
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key");
        let public = RsaPublicKey::from(&private);
        let der = private.to_pkcs1_der().expect("DER");
        Self {
            key: EncodingKey::from_rsa_der(der.as_bytes()),
            jwk: json!({
                "kty": "RSA", "alg": "RS256", "use": "sig", "kid": KID,
                "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            }),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.into());
        jsonwebtoken::encode(&header, claims, &self.key).expect("signing")
    }
}

fn claims(subject: &str) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + 600})
}

async fn serve_jwks(jwk: Value) -> Url {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let document = json!({"keys": [jwk]});
    let router = Router::new().route(
        "/jwks.json",
        routing::get(move || async move { Json(document) }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    Url::parse(&format!("http://{addr}/jwks.json")).unwrap()
}

/// An address that refuses connections while the socket lives: bound, never listening, so no
/// other server can take the port meanwhile.
fn closed_endpoint() -> (Url, TcpSocket) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    (Url::parse(&format!("http://{addr}")).unwrap(), socket)
}

/// The stand-in, and the socket holding its S3 and STS port closed.
async fn start(signer: &Signer) -> (RegistryStandin, TcpSocket) {
    let (closed, socket) = closed_endpoint();
    let standin = RegistryStandin::start(StandinConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        jwks_url: serve_jwks(signer.jwk.clone()).await,
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        s3_endpoint: closed.clone(),
        region: "us-east-1".into(),
        indexer: AccessKeys {
            access_key_id: "indexer".into(),
            secret_access_key: "indexer-secret".into(),
        },
        sts_endpoint: closed,
        users: vec![UserGrant {
            subject: ALICE.into(),
            role_arn: "arn:aws:iam::role/ReaderA".into(),
            buckets: vec!["alpha".into(), "beta".into()],
        }],
        max_indices: 4,
        refresh: Duration::ZERO,
        tabulator: Vec::new(),
        service_token: None,
    })
    .await
    .expect("the stand-in starts");
    (standin, socket)
}

/// [`claims`] for Alice with `name` set to `value` (removed when `value` is null).
fn alice_with(name: &str, value: Value) -> Value {
    let mut claims = claims(ALICE);
    let map = claims.as_object_mut().unwrap();
    match value {
        Value::Null => map.remove(name),
        value => map.insert(name.to_owned(), value),
    };
    claims
}

/// Status and JSON body of `request`, sent with `token` as bearer when there is one.
async fn call(request: reqwest::RequestBuilder, token: Option<&str>) -> (u16, Value) {
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let response = request.send().await.expect("the stand-in answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn graphql(standin: &RegistryStandin, query: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(standin.url().join("graphql").unwrap())
        .json(&json!({"query": query}))
}

fn get(standin: &RegistryStandin, path_and_query: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new().get(standin.url().join(path_and_query).unwrap())
}

#[tokio::test]
async fn tokens_are_required_and_checked() {
    let signer = Signer::generate();
    let (standin, _closed) = start(&signer).await;
    let me = || graphql(&standin, "{ me { email } }");

    let (status, body) = call(me(), None).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("Bearer"),
        "{body}"
    );

    let now = claims(ALICE)["iat"].as_u64().unwrap();
    let refused = [
        ("garbage", "not-a-jwt".to_owned()),
        ("foreign key", Signer::generate().sign(&claims(ALICE))),
        (
            "wrong issuer",
            signer.sign(&alice_with("iss", json!("https://other"))),
        ),
        (
            "wrong audience",
            signer.sign(&alice_with("aud", json!("other"))),
        ),
        (
            "expired",
            signer.sign(&alice_with("exp", json!(now - 3600))),
        ),
        ("no expiry", signer.sign(&alice_with("exp", Value::Null))),
    ];
    for (kind, token) in refused {
        let (status, body) = call(me(), Some(&token)).await;
        assert_eq!(status, 401, "{kind}: {body}");
        assert!(body["message"].is_string(), "{kind}: {body}");
    }

    let (status, body) = call(me(), Some(&signer.sign(&claims(ALICE)))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["email"], ALICE);
}

#[tokio::test]
async fn a_caller_without_a_grant_is_forbidden_everywhere() {
    let signer = Signer::generate();
    let (standin, _closed) = start(&signer).await;
    let carol = signer.sign(&claims("carol@example.com"));
    let requests = [
        get(&standin, "api/auth/get_credentials"),
        get(&standin, "api/search?index=alpha&action=freeform"),
        graphql(&standin, "{ bucketConfigs { name } }"),
    ];
    for request in requests {
        let (status, body) = call(request, Some(&carol)).await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("no Quilt role"),
            "{body}"
        );
    }
    assert_eq!(standin.credential_exchanges(), 0);
}

#[tokio::test]
async fn graphql_answers_with_the_grant_and_the_caller() {
    let signer = Signer::generate();
    let (standin, _closed) = start(&signer).await;
    let alice = signer.sign(&alice_with("name", json!("Alice")));
    let query = "query { buckets: bucketConfigs { name title browsable relevanceScore iconUrl tags } \
                 me { name email isAdmin } }";
    let (status, body) = call(graphql(&standin, query), Some(&alice)).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["data"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bucket| bucket["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert_eq!(body["data"]["buckets"][0]["iconUrl"], Value::Null);
    assert_eq!(
        body["data"]["me"],
        json!({"name": "Alice", "email": ALICE, "isAdmin": false})
    );

    let (status, body) = call(
        graphql(&standin, "{ bucketConfigs { owner } }"),
        Some(&alice),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("owner"),
        "{body}"
    );
}

#[tokio::test]
async fn services_behind_it_failing_are_bad_gateway_and_searches_are_logged() {
    let signer = Signer::generate();
    let (standin, _closed) = start(&signer).await;
    let alice = signer.sign(&claims(ALICE));

    let (status, body) = call(get(&standin, "api/auth/get_credentials"), Some(&alice)).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("unreachable"),
        "{body}"
    );
    assert_eq!(standin.credential_exchanges(), 1);

    let searches = [
        ("alpha,beta_packages", 502),
        ("alpha,gamma", 403),
        ("alpha,alpha_packages,beta,beta_packages,alpha", 502),
        ("*", 400),
    ];
    for (index, expected) in searches {
        let (status, body) = call(
            get(
                &standin,
                &format!("api/search?action=freeform&index={index}"),
            ),
            Some(&alice),
        )
        .await;
        assert_eq!(status, expected, "{index}: {body}");
    }
    let (status, _) = call(
        get(&standin, "api/search?action=freeform&index=alpha"),
        None,
    )
    .await;
    assert_eq!(status, 401);

    let record = |index: &str, status: u16, subject: Option<&str>| SearchRecord {
        subject: subject.map(str::to_owned),
        index: index.to_owned(),
        status,
    };
    let mut expected: Vec<SearchRecord> = searches
        .iter()
        .map(|(index, status)| record(index, *status, Some(ALICE)))
        .collect();
    expected.push(record("alpha", 401, None));
    assert_eq!(standin.searches(), expected);
}
