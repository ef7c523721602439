//! `$decimal`: amounts as exact decimal strings, the form of money in the unified model.
//!
//! Vendors hold amounts as strings (kept digit for digit) or as JSON numbers (written out in
//! full, never with an exponent, so `1e23` is `"100000000000000000000000"`). Going through
//! `$toNumber` and `$string` instead loses digits beyond a float's and writes large amounts
//! with an exponent, which no decimal string allows. This module does not do arithmetic.

use serde_json::Value;

use super::arg;
use crate::MappingError;

/// `$decimal(value)`.
pub(super) fn decimal(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    Ok(arg(args, 0).and_then(decimal_text).map(Value::String))
}

/// The exact decimal text of a number or numeric string; `None` for anything else.
fn decimal_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(number) => {
            if let Some(integer) = number.as_i64() {
                return Some(integer.to_string());
            }
            if let Some(integer) = number.as_u64() {
                return Some(integer.to_string());
            }
            // Rust writes a float in full (no exponent) with the fewest digits that read back
            // as the same float.
            number.as_f64().filter(|f| f.is_finite()).map(|f| {
                let text = f.to_string();
                if text == "-0" { "0".to_owned() } else { text }
            })
        }
        Value::String(text) => {
            let text = text.trim();
            let plain = if text.contains(',') {
                if !is_grouped(text) {
                    return None;
                }
                text.replace(',', "")
            } else {
                text.to_owned()
            };
            if is_decimal(&plain) {
                Some(plain.strip_prefix('+').unwrap_or(&plain).to_owned())
            } else {
                // `1.5e3`: read as a number, written out in full.
                let number: f64 = plain.parse().ok()?;
                decimal_text(&serde_json::Number::from_f64(number).map(Value::Number)?)
            }
        }
        _ => None,
    }
}

/// An optional sign, digits, and an optional fraction of digits: kept as written.
fn is_decimal(text: &str) -> bool {
    let unsigned = text
        .strip_prefix('-')
        .or_else(|| text.strip_prefix('+'))
        .unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && fraction.is_none_or(digits)
}

/// Thousands commas in the right places (`1,234,567.5`).
fn is_grouped(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let whole = unsigned
        .split_once('.')
        .map_or(unsigned, |(whole, _)| whole);
    let mut groups = whole.split(',');
    let first = groups.next().unwrap_or("");
    (1..=3).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_digit())
        && groups.all(|group| group.len() == 3 && group.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(value: Value, expected: Option<&str>) {
        assert_eq!(
            decimal(&[Some(value.clone())]).expect("no error"),
            expected.map(|text| Value::String(text.to_owned())),
            "{value}"
        );
    }

    #[test]
    fn strings_keep_every_digit_and_numbers_are_written_in_full() {
        check(json!("12345678901234567.89"), Some("12345678901234567.89"));
        check(
            json!("100000000000000000000000"),
            Some("100000000000000000000000"),
        );
        check(json!(" 1500.50 "), Some("1500.50"));
        check(json!("+7"), Some("7"));
        check(json!("-0.10"), Some("-0.10"));
        check(json!("1,234.50"), Some("1234.50"));
        check(json!("1.5e3"), Some("1500"));
        check(json!(1e23), Some("100000000000000000000000"));
        check(json!(1500.5), Some("1500.5"));
        check(json!(0.000_000_1), Some("0.0000001"));
        check(json!(42), Some("42"));
        check(json!(-0.0), Some("0"));
        check(json!(u64::MAX), Some("18446744073709551615"));
        for odd in [
            json!(""),
            json!("n/a"),
            json!("1,23"),
            json!(null),
            json!(true),
            json!([1]),
            json!({}),
        ] {
            check(odd, None);
        }
        assert_eq!(decimal(&[None]).expect("no error"), None);
    }
}
