//! Logs: one subscriber for the process, writing to stderr, filtered by `RUST_LOG`.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use crate::server::{RequestLines, is_request_span};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the process's subscriber (`info` unless `RUST_LOG` says otherwise). A request's
/// span is shown only as the line [`RequestLines`] writes when it closes, never as a prefix
/// of the lines logged inside it.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let lines = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let lines = match format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines.json().boxed(),
    };
    let not_the_request_span = filter_fn(|metadata| !is_request_span(metadata));
    tracing_subscriber::registry()
        .with(filter)
        .with(RequestLines)
        .with(lines.with_filter(not_the_request_span))
        .init();
}
