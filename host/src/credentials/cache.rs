//! What was exchanged for a caller's token (AWS credentials; a registry token), reused per
//! token until shortly before it expires.
//!
//! Keyed by the token's SHA-256, never the token itself. Concurrent requests with the same token
//! share one exchange (a per-key `OnceCell` that all of them await). Failures are handed to the
//! requests that waited for them and then forgotten, so the next request tries again. The number
//! of tokens kept is bounded; past it the oldest entry goes. One token keeps at most eight variants
//! (credentials under different session policies); a ninth replaces that token's own oldest.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::{AwsCredentials, CredentialError, CredentialSource};
use crate::access::SessionPolicy;
use crate::auth::Caller;
use crate::metrics::labels::CacheEvent;
use crate::metrics::metrics;

type TokenHash = [u8; 32];
/// A token's hash and its variant's.
type Key = (TokenHash, TokenHash);
type Exchange<T> = Arc<OnceCell<Result<T, CredentialError>>>;

/// Most variants kept for one token: a caller who connects to bucket after bucket
/// (`/mcp/b/{bucket}`, one session policy each) replaces their own oldest, never other callers'.
const MAX_VARIANTS: usize = 8;

/// Something exchanged that expires.
pub trait Expiring: Clone + Send + Sync {
    /// Seconds since the Unix epoch; `None` never expires.
    fn expiration(&self) -> Option<u64>;
}

impl Expiring for AwsCredentials {
    fn expiration(&self) -> Option<u64> {
        self.expiration
    }
}

/// One exchange per caller token, kept until `refresh_margin` before it expires.
pub struct PerToken<T> {
    refresh_margin: Duration,
    capacity: NonZeroUsize,
    entries: Mutex<Entries<T>>,
}

struct Entries<T> {
    by_token: HashMap<Key, Entry<T>>,
    /// Increases with every insertion: the smallest is the oldest entry.
    next_age: u64,
}

struct Entry<T> {
    exchange: Exchange<T>,
    age: u64,
}

impl<T: Expiring> PerToken<T> {
    pub fn new(refresh_margin: Duration, capacity: NonZeroUsize) -> Self {
        Self {
            refresh_margin,
            capacity,
            entries: Mutex::new(Entries {
                by_token: HashMap::new(),
                next_age: 0,
            }),
        }
    }

    /// What `token` was exchanged for, by `exchange` when nothing fresh is kept for it.
    /// `variant` tells apart exchanges of one token for different things (credentials under
    /// different session policies).
    pub async fn get_or_exchange<F>(
        &self,
        token: &str,
        variant: &str,
        exchange: F,
    ) -> Result<T, CredentialError>
    where
        F: Future<Output = Result<T, CredentialError>>,
    {
        let key: Key = (Sha256::digest(token).into(), Sha256::digest(variant).into());
        let cell = self.exchange_for(key);
        let mut exchanged = false;
        let outcome = cell
            .get_or_init(|| {
                exchanged = true;
                exchange
            })
            .await
            .clone();
        metrics().credentials(match (exchanged, &outcome) {
            (false, _) => CacheEvent::Hit,
            (true, Ok(_)) => CacheEvent::Fetched,
            (true, Err(_)) => CacheEvent::Failed,
        });
        if !outcome.as_ref().is_ok_and(|value| self.fresh(value)) {
            self.forget(key, &cell);
        }
        outcome
    }

    /// The exchange to await for this token: the cached or in-flight one, else a new one.
    fn exchange_for(&self, key: Key) -> Exchange<T> {
        let mut entries = self.entries.lock().expect("not poisoned");
        if let Some(entry) = entries.by_token.get(&key) {
            let reusable = match entry.exchange.get() {
                None => true, // in flight: share it
                Some(Ok(value)) => self.fresh(value),
                Some(Err(_)) => false,
            };
            if reusable {
                return entry.exchange.clone();
            }
        }
        if !entries.by_token.contains_key(&key) {
            let variants = entries.by_token.keys().filter(|k| k.0 == key.0).count();
            let oldest = |entries: &Entries<T>, same_token: bool| {
                entries
                    .by_token
                    .iter()
                    .filter(|(k, _)| !same_token || k.0 == key.0)
                    .min_by_key(|(_, entry)| entry.age)
                    .map(|(key, _)| *key)
            };
            let evicted = if variants >= MAX_VARIANTS {
                oldest(&entries, true)
            } else if entries.by_token.len() >= self.capacity.get() {
                oldest(&entries, false)
            } else {
                None
            };
            if let Some(evicted) = evicted {
                entries.by_token.remove(&evicted);
            }
        }
        let exchange = Exchange::default();
        let age = entries.next_age;
        entries.next_age += 1;
        entries.by_token.insert(
            key,
            Entry {
                exchange: exchange.clone(),
                age,
            },
        );
        exchange
    }

    /// Drops `exchange` unless a newer one has replaced it already.
    fn forget(&self, key: Key, exchange: &Exchange<T>) {
        let mut entries = self.entries.lock().expect("not poisoned");
        if entries
            .by_token
            .get(&key)
            .is_some_and(|entry| Arc::ptr_eq(&entry.exchange, exchange))
        {
            entries.by_token.remove(&key);
        }
    }

    fn fresh(&self, value: &T) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        value
            .expiration()
            .is_none_or(|expiration| now + self.refresh_margin < Duration::from_secs(expiration))
    }
}

/// A credential source whose exchanges are kept per caller token.
pub struct CachedCredentials {
    source: Arc<dyn CredentialSource>,
    cache: PerToken<AwsCredentials>,
}

impl CachedCredentials {
    pub fn new(
        source: Arc<dyn CredentialSource>,
        refresh_margin: Duration,
        capacity: NonZeroUsize,
    ) -> Self {
        Self {
            source,
            cache: PerToken::new(refresh_margin, capacity),
        }
    }
}

#[async_trait::async_trait]
impl CredentialSource for CachedCredentials {
    fn name(&self) -> &'static str {
        self.source.name()
    }

    async fn credentials(
        &self,
        caller: Option<&Caller>,
        policy: &SessionPolicy,
    ) -> Result<AwsCredentials, CredentialError> {
        let Some(caller) = caller else {
            return self.source.credentials(None, policy).await;
        };
        let variant = match self.source.enforces_session_policies() {
            true => policy.key(),
            false => String::new(),
        };
        let exchange = self.source.credentials(Some(caller), policy);
        self.cache
            .get_or_exchange(caller.token.raw(), &variant, exchange)
            .await
    }

    fn enforces_session_policies(&self) -> bool {
        self.source.enforces_session_policies()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::Map;

    use std::num::NonZeroUsize;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::CachedCredentials;
    use crate::access::SessionPolicy;
    use crate::auth::Caller;
    use crate::auth::VerifiedToken;
    use crate::credentials::{AwsCredentials, CredentialError, CredentialSource};

    const MARGIN: Duration = Duration::from_secs(300);

    /// Counts exchanges; each takes a little while, so concurrent callers overlap.
    struct CountingSource {
        exchanges: AtomicUsize,
        lifetime_secs: u64,
        failures_first: usize,
        /// Whether it narrows credentials to the session policy (as web-identity does).
        enforces: bool,
    }

    impl CountingSource {
        fn lasting(lifetime_secs: u64) -> Arc<Self> {
            Arc::new(Self {
                exchanges: AtomicUsize::new(0),
                lifetime_secs,
                failures_first: 0,
                enforces: false,
            })
        }

        fn exchanges(&self) -> usize {
            self.exchanges.load(Ordering::SeqCst)
        }
    }

    #[async_trait::async_trait]
    impl CredentialSource for CountingSource {
        fn name(&self) -> &'static str {
            "counting"
        }

        fn enforces_session_policies(&self) -> bool {
            self.enforces
        }

        async fn credentials(
            &self,
            _: Option<&Caller>,
            _: &SessionPolicy,
        ) -> Result<AwsCredentials, CredentialError> {
            let number = self.exchanges.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            if number < self.failures_first {
                return Err(CredentialError::Unavailable("STS is down".into()));
            }
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            Ok(AwsCredentials {
                access_key_id: format!("AKID{number}"),
                secret_access_key: "secret".into(),
                session_token: Some("session".into()),
                expiration: Some(now + self.lifetime_secs),
            })
        }
    }

    fn caller(token: &str) -> Caller {
        Caller {
            subject: "alice".into(),
            issuer: "https://issuer.example".into(),
            claims: Vec::new(),
            token: VerifiedToken::new(token, Map::new()),
            upstream: None,
        }
    }

    /// The credentials `cache` gives `token`'s caller under the role's whole rights.
    async fn fetch(cache: &CachedCredentials, token: &str) -> AwsCredentials {
        cache
            .credentials(Some(&caller(token)), &SessionPolicy::unrestricted())
            .await
            .unwrap()
    }

    fn cache(source: &Arc<CountingSource>, capacity: usize) -> CachedCredentials {
        CachedCredentials::new(source.clone(), MARGIN, NonZeroUsize::new(capacity).unwrap())
    }

    #[tokio::test]
    async fn one_token_in_many_buckets_evicts_only_its_own_credentials() {
        use quilt_mcp_policy::tools::Permission;
        let source = Arc::new(CountingSource {
            exchanges: AtomicUsize::new(0),
            lifetime_secs: 3600,
            failures_first: 0,
            enforces: true,
        });
        let cache = cache(&source, 16);
        let read = || [Permission::Read].into_iter().collect();
        cache
            .credentials(
                Some(&caller("token-b")),
                &SessionPolicy::new(read(), Some("own")),
            )
            .await
            .unwrap();
        for bucket in 0..100 {
            let policy = SessionPolicy::new(read(), Some(&format!("bucket-{bucket}")));
            cache
                .credentials(Some(&caller("token-a")), &policy)
                .await
                .unwrap();
        }
        assert_eq!(
            cache.cache.entries.lock().unwrap().by_token.len(),
            1 + super::MAX_VARIANTS
        );
        let before = source.exchanges();
        cache
            .credentials(
                Some(&caller("token-b")),
                &SessionPolicy::new(read(), Some("own")),
            )
            .await
            .unwrap();
        assert_eq!(
            source.exchanges(),
            before,
            "the other caller's keys were kept"
        );
    }

    #[tokio::test]
    async fn credentials_under_one_session_policy_never_serve_another() {
        use crate::access::Permissions;
        use quilt_mcp_policy::tools::Permission;
        let read = SessionPolicy::new([Permission::Read].into_iter().collect(), None);
        let held = SessionPolicy::new(Permissions::all(), Some("raw"));
        for enforces in [true, false] {
            let source = Arc::new(CountingSource {
                exchanges: AtomicUsize::new(0),
                lifetime_secs: 3600,
                failures_first: 0,
                enforces,
            });
            let cache = cache(&source, 10);
            let token = caller("token-a");
            for policy in [&read, &held, &read, &SessionPolicy::unrestricted(), &held] {
                cache.credentials(Some(&token), policy).await.unwrap();
            }
            let expected = if enforces { 3 } else { 1 };
            assert_eq!(source.exchanges(), expected, "enforcing: {enforces}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn fifty_concurrent_requests_share_one_exchange() {
        let source = CountingSource::lasting(3600);
        let cache = Arc::new(cache(&source, 10));
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let cache = cache.clone();
            requests.spawn(async move { fetch(&cache, "token-a").await.access_key_id });
        }
        let keys = requests.join_all().await;
        assert_eq!(source.exchanges(), 1);
        assert!(keys.iter().all(|key| key == "AKID0"), "{keys:?}");
    }

    #[tokio::test]
    async fn credentials_far_from_expiry_are_reused() {
        let source = CountingSource::lasting(MARGIN.as_secs() + 60);
        let cache = cache(&source, 10);
        fetch(&cache, "token-a").await;
        fetch(&cache, "token-a").await;
        assert_eq!(source.exchanges(), 1);
        fetch(&cache, "token-b").await;
        assert_eq!(source.exchanges(), 2, "another token is another exchange");
    }

    #[tokio::test]
    async fn credentials_within_the_margin_of_expiry_are_exchanged_again() {
        let source = CountingSource::lasting(MARGIN.as_secs() - 1);
        let cache = cache(&source, 10);
        let first = fetch(&cache, "token-a").await;
        let second = fetch(&cache, "token-a").await;
        assert_eq!(source.exchanges(), 2);
        assert_ne!(first.access_key_id, second.access_key_id);
    }

    #[tokio::test]
    async fn failures_are_not_kept() {
        let source = Arc::new(CountingSource {
            exchanges: AtomicUsize::new(0),
            lifetime_secs: 3600,
            failures_first: 1,
            enforces: false,
        });
        let cache = cache(&source, 10);
        assert!(
            cache
                .credentials(Some(&caller("token-a")), &SessionPolicy::unrestricted())
                .await
                .is_err()
        );
        assert!(
            cache
                .credentials(Some(&caller("token-a")), &SessionPolicy::unrestricted())
                .await
                .is_ok()
        );
        assert_eq!(source.exchanges(), 2);
    }

    #[tokio::test]
    async fn the_oldest_token_is_dropped_at_capacity() {
        let source = CountingSource::lasting(3600);
        let cache = cache(&source, 2);
        for token in ["a", "b", "c"] {
            fetch(&cache, token).await;
        }
        assert_eq!(cache.cache.entries.lock().unwrap().by_token.len(), 2);
        fetch(&cache, "c").await;
        fetch(&cache, "b").await;
        assert_eq!(source.exchanges(), 3, "b and c are still cached");
        fetch(&cache, "a").await;
        assert_eq!(source.exchanges(), 4, "a was dropped as the oldest");
    }
}
