//! Audit events: one JSON line per tool call — who called, which tool, what it touched, the
//! outcome, the bytes — on a stream of its own (`--audit-log`), to be shipped to a SIEM.
//!
//! What a call touched is what the host saw at the egress hook ([`Touched`]), not what the
//! guest reports. Arguments are left out unless `--audit-arguments` (they may hold data);
//! tokens and credentials never appear. The schema is documented in docs/deploying.md.

mod config;
mod touched;

use std::fs::OpenOptions;
use std::io::{LineWriter, Write};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

pub use config::AuditConfig;
pub use touched::{Namer, Touched};

use crate::untrusted::bounded;

/// The version of the event schema; bumped when a field changes meaning.
const SCHEMA_VERSION: u32 = 1;

/// Where events are written, one line each.
pub struct AuditLog {
    out: Mutex<Box<dyn Write + Send>>,
    with_arguments: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("--audit-log {path}: {source}; name a writable file, or stdout or stderr")]
pub struct AuditLogError {
    path: String,
    source: std::io::Error,
}

impl AuditLog {
    /// `None` when no audit log is asked for.
    pub fn from_config(config: &AuditConfig) -> Result<Option<Self>, AuditLogError> {
        let Some(path) = &config.audit_log else {
            return Ok(None);
        };
        let out: Box<dyn Write + Send> = match path.to_str() {
            Some("stdout") => Box::new(std::io::stdout()),
            Some("stderr") => Box::new(std::io::stderr()),
            _ => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| AuditLogError {
                        path: path.display().to_string(),
                        source,
                    })?;
                Box::new(LineWriter::new(file))
            }
        };
        Ok(Some(Self {
            out: Mutex::new(out),
            with_arguments: config.audit_arguments,
        }))
    }

    pub fn with_arguments(&self) -> bool {
        self.with_arguments
    }

    /// Writes `event` as one line. A failed write is logged, never answered to the client.
    pub fn write(&self, event: &ToolCall<'_>) {
        let mut line = serde_json::to_vec(&Event::from(event)).expect("events serialise");
        line.push(b'\n');
        let mut out = self.out.lock().expect("not poisoned");
        if let Err(error) = out.write_all(&line).and_then(|()| out.flush()) {
            tracing::error!(target: "quilt_mcp::audit", %error, "writing an audit event failed");
        }
    }
}

/// What the endpoint knows of one tool call when it has been answered.
pub struct ToolCall<'a> {
    pub request_id: &'a str,
    pub subject: Option<&'a str>,
    pub issuer: Option<&'a str>,
    pub client_id: Option<&'a str>,
    /// The tool, as the client named it.
    pub tool: &'a str,
    pub outcome: &'static str,
    pub status: u16,
    pub took: Duration,
    pub touched: Option<&'a Touched>,
    /// Only with `--audit-arguments`.
    pub arguments: Option<&'a Value>,
}

#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    version: u32,
    time: String,
    request_id: &'a str,
    subject: Option<String>,
    issuer: Option<String>,
    client_id: Option<String>,
    tool: String,
    outcome: &'static str,
    http_status: u16,
    duration_ms: u64,
    targets: Vec<String>,
    /// Requests to targets left out past the first hundred.
    more_targets: u64,
    bytes_read: u64,
    bytes_written: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a Value>,
}

impl<'a> From<&'a ToolCall<'a>> for Event<'a> {
    fn from(call: &'a ToolCall<'a>) -> Self {
        let (targets, more_targets) = call.touched.map(Touched::targets).unwrap_or_default();
        let bytes = |counter: fn(&Touched) -> &std::sync::atomic::AtomicU64| {
            call.touched
                .map_or(0, |touched| counter(touched).load(Ordering::Relaxed))
        };
        Self {
            kind: "quilt_mcp.tool_call",
            version: SCHEMA_VERSION,
            time: now_rfc3339(),
            request_id: call.request_id,
            // Client-chosen text, cut: a subject is the IdP's, but a tool name is anyone's.
            subject: call.subject.map(|s| crate::untrusted::cut(s, 256)),
            issuer: call.issuer.map(|s| crate::untrusted::cut(s, 256)),
            client_id: call.client_id.map(|s| crate::untrusted::cut(s, 256)),
            tool: bounded(call.tool),
            outcome: call.outcome,
            http_status: call.status,
            duration_ms: u64::try_from(call.took.as_millis()).unwrap_or(u64::MAX),
            targets,
            more_targets,
            bytes_read: bytes(|touched| &touched.bytes_read),
            bytes_written: bytes(|touched| &touched.bytes_written),
            arguments: call.arguments,
        }
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::{Event, Namer, ToolCall, Touched};

    #[test]
    fn an_unwritable_audit_log_stops_the_start_with_the_flag_named() {
        let config = super::AuditConfig {
            audit_log: Some("/nonexistent-dir/audit.jsonl".into()),
            audit_arguments: false,
        };
        let refused = super::AuditLog::from_config(&config)
            .err()
            .expect("refused");
        assert!(
            refused
                .to_string()
                .starts_with("--audit-log /nonexistent-dir/audit.jsonl: ")
        );
    }

    #[test]
    fn an_event_names_its_targets_and_leaves_out_arguments_unless_asked() {
        let touched = Touched::new(Namer {
            s3_endpoint: "http://127.0.0.1:8333".into(),
            path_style: true,
        });
        touched.record(&"http://127.0.0.1:8333/b/k".parse().unwrap(), None);
        touched.add_read(12);
        let arguments = json!({"s3_uri": "s3://b/k"});
        let mut call = ToolCall {
            request_id: "r1",
            subject: Some("alice\nforged"),
            issuer: Some("https://idp"),
            client_id: None,
            tool: "bucket_object_text",
            outcome: "ok",
            status: 200,
            took: Duration::from_millis(7),
            touched: Some(&touched),
            arguments: None,
        };
        let event: Value = serde_json::to_value(Event::from(&call)).unwrap();
        assert_eq!(event["type"], "quilt_mcp.tool_call");
        assert_eq!(event["targets"], json!(["s3://b/k"]));
        assert_eq!(event["bytes_read"], 12);
        assert_eq!(event["subject"], "alice\u{FFFD}forged", "no line is forged");
        assert!(event.get("arguments").is_none());
        call.arguments = Some(&arguments);
        let event: Value = serde_json::to_value(Event::from(&call)).unwrap();
        assert_eq!(event["arguments"], arguments);
    }
}
