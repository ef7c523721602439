//! Text functions: phone numbers, query-language escaping and name splitting.
//!
//! Escaping covers string literals only (`'...'` in SOQL and OData filters); building the
//! rest of a query is the connector's business.

use std::str::FromStr;

use serde_json::{Map, Value};

use super::{arg, scalar_text};
use crate::MappingError;
use crate::error::codes;

/// `$e164(phone, default_region?)`.
pub(super) fn e164(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    let region = match arg(args, 1) {
        Some(Value::String(code)) if !code.trim().is_empty() => {
            let code = code.trim().to_ascii_uppercase();
            Some(phonenumber::country::Id::from_str(&code).map_err(|_| {
                MappingError::new(
                    codes::BAD_REGION,
                    format!("`{code}` is not an ISO 3166 region code"),
                )
            })?)
        }
        _ => None,
    };
    let Some(phone) = scalar_text(arg(args, 0), "e164")? else {
        return Ok(None);
    };
    let phone = phone.trim();
    if phone.is_empty() {
        return Ok(None);
    }
    // A number written with its country code needs no region, and must not get one: the
    // `phonenumber` crate strips the region's national prefix after the country code, reading
    // `+33 1 42 44 62 48` with `US` as `+3342446248`.
    let region = if phone.starts_with('+') { None } else { region };
    Ok(normalised_phone(region, phone).map(Value::String))
}

/// How many normalised numbers [`normalised_phone`] keeps.
const PHONES_KEPT: usize = 4_096;

/// Numbers already normalised, by region and text: a number is parsed and validated against
/// the phone metadata once (tens of thousands of instructions, mostly the `phonenumber`
/// crate's pattern cache, which hashes each pattern's text with SipHash on every use), and
/// then read here while it is kept. Records are mapped again and again (every list page, every
/// sync pass reads the same contacts), and one company's number is on many of its contacts.
/// At most [`PHONES_KEPT`] are kept; when full, the map starts over. Keys come from vendor
/// data, so the hasher is seeded per process.
type Phones = std::collections::HashMap<String, Option<String>, foldhash::quality::RandomState>;

static PHONES: std::sync::LazyLock<std::sync::Mutex<Phones>> =
    std::sync::LazyLock::new(std::sync::Mutex::default);

/// `phone` in E.164 when it is a valid number (read in `region` when it has no country code).
fn normalised_phone(region: Option<phonenumber::country::Id>, phone: &str) -> Option<String> {
    let mut key = String::with_capacity(phone.len() + 3);
    if let Some(region) = region {
        key.push_str(region.as_ref());
    }
    key.push('\u{0}');
    key.push_str(phone);
    let phones = || {
        PHONES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some(found) = phones().get(&key) {
        return found.clone();
    }
    keep_phone_patterns_bounded();
    if let Some(region) = region {
        prepare_phone_patterns(PhoneRegions::Id(region.as_ref()));
    }
    let number = phonenumber::parse(region, phone).ok();
    if let Some(number) = &number {
        // A number written with its country code: its country's patterns, from the next
        // number on (this one compiled the crate's own, which the next reset drops).
        prepare_phone_patterns(PhoneRegions::Code(number.code().value()));
    }
    let found = number
        .filter(phonenumber::is_valid)
        .map(|number| number.format().mode(phonenumber::Mode::E164).to_string());
    let mut kept = phones();
    if kept.len() >= PHONES_KEPT {
        kept.clear();
    }
    kept.insert(key, found.clone());
    found
}

/// How many compiled patterns the phone metadata may keep: more than the metadata holds
/// (about 1,400 number patterns, 900 leading-digit patterns, 760 format patterns and the
/// prefixes of some 250 regions), so that no pattern is ever compiled twice.
const PHONE_PATTERNS_KEPT: usize = 8_192;

/// Phone numbers parsed between two drops of every compiled phone pattern.
///
/// Each compiled pattern keeps lazy-DFA caches that grow with the numbers it has matched (up to
/// 2 MB per search direction and per thread that used it); kept for the whole process they
/// were the largest part of a sync's memory: 64 MB of a 123 MB heap peak after a backfill
/// of 30,000 contacts, and growing with the run (heaptrack, `docs/benchmarks.md`,
/// `bulk_backfill`). Dropping them every so many parses bounds that memory; the patterns in
/// use are compiled again, which costs far less than that many parses.
const PHONE_PARSES_PER_RESET: u64 = 20_000;

/// The `phonenumber` crate compiles its metadata's patterns on first use into one global LRU
/// that keeps only 100 of them. Numbers from a few dozen regions and number types overflow it,
/// and every later number then recompiles patterns (a regex compilation costs far more than the
/// parse), which made `$e164` the largest cost of a unified list. Widening that cache once makes
/// each pattern compile at most once between two resets ([`PHONE_PARSES_PER_RESET`]); results
/// are unchanged.
fn keep_phone_patterns_bounded() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static WIDENED: std::sync::Once = std::sync::Once::new();
    static PARSES: AtomicU64 = AtomicU64::new(0);
    let cache = phonenumber::metadata::DATABASE.cache();
    WIDENED.call_once(|| {
        cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .set_capacity(PHONE_PATTERNS_KEPT);
    });
    if PARSES.fetch_add(1, Ordering::Relaxed) % PHONE_PARSES_PER_RESET == PHONE_PARSES_PER_RESET - 1
    {
        let mut prepared = PREPARED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        prepared.clear();
    }
}

/// The regions (by id) or country codes whose phone patterns are in the `phonenumber` crate's
/// cache as [`ascii_phone_pattern`] compiled them, since the last reset.
static PREPARED: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<PreparedKey>>> =
    std::sync::LazyLock::new(std::sync::Mutex::default);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum PreparedKey {
    Id(String),
    Code(u16),
}

/// The regions whose phone patterns to prepare.
enum PhoneRegions<'a> {
    /// One region, by ISO 3166 id.
    Id(&'a str),
    /// Every region of a country calling code (`1`: the United States, Canada and the
    /// Caribbean's).
    Code(u16),
}

/// Puts the phone patterns of `regions` in the `phonenumber` crate's pattern cache compiled by
/// [`ascii_phone_pattern`], once between two resets, before the crate compiles its own.
///
/// The crate compiles its metadata's patterns in Unicode mode, where `\d` is any of the
/// hundreds of Unicode decimal digits: each pattern's automaton is many times larger, and so
/// are the lazy-DFA caches each keeps per thread (the largest part of a sync's memory, and of
/// its time in `$e164`). The patterns only ever read the ASCII digits of a number the crate
/// has already normalised, so ASCII mode gives the same answers. The cache is keyed by the
/// pattern's text; a pattern that does not compile in ASCII mode is left to the crate.
fn prepare_phone_patterns(regions: PhoneRegions<'_>) {
    let key = match regions {
        PhoneRegions::Id(id) => PreparedKey::Id(id.to_owned()),
        PhoneRegions::Code(code) => PreparedKey::Code(code),
    };
    let mut prepared = PREPARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if prepared.contains(&key) {
        return;
    }
    let database = &*phonenumber::metadata::DATABASE;
    let metadata: Vec<&phonenumber::Metadata> = match &key {
        PreparedKey::Id(id) => database.by_id(id.as_str()).into_iter().collect(),
        PreparedKey::Code(code) => database.by_code(code).unwrap_or_default(),
    };
    let cache = database.cache();
    let mut cache = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for meta in metadata {
        for pattern in phone_patterns(meta) {
            if let Some(regex) = ascii_phone_pattern(pattern.as_str()) {
                cache.save(regex);
            }
        }
    }
    prepared.insert(key);
}

/// Every pattern of a region's metadata.
fn phone_patterns(meta: &phonenumber::Metadata) -> Vec<&regex_cache::CachedRegex> {
    let descriptors = meta.descriptors();
    let mut patterns: Vec<&regex_cache::CachedRegex> = [
        Some(descriptors.general()),
        descriptors.fixed_line(),
        descriptors.mobile(),
        descriptors.toll_free(),
        descriptors.premium_rate(),
        descriptors.shared_cost(),
        descriptors.personal_number(),
        descriptors.voip(),
        descriptors.pager(),
        descriptors.uan(),
        descriptors.emergency(),
        descriptors.voicemail(),
        descriptors.short_code(),
        descriptors.standard_rate(),
        descriptors.carrier(),
        descriptors.no_international(),
    ]
    .into_iter()
    .flatten()
    .map(phonenumber::metadata::Descriptor::national_number)
    .collect();
    patterns.extend(meta.international_prefix());
    patterns.extend(meta.national_prefix_for_parsing());
    patterns.extend(meta.leading_digits());
    for format in meta.formats().iter().chain(meta.international_formats()) {
        patterns.push(format.pattern());
        patterns.extend(format.leading_digits());
    }
    patterns
}

/// `source` compiled as the `phonenumber` crate compiles its patterns (whitespace ignored),
/// but in ASCII mode; `None` when it does not compile so.
fn ascii_phone_pattern(source: &str) -> Option<regex::Regex> {
    regex::RegexBuilder::new(source)
        .ignore_whitespace(true)
        .unicode(false)
        .build()
        .ok()
}

/// `$soqlEscape(string)`.
pub(super) fn soql_escape(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    let Some(text) = scalar_text(arg(args, 0), "soqlEscape")? else {
        return Ok(None);
    };
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\'' => escaped.push_str("\\'"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            '\u{8}' => escaped.push_str("\\b"),
            '\u{c}' => escaped.push_str("\\f"),
            other => escaped.push(other),
        }
    }
    Ok(Some(Value::String(escaped)))
}

/// `$odataEscape(string)`.
pub(super) fn odata_escape(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    Ok(scalar_text(arg(args, 0), "odataEscape")?
        .map(|text| Value::String(text.replace('\'', "''"))))
}

/// `$splitName(full)`.
pub(super) fn split_name(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    let Some(full) = scalar_text(arg(args, 0), "splitName")? else {
        return Ok(None);
    };
    let (first, last) = match full.split_once(',') {
        // `Last, First`.
        Some((last, first)) => (words(first), words(last)),
        None => {
            let all = words(&full);
            match all.split_once(' ') {
                Some((first, last)) => (first.to_owned(), last.to_owned()),
                None => (all, String::new()),
            }
        }
    };
    let mut name = Map::new();
    if !first.is_empty() {
        name.insert("first".to_owned(), Value::String(first));
    }
    if !last.is_empty() {
        name.insert("last".to_owned(), Value::String(last));
    }
    Ok((!name.is_empty()).then_some(Value::Object(name)))
}

/// The words of `text`, joined by single spaces.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::native::tests::call;

    #[test]
    fn e164_normalises_numbers() {
        assert_eq!(
            call(e164, &[json!("+1 (415) 555-2671")]),
            Some(json!("+14155552671"))
        );
        assert_eq!(
            call(e164, &[json!("(415) 555-2671"), json!("US")]),
            Some(json!("+14155552671"))
        );
        assert_eq!(
            call(e164, &[json!("020 7946 0018"), json!("gb")]),
            Some(json!("+442079460018"))
        );
        assert_eq!(
            call(e164, &[json!("+44 20 7946 0018"), json!("US")]),
            Some(json!("+442079460018"))
        );
        assert_eq!(
            call(e164, &[json!(4_155_552_671_i64), json!("US")]),
            Some(json!("+14155552671"))
        );
    }

    #[test]
    fn e164_kept_numbers_are_read_per_region() {
        // The same national text is a different number in each region, and a kept number
        // is the one of its own region, however often and in whatever order it is asked.
        for _ in 0..3 {
            assert_eq!(
                call(e164, &[json!("020 7946 0018"), json!("GB")]),
                Some(json!("+442079460018"))
            );
            assert_eq!(call(e164, &[json!("020 7946 0018"), json!("US")]), None);
            assert_eq!(call(e164, &[json!("020 7946 0018")]), None);
            assert_eq!(
                call(e164, &[json!("(415) 555-2671"), json!("us")]),
                Some(json!("+14155552671"))
            );
            assert_eq!(
                call(e164, &[json!("01 42 44 62 48"), json!("FR")]),
                Some(json!("+33142446248"))
            );
        }
        // An unknown region is refused even when the number is kept.
        assert!(e164(&[Some(json!("020 7946 0018")), Some(json!("ZZ"))]).is_err());
    }

    #[test]
    fn e164_keeps_international_numbers_whatever_the_region() {
        // The national number starts with the region's national prefix (1 in the US).
        for region in ["US", "CA", "GB", "FR"] {
            assert_eq!(
                call(e164, &[json!("+33 1 42 44 62 48"), json!(region)]),
                Some(json!("+33142446248")),
                "{region}"
            );
        }
        assert_eq!(
            call(e164, &[json!(" +1 (415) 555-2671"), json!("FR")]),
            Some(json!("+14155552671"))
        );
    }

    /// Every region's phone patterns compile in ASCII mode, and with them every example
    /// number of the metadata (a valid number of its region and type, by definition) is
    /// still valid, written with its country code.
    #[test]
    fn e164_reads_every_regions_example_numbers_with_ascii_patterns() {
        let database = &*phonenumber::metadata::DATABASE;
        let (mut checked, mut failed) = (0, Vec::new());
        for meta in database.iter() {
            for pattern in phone_patterns(meta) {
                assert!(
                    ascii_phone_pattern(pattern.as_str()).is_some(),
                    "{}: `{}` compiles in ASCII mode",
                    meta.id(),
                    pattern.as_str()
                );
            }
            let descriptors = meta.descriptors();
            let examples = [
                descriptors.fixed_line(),
                descriptors.mobile(),
                descriptors.toll_free(),
                descriptors.voip(),
            ]
            .into_iter()
            .flatten()
            .filter_map(phonenumber::metadata::Descriptor::example);
            for example in examples {
                let expected = format!("+{}{example}", meta.country_code());
                let international = format!("+{} {example}", meta.country_code());
                if normalised_phone(None, &international).as_deref() != Some(expected.as_str()) {
                    failed.push(format!("{}: {international}", meta.id()));
                }
                checked += 1;
            }
        }
        // The crate's own quirk, the same with its Unicode patterns (checked apart): after
        // the country code it strips a national prefix of `8` from these toll-free numbers.
        failed.sort();
        assert_eq!(
            failed,
            [
                "BY: +375 8011234567",
                "KZ: +7 8001234567",
                "LT: +370 80012345",
                "LT: +370 80123456",
                "RU: +7 8001234567"
            ]
        );
        assert!(checked > 500, "{checked} example numbers");
    }

    #[test]
    fn e164_gives_undefined_for_unparseable() {
        assert_eq!(call(e164, &[json!("(415) 555-2671")]), None);
        assert_eq!(call(e164, &[json!("not a phone")]), None);
        assert_eq!(call(e164, &[json!("+1 12")]), None);
        assert_eq!(call(e164, &[json!("")]), None);
        assert_eq!(e164(&[None, Some(json!("US"))]), Ok(None));
    }

    #[test]
    fn e164_rejects_unknown_regions() {
        let error = e164(&[Some(json!("123")), Some(json!("XX"))]).unwrap_err();
        assert_eq!(error.code, "CW003");
        assert_eq!(error.message, "`XX` is not an ISO 3166 region code");
    }

    #[test]
    fn soql_escape_escapes_literal_characters() {
        assert_eq!(
            call(soql_escape, &[json!("O'Brien \"Bob\" \\ a\nb\tc\r")]),
            Some(json!("O\\'Brien \\\"Bob\\\" \\\\ a\\nb\\tc\\r"))
        );
        assert_eq!(call(soql_escape, &[json!("plain")]), Some(json!("plain")));
        assert_eq!(call(soql_escape, &[json!(12)]), Some(json!("12")));
        assert_eq!(soql_escape(&[None]), Ok(None));
        assert_eq!(soql_escape(&[Some(json!([]))]).unwrap_err().code, "CW005");
    }

    #[test]
    fn odata_escape_doubles_single_quotes() {
        assert_eq!(
            call(odata_escape, &[json!("O'Brien's")]),
            Some(json!("O''Brien''s"))
        );
        assert_eq!(odata_escape(&[None]), Ok(None));
    }

    #[test]
    fn split_name_handles_common_shapes() {
        assert_eq!(
            call(split_name, &[json!("Ada Lovelace")]),
            Some(json!({"first": "Ada", "last": "Lovelace"}))
        );
        assert_eq!(
            call(split_name, &[json!("  Ludwig   van Beethoven ")]),
            Some(json!({"first": "Ludwig", "last": "van Beethoven"}))
        );
        assert_eq!(
            call(split_name, &[json!("Lovelace, Ada King")]),
            Some(json!({"first": "Ada King", "last": "Lovelace"}))
        );
        assert_eq!(
            call(split_name, &[json!("Cher")]),
            Some(json!({"first": "Cher"}))
        );
        assert_eq!(call(split_name, &[json!("   ")]), None);
        assert_eq!(split_name(&[None]), Ok(None));
    }
}
