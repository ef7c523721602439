//! Reads how long a vendor asks us to wait from its answer: the `Retry-After` header (RFC 9110
//! § 10.2.3) and the reset header the connector declares under `rate_limits.headers`.
//!
//! `Retry-After` is either delta seconds (`120`) or an HTTP date (IMF-fixdate, and the obsolete
//! RFC 850 and asctime forms recipients must still accept). The reset header is read as its
//! declared [`ResetFormat`]: an epoch instant in seconds or milliseconds (we wait until then), a
//! delta in seconds or milliseconds, or an HTTP date. When both are present the longer wait
//! wins, since waiting less than either would only earn another throttle. Values that do not
//! parse are ignored, instants already past mean "no wait", and every wait is capped at
//! [`MAX_WAIT_HINT`] so a broken or hostile header cannot park a connection for days.
//!
//! Left out: deciding whether the answer is a throttle at all (the connector's error rules and
//! `throttled_when` do that; call this only for answers that are being retried, since a reset
//! header on a successful answer is no request to wait), the remaining/limit headers (the
//! rate limiter reads those), compound headers read by `parse_expr`, and a reset header whose
//! connector declares no `reset_format` (guessing seconds from milliseconds from epochs could
//! turn a one-second pause into an hour's).

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use connector::VendorResponse;
use connector::file::{DurationUnit, RateLimitHeaders, ResetFormat};

/// The longest wait read from a vendor answer; longer requests are cut down to it.
///
/// An hour covers every short-window throttle we know of (per-second to per-hour buckets);
/// vendors whose daily allowance is spent say so with an error code the connector classifies
/// as a failure, not with an hour-plus `Retry-After`.
pub const MAX_WAIT_HINT: Duration = Duration::from_secs(60 * 60);

/// The standard header, always read in addition to a connector's own name for it.
const RETRY_AFTER: &str = "retry-after";

/// Returns how long `response` asks us to wait at `now`, or `None` when it says nothing usable.
///
/// Reads `Retry-After` (under the connector's declared name, and the standard name) and the
/// declared reset header interpreted by its `reset_format`, and returns the longest of them,
/// capped at [`MAX_WAIT_HINT`]. A hint naming an instant already past yields
/// `Some(Duration::ZERO)`.
pub fn wait_from_response(
    response: &VendorResponse,
    headers: Option<&RateLimitHeaders>,
    now: DateTime<Utc>,
) -> Option<Duration> {
    let declared_retry_after = headers
        .and_then(|names| names.retry_after.as_deref())
        .filter(|name| !name.eq_ignore_ascii_case(RETRY_AFTER));
    let retry_after = [Some(RETRY_AFTER), declared_retry_after]
        .into_iter()
        .flatten()
        .filter_map(|name| response.header(name))
        .filter_map(|value| parse_retry_after(value, now));
    let reset = headers
        .and_then(|names| Some((names.reset.as_deref()?, names.reset_format?)))
        .and_then(|(name, format)| parse_reset(response.header(name)?, format, now));
    // A structured header whose budget is spent says how long until it comes back.
    let structured = headers
        .and_then(|names| names.structured.as_deref())
        .and_then(|name| parse_structured(response.header(name)?))
        .filter(|limit| limit.remaining == 0)
        .and_then(|limit| limit.reset_in);
    retry_after
        .chain(reset)
        .chain(structured)
        .max()
        .map(|wait| wait.min(MAX_WAIT_HINT))
}

/// Parses a `Retry-After` value: delta seconds or an HTTP date, relative to `now`.
///
/// Delta seconds are digits per RFC 9110; a decimal fraction (`1.5`), which some vendors send,
/// is accepted too. Capped at [`MAX_WAIT_HINT`].
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = match parse_decimal(value) {
        Some(seconds) => duration_from_secs(seconds)?,
        None => until(parse_http_date(value)?, now),
    };
    Some(wait.min(MAX_WAIT_HINT))
}

/// Parses a reset header value declared as `format`, relative to `now`.
///
/// Capped at [`MAX_WAIT_HINT`]; an epoch or date already past yields `Duration::ZERO`.
pub fn parse_reset(value: &str, format: ResetFormat, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = match format {
        ResetFormat::DeltaS => duration_from_secs(parse_decimal(value)?)?,
        ResetFormat::DeltaMs => duration_from_secs(parse_decimal(value)? / 1_000.0)?,
        ResetFormat::EpochS => until_epoch_secs(parse_decimal(value)?, now)?,
        ResetFormat::EpochMs => until_epoch_secs(parse_decimal(value)? / 1_000.0, now)?,
        ResetFormat::HttpDate => until(parse_http_date(value)?, now),
    };
    Some(wait.min(MAX_WAIT_HINT))
}

/// What a structured rate-limit header says: `(limit, remaining, reset)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StructuredLimit {
    pub limit: Option<u64>,
    pub remaining: u32,
    /// Until the window resets (`reset` is delta seconds), capped at [`MAX_WAIT_HINT`].
    pub reset_in: Option<Duration>,
}

/// Parses a structured rate-limit header in the form of the IETF draft's first versions
/// (draft-ietf-httpapi-ratelimit-headers): comma- (or semicolon-) separated `key=value`
/// parameters, `limit`, `remaining` and `reset` (delta seconds, a decimal fraction
/// accepted), as in `limit=100, remaining=42, reset=7`. Unknown parameters are ignored;
/// without a readable `remaining` it says nothing.
pub fn parse_structured(value: &str) -> Option<StructuredLimit> {
    let mut limit = None;
    let mut remaining = None;
    let mut reset_in = None;
    for part in value.split([',', ';']) {
        let Some((key, value)) = part.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match key.trim().to_ascii_lowercase().as_str() {
            "limit" => limit = value.parse::<u64>().ok(),
            "remaining" => remaining = value.parse::<u64>().ok(),
            "reset" => {
                reset_in = parse_decimal(value)
                    .and_then(duration_from_secs)
                    .map(|wait| wait.min(MAX_WAIT_HINT));
            }
            _ => {}
        }
    }
    Some(StructuredLimit {
        limit,
        remaining: u32::try_from(remaining?).unwrap_or(u32::MAX),
        reset_in,
    })
}

/// Parses a window-length header value in its declared `unit` (whole or decimal numbers).
///
/// Capped at [`MAX_WAIT_HINT`].
pub fn parse_window(value: &str, unit: Option<DurationUnit>) -> Option<Duration> {
    let number = parse_decimal(value.trim())?;
    let seconds = match unit? {
        DurationUnit::Seconds => number,
        DurationUnit::Milliseconds => number / 1_000.0,
    };
    Some(duration_from_secs(seconds)?.min(MAX_WAIT_HINT))
}

/// Parses an HTTP date in any of the three forms RFC 9110 § 5.6.7 requires recipients to
/// accept: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
pub fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(date) = DateTime::parse_from_rfc2822(value) {
        return Some(date.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .into_iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|naive| naive.and_utc())
}

/// Parses a non-negative decimal number (`12`, `0.25`); refuses signs, exponents, `inf`, `nan`.
fn parse_decimal(value: &str) -> Option<f64> {
    let all_digits =
        |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    let well_formed = match value.split_once('.') {
        Some((whole, fraction)) => all_digits(whole) && all_digits(fraction),
        None => all_digits(value),
    };
    if !well_formed {
        return None;
    }
    value
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
}

/// A wait of `seconds`, cut to [`MAX_WAIT_HINT`] (so huge numbers are a long wait, not garbage).
fn duration_from_secs(seconds: f64) -> Option<Duration> {
    if seconds.is_nan() || seconds < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(
        seconds.min(MAX_WAIT_HINT.as_secs_f64()),
    ))
}

/// The wait from `now` until the Unix instant `epoch_secs`; zero when it is past.
fn until_epoch_secs(epoch_secs: f64, now: DateTime<Utc>) -> Option<Duration> {
    let now_secs = now.timestamp_millis() as f64 / 1_000.0;
    duration_from_secs((epoch_secs - now_secs).max(0.0))
}

/// The wait from `now` until `instant`; zero when it is past.
fn until(instant: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (instant - now).to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// 2024-03-01T12:00:00Z, a Friday.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0)
            .single()
            .expect("valid date")
    }

    fn response(headers: &[(&str, &str)]) -> VendorResponse {
        VendorResponse::new(
            429,
            headers
                .iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), (*value).to_owned()))
                .collect(),
            serde_json::Value::Null,
        )
    }

    fn names(reset: &str, format: Option<ResetFormat>) -> RateLimitHeaders {
        RateLimitHeaders {
            window_unit: None,
            remaining: None,
            reset: Some(reset.to_owned()),
            window: None,
            retry_after: None,
            reset_format: format,
            structured: None,
            scope: Default::default(),
        }
    }

    fn secs(seconds: u64) -> Option<Duration> {
        Some(Duration::from_secs(seconds))
    }

    #[test]
    fn window_lengths_are_read_in_their_declared_unit() {
        assert_eq!(
            parse_window("10", Some(DurationUnit::Seconds)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_window("10000", Some(DurationUnit::Milliseconds)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_window("10", None), None, "no unit, no reading");
        assert_eq!(parse_window("soon", Some(DurationUnit::Seconds)), None);
    }

    #[test]
    fn retry_after_in_seconds() {
        let answer = response(&[("Retry-After", "120")]);
        assert_eq!(wait_from_response(&answer, None, now()), secs(120));
        assert_eq!(parse_retry_after(" 0 ", now()), secs(0));
        assert_eq!(
            parse_retry_after("1.5", now()),
            Some(Duration::from_millis(1_500))
        );
    }

    #[test]
    fn retry_after_as_http_date_in_all_three_forms() {
        for date in [
            "Fri, 01 Mar 2024 12:00:30 GMT",
            "Friday, 01-Mar-24 12:00:30 GMT",
            "Fri Mar  1 12:00:30 2024",
        ] {
            let answer = response(&[("retry-after", date)]);
            assert_eq!(wait_from_response(&answer, None, now()), secs(30), "{date}");
        }
    }

    #[test]
    fn retry_after_date_in_the_past_means_no_wait() {
        let answer = response(&[("retry-after", "Fri, 01 Mar 2024 11:59:00 GMT")]);
        assert_eq!(wait_from_response(&answer, None, now()), secs(0));
    }

    #[test]
    fn garbage_is_ignored() {
        for value in [
            "",
            "soon",
            "-5",
            "+5",
            "1e3",
            "inf",
            "NaN",
            ".5",
            "5.",
            "12 s",
            "0x10",
            "5.5.5",
            "Fri, 32 Mar 2024 12:00:30 GMT",
        ] {
            let answer = response(&[("retry-after", value)]);
            assert_eq!(wait_from_response(&answer, None, now()), None, "{value:?}");
        }
        // A garbage Retry-After does not hide a good reset header.
        let answer = response(&[("retry-after", "soon"), ("x-reset", "7")]);
        let declared = names("x-reset", Some(ResetFormat::DeltaS));
        assert_eq!(wait_from_response(&answer, Some(&declared), now()), secs(7));
    }

    #[test]
    fn no_headers_no_wait() {
        assert_eq!(wait_from_response(&response(&[]), None, now()), None);
        let declared = names("x-reset", Some(ResetFormat::DeltaS));
        assert_eq!(
            wait_from_response(&response(&[]), Some(&declared), now()),
            None
        );
    }

    #[test]
    fn reset_header_in_each_format() {
        let now_epoch = now().timestamp();
        let cases = [
            (
                ResetFormat::DeltaS,
                "45".to_owned(),
                Duration::from_secs(45),
            ),
            (
                ResetFormat::DeltaS,
                "0.25".to_owned(),
                Duration::from_millis(250),
            ),
            (
                ResetFormat::DeltaMs,
                "2500".to_owned(),
                Duration::from_millis(2_500),
            ),
            (
                ResetFormat::EpochS,
                (now_epoch + 60).to_string(),
                Duration::from_secs(60),
            ),
            (
                ResetFormat::EpochMs,
                ((now_epoch + 3) * 1_000 + 500).to_string(),
                Duration::from_millis(3_500),
            ),
            (
                ResetFormat::HttpDate,
                "Fri, 01 Mar 2024 12:01:40 GMT".to_owned(),
                Duration::from_secs(100),
            ),
        ];
        for (format, value, expected) in cases {
            let answer = response(&[("X-RateLimit-Reset", &value)]);
            let declared = names("x-ratelimit-reset", Some(format));
            assert_eq!(
                wait_from_response(&answer, Some(&declared), now()),
                Some(expected),
                "{format:?} {value}"
            );
        }
    }

    #[test]
    fn reset_epochs_in_the_past_mean_no_wait() {
        let past = (now().timestamp() - 10).to_string();
        assert_eq!(parse_reset(&past, ResetFormat::EpochS, now()), secs(0));
        let past_ms = ((now().timestamp() - 10) * 1_000).to_string();
        assert_eq!(parse_reset(&past_ms, ResetFormat::EpochMs, now()), secs(0));
    }

    #[test]
    fn reset_without_a_declared_format_is_ignored() {
        let answer = response(&[("x-ratelimit-reset", "30")]);
        let declared = names("x-ratelimit-reset", None);
        assert_eq!(wait_from_response(&answer, Some(&declared), now()), None);
    }

    #[test]
    fn the_longer_of_retry_after_and_reset_wins() {
        let declared = names("x-ratelimit-reset", Some(ResetFormat::DeltaS));
        let longer_reset = response(&[("retry-after", "5"), ("x-ratelimit-reset", "20")]);
        assert_eq!(
            wait_from_response(&longer_reset, Some(&declared), now()),
            secs(20)
        );
        let longer_retry_after = response(&[("retry-after", "50"), ("x-ratelimit-reset", "20")]);
        assert_eq!(
            wait_from_response(&longer_retry_after, Some(&declared), now()),
            secs(50)
        );
    }

    #[test]
    fn declared_retry_after_name_is_read_besides_the_standard_one() {
        let declared = RateLimitHeaders {
            retry_after: Some("X-Retry-After".to_owned()),
            ..names("x-reset", None)
        };
        let custom_only = response(&[("x-retry-after", "9")]);
        assert_eq!(
            wait_from_response(&custom_only, Some(&declared), now()),
            secs(9)
        );
        let both = response(&[("x-retry-after", "9"), ("retry-after", "11")]);
        assert_eq!(wait_from_response(&both, Some(&declared), now()), secs(11));
        // The standard name declared explicitly (as some connectors do) is read once.
        let standard = RateLimitHeaders {
            retry_after: Some("Retry-After".to_owned()),
            ..names("x-reset", None)
        };
        let answer = response(&[("retry-after", "4")]);
        assert_eq!(wait_from_response(&answer, Some(&standard), now()), secs(4));
    }

    #[test]
    fn structured_headers_give_remaining_and_reset() {
        assert_eq!(
            parse_structured("limit=40, remaining=0, reset=7"),
            Some(StructuredLimit {
                limit: Some(40),
                remaining: 0,
                reset_in: secs(7),
            })
        );
        assert_eq!(
            parse_structured("remaining=3;reset=0.5;policy=\"x\"")
                .map(|l| (l.remaining, l.reset_in)),
            Some((3, Some(Duration::from_millis(500))))
        );
        assert_eq!(parse_structured("limit=40, reset=7"), None);
        assert_eq!(parse_structured("remaining=-1"), None);
        assert_eq!(
            parse_structured("remaining=1, reset=99999999").and_then(|l| l.reset_in),
            Some(MAX_WAIT_HINT)
        );
    }

    #[test]
    fn waits_are_capped_at_an_hour() {
        let declared = names("x-reset", Some(ResetFormat::EpochS));
        let far = (now().timestamp() + 10 * 24 * 3600).to_string();
        let answer = response(&[
            ("retry-after", "99999999999999999999999"),
            ("x-reset", &far),
        ]);
        assert_eq!(
            wait_from_response(&answer, Some(&declared), now()),
            Some(MAX_WAIT_HINT)
        );
        assert_eq!(
            parse_retry_after("Sat, 01 Mar 2025 12:00:00 GMT", now()),
            Some(MAX_WAIT_HINT)
        );
        assert_eq!(
            parse_reset("86400000", ResetFormat::DeltaMs, now()),
            Some(MAX_WAIT_HINT)
        );
    }
}
