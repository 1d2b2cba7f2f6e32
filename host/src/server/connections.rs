//! Accepting connections: an accept error is logged and survived, never the end of the
//! process, and connections are capped so a flood degrades to refused connections.
//!
//! The cap (`--max-connections`) is lowered at start-up to what the process's descriptor
//! limit can hold, since each admitted connection may also open one outgoing connection (S3,
//! STS, the registry). Idle connections are reaped by hyper's header timeout, which also runs
//! while a keep-alive connection waits for its next request.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long to stop accepting after an error that is not about one connection (EMFILE,
/// ENFILE, ENOBUFS…): accepting again at once would only fail again, in a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Descriptors kept for everything but client connections: the listener, logs, the engine,
/// JWKS and credential exchanges.
const RESERVED_DESCRIPTORS: u64 = 32;
/// Refusals and accept errors are logged at most this often, so a flood cannot flood the log.
const WARN_INTERVAL: Duration = Duration::from_secs(1);

/// How many client connections are held, and for how long an idle or slow one is kept.
#[derive(Debug, Clone, Args)]
pub struct ConnectionConfig {
    /// Client connections held at once; past it new ones are closed as soon as accepted.
    /// Lowered at start-up to fit the open-files limit (`ulimit -n`), with a warning.
    #[arg(long, env = "QUILT_MCP_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// A connection that does not send a complete request head within this many seconds is
    /// closed; this includes a keep-alive connection waiting idle for its next request.
    #[arg(long, env = "QUILT_MCP_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,

    /// A request whose body has not fully arrived this many seconds after its head gets 408
    /// and its connection is closed.
    #[arg(long, env = "QUILT_MCP_BODY_TIMEOUT_SECS", default_value_t = 10)]
    pub body_timeout_secs: u64,
}

impl ConnectionConfig {
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs)
    }
}

/// Admits accepted connections up to the cap.
pub struct Acceptor {
    slots: Arc<Semaphore>,
    cap: usize,
    last_warning: Option<Instant>,
}

impl Acceptor {
    /// The configured cap, lowered to what `open_files` descriptors can hold.
    pub fn new(configured: usize, open_files: Option<u64>) -> Self {
        let cap = match open_files {
            Some(limit) => {
                let fits = (limit.saturating_sub(RESERVED_DESCRIPTORS) / 2).max(1);
                configured.min(usize::try_from(fits).unwrap_or(usize::MAX))
            }
            None => configured,
        }
        .max(1);
        if cap < configured {
            tracing::warn!(
                max_connections = cap,
                configured,
                open_files,
                "--max-connections lowered to fit the open-files limit (raise `ulimit -n` to allow more)"
            );
        }
        Self {
            slots: Arc::new(Semaphore::new(cap)),
            cap,
            last_warning: None,
        }
    }

    /// The next admitted connection, with the slot it holds until it closes. Accept errors
    /// and connections over the cap are logged (rate-limited) and never returned.
    pub async fn accept(
        &mut self,
        listener: &TcpListener,
    ) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => match self.slots.clone().try_acquire_owned() {
                    Ok(slot) => return (stream, peer, slot),
                    Err(_) => {
                        // Dropping the stream closes it: the client sees a refused connection.
                        if self.may_warn() {
                            tracing::warn!(%peer, max_connections = self.cap, "connection refused: at the connection cap");
                        }
                    }
                },
                Err(error) if is_about_one_connection(&error) => {
                    tracing::debug!(%error, "a connection failed while being accepted");
                }
                Err(error) => {
                    if self.may_warn() {
                        tracing::warn!(%error, "accepting connections failed; pausing briefly");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
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
    use super::*;

    #[test]
    fn the_cap_fits_the_open_files_limit() {
        assert_eq!(Acceptor::new(1024, None).cap, 1024);
        assert_eq!(Acceptor::new(1024, Some(1 << 20)).cap, 1024);
        assert_eq!(Acceptor::new(1024, Some(64)).cap, 16);
        assert_eq!(Acceptor::new(1024, Some(10)).cap, 1);
        assert_eq!(Acceptor::new(0, None).cap, 1);
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
