//! One MCP JSON-RPC message in, one HTTP reply out, with nothing remembered between
//! requests (no sessions: the host runs a fresh instance per request).

mod dispatch;
mod era;
mod headers;
mod identity;
mod jsonrpc;
mod modern;
mod parse;
mod tool_result;
mod version;

use std::io;

use serde_json::Value;

use crate::tools::Env;
use dispatch::Outcome;
pub use headers::RequestHeaders;
use jsonrpc::Message;

/// What to send back over HTTP.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Body,
}

/// A reply's body. A success keeps its result unserialised until it is written out, then
/// goes straight into the response: a fetched object's base64 is never copied into a
/// serialised result, then into an envelope, then into the response.
#[derive(Debug)]
pub enum Body {
    Bytes(Vec<u8>),
    Success { id: Value, result: Outcome },
}

impl Body {
    pub fn write_to(&self, mut out: impl io::Write) -> io::Result<()> {
        match self {
            Self::Bytes(bytes) => out.write_all(bytes)?,
            Self::Success { id, result } => {
                serde_json::to_writer(&mut out, &jsonrpc::success(id, result))?;
            }
        }
        out.flush()
    }

    #[cfg(test)]
    pub fn to_vec(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.write_to(&mut bytes)
            .expect("writing to memory succeeds");
        bytes
    }
}

impl Reply {
    fn json(status: u16, value: &impl serde::Serialize) -> Self {
        Self {
            status,
            content_type: Some("application/json"),
            body: Body::Bytes(serde_json::to_vec(value).expect("JSON values serialise")),
        }
    }

    pub fn text(status: u16, text: &str) -> Self {
        Self {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            body: Body::Bytes(text.as_bytes().to_vec()),
        }
    }

    fn accepted() -> Self {
        Self {
            status: 202,
            content_type: None,
            body: Body::Bytes(Vec::new()),
        }
    }

    /// Whether this answers a tool call whose tool failed: the host counts those apart from
    /// successes in its metrics and audit events (`quilt_mcp_policy::tools::OUTCOME_HEADER`).
    pub fn is_tool_error(&self) -> bool {
        matches!(&self.body, Body::Success { result: Outcome::Tool(result), .. } if result.is_error())
    }

    fn success(id: Value, result: Outcome) -> Self {
        Self {
            status: 200,
            content_type: Some("application/json"),
            body: Body::Success { id, result },
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
    let value = match parse::message(body) {
        Ok(value) => value,
        Err(unreadable) => {
            return Reply::json(400, &unreadable.rpc_error().response(&Value::Null));
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
                Ok(result) => Reply::success(id, result),
                Err(error) => Reply::json(era.status_of(&error), &error.response(&id)),
            }
        }
    }
}

#[cfg(test)]
mod tests;
