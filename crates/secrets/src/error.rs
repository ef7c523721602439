//! The error type of this crate: what can go wrong loading keys, parsing envelopes and opening them.
//!
//! Messages never carry key material or plaintext, only key ids and sizes.

/// Why a key could not be loaded or an envelope could not be parsed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The envelope names a key id that the keyring does not hold.
    #[error("unknown key id `{0}`")]
    UnknownKey(String),
    /// Authentication failed: wrong key, wrong associated data, or a tampered envelope.
    #[error("decryption failed: wrong key, wrong associated data or tampered ciphertext")]
    Decrypt,
    /// The keyring was built without the key it is told to seal with.
    #[error("current key id `{0}` is not among the keyring's keys")]
    MissingCurrentKey(String),
    /// Two keys were given under the same id.
    #[error("duplicate key id `{0}`")]
    DuplicateKeyId(String),
    /// A key id is empty, longer than 255 bytes, or has characters outside `[A-Za-z0-9._-]`.
    #[error("invalid key id `{0}`: use 1 to 255 characters from `A-Z a-z 0-9 . _ -`")]
    InvalidKeyId(String),
    /// A configured key is not valid base64.
    #[error("key `{0}` is not valid base64")]
    KeyEncoding(String),
    /// A configured key does not decode to exactly 32 bytes.
    #[error("key `{id}` is {len} bytes long, expected 32")]
    KeyLength {
        /// The id the key was given under.
        id: String,
        /// How many bytes it decoded to.
        len: usize,
    },
    /// An envelope's bytes do not follow the sealed format.
    #[error("malformed sealed envelope: {0}")]
    Malformed(&'static str),
    /// An envelope was written by a newer format than this build reads.
    #[error("unsupported sealed envelope version `{0}`")]
    UnsupportedVersion(u8),
    /// Opened plaintext is not the JSON that `open_json` expects, or a value did not serialize.
    #[error("sealed json: {0}")]
    Json(#[from] serde_json::Error),
}
