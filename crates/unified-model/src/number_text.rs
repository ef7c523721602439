//! Numbers compared as written: a JSON number's text (`1e21`, `0.1`) or a [`crate::Decimal`]
//! (`"922337203685477.01"`), exactly, with no float on the way, and the regular expression of
//! the decimal texts a range holds (for a write schema, whose `minimum` and `maximum` say
//! nothing about a string).

use std::cmp::Ordering;

/// A number as sign, significant digits and the position of the decimal point: the value is
/// `0.<digits> × 10^point`, the digits without leading or trailing zeros (none for zero).
#[derive(Debug, PartialEq, Eq)]
struct Exact {
    negative: bool,
    digits: Vec<u8>,
    point: i64,
}

impl Exact {
    /// Reads `-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?`; `None` for anything else.
    fn parse(text: &str) -> Option<Exact> {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
            None => (unsigned, None),
        };
        let (whole, fraction) = match mantissa.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (mantissa, ""),
        };
        let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !all_digits(whole)
            || !all_digits(fraction)
            || (mantissa.contains('.') && fraction.is_empty())
        {
            return None;
        }
        let exponent: i64 = match exponent {
            None => 0,
            Some(text) => {
                let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
                if unsigned.is_empty() || !all_digits(unsigned) {
                    return None;
                }
                // Far past any bound: saturate rather than overflow.
                let magnitude = unsigned
                    .parse::<i64>()
                    .unwrap_or(i64::MAX / 4)
                    .min(i64::MAX / 4);
                if text.starts_with('-') {
                    -magnitude
                } else {
                    magnitude
                }
            }
        };
        let mut digits: Vec<u8> = whole.bytes().chain(fraction.bytes()).collect();
        let mut point = i64::try_from(whole.len()).ok()?.saturating_add(exponent);
        let leading = digits.iter().take_while(|digit| **digit == b'0').count();
        digits.drain(..leading);
        point = point.saturating_sub(i64::try_from(leading).ok()?);
        while digits.last() == Some(&b'0') {
            digits.pop();
        }
        if digits.is_empty() {
            return Some(Exact {
                negative: false,
                digits,
                point: 0,
            });
        }
        Some(Exact {
            negative,
            digits,
            point,
        })
    }

    fn cmp_magnitude(&self, other: &Exact) -> Ordering {
        match (self.digits.is_empty(), other.digits.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => self
                .point
                .cmp(&other.point)
                .then_with(|| self.digits.cmp(&other.digits)),
        }
    }
}

impl Ord for Exact {
    fn cmp(&self, other: &Exact) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Exact {
    fn partial_cmp(&self, other: &Exact) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares two numbers as written (JSON number text or decimal text) exactly; `None` when
/// either is not a number.
pub fn compare_number_text(a: &str, b: &str) -> Option<Ordering> {
    Some(Exact::parse(a)?.cmp(&Exact::parse(b)?))
}

/// Whether the number `value` is a whole multiple of the number `step` (both as written: JSON
/// number text or decimal text), exactly, with no float on the way (`0.3` is a multiple of
/// `0.1`; `12345678901234567891` is not a multiple of `2`); `None` when either is not a number
/// or the step is zero.
pub fn is_multiple_of_text(value: &str, step: &str) -> Option<bool> {
    use num_bigint::BigUint;
    let (value, step) = (Exact::parse(value)?, Exact::parse(step)?);
    if step.digits.is_empty() {
        return None;
    }
    if value.digits.is_empty() {
        return Some(true);
    }
    // value = V × 10^value_exp and step = S × 10^step_exp, V and S whole numbers.
    let exponent = |exact: &Exact| {
        exact
            .point
            .checked_sub(i64::try_from(exact.digits.len()).ok()?)
    };
    let (value_exp, step_exp) = (exponent(&value)?, exponent(&step)?);
    let whole = |exact: &Exact| BigUint::parse_bytes(&exact.digits, 10);
    let (whole_value, whole_step) = (whole(&value)?, whole(&step)?);
    let ten = BigUint::from(10_u8);
    let zero = BigUint::from(0_u8);
    if value_exp >= step_exp {
        // V × 10^d is a multiple of S: its remainder, with 10^d taken modulo S (d may be huge).
        let shift = BigUint::from(u64::try_from(value_exp.checked_sub(step_exp)?).ok()?);
        let remainder = (whole_value % &whole_step) * ten.modpow(&shift, &whole_step) % &whole_step;
        Some(remainder == zero)
    } else {
        // V is a multiple of S × 10^d: never when 10^d alone exceeds V (V is not zero).
        let shift = step_exp.checked_sub(value_exp)?;
        if shift > i64::try_from(value.digits.len()).ok()? {
            return Some(false);
        }
        let scaled = whole_step * ten.pow(u32::try_from(shift).ok()?);
        Some(whole_value % scaled == zero)
    }
}

/// The digits of a non-negative integer bound, without leading zeros (`0` for zero); `None`
/// for a negative or fractional one.
fn integer_digits(bound: &str) -> Option<String> {
    let exact = Exact::parse(bound)?;
    if exact.negative || exact.point < i64::try_from(exact.digits.len()).ok()? {
        return None;
    }
    if exact.digits.is_empty() {
        return Some("0".to_owned());
    }
    let zeros = usize::try_from(exact.point).ok()? - exact.digits.len();
    let mut text = String::from_utf8(exact.digits).ok()?;
    text.push_str(&"0".repeat(zeros));
    Some(text)
}

/// The regular expression (no anchors) of unsigned decimal texts (`[0-9]+(\.[0-9]+)?`, leading
/// zeros allowed) whose value is at most the integer `bound` (its digits, no leading zeros).
fn at_most(bound: &str) -> String {
    let digits = bound.as_bytes();
    let len = digits.len();
    // Integer parts below the bound (written without leading zeros), with any fraction.
    let mut below = Vec::new();
    if bound != "0" {
        below.push("0".to_owned());
    }
    if len >= 2 {
        below.push(if len == 2 {
            "[1-9]".to_owned()
        } else {
            format!("[1-9][0-9]{{0,{}}}", len - 2)
        });
    }
    for (at, digit) in digits.iter().enumerate() {
        let lowest = if at == 0 { b'1' } else { b'0' };
        if *digit <= lowest {
            continue;
        }
        let top = digit - 1;
        let class = if top == lowest {
            char::from(lowest).to_string()
        } else {
            format!("[{}-{}]", char::from(lowest), char::from(top))
        };
        let rest = len - at - 1;
        let tail = match rest {
            0 => String::new(),
            1 => "[0-9]".to_owned(),
            _ => format!("[0-9]{{{rest}}}"),
        };
        below.push(format!("{}{class}{tail}", &bound[..at]));
    }
    let equal = format!("0*{bound}(?:\\.0+)?");
    if below.is_empty() {
        equal
    } else {
        format!("0*(?:{})(?:\\.[0-9]+)?|{equal}", below.join("|"))
    }
}

/// The regular expression, anchored, of the decimal texts (`-?[0-9]+(\.[0-9]+)?`) whose value
/// lies in `[minimum, maximum]` (each inclusive, absent = unbounded): the schema of a decimal
/// text field (money) that a write `ranges` bounds. The bounds are integers and the range holds
/// zero (`minimum ≤ 0 ≤ maximum`), as a vendor's money range does; `None` otherwise.
pub fn decimal_range_pattern(minimum: Option<&str>, maximum: Option<&str>) -> Option<String> {
    let any = "[0-9]+(?:\\.[0-9]+)?";
    let positive = match maximum {
        Some(bound) => at_most(&integer_digits(bound)?),
        None => any.to_owned(),
    };
    let negative = match minimum {
        Some(bound) => {
            let magnitude = match bound.strip_prefix('-') {
                Some(magnitude) => magnitude,
                None => (Exact::parse(bound)?.digits.is_empty()).then_some(bound)?,
            };
            at_most(&integer_digits(magnitude)?)
        }
        None => any.to_owned(),
    };
    Some(format!("^(?:{positive}|-(?:{negative}))$"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_exactly_past_float_precision() {
        let max = "922337203685477";
        assert_eq!(
            compare_number_text("922337203685477.0001", max),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_number_text("922337203685477.000", max),
            Some(Ordering::Equal)
        );
        assert_eq!(
            compare_number_text("-922337203685477.5", "-922337203685477"),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare_number_text("1e3", "999.999"),
            Some(Ordering::Greater)
        );
        assert_eq!(compare_number_text("-0.0", "0"), Some(Ordering::Equal));
        assert_eq!(
            compare_number_text("0.5e-400", "0"),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_number_text("00012.30", "12.3"),
            Some(Ordering::Equal)
        );
        assert_eq!(compare_number_text("12.", "12"), None);
        assert_eq!(compare_number_text("x", "12"), None);
    }

    #[test]
    fn multiples_are_exact_past_float_precision() {
        // f64 says 0.3 / 0.1 = 2.9999999999999996 and 12345678901234567891 / 2 = a whole number.
        assert_eq!(is_multiple_of_text("0.3", "0.1"), Some(true));
        assert_eq!(
            is_multiple_of_text("12345678901234567891", "2"),
            Some(false)
        );
        assert_eq!(is_multiple_of_text("12345678901234567890", "2"), Some(true));
        assert_eq!(is_multiple_of_text("12345678901234567891", "1"), Some(true));
        assert_eq!(is_multiple_of_text("1.5", "1"), Some(false));
        assert_eq!(is_multiple_of_text("-4.50", "1.5"), Some(true));
        assert_eq!(is_multiple_of_text("1e400", "7"), Some(false));
        assert_eq!(is_multiple_of_text("1e400", "5"), Some(true));
        assert_eq!(is_multiple_of_text("1e-400", "1"), Some(false));
        assert_eq!(is_multiple_of_text("1", "1e-400"), Some(true));
        assert_eq!(is_multiple_of_text("0", "0.7"), Some(true));
        assert_eq!(is_multiple_of_text("100", "25e1"), Some(false));
        assert_eq!(is_multiple_of_text("1000", "25e1"), Some(true));
        assert_eq!(is_multiple_of_text("1", "0"), None);
        assert_eq!(is_multiple_of_text("x", "1"), None);
    }

    #[test]
    fn the_pattern_holds_exactly_the_range() {
        let pattern = decimal_range_pattern(Some("-922337203685477"), Some("922337203685477"))
            .expect("a pattern");
        let regex = regex::Regex::new(&pattern).expect("a regex");
        for inside in [
            "0",
            "-0",
            "922337203685477",
            "922337203685477.00",
            "-922337203685477",
            "922337203685476.99",
            "000922337203685477",
            "99999999999999",
            "12.5",
            "-812345678901234.5",
        ] {
            assert!(regex.is_match(inside), "{inside} in {pattern}");
        }
        for outside in [
            "922337203685477.01",
            "922337203685478",
            "1000000000000000",
            "-922337203685477.5",
            "-9223372036854770",
            "1e3",
            "",
            "-",
            "12.",
        ] {
            assert!(!regex.is_match(outside), "{outside} not in {pattern}");
        }
        // Every integer near a small bound agrees with the exact comparison.
        let pattern = decimal_range_pattern(Some("0"), Some("1050")).expect("a pattern");
        let regex = regex::Regex::new(&pattern).expect("a regex");
        for value in -20..1200 {
            for text in [
                format!("{value}"),
                format!("{value}.5"),
                format!("{value}.0"),
            ] {
                let inside = compare_number_text(&text, "0").is_some_and(Ordering::is_ge)
                    && compare_number_text(&text, "1050").is_some_and(Ordering::is_le);
                assert_eq!(regex.is_match(&text), inside, "{text} in {pattern}");
            }
        }
        assert_eq!(decimal_range_pattern(Some("1"), None), None, "zero outside");
        assert_eq!(
            decimal_range_pattern(None, Some("10.5")),
            None,
            "not an integer"
        );
    }
}
