//! Exact amounts for the simulators' number columns: a JSON number read from its own text
//! (serde_json keeps it) into a decimal, and written back as a JSON number of the same digits,
//! so a simulator stores and answers what the vendor would, never a float's approximation.
//! Rounding and ranges are each vendor's own and stay in its module.

use rust_decimal::Decimal;
use serde_json::{Number, Value};

/// The exact value of a JSON number; `None` beyond a decimal's 28 digits.
///
/// A number nearer zero than the 28 decimal places a decimal holds (`5.7e-264`) is zero, as a
/// vendor's decimal column stores it, not a refused value.
pub(crate) fn parse(number: &Number) -> Option<Decimal> {
    let text = number.as_str();
    let exact = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        text.parse().ok()
    };
    exact.or_else(|| {
        number
            .as_f64()
            .filter(|value| value.is_finite() && value.abs() < 1e-28)
            .map(|_| Decimal::ZERO)
    })
}

/// The exact value of a numeric string (`" 1500.50 "`); `None` when it is not one.
pub(crate) fn parse_text(text: &str) -> Option<Decimal> {
    text.trim().parse::<Number>().ok().as_ref().and_then(parse)
}

/// `amount` as a JSON number with its digits, trailing zeros of the fraction dropped.
pub(crate) fn json(amount: Decimal) -> Value {
    amount
        .normalize()
        .to_string()
        .parse::<Number>()
        .map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_keep_every_digit() {
        for (text, expected) in [
            ("12345678901234567.89", "12345678901234567.89"),
            ("1e23", "100000000000000000000000"),
            ("1500.50", "1500.5"),
            ("-0.0", "0"),
        ] {
            let number: Number = text.parse().expect(text);
            let amount = parse(&number).expect(text);
            assert_eq!(json(amount).to_string(), expected, "{text}");
        }
        assert_eq!(parse_text(" 1500.50 "), Some(Decimal::new(150_050, 2)));
        assert_eq!(parse_text("n/a"), None);
    }
}
