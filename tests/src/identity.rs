//! A token issuer for tests: an RSA key whose public half is published as a JWK, and
//! helpers to mint RS256 tokens with any claims — plus the forged kinds a host must refuse.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};

/// Lifetime of the tokens [`standard_claims`] describes.
pub const TOKEN_LIFETIME_SECS: u64 = 600;

/// An RSA signing key with the `kid` under which its public key is published.
pub struct Identity {
    kid: String,
    encoding_key: EncodingKey,
    public_key: RsaPublicKey,
    public_key_pem: String,
}

impl Identity {
    pub fn generate(kid: &str) -> Result<Self> {
        let private_key =
            RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).context("generating an RSA key")?;
        let private_pem = private_key.to_pkcs1_pem(LineEnding::LF)?;
        let public_key = RsaPublicKey::from(&private_key);
        Ok(Self {
            kid: kid.to_string(),
            encoding_key: EncodingKey::from_rsa_pem(private_pem.as_bytes())?,
            public_key_pem: public_key.to_public_key_pem(LineEnding::LF)?,
            public_key,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as SPKI PEM (what `--jwt-public-key` takes, and the secret an
    /// algorithm-confusion attack signs with).
    pub fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    /// The public key as a JWK, for a JWKS document.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(self.public_key.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(self.public_key.e().to_bytes_be()),
        })
    }

    /// An RS256 token over `claims`, its header naming this key's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(claims, Algorithm::RS256, Some(&self.kid))
    }

    /// An RS256 token signed by this key but naming `kid` (e.g. one nobody published).
    pub fn sign_with_kid(&self, claims: &Value, kid: &str) -> String {
        self.sign_as(claims, Algorithm::RS256, Some(kid))
    }

    /// A token signed by this key with `algorithm` (an RSA one: RS256/384/512, PS256/384/512),
    /// its header naming `kid` or no key at all.
    pub fn sign_as(&self, claims: &Value, algorithm: Algorithm, kid: Option<&str>) -> String {
        let mut header = Header::new(algorithm);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding_key)
            .expect("RSA signing with an RSA algorithm cannot fail")
    }
}

/// A JWKS document publishing `identities`.
pub fn jwks(identities: &[&Identity]) -> Value {
    json!({"keys": identities.iter().map(|identity| identity.jwk()).collect::<Vec<_>>()})
}

/// Valid claims for `subject`: issued now, usable now, expiring in [`TOKEN_LIFETIME_SECS`].
pub fn standard_claims(issuer: &str, audience: &str, subject: &str) -> Value {
    let now = now_secs();
    json!({
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME_SECS,
        // What a provider configured for this server grants: every tool.
        "scope": "quilt:read quilt:write quilt:delete",
    })
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// `alg: none` with an empty signature: accepted only by a verifier that lets the
/// token choose its algorithm.
pub fn unsigned_token(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    format!("{}.{}.", encode_segment(&header), encode_segment(claims))
}

/// HS256 keyed with `secret`: with the RSA public key PEM as the secret this is the
/// classic algorithm-confusion forgery against verifiers that trust the header's `alg`.
pub fn hs256_token(secret: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret))
        .expect("HS256 signing cannot fail")
}

fn encode_segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON encodes"))
}
