//! Salesforce record ids: 18-character ids with the real key prefixes and case-safe suffix.
//!
//! Ids are `prefix(3) + "8c0" + 9 base-62 digits + 3-character checksum`. The base-62 alphabet
//! is in ASCII order, so ids of one sObject sort (as plain strings) in creation order, which is
//! what keyset paging (`WHERE Id > '…' ORDER BY Id`) relies on. Nothing here knows about records.

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SUFFIX: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// Builds the 18-character id number `counter` of the sObject with key prefix `prefix`.
pub(crate) fn make_id(prefix: &str, counter: u64) -> String {
    let mut digits = [b'0'; 9];
    let mut rest = counter;
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(rest % 62) as usize];
        rest /= 62;
    }
    let mut id15 = String::with_capacity(18);
    id15.push_str(prefix);
    id15.push_str("8c0");
    id15.extend(digits.iter().map(|&b| b as char));
    with_checksum(&id15)
}

/// Appends the case-safe checksum to a 15-character id.
pub(crate) fn with_checksum(id15: &str) -> String {
    let bytes = id15.as_bytes();
    let mut id18 = String::with_capacity(18);
    id18.push_str(id15);
    for chunk in 0..3 {
        let mut flags = 0usize;
        for bit in 0..5 {
            if bytes
                .get(chunk * 5 + bit)
                .is_some_and(u8::is_ascii_uppercase)
            {
                flags |= 1 << bit;
            }
        }
        id18.push(SUFFIX[flags] as char);
    }
    id18
}

/// Normalises a 15- or 18-character id to its 18-character form; `None` when it is no id.
pub(crate) fn normalize(id: &str) -> Option<String> {
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    match id.len() {
        15 => Some(with_checksum(id)),
        18 => Some(id.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_in_creation_order_and_carry_the_checksum() {
        let ids: Vec<String> = [1u64, 9, 10, 35, 36, 61, 62, 3843, 3844, 1_000_000]
            .iter()
            .map(|&n| make_id("003", n))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(
            ids.iter()
                .all(|id| id.len() == 18 && id.starts_with("0038c0"))
        );
        assert_eq!(normalize(&ids[0][..15]).as_deref(), Some(ids[0].as_str()));
        // The well-known example from Salesforce's documentation of the case-safe suffix.
        assert_eq!(with_checksum("001A0000006Vm9r"), "001A0000006Vm9rIAC");
        assert_eq!(normalize("abc"), None);
    }
}
