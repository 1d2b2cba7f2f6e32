//! An OAuth client and the person using it, signing in through the host's sign-in bridge over
//! plain HTTP, one step a function, so a test can stop at (or tamper with) any step:
//! [`register`] (DCR) → [`authorize_url`] → [`Browser::open_consent`] → [`Browser::approve`]
//! → the local IdP's login ([`crate::local_idp::sign_in`]) → [`Browser::finish`] → [`token`].
//! [`sign_in`] does them all.

use anyhow::{Context, Result, bail, ensure};
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::local_idp::{self, Pkce};

/// A client and where it wants the code.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub redirect_uri: String,
}

/// RFC 7591 registration at `base` (the host's URL) for `redirect_uri`.
pub async fn register(base: &str, redirect_uri: &str, name: &str) -> Result<OAuthClient> {
    let response = reqwest::Client::new()
        .post(format!("{base}/oauth/register"))
        .json(
            &json!({"redirect_uris": [redirect_uri], "client_name": name,
                      "token_endpoint_auth_method": "none"}),
        )
        .send()
        .await?;
    let status = response.status();
    let answer: Value = response.json().await?;
    ensure!(
        status == StatusCode::CREATED,
        "registration answered {status}: {answer}"
    );
    Ok(OAuthClient {
        client_id: answer["client_id"]
            .as_str()
            .context("no client_id")?
            .to_owned(),
        redirect_uri: redirect_uri.to_owned(),
    })
}

/// `/oauth/authorize` with PKCE S256 for `resource`, and `extra` parameters (which replace
/// the defaults of the same name; an empty value drops one).
pub fn authorize_url(
    base: &str,
    client: &OAuthClient,
    pkce: &Pkce,
    resource: &str,
    extra: &[(&str, &str)],
) -> Url {
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &client.client_id),
        ("redirect_uri", &client.redirect_uri),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
        ("state", "client-state-123"),
        ("resource", resource),
    ];
    for (name, value) in extra {
        params.retain(|(existing, _)| existing != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    let mut url = Url::parse(&format!("{base}/oauth/authorize")).expect("the host's URL");
    url.query_pairs_mut().extend_pairs(params);
    url
}

/// A browser: a cookie jar, redirects not followed (each step looks at them).
pub struct Browser {
    http: reqwest::Client,
}

/// The consent page as the browser got it.
pub struct ConsentPage {
    pub status: StatusCode,
    pub html: String,
    /// The sealed request its form posts back, when it has the form.
    pub request: Option<String>,
    pub location: Option<String>,
}

impl Browser {
    pub fn new() -> Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        })
    }

    pub async fn open_consent(&self, authorize: &Url) -> Result<ConsentPage> {
        let response = self.http.get(authorize.clone()).send().await?;
        let status = response.status();
        let location = location(&response);
        let html = response.text().await?;
        let request = hidden_field(&html, "request");
        Ok(ConsentPage {
            status,
            html,
            request,
            location,
        })
    }

    /// Posts the consent form to `base` with `decision` (sending no `Origin`, as a non-browser
    /// client does); returns where it redirects.
    pub async fn decide(
        &self,
        base: &str,
        request: &str,
        decision: &str,
    ) -> Result<(StatusCode, Option<String>)> {
        self.post_consent(base, &[("request", request), ("decision", decision)], None)
            .await
    }

    /// [`Self::decide`] as posted by a page of `origin` (the `Origin` header a browser sends).
    pub async fn decide_from(
        &self,
        base: &str,
        request: &str,
        decision: &str,
        origin: &str,
    ) -> Result<(StatusCode, Option<String>)> {
        self.post_consent(
            base,
            &[("request", request), ("decision", decision)],
            Some(origin),
        )
        .await
    }

    async fn post_consent(
        &self,
        base: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Result<(StatusCode, Option<String>)> {
        let mut post = self.http.post(format!("{base}/oauth/consent")).form(form);
        if let Some(origin) = origin {
            post = post.header(reqwest::header::ORIGIN, origin);
        }
        let response = post.send().await?;
        Ok((response.status(), location(&response)))
    }

    /// Approves; returns the upstream IdP's authorization URL.
    pub async fn approve(&self, base: &str, request: &str) -> Result<String> {
        let (status, location) = self.decide(base, request, "approve").await?;
        ensure!(status == StatusCode::SEE_OTHER, "consent answered {status}");
        location.context("consent sent no Location")
    }

    /// Follows the IdP's redirect back to the bridge's callback (at `base`, which may be
    /// another replica); returns where the bridge sends the browser (the client's redirect).
    pub async fn finish(&self, callback: &Url, base: &str) -> Result<Url> {
        let mut url = Url::parse(base)?;
        url.set_path(callback.path());
        url.set_query(callback.query());
        let response = self.http.get(url).send().await?;
        let status = response.status();
        let Some(location) = location(&response) else {
            bail!(
                "the callback answered {status} without a redirect: {}",
                response.text().await?
            );
        };
        Ok(Url::parse(&location)?)
    }
}

/// The code (and `state`, `iss`) in a redirect to the client, or its `error`.
pub fn code_of(redirect: &Url) -> Result<String> {
    let param = |name: &str| {
        redirect
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = param("error") {
        bail!(
            "the bridge answered {error}: {}",
            param("error_description").unwrap_or_default()
        );
    }
    param("code").context("no code in the redirect")
}

/// `POST /oauth/token` with `form`; the status and JSON answer.
pub async fn token(base: &str, form: &[(&str, &str)]) -> Result<(StatusCode, Value)> {
    let response = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .form(form)
        .send()
        .await?;
    let status = response.status();
    Ok((status, response.json().await?))
}

/// The code exchanged: `(status, answer)`.
pub async fn redeem(
    base: &str,
    client: &OAuthClient,
    code: &str,
    verifier: &str,
) -> Result<(StatusCode, Value)> {
    token(
        base,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", &client.client_id),
            ("redirect_uri", &client.redirect_uri),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// The whole sign-in of `login` for `client` at `base`: the token endpoint's answer.
pub async fn sign_in(
    base: &str,
    resource: &str,
    client: &OAuthClient,
    login: &str,
    password: &str,
) -> Result<Value> {
    sign_in_with(base, resource, client, (login, password), &[]).await
}

/// [`sign_in`] with `extra` authorization parameters (e.g. a `scope`).
pub async fn sign_in_with(
    base: &str,
    resource: &str,
    client: &OAuthClient,
    (login, password): (&str, &str),
    extra: &[(&str, &str)],
) -> Result<Value> {
    let pkce = Pkce::s256();
    let browser = Browser::new()?;
    let consent = browser
        .open_consent(&authorize_url(base, client, &pkce, resource, extra))
        .await?;
    let request = consent
        .request
        .with_context(|| format!("no consent form ({}): {}", consent.status, consent.html))?;
    let upstream = browser.approve(base, &request).await?;
    let callback = local_idp::sign_in(&upstream, login, password).await?;
    let redirect = browser.finish(&callback, base).await?;
    let code = code_of(&redirect)?;
    let (status, answer) = redeem(base, client, &code, &pkce.verifier).await?;
    ensure!(
        status == StatusCode::OK,
        "the token endpoint answered {status}: {answer}"
    );
    Ok(answer)
}

fn location(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// The value of `<input type="hidden" name="NAME" value="…">` (the bridge's own markup).
fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(
        html[start..end]
            .replace("&amp;", "&")
            .replace("&quot;", "\""),
    )
}
