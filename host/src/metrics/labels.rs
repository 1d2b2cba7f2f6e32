//! The values labels may take, each from a fixed set: what a client sends is matched against
//! what this server knows, never copied into a label.

use quilt_mcp_policy::tools::rule_for;

/// The JSON-RPC methods MCP defines that clients send (both eras); any other is `other`.
const METHODS: [&str; 16] = [
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "notifications/initialized",
    "notifications/cancelled",
    "server/discover",
];

/// `method` when MCP defines it, `none` for a message without one (a response, or not
/// JSON-RPC), else `other`.
pub fn known_method(method: Option<&str>) -> &'static str {
    match method {
        None => "none",
        Some(method) => METHODS
            .into_iter()
            .find(|known| *known == method)
            .unwrap_or("other"),
    }
}

/// `tool` when this server has a tool of that name, else `other`.
pub fn known_tool(tool: Option<&str>) -> &'static str {
    tool.and_then(rule_for).map_or("other", |rule| rule.name)
}

/// How a request ended, as the host saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The guest answered.
    Ok,
    /// The guest answered that the tool failed (the result's `isError`).
    ToolError,
    /// Answered by the host before any guest ran: Host, Origin, token, scope, body.
    Refused,
    /// Not admitted: the caller's share or the whole pool was in use (429, 503).
    Busy,
    /// The guest ran past the deadline (504).
    TimedOut,
    /// The guest trapped or its response was too large (500).
    Failed,
}

impl Outcome {
    /// From the response's status (the host's own answers have their own statuses) and
    /// whether the guest said its tool failed.
    pub fn of(status: http::StatusCode, guest_ran: bool, tool_failed: bool) -> Self {
        match status.as_u16() {
            429 | 503 => Self::Busy,
            504 => Self::TimedOut,
            _ if !guest_ran => Self::Refused,
            500 => Self::Failed,
            _ if tool_failed => Self::ToolError,
            _ => Self::Ok,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ToolError => "tool_error",
            Self::Refused => "refused",
            Self::Busy => "busy",
            Self::TimedOut => "timed_out",
            Self::Failed => "failed",
        }
    }
}

/// What a cache lookup came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheEvent {
    Hit,
    /// Fetched or exchanged anew.
    Fetched,
    Failed,
}

impl CacheEvent {
    pub fn name(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Fetched => "fetched",
            Self::Failed => "failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{known_method, known_tool};

    #[test]
    fn only_known_names_become_label_values() {
        assert_eq!(known_method(Some("tools/call")), "tools/call");
        assert_eq!(known_method(Some("tools/call ")), "other");
        assert_eq!(known_method(None), "none");
        assert_eq!(
            known_tool(Some("bucket_objects_list")),
            "bucket_objects_list"
        );
        assert_eq!(known_tool(Some("BUCKET_OBJECTS_LIST")), "other");
        assert_eq!(known_tool(None), "other");
    }
}
