//! Outgoing HTTP as plain data (requests, responses, errors, the retry rule), so
//! everything above this layer can be tested without wasi; `outbound` sends it over
//! wasi:http, and `streams` writes wasi:io streams for it and for `serve`.

mod error_code;
#[cfg(target_arch = "wasm32")]
pub mod outbound;
pub mod percent;
#[cfg(target_arch = "wasm32")]
pub mod streams;

use std::fmt;

/// The most of a non-2xx response body read, whatever the caller allows for success: an
/// error body is only read to type and quote the error, and a hostile or broken server
/// could otherwise fill the instance's memory with one.
pub const MAX_ERROR_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Put,
    Post,
    Delete,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: url::Url,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    /// At most [`body_cap`] bytes.
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How much of a response body with `status` is read when the caller allows `max_body`.
pub fn body_cap(status: u16, max_body: usize) -> usize {
    if (200..300).contains(&status) {
        max_body
    } else {
        max_body.min(MAX_ERROR_BODY)
    }
}

/// Sends one request and reads at most [`body_cap`] bytes of the response body, so a
/// huge object never sits whole in memory.
pub trait Client {
    fn send(&self, request: &Request, max_body: usize) -> Result<Response, HttpError>;
}

/// Sends an idempotent `request`, and sends it again (at most `retries` times) while the
/// connection is lost under it: each such failure discards a pooled connection the server
/// had already closed, so the next attempt gets a fresh one. Nothing else is sent again —
/// least of all a request the allow-list refused.
pub fn send_idempotent(
    client: &dyn Client,
    request: &Request,
    max_body: usize,
    retries: usize,
) -> Result<Response, HttpError> {
    let mut response = client.send(request, max_body);
    for _ in 0..retries {
        match &response {
            Err(HttpError::ConnectionLost { .. }) => response = client.send(request, max_body),
            _ => break,
        }
    }
    response
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The URL cannot be expressed as a wasi:http request (e.g. unsupported scheme).
    BadUrl(String),
    /// The deployment's egress allow-list refused the origin before anything was sent.
    Denied { origin: String },
    /// The connection closed under the request before an answer came: how a pooled
    /// connection the server had already closed fails, so worth one more try.
    ConnectionLost { origin: String, detail: String },
    /// Anything else between here and the server: refused connection, DNS, TLS, timeouts.
    Transport { origin: String, detail: String },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl(url) => write!(f, "cannot send a request to '{url}'"),
            Self::Denied { origin } => write!(
                f,
                "this deployment's egress allow-list refused {origin}; only origins its operator allows can be reached"
            ),
            Self::ConnectionLost { origin, detail } => write!(
                f,
                "the connection to {origin} was lost before it answered ({detail}); try again"
            ),
            Self::Transport { origin, detail } => write!(
                f,
                "could not reach {origin} ({detail}); check that the S3 endpoint of this deployment is up"
            ),
        }
    }
}

#[cfg(test)]
mod tests;
