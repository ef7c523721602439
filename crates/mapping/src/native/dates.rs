//! Date functions: `$parseDate`, `$toEpochMs`, `$fromEpochMs` and `$formatDate`.
//!
//! Vendors write dates in many ways (ISO 8601 with or without offset, offsets without a colon such as `+0000`,
//! epoch milliseconds, local formats); these functions read them all into one UTC instant
//! and write RFC 3339, epoch milliseconds or a strftime format. Without an explicit format,
//! input that is not a date gives *undefined*, so one bad value does not fail a record.

use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::{arg, number_value, scalar_text};
use crate::MappingError;
use crate::error::codes;

/// Formats with an offset, tried in order after RFC 3339 and RFC 2822.
const OFFSET_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M%z",
];

/// Formats without an offset, read as UTC.
const NAIVE_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

/// `$parseDate(value, format?)`.
pub(super) fn parse_date(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    let instant = match arg(args, 1) {
        Some(Value::String(format)) => parse_with_format(arg(args, 0), format)?,
        _ => parse_any(arg(args, 0)),
    };
    Ok(instant.map(|instant| Value::String(rfc3339(instant, SecondsFormat::AutoSi))))
}

/// `$toEpochMs(value)`.
pub(super) fn to_epoch_ms(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    Ok(parse_any(arg(args, 0)).map(|instant| Value::from(instant.timestamp_millis())))
}

/// `$fromEpochMs(ms)`.
pub(super) fn from_epoch_ms(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    let millis = match arg(args, 0) {
        Some(Value::Number(number)) => number.as_f64(),
        Some(Value::String(text)) => parse_number(text.trim()),
        _ => None,
    };
    Ok(millis
        .and_then(from_millis)
        .map(|instant| Value::String(rfc3339(instant, SecondsFormat::Millis))))
}

/// `$formatDate(value, format)`.
pub(super) fn format_date(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    let format = match arg(args, 1) {
        Some(Value::String(format)) => format.as_str(),
        _ => return Ok(None),
    };
    let items = strftime_items(format)?;
    let Some(instant) = parse_any(arg(args, 0)) else {
        return Ok(None);
    };
    let mut text = String::new();
    write!(text, "{}", instant.format_with_items(items.iter())).map_err(|_| {
        MappingError::new(
            codes::BAD_DATE_FORMAT,
            format!("the date format `{format}` cannot format a date"),
        )
    })?;
    Ok(Some(Value::String(text)))
}

/// Reads a date without an explicit format; `None` when it is not one.
pub(crate) fn parse_any(value: Option<&Value>) -> Option<DateTime<Utc>> {
    match value? {
        Value::Number(number) => from_millis(number.as_f64()?),
        Value::String(text) => parse_text(text.trim()),
        _ => None,
    }
}

/// `$parseDate(text)` without a format, as the RFC 3339 text it gives; the engine calls this
/// directly for a string argument, without writing it as JSON first.
pub(crate) fn parse_date_text(text: &str) -> Option<String> {
    let instant = parse_text(text.trim())?;
    Some(match rfc3339_fast(instant) {
        Some(text) => text,
        None => rfc3339(instant, SecondsFormat::AutoSi),
    })
}

fn parse_text(text: &str) -> Option<DateTime<Utc>> {
    if text.is_empty() {
        return None;
    }
    if let Some(instant) = parse_iso_fast(text) {
        return Some(instant);
    }
    if let Some(millis) = parse_number(text) {
        return from_millis(millis);
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.with_timezone(&Utc));
    }
    if let Ok(instant) = DateTime::parse_from_rfc2822(text) {
        return Some(instant.with_timezone(&Utc));
    }
    for format in OFFSET_FORMATS {
        if let Ok(instant) = DateTime::parse_from_str(text, format) {
            return Some(instant.with_timezone(&Utc));
        }
    }
    if text.ends_with(['Z', 'z']) {
        // A UTC designator after a format chrono's RFC 3339 reader refuses, such as
        // `2024-01-15T10:20Z`.
        let naive = &text[..text.len() - 1];
        return NAIVE_FORMATS
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(naive, format).ok())
            .map(|naive| naive.and_utc());
    }
    for format in NAIVE_FORMATS {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(naive.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|naive| naive.and_utc())
}

/// Reads a date with an explicit strftime format; numbers are read as their text.
fn parse_with_format(
    value: Option<&Value>,
    format: &str,
) -> Result<Option<DateTime<Utc>>, MappingError> {
    strftime_items(format)?;
    let Some(text) = scalar_text(value, "parseDate")? else {
        return Ok(None);
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(instant) = DateTime::parse_from_str(text, format) {
        return Ok(Some(instant.with_timezone(&Utc)));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
        return Ok(Some(naive.and_utc()));
    }
    if let Some(naive) = NaiveDate::parse_from_str(text, format)
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
    {
        return Ok(Some(naive.and_utc()));
    }
    Err(MappingError::new(
        codes::UNPARSEABLE_DATE,
        format!("`{text}` does not match the date format `{format}`"),
    ))
}

/// The parsed strftime format, or `CW002` when it holds an unknown specifier.
fn strftime_items(format: &str) -> Result<Vec<Item<'_>>, MappingError> {
    let items: Vec<Item<'_>> = StrftimeItems::new(format).collect();
    if items.iter().any(|item| matches!(item, Item::Error)) {
        return Err(MappingError::new(
            codes::BAD_DATE_FORMAT,
            format!("invalid date format `{format}`"),
        ));
    }
    Ok(items)
}

/// A number written as text (`1705314030000`, `-5`, `12.5`), not a date like `2024-01-15`.
fn parse_number(text: &str) -> Option<f64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let numeric = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|&c| c == '.').count() <= 1
        && digits.starts_with(|c: char| c.is_ascii_digit());
    if numeric { text.parse().ok() } else { None }
}

fn from_millis(millis: f64) -> Option<DateTime<Utc>> {
    let Some(Value::Number(rounded)) = number_value(millis.round()) else {
        return None;
    };
    DateTime::from_timestamp_millis(rounded.as_i64()?)
}

/// The common shapes vendors write, read without chrono's general parser:
/// `YYYY-MM-DDTHH:MM:SS`, an optional fraction of 1 to 9 digits, and `Z`, `±HH:MM` or `±HHMM`.
/// Anything else (and any out-of-range field) is left to the general readers, which accept
/// the same instants.
fn parse_iso_fast(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let mut value = 0;
        for &c in &b[range] {
            if !c.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u32::from(c - b'0');
        }
        Some(value)
    };
    let year = digits(0..4)?;
    let (month, day) = (digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut at = 19;
    let mut nanos = 0;
    if b[at] == b'.' {
        let start = at + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        let count = end - start;
        if count == 0 || count > 9 {
            return None;
        }
        nanos = digits(start..end)? * 10u32.pow(u32::try_from(9 - count).ok()?);
        at = end;
    }
    let offset_seconds = match &b[at..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let field = |x: u8, y: u8| -> Option<i64> {
                (x.is_ascii_digit() && y.is_ascii_digit())
                    .then(|| i64::from((x - b'0') * 10 + (y - b'0')))
            };
            let (hours, minutes) = (field(*h1, *h2)?, field(*m1, *m2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let naive = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?
        .and_hms_nano_opt(hour, minute, second, nanos)?;
    Some((naive - chrono::Duration::seconds(offset_seconds)).and_utc())
}

/// `instant` as `to_rfc3339_opts(SecondsFormat::AutoSi, true)` writes it, for years 0 to
/// 9999 without a leap second; `None` otherwise.
fn rfc3339_fast(instant: DateTime<Utc>) -> Option<String> {
    use chrono::{Datelike, Timelike};
    let year = instant.year();
    let nanos = instant.nanosecond();
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    fn push(out: &mut String, value: u32, width: usize) {
        let mut buffer = [b'0'; 9];
        let mut rest = value;
        for slot in buffer[..width].iter_mut().rev() {
            *slot = b'0' + u8::try_from(rest % 10).unwrap_or(0);
            rest /= 10;
        }
        out.extend(buffer[..width].iter().map(|&c| char::from(c)));
    }
    let mut out = String::with_capacity(30);
    push(&mut out, year.unsigned_abs(), 4);
    out.push('-');
    push(&mut out, instant.month(), 2);
    out.push('-');
    push(&mut out, instant.day(), 2);
    out.push('T');
    push(&mut out, instant.hour(), 2);
    out.push(':');
    push(&mut out, instant.minute(), 2);
    out.push(':');
    push(&mut out, instant.second(), 2);
    if nanos != 0 {
        out.push('.');
        if nanos.is_multiple_of(1_000_000) {
            push(&mut out, nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1000) {
            push(&mut out, nanos / 1000, 6);
        } else {
            push(&mut out, nanos, 9);
        }
    }
    out.push('Z');
    Some(out)
}

fn rfc3339(instant: DateTime<Utc>, precision: SecondsFormat) -> String {
    instant.to_rfc3339_opts(precision, true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::native::tests::call;

    fn parse(value: Value) -> Option<Value> {
        call(parse_date, &[value])
    }

    #[test]
    fn the_fast_iso_reader_and_writer_agree_with_chrono() {
        let inputs = [
            "2024-01-15T10:20:30.000+0000",
            "2024-01-15T10:20:30Z",
            "2024-01-15T10:20:30.5Z",
            "2024-01-15T10:20:30.123456Z",
            "2024-01-15T10:20:30.123456789-05:30",
            "2024-01-15T10:20:30.1+0130",
            "2024-02-29T23:59:59.999-2359",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "2023-02-29T10:20:30Z",
            "2024-01-15T24:00:00Z",
            "2024-01-15T10:20:60Z",
            "2024-01-15T10:20:30.1234567890Z",
            "2024-01-15T10:20:30.Z",
            "2024-01-15T10:20:30+24:00",
            "2024-13-15T10:20:30Z",
            "2024-01-15T10:20:30+00:60",
        ];
        for input in inputs {
            let fast = parse_iso_fast(input);
            let slow = DateTime::parse_from_rfc3339(input)
                .or_else(|_| DateTime::parse_from_str(input, "%Y-%m-%dT%H:%M:%S%.f%z"))
                .ok()
                .map(|instant| instant.with_timezone(&Utc));
            if let Some(fast) = fast {
                assert_eq!(Some(fast), slow, "{input}");
                if let Some(text) = rfc3339_fast(fast) {
                    assert_eq!(text, rfc3339(fast, SecondsFormat::AutoSi), "{input}");
                }
            }
            assert_eq!(
                parse_date_text(input),
                slow.map(|instant| rfc3339(instant, SecondsFormat::AutoSi)),
                "{input}"
            );
        }
        assert!(parse_iso_fast("2024-01-15T10:20:30.000+0000").is_some());
        assert!(rfc3339_fast(parse_iso_fast("9999-12-31T23:59:59-01:00").unwrap()).is_none());
        assert!(parse_iso_fast("2024-01-15T10:20:30.123456789-05:30").is_some());
    }

    #[test]
    fn parse_date_reads_iso_8601_variants() {
        let expected = Some(json!("2024-01-15T10:20:30Z"));
        assert_eq!(parse(json!("2024-01-15T10:20:30Z")), expected);
        assert_eq!(parse(json!("2024-01-15T10:20:30")), expected);
        assert_eq!(parse(json!("2024-01-15 10:20:30")), expected);
        assert_eq!(parse(json!("2024-01-15T12:20:30+02:00")), expected);
        assert_eq!(parse(json!("  2024-01-15T10:20:30.000Z ")), expected);
        assert_eq!(
            parse(json!("2024-01-15T10:20:30.123456Z")),
            Some(json!("2024-01-15T10:20:30.123456Z"))
        );
        assert_eq!(
            parse(json!("2024-01-15")),
            Some(json!("2024-01-15T00:00:00Z"))
        );
        assert_eq!(
            parse(json!("2024-01-15T10:20Z")),
            Some(json!("2024-01-15T10:20:00Z"))
        );
        assert_eq!(parse(json!("Mon, 15 Jan 2024 10:20:30 +0000")), expected);
    }

    #[test]
    fn parse_date_reads_offsets_without_a_colon() {
        assert_eq!(
            parse(json!("2024-01-15T10:20:30.000+0000")),
            Some(json!("2024-01-15T10:20:30Z"))
        );
        assert_eq!(
            parse(json!("2024-01-15T10:20:30.250-0500")),
            Some(json!("2024-01-15T15:20:30.250Z"))
        );
    }

    #[test]
    fn parse_date_reads_epoch_milliseconds() {
        let expected = Some(json!("2024-01-15T10:20:30Z"));
        assert_eq!(parse(json!(1_705_314_030_000_i64)), expected);
        assert_eq!(parse(json!("1705314030000")), expected);
        assert_eq!(
            parse(json!(1_705_314_030_500.0)),
            Some(json!("2024-01-15T10:20:30.500Z"))
        );
    }

    #[test]
    fn parse_date_gives_undefined_for_empty_or_garbage_without_format() {
        assert_eq!(parse(json!("")), None);
        assert_eq!(parse(json!("   ")), None);
        assert_eq!(parse(json!(null)), None);
        assert_eq!(parse(json!("not a date")), None);
        assert_eq!(parse(json!("2024-13-45")), None);
        assert_eq!(parse(json!({"a": 1})), None);
        assert_eq!(parse_date(&[None]), Ok(None));
        assert_eq!(parse_date(&[]), Ok(None));
    }

    #[test]
    fn parse_date_with_explicit_format() {
        assert_eq!(
            call(
                parse_date,
                &[json!("15/01/2024 10:20"), json!("%d/%m/%Y %H:%M")]
            ),
            Some(json!("2024-01-15T10:20:00Z"))
        );
        assert_eq!(
            call(parse_date, &[json!("15/01/2024"), json!("%d/%m/%Y")]),
            Some(json!("2024-01-15T00:00:00Z"))
        );
        assert_eq!(
            call(
                parse_date,
                &[json!("15.01.2024 10:20 +0100"), json!("%d.%m.%Y %H:%M %z")]
            ),
            Some(json!("2024-01-15T09:20:00Z"))
        );
        assert_eq!(
            call(parse_date, &[json!(1_705_314_030), json!("%s")]),
            Some(json!("2024-01-15T10:20:30Z"))
        );
        assert_eq!(call(parse_date, &[json!(""), json!("%d/%m/%Y")]), None);
        assert_eq!(parse_date(&[None, Some(json!("%d/%m/%Y"))]), Ok(None));
    }

    #[test]
    fn parse_date_with_format_fails_on_mismatch() {
        let error = parse_date(&[Some(json!("2024-01-15")), Some(json!("%d/%m/%Y"))]).unwrap_err();
        assert_eq!(error.code, "CW001");
        assert_eq!(
            error.message,
            "`2024-01-15` does not match the date format `%d/%m/%Y`"
        );
        let error = parse_date(&[Some(json!("15/01/2024")), Some(json!("%Q"))]).unwrap_err();
        assert_eq!(error.code, "CW002");
    }

    #[test]
    fn epoch_milliseconds_round_trip() {
        assert_eq!(
            call(to_epoch_ms, &[json!("2024-01-15T10:20:30.000+0000")]),
            Some(json!(1_705_314_030_000_i64))
        );
        assert_eq!(call(to_epoch_ms, &[json!("garbage")]), None);
        assert_eq!(to_epoch_ms(&[None]), Ok(None));
        assert_eq!(
            call(from_epoch_ms, &[json!(1_705_314_030_000_i64)]),
            Some(json!("2024-01-15T10:20:30.000Z"))
        );
        assert_eq!(
            call(from_epoch_ms, &[json!("1705314030123")]),
            Some(json!("2024-01-15T10:20:30.123Z"))
        );
        assert_eq!(
            call(from_epoch_ms, &[json!(0)]),
            Some(json!("1970-01-01T00:00:00.000Z"))
        );
        assert_eq!(call(from_epoch_ms, &[json!("x")]), None);
        assert_eq!(call(from_epoch_ms, &[json!(1e300)]), None);
        assert_eq!(from_epoch_ms(&[None]), Ok(None));
    }

    #[test]
    fn format_date_writes_strftime() {
        assert_eq!(
            call(
                format_date,
                &[
                    json!("2024-01-15T12:20:30+02:00"),
                    json!("%Y-%m-%dT%H:%M:%SZ")
                ]
            ),
            Some(json!("2024-01-15T10:20:30Z"))
        );
        assert_eq!(
            call(
                format_date,
                &[json!(1_705_314_030_000_i64), json!("%d/%m/%Y")]
            ),
            Some(json!("15/01/2024"))
        );
        assert_eq!(call(format_date, &[json!("nope"), json!("%Y")]), None);
        let error = format_date(&[Some(json!("2024-01-15")), Some(json!("%Q"))]).unwrap_err();
        assert_eq!(error.code, "CW002");
    }
}
