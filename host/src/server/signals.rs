//! The signals that stop the server. The first SIGTERM or SIGINT (Ctrl-C) starts the shutdown
//! (`serve`); each further one skips a step: the rest of the shutdown delay, then the rest of
//! the drain. Kubernetes sends one SIGTERM, so there only the first counts; an operator at a
//! terminal need not wait out a long delay.

use tokio::signal::unix::{Signal, SignalKind, signal};

pub struct ShutdownSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl ShutdownSignals {
    /// Installs the handlers; from here on these signals no longer end the process by
    /// themselves.
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves at the next SIGTERM or SIGINT.
    pub async fn next(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}
