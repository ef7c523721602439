//! Keyset pagination of lists ordered by `(created_at, id)`: a page request, a page, and the
//! opaque cursor that names where the next page starts.
//!
//! A cursor holds the sort key of the last row handed out, not an offset, so rows inserted while
//! a client pages (which sort after every existing row, or at worst among them) never make it see
//! a row twice or skip one that existed when it started.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

/// Where a page starts: after the row with this `(created_at, id)` sort key.
///
/// Clients see only the string of [`Cursor::encode`]; its content is no contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The `created_at` of the last row of the previous page.
    pub created_at: DateTime<Utc>,
    /// The id of that row, in its string form.
    pub id: String,
}

/// Why a cursor string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a cursor this server returned")]
pub struct CursorError(String);

impl Cursor {
    /// The cursor after `created_at` and `id`.
    pub fn after(created_at: DateTime<Utc>, id: impl Into<String>) -> Cursor {
        Cursor {
            created_at,
            id: id.into(),
        }
    }

    /// Returns the opaque string form: unpadded base64url of `<microseconds>.<id>`.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}.{}",
            self.created_at.timestamp_micros(),
            self.id
        ))
    }

    /// Parses a string from [`Cursor::encode`].
    ///
    /// # Errors
    ///
    /// [`CursorError`] when the string was not made by [`Cursor::encode`].
    pub fn parse(value: &str) -> Result<Cursor, CursorError> {
        let refuse = || CursorError(value.to_owned());
        let bytes = URL_SAFE_NO_PAD.decode(value).map_err(|_| refuse())?;
        let text = String::from_utf8(bytes).map_err(|_| refuse())?;
        let (micros, id) = text.split_once('.').ok_or_else(refuse)?;
        let created_at = micros
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(refuse)?;
        let plain = |byte: u8| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_';
        if id.is_empty() || !id.bytes().all(plain) {
            return Err(refuse());
        }
        Ok(Cursor::after(created_at, id))
    }
}

/// Which page of a list to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// The most rows to return; at least 1 (a 0 is taken as 1).
    pub limit: u32,
    /// Start after this row; `None` starts at the oldest.
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// The first page of at most `limit` rows.
    pub fn first(limit: u32) -> PageRequest {
        PageRequest { limit, after: None }
    }
}

/// One page of a list, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The rows of the page, at most the requested limit.
    pub items: Vec<T>,
    /// Where the next page starts; `None` when no row follows this page.
    pub next: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_refuses_strings_it_did_not_make() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("in range");
        let cursor = Cursor::after(at, "evt_0190");
        assert_eq!(Cursor::parse(&cursor.encode()), Ok(cursor));
        for bad in [
            "",
            "!!",
            "bm90LWEtY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("12.EVT"),
        ] {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
    }
}
