//! Signing in through the host's sign-in bridge (`--oauth-upstream-issuer`) with the local
//! OpenID provider as the organization's IdP: a person signs in, the client gets the bridge's
//! tokens, and the tools act with what the IdP issued — the ID token at STS, the access token
//! at the registry — never with the bridge's own token. Every attack on the flow is refused
//! with the OAuth error it deserves, and nothing is issued.
//!
//! Each trial starts the IdP, a SeaweedFS whose STS trusts it (Alice reads ALPHA, Bob BETA),
//! the registry stand-in trusting it, and the hosts (replicas share one public URL).

use anyhow::{Context, Result, ensure};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use quilt_mcp_tests::bridge_sign_in::{
    self, Browser, OAuthClient, authorize_url, code_of, redeem, register, token,
};
use quilt_mcp_tests::host_process::{HostLaunch, HostProcess};
use quilt_mcp_tests::jwks_server::JwksServer;
use quilt_mcp_tests::local_idp::{IdpClient, IdpUser, LocalIdp, LocalIdpConfig, Pkce};
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::ports::free_port;
use quilt_mcp_tests::registry::{RegistryStandin, grant, standin_config};
use quilt_mcp_tests::sts::{BucketReader, WebIdentityTrust, allow_writes};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{OwnSeaweed, Scenario, args};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    a_person_signs_in_and_acts_as_themselves,
    any_replica_serves_any_step,
    a_refresh_after_the_access_token_expires,
    codes_and_tokens_are_bound_and_sealed,
    authorize_refuses_without_redirecting_anywhere_else,
    metadata_documents_sign_in_and_ssrf_is_refused,
    without_the_bridge_the_registry_gets_an_exchanged_token,
    web_identity_assumes_the_role_with_the_upstream_id_token,
];

/// The bridge's client at the IdP. Its ID tokens carry it as `aud`, and the IdP issues its
/// access tokens for the same audience, so STS and the registry stand-in trust both kinds —
/// one audience for the organization's services, as a small deployment might choose.
pub const CLIENT_ID: &str = "quilt-mcp-bridge";
pub const ALICE: (&str, &str, &str) = ("alice", "alice-password", "alice@example.com");
pub const BOB: (&str, &str, &str) = ("bob", "bob-password", "bob@example.com");
pub const ALPHA: &str = "signin-alpha";
pub const BETA: &str = "signin-beta";
/// Where the test client wants its code (nothing listens: the test reads the redirect).
pub const CLIENT_REDIRECT: &str = "http://127.0.0.1:9/callback";

/// The IdP, STS, the registry stand-in and the bridge's settings, for this module's trials and
/// the other sign-in modules' (clients, browser, hostile upstream).
pub struct Bridged {
    pub idp: LocalIdp,
    pub registry: RegistryStandin,
    pub seaweed: OwnSeaweed,
    pub secret: String,
    pub key: String,
    /// Replica ports; the first is the public URL's.
    pub ports: Vec<u16>,
}

impl Bridged {
    pub async fn start(scenario: &Scenario<'_>, replicas: usize) -> Result<Self> {
        Self::start_with(scenario, replicas, false).await
    }

    /// With `writable`, each user's role may also write and delete in their bucket.
    pub async fn start_with(
        scenario: &Scenario<'_>,
        replicas: usize,
        writable: bool,
    ) -> Result<Self> {
        let ports: Vec<u16> = (0..replicas).map(|_| free_port()).collect();
        // Never starting with `-` (URL-safe base64 may), which the host would read as a flag.
        let secret = format!("s{}", URL_SAFE_NO_PAD.encode(rand_bytes()));
        let user = |(login, password, sub): (&str, &str, &str)| IdpUser {
            login: login.into(),
            password: password.into(),
            sub: sub.into(),
            email: sub.into(),
            name: login.into(),
            groups: None,
        };
        let idp = LocalIdp::start(&LocalIdpConfig {
            port: 0,
            issuer_host: None,
            clients: vec![IdpClient {
                client_id: CLIENT_ID.into(),
                client_secret: secret.clone(),
                redirect_uris: vec![format!("http://127.0.0.1:{}/oauth/callback", ports[0])],
            }],
            users: vec![user(ALICE), user(BOB)],
            access_token_audience: CLIENT_ID.into(),
            ttl: None,
            jwks: None,
        })
        .await?;
        let readers = vec![
            BucketReader {
                role_name: "ReaderA".into(),
                subject: ALICE.2.into(),
                bucket: ALPHA.into(),
            },
            BucketReader {
                role_name: "ReaderB".into(),
                subject: BOB.2.into(),
                bucket: BETA.into(),
            },
        ];
        let grants = readers.iter().map(grant).collect();
        let trust = WebIdentityTrust {
            issuer: idp.issuer(),
            audience: CLIENT_ID.into(),
            jwks_url: idp.jwks_url(),
            readers,
        };
        let mut iam = trust.iam_config();
        for reader in trust.readers.iter().filter(|_| writable) {
            allow_writes(&mut iam, reader);
        }
        let seaweed = scenario.own_seaweed(&iam).await?;
        let admin = seaweed.admin();
        for bucket in [ALPHA, BETA] {
            admin.create_bucket(bucket).await?;
            admin
                .put_object(bucket, "hello.txt", format!("only for readers of {bucket}"))
                .send()
                .await?;
        }
        let config = standin_config(&seaweed, &idp.jwks_url(), &idp.issuer(), CLIENT_ID, grants)?;
        let registry = RegistryStandin::start(config).await?;
        Ok(Self {
            idp,
            registry,
            seaweed,
            secret,
            key: STANDARD.encode(rand_bytes()),
            ports,
        })
    }

    pub fn public_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports[0])
    }

    pub fn resource(&self) -> String {
        format!("{}/mcp", self.public_url())
    }

    /// Replica `index`, its AWS credentials from the registry, with `extra` flags.
    pub async fn host(
        &self,
        scenario: &Scenario<'_>,
        index: usize,
        extra: &[&str],
    ) -> Result<HostProcess> {
        let registry = self
            .registry
            .url()
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let credentials = ["--credentials", "registry", "--registry-url", &registry];
        self.host_with(scenario, index, &credentials, extra).await
    }

    /// Replica `index` with `credentials` flags and `extra` ones.
    pub async fn host_with(
        &self,
        scenario: &Scenario<'_>,
        index: usize,
        credentials: &[&str],
        extra: &[&str],
    ) -> Result<HostProcess> {
        let stack = scenario.stack;
        let s3 = self
            .seaweed
            .s3_endpoint
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let mut flags = args(&[
            "--s3-endpoint",
            &s3,
            "--public-url",
            &self.public_url(),
            "--oauth-upstream-issuer",
            &self.idp.issuer(),
            "--oauth-upstream-client-id",
            CLIENT_ID,
            "--oauth-upstream-client-secret",
            &self.secret,
            "--oauth-key",
            &self.key,
            "--oauth-allow-loopback-clients",
        ]);
        flags.extend(args(credentials));
        flags.extend(args(extra));
        let home = tempfile::tempdir()?;
        let env = [("HOME".to_owned(), home.path().display().to_string())];
        let listen = format!("127.0.0.1:{}", self.ports[index]);
        HostProcess::start(HostLaunch {
            host_bin: &stack.artifacts.host_bin,
            guest: &stack.artifacts.guest,
            listen: &listen,
            args: &flags,
            env: &env,
            echo_logs: false,
        })
        .await
    }

    pub async fn sign_in(&self, client: &OAuthClient, who: (&str, &str, &str)) -> Result<Value> {
        bridge_sign_in::sign_in(&self.public_url(), &self.resource(), client, who.0, who.1).await
    }

    /// Every token the registry stand-in received was issued by the IdP, none by the bridge.
    pub fn registry_saw_only_idp_tokens(&self, bridge_tokens: &[&str]) -> Result<()> {
        let seen = self.registry.authorizations();
        ensure!(!seen.is_empty(), "the registry was never called");
        for header in &seen {
            let token = header.strip_prefix("Bearer ").context("not a bearer")?;
            ensure!(
                !bridge_tokens.contains(&token),
                "the bridge's own token reached the registry"
            );
            let issuer = claims_of(token)?["iss"].clone();
            ensure!(
                issuer == json!(self.idp.issuer()),
                "a token of {issuer} reached the registry"
            );
        }
        Ok(())
    }
}

fn rand_bytes() -> [u8; 32] {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

/// A JWT's claims, unverified (the test only reads what it holds).
pub fn claims_of(jwt: &str) -> Result<Value> {
    let payload = jwt.split('.').nth(1).context("not a JWT")?;
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?)
}

pub fn access_token(answer: &Value) -> Result<String> {
    Ok(answer["access_token"]
        .as_str()
        .context("no access_token")?
        .to_owned())
}

pub async fn list(client: &McpClient, bucket: &str) -> Result<Result<Value, String>> {
    let outcome = client
        .call_tool("bucket_objects_list", json!({"bucket": bucket}))
        .await?;
    Ok(if outcome.is_error {
        Err(outcome.text)
    } else {
        Ok(outcome.structured)
    })
}

pub async fn a_person_signs_in_and_acts_as_themselves(scenario: &Scenario<'_>) -> Result<()> {
    let bridged = Bridged::start(scenario, 1).await?;
    let host = bridged.host(scenario, 0, &[]).await?;
    let client = register(&bridged.public_url(), CLIENT_REDIRECT, "Test Client").await?;

    let answer = bridged.sign_in(&client, ALICE).await?;
    let alice_token = access_token(&answer)?;
    let claims = claims_of(&alice_token)?;
    ensure!(
        claims["sub"] == ALICE.2 && claims["aud"] == json!(bridged.resource()),
        "{claims}"
    );
    ensure!(claims["iss"] == json!(bridged.public_url()), "{claims}");
    ensure!(
        answer["token_type"] == "Bearer" && answer["refresh_token"].is_string(),
        "{answer}"
    );
    ensure!(
        !alice_token.contains(&bridged.secret),
        "the upstream client secret leaked"
    );

    let alice = McpClient::new(&host.mcp_url(), Some(alice_token.clone()));
    let tools = alice.request("tools/list", json!({})).await?;
    ensure!(
        tools["tools"]
            .as_array()
            .is_some_and(|tools| !tools.is_empty()),
        "{tools}"
    );
    ensure!(
        list(&alice, ALPHA).await?.is_ok(),
        "Alice cannot list her own bucket"
    );
    ensure!(
        list(&alice, BETA).await?.is_err(),
        "Alice listed Bob's bucket"
    );
    let found = alice
        .call_tool("search_catalog", json!({"query": "hello"}))
        .await?
        .success()?;
    let buckets: Vec<&str> = found["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|hit| hit["bucket"].as_str())
        .collect();
    ensure!(
        !buckets.is_empty() && buckets.iter().all(|b| *b == ALPHA),
        "Alice's search found {buckets:?}"
    );

    let bob_token = access_token(&bridged.sign_in(&client, BOB).await?)?;
    let bob = McpClient::new(&host.mcp_url(), Some(bob_token.clone()));
    ensure!(
        list(&bob, BETA).await?.is_ok(),
        "Bob cannot list his own bucket"
    );
    ensure!(
        list(&bob, ALPHA).await?.is_err(),
        "Bob listed Alice's bucket"
    );

    bridged.registry_saw_only_idp_tokens(&[&alice_token, &bob_token])?;
    // STS took the IdP's ID token: the bridge's token (issued by the bridge, for the MCP
    // resource) is one SeaweedFS's OIDC provider would refuse, so the listings above prove it.
    let log = host.log().text();
    ensure!(!log.contains(&alice_token), "the access token was logged");
    Ok(())
}

pub async fn any_replica_serves_any_step(scenario: &Scenario<'_>) -> Result<()> {
    let bridged = Bridged::start(scenario, 3).await?;
    let a = bridged.host(scenario, 0, &[]).await?;
    let b = bridged.host(scenario, 1, &[]).await?;
    let c = bridged.host(scenario, 2, &[]).await?;
    // Registered at C, consent shown by A, approved at B, callback at B, token at C, call at A.
    let client = register(c.base_url(), CLIENT_REDIRECT, "Replicated").await?;
    let pkce = Pkce::s256();
    let browser = Browser::new()?;
    let consent = browser
        .open_consent(&authorize_url(
            a.base_url(),
            &client,
            &pkce,
            &bridged.resource(),
            &[],
        ))
        .await?;
    let request = consent.request.context("no consent form")?;
    let upstream = browser.approve(b.base_url(), &request).await?;
    let callback = quilt_mcp_tests::local_idp::sign_in(&upstream, ALICE.0, ALICE.1).await?;
    let redirect = browser.finish(&callback, b.base_url()).await?;
    let code = code_of(&redirect)?;
    let (status, answer) = redeem(c.base_url(), &client, &code, &pkce.verifier).await?;
    ensure!(status == StatusCode::OK, "{status}: {answer}");
    let alice = McpClient::new(&a.mcp_url(), Some(access_token(&answer)?));
    ensure!(
        list(&alice, ALPHA).await?.is_ok(),
        "replica A refused C's token"
    );
    Ok(())
}

pub async fn a_refresh_after_the_access_token_expires(scenario: &Scenario<'_>) -> Result<()> {
    let bridged = Bridged::start(scenario, 1).await?;
    let host = bridged
        .host(
            scenario,
            0,
            &["--oauth-access-token-secs", "5", "--jwt-leeway-secs", "0"],
        )
        .await?;
    let base = bridged.public_url();
    let client = register(&base, CLIENT_REDIRECT, "Refresher").await?;
    let answer = bridged.sign_in(&client, ALICE).await?;
    ensure!(
        answer["expires_in"].as_u64().is_some_and(|secs| secs <= 5),
        "{answer}"
    );
    let first = access_token(&answer)?;
    let refresh_token = answer["refresh_token"]
        .as_str()
        .context("no refresh token")?;
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let expired = McpClient::new(&host.mcp_url(), Some(first.clone()))
        .send("tools/list", json!({}))
        .await?;
    ensure!(
        expired.status == 401,
        "an expired access token got {}",
        expired.status
    );

    let other = register(&base, CLIENT_REDIRECT, "Thief").await?;
    let (status, refused) = token(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &other.client_id),
        ],
    )
    .await?;
    ensure!(
        status == StatusCode::BAD_REQUEST && refused["error"] == "invalid_grant",
        "another client refreshed: {refused}"
    );

    let (status, refreshed) = token(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &client.client_id),
        ],
    )
    .await?;
    ensure!(status == StatusCode::OK, "{status}: {refreshed}");
    let second = access_token(&refreshed)?;
    ensure!(
        second != first,
        "the refresh returned the same access token"
    );
    ensure!(
        refreshed["refresh_token"]
            .as_str()
            .is_some_and(|new| new != refresh_token),
        "the refresh token was not rotated: {refreshed}"
    );
    let alice = McpClient::new(&host.mcp_url(), Some(second));
    ensure!(
        list(&alice, ALPHA).await?.is_ok(),
        "the refreshed token does not reach S3"
    );
    Ok(())
}

pub async fn codes_and_tokens_are_bound_and_sealed(scenario: &Scenario<'_>) -> Result<()> {
    let bridged = Bridged::start(scenario, 1).await?;
    let host = bridged.host(scenario, 0, &[]).await?;
    let base = bridged.public_url();
    let client = register(&base, CLIENT_REDIRECT, "Honest").await?;
    let other = register(&base, CLIENT_REDIRECT, "Other").await?;
    // One code, tried every wrong way before the right one.
    let pkce = Pkce::s256();
    let browser = Browser::new()?;
    let consent = browser
        .open_consent(&authorize_url(
            &base,
            &client,
            &pkce,
            &bridged.resource(),
            &[],
        ))
        .await?;
    let upstream = browser
        .approve(&base, &consent.request.context("no form")?)
        .await?;
    let callback = quilt_mcp_tests::local_idp::sign_in(&upstream, ALICE.0, ALICE.1).await?;
    let redirect = browser.finish(&callback, &base).await?;
    ensure!(
        redirect.as_str().starts_with(CLIENT_REDIRECT),
        "redirected to {redirect}"
    );
    let pairs: Vec<(String, String)> = redirect.query_pairs().into_owned().collect();
    ensure!(
        pairs.contains(&("state".into(), "client-state-123".into())),
        "{pairs:?}"
    );
    ensure!(pairs.contains(&("iss".into(), base.clone())), "{pairs:?}");
    let code = code_of(&redirect)?;

    let refused = |answer: &Value, code: &str| answer["error"] == code;
    let wrong_verifier = Pkce::s256().verifier;
    for (label, form, error) in [
        (
            "another client",
            vec![
                ("client_id", other.client_id.as_str()),
                ("code_verifier", pkce.verifier.as_str()),
            ],
            "invalid_grant",
        ),
        (
            "a wrong verifier",
            vec![
                ("client_id", client.client_id.as_str()),
                ("code_verifier", wrong_verifier.as_str()),
            ],
            "invalid_grant",
        ),
        (
            "the challenge as a plain verifier",
            vec![
                ("client_id", client.client_id.as_str()),
                ("code_verifier", pkce.challenge.as_str()),
            ],
            "invalid_grant",
        ),
        (
            "no verifier",
            vec![("client_id", client.client_id.as_str())],
            "invalid_request",
        ),
    ] {
        let mut full = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CLIENT_REDIRECT),
        ];
        full.extend(form);
        let (status, answer) = token(&base, &full).await?;
        ensure!(
            status == StatusCode::BAD_REQUEST && refused(&answer, error),
            "{label}: {status} {answer}"
        );
        ensure!(
            answer.get("access_token").is_none(),
            "{label}: a token was issued"
        );
    }
    let mut tampered = URL_SAFE_NO_PAD.decode(&code)?;
    let middle = tampered.len() / 2;
    tampered[middle] ^= 1;
    let tampered = URL_SAFE_NO_PAD.encode(tampered);
    let (status, answer) = redeem(&base, &client, &tampered, &pkce.verifier).await?;
    ensure!(
        status == StatusCode::BAD_REQUEST && refused(&answer, "invalid_grant"),
        "tampered code: {answer}"
    );
    let elsewhere = OAuthClient {
        redirect_uri: "http://127.0.0.1:9/elsewhere".into(),
        ..client.clone()
    };
    let (_, answer) = redeem(&base, &elsewhere, &code, &pkce.verifier).await?;
    ensure!(
        refused(&answer, "invalid_grant"),
        "another redirect_uri: {answer}"
    );

    let (status, answer) = redeem(&base, &client, &code, &pkce.verifier).await?;
    ensure!(status == StatusCode::OK, "{status}: {answer}");
    let access = access_token(&answer)?;
    let refresh = answer["refresh_token"]
        .as_str()
        .context("no refresh token")?;

    // A token altered anywhere, or issued for another resource, is refused by the host.
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    let mut claims = claims_of(&access)?;
    claims["sub"] = json!(BOB.2);
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = parts.join(".");
    let reply = McpClient::new(&host.mcp_url(), Some(forged))
        .send("tools/list", json!({}))
        .await?;
    ensure!(reply.status == 401, "a forged token got {}", reply.status);
    let mut refresh_bytes = URL_SAFE_NO_PAD.decode(refresh)?;
    refresh_bytes[40] ^= 1;
    let (status, answer) = token(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &URL_SAFE_NO_PAD.encode(refresh_bytes)),
            ("client_id", &client.client_id),
        ],
    )
    .await?;
    ensure!(
        status == StatusCode::BAD_REQUEST && refused(&answer, "invalid_grant"),
        "tampered refresh token: {answer}"
    );
    // A token the IdP issued (for the registry) is not one for this server.
    let idp_token = bridged.registry.authorizations();
    ensure!(
        idp_token.is_empty(),
        "the registry was called before any tool ran"
    );
    Ok(())
}

pub async fn authorize_refuses_without_redirecting_anywhere_else(
    scenario: &Scenario<'_>,
) -> Result<()> {
    let bridged = Bridged::start(scenario, 1).await?;
    let _host = bridged.host(scenario, 0, &[]).await?;
    let base = bridged.public_url();
    let resource = bridged.resource();
    let client = register(&base, CLIENT_REDIRECT, "Honest").await?;
    let pkce = Pkce::s256();
    let browser = Browser::new()?;
    // No trustworthy redirect URI: an error page, and no Location at all.
    let unknown = OAuthClient {
        client_id: "qmc1.forged".into(),
        ..client.clone()
    };
    for (label, url) in [
        (
            "an unregistered redirect",
            authorize_url(
                &base,
                &client,
                &pkce,
                &resource,
                &[("redirect_uri", "https://evil.example/cb")],
            ),
        ),
        (
            "a look-alike redirect",
            authorize_url(
                &base,
                &client,
                &pkce,
                &resource,
                &[("redirect_uri", "http://127.0.0.1:9/callback/../evil")],
            ),
        ),
        (
            "no redirect",
            authorize_url(&base, &client, &pkce, &resource, &[("redirect_uri", "")]),
        ),
        (
            "a forged client id",
            authorize_url(&base, &unknown, &pkce, &resource, &[]),
        ),
        (
            "no client id",
            authorize_url(&base, &client, &pkce, &resource, &[("client_id", "")]),
        ),
    ] {
        let page = browser.open_consent(&url).await?;
        ensure!(
            page.status == StatusCode::BAD_REQUEST && page.location.is_none(),
            "{label}: {} {:?}",
            page.status,
            page.location
        );
        ensure!(page.request.is_none(), "{label}: a consent form was shown");
    }
    // Anyone can register a redirect URI, so before the person has seen the consent page no
    // refusal is redirected, even to the client's own (RFC 9700 §4.11.2): a page names it.
    for (label, extra, error) in [
        (
            "no PKCE",
            vec![("code_challenge", ""), ("code_challenge_method", "")],
            "invalid_request",
        ),
        (
            "plain PKCE",
            vec![("code_challenge_method", "plain")],
            "invalid_request",
        ),
        (
            "another resource",
            vec![("resource", "https://other.example/mcp")],
            "invalid_target",
        ),
        (
            "an unknown scope",
            vec![("scope", "admin")],
            "invalid_scope",
        ),
        (
            "an implicit grant",
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
    ] {
        let page = browser
            .open_consent(&authorize_url(&base, &client, &pkce, &resource, &extra))
            .await?;
        ensure!(
            page.status == StatusCode::BAD_REQUEST
                && page.location.is_none()
                && page.request.is_none(),
            "{label}: {} {:?}",
            page.status,
            page.location
        );
        ensure!(
            page.html.contains(error),
            "{label}: the page does not name {error}: {}",
            page.html
        );
    }
    // A state that looks like a URL is carried back as data, never followed.
    let evil_state = "https://evil.example/?next=https://evil.example";
    let page = browser
        .open_consent(&authorize_url(
            &base,
            &client,
            &pkce,
            &resource,
            &[("state", evil_state)],
        ))
        .await?;
    let request = page.request.context("no consent form")?;
    let (_, location) = browser.decide(&base, &request, "deny").await?;
    let location = location.context("deny sent no redirect")?;
    ensure!(
        location.starts_with(&format!("{CLIENT_REDIRECT}?")),
        "state steered the redirect: {location}"
    );
    let url = url::Url::parse(&location)?;
    ensure!(
        url.query_pairs()
            .any(|(k, v)| k == "state" && v == evil_state),
        "{location}"
    );
    // The consent form cannot be posted from another site, even with the right cookie.
    let page = browser
        .open_consent(&authorize_url(&base, &client, &pkce, &resource, &[]))
        .await?;
    let request = page.request.context("no consent form")?;
    let (status, location) = browser
        .decide_from(&base, &request, "approve", "https://evil.example")
        .await?;
    ensure!(
        status == StatusCode::BAD_REQUEST && location.is_none(),
        "a form posted from another site: {status} {location:?}"
    );
    // The consent form only works in the browser that saw it (no cross-site submission).
    let page = browser
        .open_consent(&authorize_url(&base, &client, &pkce, &resource, &[]))
        .await?;
    let request = page.request.context("no consent form")?;
    let (status, location) = Browser::new()?.decide(&base, &request, "approve").await?;
    ensure!(
        status == StatusCode::BAD_REQUEST && location.is_none(),
        "a form posted from another browser: {status} {location:?}"
    );
    // Deny goes back to the client with access_denied.
    let (status, location) = browser.decide(&base, &request, "deny").await?;
    let location = location.with_context(|| format!("deny answered {status}"))?;
    ensure!(
        location.starts_with(CLIENT_REDIRECT) && location.contains("error=access_denied"),
        "{location}"
    );
    // A wrong password at the IdP issues nothing.
    let upstream = browser.approve(&base, &request).await?;
    let wrong = quilt_mcp_tests::local_idp::sign_in(&upstream, ALICE.0, "not-her-password").await;
    ensure!(wrong.is_err(), "a wrong password signed in");
    Ok(())
}

pub async fn metadata_documents_sign_in_and_ssrf_is_refused(scenario: &Scenario<'_>) -> Result<()> {
    let bridged = Bridged::start(scenario, 2).await?;
    let development = bridged.host(scenario, 0, &[]).await?;
    let base = bridged.public_url();
    // The metadata names this server as the authorization server, with its scopes.
    let http = reqwest::Client::new();
    let resource: Value = http
        .get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        resource["authorization_servers"] == json!([base]),
        "{resource}"
    );
    ensure!(
        resource["scopes_supported"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{resource}"
    );
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let metadata: Value = http
            .get(format!("{base}{path}"))
            .send()
            .await?
            .json()
            .await?;
        ensure!(metadata["issuer"] == json!(base), "{path}: {metadata}");
        ensure!(
            metadata["code_challenge_methods_supported"] == json!(["S256"]),
            "{path}: {metadata}"
        );
        ensure!(
            metadata["client_id_metadata_document_supported"] == true,
            "{path}: {metadata}"
        );
    }
    let jwks: Value = http
        .get(format!("{base}/oauth/jwks"))
        .send()
        .await?
        .json()
        .await?;
    ensure!(jwks["keys"][0]["kty"] == "OKP", "{jwks}");

    // A client named by its metadata document, served from loopback (allowed in development).
    let documents = JwksServer::start(json!({})).await?;
    let client_id = documents.jwks_url();
    documents.publish(
        json!({"client_id": client_id, "client_name": "Document Client",
        "redirect_uris": [CLIENT_REDIRECT], "token_endpoint_auth_method": "none"}),
    );
    let client = OAuthClient {
        client_id: client_id.clone(),
        redirect_uri: CLIENT_REDIRECT.into(),
    };
    let answer = bridged.sign_in(&client, ALICE).await?;
    let alice = McpClient::new(&development.mcp_url(), Some(access_token(&answer)?));
    ensure!(
        list(&alice, ALPHA).await?.is_ok(),
        "the document client's token does not work"
    );
    drop(development);

    // Without the development flag: loopback, private and metadata addresses are refused
    // before anything is fetched.
    let strict = strict_host(scenario, &bridged).await?;
    let fetched_before = documents.hits();
    let pkce = Pkce::s256();
    let browser = Browser::new()?;
    for (label, id) in [
        ("loopback", client_id.as_str()),
        ("a private address", "https://10.0.0.1/client.json"),
        (
            "the metadata address",
            "https://169.254.169.254/latest/meta-data/client.json",
        ),
        (
            "a mapped metadata address",
            "https://[::ffff:169.254.169.254]/client.json",
        ),
        ("plain http", "http://client.example/client.json"),
    ] {
        let target = OAuthClient {
            client_id: id.into(),
            redirect_uri: CLIENT_REDIRECT.into(),
        };
        let page = browser
            .open_consent(&authorize_url(
                strict.base_url(),
                &target,
                &pkce,
                &bridged.resource(),
                &[],
            ))
            .await?;
        ensure!(
            page.status == StatusCode::BAD_REQUEST
                && page.location.is_none()
                && page.request.is_none(),
            "{label}: {} {:?}",
            page.status,
            page.location
        );
    }
    ensure!(
        documents.hits() == fetched_before,
        "a refused document was fetched"
    );
    Ok(())
}

/// A replica without `--oauth-allow-loopback-clients`.
async fn strict_host(scenario: &Scenario<'_>, bridged: &Bridged) -> Result<HostProcess> {
    let stack = scenario.stack;
    let flags = args(&[
        "--public-url",
        &bridged.public_url(),
        "--oauth-upstream-issuer",
        &bridged.idp.issuer(),
        "--oauth-upstream-client-id",
        CLIENT_ID,
        "--oauth-upstream-client-secret",
        &bridged.secret,
        "--oauth-key",
        &bridged.key,
    ]);
    HostProcess::start(HostLaunch {
        host_bin: &stack.artifacts.host_bin,
        guest: &stack.artifacts.guest,
        listen: &format!("127.0.0.1:{}", bridged.ports[1]),
        args: &flags,
        env: &[],
        echo_logs: false,
    })
    .await
}

/// The external-authorization-server mode with `--registry-token-exchange-url`: the caller's
/// token (issued by the IdP for this server) stays here; the registry gets one the IdP issued
/// for the registry's audience in exchange (RFC 8693), once per token.
pub async fn without_the_bridge_the_registry_gets_an_exchanged_token(
    scenario: &Scenario<'_>,
) -> Result<()> {
    const REGISTRY_AUDIENCE: &str = "quilt-registry";
    const MCP_CLIENT: (&str, &str, &str) = ("an-mcp-client", "its-secret", CLIENT_REDIRECT);
    let port = free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let secret = URL_SAFE_NO_PAD.encode(rand_bytes());
    let user = |(login, password, sub): (&str, &str, &str)| IdpUser {
        login: login.into(),
        password: password.into(),
        sub: sub.into(),
        email: sub.into(),
        name: login.into(),
        groups: None,
    };
    let config = LocalIdpConfig {
        port: 0,
        issuer_host: None,
        clients: vec![
            IdpClient {
                client_id: MCP_CLIENT.0.into(),
                client_secret: MCP_CLIENT.1.into(),
                redirect_uris: vec![MCP_CLIENT.2.into()],
            },
            IdpClient {
                client_id: CLIENT_ID.into(),
                client_secret: secret.clone(),
                redirect_uris: vec![CLIENT_REDIRECT.into()],
            },
        ],
        users: vec![user(ALICE), user(BOB)],
        access_token_audience: resource.clone(),
        ttl: None,
        jwks: None,
    };
    let idp = LocalIdp::start_exchanging(&config, &[REGISTRY_AUDIENCE]).await?;
    let readers = vec![
        BucketReader {
            role_name: "ReaderA".into(),
            subject: ALICE.2.into(),
            bucket: ALPHA.into(),
        },
        BucketReader {
            role_name: "ReaderB".into(),
            subject: BOB.2.into(),
            bucket: BETA.into(),
        },
    ];
    let grants = readers.iter().map(grant).collect();
    let trust = WebIdentityTrust {
        issuer: idp.issuer(),
        audience: REGISTRY_AUDIENCE.into(),
        jwks_url: idp.jwks_url(),
        readers,
    };
    let seaweed = scenario.own_seaweed(&trust.iam_config()).await?;
    for bucket in [ALPHA, BETA] {
        seaweed.admin().create_bucket(bucket).await?;
    }
    let standin = standin_config(
        &seaweed,
        &idp.jwks_url(),
        &idp.issuer(),
        REGISTRY_AUDIENCE,
        grants,
    )?;
    let registry = RegistryStandin::start(standin).await?;
    let registry_url = registry.url().as_str().trim_end_matches('/').to_owned();
    let s3 = seaweed
        .s3_endpoint
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let flags = args(&[
        "--s3-endpoint",
        &s3,
        "--jwks-url",
        &idp.jwks_url(),
        "--jwt-issuer",
        &idp.issuer(),
        "--credentials",
        "registry",
        "--registry-url",
        &registry_url,
        "--registry-token-exchange-url",
        &idp.endpoint("token_endpoint"),
        "--registry-token-exchange-client-id",
        CLIENT_ID,
        "--registry-token-exchange-client-secret",
        &secret,
        "--registry-token-exchange-audience",
        REGISTRY_AUDIENCE,
    ]);
    let stack = scenario.stack;
    let host = HostProcess::start(HostLaunch {
        host_bin: &stack.artifacts.host_bin,
        guest: &stack.artifacts.guest,
        listen: &format!("127.0.0.1:{port}"),
        args: &flags,
        env: &[],
        echo_logs: false,
    })
    .await?;
    let alice_token = access_token(&idp.tokens_for(MCP_CLIENT, ALICE.0, ALICE.1).await?)?;
    ensure!(
        claims_of(&alice_token)?["aud"] == json!(resource),
        "the IdP's token is not for this server"
    );
    let alice = McpClient::new(&host.mcp_url(), Some(alice_token.clone()));
    ensure!(
        list(&alice, ALPHA).await?.is_ok(),
        "Alice cannot list her bucket"
    );
    ensure!(
        list(&alice, BETA).await?.is_err(),
        "Alice listed Bob's bucket"
    );
    alice.call_tool("bucket_list", json!({})).await?.success()?;
    let seen = registry.authorizations();
    ensure!(!seen.is_empty(), "the registry was never called");
    for header in &seen {
        let token = header.strip_prefix("Bearer ").context("not a bearer")?;
        ensure!(
            token != alice_token,
            "the caller's own token reached the registry"
        );
        ensure!(
            claims_of(token)?["aud"] == REGISTRY_AUDIENCE,
            "a token not for the registry reached it"
        );
    }
    let exchanged: Vec<&String> = seen
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .into_iter()
        .collect();
    ensure!(
        exchanged.len() == 1,
        "{} different registry tokens for one caller token: not one exchange",
        exchanged.len()
    );
    Ok(())
}

/// `--credentials web-identity` with the bridge: STS gets the upstream ID token (the bridge's
/// own token, issued by the bridge for the MCP resource, is one SeaweedFS's OIDC provider
/// refuses), and the role comes from the ID token's claims carried into the access token.
pub async fn web_identity_assumes_the_role_with_the_upstream_id_token(
    scenario: &Scenario<'_>,
) -> Result<()> {
    let bridged = Bridged::start(scenario, 1).await?;
    let s3 = bridged
        .seaweed
        .s3_endpoint
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let role_map = format!(
        "email={}=arn:aws:iam::role/ReaderA;email={}=arn:aws:iam::role/ReaderB",
        ALICE.2, BOB.2
    );
    let credentials = [
        "--credentials",
        "web-identity",
        "--sts-endpoint",
        &s3,
        "--role-map",
        &role_map,
    ];
    let host = bridged.host_with(scenario, 0, &credentials, &[]).await?;
    let client = register(&bridged.public_url(), CLIENT_REDIRECT, "Web identity").await?;
    let alice = McpClient::new(
        &host.mcp_url(),
        Some(access_token(&bridged.sign_in(&client, ALICE).await?)?),
    );
    ensure!(
        list(&alice, ALPHA).await?.is_ok(),
        "Alice's role does not reach her bucket"
    );
    ensure!(
        list(&alice, BETA).await?.is_err(),
        "Alice's role reached Bob's bucket"
    );
    let bob = McpClient::new(
        &host.mcp_url(),
        Some(access_token(&bridged.sign_in(&client, BOB).await?)?),
    );
    ensure!(
        list(&bob, BETA).await?.is_ok(),
        "Bob's role does not reach his bucket"
    );
    ensure!(
        bridged.registry.authorizations().is_empty(),
        "the registry was called without a registry URL"
    );
    Ok(())
}
