//! The bridge's keys: each configured secret yields, through HKDF, an Ed25519 key that signs
//! access tokens (published in the JWKS under its `kid`) and an XChaCha20-Poly1305 key that
//! seals what the bridge hands out and must read back unchanged (codes, refresh tokens, client
//! registrations, the upstream round trip). Every replica derives the same keys from the same
//! secrets, which is what lets any replica serve any step with no shared store.
//!
//! Libraries: `hkdf` + `sha2` (RustCrypto) derive the keys; `ed25519-dalek` is the Ed25519
//! implementation `jsonwebtoken` itself uses; `chacha20poly1305` (RustCrypto, audited) is the
//! AEAD — its 24-byte nonces are safe to draw at random, so no counter has to be shared.

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use hkdf::Hkdf;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Fewest secret bytes accepted: a 256-bit key.
const MIN_SECRET_BYTES: usize = 32;
const KID_BYTES: usize = 8;
const NONCE_BYTES: usize = 24;

/// What a sealed value is for; it is bound into the AEAD, so a value sealed for one purpose
/// (a registration, say) cannot be passed off as another (a code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Client,
    Consent,
    UpstreamState,
    Code,
    RefreshToken,
    Upstream,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Client => b"quilt-mcp/client",
            Purpose::Consent => b"quilt-mcp/consent",
            Purpose::UpstreamState => b"quilt-mcp/upstream-state",
            Purpose::Code => b"quilt-mcp/code",
            Purpose::RefreshToken => b"quilt-mcp/refresh-token",
            Purpose::Upstream => b"quilt-mcp/upstream-tokens",
        }
    }
}

/// Why a sealed value does not open; deliberately not more precise than that.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the value was not issued by this server, was altered, or its key was retired")]
pub struct Unsealable;

struct BridgeKey {
    kid: String,
    kid_bytes: [u8; KID_BYTES],
    signing: EncodingKey,
    verifying: DecodingKey,
    public_x: String,
    sealing: XChaCha20Poly1305,
}

/// The keys, current first.
pub struct KeyRing {
    keys: Vec<BridgeKey>,
}

impl KeyRing {
    /// From `--oauth-key` values (base64, standard or URL-safe).
    pub fn from_secrets(secrets: &[String]) -> anyhow::Result<Self> {
        if secrets.is_empty() {
            bail!(
                "the sign-in bridge needs --oauth-key: the base64 of 32 random bytes \
                 (`openssl rand -base64 32`), the same on every replica"
            );
        }
        let keys = secrets
            .iter()
            .enumerate()
            .map(|(index, secret)| {
                let bytes = decode_secret(secret.trim())
                    .with_context(|| format!("--oauth-key number {} is not base64", index + 1))?;
                if bytes.len() < MIN_SECRET_BYTES {
                    bail!(
                        "--oauth-key number {} has {} bytes; it needs at least {MIN_SECRET_BYTES}",
                        index + 1,
                        bytes.len()
                    );
                }
                BridgeKey::derive(&bytes)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self { keys })
    }

    /// A ring with one fresh random key, for development stacks and tests.
    pub fn random() -> Self {
        let mut secret = [0u8; MIN_SECRET_BYTES];
        getrandom::fill(&mut secret).expect("the operating system's random source");
        Self {
            keys: vec![BridgeKey::derive(&secret).expect("a 32-byte secret derives keys")],
        }
    }

    fn current(&self) -> &BridgeKey {
        &self.keys[0]
    }

    /// The `kid` and key that sign new access tokens.
    pub fn signing_key(&self) -> (&str, &EncodingKey) {
        let key = self.current();
        (&key.kid, &key.signing)
    }

    /// The verifying key published under `kid`, if it is one of ours.
    pub fn verifying_key(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys
            .iter()
            .find(|key| key.kid == kid)
            .map(|key| &key.verifying)
    }

    /// The public keys as a JWKS document (RFC 7517), current first.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|key| {
                json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                       "kid": key.kid, "x": key.public_x})
            })
            .collect();
        json!({ "keys": keys })
    }

    /// `value` as JSON, encrypted and authenticated with the current key for `purpose`:
    /// base64url of kid ‖ nonce ‖ ciphertext.
    pub fn seal<T: Serialize>(&self, purpose: Purpose, value: &T) -> String {
        let key = self.current();
        let plaintext = serde_json::to_vec(value).expect("sealed values serialize");
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).expect("the operating system's random source");
        let ciphertext = key
            .sealing
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plaintext,
                    aad: purpose.label(),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any length used here");
        let mut sealed = Vec::with_capacity(KID_BYTES + NONCE_BYTES + ciphertext.len());
        sealed.extend_from_slice(&key.kid_bytes);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        URL_SAFE_NO_PAD.encode(sealed)
    }

    /// The value `seal` sealed for `purpose` with any key of the ring.
    pub fn open<T: DeserializeOwned>(
        &self,
        purpose: Purpose,
        sealed: &str,
    ) -> Result<T, Unsealable> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| Unsealable)?;
        if bytes.len() < KID_BYTES + NONCE_BYTES {
            return Err(Unsealable);
        }
        let (kid, rest) = bytes.split_at(KID_BYTES);
        let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| Unsealable)?;
        let key = self
            .keys
            .iter()
            .find(|key| key.kid_bytes == kid)
            .ok_or(Unsealable)?;
        let plaintext = key
            .sealing
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose.label(),
                },
            )
            .map_err(|_| Unsealable)?;
        serde_json::from_slice(&plaintext).map_err(|_| Unsealable)
    }
}

impl BridgeKey {
    fn derive(secret: &[u8]) -> anyhow::Result<Self> {
        let hkdf = Hkdf::<Sha256>::new(Some(b"quilt-mcp oauth bridge v1"), secret);
        let mut seed = [0u8; 32];
        let mut sealing = [0u8; 32];
        hkdf.expand(b"ed25519 signing key", &mut seed)
            .and_then(|()| hkdf.expand(b"xchacha20poly1305 sealing key", &mut sealing))
            .map_err(|_| anyhow::anyhow!("HKDF output length"))?;
        let signing_key = SigningKey::from_bytes(&seed);
        let public = signing_key.verifying_key().to_bytes();
        let public_x = URL_SAFE_NO_PAD.encode(public);
        let digest = Sha256::digest(public);
        let mut kid_bytes = [0u8; KID_BYTES];
        kid_bytes.copy_from_slice(&digest[..KID_BYTES]);
        let der = signing_key
            .to_pkcs8_der()
            .context("encoding the signing key")?;
        Ok(Self {
            kid: URL_SAFE_NO_PAD.encode(kid_bytes),
            kid_bytes,
            signing: EncodingKey::from_ed_der(der.as_bytes()),
            verifying: DecodingKey::from_ed_components(&public_x)
                .context("the derived public key")?,
            public_x,
            sealing: XChaCha20Poly1305::new((&sealing).into()),
        })
    }
}

fn decode_secret(secret: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD
        .decode(secret)
        .or_else(|_| URL_SAFE_NO_PAD.decode(secret.trim_end_matches('=')))
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    use super::{KeyRing, Purpose};

    fn secret(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    #[test]
    fn sealed_values_open_only_for_their_purpose() {
        let ring = KeyRing::from_secrets(&[secret(1)]).unwrap();
        let sealed = ring.seal(Purpose::Code, &"alice");
        assert_eq!(
            ring.open::<String>(Purpose::Code, &sealed).unwrap(),
            "alice"
        );
        assert!(ring.open::<String>(Purpose::RefreshToken, &sealed).is_err());
    }

    #[test]
    fn a_flipped_bit_or_a_foreign_key_does_not_open() {
        let ring = KeyRing::from_secrets(&[secret(1)]).unwrap();
        let sealed = ring.seal(Purpose::Code, &"alice");
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(&bytes);
        assert!(ring.open::<String>(Purpose::Code, &tampered).is_err());
        let other = KeyRing::from_secrets(&[secret(2)]).unwrap();
        assert!(other.open::<String>(Purpose::Code, &sealed).is_err());
        assert!(ring.open::<String>(Purpose::Code, "not base64!").is_err());
        assert!(ring.open::<String>(Purpose::Code, "").is_err());
    }

    #[test]
    fn a_rotated_ring_opens_and_verifies_what_the_old_key_made() {
        let old = KeyRing::from_secrets(&[secret(1)]).unwrap();
        let sealed = old.seal(Purpose::RefreshToken, &42u32);
        let (old_kid, _) = old.signing_key();
        let rotated = KeyRing::from_secrets(&[secret(2), secret(1)]).unwrap();
        assert_eq!(
            rotated.open::<u32>(Purpose::RefreshToken, &sealed).unwrap(),
            42
        );
        assert!(rotated.verifying_key(old_kid).is_some());
        assert_ne!(rotated.signing_key().0, old_kid);
        assert_eq!(rotated.jwks()["keys"].as_array().unwrap().len(), 2);
        let retired = KeyRing::from_secrets(&[secret(2)]).unwrap();
        assert!(retired.open::<u32>(Purpose::RefreshToken, &sealed).is_err());
    }

    #[test]
    fn short_or_missing_secrets_are_refused() {
        assert!(KeyRing::from_secrets(&[]).is_err());
        let short = KeyRing::from_secrets(&[STANDARD.encode([7u8; 16])])
            .err()
            .unwrap();
        assert!(format!("{short:#}").contains("at least 32"), "{short:#}");
        assert!(KeyRing::from_secrets(&["%%%".into()]).is_err());
    }
}
