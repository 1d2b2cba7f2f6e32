//! How the server listens and what it accepts: the `serve` flags of `server`.

use std::net::SocketAddr;

use clap::Args;
use url::Url;

use super::{AdmissionConfig, AllowedHost, ConnectionConfig};

#[derive(Debug, Clone, Args)]
pub struct ServerConfig {
    /// Address to listen on. Port 0 picks a free port; the bound address is printed first on stdout.
    #[arg(long, env = "QUILT_MCP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The URL clients use to reach this server (default: http://<bound address>). The MCP
    /// resource is <public-url>/mcp; it is also the default JWT audience.
    #[arg(long, env = "QUILT_MCP_PUBLIC_URL")]
    pub public_url: Option<Url>,

    /// Origins allowed to call /mcp from a browser (repeatable). Default: the public URL's origin and
    /// http://localhost / http://127.0.0.1 on any port. Requests without an Origin header are allowed.
    #[arg(
        long = "allowed-origin",
        env = "QUILT_MCP_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Host names clients use to reach /mcp (repeatable), e.g. the names a reverse proxy
    /// forwards: NAME on any port, NAME:PORT on that port only. Always accepted: the public URL's
    /// host and port, and localhost / 127.0.0.1 / [::1] on any port. Any other Host
    /// header gets 403, a defence against DNS rebinding.
    #[arg(
        long = "allowed-host",
        env = "QUILT_MCP_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<AllowedHost>,

    /// Largest accepted request body; larger requests get 413.
    #[arg(long, env = "QUILT_MCP_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,

    #[command(flatten)]
    pub connections: ConnectionConfig,

    #[command(flatten)]
    pub admission: AdmissionConfig,
}

impl ServerConfig {
    /// `--public-url`, or http://<bound address> without one.
    pub fn public_url(&self, bound: SocketAddr) -> Result<Url, url::ParseError> {
        match &self.public_url {
            Some(url) => Ok(url.clone()),
            None => Url::parse(&format!("http://{bound}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::parse_serve;
    use crate::server::AllowedHost;

    #[test]
    fn allowed_hosts_repeat_and_refuse_urls_with_the_fix() {
        let config = parse_serve(&[
            "--allowed-host",
            "a.internal",
            "--allowed-host",
            "b.internal:8443,c",
        ])
        .unwrap();
        let expected: Vec<AllowedHost> = ["a.internal", "b.internal:8443", "c"]
            .iter()
            .map(|host| host.parse().unwrap())
            .collect();
        assert_eq!(config.server.allowed_hosts, expected);
        let refused = parse_serve(&["--allowed-host", "https://mcp.example.com"])
            .unwrap_err()
            .to_string();
        assert!(refused.contains("e.g. mcp.example.com"), "{refused}");
    }
}
