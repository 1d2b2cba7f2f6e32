//! The sign-in bridge against an upstream OpenID provider that misbehaves
//! ([`quilt_mcp_tests::hostile_idp`]): every bad ID token, token response or discovery
//! document ends the sign-in with the OAuth error it deserves, sent to the client's redirect
//! URI with its state and no code; the host keeps serving, and an honest sign-in at the same
//! host succeeds right after. The honest provider is strict about what the bridge sends (PKCE,
//! nonce, client secret), so every sign-in that succeeds here proves the bridge sends them
//! right, and every refusal follows a correct token request: the refusal is the provider's
//! doing. Neither an ID token nor the client secret ever reaches the host's log.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use quilt_mcp_tests::bridge_sign_in::{
    Browser, OAuthClient, authorize_url, code_of, redeem, register,
};
use quilt_mcp_tests::host_process::HostProcess;
use quilt_mcp_tests::hostile_idp::{self, HostileIdp, Misbehaviour};
use quilt_mcp_tests::local_idp::Pkce;
use quilt_mcp_tests::mcp::McpClient;
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::sign_in::{CLIENT_REDIRECT, claims_of};
use crate::support::{Guest, Scenario, args};

crate::support::trials![
    an_honest_provider_signs_the_person_in,
    several_audiences_with_azp_naming_the_bridge_sign_in,
    a_denial_at_the_provider_is_passed_on,
    a_provider_answer_without_code_is_refused,
    a_wrong_nonce_is_refused,
    a_missing_nonce_is_refused,
    another_audience_is_refused,
    another_issuer_is_refused,
    an_expired_id_token_is_refused,
    an_id_token_without_subject_is_refused,
    an_unpublished_key_is_refused,
    a_forged_signature_under_the_published_kid_is_refused,
    alg_none_is_refused,
    hs256_keyed_with_the_public_key_is_refused,
    no_id_token_is_refused,
    several_audiences_without_azp_are_refused,
    several_audiences_with_azp_of_another_are_refused,
    discovery_naming_another_issuer_is_refused,
    a_huge_token_response_is_refused,
    a_token_response_that_is_not_json_is_refused,
    a_token_endpoint_error_is_passed_on,
    a_slow_token_endpoint_times_out,
    a_trickling_token_response_times_out,
];

/// The client's `state`, as `authorize_url` sends it.
const CLIENT_STATE: &str = "client-state-123";
/// Longer than any sign-in here may take: the slow ones end at the bridge's 10 s timeout.
const SIGN_IN_DEADLINE: Duration = Duration::from_secs(30);

pub async fn an_honest_provider_signs_the_person_in(scenario: &Scenario<'_>) -> Result<()> {
    let idp = HostileIdp::start(Misbehaviour::Honest).await?;
    let host = bridge_host(scenario, &idp).await?;
    let client = register(host.base_url(), CLIENT_REDIRECT, "Honest upstream").await?;
    let answer = signs_in(&host, &client, &idp).await?;
    let claims = claims_of(answer["access_token"].as_str().context("no access token")?)?;
    ensure!(claims["sub"] == hostile_idp::SUBJECT, "{claims}");
    ensure!(claims["aud"] == json!(host.mcp_url()), "{claims}");
    signs_in(&host, &client, &idp).await?;

    // What the bridge sent the provider, twice: the code flow, for its client, back to its
    // callback, with a fresh S256 challenge and nonce each time (the provider checked the
    // verifier against the challenge, and the Basic credentials, before answering).
    let authorizations = idp.authorize_requests();
    ensure!(authorizations.len() == 2, "{authorizations:?}");
    let callback = format!("{}/oauth/callback", host.base_url());
    for request in &authorizations {
        ensure!(
            request.param("response_type") == Some("code"),
            "{request:?}"
        );
        ensure!(
            request.param("client_id") == Some(hostile_idp::CLIENT_ID),
            "{request:?}"
        );
        ensure!(
            request.param("redirect_uri") == Some(callback.as_str()),
            "{request:?}"
        );
        ensure!(
            request.param("code_challenge_method") == Some("S256"),
            "{request:?}"
        );
        ensure!(
            request.param("nonce").is_some_and(|n| n.len() >= 32),
            "{request:?}"
        );
        ensure!(
            request.param("state") != Some(CLIENT_STATE),
            "the client's state went upstream"
        );
    }
    for name in ["nonce", "code_challenge", "state"] {
        ensure!(
            authorizations[0].param(name) != authorizations[1].param(name),
            "{name} was reused"
        );
    }
    let tokens = idp.token_requests();
    ensure!(
        tokens.len() == 2 && tokens.iter().all(|t| t.refused.is_none()),
        "{tokens:?}"
    );
    ensure!(
        tokens.iter().all(|t| t
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic "))),
        "{tokens:?}"
    );
    ensure!(
        idp.discovery_hits() == 1,
        "discovery fetched {} times",
        idp.discovery_hits()
    );
    nothing_secret_logged(
        &host,
        &idp,
        &[answer["access_token"].as_str().unwrap_or_default()],
    )
}

pub async fn several_audiences_with_azp_naming_the_bridge_sign_in(
    scenario: &Scenario<'_>,
) -> Result<()> {
    let idp = HostileIdp::start(Misbehaviour::SeveralAudiencesWithAzp).await?;
    let host = bridge_host(scenario, &idp).await?;
    let client = register(host.base_url(), CLIENT_REDIRECT, "azp").await?;
    signs_in(&host, &client, &idp).await?;
    nothing_secret_logged(&host, &idp, &[])
}

pub async fn a_denial_at_the_provider_is_passed_on(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::AuthorizeDenies,
        "access_denied",
        "answered access_denied",
    )
    .await
}

pub async fn a_provider_answer_without_code_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::AuthorizeSendsNoCode,
        "invalid_request",
        "sent no code",
    )
    .await
}

pub async fn a_wrong_nonce_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::WrongNonce,
        "server_error",
        "its nonce is not this sign-in's",
    )
    .await
}

pub async fn a_missing_nonce_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::NoNonce,
        "server_error",
        "its nonce is not this sign-in's",
    )
    .await
}

pub async fn another_audience_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::WrongAudience,
        "server_error",
        "InvalidAudience",
    )
    .await
}

pub async fn another_issuer_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::WrongIssuer,
        "server_error",
        "InvalidIssuer",
    )
    .await
}

pub async fn an_expired_id_token_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::Expired,
        "server_error",
        "ExpiredSignature",
    )
    .await
}

pub async fn an_id_token_without_subject_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::NoSubject,
        "server_error",
        "MissingRequiredClaim",
    )
    .await
}

pub async fn an_unpublished_key_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::UnknownKey,
        "server_error",
        "its signing key is not among",
    )
    .await
}

pub async fn a_forged_signature_under_the_published_kid_is_refused(
    scenario: &Scenario<'_>,
) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::ForgedSignature,
        "server_error",
        "InvalidSignature",
    )
    .await
}

pub async fn alg_none_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    refused(scenario, Misbehaviour::AlgNone, "server_error", "not a JWT").await
}

pub async fn hs256_keyed_with_the_public_key_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::Hs256WithPublicKey,
        "server_error",
        "an algorithm this server does not accept",
    )
    .await
}

/// The provider answered, but not what the bridge needs: its fault, not the grant's.
pub async fn no_id_token_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::NoIdToken,
        "server_error",
        "sent no ID token",
    )
    .await
}

pub async fn several_audiences_without_azp_are_refused(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::SeveralAudiencesWithoutAzp,
        "server_error",
        "several audiences",
    )
    .await
}

pub async fn several_audiences_with_azp_of_another_are_refused(
    scenario: &Scenario<'_>,
) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::SeveralAudiencesAzpOfAnother,
        "server_error",
        "several audiences",
    )
    .await
}

/// Refused at the consent step, before the person is sent to a provider that is not the one
/// configured: nothing reaches its `/authorize` or `/token`.
pub async fn discovery_naming_another_issuer_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::DiscoveryNamesAnotherIssuer,
        "server_error",
        "calls itself",
    )
    .await
}

pub async fn a_huge_token_response_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::HugeTokenResponse,
        "server_error",
        "too large",
    )
    .await
}

pub async fn a_token_response_that_is_not_json_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::NotJson,
        "server_error",
        "not the expected JSON",
    )
    .await
}

pub async fn a_token_endpoint_error_is_passed_on(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::TokenEndpointError,
        "server_error",
        "refused: invalid_grant",
    )
    .await
}

/// The provider answers after 15 s; the bridge gives up after its 10 s.
pub async fn a_slow_token_endpoint_times_out(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::SlowTokenEndpoint,
        "temporarily_unavailable",
        "could not be reached",
    )
    .await
}

/// Headers at once, then a byte a second: the bridge's timeout covers the whole response.
pub async fn a_trickling_token_response_times_out(scenario: &Scenario<'_>) -> Result<()> {
    refused(
        scenario,
        Misbehaviour::TrickleTokenResponse,
        "temporarily_unavailable",
        "could not be reached",
    )
    .await
}

/// A sign-in with `idp` misbehaving so ends at the client's redirect URI with `error` (its
/// description saying `because`), its state and no code; then, the provider honest again, the
/// same host signs the person in.
async fn refused(
    scenario: &Scenario<'_>,
    misbehaviour: Misbehaviour,
    error: &str,
    because: &str,
) -> Result<()> {
    let idp = HostileIdp::start(misbehaviour).await?;
    let host = bridge_host(scenario, &idp).await?;
    let client = register(host.base_url(), CLIENT_REDIRECT, "Hostile upstream").await?;
    let started = Instant::now();
    let (redirect, _) = attempt(&host, &client, &idp).await?;
    let took = started.elapsed();
    let pairs: Vec<(String, String)> = redirect.query_pairs().into_owned().collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v.as_str())
    };
    ensure!(
        redirect
            .as_str()
            .starts_with(&format!("{CLIENT_REDIRECT}?")),
        "{misbehaviour:?}: the browser was sent to {redirect}"
    );
    ensure!(
        get("error") == Some(error),
        "{misbehaviour:?}: not {error}: {pairs:?}"
    );
    ensure!(
        get("error_description").is_some_and(|d| d.contains(because)),
        "{misbehaviour:?}: not because {because:?}: {pairs:?}"
    );
    ensure!(
        get("code").is_none(),
        "{misbehaviour:?}: a code was issued: {pairs:?}"
    );
    ensure!(
        get("state") == Some(CLIENT_STATE),
        "{misbehaviour:?}: {pairs:?}"
    );
    ensure!(
        get("iss") == Some(host.base_url()),
        "{misbehaviour:?}: {pairs:?}"
    );
    // The bridge's own requests were correct: the refusal is the provider's doing.
    let tokens = idp.token_requests();
    match misbehaviour {
        Misbehaviour::DiscoveryNamesAnotherIssuer => {
            ensure!(
                idp.authorize_requests().is_empty(),
                "sent to the wrong issuer's /authorize"
            );
            ensure!(tokens.is_empty(), "{tokens:?}");
        }
        Misbehaviour::AuthorizeDenies | Misbehaviour::AuthorizeSendsNoCode => {
            ensure!(tokens.is_empty(), "{tokens:?}");
        }
        _ => ensure!(
            tokens.len() == 1 && tokens[0].refused.is_none(),
            "{tokens:?}"
        ),
    }
    ensure!(
        took < Duration::from_secs(20),
        "{misbehaviour:?}: the refusal took {took:?}"
    );

    let health = reqwest::get(format!("{}/healthz", host.base_url())).await?;
    ensure!(
        health.status() == StatusCode::OK,
        "/healthz: {}",
        health.status()
    );
    idp.set(Misbehaviour::Honest);
    signs_in(&host, &client, &idp)
        .await
        .with_context(|| format!("the honest sign-in after {misbehaviour:?}"))?;
    nothing_secret_logged(&host, &idp, &[])
}

/// A bridge host (no STS, no registry) whose upstream is `idp`.
async fn bridge_host(scenario: &Scenario<'_>, idp: &HostileIdp) -> Result<HostProcess> {
    let mut spec = scenario.spec(Guest::Tools);
    let key = {
        use base64::Engine;
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    spec.auth = args(&[
        "--oauth-upstream-issuer",
        &idp.issuer(),
        "--oauth-upstream-client-id",
        hostile_idp::CLIENT_ID,
        "--oauth-upstream-client-secret",
        idp.client_secret(),
        "--oauth-key",
        &key,
    ]);
    scenario.start(spec).await
}

/// One sign-in at `host` for `client` through `idp`: where the bridge finally sends the
/// browser (the client's redirect URI), and the client's PKCE pair.
async fn attempt(
    host: &HostProcess,
    client: &OAuthClient,
    idp: &HostileIdp,
) -> Result<(Url, Pkce)> {
    let steps = async {
        let base = host.base_url();
        let pkce = Pkce::s256();
        let browser = Browser::new()?;
        let authorize = authorize_url(base, client, &pkce, &host.mcp_url(), &[]);
        let consent = browser.open_consent(&authorize).await?;
        let request = consent
            .request
            .with_context(|| format!("no consent form ({}): {}", consent.status, consent.html))?;
        let (status, location) = browser.decide(base, &request, "approve").await?;
        let location = location.with_context(|| format!("the consent answered {status}"))?;
        if !location.starts_with(&format!("{}/", idp.issuer())) {
            // Refused before the person was sent upstream.
            return Ok((Url::parse(&location)?, pkce));
        }
        let callback = idp.sign_in(&location).await?;
        ensure!(
            callback
                .as_str()
                .starts_with(&format!("{base}/oauth/callback?")),
            "the provider sent the browser to {callback}"
        );
        Ok((browser.finish(&callback, base).await?, pkce))
    };
    tokio::time::timeout(SIGN_IN_DEADLINE, steps)
        .await
        .with_context(|| format!("the sign-in did not end within {SIGN_IN_DEADLINE:?}"))?
}

/// A whole sign-in that succeeds: its code redeems, and the access token works at `/mcp`.
async fn signs_in(host: &HostProcess, client: &OAuthClient, idp: &HostileIdp) -> Result<Value> {
    let (redirect, pkce) = attempt(host, client, idp).await?;
    let code = code_of(&redirect)?;
    let (status, answer) = redeem(host.base_url(), client, &code, &pkce.verifier).await?;
    ensure!(
        status == StatusCode::OK,
        "the token endpoint answered {status}: {answer}"
    );
    let access_token = answer["access_token"].as_str().context("no access token")?;
    let reply = McpClient::new(&host.mcp_url(), Some(access_token.to_owned()))
        .send("tools/list", json!({}))
        .await?;
    ensure!(
        reply.status == 200,
        "tools/list with the bridge's token: {}",
        reply.status
    );
    for issued in idp.issued_tokens() {
        ensure!(
            !access_token.contains(&issued),
            "an upstream token is readable in ours"
        );
    }
    ensure!(
        !access_token.contains(idp.client_secret()),
        "the client secret is in our token"
    );
    Ok(answer)
}

/// The host's log holds neither the client secret nor any token the provider issued (nor
/// the signature of one), nor `also` (the bridge's own tokens).
fn nothing_secret_logged(host: &HostProcess, idp: &HostileIdp, also: &[&str]) -> Result<()> {
    let log = host.log().text();
    ensure!(
        !log.contains(idp.client_secret()),
        "the client secret was logged"
    );
    for token in idp.issued_tokens() {
        let signature = token.rsplit('.').next().unwrap_or_default();
        ensure!(!log.contains(&token), "an upstream token was logged");
        ensure!(
            signature.len() < 16 || !log.contains(signature),
            "an upstream token's signature was logged"
        );
    }
    for token in also.iter().filter(|token| !token.is_empty()) {
        ensure!(!log.contains(token), "the bridge's own token was logged");
    }
    Ok(())
}
