//! One MCP JSON-RPC message in, one HTTP reply out, with nothing remembered between
//! requests (no sessions: the host runs a fresh instance per request).

mod dispatch;
mod era;
mod headers;
mod identity;
mod jsonrpc;
mod modern;
mod version;

use serde_json::Value;

use crate::tools::Env;
pub use headers::RequestHeaders;
use jsonrpc::{Message, RpcError};

/// What to send back over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, value: &impl serde::Serialize) -> Self {
        Self {
            status,
            content_type: Some("application/json"),
            body: serde_json::to_vec(value).expect("JSON values serialise"),
        }
    }

    pub fn text(status: u16, text: &str) -> Self {
        Self {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            body: text.as_bytes().to_vec(),
        }
    }

    fn accepted() -> Self {
        Self {
            status: 202,
            content_type: None,
            body: Vec::new(),
        }
    }
}

pub fn handle(headers: &RequestHeaders, body: &[u8], env: &Env<'_>) -> Reply {
    if !headers.accepts_json() {
        return Reply::text(
            406,
            "This server answers in application/json; send Accept: application/json, text/event-stream.",
        );
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => {
            let error = RpcError::parse(format!("Parse error: {e}"));
            return Reply::json(400, &error.response(&Value::Null));
        }
    };
    let message = match jsonrpc::classify(value) {
        Ok(message) => message,
        Err((id, error)) => return Reply::json(400, &error.response(&id)),
    };
    let era = match era::route(headers, &message) {
        Ok(era) => era,
        Err(error) => {
            let id = match &message {
                Message::Request { id, .. } => id.clone(),
                Message::Notification | Message::Response => Value::Null,
            };
            return Reply::json(400, &error.response(&id));
        }
    };
    match message {
        Message::Notification | Message::Response => Reply::accepted(),
        Message::Request { id, method, params } => {
            match dispatch::dispatch(era, &method, params, env) {
                Ok(result) => Reply::json(200, &jsonrpc::success(&id, &result)),
                Err(error) => Reply::json(era.status_of(&error), &error.response(&id)),
            }
        }
    }
}

#[cfg(test)]
mod modern_tests;
#[cfg(test)]
mod tests;
