//! What the sign-in bridge costs: a tool call with a bridge-issued access token (EdDSA, its
//! upstream tokens sealed inside) against the same call with a token the IdP issued for the
//! server directly (RS256 from its JWKS), and the time of a whole sign-in through the bridge
//! and the local OpenID provider (register once; then authorize, consent, IdP login,
//! callback with the upstream code exchange and ID-token check, token).

use anyhow::{Context, Result};
use quilt_mcp_tests::bridge_sign_in;
use quilt_mcp_tests::local_idp::{IdpClient, IdpUser, LocalIdp, LocalIdpConfig};
use quilt_mcp_tests::ports::free_port;
use quilt_mcp_tests::seaweedfs::ADMIN;
use quilt_mcp_tests::stack::Stack;
use serde_json::{Value, json};

use super::{Document, load, report};

const BRIDGE_CLIENT: &str = "bench-bridge";
const DIRECT_CLIENT: &str = "bench-direct";
const SECRET: &str = "bench-client-secret";
const USER: (&str, &str) = ("bench", "bench-password");
const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// Rows of the sign-in table into `doc`; returns the summary line.
pub async fn rows(doc: &mut Document, stack: &Stack, bucket: &str) -> Result<String> {
    let artifacts = &stack.artifacts;
    let (bridge_port, direct_port) = (free_port(), free_port());
    let bridge_url = format!("http://127.0.0.1:{bridge_port}");
    let direct_resource = format!("http://127.0.0.1:{direct_port}/mcp");
    let idp = LocalIdp::start(&LocalIdpConfig {
        port: 0,
        issuer_host: None,
        clients: vec![
            client(BRIDGE_CLIENT, &format!("{bridge_url}/oauth/callback")),
            client(DIRECT_CLIENT, REDIRECT),
        ],
        users: vec![IdpUser {
            login: USER.0.into(),
            password: USER.1.into(),
            sub: "bench-user".into(),
            email: "bench@example.com".into(),
            name: "Bench".into(),
            groups: None,
        }],
        access_token_audience: direct_resource.clone(),
        ttl: None,
        jwks: None,
    })
    .await?;
    let mut common = vec!["--s3-endpoint".to_owned(), stack.s3_endpoint()];
    common.extend(ADMIN.static_source_flags());
    let key = base64_key();
    let mut bridge_flags = common.clone();
    bridge_flags.extend(
        [
            "--oauth-upstream-issuer",
            &idp.issuer(),
            "--oauth-upstream-client-id",
            BRIDGE_CLIENT,
            "--oauth-upstream-client-secret",
            SECRET,
            "--oauth-key",
            &key,
        ]
        .map(String::from),
    );
    let mut direct_flags = common;
    direct_flags
        .extend(["--jwks-url", &idp.jwks_url(), "--jwt-issuer", &idp.issuer()].map(String::from));
    let bridge_listen = format!("127.0.0.1:{bridge_port}");
    let bridge_host = super::start_host_at(artifacts, &bridge_listen, &bridge_flags).await?;
    let direct_listen = format!("127.0.0.1:{direct_port}");
    let direct_host = super::start_host_at(artifacts, &direct_listen, &direct_flags).await?;

    let client = bridge_sign_in::register(&bridge_url, REDIRECT, "bench").await?;
    let resource = format!("{bridge_url}/mcp");
    let signed_in =
        bridge_sign_in::sign_in(&bridge_url, &resource, &client, USER.0, USER.1).await?;
    let bridge_token = signed_in["access_token"]
        .as_str()
        .context("no access token")?
        .to_owned();
    let direct_token = idp_token(&idp).await?;

    let http = reqwest::Client::new();
    let call = |url: String, token: String, body: Value| {
        let request = http
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        async move { super::expect_mcp_success(&super::expect_ok(request.send().await?).await?) }
    };
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "bucket_objects_list", "arguments": {"bucket": bucket, "include_signed_urls": false}}});
    let mut medians = Vec::new();
    for (label, host, token) in [
        (
            "bridge-issued token (EdDSA, sealed upstream tokens)",
            &bridge_host,
            &bridge_token,
        ),
        (
            "IdP-issued token (RS256, JWKS)",
            &direct_host,
            &direct_token,
        ),
    ] {
        let samples = load(1, || call(host.mcp_url(), token.clone(), list.clone())).await;
        medians.push(samples.percentile(0.5));
        report(
            doc,
            &format!("bucket_objects_list with a {label}"),
            1,
            samples,
        );
    }
    let sign_ins = load(1, || async {
        bridge_sign_in::sign_in(&bridge_url, &resource, &client, USER.0, USER.1)
            .await
            .map(|_| ())
    })
    .await;
    let sign_in_median = sign_ins.percentile(0.5);
    report(
        doc,
        "whole sign-in through the bridge and the local IdP",
        1,
        sign_ins,
    );
    let summary = format!(
        "- the bridge on the hot path: p50 {:.2} ms with its token vs {:.2} ms with the IdP's (x{:.2}); a whole sign-in (7 HTTP round trips, 2 at the IdP's login) p50 {:.1} ms",
        super::ms(medians[0]),
        super::ms(medians[1]),
        medians[0].as_secs_f64() / medians[1].as_secs_f64(),
        super::ms(sign_in_median),
    );
    Ok(summary)
}

fn client(client_id: &str, redirect: &str) -> IdpClient {
    IdpClient {
        client_id: client_id.into(),
        client_secret: SECRET.into(),
        redirect_uris: vec![redirect.into()],
    }
}

fn base64_key() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An access token the IdP issues for the direct host, by the code flow as its own client.
async fn idp_token(idp: &LocalIdp) -> Result<String> {
    let answer = idp
        .tokens_for((DIRECT_CLIENT, SECRET, REDIRECT), USER.0, USER.1)
        .await?;
    Ok(answer["access_token"]
        .as_str()
        .context("no access token")?
        .to_owned())
}
