//! Tests for sealing, opening, rotation and the envelope format.

use serde_json::json;

use super::*;

fn keyring(current: &str, key_ids: &[&str]) -> Keyring {
    let keys: Vec<(&str, String)> = key_ids.iter().map(|id| (*id, generate_key())).collect();
    Keyring::from_base64(current, &keys).expect("generated keys are valid")
}

#[test]
fn seal_then_open_round_trips() {
    let keyring = keyring("k1", &["k1"]);
    let sealed = keyring.seal(b"refresh-token-123", b"conn_1");
    assert_eq!(sealed.key_id(), "k1");
    assert_eq!(sealed.version(), SEALED_FORMAT_VERSION);
    let plaintext = keyring.open(&sealed, b"conn_1").expect("same key and aad");
    assert_eq!(plaintext.as_slice(), b"refresh-token-123");
}

#[test]
fn ciphertext_hides_plaintext_and_nonces_differ() {
    let keyring = keyring("k1", &["k1"]);
    let first = keyring.seal(b"sk_live_PLAINTEXT", b"");
    let second = keyring.seal(b"sk_live_PLAINTEXT", b"");
    assert_ne!(first, second, "a fresh nonce per seal");
    let bytes = first.to_bytes();
    assert!(!bytes.windows(8).any(|window| window == b"sk_live_"));
}

#[test]
fn wrong_aad_fails() {
    let keyring = keyring("k1", &["k1"]);
    let sealed = keyring.seal(b"secret", b"conn_1");
    assert!(matches!(
        keyring.open(&sealed, b"conn_2"),
        Err(SecretsError::Decrypt)
    ));
    assert!(matches!(
        keyring.open(&sealed, b""),
        Err(SecretsError::Decrypt)
    ));
}

#[test]
fn every_tampered_byte_fails() {
    let keyring = keyring("k1", &["k1"]);
    let bytes = keyring.seal(b"secret", b"aad").to_bytes();
    for byte_idx in 0..bytes.len() {
        let mut tampered = bytes.clone();
        tampered[byte_idx] ^= 0x01;
        match Sealed::from_bytes(&tampered) {
            // A flipped header byte may already fail to parse; that is a failure too.
            Err(_) => {}
            Ok(sealed) => assert!(
                keyring.open(&sealed, b"aad").is_err(),
                "byte {byte_idx} was not authenticated"
            ),
        }
    }
}

#[test]
fn header_key_id_is_authenticated() {
    // Both keys hold the same bytes, so only the authenticated header can tell the envelopes apart.
    let key = [7u8; KEY_LEN];
    let keyring =
        Keyring::new("a", [("a".to_owned(), key), ("b".to_owned(), key)]).expect("valid keys");
    let mut bytes = keyring.seal(b"secret", b"").to_bytes();
    assert_eq!(&bytes[1..3], &[1, b'a']);
    bytes[2] = b'b';
    let relabelled = Sealed::from_bytes(&bytes).expect("well-formed");
    assert_eq!(relabelled.key_id(), "b");
    assert!(matches!(
        keyring.open(&relabelled, b""),
        Err(SecretsError::Decrypt)
    ));
}

#[test]
fn unknown_key_id_fails() {
    let sealing = keyring("old", &["old"]);
    let sealed = sealing.seal(b"secret", b"");
    let other = keyring("new", &["new"]);
    match other.open(&sealed, b"") {
        Err(SecretsError::UnknownKey(key_id)) => assert_eq!(key_id, "old"),
        other => panic!("expected UnknownKey, got {other:?}"),
    }
}

#[test]
fn same_id_with_another_key_fails_to_decrypt() {
    let sealed = keyring("k1", &["k1"]).seal(b"secret", b"");
    assert!(matches!(
        keyring("k1", &["k1"]).open(&sealed, b""),
        Err(SecretsError::Decrypt)
    ));
}

#[test]
fn reseal_moves_to_the_current_key() {
    let old_key = generate_key();
    let new_key = generate_key();
    let before = Keyring::from_base64("2024", &[("2024", old_key.as_str())]).expect("valid");
    let sealed = before.seal(b"access-token", b"conn_9");

    let rotating = Keyring::from_base64(
        "2025",
        &[("2024", old_key.as_str()), ("2025", new_key.as_str())],
    )
    .expect("valid");
    let resealed = rotating
        .reseal(&sealed, b"conn_9")
        .expect("old key is present");
    assert_eq!(resealed.key_id(), "2025");

    let after = Keyring::from_base64("2025", &[("2025", new_key.as_str())]).expect("valid");
    assert_eq!(
        after
            .open(&resealed, b"conn_9")
            .expect("new key")
            .as_slice(),
        b"access-token"
    );
    assert!(matches!(
        after.open(&sealed, b"conn_9"),
        Err(SecretsError::UnknownKey(_))
    ));
    assert!(matches!(
        rotating.reseal(&sealed, b"conn_other"),
        Err(SecretsError::Decrypt)
    ));
}

#[test]
fn bytes_and_base64_round_trip() {
    let keyring = keyring("key-2025.01_a", &["key-2025.01_a"]);
    let sealed = keyring.seal(b"payload", b"x");
    let from_bytes = Sealed::from_bytes(&sealed.to_bytes()).expect("own output parses");
    assert_eq!(from_bytes, sealed);
    let from_base64 = Sealed::from_base64(&sealed.to_base64()).expect("own output parses");
    assert_eq!(from_base64, sealed);
    let serialized = serde_json::to_string(&sealed).expect("serializes");
    assert_eq!(serialized, format!("\"{}\"", sealed.to_base64()));
    let deserialized: Sealed = serde_json::from_str(&serialized).expect("deserializes");
    assert_eq!(deserialized, sealed);
    let layout = sealed.to_bytes();
    assert_eq!(layout[0], 1);
    assert_eq!(usize::from(layout[1]), "key-2025.01_a".len());
    assert_eq!(layout.len(), 2 + 13 + NONCE_LEN + b"payload".len() + 16);
}

#[test]
fn malformed_envelopes_are_rejected() {
    assert!(matches!(
        Sealed::from_bytes(&[]),
        Err(SecretsError::Malformed(_))
    ));
    assert!(matches!(
        Sealed::from_bytes(&[2, 1, b'a']),
        Err(SecretsError::UnsupportedVersion(2))
    ));
    assert!(matches!(
        Sealed::from_bytes(&[1, 1, b'a', 0, 0]),
        Err(SecretsError::Malformed(_))
    ));
    let mut bad_id = vec![1, 1, b'/'];
    bad_id.extend_from_slice(&[0; NONCE_LEN + 16]);
    assert!(matches!(
        Sealed::from_bytes(&bad_id),
        Err(SecretsError::Malformed(_))
    ));
    assert!(matches!(
        Sealed::from_base64("not base64!"),
        Err(SecretsError::Malformed(_))
    ));
}

#[test]
fn json_round_trips() {
    let keyring = keyring("k1", &["k1"]);
    let credentials =
        json!({"access_token": "at", "refresh_token": "rt", "expires_at": 1_700_000_000});
    let sealed = keyring.seal_json(&credentials, b"conn_1");
    assert_eq!(
        keyring.open_json(&sealed, b"conn_1").expect("opens"),
        credentials
    );
    let not_json = keyring.seal(b"\xff not json", b"");
    assert!(matches!(
        keyring.open_json(&not_json, b""),
        Err(SecretsError::Json(_))
    ));
}

#[test]
fn keyring_construction_errors() {
    let key = generate_key();
    assert!(matches!(
        Keyring::from_base64("missing", &[("k1", key.as_str())]),
        Err(SecretsError::MissingCurrentKey(_))
    ));
    assert!(matches!(
        Keyring::from_base64("k1", &[("k1", key.as_str()), ("k1", key.as_str())]),
        Err(SecretsError::DuplicateKeyId(_))
    ));
    assert!(matches!(
        Keyring::from_base64("k 1", &[("k 1", key.as_str())]),
        Err(SecretsError::InvalidKeyId(_))
    ));
    assert!(matches!(
        Keyring::from_base64("", &[("", key.as_str())]),
        Err(SecretsError::InvalidKeyId(_))
    ));
    assert!(matches!(
        Keyring::from_base64("k1", &[("k1", "%%%")]),
        Err(SecretsError::KeyEncoding(_))
    ));
    assert!(matches!(
        Keyring::from_base64("k1", &[("k1", "c2hvcnQ=")]),
        Err(SecretsError::KeyLength { len: 5, .. })
    ));
    let long_id = "k".repeat(256);
    assert!(matches!(
        Keyring::new(&long_id, [(long_id.clone(), [0; KEY_LEN])]),
        Err(SecretsError::InvalidKeyId(_))
    ));
    assert!(Keyring::new(&"k".repeat(255), [("k".repeat(255), [0; KEY_LEN])]).is_ok());
}

#[test]
fn generated_keys_are_32_random_bytes() {
    let first = generate_key();
    let second = generate_key();
    assert_ne!(first, second);
    assert_eq!(STANDARD.decode(&first).expect("base64").len(), KEY_LEN);
}

#[test]
fn debug_shows_ids_not_keys() {
    let key = generate_key();
    let keyring = Keyring::from_base64("k1", &[("k1", key.as_str())]).expect("valid");
    let printed = format!("{keyring:?}");
    assert_eq!(
        printed,
        r#"Keyring { current_key_id: "k1", key_ids: ["k1"] }"#
    );
    let sealed = keyring.seal(b"secret", b"");
    assert_eq!(
        format!("{sealed:?}"),
        r#"Sealed { version: 1, key_id: "k1", ciphertext_len: 22, .. }"#
    );
}
