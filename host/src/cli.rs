//! The command line: one `quilt-mcp` parser whose `serve` flattens each module's own
//! configuration (`server`, `sandbox`, `auth`, `credentials`, the deployment, logging). Every
//! flag has an environment-variable twin so the same binary is configured by flags on a laptop
//! and by env in a container; `--help` is the reference.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::access::AccessConfig;
use crate::audit::AuditConfig;
use crate::auth::AuthConfig;
use crate::credentials::CredentialsConfig;
use crate::logging::LogFormat;
use crate::metrics::MetricsConfig;
use crate::oauth::OAuthConfig;
use crate::sandbox::{DeploymentConfig, SandboxConfig};
use crate::server::ServerConfig;

#[derive(Debug, Parser)]
#[command(
    name = "quilt-mcp",
    version,
    about = "Stateless multi-user MCP server for Quilt data"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP over HTTP at /mcp.
    #[command(after_help = crate::access::scope_table())]
    Serve(Box<ServeConfig>),
    /// Precompile the guest component for this host's engine settings (loads faster at start-up).
    Compile {
        /// The guest component (.wasm).
        #[arg(long)]
        guest: PathBuf,
        /// Where to write the precompiled artifact (.cwasm).
        #[arg(long)]
        output: PathBuf,
    },
    /// Measure how long creating a fresh guest instance takes on this machine.
    BenchInstances {
        /// The guest component (.wasm or .cwasm).
        #[arg(long)]
        guest: PathBuf,
        /// How many instances to create.
        #[arg(long, default_value_t = 2000)]
        count: usize,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    #[command(flatten)]
    pub server: ServerConfig,

    #[command(flatten)]
    pub sandbox: SandboxConfig,

    #[command(flatten)]
    pub auth: AuthConfig,

    #[command(flatten)]
    pub oauth: OAuthConfig,

    #[command(flatten)]
    pub access: AccessConfig,

    #[command(flatten)]
    pub deployment: DeploymentConfig,

    #[command(flatten)]
    pub credentials: CredentialsConfig,

    #[command(flatten)]
    pub metrics: MetricsConfig,

    #[command(flatten)]
    pub audit: AuditConfig,

    /// Log line format (logs go to stderr; filter with RUST_LOG).
    #[arg(long, env = "QUILT_MCP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `quilt-mcp serve --guest guest.wasm` with `flags`, for the modules' tests of their flags.
#[cfg(test)]
pub(crate) fn parse_serve(flags: &[&str]) -> Result<ServeConfig, clap::Error> {
    let command = ["quilt-mcp", "serve", "--guest", "guest.wasm"];
    let cli = Cli::try_parse_from(command.iter().chain(flags))?;
    let Command::Serve(config) = cli.command else {
        unreachable!("serve was asked for")
    };
    Ok(*config)
}
