//! HTTP in and out of the component. The request/response types are plain data so
//! everything above this layer can be tested without wasi.

#[cfg(target_arch = "wasm32")]
pub mod inbound;
#[cfg(target_arch = "wasm32")]
pub mod outbound;
#[cfg(target_arch = "wasm32")]
mod streams;

use std::fmt;

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
    /// At most the byte cap the request was sent with.
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

/// Sends one request and reads at most `max_body` bytes of the response body, so a
/// huge object never sits whole in memory.
pub trait Client {
    fn send(&self, request: &Request, max_body: usize) -> Result<Response, HttpError>;
}

/// Sends an idempotent `request`, and sends it again (at most `retries` times) while it fails
/// on a pooled connection the server had already closed: each failure discards one such
/// connection, so the next attempt gets a fresh one.
pub fn send_idempotent(
    client: &dyn Client,
    request: &Request,
    max_body: usize,
    retries: usize,
) -> Result<Response, HttpError> {
    let mut response = client.send(request, max_body);
    for _ in 0..retries {
        match &response {
            Err(error) if error.is_dead_connection() => response = client.send(request, max_body),
            _ => break,
        }
    }
    response
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The URL cannot be expressed as a wasi:http request (e.g. unsupported scheme).
    BadUrl(String),
    /// The host refused or the transport failed (includes the host's allow-list).
    Transport { origin: String, detail: String },
}

impl HttpError {
    /// How a request on a pooled connection the server had already closed fails: hyper's
    /// send error, or the request body stream closing under the guest. Refused or
    /// unreachable origins fail otherwise, so only these are worth sending again.
    pub fn is_dead_connection(&self) -> bool {
        match self {
            Self::Transport { detail, .. } => {
                detail.contains("SendRequest")
                    || detail.contains("writing the request body: stream closed")
            }
            Self::BadUrl(_) => false,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl(url) => write!(f, "cannot send a request to '{url}'"),
            Self::Transport { origin, detail } => write!(
                f,
                "could not reach {origin} ({detail}); check that the S3 endpoint of this deployment is up and allowed"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HttpError;

    #[test]
    fn only_dead_connections_are_worth_resending() {
        let transport = |detail: &str| HttpError::Transport {
            origin: "http://s3".into(),
            detail: detail.into(),
        };
        assert!(
            transport("ErrorCode::InternalError(Some(\"client error (SendRequest)\"))")
                .is_dead_connection()
        );
        assert!(transport("writing the request body: stream closed").is_dead_connection());
        assert!(!transport("ErrorCode::ConnectionRefused").is_dead_connection());
        assert!(!transport("ErrorCode::HttpRequestDenied").is_dead_connection());
    }
}
