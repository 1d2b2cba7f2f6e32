//! The JSON-RPC 2.0 envelope: telling requests, notifications and responses apart,
//! and shaping errors.

use rmcp::model::{ErrorCode, ErrorData};
use serde::Serialize;
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request {
        id: Value,
        method: String,
        params: Option<Value>,
    },
    Notification,
    /// A response or error object a client posted back; nothing to answer.
    Response,
}

/// A JSON-RPC error, built on rmcp's wire type.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError(pub ErrorData);

/// The longest JSON-RPC error message.
const MAX_MESSAGE_CHARS: usize = 1000;

impl RpcError {
    /// Every JSON-RPC error's message is bounded here: many quote what the client sent (a
    /// method or tool name, an argument's value).
    fn new(code: ErrorCode, message: String) -> Self {
        let message = crate::echo::bounded(&message, MAX_MESSAGE_CHARS);
        Self(ErrorData::new(code, message, None))
    }

    pub fn parse(message: String) -> Self {
        Self::new(ErrorCode::PARSE_ERROR, message)
    }

    pub fn invalid_request(message: String) -> Self {
        Self::new(ErrorCode::INVALID_REQUEST, message)
    }

    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )
    }

    pub fn invalid_params(message: String) -> Self {
        Self::new(ErrorCode::INVALID_PARAMS, message)
    }

    /// The spec's "resource not found" (-32002), with the URI in `data`.
    pub fn resource_not_found(message: String, uri: &str) -> Self {
        let data = serde_json::json!({ "uri": crate::echo::bounded(uri, 256) });
        Self(ErrorData::new(ErrorCode(-32002), message, Some(data)))
    }

    /// The 2026 era's `HeaderMismatch`: a mirrored header is missing, repeated or
    /// disagrees with the body.
    pub fn header_mismatch(detail: String) -> Self {
        Self::new(
            ErrorCode::HEADER_MISMATCH,
            format!("Header mismatch: {detail}"),
        )
    }

    pub fn is_method_not_found(&self) -> bool {
        self.0.code == ErrorCode::METHOD_NOT_FOUND
    }

    pub fn response(&self, id: &Value) -> Value {
        json!({ "jsonrpc": "2.0", "id": id, "error": self.0 })
    }
}

/// A success response, serialised straight from its parts.
#[derive(Serialize)]
pub struct Success<'a, R> {
    jsonrpc: &'static str,
    id: &'a Value,
    result: &'a R,
}

pub fn success<'a, R: Serialize>(id: &'a Value, result: &'a R) -> Success<'a, R> {
    Success {
        jsonrpc: "2.0",
        id,
        result,
    }
}

/// On error, also the id to echo (null when it could not be read).
pub fn classify(value: Value) -> Result<Message, (Value, RpcError)> {
    let invalid = |id: Value, why: &str| {
        Err((
            id,
            RpcError::invalid_request(format!("Invalid Request: {why}")),
        ))
    };
    let mut object: Map<String, Value> = match value {
        Value::Object(object) => object,
        Value::Array(_) => {
            return invalid(
                Value::Null,
                "batches are not supported; send one message per request",
            );
        }
        _ => return invalid(Value::Null, "a JSON-RPC message must be a JSON object"),
    };
    let id = object.remove("id");
    let id_ok = id
        .as_ref()
        .is_none_or(|id| id.is_string() || id.is_number());
    let echo = id.clone().filter(|_| id_ok).unwrap_or(Value::Null);
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(echo, "\"jsonrpc\" must be \"2.0\"");
    }
    if !id_ok {
        return invalid(Value::Null, "\"id\" must be a string or a number");
    }
    match object.remove("method") {
        Some(Value::String(method)) => match id {
            Some(id) => Ok(Message::Request {
                id,
                method,
                params: object.remove("params"),
            }),
            None => Ok(Message::Notification),
        },
        Some(_) => invalid(echo, "\"method\" must be a string"),
        None if id.is_some() && (object.contains_key("result") || object.contains_key("error")) => {
            Ok(Message::Response)
        }
        None => invalid(echo, "\"method\" is missing"),
    }
}
