//! Free TCP ports on 127.0.0.1 for servers that must be told their port up front.

use std::net::TcpListener;

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
