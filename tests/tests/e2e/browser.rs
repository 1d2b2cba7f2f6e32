//! A person signs in for an MCP client with a real browser: Debian's chromium, headless, driven by
//! playwright-core (`tests/clients/browser_sign_in.mjs`, both installed by the Makefile), through
//! the host's sign-in bridge and the local OpenID provider of `sign_in`'s set-up. The browser
//! reads the consent page, clicks 'Allow and sign in', fills the IdP's login form, and its
//! navigation to the client's redirect URI is caught; the client redeems the code and acts as
//! the person. What the consent page shows is what chromium rendered, not what the HTML said.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use quilt_mcp_tests::artifacts::path_from_env;
use quilt_mcp_tests::bridge_sign_in::{authorize_url, code_of, redeem, register};
use quilt_mcp_tests::child::spawn_guarded;
use quilt_mcp_tests::local_idp::Pkce;
use quilt_mcp_tests::mcp::McpClient;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::process::Command;
use url::Url;

use crate::sign_in::{ALICE, ALPHA, BETA, Bridged, CLIENT_REDIRECT, access_token, claims_of, list};
use crate::support::Scenario;

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    a_person_signs_in_with_a_real_browser,
    a_hostile_client_name_is_only_text,
];

/// Chromium's start, a sign-in and its exit, on a loaded machine; the script's own steps time
/// out after 20 s each.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);
/// Markup a client could choose as its name, hoping the consent page renders it.
const HOSTILE_NAME: &str = "<img src=x onerror=alert(1)><script>alert(2)</script>";

/// What the browser saw (the script's one JSON line).
#[derive(Debug, Deserialize)]
struct Seen {
    /// The consent page's visible text.
    consent_text: String,
    client_name: String,
    redirect_host: String,
    /// `<img>` and `<script>` elements in the consent page's DOM.
    consent_images: u64,
    consent_scripts: u64,
    /// Every alert, confirm or prompt a page opened.
    dialogs: Vec<Value>,
    /// Where the browser was finally sent: the client's redirect URI with the code.
    redirect: String,
}

/// Runs the browser from `start` (the bridge's authorize URL) as `who`.
async fn sign_in_with_chromium(start: &Url, who: (&str, &str, &str)) -> Result<Seen> {
    let node = path_from_env("QUILT_MCP_NODE")?;
    let script = crate::support::crate_dir().join("clients/browser_sign_in.mjs");
    let argument = json!({
        "start": start.as_str(),
        "login": who.0,
        "password": who.1,
        "redirect_prefix": CLIENT_REDIRECT,
    });
    let mut command = Command::new(&node);
    command
        .arg(&script)
        .arg(argument.to_string())
        .env(
            "QUILT_MCP_PLAYWRIGHT",
            path_from_env("QUILT_MCP_PLAYWRIGHT")?,
        )
        .env("QUILT_MCP_CHROMIUM", path_from_env("QUILT_MCP_CHROMIUM")?)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child =
        spawn_guarded(&mut command).with_context(|| format!("starting {}", script.display()))?;
    let output = tokio::time::timeout(BROWSER_TIMEOUT, child.wait_with_output())
        .await
        .with_context(|| format!("the browser did not finish within {BROWSER_TIMEOUT:?}"))??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.success(),
        "the browser's sign-in failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    serde_json::from_str(stdout.trim()).with_context(|| {
        format!("the browser printed no result line:\n{stdout}\n--- stderr ---\n{stderr}")
    })
}

/// The code in the browser's final redirect, which must be the client's own redirect URI with
/// the client's state and the bridge as `iss`.
fn code_from(seen: &Seen, issuer: &str) -> Result<String> {
    let redirect = Url::parse(&seen.redirect).context("the browser's redirect")?;
    ensure!(
        redirect
            .as_str()
            .starts_with(&format!("{CLIENT_REDIRECT}?")),
        "the browser was sent to {redirect}"
    );
    let pairs: Vec<(String, String)> = redirect.query_pairs().into_owned().collect();
    ensure!(
        pairs.contains(&("state".into(), "client-state-123".into())),
        "{pairs:?}"
    );
    ensure!(pairs.contains(&("iss".into(), issuer.into())), "{pairs:?}");
    code_of(&redirect)
}

pub async fn a_person_signs_in_with_a_real_browser(scenario: &Scenario<'_>) -> Result<()> {
    let bridged = Bridged::start(scenario, 1).await?;
    let host = bridged.host(scenario, 0, &[]).await?;
    let base = bridged.public_url();
    let name = "Browser Test Client";
    let client = register(&base, CLIENT_REDIRECT, name).await?;
    let pkce = Pkce::s256();
    let seen = sign_in_with_chromium(
        &authorize_url(&base, &client, &pkce, &bridged.resource(), &[]),
        ALICE,
    )
    .await?;

    // The person was told who asks and where they will be sent.
    ensure!(
        seen.client_name == name,
        "the consent page named {:?}",
        seen.client_name
    );
    ensure!(
        seen.redirect_host == "127.0.0.1",
        "the consent page named the host {:?}",
        seen.redirect_host
    );
    ensure!(
        seen.consent_text
            .contains(&format!("Allow {name} to use Quilt as you?")),
        "{}",
        seen.consent_text
    );
    ensure!(
        seen.consent_text.contains(CLIENT_REDIRECT),
        "the redirect URI is not shown: {}",
        seen.consent_text
    );
    ensure!(
        seen.dialogs.is_empty(),
        "a page opened dialogs: {:?}",
        seen.dialogs
    );

    let code = code_from(&seen, &base)?;
    let (status, answer) = redeem(&base, &client, &code, &pkce.verifier).await?;
    ensure!(
        status == StatusCode::OK,
        "the token endpoint answered {status}: {answer}"
    );
    let token = access_token(&answer)?;
    let claims = claims_of(&token)?;
    ensure!(
        claims["sub"] == ALICE.2 && claims["aud"] == json!(bridged.resource()),
        "{claims}"
    );

    let alice = McpClient::new(&host.mcp_url(), Some(token));
    let tools = alice.request("tools/list", json!({})).await?;
    ensure!(
        tools["tools"]
            .as_array()
            .is_some_and(|tools| !tools.is_empty()),
        "{tools}"
    );
    let listing = list(&alice, ALPHA).await?;
    ensure!(
        listing.is_ok(),
        "Alice cannot list her own bucket: {listing:?}"
    );
    ensure!(
        list(&alice, BETA).await?.is_err(),
        "Alice listed Bob's bucket"
    );
    Ok(())
}

/// A client that names itself with markup gets its name shown as text: chromium builds no
/// element from it and runs no script, and the sign-in still works.
pub async fn a_hostile_client_name_is_only_text(scenario: &Scenario<'_>) -> Result<()> {
    let bridged = Bridged::start(scenario, 1).await?;
    let _host = bridged.host(scenario, 0, &[]).await?;
    let base = bridged.public_url();
    let client = register(&base, CLIENT_REDIRECT, HOSTILE_NAME).await?;
    let pkce = Pkce::s256();
    let seen = sign_in_with_chromium(
        &authorize_url(&base, &client, &pkce, &bridged.resource(), &[]),
        ALICE,
    )
    .await?;

    // Every way the name could have been taken for markup, reported together.
    let mut wrong = Vec::new();
    if seen.client_name != HOSTILE_NAME {
        wrong.push(format!("the name rendered as {:?}", seen.client_name));
    }
    if !seen
        .consent_text
        .contains(&format!("Allow {HOSTILE_NAME} to use Quilt as you?"))
    {
        wrong.push(format!(
            "the heading is not the literal name: {:?}",
            seen.consent_text
        ));
    }
    if seen.consent_images != 0 || seen.consent_scripts != 0 {
        wrong.push(format!(
            "the page holds {} <img> and {} <script>",
            seen.consent_images, seen.consent_scripts
        ));
    }
    if !seen.dialogs.is_empty() {
        wrong.push(format!("script ran: {:?}", seen.dialogs));
    }
    ensure!(wrong.is_empty(), "{}", wrong.join("\n"));
    let code = code_from(&seen, &base)?;
    let (status, answer) = redeem(&base, &client, &code, &pkce.verifier).await?;
    ensure!(
        status == StatusCode::OK,
        "the token endpoint answered {status}: {answer}"
    );
    Ok(())
}
