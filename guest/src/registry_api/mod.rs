//! The Quilt registry's API (the web catalog's backend) as this request's caller:
//! search and GraphQL.
//!
//! The host hands over the registry's URL and, when the deployment forwards it, the
//! caller's own bearer token; it lets that token leave the sandbox only toward the
//! registry. Nothing here ever falls back to an anonymous or empty answer: a call that
//! cannot be authorized is an error that says so.

pub mod buckets;
pub mod search;

use std::fmt;

use serde::de::DeserializeOwned;
use url::Url;

use crate::context::Context;
use crate::http::{Client, Method, Request, Response, send_idempotent};

/// Search answers and bucket lists are small; this only stops a broken registry from
/// filling the guest's memory.
const MAX_RESPONSE_BODY: usize = 16 * 1024 * 1024;
/// A registry that closed a pooled connection is asked again; its calls are all reads.
const DEAD_CONNECTION_RETRIES: usize = 2;
/// Enough of an error body to quote the registry's reason.
const MAX_QUOTED_REASON: usize = 300;

/// The registry, addressed as the caller of this request.
pub struct RegistryApi<'a> {
    http: &'a dyn Client,
    base: Url,
    bearer: String,
}

/// Why a registry call failed, worded for the person using the assistant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryError {
    /// The deployment names no registry.
    NoRegistry { wanted: &'static str },
    /// A registry is configured but the caller's token is not forwarded to it.
    TokenWithheld { registry: String },
    /// The configured registry URL is unusable.
    BadRegistryUrl(String),
    /// 401: the registry does not accept the caller's token.
    Unauthenticated { registry: String, reason: String },
    /// 403: the registry knows the caller but refuses this.
    Forbidden { registry: String, reason: String },
    /// Not reachable (including the host refusing the connection).
    Unreachable { registry: String, detail: String },
    /// Any other failure status, or an answer that is not what the API promises.
    Failed { registry: String, detail: String },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRegistry { wanted } => write!(
                f,
                "This server has no Quilt registry configured, so {wanted} cannot run. Ask its operator to \
                 start it with --registry-url (the catalog's API); the S3 and package tools work without it"
            ),
            Self::TokenWithheld { registry } => write!(
                f,
                "Catalog access is not authorized: this server does not forward your sign-in token to the \
                 Quilt registry at {registry} (--registry-forward-token=false), so it cannot act as you \
                 there. Ask its operator to enable token forwarding"
            ),
            Self::BadRegistryUrl(url) => write!(
                f,
                "The registry URL '{url}' configured for this deployment is not an http(s) URL; ask its operator to fix it"
            ),
            Self::Unauthenticated { registry, reason } => write!(
                f,
                "Catalog access is not authorized: the Quilt registry at {registry} did not accept your \
                 sign-in token (401: {reason}). Sign in again; if it persists, the token's audience may not \
                 include the registry"
            ),
            Self::Forbidden { registry, reason } => write!(
                f,
                "Catalog access is not authorized: the Quilt registry at {registry} refused this request \
                 (403: {reason}). Ask a catalog administrator for access"
            ),
            Self::Unreachable { registry, detail } => write!(
                f,
                "The Quilt registry at {registry} could not be reached ({detail}); it may be down. Try again later"
            ),
            Self::Failed { registry, detail } => {
                write!(f, "The Quilt registry at {registry} failed: {detail}")
            }
        }
    }
}

impl<'a> RegistryApi<'a> {
    /// The registry of this deployment, authorized as the caller; `wanted` names the
    /// tool for the error when there is none.
    pub fn connect(
        context: &dyn Context,
        http: &'a dyn Client,
        wanted: &'static str,
    ) -> Result<Self, RegistryError> {
        let access = context.registry_access();
        let url = access
            .registry_url
            .ok_or(RegistryError::NoRegistry { wanted })?;
        let base = Url::parse(&url)
            .ok()
            .filter(|base| matches!(base.scheme(), "http" | "https"))
            .ok_or_else(|| RegistryError::BadRegistryUrl(url.clone()))?;
        let bearer = access.bearer.ok_or_else(|| RegistryError::TokenWithheld {
            registry: display(&base),
        })?;
        Ok(Self { http, base, bearer })
    }

    /// How the registry is named in messages: its origin, never a token or query.
    pub fn name(&self) -> String {
        display(&self.base)
    }

    /// `GET <registry><path>?<query>`, answered with JSON.
    pub fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, RegistryError> {
        let mut url = self.endpoint(path)?;
        url.query_pairs_mut().extend_pairs(query);
        self.exchange(Method::Get, url, Vec::new())
    }

    /// `POST <registry><path>` with a JSON body, answered with JSON.
    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, RegistryError> {
        let url = self.endpoint(path)?;
        let body = serde_json::to_vec(body).expect("JSON values serialise");
        self.exchange(Method::Post, url, body)
    }

    /// The `data` of a GraphQL `query` named `operation` (for messages), or the registry's
    /// errors as one error.
    pub fn graphql(
        &self,
        operation: &str,
        query: &str,
        variables: serde_json::Value,
    ) -> Result<serde_json::Value, RegistryError> {
        let body = serde_json::json!({"query": query, "variables": variables});
        let mut answer: serde_json::Value = self.post("/graphql", &body)?;
        let errors: Vec<&str> = answer["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["message"].as_str().unwrap_or("unnamed error"))
            .collect();
        if !errors.is_empty() {
            return Err(RegistryError::Failed {
                registry: self.name(),
                detail: format!("{operation} failed: {}", errors.join("; ")),
            });
        }
        match answer["data"].take() {
            serde_json::Value::Object(data) => Ok(serde_json::Value::Object(data)),
            _ => Err(RegistryError::Failed {
                registry: self.name(),
                detail: format!("{operation} answered no data"),
            }),
        }
    }

    fn endpoint(&self, path: &str) -> Result<Url, RegistryError> {
        // Keep a path prefix the registry may be mounted under (e.g. https://host/api-root).
        let mut url = self.base.clone();
        let joined = format!("{}{path}", url.path().trim_end_matches('/'));
        url.set_path(&joined);
        Ok(url)
    }

    fn exchange<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Vec<u8>,
    ) -> Result<T, RegistryError> {
        let mut headers = vec![
            (
                "authorization".to_owned(),
                format!("Bearer {}", self.bearer),
            ),
            ("accept".to_owned(), "application/json".to_owned()),
        ];
        if method == Method::Post {
            headers.push(("content-type".into(), "application/json".into()));
        }
        let request = Request {
            method,
            url,
            headers,
            body,
        };
        let response = send_idempotent(
            self.http,
            &request,
            MAX_RESPONSE_BODY,
            DEAD_CONNECTION_RETRIES,
        )
        .map_err(|error| RegistryError::Unreachable {
            registry: self.name(),
            detail: match error {
                crate::http::HttpError::Transport { detail, .. } => detail,
                other => other.to_string(),
            },
        })?;
        self.decode(response)
    }

    fn decode<T: DeserializeOwned>(&self, response: Response) -> Result<T, RegistryError> {
        let registry = self.name();
        let reason = || reason(&response.body);
        match response.status {
            200..=299 => {
                serde_json::from_slice(&response.body).map_err(|error| RegistryError::Failed {
                    registry,
                    detail: format!("its answer is not the JSON this API returns ({error})"),
                })
            }
            401 => Err(RegistryError::Unauthenticated {
                registry,
                reason: reason(),
            }),
            403 => Err(RegistryError::Forbidden {
                registry,
                reason: reason(),
            }),
            status => Err(RegistryError::Failed {
                registry,
                detail: format!("HTTP {status}: {}", reason()),
            }),
        }
    }
}

/// The registry's own words for a refusal: a JSON `message`/`error`/`reason` field, else the
/// start of the body, kept short and on one line.
fn reason(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let from_json = parsed.as_ref().and_then(|value| {
        ["message", "error", "reason"]
            .iter()
            .find_map(|field| match &value[*field] {
                serde_json::Value::String(text) => Some(text.clone()),
                serde_json::Value::Object(inner) => inner
                    .get("reason")
                    .and_then(|r| r.as_str())
                    .map(str::to_owned),
                _ => None,
            })
    });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return "no reason given".into();
    }
    line.chars().take(MAX_QUOTED_REASON).collect()
}

fn display(url: &Url) -> String {
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    format!("{origin}{path}")
}

#[cfg(test)]
mod tests;
