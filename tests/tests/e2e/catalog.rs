//! The catalog as each caller: `--credentials registry` (the Quilt exchange), search and
//! bucket_list through the registry stand-in with the caller's own token, and every way
//! catalog access can fail — each a precise tool error, never an empty result.
//!
//! Each trial starts its own SeaweedFS (STS trusting the shared issuer, ReaderA for Alice
//! on one bucket, ReaderB for Bob on another) and a registry stand-in granting the same.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use futures::future::join_all;
use quilt_mcp_tests::fault_proxy::{Fault, FaultProxy};
use quilt_mcp_tests::host_process::{HostLaunch, HostProcess};
use quilt_mcp_tests::identity::{now_secs, standard_claims};
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::ports::ClosedPort;
use quilt_mcp_tests::registry::{RegistryStandin, StandinConfig, grant, standin_config};
use quilt_mcp_tests::seaweedfs::ADMIN;
use quilt_mcp_tests::sts::{BucketReader, WebIdentityTrust, role_arn};
use serde_json::{Value, json};

use crate::support::{OwnSeaweed, Scenario, args};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    registry_credentials_reach_only_the_callers_bucket,
    search_finds_objects_packages_and_entries,
    withheld_or_refused_catalog_access_is_an_error,
    one_exchange_per_token_until_near_expiry,
    registry_down_is_a_precise_error,
    search_narrows_when_the_registry_refuses_many_indices,
    registry_and_sts_faults_are_precise_and_pass,
];

/// Accepted by the host, the registry stand-in and SeaweedFS's OIDC provider alike: the
/// deployment choice that lets one token serve all three.
const AUDIENCE: &str = "quilt-mcp-catalog-e2e";
const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
/// Valid tokens, but no Quilt role: the registry answers 403.
const CAROL: &str = "carol@example.com";
const ALPHA: &str = "catalog-alpha";
const BETA: &str = "catalog-beta";
const SURVEY_KEY: &str = "reports/penguin-survey-2026.csv";

/// SeaweedFS with STS and the registry stand-in, both knowing Alice and Bob.
struct Catalog {
    registry: RegistryStandin,
    seaweed: OwnSeaweed,
}

impl Catalog {
    async fn start(scenario: &Scenario<'_>) -> Result<Self> {
        Self::start_with(scenario, |_| ()).await
    }

    /// Like [`Self::start`], with the registry stand-in's configuration adjusted first.
    async fn start_with(
        scenario: &Scenario<'_>,
        adjust: impl FnOnce(&mut StandinConfig),
    ) -> Result<Self> {
        let stack = scenario.stack;
        let readers = vec![
            BucketReader {
                role_name: "ReaderA".into(),
                subject: ALICE.into(),
                bucket: ALPHA.into(),
            },
            BucketReader {
                role_name: "ReaderB".into(),
                subject: BOB.into(),
                bucket: BETA.into(),
            },
        ];
        let grants = readers.iter().map(grant).collect();
        let trust = WebIdentityTrust {
            issuer: stack.issuer(),
            audience: AUDIENCE.into(),
            jwks_url: stack.jwks.jwks_url(),
            readers,
        };
        let seaweed = scenario.own_seaweed(&trust.iam_config()).await?;
        let admin = seaweed.admin();
        for bucket in [ALPHA, BETA] {
            admin.create_bucket(bucket).await?;
            admin
                .put_object(bucket, "hello.txt", format!("only for readers of {bucket}"))
                .send()
                .await?;
        }
        admin
            .put_object(ALPHA, SURVEY_KEY, "species,count\nAdelie,3\n")
            .content_type("text/csv")
            .send()
            .await?;
        let mut config = standin_config(
            &seaweed,
            &stack.jwks.jwks_url(),
            &stack.issuer(),
            AUDIENCE,
            grants,
        )?;
        adjust(&mut config);
        let registry = RegistryStandin::start(config).await?;
        Ok(Self { registry, seaweed })
    }

    fn registry_url(&self) -> String {
        self.registry
            .url()
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }

    fn s3_endpoint(&self) -> String {
        self.seaweed
            .s3_endpoint
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }

    /// A host at this SeaweedFS for [`AUDIENCE`] tokens, with `credentials` and `extra` flags.
    async fn host(
        &self,
        scenario: &Scenario<'_>,
        credentials: &[&str],
        extra: &[&str],
    ) -> Result<HostProcess> {
        let stack = scenario.stack;
        let mut flags = args(&[
            "--s3-endpoint",
            &self.s3_endpoint(),
            "--jwks-url",
            &stack.jwks.jwks_url(),
            "--jwt-issuer",
            &stack.issuer(),
            "--jwt-audience",
            AUDIENCE,
        ]);
        flags.extend(args(credentials));
        flags.extend(args(extra));
        // No credentials anywhere on disk: the host's HOME is an empty directory.
        let home = tempfile::tempdir()?;
        let env = [("HOME".to_owned(), home.path().display().to_string())];
        HostProcess::start(HostLaunch {
            host_bin: &stack.artifacts.host_bin,
            guest: &stack.artifacts.guest,
            listen: "127.0.0.1:0",
            args: &flags,
            env: &env,
            echo_logs: false,
        })
        .await
    }

    /// A host whose AWS credentials come from the registry, which it also searches.
    async fn registry_host(&self, scenario: &Scenario<'_>, extra: &[&str]) -> Result<HostProcess> {
        let registry = self.registry_url();
        let mut flags = vec!["--registry-url", &registry];
        flags.extend_from_slice(extra);
        self.host(scenario, &["--credentials", "registry"], &flags)
            .await
    }
}

/// A client whose token for `subject` has the catalog's audience (plus `extra` claims).
fn client(scenario: &Scenario<'_>, host: &HostProcess, subject: &str, extra: Value) -> McpClient {
    let mut claims = standard_claims(&scenario.stack.issuer(), AUDIENCE, subject);
    for (name, value) in extra.as_object().into_iter().flatten() {
        claims[name] = value.clone();
    }
    McpClient::new(&host.mcp_url(), Some(scenario.stack.identity.sign(&claims)))
}

async fn list(client: &McpClient, bucket: &str) -> Result<Result<Value, String>> {
    let outcome = client
        .call_tool("bucket_objects_list", json!({"bucket": bucket}))
        .await?;
    Ok(if outcome.is_error {
        Err(outcome.text)
    } else {
        Ok(outcome.structured)
    })
}

async fn search(client: &McpClient, arguments: Value) -> Result<Value> {
    client
        .call_tool("search_catalog", arguments)
        .await?
        .success()
}

async fn search_failure(client: &McpClient, arguments: Value) -> Result<String> {
    client
        .call_tool("search_catalog", arguments)
        .await?
        .failure()
}

fn names_of(result: &Value, kind: &str) -> Vec<String> {
    result["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|hit| hit["type"] == kind)
        .filter_map(|hit| hit["name"].as_str().map(str::to_owned))
        .collect()
}

pub async fn registry_credentials_reach_only_the_callers_bucket(
    scenario: &Scenario<'_>,
) -> Result<()> {
    let catalog = Catalog::start(scenario).await?;
    let host = catalog.registry_host(scenario, &[]).await?;
    let alice = client(scenario, &host, ALICE, json!({}));
    let bob = client(scenario, &host, BOB, json!({}));

    for (client, own, other) in [(&alice, ALPHA, BETA), (&bob, BETA, ALPHA)] {
        let listing = list(client, own).await?.map_err(anyhow::Error::msg)?;
        ensure!(
            listing.to_string().contains("hello.txt"),
            "own bucket {own}: {listing}"
        );
        let denied = list(client, other)
            .await?
            .err()
            .with_context(|| format!("{other} must be denied"))?;
        ensure!(denied.contains("denied"), "{other}: {denied}");
    }

    let status = alice.call_tool("auth_status", json!({})).await?.success()?;
    ensure!(status["credential_source"] == "registry", "{status}");
    ensure!(status["credentials"]["source"] == "registry", "{status}");
    ensure!(status["credentials"]["temporary"] == true, "{status}");
    ensure!(status["registry_authorized"] == true, "{status}");
    ensure!(status["registry_url"] == catalog.registry_url(), "{status}");

    let buckets = alice.call_tool("bucket_list", json!({})).await?.success()?;
    ensure!(buckets["source"] == "registry", "{buckets}");
    let names: Vec<&str> = buckets["buckets"]
        .as_array()
        .context("buckets")?
        .iter()
        .filter_map(|b| b["name"].as_str())
        .collect();
    ensure!(names == [ALPHA], "Alice's buckets: {buckets}");

    // One exchange per token so far; refused tokens never reach the registry (nor its STS).
    let exchanges = catalog.registry.credential_exchanges();
    ensure!(exchanges == 2, "{exchanges} exchanges for two tokens");
    let mut expired = standard_claims(&scenario.stack.issuer(), AUDIENCE, ALICE);
    expired["exp"] = json!(now_secs() - 3600);
    let foreign_issuer = {
        let mut claims = standard_claims("https://elsewhere.example", AUDIENCE, ALICE);
        claims["exp"] = json!(now_secs() + 600);
        claims
    };
    for claims in [expired, foreign_issuer] {
        let refused = McpClient::new(&host.mcp_url(), Some(scenario.stack.identity.sign(&claims)));
        let reply = refused
            .send(
                "tools/call",
                json!({"name": "bucket_objects_list", "arguments": {"bucket": ALPHA}}),
            )
            .await?;
        ensure!(
            reply.status == 401,
            "HTTP {}: {}",
            reply.status,
            reply.text()
        );
    }
    ensure!(
        catalog.registry.credential_exchanges() == exchanges,
        "a refused token reached the registry"
    );
    Ok(())
}

pub async fn search_finds_objects_packages_and_entries(scenario: &Scenario<'_>) -> Result<()> {
    let catalog = Catalog::start(scenario).await?;
    // A package in Alice's bucket, written by an administrator's host.
    let writer = catalog
        .host(
            scenario,
            &ADMIN
                .static_source_flags()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            &[],
        )
        .await?;
    let admin = client(scenario, &writer, "admin@example.com", json!({}));
    admin
        .call_tool(
            "package_create",
            json!({
                "package_name": "fieldwork/penguins",
                "registry": format!("s3://{ALPHA}"),
                "s3_uris": [format!("s3://{ALPHA}/{SURVEY_KEY}")],
                "message": "Antarctic colony census",
                "metadata": {"season": "2026"},
            }),
        )
        .await?
        .success()?;

    // Search works whatever the AWS credential source: here STS web identity, while the
    // registry is reached with the caller's own token.
    let registry = catalog.registry_url();
    let host = catalog
        .host(
            scenario,
            &[
                "--credentials",
                "web-identity",
                "--sts-endpoint",
                &catalog.s3_endpoint(),
                "--role-arn-claim",
                "role_arn",
            ],
            &["--registry-url", &registry],
        )
        .await?;
    let alice = client(
        scenario,
        &host,
        ALICE,
        json!({"role_arn": role_arn("ReaderA")}),
    );

    let files = search(&alice, json!({"query": "penguin-survey-2026"})).await?;
    ensure!(
        names_of(&files, "file").contains(&SURVEY_KEY.to_owned()),
        "file scope: {files}"
    );
    let survey = files["results"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|hit| hit["name"] == SURVEY_KEY)
        .context("the survey hit")?;
    ensure!(
        survey["s3_uri"] == format!("s3://{ALPHA}/{SURVEY_KEY}") && survey["bucket"] == ALPHA,
        "{survey}"
    );
    ensure!(files["buckets"] == json!([ALPHA]), "searched {files}");

    let packages = search(&alice, json!({"query": "census", "scope": "package"})).await?;
    ensure!(
        names_of(&packages, "package") == ["fieldwork/penguins"],
        "package scope: {packages}"
    );
    ensure!(
        names_of(&packages, "packageEntry").is_empty(),
        "package scope: {packages}"
    );

    let entries = search(
        &alice,
        json!({"query": "penguin*", "scope": "packageEntry"}),
    )
    .await?;
    ensure!(
        names_of(&entries, "packageEntry").contains(&"penguin-survey-2026.csv".to_owned()),
        "packageEntry scope: {entries}"
    );

    let global = search(
        &alice,
        json!({"query": "penguin*", "scope": "global", "limit": 20}),
    )
    .await?;
    ensure!(
        !names_of(&global, "file").is_empty() && !names_of(&global, "packageEntry").is_empty(),
        "global scope: {global}"
    );

    // Explicit index lists, never wildcards; Bob's bucket is not Alice's to search.
    let sent: Vec<String> = catalog
        .registry
        .searches()
        .into_iter()
        .map(|s| s.index)
        .collect();
    ensure!(
        sent.iter().all(|index| !index.contains('*'))
            && sent.contains(&format!("{ALPHA},{ALPHA}_packages")),
        "indices sent: {sent:?}"
    );
    let why = search_failure(&alice, json!({"query": "hello", "bucket": BETA})).await?;
    ensure!(
        why.contains("not authorized") && why.contains("403"),
        "{why}"
    );
    Ok(())
}

pub async fn withheld_or_refused_catalog_access_is_an_error(scenario: &Scenario<'_>) -> Result<()> {
    let catalog = Catalog::start(scenario).await?;

    // The operator does not forward tokens to the registry: search cannot act as the caller.
    let withheld = catalog
        .registry_host(scenario, &["--registry-forward-token=false"])
        .await?;
    let alice = client(scenario, &withheld, ALICE, json!({}));
    for scope in ["file", "package", "global"] {
        let why = search_failure(&alice, json!({"query": "penguin", "scope": scope})).await?;
        ensure!(
            why.contains("Catalog access is not authorized") && why.contains("forward"),
            "{scope}: {why}"
        );
    }
    let why = alice.call_tool("bucket_list", json!({})).await?.failure()?;
    ensure!(why.contains("not authorized"), "bucket_list: {why}");
    ensure!(
        catalog.registry.searches().is_empty(),
        "a withheld search reached the registry"
    );

    // Forwarded, but the registry refuses: a token it does not accept (another audience the
    // host takes) and a user without a Quilt role.
    let forwarded = catalog
        .registry_host(scenario, &["--jwt-audience", "other-audience"])
        .await?;
    let mut claims = standard_claims(&scenario.stack.issuer(), "other-audience", ALICE);
    claims["exp"] = json!(now_secs() + 600);
    let wrong_audience = McpClient::new(
        &forwarded.mcp_url(),
        Some(scenario.stack.identity.sign(&claims)),
    );
    let why = search_failure(&wrong_audience, json!({"query": "penguin"})).await?;
    ensure!(
        why.contains("did not accept your sign-in token (401"),
        "{why}"
    );

    let carol = client(scenario, &forwarded, CAROL, json!({}));
    let why = search_failure(&carol, json!({"query": "penguin"})).await?;
    ensure!(
        why.contains("not authorized") && why.contains("403"),
        "search as Carol: {why}"
    );
    let why = list(&carol, ALPHA)
        .await?
        .err()
        .context("Carol must get no AWS keys")?;
    ensure!(
        why.contains("403") && why.contains(&catalog.registry_url()),
        "S3 as Carol: {why}"
    );
    Ok(())
}

pub async fn one_exchange_per_token_until_near_expiry(scenario: &Scenario<'_>) -> Result<()> {
    let catalog = Catalog::start(scenario).await?;
    // All 50 at once from one caller, more than a caller's default share of the instances.
    let host = catalog
        .registry_host(scenario, &["--max-requests-per-caller", "50"])
        .await?;
    let alice = client(scenario, &host, ALICE, json!({}));
    let calls = (0..50).map(|_| list(&alice, ALPHA));
    for outcome in join_all(calls).await {
        outcome?.map_err(anyhow::Error::msg)?;
    }
    let exchanges = catalog.registry.credential_exchanges();
    ensure!(
        exchanges == 1,
        "{exchanges} exchanges for 50 concurrent calls with one token"
    );

    // SeaweedFS issues one-hour keys. With a refresh margin longer than that they are stale
    // on arrival, so every call exchanges again; with the default margin they are reused.
    // Both follow from the keys' expiry, so no wall-clock window decides the outcome.
    let short_lived = catalog
        .registry_host(scenario, &["--credentials-refresh-margin-secs", "7200"])
        .await?;
    let bob = client(scenario, &short_lived, BOB, json!({}));
    for _ in 0..2 {
        list(&bob, BETA).await?.map_err(anyhow::Error::msg)?;
    }
    let exchanges = catalog.registry.credential_exchanges();
    ensure!(
        exchanges == 3,
        "{exchanges} exchanges: keys within the refresh margin of their expiry were reused"
    );
    let later = (0..3).map(|_| list(&alice, ALPHA));
    for outcome in join_all(later).await {
        outcome?.map_err(anyhow::Error::msg)?;
    }
    ensure!(
        catalog.registry.credential_exchanges() == 3,
        "keys an hour from expiry were not reused"
    );
    Ok(())
}

pub async fn registry_down_is_a_precise_error(scenario: &Scenario<'_>) -> Result<()> {
    let catalog = Catalog::start(scenario).await?;
    let closed_port = ClosedPort::bind()?;
    let down = closed_port.origin();
    let host = catalog
        .host(
            scenario,
            &["--credentials", "registry"],
            &["--registry-url", &down],
        )
        .await?;
    let alice = client(scenario, &host, ALICE, json!({}));
    let why = list(&alice, ALPHA)
        .await?
        .err()
        .context("no keys without a registry")?;
    ensure!(
        why.contains(&down) && why.contains("unreachable"),
        "S3 tool: {why}"
    );
    let why = search_failure(&alice, json!({"query": "penguin"})).await?;
    ensure!(
        why.contains(&down) && why.contains("could not be reached"),
        "search: {why}"
    );
    // The host keeps serving.
    let status = alice.call_tool("auth_status", json!({})).await?.success()?;
    ensure!(status["caller"]["subject"] == ALICE, "{status}");
    Ok(())
}

/// Faults between the server and the registry (search) or STS (each caller's credential
/// exchange), injected by a proxy in front of each ([`quilt_mcp_tests::fault_proxy`]): a 5xx,
/// an answer cut short, an answer later than the deadline. Each is a precise error within the
/// deadline, and the call after it, fault gone, works.
pub async fn registry_and_sts_faults_are_precise_and_pass(scenario: &Scenario<'_>) -> Result<()> {
    let catalog = Catalog::start(scenario).await?;
    let registry = FaultProxy::start(&catalog.registry_url()).await?;
    let sts = FaultProxy::start(&catalog.s3_endpoint()).await?;
    let host = catalog
        .host(
            scenario,
            &[
                "--credentials",
                "web-identity",
                "--sts-endpoint",
                &sts.url(),
                "--role-arn-claim",
                "role_arn",
            ],
            &[
                "--registry-url",
                &registry.url(),
                "--request-timeout-ms",
                "3000",
            ],
        )
        .await?;
    // A token of its own for each call: exchanged credentials are cached per token.
    let tokens = std::sync::atomic::AtomicU64::new(0);
    let alice = || {
        let jti = tokens.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        client(
            scenario,
            &host,
            ALICE,
            json!({"role_arn": role_arn("ReaderA"), "jti": format!("fault-{jti}")}),
        )
    };
    let late = Fault::Latency(Duration::from_secs(30));
    let cases = [
        (Fault::Status(500), "HTTP 500"),
        (Fault::TruncatedBody, "is not the JSON this API returns"),
        (late, "took longer than the server's limit of 3s"),
    ];
    for (fault, expected) in cases {
        let search_catalog = ("search_catalog", json!({"query": "penguin"}));
        let why = failure_under(&registry, fault, &alice(), search_catalog).await?;
        ensure!(why.contains(expected), "search under {fault:?}: {why}");
        search(&alice(), json!({"query": "penguin"})).await?;
    }
    let cases = [
        (Fault::Status(503), "503"),
        // The cut falls inside the credentials: STS is named, never S3 refusing keys built
        // from half an answer.
        (Fault::TruncatedBody, "STS at"),
        (late, "took longer than the server's limit of 3s"),
    ];
    for (fault, expected) in cases {
        let listing = ("bucket_objects_list", json!({"bucket": ALPHA}));
        let why = failure_under(&sts, fault, &alice(), listing).await?;
        ensure!(
            why.contains(expected) && !why.contains("S3 refused"),
            "listing under an STS {fault:?}: {why}"
        );
        ensure!(
            list(&alice(), ALPHA).await?.is_ok(),
            "no listing after the STS {fault:?}"
        );
    }
    ensure!(
        registry.damaged() >= 3 && sts.damaged() >= 3,
        "a fault was never applied"
    );
    Ok(())
}

/// The error of a call while `proxy` injects `fault`, which must come within the trial's 3 s
/// deadline plus the host's own answer.
async fn failure_under(
    proxy: &FaultProxy,
    fault: Fault,
    client: &McpClient,
    (tool, arguments): (&str, Value),
) -> Result<String> {
    proxy.set(fault);
    let started = Instant::now();
    let why = failure(client, tool, arguments).await;
    proxy.set(Fault::None);
    let took = started.elapsed();
    ensure!(
        took < Duration::from_millis(4500),
        "{tool} under {fault:?} took {took:?}"
    );
    why
}

/// The error of a call that must fail, as a tool error or (past the deadline) the host's own.
async fn failure(client: &McpClient, tool: &str, arguments: Value) -> Result<String> {
    let reply = client
        .send("tools/call", json!({"name": tool, "arguments": arguments}))
        .await?;
    let message = reply.json()?;
    if reply.status != 200 {
        return Ok(message["error"]["message"].to_string());
    }
    ensure!(
        message["result"]["isError"] == true,
        "{tool} succeeded: {message}"
    );
    Ok(message["result"]["content"][0]["text"].to_string())
}

pub async fn search_narrows_when_the_registry_refuses_many_indices(
    scenario: &Scenario<'_>,
) -> Result<()> {
    // Alice may browse twelve buckets, but the registry takes at most ten indices at once.
    let extra: Vec<String> = (0..11).map(|i| format!("catalog-extra-{i:02}")).collect();
    let granted = extra.clone();
    let catalog = Catalog::start_with(scenario, move |config| {
        config.max_indices = 10;
        for user in config.users.iter_mut().filter(|user| user.subject == ALICE) {
            user.buckets.extend(granted.iter().cloned());
        }
    })
    .await?;
    let admin = catalog.seaweed.admin();
    for bucket in &extra {
        admin.create_bucket(bucket).await?;
        admin
            .put_object(bucket, "hello.txt", "a bucket among many")
            .send()
            .await?;
    }
    let host = catalog.registry_host(scenario, &[]).await?;
    let alice = client(scenario, &host, ALICE, json!({}));
    let found = search(&alice, json!({"query": "hello*"})).await?;
    let searched = found["buckets"].as_array().context("buckets")?.len();
    ensure!(searched == 10, "searched {searched} buckets: {found}");
    ensure!(
        found["note"]
            .as_str()
            .is_some_and(|note| note.contains("all 12")),
        "the narrowing must be reported: {found}"
    );
    ensure!(!names_of(&found, "file").is_empty(), "{found}");
    let sizes: Vec<usize> = catalog
        .registry
        .searches()
        .iter()
        .map(|search| search.index.split(',').count())
        .collect();
    ensure!(sizes == [12, 10], "index lists sent: {sizes:?}");
    Ok(())
}
