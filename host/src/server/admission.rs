//! Admission: who may start a guest now. Instances are a fixed pool (`--max-instances`); a
//! request waits a bounded time for one rather than failing at once, and one caller may hold
//! only part of the pool, so while one user sends hundreds of concurrent calls every other
//! user's calls are still served.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::{InUse, metrics};

#[derive(Debug, Clone, Args)]
pub struct AdmissionConfig {
    /// How long a request waits for a free guest instance before it gets 503.
    #[arg(long, env = "QUILT_MCP_ADMISSION_WAIT_MS", default_value_t = 2_000)]
    pub admission_wait_ms: u64,

    /// Requests one caller (token subject) may run at once; past it they get 429 with
    /// Retry-After. Default: a quarter of --max-instances (at least 1). Not applied with
    /// --no-auth, where every request is the same nobody.
    #[arg(long, env = "QUILT_MCP_MAX_REQUESTS_PER_CALLER")]
    pub max_requests_per_caller: Option<usize>,
}

/// Why a request may not start now.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "you already have {0} requests running, as many as one caller may at once; retry when one has finished"
    )]
    CallerBusy(usize),
    #[error("the server is at its limit of concurrent requests; retry shortly")]
    ServerBusy,
}

pub struct Admission {
    slots: Arc<Semaphore>,
    wait: Duration,
    per_caller: Option<usize>,
    running: Arc<Mutex<HashMap<String, usize>>>,
}

/// Held while a request's guest runs; dropping it frees the slot and the caller's share.
pub struct Ticket {
    _slot: OwnedSemaphorePermit,
    _share: Option<Share>,
    _in_use: InUse,
}

struct Share {
    caller: String,
    running: Arc<Mutex<HashMap<String, usize>>>,
}

impl Admission {
    pub fn new(config: &AdmissionConfig, max_instances: u32, authenticated: bool) -> Self {
        let slots = usize::try_from(max_instances).unwrap_or(usize::MAX).max(1);
        let per_caller = config.max_requests_per_caller.unwrap_or((slots / 4).max(1));
        Self {
            slots: Arc::new(Semaphore::new(slots)),
            wait: Duration::from_millis(config.admission_wait_ms),
            per_caller: authenticated.then_some(per_caller.max(1)),
            running: Arc::default(),
        }
    }

    /// A ticket for `caller` (issuer and subject; `None` without authentication), waiting up
    /// to the configured time for a free slot.
    pub async fn admit(&self, caller: Option<String>) -> Result<Ticket, Refusal> {
        let share = match (caller, self.per_caller) {
            (Some(caller), Some(cap)) => Some(self.take_share(caller, cap)?),
            _ => None,
        };
        let waiting = Instant::now();
        let slot = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| Refusal::ServerBusy)?
            .expect("the semaphore is never closed");
        Ok(Ticket {
            _slot: slot,
            _share: share,
            _in_use: metrics().admitted(waiting.elapsed()),
        })
    }

    fn take_share(&self, caller: String, cap: usize) -> Result<Share, Refusal> {
        let mut running = self.running.lock().expect("not poisoned");
        let count = running.entry(caller.clone()).or_default();
        if *count >= cap {
            return Err(Refusal::CallerBusy(cap));
        }
        *count += 1;
        Ok(Share {
            caller,
            running: self.running.clone(),
        })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut running = self.running.lock().expect("not poisoned");
        if let Some(count) = running.get_mut(&self.caller) {
            *count -= 1;
            if *count == 0 {
                running.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Admission, AdmissionConfig, Refusal};

    fn admission(slots: u32, per_caller: Option<usize>, wait_ms: u64) -> Admission {
        let config = AdmissionConfig {
            admission_wait_ms: wait_ms,
            max_requests_per_caller: per_caller,
        };
        Admission::new(&config, slots, true)
    }

    #[tokio::test]
    async fn one_caller_holds_only_their_share() {
        let admission = admission(8, Some(2), 10);
        let alice = || Some("alice".to_owned());
        let first = admission.admit(alice()).await.unwrap();
        let _second = admission.admit(alice()).await.unwrap();
        assert_eq!(
            admission.admit(alice()).await.err(),
            Some(Refusal::CallerBusy(2))
        );
        assert!(admission.admit(Some("bob".into())).await.is_ok());
        drop(first);
        assert!(admission.admit(alice()).await.is_ok(), "a share comes back");
        assert!(admission.running.lock().unwrap().contains_key("alice"));
    }

    #[tokio::test]
    async fn a_full_pool_is_waited_for_then_refused() {
        let admission = admission(1, None, 500);
        let held = admission.admit(Some("alice".into())).await.unwrap();
        let (waited, ()) = tokio::join!(admission.admit(Some("bob".into())), async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(held);
        });
        assert!(waited.is_ok(), "a slot freed during the wait is taken");
        let _held = waited.unwrap();
        assert_eq!(
            admission.admit(Some("carol".into())).await.err(),
            Some(Refusal::ServerBusy)
        );
    }

    #[test]
    fn the_default_share_is_a_quarter_of_the_pool() {
        assert_eq!(admission(64, None, 0).per_caller, Some(16));
        assert_eq!(admission(2, None, 0).per_caller, Some(1));
        let config = AdmissionConfig {
            admission_wait_ms: 0,
            max_requests_per_caller: None,
        };
        assert_eq!(Admission::new(&config, 64, false).per_caller, None);
    }
}
