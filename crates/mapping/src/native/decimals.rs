//! `$decimal`: amounts as exact decimal strings, the form of money in the unified model.
//!
//! Vendors hold amounts as strings (kept digit for digit) or as JSON numbers (read from the
//! number's own text, so `12345678901234567.89` keeps every digit, and written out in full,
//! never with an exponent: `1e23` is `"100000000000000000000000"`). Going through `$toNumber`
//! and `$string` instead loses digits beyond a float's and writes large amounts with an
//! exponent, which no decimal string allows. This module does not do arithmetic.

use serde_json::Value;

use super::arg;
use crate::MappingError;

/// The most significant decimal digits any float holds exactly: a decimal with at most this
/// many reads back from its float unchanged.
const FLOAT_DIGITS: usize = 15;

/// Whether the number `text` (a JSON number, or a decimal with thousands commas) has more
/// significant digits than a float holds, so that reading it as a float would change it.
#[inline]
pub(crate) fn exceeds_float_digits(text: &str) -> bool {
    if text.len() <= FLOAT_DIGITS {
        return false;
    }
    let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
    let digits = mantissa.bytes().filter(u8::is_ascii_digit);
    // Leading and trailing zeros are not significant (`0.00012`, `1200000`).
    let significant: Vec<u8> = digits.skip_while(|digit| *digit == b'0').collect();
    let trailing_zeros = significant
        .iter()
        .rev()
        .take_while(|digit| **digit == b'0')
        .count();
    significant.len() - trailing_zeros > FLOAT_DIGITS
}

/// `$decimal(value)`.
pub(super) fn decimal(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    Ok(arg(args, 0).and_then(decimal_text).map(Value::String))
}

/// The exact decimal text of a number or numeric string; `None` for anything else.
fn decimal_text(value: &Value) -> Option<String> {
    match value {
        // The number's own text (serde_json keeps it, `arbitrary_precision`), so no digit is
        // lost to a float on the way.
        Value::Number(number) => canonical_decimal(number.as_str()),
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
                // `1.5e3`: written out in full.
                canonical_decimal(plain.strip_prefix('+').unwrap_or(&plain)).or_else(|| {
                    let number: f64 = plain.parse().ok()?;
                    decimal_text(&serde_json::Number::from_f64(number).map(Value::Number)?)
                })
            }
        }
        _ => None,
    }
}

/// The JSON number `text` as a plain decimal of the same value: the exponent applied, no
/// trailing zeros in the fraction (a JSON number has no scale: `1500.0` is `1500`), and no sign
/// on zero. `None` when `text` is not a JSON number.
fn canonical_decimal(text: &str) -> Option<String> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    // The digits with the point after `point` of them.
    let digits = format!("{whole}{fraction}");
    let point = i64::try_from(whole.len()).ok()?.checked_add(exponent)?;
    // A vendor's exponent is small; a huge one is not an amount.
    if point.unsigned_abs() > 400 {
        return None;
    }
    let n_digits = i64::try_from(digits.len()).ok()?;
    let (integer, fraction) = if point <= 0 {
        let zeros = "0".repeat(usize::try_from(-point).ok()?);
        ("0".to_owned(), format!("{zeros}{digits}"))
    } else if point >= n_digits {
        let zeros = "0".repeat(usize::try_from(point - n_digits).ok()?);
        (format!("{digits}{zeros}"), String::new())
    } else {
        let at = usize::try_from(point).ok()?;
        (digits[..at].to_owned(), digits[at..].to_owned())
    };
    let integer = integer.trim_start_matches('0');
    let integer = if integer.is_empty() { "0" } else { integer };
    let fraction = fraction.trim_end_matches('0');
    let zero = integer == "0" && fraction.is_empty();
    let sign = if negative && !zero { "-" } else { "" };
    Some(if fraction.is_empty() {
        format!("{sign}{integer}")
    } else {
        format!("{sign}{integer}.{fraction}")
    })
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
    fn digits_beyond_a_float_are_counted_without_zeros_at_either_end() {
        for (text, exceeds) in [
            ("123456789012345", false),
            ("1234567890123456", true),
            ("12345678901234567.89", true),
            ("100000000000000000000000", false),
            ("0.000000000000000012", false),
            ("-1234567.8901234567", true),
            ("1.2345678901234567E15", true),
            ("1,234,567,890,123,456", true),
        ] {
            assert_eq!(exceeds_float_digits(text), exceeds, "{text}");
        }
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
        // Numbers as vendors write them, digit for digit (issue 15).
        for (text, expected) in [
            ("12345678901234567.89", "12345678901234567.89"),
            ("1234567890123456.78", "1234567890123456.78"),
            ("922337203685476.99", "922337203685476.99"),
            ("1.2345678901234567E15", "1234567890123456.7"),
            ("1500.0", "1500"),
            ("1500.50", "1500.5"),
            ("-0.0", "0"),
            ("1e-7", "0.0000001"),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567890",
            ),
        ] {
            let number: serde_json::Number = text.parse().expect(text);
            check(Value::Number(number), Some(expected));
        }
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
