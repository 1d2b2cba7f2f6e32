//! Free TCP ports on 127.0.0.1 for servers that must be told their port up front, and closed
//! ones for clients that must find nothing there.

use std::net::{Ipv4Addr, TcpListener};

/// Ports handed to servers that bind them later: below Linux's ephemeral range
/// (32768–60999), so the source port of some client connection opened meanwhile — the
/// suite opens thousands — can never be the port a server is about to bind.
const SERVER_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A port that was free a moment ago (a race with another process is possible but rare,
/// and callers retry when a server fails to bind).
pub fn free_port() -> u16 {
    let span = u32::from(SERVER_PORTS.end - SERVER_PORTS.start);
    let start = rand::random::<u32>() % span;
    (0..span)
        .map(|offset| SERVER_PORTS.start + ((start + offset) % span) as u16)
        .find(|port| is_free(*port))
        .expect("a free loopback port below the ephemeral range")
}

/// `preferred` when it can be bound right now, else any free port.
pub fn preferred_or_free(preferred: u16) -> u16 {
    if is_free(preferred) {
        preferred
    } else {
        free_port()
    }
}

pub fn is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A loopback port that refuses connections for as long as this lives: a TCP socket is bound
/// to it but never listens. A port merely found free could be taken by another trial's server
/// meanwhile; this one cannot, and connecting to it is refused at once.
pub struct ClosedPort {
    port: u16,
    _socket: tokio::net::TcpSocket,
}

impl ClosedPort {
    pub fn bind() -> std::io::Result<Self> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind((Ipv4Addr::LOCALHOST, 0).into())?;
        Ok(Self {
            port: socket.local_addr()?.port(),
            _socket: socket,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
