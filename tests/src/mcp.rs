//! A minimal MCP client over Streamable HTTP: one JSON-RPC message per POST, answers
//! read as JSON. Raw access (any body, any headers) is kept for protocol tests.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail, ensure};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// The protocol revision this client announces.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

pub struct McpClient {
    http: reqwest::Client,
    url: String,
    bearer: Option<String>,
    next_id: AtomicU64,
}

/// An HTTP answer, whatever its status.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("HTTP {} body is not JSON: {}", self.status, self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// The outcome of `tools/call`: a tool result, successful or not.
#[derive(Debug)]
pub struct ToolOutcome {
    pub is_error: bool,
    /// The first text content item.
    pub text: String,
    /// `structuredContent`, or null when absent.
    pub structured: Value,
}

impl McpClient {
    /// A client for `mcp_url` sending `Authorization: Bearer <bearer>` when given.
    pub fn new(mcp_url: &str, bearer: Option<String>) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: mcp_url.to_string(),
            bearer,
            next_id: AtomicU64::new(1),
        }
    }

    /// POSTs `body` as it is, with the usual MCP headers plus `extra_headers`.
    pub async fn post_raw(
        &self,
        body: impl Into<Vec<u8>>,
        extra_headers: &[(&str, &str)],
    ) -> Result<Reply> {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.into());
        if let Some(bearer) = &self.bearer {
            request = request.bearer_auth(bearer);
        }
        for (name, value) in extra_headers {
            request = request.header(*name, *value);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {}", self.url))?;
        Ok(Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await?.to_vec(),
        })
    }

    /// Sends a JSON-RPC request with a fresh id and returns the HTTP answer.
    pub async fn send(&self, method: &str, params: Value) -> Result<Reply> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.post_raw(message.to_string(), &[]).await
    }

    /// Sends a request and returns its `result`, failing on anything but HTTP 200 with a result.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value> {
        let reply = self.send(method, params).await?;
        ensure!(
            reply.status == 200,
            "{method}: HTTP {}: {}",
            reply.status,
            reply.text()
        );
        let mut message = reply.json()?;
        match message.get_mut("result") {
            Some(result) => Ok(result.take()),
            None => bail!("{method}: no result in {message}"),
        }
    }

    pub async fn call_tool(&self, name: &str, arguments: Value) -> Result<ToolOutcome> {
        let result = self
            .request("tools/call", json!({"name": name, "arguments": arguments}))
            .await?;
        Ok(ToolOutcome {
            is_error: result["isError"].as_bool().unwrap_or(false),
            text: result["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            structured: result
                .get("structuredContent")
                .cloned()
                .unwrap_or(Value::Null),
        })
    }
}

impl ToolOutcome {
    /// The structured result of a call that must have succeeded.
    pub fn success(self) -> Result<Value> {
        ensure!(!self.is_error, "the tool failed: {}", self.text);
        Ok(self.structured)
    }

    /// The message of a call that must have failed.
    pub fn failure(self) -> Result<String> {
        ensure!(
            self.is_error,
            "the tool succeeded but should have failed: {}",
            self.structured
        );
        Ok(self.text)
    }
}
