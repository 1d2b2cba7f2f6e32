//! The local OpenID provider (`tests/idp/local-idp.mjs`: panva's oidc-provider, pinned by the
//! Makefile) as the tests and the dev stack use it: a person signs in through its login form,
//! a confidential client exchanges the code with PKCE S256, and every token verifies against the
//! IdP's JWKS. Wrong passwords and requests without PKCE are refused.

use anyhow::{Context, Result, bail, ensure};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use quilt_mcp_tests::local_idp::{IdpClient, IdpUser, LocalIdp, LocalIdpConfig, Pkce, sign_in};
use serde_json::Value;
use url::Url;

use crate::support::Scenario;

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    authorization_code_with_pkce_and_refresh,
    wrong_password_is_refused,
    request_without_pkce_is_refused,
];

const CLIENT_ID: &str = "quilt-mcp-e2e";
const CLIENT_SECRET: &str = "e2e-client-secret";
/// Never fetched: the trials read the code from the redirect to it.
const REDIRECT_URI: &str = "http://127.0.0.1:9/oauth/callback";
const AUDIENCE: &str = "https://quilt-mcp.example/mcp";
const LOGIN: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";
const SUB: &str = "00u-alice-1";
const EMAIL: &str = "alice@example.com";
const NAME: &str = "Alice Example";
const SCOPE: &str = "openid email profile offline_access";

fn config() -> LocalIdpConfig {
    LocalIdpConfig {
        port: 0,
        issuer_host: None,
        clients: vec![IdpClient {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            redirect_uris: vec![REDIRECT_URI.into()],
        }],
        users: vec![IdpUser {
            login: LOGIN.into(),
            password: PASSWORD.into(),
            sub: SUB.into(),
            email: EMAIL.into(),
            name: NAME.into(),
            groups: Some(vec!["data-eng".into(), "quilt-users".into()]),
        }],
        access_token_audience: AUDIENCE.into(),
        ttl: None,
        jwks: None,
    }
}

/// The authorization request a confidential client sends, with `pkce` unless `None`.
fn authorize_url(idp: &LocalIdp, pkce: Option<&Pkce>, state: &str, nonce: &str) -> Result<Url> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT_URI),
        ("scope", SCOPE),
        ("state", state),
        ("nonce", nonce),
    ];
    if let Some(pkce) = pkce {
        params.push(("code_challenge", &pkce.challenge));
        params.push(("code_challenge_method", "S256"));
    }
    idp.authorize_url(&params)
}

/// The query parameter `name` of `url`.
fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Status and JSON body of a token endpoint request.
async fn token_request(request: reqwest::RequestBuilder) -> Result<(u16, Value)> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body = response.text().await?;
    let json = serde_json::from_str(&body).with_context(|| format!("{status}: {body}"))?;
    Ok((status, json))
}

/// `token`'s claims, after checking its RS256 signature against `keys` (by `kid`), its issuer,
/// audience and expiry.
fn verified(token: &str, keys: &JwkSet, issuer: &str, audience: &str) -> Result<Value> {
    let header = jsonwebtoken::decode_header(token)?;
    ensure!(
        header.alg == Algorithm::RS256,
        "signed with {:?}",
        header.alg
    );
    let kid = header.kid.context("no kid in the token's header")?;
    let jwk = keys
        .find(&kid)
        .with_context(|| format!("kid {kid} not in the JWKS"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk)?, &validation)?;
    Ok(data.claims)
}

/// Runs `trial` against a fresh IdP, adding the IdP's log to its error.
async fn with_idp<T>(trial: T) -> Result<()>
where
    T: AsyncFnOnce(&LocalIdp) -> Result<()>,
{
    let idp = LocalIdp::start(&config()).await?;
    trial(&idp)
        .await
        .map_err(|error| error.context(format!("the IdP's log:\n{}", idp.log())))
}

pub async fn authorization_code_with_pkce_and_refresh(_scenario: &Scenario<'_>) -> Result<()> {
    with_idp(async |idp: &LocalIdp| {
        let issuer = idp.issuer();
        ensure!(
            issuer.starts_with("http://127.0.0.1:") && !issuer.ends_with('/'),
            "issuer {issuer}"
        );
        let pkce = Pkce::s256();
        let (state, nonce) = ("state-4f1c", "nonce-9a7e");
        let authorize = authorize_url(idp, Some(&pkce), state, nonce)?;
        let redirect = sign_in(authorize.as_str(), LOGIN, PASSWORD).await?;
        ensure!(
            redirect.as_str().starts_with(REDIRECT_URI),
            "redirected to {redirect}"
        );
        ensure!(
            param(&redirect, "state").as_deref() == Some(state),
            "{redirect}"
        );
        // RFC 9207: the IdP names itself in the response.
        ensure!(
            param(&redirect, "iss") == Some(issuer.clone()),
            "{redirect}"
        );
        let code = param(&redirect, "code").with_context(|| format!("no code: {redirect}"))?;

        let http = reqwest::Client::new();
        let token_endpoint = idp.endpoint("token_endpoint");
        let (status, tokens) = token_request(
            http.post(&token_endpoint)
                .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", &pkce.verifier),
                ]),
        )
        .await?;
        ensure!(
            status == 200,
            "the code exchange answered {status}: {tokens}"
        );
        let keys: JwkSet = reqwest::get(idp.jwks_url()).await?.json().await?;

        let id_token = tokens["id_token"].as_str().context("no id_token")?;
        let id_claims = verified(id_token, &keys, &issuer, CLIENT_ID)?;
        for (claim, expected) in [
            ("sub", SUB),
            ("email", EMAIL),
            ("name", NAME),
            ("nonce", nonce),
        ] {
            ensure!(
                id_claims[claim] == expected,
                "ID token {claim}: {id_claims}"
            );
        }
        ensure!(
            id_claims["groups"] == serde_json::json!(["data-eng", "quilt-users"]),
            "ID token groups: {id_claims}"
        );

        let access_token = tokens["access_token"].as_str().context("no access_token")?;
        let header = jsonwebtoken::decode_header(access_token)?;
        ensure!(
            header.typ.as_deref() == Some("at+jwt"),
            "access token header {header:?}"
        );
        let access_claims = verified(access_token, &keys, &issuer, AUDIENCE)?;
        ensure!(
            access_claims["sub"] == SUB && access_claims["client_id"] == CLIENT_ID,
            "access token: {access_claims}"
        );
        let refresh_token = tokens["refresh_token"]
            .as_str()
            .context("no refresh_token")?;

        // The refresh, this time with client_secret_post: a new access token for the same audience.
        let (status, refreshed) = token_request(http.post(&token_endpoint).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ]))
        .await?;
        ensure!(status == 200, "the refresh answered {status}: {refreshed}");
        let new_access = refreshed["access_token"]
            .as_str()
            .context("no access_token")?;
        ensure!(
            new_access != access_token,
            "the refresh returned the same access token"
        );
        let new_claims = verified(new_access, &keys, &issuer, AUDIENCE)?;
        ensure!(
            new_claims["sub"] == SUB,
            "refreshed access token: {new_claims}"
        );
        let refresh_token = refreshed["refresh_token"]
            .as_str()
            .unwrap_or(refresh_token)
            .to_owned();

        // Revoked, the refresh token refreshes no more.
        let revoked = http
            .post(idp.endpoint("revocation_endpoint"))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("token", refresh_token.as_str()),
                ("token_type_hint", "refresh_token"),
            ])
            .send()
            .await?;
        ensure!(
            revoked.status() == 200,
            "revocation answered {}",
            revoked.status()
        );
        let (status, refused) = token_request(
            http.post(&token_endpoint)
                .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh_token),
                ]),
        )
        .await?;
        ensure!(
            status == 400 && refused["error"] == "invalid_grant",
            "a revoked refresh token got {status}: {refused}"
        );
        Ok(())
    })
    .await
}

pub async fn wrong_password_is_refused(_scenario: &Scenario<'_>) -> Result<()> {
    with_idp(async |idp: &LocalIdp| {
        let pkce = Pkce::s256();
        let authorize = authorize_url(idp, Some(&pkce), "state-1", "nonce-1")?;
        match sign_in(authorize.as_str(), LOGIN, "not the password").await {
            Ok(redirect) => bail!("a wrong password was let through to {redirect}"),
            Err(error) => ensure!(
                format!("{error:#}").contains("wrong login or password"),
                "unexpected error: {error:#}"
            ),
        }
        ensure!(
            sign_in(authorize.as_str(), "mallory", PASSWORD)
                .await
                .is_err(),
            "an unknown login with someone's password was let through"
        );

        // What the form shows back: the login escaped, the password nowhere.
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let first = http.get(authorize.clone()).send().await?;
        let location = first
            .headers()
            .get(reqwest::header::LOCATION)
            .context("no redirect to the login form")?
            .to_str()?;
        let form_url = authorize.join(location)?;
        let hostile_login = r#"<script>alert(1)</script>"'&"#;
        let secret = "p<w>\"d-secret-7731";
        let page = http
            .post(form_url.join(&format!("{}/login", form_url.path()))?)
            .form(&[("login", hostile_login), ("password", secret)])
            .send()
            .await?;
        ensure!(
            page.status() == 200,
            "a refused login answered {}",
            page.status()
        );
        let body = page.text().await?;
        ensure!(
            !body.contains("<script>") && !body.contains(secret) && !body.contains("d-secret"),
            "the form echoed the input unescaped or the password: {body}"
        );
        ensure!(
            body.contains("&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#39;&#38;"),
            "the form did not show the login back escaped: {body}"
        );
        Ok(())
    })
    .await
}

pub async fn request_without_pkce_is_refused(_scenario: &Scenario<'_>) -> Result<()> {
    with_idp(async |idp: &LocalIdp| {
        // Refused before any login form: the error goes back to the client's redirect URI.
        let authorize = authorize_url(idp, None, "state-2", "nonce-2")?;
        let redirect = sign_in(authorize.as_str(), LOGIN, PASSWORD).await?;
        ensure!(
            redirect.as_str().starts_with(REDIRECT_URI)
                && param(&redirect, "error").as_deref() == Some("invalid_request")
                && param(&redirect, "code").is_none(),
            "a request without PKCE got {redirect}"
        );
        ensure!(
            param(&redirect, "error_description").is_some_and(|text| text.contains("PKCE")),
            "{redirect}"
        );

        // The plain method is refused too: S256 only.
        let mut plain = authorize_url(idp, None, "state-3", "nonce-3")?;
        plain
            .query_pairs_mut()
            .append_pair(
                "code_challenge",
                "a-plain-challenge-that-is-long-enough-to-be-valid-1234",
            )
            .append_pair("code_challenge_method", "plain");
        let redirect = sign_in(plain.as_str(), LOGIN, PASSWORD).await?;
        ensure!(
            param(&redirect, "error").as_deref() == Some("invalid_request")
                && param(&redirect, "code").is_none(),
            "a plain PKCE challenge got {redirect}"
        );

        // A code issued with PKCE is worthless without its verifier.
        let pkce = Pkce::s256();
        let authorize = authorize_url(idp, Some(&pkce), "state-4", "nonce-4")?;
        let redirect = sign_in(authorize.as_str(), LOGIN, PASSWORD).await?;
        let code = param(&redirect, "code").with_context(|| format!("no code: {redirect}"))?;
        let (status, refused) = token_request(
            reqwest::Client::new()
                .post(idp.endpoint("token_endpoint"))
                .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", &Pkce::s256().verifier),
                ]),
        )
        .await?;
        ensure!(
            status == 400 && refused["error"] == "invalid_grant",
            "a code with the wrong verifier got {status}: {refused}"
        );
        Ok(())
    })
    .await
}
