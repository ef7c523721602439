//! Opaque, signed list cursors.
//!
//! A cursor carries the connector's [`connector::ListCursor`] and a hash of what it was made for
//! (connection, object, filters, connector revision, override versions), signed with
//! HMAC-SHA256 so a caller can neither forge a vendor URL into it nor reuse it with other
//! filters or after the connector changed under it. It names the signing key, so cursors issued
//! before a key rotation stay valid while the old key is still known.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use connector::ListCursor;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u8,
    /// The id of the key that signed it.
    #[serde(default)]
    k: String,
    q: String,
    c: ListCursor,
}

/// Signs cursors with the current key and checks them with whichever known key signed them.
#[derive(Clone)]
pub struct CursorCodec {
    current: String,
    keys: std::collections::HashMap<String, Vec<u8>>,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec([redacted])")
    }
}

/// A hash identifying the filters of a list request.
pub fn filter_hash(parts: &[(&str, String)]) -> String {
    let mut hasher = Sha256::new();
    for (name, value) in parts {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..12])
}

impl CursorCodec {
    /// A codec signing with one `key` (named `default`).
    pub fn new(key: Vec<u8>) -> CursorCodec {
        CursorCodec::with_keys("default", [("default".to_owned(), key)])
    }

    /// A codec signing with the key `current` of `keys` and checking with any of them.
    ///
    /// # Panics
    /// Panics when `current` is not among `keys`, a broken configuration the caller built.
    pub fn with_keys(
        current: &str,
        keys: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> CursorCodec {
        let keys: std::collections::HashMap<String, Vec<u8>> = keys.into_iter().collect();
        assert!(
            keys.contains_key(current),
            "the current cursor key is known"
        );
        CursorCodec {
            current: current.to_owned(),
            keys,
        }
    }

    fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// Encodes a cursor for the filters hashed as `filters`.
    pub fn encode(&self, filters: &str, cursor: &ListCursor) -> String {
        let payload = serde_json::to_vec(&Payload {
            v: 2,
            k: self.current.clone(),
            q: filters.to_owned(),
            c: cursor.clone(),
        })
        .expect("a cursor always serialises");
        let tag = Self::mac(&self.keys[&self.current], &payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Decodes a cursor, checking its signature and that it was made for `filters`.
    ///
    /// # Errors
    /// Returns a caller-facing reason.
    pub fn decode(&self, filters: &str, text: &str) -> Result<ListCursor, &'static str> {
        let (payload_text, tag_text) = text.split_once('.').ok_or("is malformed")?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload_text)
            .map_err(|_| "is malformed")?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag_text)
            .map_err(|_| "is malformed")?;
        // The key id is read before the signature is checked; a forged id only picks which
        // known key the tag must match.
        let claimed: Payload = serde_json::from_slice(&payload).map_err(|_| "is malformed")?;
        let key = self
            .keys
            .get(&claimed.k)
            .ok_or("was not issued by this server or was altered")?;
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
        mac.update(&payload);
        mac.verify_slice(&tag)
            .map_err(|_| "was not issued by this server or was altered")?;
        let payload = claimed;
        if payload.q != filters {
            return Err("was issued for other filters; start again without a cursor");
        }
        Ok(payload.c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::PageState;

    #[test]
    fn round_trips_and_refuses_tampering_and_other_filters() {
        let codec = CursorCodec::new(b"secret".to_vec());
        let cursor = ListCursor {
            r: 1,
            p: PageState::Token {
                t: "abc".to_owned(),
            },
        };
        let text = codec.encode("f1", &cursor);
        assert_eq!(codec.decode("f1", &text), Ok(cursor));
        assert!(codec.decode("f2", &text).is_err());
        let mut tampered = text.clone();
        tampered.insert(3, 'x');
        assert!(codec.decode("f1", &tampered).is_err());
        assert!(
            CursorCodec::new(b"other".to_vec())
                .decode("f1", &text)
                .is_err()
        );
    }

    #[test]
    fn cursors_outlive_a_key_rotation_while_the_old_key_is_known() {
        let cursor = ListCursor {
            r: 0,
            p: PageState::Token {
                t: "next".to_owned(),
            },
        };
        let before = CursorCodec::with_keys("k1", [("k1".to_owned(), b"one".to_vec())]);
        let text = before.encode("f", &cursor);
        let rotated = CursorCodec::with_keys(
            "k2",
            [
                ("k1".to_owned(), b"one".to_vec()),
                ("k2".to_owned(), b"two".to_vec()),
            ],
        );
        assert_eq!(rotated.decode("f", &text), Ok(cursor.clone()));
        let new_text = rotated.encode("f", &cursor);
        assert_ne!(new_text, text, "signed with the new key");
        let retired = CursorCodec::with_keys("k2", [("k2".to_owned(), b"two".to_vec())]);
        assert!(retired.decode("f", &text).is_err(), "k1 is gone");
        assert_eq!(retired.decode("f", &new_text), Ok(cursor));
    }
}
