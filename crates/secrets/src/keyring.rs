//! The keyring: AES-256-GCM keys by id, one of them current, and sealing, opening and resealing.
//!
//! Every seal draws a fresh random 96-bit nonce.
//! NIST SP 800-38D caps random nonces at 2^32 messages per key; credentials are sealed once per
//! connection and once per token refresh, far below that, and rotation resets the count.
//! Callers pass associated data (the connection id, in practice) so a sealed blob copied onto
//! another row does not open there.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use rand::rngs::OsRng;
use zeroize::Zeroizing;

use crate::SecretsError;
use crate::sealed::{NONCE_LEN, SEALED_FORMAT_VERSION, Sealed, header};

/// Length of an AES-256 key.
pub const KEY_LEN: usize = 32;

/// Returns a new random key as standard base64 of 32 bytes, the form [`Keyring::from_base64`] reads.
///
/// # Panics
///
/// When the operating system's random number generator fails, which leaves nothing safe to do.
pub fn generate_key() -> String {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    OsRng.fill_bytes(key.as_mut());
    STANDARD.encode(key.as_ref())
}

/// Checks that a key id fits the envelope (1 to 255 bytes) and is plain ASCII `[A-Za-z0-9._-]`.
pub(crate) fn validate_key_id(key_id: &str) -> Result<(), SecretsError> {
    let valid_chars = key_id
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'));
    if key_id.is_empty() || key_id.len() > 255 || !valid_chars {
        return Err(SecretsError::InvalidKeyId(key_id.to_owned()));
    }
    Ok(())
}

/// AES-256-GCM keys by id; seals with the current one and opens with whichever an envelope names.
///
/// `Debug` prints the key ids only.
/// Key bytes are wiped from memory when the keyring is dropped.
#[derive(Clone)]
pub struct Keyring {
    current_key_id: String,
    keys: BTreeMap<String, Zeroizing<[u8; KEY_LEN]>>,
}

impl Keyring {
    /// Builds a keyring from raw keys; `current_key_id` names the one new envelopes are sealed with.
    ///
    /// # Errors
    ///
    /// [`SecretsError::InvalidKeyId`] for an id outside `[A-Za-z0-9._-]{1,255}`,
    /// [`SecretsError::DuplicateKeyId`] when an id repeats, and
    /// [`SecretsError::MissingCurrentKey`] when no key has the current id.
    pub fn new(
        current_key_id: &str,
        keys: impl IntoIterator<Item = (String, [u8; KEY_LEN])>,
    ) -> Result<Keyring, SecretsError> {
        let mut keyring = Keyring {
            current_key_id: current_key_id.to_owned(),
            keys: BTreeMap::new(),
        };
        for (key_id, key) in keys {
            keyring.insert(key_id, Zeroizing::new(key))?;
        }
        keyring.check_current()?;
        Ok(keyring)
    }

    /// Builds a keyring from `(id, base64 key)` pairs, as they come from configuration.
    ///
    /// # Errors
    ///
    /// Those of [`Keyring::new`], plus [`SecretsError::KeyEncoding`] for a key that is not standard
    /// base64 and [`SecretsError::KeyLength`] for one that does not decode to 32 bytes.
    pub fn from_base64<I, K>(current_key_id: &str, keys: &[(I, K)]) -> Result<Keyring, SecretsError>
    where
        I: AsRef<str>,
        K: AsRef<str>,
    {
        let mut keyring = Keyring {
            current_key_id: current_key_id.to_owned(),
            keys: BTreeMap::new(),
        };
        for (key_id, encoded) in keys {
            let key_id = key_id.as_ref();
            let decoded = Zeroizing::new(
                STANDARD
                    .decode(encoded.as_ref().trim())
                    .map_err(|_| SecretsError::KeyEncoding(key_id.to_owned()))?,
            );
            let key: [u8; KEY_LEN] =
                decoded
                    .as_slice()
                    .try_into()
                    .map_err(|_| SecretsError::KeyLength {
                        id: key_id.to_owned(),
                        len: decoded.len(),
                    })?;
            keyring.insert(key_id.to_owned(), Zeroizing::new(key))?;
        }
        keyring.check_current()?;
        Ok(keyring)
    }

    fn insert(
        &mut self,
        key_id: String,
        key: Zeroizing<[u8; KEY_LEN]>,
    ) -> Result<(), SecretsError> {
        validate_key_id(&key_id)?;
        if self.keys.contains_key(&key_id) {
            return Err(SecretsError::DuplicateKeyId(key_id));
        }
        self.keys.insert(key_id, key);
        Ok(())
    }

    fn check_current(&self) -> Result<(), SecretsError> {
        validate_key_id(&self.current_key_id)?;
        if !self.keys.contains_key(&self.current_key_id) {
            return Err(SecretsError::MissingCurrentKey(self.current_key_id.clone()));
        }
        Ok(())
    }

    /// Returns the id new envelopes are sealed under.
    pub fn current_key_id(&self) -> &str {
        &self.current_key_id
    }

    /// Returns the ids of all keys held, in sorted order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Seals `plaintext` under the current key, binding it to `aad`.
    ///
    /// The same `aad` must be given to [`Keyring::open`]; use something that identifies where the
    /// envelope is stored, such as the connection id.
    ///
    /// # Panics
    ///
    /// When the operating system's random number generator fails.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Sealed {
        let key = self
            .keys
            .get(&self.current_key_id)
            .expect("the current key is checked at construction");
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let associated_data = associated_data(SEALED_FORMAT_VERSION, &self.current_key_id, aad);
        let ciphertext = cipher(key)
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &associated_data,
                },
            )
            .expect("AES-GCM encryption fails only for inputs over 64 GiB");
        Sealed::new(self.current_key_id.clone(), nonce, ciphertext)
    }

    /// Opens an envelope with the key it names, checking it against `aad`.
    ///
    /// # Errors
    ///
    /// [`SecretsError::UnknownKey`] when the keyring lacks the envelope's key, and
    /// [`SecretsError::Decrypt`] when the key, the associated data or any byte does not match.
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        let key = self
            .keys
            .get(sealed.key_id())
            .ok_or_else(|| SecretsError::UnknownKey(sealed.key_id().to_owned()))?;
        let associated_data = associated_data(sealed.version(), sealed.key_id(), aad);
        let plaintext = cipher(key)
            .decrypt(
                Nonce::from_slice(sealed.nonce()),
                Payload {
                    msg: sealed.ciphertext(),
                    aad: &associated_data,
                },
            )
            .map_err(|_| SecretsError::Decrypt)?;
        Ok(Zeroizing::new(plaintext))
    }

    /// Opens an envelope with whichever key sealed it and seals the plaintext again under the
    /// current key, with the same `aad`; the step of a key rotation.
    ///
    /// # Errors
    ///
    /// Those of [`Keyring::open`].
    pub fn reseal(&self, sealed: &Sealed, aad: &[u8]) -> Result<Sealed, SecretsError> {
        let plaintext = self.open(sealed, aad)?;
        Ok(self.seal(&plaintext, aad))
    }

    /// Seals a JSON value (a credentials object) as its compact serialization.
    pub fn seal_json(&self, value: &serde_json::Value, aad: &[u8]) -> Sealed {
        let plaintext = Zeroizing::new(
            serde_json::to_vec(value).expect("a serde_json::Value always serializes"),
        );
        self.seal(&plaintext, aad)
    }

    /// Opens an envelope sealed by [`Keyring::seal_json`].
    ///
    /// The returned value is not wiped on drop; keep it short-lived.
    ///
    /// # Errors
    ///
    /// Those of [`Keyring::open`], and [`SecretsError::Json`] when the plaintext is not JSON.
    pub fn open_json(
        &self,
        sealed: &Sealed,
        aad: &[u8],
    ) -> Result<serde_json::Value, SecretsError> {
        let plaintext = self.open(sealed, aad)?;
        Ok(serde_json::from_slice(&plaintext)?)
    }
}

fn cipher(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))
}

/// The envelope header followed by the caller's data; the header's length prefix keeps the two
/// parts from being confused.
fn associated_data(version: u8, key_id: &str, aad: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut associated_data = header(version, key_id);
    associated_data.extend_from_slice(aad);
    Zeroizing::new(associated_data)
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current_key_id", &self.current_key_id)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests;
