//! Countries as CRMs write them, turned into the region codes phone numbers need.
//!
//! Real records name a country every which way: `USA`, `United States`, `US`, `U.S.A.`,
//! `France`, `México`, `Korea, Republic of`. [`region_of`] reads all of these with the
//! ISO 3166-1 tables of the `celes` crate and gives the alpha-2 code `$e164` takes as its
//! default region, so a national number such as `(336) 222-7000` on a record whose country is
//! `USA` normalises to `+13362227000`.

use std::str::FromStr;

use celes::Country;
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

use super::{arg, scalar_text};
use crate::MappingError;

/// `$regionOf(country)`.
pub(super) fn region_of(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    let Some(country) = scalar_text(arg(args, 0), "regionOf")? else {
        return Ok(None);
    };
    Ok(region(&country).map(|code| Value::String(code.to_owned())))
}

/// The alpha-2 code of the country `text` names, when it names one that has a telephone
/// numbering plan of its own.
fn region(text: &str) -> Option<&'static str> {
    let text = text.trim();
    let found = code(text)
        .or_else(|| numeric(text))
        .or_else(|| name(text))?;
    // A handful of uninhabited territories (Antarctica, Bouvet Island, …) have no numbering
    // plan, and `$e164` would refuse their code.
    phonenumber::country::Id::from_str(found.alpha2)
        .is_ok()
        .then_some(found.alpha2)
}

/// A two- or three-letter code, dotted or not (`US`, `usa`, `U.S.A.`).
fn code(text: &str) -> Option<Country> {
    if !text.chars().all(|c| c.is_ascii_alphabetic() || c == '.') {
        return None;
    }
    let letters: String = text.chars().filter(char::is_ascii_alphabetic).collect();
    match letters.len() {
        // `UK` is not the ISO code but is reserved for the United Kingdom and written often.
        2 if letters.eq_ignore_ascii_case("uk") => Country::from_alpha2("GB").ok(),
        2 => Country::from_alpha2(&letters).ok(),
        3 => Country::from_alpha3(&letters).ok(),
        _ => None,
    }
}

/// An ISO 3166-1 numeric code (`840`).
fn numeric(text: &str) -> Option<Country> {
    (text.len() == 3 && text.chars().all(|c| c.is_ascii_digit()))
        .then(|| Country::from_code(text).ok())
        .flatten()
}

/// A country's English name, short or official, with or without accents, spaces and
/// punctuation; ISO's inverted forms (`Korea, Republic of`) and a parenthesised qualifier
/// (`Iran (Islamic Republic of)`) included.
fn name(text: &str) -> Option<Country> {
    let folded: String = text
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase()
        .replace('&', " and ");
    let plain = match (folded.find('('), folded.rfind(')')) {
        (Some(open), Some(close)) if open < close => {
            format!("{}{}", &folded[..open], &folded[close + 1..])
        }
        _ => folded.clone(),
    };
    let mut candidates = vec![folded.clone(), plain.clone()];
    if let Some((before, after)) = plain.split_once(',') {
        candidates.push(format!("{after} {before}"));
        candidates.push(before.to_owned());
        candidates.push(after.to_owned());
    }
    candidates.into_iter().find_map(|candidate| {
        let key: String = candidate.chars().filter(|c| c.is_alphanumeric()).collect();
        // Short keys would be read as codes (`N/A` is not Namibia).
        if key.chars().count() <= 3 {
            return None;
        }
        Country::from_name(&key)
            .or_else(|_| Country::from_alias(&key))
            .or_else(|_| Country::from_str(&key))
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::native::tests::call;

    fn of(country: &str) -> Option<Value> {
        call(region_of, &[json!(country)])
    }

    #[test]
    fn reads_codes_in_any_case_and_with_dots() {
        for (given, region) in [
            ("US", "US"),
            ("us", "US"),
            ("USA", "US"),
            ("U.S.A.", "US"),
            ("U.S.", "US"),
            ("GBR", "GB"),
            ("UK", "GB"),
            ("de", "DE"),
            ("840", "US"),
            (" FR ", "FR"),
        ] {
            assert_eq!(of(given), Some(json!(region)), "{given}");
        }
    }

    #[test]
    fn reads_names_as_crms_hold_them() {
        for (given, region) in [
            ("United States", "US"),
            ("United States of America", "US"),
            ("united kingdom", "GB"),
            ("England", "GB"),
            ("France", "FR"),
            ("Germany", "DE"),
            ("México", "MX"),
            ("Côte d'Ivoire", "CI"),
            ("Türkiye", "TR"),
            ("The Netherlands", "NL"),
            ("Korea, Republic of", "KR"),
            ("Iran (Islamic Republic of)", "IR"),
            ("Trinidad & Tobago", "TT"),
            ("St. Lucia", "LC"),
            ("São Paulo, Brazil", "BR"),
        ] {
            assert_eq!(of(given), Some(json!(region)), "{given}");
        }
    }

    #[test]
    fn gives_undefined_for_what_names_no_country() {
        for given in ["", "  ", "Narnia", "N/A", "XX", "Korea", "-", "Antarctica"] {
            assert_eq!(of(given), None, "{given}");
        }
        assert_eq!(region_of(&[None]), Ok(None));
        assert_eq!(region_of(&[Some(json!(null))]), Ok(None));
        assert_eq!(region_of(&[Some(json!(["US"]))]).unwrap_err().code, "CW005");
    }
}
