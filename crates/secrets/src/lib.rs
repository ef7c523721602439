//! Encryption at rest: keys, sealing and opening credentials, rotation.
//!
//! Credentials are sealed with AES-256-GCM under a [`Keyring`] before any store sees them, so a
//! database file or dump holds only ciphertext.
//! Each [`Sealed`] envelope names the key that sealed it, which is what makes rotation possible:
//! add a new current key, keep the old one for opening, and [`Keyring::reseal`] every row.
//! [`SecretString`] carries configuration secrets (the keys themselves, database passwords) so they
//! never show up in logs through `Debug` or `Display`.
//! Key loading from files or the environment is left to the settings code in `cli`; this crate only
//! takes the already-read values.

mod error;
mod keyring;
mod sealed;
mod secret_string;

pub use error::SecretsError;
pub use keyring::{KEY_LEN, Keyring, generate_key};
pub use sealed::{NONCE_LEN, SEALED_FORMAT_VERSION, Sealed};
pub use secret_string::SecretString;
pub use zeroize::Zeroizing;
