//! The sealed envelope: what a store keeps instead of a plaintext credential.
//!
//! Binary layout, version 1 (all lengths in bytes):
//!
//! ```text
//! version (1) | key id length n (1) | key id (n, ASCII) | nonce (12) | ciphertext and GCM tag (>= 16)
//! ```
//!
//! The header (version, key id length, key id) is authenticated as part of the associated data, so
//! an envelope whose header was edited fails to open rather than being read under another key.
//! Nothing here encrypts or decrypts; that is [`crate::Keyring`]'s job.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::SecretsError;
use crate::keyring::validate_key_id;

/// The format version this build writes; it also reads only this one.
pub const SEALED_FORMAT_VERSION: u8 = 1;
/// Length of the random AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of the AES-GCM authentication tag at the end of the ciphertext.
pub(crate) const TAG_LEN: usize = 16;

/// A sealed secret: format version, the id of the key that sealed it, nonce and ciphertext.
///
/// It holds no plaintext, so it may be logged by length and key id, stored and serialized freely;
/// serde writes it as the base64 of [`Sealed::to_bytes`].
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    version: u8,
    key_id: String,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl Sealed {
    pub(crate) fn new(key_id: String, nonce: [u8; NONCE_LEN], ciphertext: Vec<u8>) -> Sealed {
        Sealed {
            version: SEALED_FORMAT_VERSION,
            key_id,
            nonce,
            ciphertext,
        }
    }

    /// Returns the envelope's format version.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Returns the id of the key that sealed this envelope.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub(crate) fn nonce(&self) -> &[u8; NONCE_LEN] {
        &self.nonce
    }

    pub(crate) fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// Encodes the envelope in the compact binary layout described in the module docs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes =
            Vec::with_capacity(2 + self.key_id.len() + NONCE_LEN + self.ciphertext.len());
        bytes.extend_from_slice(&header(self.version, &self.key_id));
        bytes.extend_from_slice(&self.nonce);
        bytes.extend_from_slice(&self.ciphertext);
        bytes
    }

    /// Parses an envelope written by [`Sealed::to_bytes`].
    ///
    /// # Errors
    ///
    /// [`SecretsError::UnsupportedVersion`] for a version other than [`SEALED_FORMAT_VERSION`],
    /// [`SecretsError::Malformed`] when the bytes are truncated or the key id is not a valid id.
    pub fn from_bytes(bytes: &[u8]) -> Result<Sealed, SecretsError> {
        let (&version, rest) = bytes
            .split_first()
            .ok_or(SecretsError::Malformed("empty envelope"))?;
        if version != SEALED_FORMAT_VERSION {
            return Err(SecretsError::UnsupportedVersion(version));
        }
        let (&key_id_len, rest) = rest
            .split_first()
            .ok_or(SecretsError::Malformed("missing key id length"))?;
        let key_id_len = usize::from(key_id_len);
        if rest.len() < key_id_len + NONCE_LEN + TAG_LEN {
            return Err(SecretsError::Malformed("envelope is truncated"));
        }
        let (key_id_bytes, rest) = rest.split_at(key_id_len);
        let key_id = std::str::from_utf8(key_id_bytes)
            .map_err(|_| SecretsError::Malformed("key id is not utf-8"))?;
        validate_key_id(key_id).map_err(|_| SecretsError::Malformed("invalid key id"))?;
        let (nonce_bytes, ciphertext) = rest.split_at(NONCE_LEN);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(nonce_bytes);
        Ok(Sealed {
            version,
            key_id: key_id.to_owned(),
            nonce,
            ciphertext: ciphertext.to_vec(),
        })
    }

    /// Encodes [`Sealed::to_bytes`] as standard, padded base64.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.to_bytes())
    }

    /// Parses the output of [`Sealed::to_base64`].
    ///
    /// # Errors
    ///
    /// [`SecretsError::Malformed`] for invalid base64, then whatever [`Sealed::from_bytes`] reports.
    pub fn from_base64(encoded: &str) -> Result<Sealed, SecretsError> {
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SecretsError::Malformed("invalid base64"))?;
        Sealed::from_bytes(&bytes)
    }
}

/// Returns the header bytes that both prefix the envelope and open the associated data.
pub(crate) fn header(version: u8, key_id: &str) -> Vec<u8> {
    // Key ids are validated to be 1..=255 bytes wherever a Sealed is built, so the length fits.
    let key_id_len =
        u8::try_from(key_id.len()).expect("key ids are validated to at most 255 bytes");
    let mut header = Vec::with_capacity(2 + key_id.len());
    header.push(version);
    header.push(key_id_len);
    header.extend_from_slice(key_id.as_bytes());
    header
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("version", &self.version)
            .field("key_id", &self.key_id)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

impl serde::Serialize for Sealed {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> serde::Deserialize<'de> for Sealed {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Sealed, D::Error> {
        let encoded = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Sealed::from_base64(&encoded).map_err(serde::de::Error::custom)
    }
}
