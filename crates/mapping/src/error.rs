//! The one error type of this crate: a JSONata-style error code, a message and a position.
//!
//! Codes are JSONata's own (`S0203` syntax, `T2002` type, `D3001` dynamic...), those of the
//! evaluation limits (`D1011` depth, `D1012` timeout, `U1006` steps), or ours for the native
//! functions, which start with `CW` and are listed in `docs/mapping-functions.md`.

use std::fmt;

/// An expression failed to compile or to evaluate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct MappingError {
    /// The error code: JSONata's, such as `S0203` or `T2002`, or ours, such as `CW001`.
    pub code: String,
    /// What went wrong, in words.
    pub message: String,
    /// Where in the expression source the error was found, as a character offset; JSONata
    /// usually points just after the offending token.
    pub position: Option<usize>,
}

impl MappingError {
    /// Creates an error without a position.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        MappingError {
            code: code.into(),
            message: message.into(),
            position: None,
        }
    }
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.code)?;
        if let Some(position) = self.position {
            write!(f, " at position {position}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Error codes of our native functions.
pub(crate) mod codes {
    /// A value did not match the explicit date format given to `$parseDate`.
    pub(crate) const UNPARSEABLE_DATE: &str = "CW001";
    /// A strftime format string is invalid.
    pub(crate) const BAD_DATE_FORMAT: &str = "CW002";
    /// A region code given to `$e164` is not an ISO 3166 country code.
    pub(crate) const BAD_REGION: &str = "CW003";
    /// The chunk size given to `$chunk` is not a positive integer.
    pub(crate) const BAD_CHUNK_SIZE: &str = "CW004";
    /// An argument has a type the function cannot take.
    pub(crate) const BAD_ARGUMENT: &str = "CW005";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_and_without_position() {
        let mut error = MappingError::new("S0203", "expected `]` before end of expression");
        assert_eq!(
            error.to_string(),
            "`S0203`: expected `]` before end of expression"
        );
        error.position = Some(15);
        assert_eq!(
            error.to_string(),
            "`S0203` at position 15: expected `]` before end of expression"
        );
    }
}
