//! A WASI command that reaches for the network the way any Rust program would, through
//! `std::net`: a TCP connection, a TCP listener, a UDP datagram and a name lookup.
//!
//! The host refuses a guest importing `wasi:sockets` at start-up; this command is the second
//! layer's evidence. The host's unit tests (host/src/sandbox/store_tests.rs) link it with
//! wasi:sockets and run it in the production per-request WASI context, which must deny every
//! attempt. It prints one line per attempt: `attempt<TAB>ok` or
//! `attempt<TAB>error<TAB>ErrorKind<TAB>message`.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};

/// The discard port on loopback. Connecting there, were sockets allowed, would be refused
/// (ConnectionRefused) or succeed — never PermissionDenied, which only a policy produces.
const LOOPBACK_DISCARD: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9);

fn main() {
    report(
        "tcp-connect",
        TcpStream::connect(LOOPBACK_DISCARD).map(drop),
    );
    report(
        "tcp-listen",
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map(drop),
    );
    report(
        "udp-send",
        UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .and_then(|socket| socket.send_to(b"ping", LOOPBACK_DISCARD))
            .map(drop),
    );
    // `localhost` resolves on any machine that resolves names at all.
    report("dns-lookup", ("localhost", 80).to_socket_addrs().map(drop));
}

fn report(attempt: &str, outcome: io::Result<()>) {
    let line = match outcome {
        Ok(()) => format!("{attempt}\tok"),
        Err(error) => format!("{attempt}\terror\t{:?}\t{error}", error.kind()),
    };
    // Stdout is the host's in-memory pipe; losing a line would fail the test, not hide it.
    let _ = writeln!(io::stdout(), "{line}");
}
