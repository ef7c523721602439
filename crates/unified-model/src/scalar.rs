//! Validated scalar values of the unified model: timestamps, dates, decimals, currency codes,
//! E.164 phone numbers and percentages.
//!
//! Each is a newtype that checks its value when parsed or deserialized and always serializes in
//! one canonical form, so records leaving the API look the same whatever the vendor sent. Each
//! publishes an inline JSON Schema (`format: date-time`, a `pattern`...) that accepts exactly
//! what deserialization accepts. Structured values (money, addresses...) live elsewhere.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ValueError;

/// Implements `Deserialize` through `FromStr` and `Serialize` through `Display`.
macro_rules! string_serde {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = Cow::<'de, str>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A point in time, written as RFC 3339.
///
/// Any offset is accepted (`2024-01-31T10:30:00+01:00`); the value is kept in UTC and written
/// with a `Z` suffix and fractional seconds only when they are not zero
/// (`2024-01-31T09:30:00Z`, `2024-01-31T09:30:00.250Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// Returns the instant as a `chrono` date-time in UTC.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(datetime: DateTime<Utc>) -> Timestamp {
        Timestamp(datetime)
    }
}

impl FromStr for Timestamp {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Timestamp, ValueError> {
        DateTime::parse_from_rfc3339(text)
            .map(|datetime| Timestamp(datetime.with_timezone(&Utc)))
            .map_err(|_| ValueError::Timestamp(text.to_owned()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

string_serde!(Timestamp);

impl JsonSchema for Timestamp {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "date-time" })
    }
}

/// A calendar date without a time of day, written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(NaiveDate);

impl Date {
    /// Returns the date as a `chrono` date.
    pub fn as_naive_date(&self) -> NaiveDate {
        self.0
    }
}

impl From<NaiveDate> for Date {
    fn from(date: NaiveDate) -> Date {
        Date(date)
    }
}

impl FromStr for Date {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Date, ValueError> {
        // chrono's `%Y` and `%d` also accept signs and single digits; only `YYYY-MM-DD` is ours.
        let is_shaped = text.len() == 10
            && text.bytes().enumerate().all(|(idx, byte)| match idx {
                4 | 7 => byte == b'-',
                _ => byte.is_ascii_digit(),
            });
        if !is_shaped {
            return Err(ValueError::Date(text.to_owned()));
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(Date)
            .map_err(|_| ValueError::Date(text.to_owned()))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

string_serde!(Date);

impl JsonSchema for Date {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Date".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "date" })
    }
}

/// Pattern of [`Decimal`], shared by the parser's documentation and the schema.
const DECIMAL_PATTERN: &str = r"^-?[0-9]+(\.[0-9]+)?$";

/// An exact decimal number kept as a string (`"1500.50"`), so no amount goes through a float.
///
/// An optional minus sign, digits, and an optional fraction; no exponent, no `+`, no grouping.
/// The text is kept as given, trailing zeros included.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal(String);

impl Decimal {
    /// Returns the decimal's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Decimal {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Decimal, ValueError> {
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (unsigned, None),
        };
        let is_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if is_digits(whole) && fraction.is_none_or(is_digits) {
            Ok(Decimal(text.to_owned()))
        } else {
            Err(ValueError::Decimal(text.to_owned()))
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_serde!(Decimal);

impl JsonSchema for Decimal {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Decimal".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": DECIMAL_PATTERN })
    }
}

/// An ISO 4217 currency code: three upper-case letters (`USD`, `EUR`).
///
/// Only the shape is checked, not membership in the ISO list, so a new currency never breaks a
/// record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CurrencyCode(String);

impl CurrencyCode {
    /// Returns the code's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CurrencyCode {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<CurrencyCode, ValueError> {
        if text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(CurrencyCode(text.to_owned()))
        } else {
            Err(ValueError::CurrencyCode(text.to_owned()))
        }
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_serde!(CurrencyCode);

impl JsonSchema for CurrencyCode {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "CurrencyCode".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "^[A-Z]{3}$" })
    }
}

/// A phone number in E.164 form: `+`, a country code and the subscriber number, digits only,
/// at most 15 of them (`+14155550100`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct E164(String);

impl E164 {
    /// Returns the number's text, `+` included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for E164 {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<E164, ValueError> {
        let digits = text.strip_prefix('+').unwrap_or("");
        let is_e164 = (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if is_e164 {
            Ok(E164(text.to_owned()))
        } else {
            Err(ValueError::E164(text.to_owned()))
        }
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_serde!(E164);

impl JsonSchema for E164 {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "E164".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": r"^\+[1-9][0-9]{1,14}$" })
    }
}

/// A percentage from 0 to 100 inclusive (a win probability of 40% is `40`, not `0.4`).
///
/// Whole values are written as JSON integers (`40`), others as decimals (`12.5`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percentage(f64);

impl Percentage {
    /// Returns the percentage, or an error when it is not within 0..=100.
    ///
    /// # Errors
    ///
    /// [`ValueError::Percentage`] for NaN and for values outside 0..=100.
    pub fn new(value: f64) -> Result<Percentage, ValueError> {
        if (0.0..=100.0).contains(&value) {
            Ok(Percentage(value))
        } else {
            Err(ValueError::Percentage(value))
        }
    }

    /// Returns the percentage as a number from 0 to 100.
    pub fn value(&self) -> f64 {
        self.0
    }
}

impl Serialize for Percentage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 {
            // Exact: the value is a whole number between 0 and 100.
            serializer.serialize_u64(self.0 as u64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

impl Percentage {
    /// Returns the percentage a JSON number states, checked against 0..=100 as written (no
    /// float on the way: `100.00000000000000001` and `1e400` are out of range, though the
    /// nearest floats are not), then held as the nearest float.
    ///
    /// # Errors
    ///
    /// [`ValueError::PercentageText`] for a number outside 0..=100.
    pub fn from_number(number: &serde_json::Number) -> Result<Percentage, ValueError> {
        let text = number.to_string();
        let within = |bound: &str, wanted: Ordering| {
            crate::compare_number_text(&text, bound)
                .is_some_and(|ordering| ordering == wanted || ordering == Ordering::Equal)
        };
        match number.as_f64() {
            Some(value) if within("0", Ordering::Greater) && within("100", Ordering::Less) => {
                // A value nearer zero than a float holds is read as zero, never as `-0`.
                Ok(Percentage(value + 0.0))
            }
            _ => Err(ValueError::PercentageText(text)),
        }
    }
}

impl<'de> Deserialize<'de> for Percentage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Percentage::from_number(&serde_json::Number::deserialize(deserializer)?)
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Percentage {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Percentage".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "number", "minimum": 0, "maximum": 100 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_in_utc() {
        let cases = [
            ("2024-01-31T09:30:00Z", "2024-01-31T09:30:00Z"),
            ("2024-01-31T10:30:00+01:00", "2024-01-31T09:30:00Z"),
            ("2024-01-31T09:30:00.000Z", "2024-01-31T09:30:00Z"),
            ("2024-01-31T09:30:00.250Z", "2024-01-31T09:30:00.250Z"),
        ];
        for (input, expected) in cases {
            let timestamp: Timestamp = input.parse().expect(input);
            assert_eq!(timestamp.to_string(), expected, "{input}");
        }
        for bad in [
            "2024-01-31",
            "2024-01-31T09:30:00",
            "2024-01-31T09:30:00.000+0000",
            "",
        ] {
            assert_eq!(
                bad.parse::<Timestamp>(),
                Err(ValueError::Timestamp(bad.to_owned()))
            );
        }
    }

    #[test]
    fn dates_are_year_month_day() {
        assert_eq!(
            "2024-02-29".parse::<Date>().map(|d| d.to_string()),
            Ok("2024-02-29".into())
        );
        for bad in [
            "2023-02-29",
            "2024-1-5",
            "24-01-05",
            "2024-01-31T00:00:00Z",
            "+2024-01-3",
        ] {
            assert_eq!(
                bad.parse::<Date>(),
                Err(ValueError::Date(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn decimals_are_plain_digit_strings() {
        for good in ["0", "1500", "1500.50", "-3.25", "0.000001"] {
            assert_eq!(
                good.parse::<Decimal>().map(|d| d.to_string()),
                Ok(good.to_owned())
            );
        }
        for bad in [
            "", "-", "1.", ".5", "+1", "1e3", "1,000", "1 000", "NaN", "1.2.3",
        ] {
            assert_eq!(
                bad.parse::<Decimal>(),
                Err(ValueError::Decimal(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn currency_codes_are_three_capitals() {
        assert!("EUR".parse::<CurrencyCode>().is_ok());
        for bad in ["eur", "EURO", "E1R", ""] {
            assert!(bad.parse::<CurrencyCode>().is_err(), "{bad}");
        }
    }

    #[test]
    fn e164_numbers_have_a_plus_and_digits() {
        assert!("+14155550100".parse::<E164>().is_ok());
        for bad in [
            "14155550100",
            "+1 415 555 0100",
            "+0123",
            "+1",
            "+1234567890123456",
        ] {
            assert!(bad.parse::<E164>().is_err(), "{bad}");
        }
    }

    #[test]
    fn percentages_stay_within_bounds_and_print_whole_values_as_integers() {
        let whole = serde_json::to_string(&Percentage::new(40.0).expect("in range"));
        assert_eq!(whole.ok().as_deref(), Some("40"));
        let fraction = serde_json::to_string(&Percentage::new(12.5).expect("in range"));
        assert_eq!(fraction.ok().as_deref(), Some("12.5"));
        assert!(Percentage::new(100.5).is_err());
        assert!(Percentage::new(-1.0).is_err());
        assert!(Percentage::new(f64::NAN).is_err());
    }
}
