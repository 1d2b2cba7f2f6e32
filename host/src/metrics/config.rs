//! Where metrics are served: the `serve` flags of `metrics`.

use std::net::SocketAddr;

use clap::Args;

#[derive(Debug, Clone, Default, Args)]
pub struct MetricsConfig {
    /// Serve Prometheus metrics at http://<this address>/metrics, a listener of its own so
    /// that the MCP port exposes none (e.g. 127.0.0.1:9464, or 0.0.0.0:9464 inside a pod for
    /// the cluster's Prometheus). Off by default.
    #[arg(long, env = "QUILT_MCP_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}
