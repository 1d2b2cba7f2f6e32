//! Real MCP SDK OAuth clients signing in through the host's sign-in bridge, the whole flow
//! as an application does it: the first request gets 401, the SDK discovers the bridge from the
//! protected-resource metadata, registers (or names itself by a metadata document), sends the
//! person to the authorization URL, exchanges the code and retries — and refreshes by itself
//! once the access token expires. The person's part (the consent page, the local IdP's login
//! form) is played over plain HTTP by the scripts in `tests/clients/`, which print one JSON
//! report: the HTTP requests the SDK made, the tokens it was given, and two listings — the
//! user's own bucket, which must list, and the other user's, which must not.
//!
//! The TypeScript SDK (1.32.2) is `typescript_oauth.cjs`; the Python SDK (2.3.0, which has
//! `mcp.client.auth.OAuthClientProvider` like 1.30) is `python_oauth.py`. Both SDKs take a
//! client metadata URL only over https, while the bridge fetches loopback documents over http
//! only (`--oauth-allow-loopback-clients`): the metadata-document trial shows the SDK's choice
//! with an https URL, then signs in with the http document URL as the client's information.

use anyhow::{Context, Result, anyhow, ensure};
use quilt_mcp_tests::artifacts::path_from_env;
use quilt_mcp_tests::host_process::HostProcess;
use quilt_mcp_tests::jwks_server::JwksServer;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::clients::{run, script};
use crate::sign_in::{ALICE, ALPHA, BETA, BOB, Bridged, CLIENT_REDIRECT, claims_of};
use crate::support::Scenario;

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    typescript_sdk_steps_up_on_a_scope_challenge,
    typescript_sdk_signs_in_by_registration,
    typescript_sdk_signs_in_by_metadata_document,
    typescript_sdk_refreshes_an_expired_token,
    python_sdk_signs_in,
    python_sdk_refreshes_an_expired_token,
];

/// What `Bridged::start` puts in each user's bucket.
const KNOWN_KEY: &str = "hello.txt";
/// Access tokens that expire within a trial, and a host that allows no leeway past `exp`.
const SHORT_LIVED: &[&str] = &["--oauth-access-token-secs", "5", "--jwt-leeway-secs", "0"];

#[derive(Clone, Copy, Debug)]
enum Sdk {
    TypeScript,
    Python,
}

impl Sdk {
    fn script(self) -> &'static str {
        match self {
            Self::TypeScript => "typescript_oauth.cjs",
            Self::Python => "python_oauth.py",
        }
    }

    /// The era each SDK speaks by default (tests/tests/e2e/clients.rs checks it without OAuth).
    fn protocol_version(self) -> &'static str {
        match self {
            Self::TypeScript => "2025-11-25",
            Self::Python => "2026-07-28",
        }
    }
}

/// A person (`who`) and the buckets the client lists: theirs, then the other user's.
struct Person {
    who: (&'static str, &'static str, &'static str),
    own: &'static str,
    other: &'static str,
}

const AS_ALICE: Person = Person {
    who: ALICE,
    own: ALPHA,
    other: BETA,
};
const AS_BOB: Person = Person {
    who: BOB,
    own: BETA,
    other: ALPHA,
};

/// One run of an SDK's script against `host`: its JSON report.
async fn sign_in_with(
    sdk: Sdk,
    mode: &str,
    host: &HostProcess,
    person: &Person,
    client_id_url: Option<&str>,
) -> Result<Value> {
    let mut command = match sdk {
        Sdk::TypeScript => {
            let mut command = Command::new(path_from_env("QUILT_MCP_NODE")?);
            command.env("NODE_PATH", path_from_env("QUILT_MCP_TS_SDK")?);
            command
        }
        Sdk::Python => Command::new(path_from_env("QUILT_MCP_PYTHON_MCP2")?),
    };
    command
        .arg(script(sdk.script()))
        .args([
            mode,
            &host.mcp_url(),
            CLIENT_REDIRECT,
            person.own,
            person.other,
        ])
        .args(client_id_url)
        .env("SIGN_IN_LOGIN", person.who.0)
        .env("SIGN_IN_PASSWORD", person.who.1);
    let stdout = run(command, sdk.script())
        .await
        .map_err(|error| anyhow!("{error:#}\n--- the host's log ---\n{}", host.log().text()))?;
    stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .with_context(|| format!("{} printed no JSON report:\n{stdout}", sdk.script()))
}

/// What every signed-in run must show: the SDK found the bridge through the metadata, the
/// person signed in once, the tokens are the bridge's for this person and client, the user's
/// own bucket lists and the other user's does not, and the registry saw only the IdP's tokens.
fn check_signed_in(bridged: &Bridged, sdk: Sdk, report: &Value, person: &Person) -> Result<()> {
    let base = bridged.public_url();
    ensure!(
        report["protocol_version"] == sdk.protocol_version(),
        "{sdk:?} negotiated {} (expected {})",
        report["protocol_version"],
        sdk.protocol_version()
    );
    let requests = requests(report);
    let first = requests.first().context("the SDK made no request")?;
    ensure!(
        first["url"] == json!(bridged.resource()) && first["status"] == 401,
        "the SDK's first request was {first}, not an unauthenticated call answered 401"
    );
    for metadata in [
        format!("{base}/.well-known/oauth-protected-resource/mcp"),
        format!("{base}/.well-known/oauth-authorization-server"),
    ] {
        ensure!(
            requests
                .iter()
                .any(|r| r["method"] == "GET" && r["url"] == json!(metadata) && r["status"] == 200),
            "the SDK never fetched {metadata}: {}",
            report["requests"]
        );
    }
    ensure!(
        grants(report, "authorization_code") == 1,
        "the code was not exchanged exactly once: {}",
        report["requests"]
    );
    let consents = report["consent_pages"]
        .as_array()
        .context("no consent_pages")?;
    ensure!(
        consents.len() == 1,
        "the person was asked {} times: {}",
        consents.len(),
        json!(consents)
    );
    ensure!(
        report["redirects"][0]["iss"] == json!(base),
        "the redirect's iss: {}",
        report["redirects"]
    );

    let client_id = report["client_id"].as_str().context("no client_id")?;
    let tokens = report["tokens"].as_array().context("no tokens")?;
    ensure!(!tokens.is_empty(), "the SDK saved no tokens");
    let mut access_tokens = Vec::new();
    for saved in tokens {
        let token = saved["access_token"].as_str().context("no access_token")?;
        let claims = claims_of(token)?;
        ensure!(
            claims["iss"] == json!(base) && claims["aud"] == json!(bridged.resource()),
            "{claims}"
        );
        ensure!(
            claims["sub"] == person.who.2,
            "a token for {} names {}",
            person.who.2,
            claims["sub"]
        );
        ensure!(
            claims["client_id"] == client_id,
            "a token for client {client_id}: {claims}"
        );
        ensure!(
            saved["refresh_token"].is_string(),
            "no refresh token was issued: {saved}"
        );
        access_tokens.push(token);
    }

    let tools = report["tools"].as_array().context("no tools")?;
    ensure!(
        tools.contains(&json!("bucket_objects_list")),
        "the SDK listed tools {}",
        json!(tools)
    );
    check_listing(&report["own"], person.own)
        .with_context(|| format!("{} listing their own bucket {}", person.who.0, person.own))?;
    let other = &report["other"];
    ensure!(
        other["is_error"] == true && other["listing"].is_null(),
        "{} listed the other user's bucket {}: {other}",
        person.who.0,
        person.other
    );
    bridged.registry_saw_only_idp_tokens(&access_tokens)
}

fn check_listing(result: &Value, bucket: &str) -> Result<()> {
    ensure!(
        result["is_error"] == false,
        "the listing failed: {}",
        result["content"]
    );
    let listing = &result["listing"];
    ensure!(listing["bucket"] == bucket, "{listing}");
    let keys: Vec<&str> = listing["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|object| object["key"].as_str())
        .collect();
    ensure!(keys == [KNOWN_KEY], "listed {keys:?}: {listing}");
    Ok(())
}

fn requests(report: &Value) -> Vec<&Value> {
    report["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .collect()
}

/// How many `grant_type` token requests the SDK made that the bridge answered 200.
fn grants(report: &Value, grant_type: &str) -> usize {
    requests(report)
        .iter()
        .filter(|r| r["grant_type"] == grant_type && r["status"] == 200)
        .count()
}

fn registrations(report: &Value, phase: Option<&str>) -> usize {
    requests(report)
        .iter()
        .filter(|r| {
            r["method"] == "POST"
                && r["url"]
                    .as_str()
                    .is_some_and(|url| url.ends_with("/oauth/register"))
        })
        .filter(|r| phase.is_none_or(|phase| r["phase"] == phase))
        .count()
}

/// A run that registered itself: one registration, a client id the bridge issued, and a consent
/// page that says the name is the client's own claim.
fn check_registered(report: &Value) -> Result<()> {
    ensure!(
        registrations(report, None) == 1,
        "not one registration: {}",
        report["requests"]
    );
    let client_id = report["client_id"].as_str().context("no client_id")?;
    ensure!(
        client_id.starts_with("qmc1."),
        "a client id the bridge did not issue: {client_id}"
    );
    let consent = report["consent_pages"][0].as_str().unwrap_or_default();
    ensure!(
        consent.contains("registered itself"),
        "the consent page said: {consent}"
    );
    Ok(())
}

/// After the access token expired, the same client listed again: the SDK refreshed by itself
/// (a refresh_token grant the bridge answered 200, new tokens), the person was not asked again,
/// and the bridge refreshed at the IdP in turn.
fn check_refreshed(bridged: &Bridged, report: &Value, person: &Person) -> Result<()> {
    check_listing(&report["after_expiry"], person.own)
        .context("listing after the access token expired")?;
    ensure!(
        grants(report, "refresh_token") >= 1,
        "the SDK never refreshed: {}",
        report["requests"]
    );
    let tokens = report["tokens"].as_array().context("no tokens")?;
    ensure!(
        tokens.len() >= 2,
        "the SDK saved no refreshed tokens: {}",
        json!(tokens)
    );
    let (first, last) = (&tokens[0], &tokens[tokens.len() - 1]);
    ensure!(
        first["access_token"] != last["access_token"],
        "the refresh returned the same access token"
    );
    ensure!(
        first["refresh_token"] != last["refresh_token"],
        "the refresh token was not rotated"
    );
    ensure!(
        first["expires_in"].as_u64().is_some_and(|secs| secs <= 5),
        "a long-lived token: {first}"
    );
    // One upstream token request for the code, one more per refresh.
    let token_path = url::Url::parse(&bridged.idp.endpoint("token_endpoint"))?
        .path()
        .to_owned();
    let upstream = format!("POST {token_path} 200");
    let log = bridged.idp.log();
    ensure!(
        log.matches(&upstream).count() >= 2,
        "the bridge did not refresh at the IdP ({upstream:?}):\n{log}"
    );
    Ok(())
}

pub async fn typescript_sdk_signs_in_by_registration(scenario: &Scenario<'_>) -> Result<()> {
    let bridged = Bridged::start(scenario, 1).await?;
    let host = bridged.host(scenario, 0, &[]).await?;
    let report = sign_in_with(Sdk::TypeScript, "registration", &host, &AS_ALICE, None).await?;
    check_signed_in(&bridged, Sdk::TypeScript, &report, &AS_ALICE)?;
    check_registered(&report)
}

pub async fn typescript_sdk_signs_in_by_metadata_document(scenario: &Scenario<'_>) -> Result<()> {
    let bridged = Bridged::start(scenario, 1).await?;
    let host = bridged.host(scenario, 0, &[]).await?;
    let documents = JwksServer::start(json!({})).await?;
    let client_id = documents.jwks_url();
    let name = "TypeScript SDK by its document";
    documents.publish(json!({"client_id": client_id, "client_name": name,
        "redirect_uris": [CLIENT_REDIRECT], "token_endpoint_auth_method": "none"}));

    let report = sign_in_with(
        Sdk::TypeScript,
        "metadata-document",
        &host,
        &AS_ALICE,
        Some(&client_id),
    )
    .await?;
    check_signed_in(&bridged, Sdk::TypeScript, &report, &AS_ALICE)?;
    // Given an https metadata URL, the SDK takes it as its client id instead of registering,
    // because the bridge's metadata says client_id_metadata_document_supported.
    let https = client_id.replacen("http://", "https://", 1);
    let probe = &report["https_probe"];
    ensure!(
        probe["client_id"] == json!(https) && probe["authorization_client_id"] == json!([https]),
        "the SDK did not use its https metadata URL as its client id: {probe}"
    );
    ensure!(
        registrations(&report, Some("https-probe")) == 0,
        "the SDK registered instead: {}",
        report["requests"]
    );
    // The http one (loopback, which the bridge accepts in development) the SDK 1.32 refuses by
    // itself; then it is the client's information. Either way no registration, and the bridge
    // fetched the document.
    if report["metadata_url_used_by_sdk"] == false {
        let why = report["sdk_refused_metadata_url"]
            .as_str()
            .unwrap_or_default();
        ensure!(
            why.contains("HTTPS"),
            "the SDK refused the http metadata URL for another reason: {why}"
        );
    }
    ensure!(
        report["client_id"] == json!(client_id),
        "signed in as client {}",
        report["client_id"]
    );
    ensure!(
        registrations(&report, None) == 0,
        "the SDK registered: {}",
        report["requests"]
    );
    ensure!(
        documents.hits() >= 1,
        "the bridge never fetched the client's metadata document"
    );
    let consent = report["consent_pages"][0].as_str().unwrap_or_default();
    ensure!(
        consent.contains(name) && consent.contains(&format!("identified by {client_id}")),
        "the consent page said: {consent}"
    );
    Ok(())
}

pub async fn typescript_sdk_refreshes_an_expired_token(scenario: &Scenario<'_>) -> Result<()> {
    let bridged = Bridged::start(scenario, 1).await?;
    let host = bridged.host(scenario, 0, SHORT_LIVED).await?;
    let report = sign_in_with(Sdk::TypeScript, "refresh", &host, &AS_ALICE, None).await?;
    check_signed_in(&bridged, Sdk::TypeScript, &report, &AS_ALICE)?;
    check_registered(&report)?;
    check_refreshed(&bridged, &report, &AS_ALICE)?;
    // The TypeScript SDK refreshes when the server refuses the expired token (it does not
    // track expires_in): the host saw the expired token, then the refreshed one.
    let after: Vec<&Value> = requests(&report)
        .into_iter()
        .filter(|r| r["phase"] == "after-expiry")
        .collect();
    ensure!(
        after
            .first()
            .is_some_and(|r| r["rpc"] == "tools/call" && r["status"] == 401),
        "after the expiry: {}",
        json!(after)
    );
    ensure!(
        host.log().text().contains("the token has expired"),
        "the host never refused an expired token"
    );
    Ok(())
}

/// The MCP authorization spec's scope challenge with a real client: signed in read-only at
/// `/mcp/readonly`, the SDK calls a writer at `/mcp`, gets 403 `insufficient_scope`, sends the
/// person to sign in again for the scopes the challenge names, and the retried call writes.
pub async fn typescript_sdk_steps_up_on_a_scope_challenge(scenario: &Scenario<'_>) -> Result<()> {
    let bridged = Bridged::start_with(scenario, 1, true).await?;
    let host = bridged.host(scenario, 0, &[]).await?;
    let report = sign_in_with(Sdk::TypeScript, "step-up", &host, &AS_ALICE, None).await?;
    let names = |key: &str| -> Vec<String> {
        report[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect()
    };
    ensure!(
        !names("read_only_tools")
            .iter()
            .any(|t| t == "bucket_objects_put"),
        "{report}"
    );
    ensure!(
        !names("tools_before")
            .iter()
            .any(|t| t == "bucket_objects_put"),
        "a read-only token lists no writer: {report}"
    );
    ensure!(
        names("tools_after")
            .iter()
            .any(|t| t == "bucket_objects_put"),
        "after step-up the writer is listed: {report}"
    );
    ensure!(report["challenged"] == true, "{report}");
    ensure!(
        report["authorization_scopes"] == json!(["quilt:read", "quilt:read quilt:write"]),
        "the first sign-in asks what /mcp/readonly offers, the second what the challenge named: {report}"
    );
    let challenged = requests(&report)
        .into_iter()
        .filter(|r| r["phase"] == "step-up" && r["rpc"] == "tools/call")
        .map(|r| r["status"].as_u64().unwrap_or_default())
        .collect::<Vec<_>>();
    ensure!(
        challenged == [403, 200],
        "the call, refused then retried: {challenged:?}"
    );
    ensure!(report["put"]["is_error"] == false, "{report}");
    let written = bridged
        .seaweed
        .admin()
        .get_object(AS_ALICE.own, "step-up.txt")
        .await?;
    ensure!(written == b"written after step-up", "{written:?}");
    Ok(())
}

pub async fn python_sdk_signs_in(scenario: &Scenario<'_>) -> Result<()> {
    let bridged = Bridged::start(scenario, 1).await?;
    let host = bridged.host(scenario, 0, &[]).await?;
    let report = sign_in_with(Sdk::Python, "registration", &host, &AS_BOB, None).await?;
    check_signed_in(&bridged, Sdk::Python, &report, &AS_BOB)?;
    check_registered(&report)
}

pub async fn python_sdk_refreshes_an_expired_token(scenario: &Scenario<'_>) -> Result<()> {
    let bridged = Bridged::start(scenario, 1).await?;
    let host = bridged.host(scenario, 0, SHORT_LIVED).await?;
    let report = sign_in_with(Sdk::Python, "refresh", &host, &AS_ALICE, None).await?;
    check_signed_in(&bridged, Sdk::Python, &report, &AS_ALICE)?;
    check_registered(&report)?;
    check_refreshed(&bridged, &report, &AS_ALICE)
}
