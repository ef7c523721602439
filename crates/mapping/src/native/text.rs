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
/// the phone metadata once (tens of thousands of instructions), and then read here while it
/// is kept. Records are mapped again and again (every list page, every sync pass reads the
/// same contacts), and one company's number is on many of its contacts. At most
/// [`PHONES_KEPT`] are kept; when full, the map starts over. Keys come from vendor data, so
/// the hasher is seeded per process.
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
    widen_phone_pattern_cache();
    if let Some(region) = region {
        prepare_phone_patterns(PhoneRegions::Id(region.as_ref()));
    }
    let number = phonenumber::parse(region, phone).ok();
    if let Some(number) = &number {
        // A number written with its country code: its country's patterns, from the next
        // number on (this one compiled the crate's own, which these replace).
        prepare_phone_patterns(PhoneRegions::Code(number.code().value()));
    }
    let found = number
        .filter(is_valid_phone)
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

/// The most memory, in bytes, each compiled phone pattern's lazy DFA may use per search
/// direction and per thread that uses it (the `regex` crate's default is 2 MB).
///
/// A pattern's lazy DFA adds states as the numbers it reads need them and keeps them; with the
/// default limit the phone patterns' caches grew with a run until they were the largest part
/// of a sync's memory (64 MB of a 123 MB heap peak after a backfill of 30,000 contacts,
/// heaptrack, `docs/benchmarks.md`, `bulk_backfill`). With this limit a cache that fills
/// starts over instead (the DFA's states are rebuilt as needed); a phone number is at most a
/// few dozen bytes, so a small cache still serves most numbers from states already built.
/// Memory is so bounded without ever dropping the compiled patterns.
const PHONE_PATTERN_CACHE_BYTES: usize = 64 * 1024;

/// The `phonenumber` crate compiles its metadata's patterns on first use into one global LRU
/// that keeps only 100 of them. Numbers from a few dozen regions and number types overflow it,
/// and every later number then recompiles patterns (a regex compilation costs far more than the
/// parse), which made `$e164` the largest cost of a unified list. Widening that cache once makes
/// each pattern compile at most once; results are unchanged.
fn widen_phone_pattern_cache() {
    static WIDENED: std::sync::Once = std::sync::Once::new();
    WIDENED.call_once(|| {
        phonenumber::metadata::DATABASE
            .cache()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .set_capacity(PHONE_PATTERNS_KEPT);
    });
}

/// The regions (by id) or country codes whose phone patterns are in the `phonenumber` crate's
/// cache as [`ascii_phone_pattern`] compiled them.
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
/// [`ascii_phone_pattern`], once, in place of any the crate compiled itself.
///
/// The crate compiles its metadata's patterns in Unicode mode, where `\d` is any of the
/// hundreds of Unicode decimal digits: each pattern's automaton is many times larger, and so
/// are the lazy-DFA caches each keeps per thread (the largest part of a sync's memory, and of
/// its time in `$e164`), and they are not bounded by [`PHONE_PATTERN_CACHE_BYTES`]. The
/// patterns only ever read the ASCII digits of a number the crate has already normalised, so
/// ASCII mode gives the same answers. The cache is keyed by the pattern's text; a pattern that
/// does not compile in ASCII mode is left to the crate.
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
                // In place of the crate's own, when a number compiled it first.
                cache.insert(pattern.as_str().to_owned(), regex);
            }
        }
    }
    prepared.insert(key);
}

/// Every number descriptor of a region's metadata, the general one first.
fn descriptors_of(
    meta: &phonenumber::Metadata,
) -> impl Iterator<Item = &phonenumber::metadata::Descriptor> {
    let descriptors = meta.descriptors();
    [
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
}

/// Every pattern of a region's metadata.
fn phone_patterns(meta: &phonenumber::Metadata) -> Vec<&regex_cache::CachedRegex> {
    let mut patterns: Vec<&regex_cache::CachedRegex> = descriptors_of(meta)
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
/// but in ASCII mode and with its lazy DFA's memory bounded; `None` when it does not compile
/// so.
fn ascii_phone_pattern(source: &str) -> Option<regex::Regex> {
    #[cfg(test)]
    tests::COMPILED_HERE.with(|compiled| compiled.set(compiled.get() + 1));
    regex::RegexBuilder::new(source)
        .ignore_whitespace(true)
        .unicode(false)
        .dfa_size_limit(PHONE_PATTERN_CACHE_BYTES)
        .build()
        .ok()
}
/// Whether `number` is valid, as `phonenumber::is_valid` answers, but with patterns of our own
/// ([`NumberTypes`]) rather than through the crate's pattern cache.
///
/// The crate looks each pattern up in one global cache behind a lock, keyed by the pattern's
/// text, hashed with SipHash on every use (often hundreds of bytes), and validating a number
/// takes a dozen such uses and more (every number type of every region of its country code,
/// twice): that hashing was about 6% of a backfill's CPU. Ours are compiled once per region and
/// read without a lock. Where ours cannot answer (a pattern that compiles in neither mode, a
/// region the metadata does not hold), the crate answers.
fn is_valid_phone(number: &phonenumber::PhoneNumber) -> bool {
    own_validity(number).unwrap_or_else(|| phonenumber::is_valid(number))
}

/// [`is_valid_phone`]'s answer from [`NumberTypes`], step for step as the crate's validator
/// takes it (`source_for` then `number_type`); `None` where they cannot give it.
fn own_validity(number: &phonenumber::PhoneNumber) -> Option<bool> {
    let database: &'static phonenumber::metadata::Database = &phonenumber::metadata::DATABASE;
    let code = number.country().code();
    let national = number.national().to_string();
    let Some(regions) = database.region(&code) else {
        return Some(false);
    };
    if let [region] = regions.as_slice() {
        let meta = if *region == "001" {
            database
                .by_code(&code)
                .and_then(|metadata| metadata.into_iter().next())
        } else {
            match phonenumber::country::Id::from_str(region) {
                Ok(id) => database.by_id(id.as_ref()),
                Err(_) => None,
            }
        };
        return match meta {
            Some(meta) => Some(number_types(meta)?.is_valid(&national)),
            None => Some(false),
        };
    }
    // A code of several regions: the first whose leading digits start the number or, for a
    // region without leading digits, whose numbers it is one of.
    for region in regions {
        let types = number_types(database.by_id(region)?)?;
        match &types.leading_digits {
            Some(leading) => {
                if leading.is_match(&national) {
                    let id = phonenumber::country::Id::from_str(region).ok()?;
                    return Some(number_types(database.by_id(id.as_ref())?)?.is_valid(&national));
                }
            }
            None => {
                if types.is_valid(&national) {
                    return Some(true);
                }
            }
        }
    }
    Some(false)
}

/// The number types of every region, each compiled on first use ([`NumberTypes::new`]);
/// `None` for a region whose patterns do not all compile.
static NUMBER_TYPES: std::sync::LazyLock<
    std::collections::HashMap<
        &'static str,
        std::sync::OnceLock<Option<NumberTypes>>,
        foldhash::fast::FixedState,
    >,
> = std::sync::LazyLock::new(|| {
    phonenumber::metadata::DATABASE
        .iter()
        .map(|meta| (meta.id(), std::sync::OnceLock::new()))
        .collect()
});

/// `meta`'s number types, compiled on first use.
fn number_types(meta: &phonenumber::Metadata) -> Option<&'static NumberTypes> {
    NUMBER_TYPES
        .get(meta.id())?
        .get_or_init(|| NumberTypes::new(meta))
        .as_ref()
}

/// A region's patterns as the crate's validator reads them.
struct NumberTypes {
    /// Every valid number of the region is one of these.
    general: NumberType,
    /// A valid number is also one of these (fixed line, mobile, toll free, premium rate,
    /// shared cost, VoIP, personal, pager, UAN, voicemail: the types the crate's
    /// `number_type` tells apart; emergency, short codes and the rest make no number valid).
    types: Vec<NumberType>,
    /// The region's leading digits, which tell its numbers from those of the other regions of
    /// its country code.
    leading_digits: Option<regex::Regex>,
}

impl NumberTypes {
    fn new(meta: &phonenumber::Metadata) -> Option<Self> {
        let descriptors = meta.descriptors();
        let types = [
            descriptors.fixed_line(),
            descriptors.mobile(),
            descriptors.toll_free(),
            descriptors.premium_rate(),
            descriptors.shared_cost(),
            descriptors.voip(),
            descriptors.personal_number(),
            descriptors.pager(),
            descriptors.uan(),
            descriptors.voicemail(),
        ];
        Some(NumberTypes {
            general: NumberType::new(descriptors.general())?,
            types: types
                .into_iter()
                .flatten()
                .map(NumberType::new)
                .collect::<Option<_>>()?,
            leading_digits: match meta.leading_digits() {
                Some(pattern) => Some(anchored_phone_pattern(pattern.as_str())?),
                None => None,
            },
        })
    }

    /// The crate's `number_type(meta, national) != Type::Unknown`.
    fn is_valid(&self, national: &str) -> bool {
        self.general.matches(national) && self.types.iter().any(|kind| kind.matches(national))
    }
}

/// One number type of a region: its lengths and its pattern.
struct NumberType {
    lengths: Vec<u16>,
    /// The type's pattern, anchored at the start ([`anchored_phone_pattern`]).
    pattern: regex::Regex,
}

impl NumberType {
    fn new(descriptor: &phonenumber::metadata::Descriptor) -> Option<Self> {
        Some(NumberType {
            lengths: descriptor.possible_length().to_vec(),
            pattern: anchored_phone_pattern(descriptor.national_number().as_str())?,
        })
    }

    /// The crate's `Descriptor::is_match`: a possible length (when the type declares any),
    /// and a match of the pattern that starts where the number does.
    fn matches(&self, national: &str) -> bool {
        let length = u16::try_from(national.len()).unwrap_or(u16::MAX);
        (self.lengths.is_empty() || self.lengths.contains(&length))
            && self.pattern.is_match(national)
    }
}

/// `source` compiled to match only at the start of a text, as the crate uses its patterns
/// (`find(text)` and then a match's start at 0: there is a match starting at 0 exactly when
/// the leftmost match starts there), in ASCII mode as [`ascii_phone_pattern`] (or, where it
/// does not compile so, in Unicode mode as the crate does). The line break closes a comment
/// the pattern might end with, whitespace being ignored.
fn anchored_phone_pattern(source: &str) -> Option<regex::Regex> {
    let anchored = format!("^(?:{source}\n)");
    ascii_phone_pattern(&anchored).or_else(|| {
        regex::RegexBuilder::new(&anchored)
            .ignore_whitespace(true)
            .dfa_size_limit(PHONE_PATTERN_CACHE_BYTES)
            .build()
            .ok()
    })
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

    thread_local! {
        /// Phone patterns compiled on this thread ([`ascii_phone_pattern`]).
        pub(super) static COMPILED_HERE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Once a region's patterns are compiled, normalising its numbers compiles nothing more,
    /// however many: the patterns' lazy-DFA caches are bounded in size
    /// ([`PHONE_PATTERN_CACHE_BYTES`]) instead of dropped with the patterns every so many
    /// numbers, which made every pattern in use compile again (about 11% of a backfill's CPU).
    #[test]
    fn e164_compiles_a_regions_patterns_once() {
        let normalise = |i: u32| {
            let (a, b) = (i % 1_000, i / 1_000 % 1_000);
            let national = format!("020 7{a:03} 0{b:03}");
            assert_eq!(
                call(e164, &[json!(national), json!("GB")]),
                Some(json!(format!("+44207{a:03}0{b:03}"))),
                "{national}"
            );
            let international = format!("+1 415-{:03}-{:04}", 201 + i % 700, i % 10_000);
            call(e164, &[json!(international), json!("FR")]);
        };
        normalise(0);
        normalise(1);
        let compiled = COMPILED_HERE.with(std::cell::Cell::get);
        // More distinct numbers than were parsed between two drops of every pattern.
        for i in 2..12_000 {
            normalise(i);
        }
        assert_eq!(COMPILED_HERE.with(std::cell::Cell::get), compiled);
    }

    /// Our validation ([`own_validity`]) answers as the `phonenumber` crate's for every kind of
    /// number of every region: each example number of the metadata, and the same with its last
    /// digit changed, one digit fewer and one more, read with the country code and, for
    /// regions with an ISO 3166 id, in the region's national format.
    #[test]
    fn e164_validates_as_the_phone_crate_does() {
        let database = &*phonenumber::metadata::DATABASE;
        let (mut checked, mut valid, mut differ) = (0, 0, Vec::new());
        for meta in database.iter() {
            let examples =
                descriptors_of(meta).filter_map(phonenumber::metadata::Descriptor::example);
            let region = phonenumber::country::Id::from_str(meta.id()).ok();
            for example in examples {
                let mut variants = vec![example.to_owned(), format!("{example}5")];
                if let Some(shorter) = example.get(..example.len().saturating_sub(1)) {
                    for digit in 0..10 {
                        variants.push(format!("{shorter}{digit}"));
                    }
                    variants.push(shorter.to_owned());
                }
                for variant in variants {
                    let international = format!("+{} {variant}", meta.country_code());
                    let national = meta
                        .national_prefix()
                        .map_or(variant.clone(), |prefix| format!("{prefix}{variant}"));
                    let readings = [
                        phonenumber::parse(None, &international),
                        phonenumber::parse(region, &national),
                        phonenumber::parse(region, &variant),
                    ];
                    for number in readings.into_iter().flatten() {
                        let theirs = phonenumber::is_valid(&number);
                        let ours = own_validity(&number);
                        if ours != Some(theirs) {
                            differ
                                .push(format!("{}: {number:?}: {ours:?}, not {theirs}", meta.id()));
                        }
                        checked += 1;
                        valid += usize::from(theirs);
                    }
                }
            }
        }
        assert_eq!(differ, Vec::<String>::new());
        assert!(
            checked > 20_000 && valid > 5_000,
            "{checked} numbers, {valid} valid"
        );
    }

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
