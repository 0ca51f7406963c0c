//! Keys derived from the one `SWITCHBOARD_SECRET_KEY`, secrets at rest, passwords and tokens.
//!
//! - Stored secrets (webhook signing secrets, receiver credentials, channel credentials) are
//!   encrypted with XChaCha20-Poly1305: `v1:<base64(nonce || ciphertext)>`.
//! - Passwords: argon2id (PHC string). API tokens: high-entropy random, stored as hex SHA-256.

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use base64::{
    Engine, engine::general_purpose::STANDARD as B64, engine::general_purpose::URL_SAFE_NO_PAD,
};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit},
};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Keys derived from the master secret, one per purpose.
#[derive(Clone)]
pub struct Keys {
    jwt: [u8; 32],
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(***)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("stored secret cannot be decrypted with the current SWITCHBOARD_SECRET_KEY")]
pub struct DecryptError;

fn derive(master: &[u8], purpose: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).expect("HMAC takes any key length");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

impl Keys {
    pub fn from_master(master: &str) -> Self {
        let enc = derive(master.as_bytes(), "switchboard/encryption/v1");
        Self {
            jwt: derive(master.as_bytes(), "switchboard/jwt/v1"),
            cipher: XChaCha20Poly1305::new(&enc.into()),
        }
    }

    /// HMAC key for HS256 JWTs.
    pub fn jwt_key(&self) -> &[u8] {
        &self.jwt
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory input");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("v1:{}", B64.encode(out))
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, DecryptError> {
        let raw = stored
            .strip_prefix("v1:")
            .and_then(|b| B64.decode(b).ok())
            .filter(|r| r.len() > 24)
            .ok_or(DecryptError)?;
        let (nonce, ct) = raw.split_at(24);
        let pt = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| DecryptError)?;
        String::from_utf8(pt).map_err(|_| DecryptError)
    }
}

/// A new random master key (used when none is configured).
pub fn generate_master_key() -> String {
    random_token(32)
}

/// `bytes` random bytes, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A webhook signing secret in Standard Webhooks form: `whsec_` + base64 of 24 random bytes.
pub fn new_webhook_secret() -> String {
    let mut buf = [0u8; 24];
    rand::rng().fill_bytes(&mut buf);
    format!("whsec_{}", B64.encode(buf))
}

/// Hex SHA-256, for looking up high-entropy tokens (API tokens, client secrets).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with default params cannot fail")
        .to_string()
}

/// Constant-time verification; a malformed stored hash verifies as false.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A PHC hash of a random password: verified against when the email is unknown, so that
/// login timing does not reveal which emails exist.
pub fn dummy_password_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password(&random_token(16)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypts_and_decrypts_with_the_same_master_only() {
        let k = Keys::from_master("master-one");
        let stored = k.encrypt("whsec_abc");
        assert!(stored.starts_with("v1:"));
        assert!(!stored.contains("whsec_abc"));
        assert_eq!(k.decrypt(&stored).unwrap(), "whsec_abc");
        assert!(Keys::from_master("master-two").decrypt(&stored).is_err());
        assert!(k.decrypt("v1:garbage").is_err());
    }

    #[test]
    fn password_hashes_verify_only_the_right_password() {
        let h = hash_password("correct horse");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn webhook_secrets_have_the_standard_prefix_and_24_bytes() {
        let s = new_webhook_secret();
        let raw = B64.decode(s.strip_prefix("whsec_").unwrap()).unwrap();
        assert_eq!(raw.len(), 24);
    }
}
