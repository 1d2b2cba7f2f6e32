//! `--credentials registry`: each caller's own validated token is exchanged at the Quilt
//! registry (`GET /api/auth/get_credentials`, the call `quilt3` makes) for the temporary keys of
//! that user's Quilt role, so every request acts with what the catalog grants that person.
//!
//! Wrap this source in [`super::CachedCredentials`]: on its own it would call the registry once
//! per request.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Iso8601;
use url::Url;

use super::{AwsCredentials, CredentialError, CredentialSource, RegistryToken, token_holder};
use crate::access::SessionPolicy;
use crate::auth::Caller;

/// A user waits on this exchange: fail fast rather than hold the request to its deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct QuiltExchange {
    client: reqwest::Client,
    /// The registry as configured, for messages.
    registry: String,
    endpoint: Url,
    timeout: Duration,
    /// What each caller presents to the registry.
    registry_token: Arc<RegistryToken>,
}

/// The registry's answer: boto3's credential fields, the expiry as ISO 8601 text.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Issued {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    expiration: String,
}

impl QuiltExchange {
    pub fn new(
        registry: &Url,
        registry_token: Arc<RegistryToken>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let registry = registry.as_str().trim_end_matches('/').to_owned();
        // Appended rather than joined, as quilt3 does: a registry may live under a path.
        let endpoint = Url::parse(&format!("{registry}/api/auth/get_credentials"))?;
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            // The request carries the caller's token: it goes to the configured registry or nowhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            registry_token,
            registry,
            endpoint,
            timeout,
        })
    }

    async fn exchange(&self, token: &str) -> Result<AwsCredentials, CredentialError> {
        let registry = &self.registry;
        let response = self
            .client
            .get(self.endpoint.clone())
            .bearer_auth(token)
            .send()
            .await
            .map_err(|error| self.unreachable(&error))?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => {
                return Err(CredentialError::Denied(format!(
                    "the Quilt registry at {registry} refused your sign-in token (401); sign in again \
                     and retry with the new token"
                )));
            }
            StatusCode::FORBIDDEN => {
                return Err(CredentialError::Denied(format!(
                    "the Quilt registry at {registry} grants your account no AWS access (403); ask a \
                     Quilt administrator to give your account a role"
                )));
            }
            status => {
                return Err(CredentialError::Unavailable(format!(
                    "the Quilt registry at {registry} answered HTTP {status} instead of credentials; \
                     try again later, or ask the operator to check --registry-url"
                )));
            }
        }
        let body = response
            .bytes()
            .await
            .map_err(|error| self.unreachable(&error))?;
        let issued: Issued = serde_json::from_slice(&body).map_err(|error| {
            CredentialError::Unavailable(format!(
                "the Quilt registry at {registry} answered with something other than AWS credentials \
                 ({error}); ask the operator to check that --registry-url names the registry, not the \
                 web catalog"
            ))
        })?;
        let expiration = OffsetDateTime::parse(&issued.expiration, &Iso8601::PARSING).map_err(|_| {
            CredentialError::Unavailable(format!(
                "the Quilt registry at {registry} gave credentials whose Expiration {:?} is not an \
                 ISO 8601 time with an offset; ask the operator to check the registry",
                issued.expiration
            ))
        })?;
        Ok(AwsCredentials {
            access_key_id: issued.access_key_id,
            secret_access_key: issued.secret_access_key,
            session_token: issued.session_token,
            expiration: u64::try_from(expiration.unix_timestamp()).ok(),
        })
    }

    fn unreachable(&self, error: &reqwest::Error) -> CredentialError {
        let registry = &self.registry;
        if error.is_timeout() {
            return CredentialError::Unavailable(format!(
                "the Quilt registry at {registry} did not answer within {:?}, so no AWS credentials \
                 can be issued; try again later",
                self.timeout
            ));
        }
        // reqwest's own message is generic; the innermost cause says what went wrong.
        let mut cause: &dyn std::error::Error = error;
        while let Some(source) = cause.source() {
            cause = source;
        }
        CredentialError::Unavailable(format!(
            "the Quilt registry at {registry} is unreachable ({cause}), so no AWS credentials can be \
             issued; try again later or ask the operator to check --registry-url"
        ))
    }
}

#[async_trait::async_trait]
impl CredentialSource for QuiltExchange {
    fn name(&self) -> &'static str {
        "registry"
    }

    async fn credentials(
        &self,
        caller: Option<&Caller>,
        _: &SessionPolicy,
    ) -> Result<AwsCredentials, CredentialError> {
        let caller = token_holder(caller, self.name())?;
        let subject = &caller.subject;
        let Some(token) = self.registry_token.for_caller(caller).await? else {
            return Err(CredentialError::NotConfigured(
                "the identity provider gave no access token for the registry at sign-in; \
                 its operator sets --oauth-upstream-resource or the provider's audience for it"
                    .into(),
            ));
        };
        let outcome = self.exchange(&token).await;
        match &outcome {
            Ok(keys) => {
                tracing::info!(target: "quilt_mcp::credentials", subject, expiration = keys.expiration, "registry issued credentials");
            }
            Err(error) => {
                tracing::warn!(target: "quilt_mcp::credentials", subject, %error, "registry credentials exchange failed");
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use serde_json::Map;
    use tokio::net::TcpListener;

    use std::time::Duration;
    use url::Url;

    use super::QuiltExchange;
    use crate::access::SessionPolicy;
    use crate::auth::Caller;
    use crate::auth::VerifiedToken;
    use crate::credentials::{AwsCredentials, CredentialError, CredentialSource, RegistryToken};

    const TOKEN: &str = "header.payload.signature";
    const ISSUED: &str = r#"{"AccessKeyId": "ASIAREGISTRY", "SecretAccessKey": "secret",
        "SessionToken": "session", "Expiration": "2030-01-01T00:00:00.123456+00:00"}"#;

    /// A registry answering every request with `status` and `body`; records the
    /// `Authorization` headers it was sent.
    async fn registry(status: u16, body: &'static str) -> (Url, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let recorded = recorded.clone();
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let authorization = request.headers().get("authorization");
                    let authorization = authorization.map(|v| v.to_str().unwrap().to_owned());
                    recorded.lock().unwrap().push(format!(
                        "{} {}",
                        request.uri().path(),
                        authorization.unwrap_or_default()
                    ));
                    let response = hyper::Response::builder()
                        .status(status)
                        .header("location", "http://127.0.0.1:9/elsewhere")
                        .body(Full::new(Bytes::from_static(body.as_bytes())))
                        .unwrap();
                    async move { Ok::<_, Infallible>(response) }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        (url, seen)
    }

    fn caller() -> Caller {
        Caller {
            subject: "alice".into(),
            issuer: "https://issuer.example".into(),
            claims: Vec::new(),
            token: VerifiedToken::new(TOKEN, Map::new()),
            upstream: None,
        }
    }

    async fn exchange_at(url: &Url) -> Result<AwsCredentials, CredentialError> {
        let source =
            QuiltExchange::new(url, RegistryToken::callers_own(), Duration::from_secs(2)).unwrap();
        source
            .credentials(Some(&caller()), &SessionPolicy::unrestricted())
            .await
    }

    #[tokio::test]
    async fn sends_the_callers_token_and_reads_the_keys() {
        let (url, seen) = registry(200, ISSUED).await;
        let keys = exchange_at(&url).await.unwrap();
        assert_eq!(keys.access_key_id, "ASIAREGISTRY");
        assert_eq!(keys.secret_access_key, "secret");
        assert_eq!(keys.session_token.as_deref(), Some("session"));
        assert_eq!(keys.expiration, Some(1_893_456_000), "2030-01-01T00:00:00Z");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen, [format!("/api/auth/get_credentials Bearer {TOKEN}")]);
    }

    #[tokio::test]
    async fn refusals_and_failures_name_the_registry_and_what_to_do() {
        // (status, body, whether it is the caller's refusal rather than an outage, telling text)
        let cases = [
            (401, ISSUED, true, "sign in again"),
            (403, ISSUED, true, "no AWS access (403)"),
            (500, "oops", false, "HTTP 500"),
            (302, "", false, "HTTP 302"),
            (200, "<html>catalog</html>", false, "not the web catalog"),
        ];
        for (status, body, denied, expected_text) in cases {
            let (url, _) = registry(status, body).await;
            let error = exchange_at(&url).await.err().unwrap();
            let message = error.to_string();
            let kind_matches = match error {
                CredentialError::Denied(_) => denied,
                CredentialError::Unavailable(_) => !denied,
                CredentialError::NotConfigured(_) => false,
            };
            assert!(kind_matches, "{status}: {error:?}");
            assert!(message.contains(expected_text), "{status}: {message}");
            assert!(
                message.contains(url.as_str().trim_end_matches('/')),
                "{status}: {message}"
            );
        }
    }

    #[tokio::test]
    async fn an_expiration_without_offset_is_refused() {
        let (url, _) = registry(
            200,
            r#"{"AccessKeyId": "A", "SecretAccessKey": "S",
            "SessionToken": "T", "Expiration": "2030-01-01T00:00:00"}"#,
        )
        .await;
        let error = exchange_at(&url).await.err().unwrap();
        assert!(
            matches!(error, CredentialError::Unavailable(_)),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("not an ISO 8601 time"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_registry_is_unavailable() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        drop(listener);
        let error = exchange_at(&url).await.err().unwrap();
        assert!(
            matches!(error, CredentialError::Unavailable(_)),
            "{error:?}"
        );
        assert!(error.to_string().contains("is unreachable ("), "{error}");
    }

    #[tokio::test]
    async fn a_silent_registry_times_out() {
        // Accepts connections (the backlog does) but never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let source = QuiltExchange::new(
            &url,
            RegistryToken::callers_own(),
            Duration::from_millis(300),
        )
        .unwrap();
        let error = source
            .credentials(Some(&caller()), &SessionPolicy::unrestricted())
            .await
            .err()
            .unwrap();
        assert!(
            error.to_string().contains("did not answer within"),
            "{error}"
        );
        drop(listener);
    }

    #[tokio::test]
    async fn no_caller_means_not_configured() {
        let (url, seen) = registry(200, ISSUED).await;
        let source =
            QuiltExchange::new(&url, RegistryToken::callers_own(), Duration::from_secs(2)).unwrap();
        let error = source
            .credentials(None, &SessionPolicy::unrestricted())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(error, CredentialError::NotConfigured(_)),
            "{error:?}"
        );
        assert!(seen.lock().unwrap().is_empty());
    }
}
