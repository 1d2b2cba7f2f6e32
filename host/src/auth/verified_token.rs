//! The caller's bearer token after validation, kept for credential sources that exchange it
//! (STS `AssumeRoleWithWebIdentity`, the Quilt registry). It never reaches a log line: its
//! `Debug` shows nothing of it. The guest gets it only as the registry's bearer, when the
//! deployment forwards it, and the egress hook lets it travel to the registry alone.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

#[derive(Clone)]
pub struct VerifiedToken {
    raw: Arc<str>,
    claims: Arc<Map<String, Value>>,
}

impl VerifiedToken {
    pub fn new(raw: &str, claims: Map<String, Value>) -> Self {
        Self {
            raw: raw.into(),
            claims: Arc::new(claims),
        }
    }

    /// The token exactly as the caller sent it.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Any claim of the token, forwarded or not.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }
}

impl fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerifiedToken(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::VerifiedToken;

    #[test]
    fn debug_output_never_contains_the_token() {
        let token = VerifiedToken::new("eyJhbGciOi.secret-part.sig", Map::new());
        assert_eq!(format!("{token:?}"), "VerifiedToken(redacted)");
    }
}
