//! The identity provider's signing keys, fetched from its JWKS URL and cached for a bounded
//! time.
//!
//! - A key set is trusted for its maximum age: the response's `Cache-Control: max-age`, never
//!   longer than `--jwks-max-age-secs` (also the age when the header is absent), never shorter
//!   than the least refetch interval. Once three quarters of it have passed, the set is
//!   refreshed in the background while requests go on with it; past it, a request waits for
//!   the refresh, so a key the provider withdrew stops being honoured. Should the provider be
//!   unreachable then, the old set is used for at most [`STALE_GRACE`] more.
//! - A token naming an unknown `kid` triggers a refetch, at most once per
//!   `min_refetch_interval`, so a stream of forged `kid`s cannot turn the server into a request
//!   amplifier against the identity provider.
//! - No lock is held across a fetch except the one that makes fetches single-flight, and only
//!   requests that need a fetch wait on it: a slow identity provider stalls no token whose key
//!   is already known.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use url::Url;

use super::AuthError;
use crate::metrics::labels::CacheEvent;
use crate::metrics::metrics;

/// How long a key set past its maximum age still serves while its provider cannot be reached.
const STALE_GRACE: Duration = Duration::from_secs(3600);
/// Largest key set read: a provider publishes a handful of keys, a few KiB.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// The longest `--jwks-max-age-secs` (a day): larger values could overflow `Instant` arithmetic.
pub const MAX_AGE_LIMIT_SECS: u64 = 86_400;

pub struct JwksCache {
    shared: Arc<Shared>,
}

struct Shared {
    url: Url,
    client: reqwest::Client,
    min_refetch_interval: Duration,
    max_age: Duration,
    current: Mutex<Option<Fetched>>,
    /// When a fetch last started, successful or not: the unknown-`kid` rate limit.
    last_attempt: Mutex<Option<Instant>>,
    /// When the last failed fetch ended, and why.
    last_failure: Mutex<Option<(Instant, AuthError)>>,
    /// Held across a fetch, so concurrent needs share one.
    fetching: tokio::sync::Mutex<()>,
    /// Counts refreshes that withdrew a key; tokens verified before one must be checked again.
    generation: AtomicU64,
    /// Set while a background refresh runs, so requests start only one.
    refreshing: AtomicBool,
}

#[derive(Clone)]
struct Fetched {
    keys: Arc<JwkSet>,
    at: Instant,
    max_age: Duration,
}

impl Fetched {
    fn age(&self) -> Duration {
        self.at.elapsed()
    }

    /// Past its maximum age, but still usable while its provider cannot be reached.
    fn within_grace(&self) -> bool {
        self.age() < self.max_age + STALE_GRACE
    }
}

impl JwksCache {
    pub fn new(
        url: Url,
        min_refetch_interval: Duration,
        max_age: Duration,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            shared: Arc::new(Shared {
                url,
                client,
                min_refetch_interval,
                max_age: max_age.max(min_refetch_interval),
                current: Mutex::default(),
                last_attempt: Mutex::default(),
                last_failure: Mutex::default(),
                fetching: tokio::sync::Mutex::const_new(()),
                generation: AtomicU64::new(0),
                refreshing: AtomicBool::new(false),
            }),
        })
    }

    /// Whether a key set has been fetched: when none has yet, one is fetched now (at most
    /// once per least refetch interval, shared with requests that need it).
    pub async fn has_keys(&self) -> bool {
        self.shared.snapshot().is_some() || self.shared.refresh(Instant::now()).await.is_ok()
    }

    /// Changes whenever a refresh withdraws a key.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::SeqCst)
    }

    /// Whether the key set is within its maximum age (none fetched yet counts as fresh: there
    /// is nothing a token could have been verified with).
    pub fn is_fresh(&self) -> bool {
        self.shared
            .snapshot()
            .is_none_or(|fetched| fetched.age() < fetched.max_age)
    }

    /// Starts a background refresh when the set is due for one, without waiting for it.
    pub fn keep_fresh(&self) {
        let due = self
            .shared
            .snapshot()
            .is_some_and(|fetched| fetched.age() >= fetched.max_age * 3 / 4);
        if !due || !self.shared.may_refetch() || self.shared.refreshing.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let shared = self.shared.clone();
        let needed_after = Instant::now();
        tokio::spawn(async move {
            if let Err(error) = shared.refresh(needed_after).await {
                tracing::warn!(target: "quilt_mcp::auth", %error, "refreshing the identity provider's keys failed");
            }
            shared.refreshing.store(false, Ordering::SeqCst);
        });
    }

    /// The key for `kid`; with no `kid`, the only key of a one-key set.
    pub async fn key_for(&self, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        let unknown = || AuthError::UnknownKey(kid.map(str::to_owned));
        let shared = &self.shared;
        let fetched = match shared.snapshot() {
            Some(fetched) if fetched.age() < fetched.max_age => {
                self.keep_fresh();
                metrics().jwks(CacheEvent::Hit);
                fetched
            }
            // Past its age while another request fetches: go on with it rather than wait.
            Some(stale) if stale.within_grace() && shared.fetching.try_lock().is_err() => stale,
            stale => match shared.refresh(Instant::now()).await {
                Ok(fetched) => fetched,
                Err(error) => match stale {
                    Some(stale) if stale.within_grace() => {
                        tracing::warn!(target: "quilt_mcp::auth", %error, "using the identity provider's previous keys");
                        stale
                    }
                    _ => return Err(error),
                },
            },
        };
        if let Some(key) = find(&fetched.keys, kid) {
            return key;
        }
        if !shared.may_refetch() {
            return Err(unknown());
        }
        let refetched = shared.refresh(Instant::now()).await?;
        find(&refetched.keys, kid).unwrap_or_else(|| Err(unknown()))
    }
}

impl Shared {
    fn snapshot(&self) -> Option<Fetched> {
        self.current.lock().expect("not poisoned").clone()
    }

    fn may_refetch(&self) -> bool {
        self.last_attempt
            .lock()
            .expect("not poisoned")
            .is_none_or(|at| at.elapsed() >= self.min_refetch_interval)
    }

    /// A key set fetched after `needed_after`: the one another request just fetched, or a new
    /// one. A fetch that failed after `needed_after`, or less than the least refetch interval
    /// ago, is not tried again: its error is the answer.
    async fn refresh(&self, needed_after: Instant) -> Result<Fetched, AuthError> {
        let _single_flight = self.fetching.lock().await;
        if let Some(fetched) = self.snapshot()
            && fetched.at >= needed_after
        {
            return Ok(fetched);
        }
        if let Some((at, error)) = &*self.last_failure.lock().expect("not poisoned")
            && (*at >= needed_after || at.elapsed() < self.min_refetch_interval)
        {
            return Err(error.clone());
        }
        *self.last_attempt.lock().expect("not poisoned") = Some(Instant::now());
        let (keys, max_age) = match self.fetch().await {
            Ok(fetched) => fetched,
            Err(error) => {
                metrics().jwks(CacheEvent::Failed);
                *self.last_failure.lock().expect("not poisoned") =
                    Some((Instant::now(), error.clone()));
                return Err(error);
            }
        };
        metrics().jwks(CacheEvent::Fetched);
        let fetched = Fetched {
            keys: Arc::new(keys),
            at: Instant::now(),
            max_age: max_age
                .unwrap_or(self.max_age)
                .clamp(self.min_refetch_interval, self.max_age),
        };
        let previous = self
            .current
            .lock()
            .expect("not poisoned")
            .replace(fetched.clone());
        if previous.is_some_and(|previous| withdraws_a_key(&previous.keys, &fetched.keys)) {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        Ok(fetched)
    }

    async fn fetch(&self) -> Result<(JwkSet, Option<Duration>), AuthError> {
        let unavailable =
            |e: reqwest::Error| AuthError::KeysUnavailable(e.without_url().to_string());
        let response = self
            .client
            .get(self.url.clone())
            .send()
            .await
            .map_err(unavailable)?;
        let response = response.error_for_status().map_err(unavailable)?;
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|value: &http::HeaderValue| value.to_str().ok())
        };
        // A cache in front of the provider may have held the set for `Age` seconds already.
        let age = header(http::header::AGE).and_then(|age| age.trim().parse().ok());
        let max_age = header(http::header::CACHE_CONTROL)
            .and_then(cache_max_age)
            .map(|max_age| max_age.saturating_sub(Duration::from_secs(age.unwrap_or(0))));
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(AuthError::KeysUnavailable(format!(
                    "the key set is larger than {MAX_JWKS_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let keys = serde_json::from_slice::<JwkSet>(&body)
            .map_err(|e| AuthError::KeysUnavailable(format!("the key set is not a JWKS: {e}")))?;
        Ok((keys, max_age))
    }
}

/// `max-age` of a `Cache-Control` value; `no-cache` and `no-store` mean "as short as allowed".
fn cache_max_age(value: &str) -> Option<Duration> {
    value.split(',').map(str::trim).find_map(|directive| {
        let directive = directive.to_ascii_lowercase();
        if directive == "no-cache" || directive == "no-store" {
            return Some(Duration::ZERO);
        }
        let seconds = directive.strip_prefix("max-age=")?;
        seconds
            .trim_matches('"')
            .parse()
            .ok()
            .map(Duration::from_secs)
    })
}

fn withdraws_a_key(before: &JwkSet, after: &JwkSet) -> bool {
    before.keys.iter().any(|key| !after.keys.contains(key))
}

fn find(set: &JwkSet, kid: Option<&str>) -> Option<Result<DecodingKey, AuthError>> {
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        None if set.keys.len() == 1 => &set.keys[0],
        None => return None,
    };
    Some(DecodingKey::from_jwk(jwk).map_err(|_| AuthError::UnknownKey(kid.map(str::to_owned))))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::cache_max_age;

    #[test]
    fn reads_max_age_among_other_directives() {
        assert_eq!(
            cache_max_age("public, max-age=120, must-revalidate"),
            Some(Duration::from_secs(120))
        );
        assert_eq!(cache_max_age("Max-Age=5"), Some(Duration::from_secs(5)));
        assert_eq!(cache_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(cache_max_age("public"), None);
        assert_eq!(cache_max_age("max-age=soon"), None);
    }
}
