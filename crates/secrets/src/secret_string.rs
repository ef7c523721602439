//! A string whose `Debug` and `Display` print `[redacted]`, for secrets read from configuration.
//!
//! It deserializes from a plain string so settings structs can hold it directly, and deliberately
//! does not serialize: writing a secret back out must be spelled out with [`SecretString::expose`].
//! The buffer is wiped when the value is dropped.

use std::fmt;

use zeroize::Zeroize;

/// A secret string that never prints itself.
#[derive(Clone, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> SecretString {
        SecretString(secret.into())
    }

    /// Returns the secret itself; every call site is a place where it may leak, so keep them few.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretString {
    fn from(secret: String) -> SecretString {
        SecretString(secret)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let secret = SecretString::new("hunter2-very-secret");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        #[derive(Debug)]
        #[allow(dead_code)] // read only through Debug, which is the point of the test
        struct Settings {
            password: SecretString,
        }
        let settings = Settings {
            password: secret.clone(),
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert_eq!(secret.expose(), "hunter2-very-secret");
    }

    #[test]
    fn deserializes_from_a_plain_string() {
        let secret: SecretString =
            serde_json::from_str(r#""from-config""#).expect("valid json string");
        assert_eq!(secret.expose(), "from-config");
    }
}
