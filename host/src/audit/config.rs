//! Where audit events go: the `serve` flags of `audit`.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Default, Args)]
pub struct AuditConfig {
    /// Write one JSON line per tool call (who, which tool, what it touched, the outcome) to
    /// `stdout`, `stderr` or this file (appended), a stream of its own for a SIEM; the schema
    /// is in docs/deploying.md. Off by default.
    #[arg(long, env = "QUILT_MCP_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,

    /// Also record each call's arguments in its audit event (they may hold data: off by
    /// default).
    #[arg(long, env = "QUILT_MCP_AUDIT_ARGUMENTS", default_value_t = false,
          action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub audit_arguments: bool,
}
