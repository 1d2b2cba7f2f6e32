//! Codes and refresh tokens already redeemed at this replica. OAuth 2.1 (§4.1.2, §4.3.1)
//! says a code, and a rotated refresh token, is used once; with
//! no shared state only each replica can remember what it redeemed, so a code replayed at the
//! same replica is refused, while one replayed at another replica within the code's 60 s is
//! not (it still needs its PKCE verifier, which only the client holds). Entries go once their
//! value has expired anyway; the set is bounded, the oldest going first.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

const CAPACITY: usize = 100_000;

#[derive(Default)]
pub struct RedeemedCodes {
    /// Code hash → its expiry (seconds since the epoch).
    codes: Mutex<HashMap<[u8; 32], u64>>,
}

impl RedeemedCodes {
    /// Records `code` (valid until `exp`) as redeemed at `now`; false if it already was.
    pub fn first_use(&self, code: &str, exp: u64, now: u64) -> bool {
        let key: [u8; 32] = Sha256::digest(code).into();
        let mut codes = self.codes.lock().expect("not poisoned");
        if codes.contains_key(&key) {
            return false;
        }
        if codes.len() >= CAPACITY {
            codes.retain(|_, expiry| *expiry > now);
            if codes.len() >= CAPACITY
                && let Some(oldest) = codes
                    .iter()
                    .min_by_key(|(_, expiry)| **expiry)
                    .map(|(key, _)| *key)
            {
                codes.remove(&oldest);
            }
        }
        codes.insert(key, exp);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::RedeemedCodes;

    #[test]
    fn a_code_is_redeemed_once() {
        let redeemed = RedeemedCodes::default();
        assert!(redeemed.first_use("code-a", 160, 100));
        assert!(!redeemed.first_use("code-a", 160, 101));
        assert!(redeemed.first_use("code-b", 160, 101));
    }
}
