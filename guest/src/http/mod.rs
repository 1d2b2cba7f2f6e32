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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The URL cannot be expressed as a wasi:http request (e.g. unsupported scheme).
    BadUrl(String),
    /// The host refused or the transport failed (includes the host's allow-list).
    Transport { origin: String, detail: String },
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
