//! Client connections: accepted without ever ending the process, capped, kept only while
//! they make progress, and closed gracefully on eviction and at shutdown.
//!
//! - An accept error is logged (at most once a second) and survived; on descriptor
//!   exhaustion (EMFILE, ENFILE…) accepting pauses briefly instead of spinning.
//! - `--max-connections`, lowered at start-up to what the open-files limit can hold (each
//!   connection may also open one outgoing connection: S3, STS, the registry), caps the
//!   connections held. At the cap the longest-held connection is asked to close gracefully
//!   (its requests in flight finish first) to make room: refusing newcomers instead would let a
//!   client that keeps its connections busy with cheap requests lock everyone else out.
//! - A connection that sends no request head within the header timeout (idle keep-alive
//!   included), or whose writes make no progress within the write timeout (a client that never
//!   reads its response), is closed.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_io_timeout::TimeoutStream;

/// How long to stop accepting after an error that is not about one connection (EMFILE,
/// ENFILE, ENOBUFS…): accepting again at once would only fail again, in a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Descriptors kept for everything but client connections: the listener, logs, the engine,
/// JWKS and credential exchanges.
const RESERVED_DESCRIPTORS: u64 = 32;
/// Evictions and accept errors are logged at most this often, so a flood cannot flood the log.
const WARN_INTERVAL: Duration = Duration::from_secs(1);

/// Seconds, for a timeout: at least 1 (0 would refuse everything), at most an hour.
fn timeout_secs() -> clap::builder::RangedU64ValueParser {
    clap::value_parser!(u64).range(1..=3600)
}

/// How many client connections are held, and how long a slow or idle one is kept.
#[derive(Debug, Clone, Args)]
pub struct ConnectionConfig {
    /// Client connections held at once; a new one past it makes the longest-held connection
    /// close gracefully. Lowered at start-up to fit the open-files limit (`ulimit -n`).
    #[arg(long, env = "QUILT_MCP_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// A connection that does not send a complete request head within this many seconds is
    /// closed; this includes a keep-alive connection waiting idle for its next request.
    #[arg(long, env = "QUILT_MCP_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = timeout_secs())]
    pub header_timeout_secs: u64,

    /// A request whose body has not fully arrived this many seconds after its head gets 408
    /// and its connection is closed.
    #[arg(long, env = "QUILT_MCP_BODY_TIMEOUT_SECS", default_value_t = 10, value_parser = timeout_secs())]
    pub body_timeout_secs: u64,

    /// A connection whose response writes make no progress for this many seconds (a client
    /// that does not read) is closed, and what was buffered for it freed.
    #[arg(long, env = "QUILT_MCP_WRITE_TIMEOUT_SECS", default_value_t = 30, value_parser = timeout_secs())]
    pub write_timeout_secs: u64,

    /// On SIGTERM or Ctrl-C, how long to go on accepting and answering before no longer
    /// accepting. Meanwhile /readyz answers 503 and each response closes its connection, so
    /// a load balancer takes this replica out of rotation and no request sent to it is
    /// refused; set it above the balancer's readiness-probe period (Kubernetes: also below
    /// terminationGracePeriodSeconds minus --drain-timeout-secs).
    #[arg(long, env = "QUILT_MCP_SHUTDOWN_DELAY_SECS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub shutdown_delay_secs: u64,

    /// Then, how long requests in flight may take to finish before the process exits anyway.
    #[arg(long, env = "QUILT_MCP_DRAIN_TIMEOUT_SECS", default_value_t = 30, value_parser = timeout_secs())]
    pub drain_timeout_secs: u64,
}

impl ConnectionConfig {
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs)
    }

    pub fn shutdown_delay(&self) -> Duration {
        Duration::from_secs(self.shutdown_delay_secs)
    }

    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_timeout_secs)
    }
}

/// A client connection's stream, failing any write that makes no progress in time.
pub type ClientStream = Pin<Box<TimeoutStream<TcpStream>>>;

/// The live connections, oldest first, each with the signal that asks it to close.
#[derive(Default)]
struct LiveConnections {
    next: u64,
    live: BTreeMap<u64, Arc<Notify>>,
}

/// Admits accepted connections, evicting the longest-held one at the cap.
pub struct Acceptor {
    live_connections: Arc<Mutex<LiveConnections>>,
    cap: usize,
    write_timeout: Duration,
    last_warning: Option<Instant>,
}

/// A connection's place among the live ones; dropping it gives the place back.
pub struct Slot {
    id: u64,
    live_connections: Arc<Mutex<LiveConnections>>,
    /// Notified when this connection should finish its requests in flight and close.
    pub closing: Arc<Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.live_connections
            .lock()
            .expect("not poisoned")
            .live
            .remove(&self.id);
    }
}

impl Acceptor {
    /// The configured cap, lowered to what `open_files` descriptors can hold.
    pub fn new(config: &ConnectionConfig, open_files: Option<u64>) -> Self {
        let configured = usize::try_from(config.max_connections).unwrap_or(usize::MAX);
        let fits = open_files.map_or(usize::MAX, |limit| {
            let fits = limit.saturating_sub(RESERVED_DESCRIPTORS) / 2;
            usize::try_from(fits).unwrap_or(usize::MAX)
        });
        let cap = configured.min(fits).max(1);
        if cap < configured {
            tracing::warn!(
                max_connections = cap,
                configured,
                open_files,
                "--max-connections lowered to fit the open-files limit (raise `ulimit -n` to allow more)"
            );
        }
        Self {
            live_connections: Arc::default(),
            cap,
            write_timeout: Duration::from_secs(config.write_timeout_secs),
            last_warning: None,
        }
    }

    /// The next connection, with its slot. Accept errors are logged (rate-limited) and
    /// never returned.
    pub async fn accept(&mut self, listener: &TcpListener) -> (ClientStream, SocketAddr, Slot) {
        loop {
            match listener.accept().await {
                Ok(accepted) => return self.take(accepted),
                Err(error) => self.accept_failed(&error).await,
            }
        }
    }

    /// A connection the kernel has already queued, if there is one, without waiting.
    pub fn accept_queued(
        &mut self,
        listener: &TcpListener,
    ) -> Option<(ClientStream, SocketAddr, Slot)> {
        let waker = std::task::Waker::noop();
        loop {
            match listener.poll_accept(&mut std::task::Context::from_waker(waker)) {
                std::task::Poll::Ready(Ok(accepted)) => return Some(self.take(accepted)),
                std::task::Poll::Ready(Err(error)) if is_about_one_connection(&error) => {}
                std::task::Poll::Ready(Err(_)) | std::task::Poll::Pending => return None,
            }
        }
    }

    fn take(
        &mut self,
        (stream, peer): (TcpStream, SocketAddr),
    ) -> (ClientStream, SocketAddr, Slot) {
        // Responses stream from the guest in several writes; without this, Nagle's algorithm
        // meets the client's delayed ACK and a 13 KB tools/list answer waits 40 ms.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, %error, "could not disable Nagle's algorithm");
        }
        let slot = self.admit(peer);
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout(Some(self.write_timeout));
        (Box::pin(stream), peer, slot)
    }

    async fn accept_failed(&mut self, error: &io::Error) {
        if is_about_one_connection(error) {
            tracing::debug!(%error, "a connection failed while being accepted");
        } else {
            if self.may_warn() {
                tracing::warn!(%error, "accepting connections failed; pausing briefly");
            }
            tokio::time::sleep(ACCEPT_BACKOFF).await;
        }
    }

    fn admit(&mut self, peer: SocketAddr) -> Slot {
        let mut connections = self.live_connections.lock().expect("not poisoned");
        if connections.live.len() >= self.cap
            && let Some((_, oldest)) = connections.live.pop_first()
        {
            oldest.notify_one();
            drop(connections);
            if self.may_warn() {
                tracing::warn!(%peer, max_connections = self.cap, "at the connection cap: closing the longest-held connection");
            }
            connections = self.live_connections.lock().expect("not poisoned");
        }
        let id = connections.next;
        connections.next += 1;
        let closing = Arc::new(Notify::new());
        connections.live.insert(id, closing.clone());
        Slot {
            id,
            live_connections: self.live_connections.clone(),
            closing,
        }
    }

    /// Asks every live connection to finish its requests in flight and close.
    pub fn close_all(&self) {
        let live = std::mem::take(&mut self.live_connections.lock().expect("not poisoned").live);
        for closing in live.values() {
            closing.notify_one();
        }
    }

    fn may_warn(&mut self) -> bool {
        let now = Instant::now();
        let due = self
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= WARN_INTERVAL);
        if due {
            self.last_warning = Some(now);
        }
        due
    }
}

/// Errors that concern the one connection being accepted (it was reset or aborted before we
/// took it); the listener is fine and the next accept can go ahead at once.
fn is_about_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Raises the soft open-files limit to the hard one (as Go's runtime does) and returns it, so
/// the connection cap is as high as the operator's limits allow.
pub fn raise_open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    (limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::net::SocketAddr;

    use super::{Acceptor, ConnectionConfig, is_about_one_connection};

    fn acceptor(max_connections: u32, open_files: Option<u64>) -> Acceptor {
        let config = ConnectionConfig {
            max_connections,
            header_timeout_secs: 10,
            body_timeout_secs: 10,
            write_timeout_secs: 30,
            shutdown_delay_secs: 0,
            drain_timeout_secs: 30,
        };
        Acceptor::new(&config, open_files)
    }

    /// At shutdown, connections the kernel queued are taken without waiting, and then there
    /// are none.
    #[tokio::test]
    async fn queued_connections_are_taken_without_waiting() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut acceptor = acceptor(16, None);
        assert!(acceptor.accept_queued(&listener).is_none());
        let _first = tokio::net::TcpStream::connect(address).await.unwrap();
        let _second = tokio::net::TcpStream::connect(address).await.unwrap();
        // The handshakes complete in the kernel; give the listener's readiness a moment.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(acceptor.accept_queued(&listener).is_some());
        assert!(acceptor.accept_queued(&listener).is_some());
        assert!(acceptor.accept_queued(&listener).is_none());
    }

    #[test]
    fn the_cap_fits_the_open_files_limit() {
        assert_eq!(acceptor(1024, None).cap, 1024);
        assert_eq!(acceptor(1024, Some(1 << 20)).cap, 1024);
        assert_eq!(acceptor(1024, Some(64)).cap, 16);
        assert_eq!(acceptor(1024, Some(10)).cap, 1);
    }

    #[test]
    fn at_the_cap_the_longest_held_connection_is_asked_to_close() {
        let mut acceptor = acceptor(2, None);
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let first = acceptor.admit(peer);
        let second = acceptor.admit(peer);
        let third = acceptor.admit(peer);
        let live = |acceptor: &Acceptor| acceptor.live_connections.lock().unwrap().live.len();
        assert_eq!(live(&acceptor), 2);
        // The first was notified: its permit is stored, so a later wait returns at once.
        let closing = first.closing.clone();
        drop(first);
        let notified = closing.notified();
        tokio::pin!(notified);
        assert!(
            notified.as_mut().enable(),
            "the oldest connection was asked to close"
        );
        assert_eq!(live(&acceptor), 2, "an evicted slot was already given back");
        drop((second, third));
        assert_eq!(live(&acceptor), 0);
    }

    #[test]
    fn only_per_connection_errors_skip_the_backoff() {
        assert!(is_about_one_connection(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
        assert!(!is_about_one_connection(&io::Error::from_raw_os_error(
            libc::EMFILE
        )));
    }
}
