//! PKCE (RFC 7636) with S256 only, and the random values the bridge draws.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// `BASE64URL(SHA256(value))`, the S256 transform (RFC 7636 §4.2).
pub fn s256(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(value.as_bytes()))
}

/// 32 random bytes, base64url: a code verifier (43 characters), nonce or cookie value.
pub fn verifier() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An S256 challenge is the base64url of 32 bytes.
pub fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && URL_SAFE_NO_PAD
            .decode(challenge)
            .is_ok_and(|bytes| bytes.len() == 32)
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters, whose S256 is `challenge`.
pub fn verifies(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    // Both sides are public once the code is redeemed; equality need not be constant-time.
    well_formed && s256(verifier) == challenge
}

#[cfg(test)]
mod tests {
    use super::{is_s256_challenge, s256, verifier, verifies};

    #[test]
    fn the_rfc_7636_example_verifies() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(s256(verifier), challenge);
        assert!(verifies(verifier, challenge));
        assert!(is_s256_challenge(challenge));
    }

    #[test]
    fn plain_short_or_wrong_verifiers_do_not() {
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(
            !verifies(challenge, challenge),
            "plain: the challenge as its own verifier"
        );
        assert!(!verifies("short", &s256("short")));
        assert!(!verifies(&verifier(), challenge));
        let spaced = format!("{} ", "a".repeat(43));
        assert!(!verifies(&spaced, &s256(&spaced)));
        assert!(!is_s256_challenge("plain-challenge"));
    }
}
