//! Standard Webhooks signatures: `whsec_` secrets and the `webhook-signature` header.
//!
//! The signed content is `{webhook-id}.{webhook-timestamp}.{body}`, the key is the base64-decoded
//! part of the secret after `whsec_`, and a signature is `v1,` and the base64 of its
//! HMAC-SHA256. A header may carry several signatures separated by spaces: during a rotation we
//! sign with the new and the old secret. Verification of what others send (inbound webhooks) is
//! not here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrets::Zeroizing;
use sha2::Sha256;

/// What every secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a secret we make (the specification asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;

/// A fresh secret, `whsec_` and the base64 of 32 random bytes; shown to the caller once.
pub fn generate_secret() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; SECRET_BYTES]);
    rand::rngs::OsRng.fill_bytes(&mut bytes[..]);
    Zeroizing::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(&bytes[..])))
}

/// The signing key of a `whsec_` secret: its base64 part, decoded.
///
/// # Errors
/// When the secret lacks the prefix or its rest is not base64 of at least 24 bytes.
pub fn secret_key(secret: &str) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    let encoded = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or("the secret must start with `whsec_`")?;
    let key = Zeroizing::new(
        STANDARD
            .decode(encoded)
            .map_err(|_| "the secret's part after `whsec_` must be base64")?,
    );
    if key.len() < 24 || key.len() > 64 {
        return Err("the secret must hold 24 to 64 bytes");
    }
    Ok(key)
}

/// One signature, `v1,<base64 HMAC-SHA256 of id.timestamp.body>`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per key, space-separated.
pub fn signature_header(keys: &[&[u8]], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| sign(key, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries' tests.
    #[test]
    fn signs_like_the_reference_libraries() {
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("a valid secret");
        assert_eq!(
            sign(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn generated_secrets_are_valid_and_distinct() {
        let one = generate_secret();
        let two = generate_secret();
        assert!(one.starts_with(SECRET_PREFIX));
        assert_ne!(*one, *two);
        assert_eq!(secret_key(&one).expect("valid").len(), SECRET_BYTES);
        assert!(secret_key("whsec_short").is_err());
        assert!(secret_key("nope").is_err());
    }

    #[test]
    fn a_rotation_header_carries_both_signatures() {
        let header = signature_header(&[b"new-key", b"old-key"], "msg_1", 10, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], sign(b"new-key", "msg_1", 10, b"{}"));
        assert_eq!(parts[1], sign(b"old-key", "msg_1", 10, b"{}"));
    }
}
