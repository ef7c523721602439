//! API keys: generating them and the hash that is all the store keeps of them.
//!
//! A key is `cw_` followed by 32 random bytes in unpadded base64url (43 characters).
//! The store keeps only its SHA-256, and looks keys up by that hash.
//! A slow password hash (argon2, bcrypt) exists to make guessing low-entropy passwords expensive;
//! a key with 256 random bits cannot be guessed whatever the hash costs, so the slow hash would
//! only add latency to every request, and a plain SHA-256 is as safe here and allows an indexed
//! lookup.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use crate::IdError;
use crate::ids::check_prefixed_hex;

/// How many leading characters of a key are kept in the clear, to tell keys apart in listings.
pub const API_KEY_PREFIX_LEN: usize = 8;

/// Returns a new API key: `cw_` and 43 characters of base64url over 32 random bytes.
///
/// Show it to its owner once; store only [`ApiKeyHash::of`] it and [`api_key_prefix`].
///
/// # Panics
///
/// When the operating system's random number generator fails.
pub fn generate_api_key() -> String {
    let mut random = [0u8; 32];
    OsRng.fill_bytes(&mut random);
    format!("cw_{}", URL_SAFE_NO_PAD.encode(random))
}

/// Returns the first [`API_KEY_PREFIX_LEN`] characters of a key, the part shown in listings.
pub fn api_key_prefix(key: &str) -> String {
    key.chars().take(API_KEY_PREFIX_LEN).collect()
}

/// The SHA-256 of a full API key, as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApiKeyHash(String);

impl ApiKeyHash {
    /// Hashes a full API key as presented in an `Authorization` header.
    pub fn of(key: &str) -> ApiKeyHash {
        ApiKeyHash(hex::encode(Sha256::digest(key.as_bytes())))
    }

    /// Parses a stored hash.
    ///
    /// # Errors
    ///
    /// When the value is not 64 lowercase hex digits.
    pub fn from_hex(value: &str) -> Result<ApiKeyHash, IdError> {
        check_prefixed_hex("api key hash", "", 64, value)?;
        Ok(ApiKeyHash(value.to_owned()))
    }

    /// Returns the hash as 64 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ApiKeyHash {
    type Error = IdError;

    fn try_from(value: String) -> Result<ApiKeyHash, IdError> {
        check_prefixed_hex("api key hash", "", 64, &value)?;
        Ok(ApiKeyHash(value))
    }
}

impl From<ApiKeyHash> for String {
    fn from(hash: ApiKeyHash) -> String {
        hash.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape() {
        let key = generate_api_key();
        assert!(key.starts_with("cw_"));
        assert_eq!(key.len(), 3 + 43);
        assert!(
            key[3..]
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        );
        assert_ne!(key, generate_api_key());
        assert_eq!(api_key_prefix(&key), key[..8]);
        assert_eq!(api_key_prefix("short"), "short");
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            ApiKeyHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let hash = ApiKeyHash::of(&generate_api_key());
        assert_eq!(ApiKeyHash::from_hex(hash.as_str()), Ok(hash.clone()));
        assert!(ApiKeyHash::from_hex("abc").is_err());
        assert!(ApiKeyHash::from_hex(&hash.as_str().to_uppercase()).is_err());
    }
}
