//! Encryption at rest for Cloud access tokens, app secrets and bot secrets.
//!
//! AES-256-GCM with a random 96-bit nonce per value. Stored layout:
//! `version (1 byte) || nonce (12 bytes) || ciphertext+tag`. The version byte
//! leaves room for key rotation. Each value is bound to a context (its column
//! and organization) as associated data, so a ciphertext copied into another
//! row, column or tenant no longer decrypts.

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, OsRng, Payload, rand_core::RngCore},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    #[error("APP_ENCRYPTION_KEY must be 32 bytes encoded as base64 (e.g. `openssl rand -base64 32`)")]
    BadKey,
    #[error("stored secret cannot be decrypted with the configured APP_ENCRYPTION_KEY")]
    Undecryptable,
}

/// Encrypts and decrypts secrets, and derives the other keys the engine
/// needs from the same `APP_ENCRYPTION_KEY`. `Debug` never shows a key.
#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
    /// HMAC-SHA256 keyed by the master key: one input per derived key.
    derive: Hmac<Sha256>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher([redacted])")
    }
}

impl Cipher {
    /// Builds a cipher from a base64-encoded 32-byte key.
    pub fn from_base64(key: &str) -> Result<Self, CipherError> {
        let bytes = STANDARD.decode(key.trim()).map_err(|_| CipherError::BadKey)?;
        let aead = Aes256Gcm::new_from_slice(&bytes).map_err(|_| CipherError::BadKey)?;
        let derive = <Hmac<Sha256> as Mac>::new_from_slice(&bytes).map_err(|_| CipherError::BadKey)?;
        Ok(Self { aead, derive })
    }

    /// A fresh random key, base64-encoded (for tests and first-time set-up).
    pub fn generate_key() -> String {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        STANDARD.encode(key)
    }

    /// Encrypts `plaintext` for `context` (e.g. `wa_numbers.access_token:org=1`).
    pub fn encrypt(&self, context: &str, plaintext: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext.as_bytes(), aad: context.as_bytes() })
            .unwrap_or_else(|_| unreachable!("AES-GCM encryption of an in-memory buffer cannot fail"));
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts a value stored for `context`; any other context fails.
    pub fn decrypt(&self, context: &str, stored: &[u8]) -> Result<String, CipherError> {
        let (&version, rest) = stored.split_first().ok_or(CipherError::Undecryptable)?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return Err(CipherError::Undecryptable);
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let plain = self
            .aead
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: context.as_bytes() })
            .map_err(|_| CipherError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| CipherError::Undecryptable)
    }

    /// A 32-byte key for `purpose` (e.g. `callback-data-mac:v1`), derived from
    /// the master key: another purpose, or another master key, gives an
    /// unrelated key, and the master key cannot be recovered from it.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let mut mac = self.derive.clone();
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_uses_fresh_nonces() {
        let c = Cipher::from_base64(&Cipher::generate_key()).unwrap();
        let a = c.encrypt("t:org=1", "EAAG-token");
        let b = c.encrypt("t:org=1", "EAAG-token");
        assert_ne!(a, b, "same plaintext must not give the same ciphertext");
        assert!(!a.windows(4).any(|w| w == b"EAAG"), "plaintext must not appear in ciphertext");
        assert_eq!(c.decrypt("t:org=1", &a).unwrap(), "EAAG-token");
    }

    #[test]
    fn wrong_key_or_tampering_is_detected() {
        let c1 = Cipher::from_base64(&Cipher::generate_key()).unwrap();
        let c2 = Cipher::from_base64(&Cipher::generate_key()).unwrap();
        let mut sealed = c1.encrypt("t:org=1", "secret");
        assert!(c2.decrypt("t:org=1", &sealed).is_err());
        assert!(c1.decrypt("t:org=2", &sealed).is_err(), "a value moved to another tenant must not decrypt");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(c1.decrypt("t:org=1", &sealed).is_err());
    }

    #[test]
    fn derived_keys_depend_on_the_purpose_and_the_master_key() {
        let key = Cipher::generate_key();
        let (a, b) = (Cipher::from_base64(&key).unwrap(), Cipher::from_base64(&key).unwrap());
        assert_eq!(a.derive_key("p1"), b.derive_key("p1"), "the same master key derives the same key");
        assert_ne!(a.derive_key("p1"), a.derive_key("p2"));
        let other = Cipher::from_base64(&Cipher::generate_key()).unwrap();
        assert_ne!(a.derive_key("p1"), other.derive_key("p1"));
    }

    #[test]
    fn refuses_short_or_non_base64_keys() {
        assert!(Cipher::from_base64("c2hvcnQ=").is_err());
        assert!(Cipher::from_base64("not base64!").is_err());
    }
}
