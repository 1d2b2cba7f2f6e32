//! Free TCP ports on 127.0.0.1 for servers that must be told their port up front.

use std::net::TcpListener;

/// A port that was free a moment ago (the OS picks it; a race with another process
/// is possible but rare, and callers retry when a server fails to bind).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("the OS hands out a free loopback port")
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
