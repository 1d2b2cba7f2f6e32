//! JWT validation at the host: every forged, stale or misdirected token is answered
//! 401 by the host itself, and the guest never runs for it.

use anyhow::{Context, Result, ensure};
use jsonwebtoken::Algorithm;
use quilt_mcp_tests::host_process::HostProcess;
use quilt_mcp_tests::hostile_guest::{assert_guest_never_ran, refused_message};
use quilt_mcp_tests::identity::{Identity, hs256_token, jwks, now_secs, unsigned_token};
use quilt_mcp_tests::jwks_server::JwksServer;
use quilt_mcp_tests::mcp::{McpClient, Reply};
use serde_json::{Value, json};

use crate::support::{Guest, KID, SUBJECT, Scenario, args};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    valid_token_is_served,
    missing_token_is_challenged,
    rejected_tokens_never_reach_the_guest,
    explicit_audience_and_public_url,
    public_key_pem_source,
    hs256_secret_source,
    no_auth_mode_runs_anonymously,
    rotated_key_is_fetched_on_unknown_kid,
    configured_algorithms_are_the_accepted_ones,
    leeway_applies_to_exp_and_nbf,
    tokens_never_appear_in_logs,
];

pub async fn valid_token_is_served(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let result = scenario.client(&host).request("whoami", json!({})).await?;
    ensure!(
        result["caller"]["subject"] == SUBJECT,
        "caller {}",
        result["caller"]
    );
    ensure!(
        result["caller"]["issuer"] == scenario.stack.issuer().as_str(),
        "caller {}",
        result["caller"]
    );
    Ok(())
}

pub async fn missing_token_is_challenged(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let anonymous = McpClient::new(&host.mcp_url(), None);
    let metadata = format!(
        "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
        host.base_url()
    );

    let reply = anonymous.send("rejected-anonymous", json!({})).await?;
    ensure!(
        reply.status == 401,
        "no token: HTTP {} {}",
        reply.status,
        reply.text()
    );
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    ensure!(challenge.starts_with("Bearer "), "challenge {challenge:?}");
    ensure!(
        challenge.contains(&metadata),
        "challenge {challenge:?} lacks {metadata}"
    );
    ensure!(reply.json()?["error"].is_string(), "body {}", reply.text());

    // Not a bearer at all, or an empty one: still a missing bearer token.
    for authorization in ["Basic YWxpY2U6c2VjcmV0", "Bearer "] {
        let reply = anonymous
            .post_raw(
                refused_message("non-bearer"),
                &[("authorization", authorization)],
            )
            .await?;
        ensure!(
            reply.status == 401,
            "{authorization:?}: HTTP {} {}",
            reply.status,
            reply.text()
        );
        let challenge = reply.header("www-authenticate").unwrap_or_default();
        ensure!(
            challenge.contains(&metadata),
            "{authorization:?}: challenge {challenge:?}"
        );
    }
    assert_guest_never_ran(&host, &scenario.client(&host)).await
}

/// A token that must be refused, and a word the refusal should give as the reason.
struct Forgery {
    case: &'static str,
    token: String,
    reason: Option<&'static str>,
}

pub async fn rejected_tokens_never_reach_the_guest(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let identity = &scenario.stack.identity;
    let valid = scenario.claims(&host);
    let with = |changes: Value| {
        let mut claims = valid.clone();
        for (name, value) in changes.as_object().expect("object") {
            claims[name] = value.clone();
        }
        claims
    };
    let without = |claim: &str| {
        let mut claims = valid.clone();
        claims.as_object_mut().expect("object").remove(claim);
        claims
    };
    let now = now_secs();
    let impostor = Identity::generate(KID)?;
    let forgeries = [
        Forgery {
            case: "malformed",
            token: "not-a-jwt".into(),
            reason: None,
        },
        Forgery {
            case: "garbage-segments",
            token: "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl".into(),
            reason: None,
        },
        Forgery {
            case: "bad-signature",
            token: impostor.sign(&valid),
            reason: Some("signature"),
        },
        Forgery {
            case: "alg-none",
            token: unsigned_token(KID, &valid),
            reason: None,
        },
        Forgery {
            case: "hs256-keyed-with-rsa-public-key",
            token: hs256_token(identity.public_key_pem().as_bytes(), KID, &valid),
            reason: None,
        },
        Forgery {
            case: "expired",
            token: identity.sign(&with(
                json!({"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}),
            )),
            reason: Some("expired"),
        },
        Forgery {
            case: "not-yet-valid",
            token: identity.sign(&with(json!({"nbf": now + 3600}))),
            reason: None,
        },
        Forgery {
            case: "wrong-issuer",
            token: identity.sign(&with(json!({"iss": "https://issuer.example.test"}))),
            reason: None,
        },
        Forgery {
            case: "wrong-audience",
            token: identity.sign(&with(
                json!({"aud": "https://other-server.example.test/mcp"}),
            )),
            reason: Some("audience"),
        },
        Forgery {
            case: "no-audience",
            token: identity.sign(&without("aud")),
            reason: None,
        },
        Forgery {
            case: "no-expiry",
            token: identity.sign(&without("exp")),
            reason: None,
        },
        Forgery {
            case: "unknown-kid",
            token: identity.sign_with_kid(&valid, "no-such-key"),
            reason: None,
        },
        Forgery {
            case: "no-subject",
            token: identity.sign(&without("sub")),
            reason: Some("`sub`"),
        },
        Forgery {
            case: "no-issuer",
            token: identity.sign(&without("iss")),
            reason: Some("`iss`"),
        },
        // The right key, but an algorithm the host was not configured to accept (RS256 only).
        Forgery {
            case: "rs384-with-the-right-key",
            token: identity.sign_as(&valid, Algorithm::RS384, Some(KID)),
            reason: Some("rs384"),
        },
        Forgery {
            case: "rs512-with-the-right-key",
            token: identity.sign_as(&valid, Algorithm::RS512, Some(KID)),
            reason: Some("rs512"),
        },
        Forgery {
            case: "ps256-with-the-right-key",
            token: identity.sign_as(&valid, Algorithm::PS256, Some(KID)),
            reason: Some("ps256"),
        },
    ];
    for forgery in &forgeries {
        expect_refusal(&host, forgery).await?;
    }
    assert_guest_never_ran(&host, &scenario.client(&host)).await?;
    kidless_token_among_several_keys(scenario).await
}

/// A token without `kid` names no key: with one key published the host may use it, but with
/// several it must not pick one.
async fn kidless_token_among_several_keys(scenario: &Scenario<'_>) -> Result<()> {
    let identity = &scenario.stack.identity;
    let other = Identity::generate("e2e-key-2")?;
    let jwks_server = JwksServer::start(jwks(&[identity, &other])).await?;
    let mut spec = scenario.spec(Guest::Hostile);
    spec.auth = args(&[
        "--jwks-url",
        &jwks_server.jwks_url(),
        "--jwt-issuer",
        &scenario.stack.issuer(),
    ]);
    let host = scenario.start(spec).await?;
    let forgery = Forgery {
        case: "no-kid-among-several-keys",
        token: identity.sign_as(&scenario.claims(&host), Algorithm::RS256, None),
        reason: Some("kid"),
    };
    expect_refusal(&host, &forgery).await?;
    assert_guest_never_ran(&host, &scenario.client(&host)).await
}

/// Sends `forgery` as `rejected-<case>` and checks the 401: challenge, OAuth error, a reason,
/// and no echo of the token.
async fn expect_refusal(host: &HostProcess, forgery: &Forgery) -> Result<()> {
    let metadata = format!(
        "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
        host.base_url()
    );
    let client = McpClient::new(&host.mcp_url(), Some(forgery.token.clone()));
    let reply = client
        .send(&format!("rejected-{}", forgery.case), json!({}))
        .await?;
    let case = forgery.case;
    ensure!(
        reply.status == 401,
        "{case}: HTTP {} {}",
        reply.status,
        reply.text()
    );
    let challenge = reply
        .header("www-authenticate")
        .unwrap_or_default()
        .to_string();
    ensure!(
        challenge.starts_with("Bearer "),
        "{case}: challenge {challenge:?}"
    );
    ensure!(
        challenge.contains("error=\"invalid_token\""),
        "{case}: challenge {challenge:?}"
    );
    ensure!(
        challenge.contains(&metadata),
        "{case}: challenge {challenge:?} lacks {metadata}"
    );
    let body = reply.json()?;
    ensure!(body["error"] == "invalid_token", "{case}: body {body}");
    let description = body["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    ensure!(
        !description.is_empty(),
        "{case}: no error_description in {body}"
    );
    if let Some(reason) = forgery.reason {
        ensure!(
            description.contains(reason),
            "{case}: error_description {description:?} does not say {reason:?}"
        );
    }
    assert_token_not_echoed(case, &forgery.token, &reply)
}

/// `--jwt-algorithms` replaces the default: a host allowing only RS384 takes an RS384 token
/// and refuses the RS256 one, both signed with the same key.
pub async fn configured_algorithms_are_the_accepted_ones(scenario: &Scenario<'_>) -> Result<()> {
    let identity = &scenario.stack.identity;
    let key_file = tempfile::NamedTempFile::new()?;
    std::fs::write(key_file.path(), identity.public_key_pem())?;
    let key_path = key_file.path().to_string_lossy().into_owned();
    let mut spec = scenario.spec(Guest::Hostile);
    spec.auth = args(&[
        "--jwt-public-key",
        &key_path,
        "--jwt-issuer",
        &scenario.stack.issuer(),
        "--jwt-algorithms",
        "RS384",
    ]);
    let host = scenario.start(spec).await?;
    let claims = scenario.claims(&host);
    let accepted = McpClient::new(
        &host.mcp_url(),
        Some(identity.sign_as(&claims, Algorithm::RS384, Some(KID))),
    );
    accepted.request("whoami", json!({})).await?;
    let forgery = Forgery {
        case: "rs256-where-only-rs384-is-allowed",
        token: identity.sign(&claims),
        reason: Some("rs256"),
    };
    expect_refusal(&host, &forgery).await?;
    assert_guest_never_ran(&host, &accepted).await
}

/// `--jwt-leeway-secs 60`: `exp` and `nbf` each 30 s on the wrong side are tolerated, 120 s
/// are not — margins wide enough that a slow request cannot cross them.
pub async fn leeway_applies_to_exp_and_nbf(scenario: &Scenario<'_>) -> Result<()> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.auth.extend(args(&["--jwt-leeway-secs", "60"]));
    let host = scenario.start(spec).await?;
    let identity = &scenario.stack.identity;
    let now = now_secs();
    let token_with = |claim: &str, at: u64| {
        let mut claims = scenario.claims(&host);
        claims[claim] = json!(at);
        identity.sign(&claims)
    };
    for (claim, at) in [("exp", now - 30), ("nbf", now + 30)] {
        let within = McpClient::new(&host.mcp_url(), Some(token_with(claim, at)));
        within.request("whoami", json!({})).await.with_context(|| {
            format!(
                "{claim} {}s from now, inside the leeway",
                at as i64 - now as i64
            )
        })?;
    }
    for (case, reason, claim, at) in [
        ("expired-beyond-leeway", "expired", "exp", now - 120),
        (
            "not-yet-valid-beyond-leeway",
            "not valid yet",
            "nbf",
            now + 120,
        ),
    ] {
        let forgery = Forgery {
            case,
            token: token_with(claim, at),
            reason: Some(reason),
        };
        expect_refusal(&host, &forgery).await?;
    }
    assert_guest_never_ran(&host, &scenario.client(&host)).await
}

pub async fn explicit_audience_and_public_url(scenario: &Scenario<'_>) -> Result<()> {
    let public_url = "https://mcp.example.test";
    let audience = "api://quilt-mcp-e2e";
    let mut spec = scenario.spec(Guest::Hostile);
    spec.extra = args(&["--public-url", public_url, "--jwt-audience", audience]);
    let host = scenario.start(spec).await?;
    let identity = &scenario.stack.identity;
    let token_for = |aud: Value| {
        let mut claims = scenario.claims(&host);
        claims["aud"] = aud;
        identity.sign(&claims)
    };

    let accepted = McpClient::new(&host.mcp_url(), Some(token_for(json!(audience))));
    accepted.request("whoami", json!({})).await?;
    let among_others = McpClient::new(
        &host.mcp_url(),
        Some(token_for(json!([
            "https://elsewhere.example.test",
            audience
        ]))),
    );
    among_others.request("whoami", json!({})).await?;

    // With an explicit audience, the resource URL is no longer an accepted audience.
    let resource_audience = McpClient::new(
        &host.mcp_url(),
        Some(token_for(json!(format!("{public_url}/mcp")))),
    );
    let reply = resource_audience
        .send("rejected-resource-audience", json!({}))
        .await?;
    ensure!(
        reply.status == 401,
        "resource URL as audience: HTTP {} {}",
        reply.status,
        reply.text()
    );
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    let metadata =
        format!("resource_metadata=\"{public_url}/.well-known/oauth-protected-resource/mcp\"");
    ensure!(
        challenge.contains(&metadata),
        "challenge {challenge:?} lacks {metadata}"
    );

    let document: Value = reqwest::get(format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        host.base_url()
    ))
    .await?
    .json()
    .await?;
    ensure!(
        document["resource"] == format!("{public_url}/mcp").as_str(),
        "metadata {document}"
    );
    assert_guest_never_ran(&host, &accepted).await
}

/// `--jwt-public-key`: a PEM public key instead of a JWKS; the PEM itself as an HS256
/// secret (algorithm confusion) must still be refused.
pub async fn public_key_pem_source(scenario: &Scenario<'_>) -> Result<()> {
    let identity = &scenario.stack.identity;
    let key_file = tempfile::NamedTempFile::new()?;
    std::fs::write(key_file.path(), identity.public_key_pem())?;
    let mut spec = scenario.spec(Guest::Hostile);
    let key_path = key_file.path().to_string_lossy().into_owned();
    spec.auth = args(&[
        "--jwt-public-key",
        &key_path,
        "--jwt-issuer",
        &scenario.stack.issuer(),
    ]);
    let host = scenario.start(spec).await?;
    let claims = scenario.claims(&host);

    McpClient::new(&host.mcp_url(), Some(identity.sign(&claims)))
        .request("whoami", json!({}))
        .await?;
    let confused = hs256_token(identity.public_key_pem().as_bytes(), KID, &claims);
    let reply = McpClient::new(&host.mcp_url(), Some(confused))
        .send("rejected-confused", json!({}))
        .await?;
    ensure!(
        reply.status == 401,
        "HS256 keyed with the PEM: HTTP {} {}",
        reply.status,
        reply.text()
    );
    let impostor = Identity::generate(KID)?;
    let reply = McpClient::new(&host.mcp_url(), Some(impostor.sign(&claims)))
        .send("rejected-impostor", json!({}))
        .await?;
    ensure!(
        reply.status == 401,
        "another RSA key: HTTP {} {}",
        reply.status,
        reply.text()
    );
    assert_guest_never_ran(&host, &scenario.client(&host)).await
}

/// `--jwt-hs256-secret`: tokens with that secret pass; another secret, or an RS256
/// token (an algorithm the configuration does not allow), does not.
pub async fn hs256_secret_source(scenario: &Scenario<'_>) -> Result<()> {
    let secret = "an-hs256-secret-of-at-least-32-bytes!";
    let mut spec = scenario.spec(Guest::Hostile);
    spec.auth = args(&[
        "--jwt-hs256-secret",
        secret,
        "--jwt-issuer",
        &scenario.stack.issuer(),
    ]);
    let host = scenario.start(spec).await?;
    let claims = scenario.claims(&host);
    let accepted = McpClient::new(
        &host.mcp_url(),
        Some(hs256_token(secret.as_bytes(), KID, &claims)),
    );
    accepted.request("whoami", json!({})).await?;

    for (case, token) in [
        (
            "other-secret",
            hs256_token(b"another-secret-of-at-least-32-bytes!!", KID, &claims),
        ),
        ("rs256", scenario.stack.identity.sign(&claims)),
    ] {
        let reply = McpClient::new(&host.mcp_url(), Some(token))
            .send(&format!("rejected-{case}"), json!({}))
            .await?;
        ensure!(
            reply.status == 401,
            "{case}: HTTP {} {}",
            reply.status,
            reply.text()
        );
    }
    ensure!(
        !host.log().text().contains(secret),
        "the HS256 secret appears in the log"
    );
    assert_guest_never_ran(&host, &accepted).await
}

/// `--no-auth`: the development switch serves without tokens, with no caller, and
/// says so in the log.
pub async fn no_auth_mode_runs_anonymously(scenario: &Scenario<'_>) -> Result<()> {
    let mut spec = scenario.spec(Guest::Hostile);
    spec.auth = args(&["--no-auth"]);
    let host = scenario.start(spec).await?;
    let result = McpClient::new(&host.mcp_url(), None)
        .request("whoami", json!({}))
        .await?;
    ensure!(result["caller"].is_null(), "caller without auth: {result}");
    let warned = host
        .log()
        .text()
        .lines()
        .any(|line| line.contains("WARN") && line.contains("--no-auth"));
    ensure!(warned, "--no-auth is not logged as a warning");
    Ok(())
}

/// Keys rotate: a token with a new `kid` makes the host refetch the JWKS, but forged
/// `kid`s cannot make it hammer the identity provider (refetches are rate-limited). Each half
/// runs on its own host whose refetch interval leaves no window to race: never within the
/// test for the forgeries, always for the rotation.
pub async fn rotated_key_is_fetched_on_unknown_kid(scenario: &Scenario<'_>) -> Result<()> {
    let first = Identity::generate("rotation-1")?;
    let second = Identity::generate("rotation-2")?;
    let jwks_server = JwksServer::start(jwks(&[&first])).await?;
    let rate_limited = scenario
        .host_trusting(&jwks_server, &["--jwks-min-refetch-secs", "3600"])
        .await?;
    let mut claims = scenario.claims(&rate_limited);
    claims["iss"] = json!(jwks_server.origin());
    McpClient::new(&rate_limited.mcp_url(), Some(first.sign(&claims)))
        .request("whoami", json!({}))
        .await?;
    let fetches_before_forgeries = jwks_server.hits();
    for attempt in 0..10 {
        let forged = McpClient::new(
            &rate_limited.mcp_url(),
            Some(first.sign_with_kid(&claims, &format!("forged-{attempt}"))),
        );
        let reply = forged.send("rejected-forged-kid", json!({})).await?;
        ensure!(reply.status == 401, "forged kid: HTTP {}", reply.status);
    }
    let refetches = jwks_server.hits() - fetches_before_forgeries;
    ensure!(
        refetches <= 1,
        "10 forged kids caused {refetches} JWKS fetches"
    );

    let rotating = scenario
        .host_trusting(&jwks_server, &["--jwks-min-refetch-secs", "0"])
        .await?;
    let mut claims = scenario.claims(&rotating);
    claims["iss"] = json!(jwks_server.origin());
    McpClient::new(&rotating.mcp_url(), Some(first.sign(&claims)))
        .request("whoami", json!({}))
        .await?;
    jwks_server.publish(jwks(&[&first, &second]));
    McpClient::new(&rotating.mcp_url(), Some(second.sign(&claims)))
        .request("whoami", json!({}))
        .await
        .context("a key added to the JWKS was not fetched for its first token")?;
    Ok(())
}

pub async fn tokens_never_appear_in_logs(scenario: &Scenario<'_>) -> Result<()> {
    let host = scenario.host(Guest::Hostile).await?;
    let valid = scenario.token(&host);
    let mut expired_claims = scenario.claims(&host);
    expired_claims["exp"] = json!(now_secs() - 3600);
    let expired = scenario.stack.identity.sign(&expired_claims);
    for token in [&valid, &expired] {
        McpClient::new(&host.mcp_url(), Some(token.clone()))
            .send("whoami", json!({}))
            .await?;
    }
    // The request log line of the last request proves the log has caught up.
    McpClient::new(&host.mcp_url(), Some(valid.clone()))
        .request("log-marker", json!({}))
        .await?;
    host.wait_for_log("hostile-guest handling log-marker")
        .await?;
    let log = host.log().text();
    for token in [&valid, &expired] {
        let signature = token.rsplit('.').next().unwrap_or_default();
        ensure!(
            !log.contains(signature),
            "a token signature appears in the host log"
        );
    }
    Ok(())
}

fn assert_token_not_echoed(case: &str, token: &str, reply: &Reply) -> Result<()> {
    let echoed = |text: &str| token.len() > 8 && text.contains(token);
    ensure!(
        !echoed(&reply.text()),
        "{case}: the token is echoed in the body"
    );
    ensure!(
        !echoed(reply.header("www-authenticate").unwrap_or_default()),
        "{case}: the token is echoed in the challenge"
    );
    Ok(())
}
