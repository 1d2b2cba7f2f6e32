//! Tokens this server has already verified. Clients send the same bearer with every request,
//! and an RS256 signature check costs more than a small request's whole guest run; so each
//! token is checked once and then recognised by its SHA-256 (the token itself is not kept
//! as a key). An entry lives until the token's own `exp` or a short TTL, whichever comes
//! first; and it is forgotten as soon as the identity provider's key set withdraws a key (the
//! key set's generation changes), so a withdrawn key stops being honoured at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::Caller;

pub struct VerifiedCache {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    ttl: Duration,
    capacity: usize,
}

struct Entry {
    caller: Caller,
    valid_until: SystemTime,
    key_generation: u64,
}

impl VerifiedCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::default(),
            ttl,
            capacity,
        }
    }

    /// The caller of `token` if it was verified against the key set of `key_generation`.
    pub fn get(&self, token: &str, key_generation: u64) -> Option<Caller> {
        let entries = self.entries.lock().expect("not poisoned");
        let entry = entries.get(&digest(token))?;
        (SystemTime::now() < entry.valid_until && entry.key_generation == key_generation)
            .then(|| entry.caller.clone())
    }

    /// Remembers a token verified with the key set of `key_generation` until `exp` (seconds
    /// since the epoch) or the TTL.
    pub fn insert(&self, token: &str, caller: &Caller, exp: u64, key_generation: u64) {
        let now = SystemTime::now();
        // A token may claim any `exp`; one beyond what SystemTime holds is "far future".
        let expires = UNIX_EPOCH
            .checked_add(Duration::from_secs(exp))
            .unwrap_or(now + self.ttl);
        let valid_until = (now + self.ttl).min(expires);
        let mut entries = self.entries.lock().expect("not poisoned");
        if entries.len() >= self.capacity {
            entries.retain(|_, entry| entry.valid_until > now);
        }
        if entries.len() >= self.capacity {
            // Still full of live entries: start over rather than track recency; the cost is
            // one signature check per token.
            entries.clear();
        }
        entries.insert(
            digest(token),
            Entry {
                caller: caller.clone(),
                valid_until,
                key_generation,
            },
        );
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::VerifiedCache;
    use crate::auth::Caller;
    use crate::auth::VerifiedToken;

    fn caller(subject: &str) -> Caller {
        Caller {
            subject: subject.into(),
            issuer: "https://issuer".into(),
            claims: Vec::new(),
            token: VerifiedToken::new("raw", serde_json::Map::new()),
            upstream: None,
        }
    }

    fn in_secs(secs: u64) -> u64 {
        (SystemTime::now() + Duration::from_secs(secs))
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn recognises_a_verified_token_and_no_other() {
        let cache = VerifiedCache::new(Duration::from_secs(60), 10);
        cache.insert("token-a", &caller("alice"), in_secs(600), 0);
        assert_eq!(cache.get("token-a", 0).unwrap().subject, "alice");
        assert!(cache.get("token-b", 0).is_none());
        assert!(
            cache.get("token-a", 1).is_none(),
            "a key set that withdrew a key since"
        );
    }

    #[test]
    fn never_outlives_the_token_or_the_ttl() {
        let cache = VerifiedCache::new(Duration::from_secs(60), 10);
        cache.insert("expired", &caller("alice"), in_secs(0) - 1, 0);
        assert!(cache.get("expired", 0).is_none(), "past exp");
        let short = VerifiedCache::new(Duration::ZERO, 10);
        short.insert("token", &caller("alice"), in_secs(600), 0);
        assert!(short.get("token", 0).is_none(), "past the TTL");
    }

    #[test]
    fn an_exp_beyond_the_clock_does_not_panic() {
        let cache = VerifiedCache::new(Duration::from_secs(60), 10);
        cache.insert("far", &caller("alice"), u64::MAX, 0);
        assert!(cache.get("far", 0).is_some());
    }

    #[test]
    fn stays_within_its_capacity() {
        let cache = VerifiedCache::new(Duration::from_secs(60), 3);
        for i in 0..10 {
            cache.insert(&format!("token-{i}"), &caller("alice"), in_secs(600), 0);
        }
        assert!(cache.entries.lock().unwrap().len() <= 3);
        assert!(
            cache.get("token-9", 0).is_some(),
            "the newest entry is kept"
        );
    }
}
