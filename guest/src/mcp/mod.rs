//! One MCP JSON-RPC message in, one HTTP reply out, with nothing remembered between
//! requests (no sessions: the host runs a fresh instance per request).

mod dispatch;
mod jsonrpc;
mod version;

use serde_json::Value;

use crate::tools::Env;
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

    fn accepted() -> Self {
        Self {
            status: 202,
            content_type: None,
            body: Vec::new(),
        }
    }
}

/// `protocol_version` is the `MCP-Protocol-Version` header, when sent.
pub fn handle(protocol_version: Option<&str>, body: &[u8], env: &Env<'_>) -> Reply {
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
    if let Some(version) = protocol_version
        && !version::is_supported(version)
    {
        let id = match &message {
            Message::Request { id, .. } => id.clone(),
            Message::Notification | Message::Response => Value::Null,
        };
        return Reply::json(400, &version::unsupported(version).response(&id));
    }
    match message {
        Message::Notification | Message::Response => Reply::accepted(),
        Message::Request { id, method, params } => match dispatch::dispatch(&method, params, env) {
            Ok(result) => Reply::json(200, &jsonrpc::success(&id, &result)),
            Err(error) => Reply::json(200, &error.response(&id)),
        },
    }
}

#[cfg(test)]
mod tests;
