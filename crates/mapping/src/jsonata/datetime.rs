//! XPath integer and date/time pictures (F&O 3.1 §4.6.1, §9.8, as JSONata reads them):
//! `$formatInteger`, `$parseInteger`, `$fromMillis` and `$now` with a picture or time zone, and
//! `$toMillis`.
//!
//! Written to give jsonata-js's results, including its extensions (`X`/`x` week-numbering year
//! and month) and its readings of what the specification leaves open (a time zone given as
//! `±hhmm` text, zero parsed values counting as absent when checking which components a
//! timestamp gives).

use chrono::{Datelike, Timelike};

use super::err;
use super::eval::R;

const FEW: [&str; 20] = [
    "Zero",
    "One",
    "Two",
    "Three",
    "Four",
    "Five",
    "Six",
    "Seven",
    "Eight",
    "Nine",
    "Ten",
    "Eleven",
    "Twelve",
    "Thirteen",
    "Fourteen",
    "Fifteen",
    "Sixteen",
    "Seventeen",
    "Eighteen",
    "Nineteen",
];
const ORDINALS: [&str; 20] = [
    "Zeroth",
    "First",
    "Second",
    "Third",
    "Fourth",
    "Fifth",
    "Sixth",
    "Seventh",
    "Eighth",
    "Ninth",
    "Tenth",
    "Eleventh",
    "Twelfth",
    "Thirteenth",
    "Fourteenth",
    "Fifteenth",
    "Sixteenth",
    "Seventeenth",
    "Eighteenth",
    "Nineteenth",
];
const DECADES: [&str; 9] = [
    "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety", "Hundred",
];
const MAGNITUDES: [&str; 4] = ["Thousand", "Million", "Billion", "Trillion"];
const DAYS: [&str; 8] = [
    "",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAY_MILLIS: i64 = 86_400_000;

/// The first code point of every Unicode decimal digit family JSONata knows.
const DECIMAL_GROUPS: [u32; 37] = [
    0x30, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
    0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
    0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0xFF10,
];

fn error(code: &str, detail: &str) -> Box<crate::MappingError> {
    let message = match code {
        "D3110" => format!("the timestamp `{detail}` cannot be parsed as ISO 8601"),
        "D3130" => format!(
            "formatting or parsing an integer as a sequence starting with `{detail}` is not supported"
        ),
        "D3131" => {
            "in a decimal digit pattern, all digits must be from the same decimal group".into()
        }
        "D3132" => format!("unknown component specifier `{detail}` in date/time picture string"),
        "D3133" => format!(
            "the 'name' modifier can only be applied to months and days in the date/time picture string, not `{detail}`"
        ),
        "D3134" => "the timezone integer format specifier cannot have more than four digits".into(),
        "D3135" => "no matching closing bracket ']' in date/time picture string".into(),
        _ => "the date/time picture string is missing specifiers required to parse the timestamp"
            .into(),
    };
    err(code, message, None)
}

// ---- integers ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Primary {
    Decimal,
    Letters,
    Roman,
    Words,
    Sequence,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    Upper,
    Lower,
    Title,
}

#[derive(Clone, Debug)]
struct IntFormat {
    primary: Primary,
    case: Case,
    ordinal: bool,
    zero: u32,
    mandatory: usize,
    optional: usize,
    /// Regular grouping: every `n` digits, with this character.
    regular: Option<(usize, char)>,
    /// Irregular grouping: (digits to the right, character), right to left.
    separators: Vec<(usize, char)>,
    token: String,
    /// For parsing an integer directly followed by another: its exact width.
    parse_width: Option<usize>,
}

fn analyse_integer(picture: &str) -> R<IntFormat> {
    let mut format = IntFormat {
        primary: Primary::Decimal,
        case: Case::Lower,
        ordinal: false,
        zero: 0x30,
        mandatory: 0,
        optional: 0,
        regular: None,
        separators: Vec::new(),
        token: String::new(),
        parse_width: None,
    };
    let primary = match picture.rfind(';') {
        None => picture,
        Some(at) => {
            format.ordinal = picture[at + 1..].starts_with('o');
            &picture[..at]
        }
    };
    match primary {
        "A" | "a" => {
            format.primary = Primary::Letters;
            format.case = if primary == "A" {
                Case::Upper
            } else {
                Case::Lower
            };
        }
        "I" | "i" => {
            format.primary = Primary::Roman;
            format.case = if primary == "I" {
                Case::Upper
            } else {
                Case::Lower
            };
        }
        "W" => {
            format.primary = Primary::Words;
            format.case = Case::Upper;
        }
        "Ww" => {
            format.primary = Primary::Words;
            format.case = Case::Title;
        }
        "w" => format.primary = Primary::Words,
        _ => {
            let mut zero = None;
            let mut position = 0;
            let mut separators = Vec::new();
            for c in primary.chars().rev() {
                let code = c as u32;
                if let Some(&group) = DECIMAL_GROUPS
                    .iter()
                    .find(|&&group| (group..=group + 9).contains(&code))
                {
                    format.mandatory += 1;
                    position += 1;
                    match zero {
                        None => zero = Some(group),
                        Some(existing) if existing != group => {
                            return Err(error("D3131", ""));
                        }
                        Some(_) => {}
                    }
                } else if c == '#' {
                    position += 1;
                    format.optional += 1;
                } else {
                    separators.push((position, c));
                }
            }
            if format.mandatory > 0 {
                format.zero = zero.unwrap_or(0x30);
                match regular_repeat(&separators) {
                    Some(every) => format.regular = Some((every, separators[0].1)),
                    None => format.separators = separators,
                }
            } else {
                format.primary = Primary::Sequence;
                primary.clone_into(&mut format.token);
            }
        }
    }
    Ok(format)
}

fn regular_repeat(separators: &[(usize, char)]) -> Option<usize> {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let first = separators.first()?;
    if separators.iter().any(|(_, c)| *c != first.1) {
        return None;
    }
    let factor = separators[1..]
        .iter()
        .fold(first.0, |a, (position, _)| gcd(a, *position));
    (1..=separators.len())
        .all(|index| separators.iter().any(|(p, _)| *p == index * factor))
        .then_some(factor)
        .filter(|&factor| factor > 0)
}

fn words(value: f64, ordinal: bool) -> String {
    fn lookup(num: f64, prev: bool, ordinal: bool) -> String {
        let mut out = String::new();
        if num <= 19.0 {
            if prev {
                out.push_str(" and ");
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let index = num as usize;
            out.push_str(if ordinal { ORDINALS[index] } else { FEW[index] });
        } else if num < 100.0 {
            let tens = (num / 10.0).floor();
            let remainder = num % 10.0;
            if prev {
                out.push_str(" and ");
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            out.push_str(DECADES[tens as usize - 2]);
            if remainder > 0.0 {
                out.push('-');
                out.push_str(&lookup(remainder, false, ordinal));
            } else if ordinal {
                out.pop();
                out.push_str("ieth");
            }
        } else if num < 1000.0 {
            let hundreds = (num / 100.0).floor();
            let remainder = num % 100.0;
            if prev {
                out.push_str(", ");
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            out.push_str(FEW[hundreds as usize]);
            out.push_str(" Hundred");
            if remainder > 0.0 {
                out.push_str(&lookup(remainder, true, ordinal));
            } else if ordinal {
                out.push_str("th");
            }
        } else {
            #[allow(clippy::cast_possible_truncation)]
            let mut magnitude = (num.log10() / 3.0).floor() as i32;
            if magnitude > 4 {
                magnitude = 4;
            }
            let factor = 10f64.powi(magnitude * 3);
            let mantissa = (num / factor).floor();
            let remainder = num - mantissa * factor;
            if prev {
                out.push_str(", ");
            }
            out.push_str(&lookup(mantissa, false, false));
            out.push(' ');
            #[allow(clippy::cast_sign_loss)]
            out.push_str(MAGNITUDES[magnitude as usize - 1]);
            if remainder > 0.0 {
                out.push_str(&lookup(remainder, true, ordinal));
            } else if ordinal {
                out.push_str("th");
            }
        }
        out
    }
    lookup(value, false, ordinal)
}

/// Every word `$parseInteger` reads, with its value, in jsonata-js's order.
fn word_values() -> Vec<(String, f64)> {
    let mut values: Vec<(String, f64)> = Vec::new();
    let mut set = |word: String, value: f64| {
        if let Some(slot) = values.iter_mut().find(|(w, _)| *w == word) {
            slot.1 = value;
        } else {
            values.push((word, value));
        }
    };
    for (index, word) in FEW.iter().enumerate() {
        set(word.to_lowercase(), index as f64);
    }
    for (index, word) in ORDINALS.iter().enumerate() {
        set(word.to_lowercase(), index as f64);
    }
    for (index, word) in DECADES.iter().enumerate() {
        let lower = word.to_lowercase();
        let value = ((index + 2) * 10) as f64;
        set(lower.clone(), value);
        set(format!("{}ieth", &lower[..lower.len() - 1]), value);
    }
    set("hundredth".into(), 100.0);
    for (index, word) in MAGNITUDES.iter().enumerate() {
        let lower = word.to_lowercase();
        #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
        let value = 10f64.powi(((index + 1) * 3) as i32);
        set(lower.clone(), value);
        set(format!("{lower}th"), value);
    }
    values
}

fn words_to_number(text: &str) -> Option<f64> {
    let chars: Vec<char> = text.chars().collect();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        let next = |offset: usize| chars.get(at + offset).copied();
        let len = if c == ',' && next(1).is_some_and(char::is_whitespace) {
            2
        } else if c.is_whitespace()
            && next(1) == Some('a')
            && next(2) == Some('n')
            && next(3) == Some('d')
            && next(4).is_some_and(char::is_whitespace)
        {
            5
        } else if c.is_whitespace() || c == '\\' || c == '-' {
            1
        } else {
            0
        };
        if len > 0 {
            parts.push(chars[start..at].iter().collect::<String>());
            at += len;
            start = at;
        } else {
            at += 1;
        }
    }
    parts.push(chars[start..].iter().collect::<String>());
    let table = word_values();
    let mut segments: Vec<f64> = vec![0.0];
    for part in parts {
        let value = table.iter().find(|(w, _)| *w == part).map(|(_, v)| *v)?;
        let top = segments.pop().unwrap_or(0.0);
        if value < 100.0 {
            if top >= 1000.0 {
                segments.push(top);
                segments.push(value);
            } else {
                segments.push(top + value);
            }
        } else {
            segments.push(top * value);
        }
    }
    Some(segments.iter().sum())
}

const ROMAN: [(f64, &str); 13] = [
    (1000.0, "m"),
    (900.0, "cm"),
    (500.0, "d"),
    (400.0, "cd"),
    (100.0, "c"),
    (90.0, "xc"),
    (50.0, "l"),
    (40.0, "xl"),
    (10.0, "x"),
    (9.0, "ix"),
    (5.0, "v"),
    (4.0, "iv"),
    (1.0, "i"),
];

fn to_roman(mut value: f64) -> String {
    let mut out = String::new();
    'outer: loop {
        for (step, letters) in ROMAN {
            if value >= step {
                out.push_str(letters);
                value -= step;
                continue 'outer;
            }
        }
        return out;
    }
}

fn from_roman(text: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut max = 1.0;
    for c in text.chars().rev() {
        let value = match c {
            'M' => 1000.0,
            'D' => 500.0,
            'C' => 100.0,
            'L' => 50.0,
            'X' => 10.0,
            'V' => 5.0,
            'I' => 1.0,
            _ => return None,
        };
        if value < max {
            total -= value;
        } else {
            max = value;
            total += value;
        }
    }
    Some(total)
}

fn to_letters(mut value: f64, a: char) -> String {
    let mut letters = Vec::new();
    while value > 0.0 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let offset = ((value - 1.0) % 26.0) as u32;
        letters.push(char::from_u32(a as u32 + offset).unwrap_or(a));
        value = ((value - 1.0) / 26.0).floor();
    }
    letters.iter().rev().collect()
}

fn from_letters(text: &str, a: char) -> f64 {
    let units: Vec<u16> = text.encode_utf16().collect();
    let mut total = 0.0;
    for (index, unit) in units.iter().rev().enumerate() {
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let weight = 26f64.powi(index as i32);
        total += (f64::from(*unit) - f64::from(a as u32) + 1.0) * weight;
    }
    total
}

/// JavaScript's `parseInt(text)` in base 10: `None` for NaN.
fn js_parse_int(text: &str) -> Option<f64> {
    let text = text.trim_start();
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    digits.parse::<f64>().ok().map(|value| sign * value)
}

fn format_int(value: f64, format: &IntFormat) -> R<String> {
    let negative = value < 0.0;
    let value = value.abs();
    let mut text = match format.primary {
        Primary::Letters => to_letters(value, if format.case == Case::Upper { 'A' } else { 'a' }),
        Primary::Roman => {
            let roman = to_roman(value);
            if format.case == Case::Upper {
                roman.to_uppercase()
            } else {
                roman
            }
        }
        Primary::Words => {
            let text = words(value, format.ordinal);
            match format.case {
                Case::Upper => text.to_uppercase(),
                Case::Lower => text.to_lowercase(),
                Case::Title => text,
            }
        }
        Primary::Decimal => {
            let mut digits = String::new();
            super::value::js_number(value, &mut digits);
            let mut chars: Vec<char> = digits.chars().collect();
            if format.mandatory > chars.len() {
                let mut padded = vec!['0'; format.mandatory - chars.len()];
                padded.append(&mut chars);
                chars = padded;
            }
            if format.zero != 0x30 {
                for c in &mut chars {
                    *c = char::from_u32(*c as u32 + format.zero - 0x30).unwrap_or(*c);
                }
            }
            if let Some((every, separator)) = format.regular {
                let groups = chars.len().saturating_sub(1) / every;
                for group in (1..=groups).rev() {
                    let at = chars.len() - group * every;
                    chars.insert(at, separator);
                }
            } else {
                for &(position, separator) in format.separators.iter().rev() {
                    let at = chars.len().saturating_sub(position);
                    chars.insert(at, separator);
                }
            }
            if format.ordinal {
                let last = chars.last().copied();
                let tens_one = chars.len() > 1 && chars[chars.len() - 2] == '1';
                let suffix = match last {
                    Some('1') if !tens_one => "st",
                    Some('2') if !tens_one => "nd",
                    Some('3') if !tens_one => "rd",
                    _ => "th",
                };
                chars.extend(suffix.chars());
            }
            chars.into_iter().collect()
        }
        Primary::Sequence => return Err(error("D3130", &format.token)),
    };
    if negative {
        text.insert(0, '-');
    }
    Ok(text)
}

/// `$formatInteger(value, picture)`.
pub(crate) fn format_integer(value: f64, picture: &str) -> R<String> {
    let format = analyse_integer(picture)?;
    format_int(value.floor(), &format)
}

/// `$parseInteger(value, picture)`; `None` where jsonata-js gives NaN.
pub(crate) fn parse_integer(value: &str, picture: &str) -> R<Option<f64>> {
    let format = analyse_integer(picture)?;
    parse_int(value, &format)
}

fn parse_int(value: &str, format: &IntFormat) -> R<Option<f64>> {
    let upper = format.case == Case::Upper;
    Ok(match format.primary {
        Primary::Letters => Some(from_letters(value, if upper { 'A' } else { 'a' })),
        Primary::Roman => {
            if upper {
                from_roman(value)
            } else {
                from_roman(&value.to_uppercase())
            }
        }
        Primary::Words => words_to_number(&value.to_lowercase()),
        Primary::Decimal => {
            let mut digits: String = value.to_owned();
            if format.ordinal {
                let keep = digits.encode_utf16().count().saturating_sub(2);
                digits = digits.chars().take(keep).collect();
            }
            if format.regular.is_some() {
                digits = digits.replace(',', "");
            } else {
                for (_, separator) in &format.separators {
                    digits = digits.replace(*separator, "");
                }
            }
            if format.zero != 0x30 {
                digits = digits
                    .chars()
                    .map(|c| {
                        char::from_u32((c as u32 + 0x30).wrapping_sub(format.zero)).unwrap_or(c)
                    })
                    .collect();
            }
            js_parse_int(&digits)
        }
        Primary::Sequence => return Err(error("D3130", &format.token)),
    })
}

// ---- date/time pictures ----

#[derive(Clone, Debug)]
enum Part {
    Literal(String),
    Marker(Box<Marker>),
}

#[derive(Clone, Debug)]
struct Marker {
    component: char,
    width: Option<(Option<usize>, Option<usize>)>,
    presentation2: Option<char>,
    names: Option<Case>,
    integer: Option<IntFormat>,
    /// For the year: how many digits are kept (`None`: all).
    year_digits: Option<usize>,
}

fn default_presentation(component: char) -> Option<&'static str> {
    Some(match component {
        'Y' | 'M' | 'D' | 'd' | 'W' | 'w' | 'X' | 'x' | 'H' | 'h' | 'f' => "1",
        'F' | 'P' | 'C' | 'E' => "n",
        'm' | 's' => "01",
        'Z' | 'z' => "01:01",
        _ => return None,
    })
}

fn analyse_date_time(picture: &str) -> R<Vec<Part>> {
    let chars: Vec<char> = picture.chars().collect();
    let mut parts: Vec<Part> = Vec::new();
    let literal = |parts: &mut Vec<Part>, start: usize, end: usize| {
        if end > start {
            let text: String = chars[start..end].iter().collect();
            parts.push(Part::Literal(text.replace("]]", "]")));
        }
    };
    let mut start = 0;
    let mut pos = 0;
    while pos < chars.len() {
        if chars[pos] == '[' {
            if chars.get(pos + 1) == Some(&'[') {
                literal(&mut parts, start, pos);
                parts.push(Part::Literal("[".into()));
                pos += 2;
                start = pos;
                continue;
            }
            literal(&mut parts, start, pos);
            start = pos;
            let Some(close) = chars[start..].iter().position(|&c| c == ']') else {
                return Err(error("D3135", ""));
            };
            pos = start + close;
            let marker: Vec<char> = chars[start + 1..pos]
                .iter()
                .copied()
                .filter(|c| !c.is_whitespace())
                .collect();
            let component = marker.first().copied().unwrap_or('\0');
            let comma = marker.iter().rposition(|&c| c == ',');
            let width = comma.map(|comma| {
                let modifier: String = marker[comma + 1..].iter().collect();
                let parse = |text: &str| -> Option<usize> {
                    if text == "*" {
                        return None;
                    }
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    js_parse_int(text).map(|value| value.max(0.0) as usize)
                };
                match modifier.find('-') {
                    None => (parse(&modifier), None),
                    Some(dash) => (parse(&modifier[..dash]), parse(&modifier[dash + 1..])),
                }
            });
            let presentation: String = match comma {
                Some(comma) => marker.get(1..comma).unwrap_or(&[]).iter().collect(),
                None => marker.get(1..).unwrap_or(&[]).iter().collect(),
            };
            let (mut presentation1, presentation2) = match presentation.chars().count() {
                0 => (None, None),
                1 => (Some(presentation.clone()), None),
                _ => {
                    let last = presentation.chars().last().unwrap_or(' ');
                    if "atco".contains(last) {
                        let mut first = presentation.clone();
                        first.pop();
                        (Some(first), Some(last))
                    } else {
                        (Some(presentation.clone()), None)
                    }
                }
            };
            if presentation1.is_none() {
                presentation1 = default_presentation(component).map(str::to_owned);
            }
            let Some(presentation1) = presentation1 else {
                return Err(error("D3132", &component.to_string()));
            };
            let mut def = Marker {
                component,
                width,
                presentation2,
                names: None,
                integer: None,
                year_digits: None,
            };
            let mut first_chars = presentation1.chars();
            match (first_chars.next(), first_chars.next()) {
                (Some('n'), _) => def.names = Some(Case::Lower),
                (Some('N'), Some('n')) => def.names = Some(Case::Title),
                (Some('N'), _) => def.names = Some(Case::Upper),
                _ if "YMDdFWwXxHhmsf".contains(component) => {
                    let mut pattern = presentation1.clone();
                    if let Some(second) = presentation2 {
                        pattern.push(';');
                        pattern.push(second);
                    }
                    let mut integer = analyse_integer(&pattern)?;
                    if let Some((Some(min), _)) = def.width
                        && integer.mandatory < min
                    {
                        integer.mandatory = min;
                    }
                    if component == 'Y' {
                        if let Some((_, Some(max))) = def.width {
                            def.year_digits = Some(max);
                            integer.mandatory = max;
                        } else {
                            let w = integer.mandatory + integer.optional;
                            if w >= 2 {
                                def.year_digits = Some(w);
                            }
                        }
                    }
                    if let Some(Part::Marker(previous)) = parts.last_mut()
                        && let Some(previous) = previous.integer.as_mut()
                    {
                        previous.parse_width = Some(previous.mandatory);
                    }
                    def.integer = Some(integer);
                }
                _ => {}
            }
            if component == 'Z' || component == 'z' {
                def.integer = Some(analyse_integer(&presentation1)?);
            }
            parts.push(Part::Marker(Box::new(def)));
            start = pos + 1;
        }
        pos += 1;
    }
    literal(&mut parts, start, pos.min(chars.len()));
    Ok(parts)
}

/// Days from 1970-01-01 to the given proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// JavaScript's `Date.UTC` for integral arguments (years 0 to 99 are 1900 to 1999).
fn date_utc(
    year: i64,
    month0: i64,
    day: i64,
    hours: i64,
    minutes: i64,
    seconds: i64,
    ms: i64,
) -> i64 {
    let year = if (0..=99).contains(&year) {
        1900 + year
    } else {
        year
    };
    let year = year + month0.div_euclid(12);
    let month = month0.rem_euclid(12) + 1;
    let days = days_from_civil(year, month, 1) + day - 1;
    days * DAY_MILLIS + hours * 3_600_000 + minutes * 60_000 + seconds * 1000 + ms
}

/// The UTC fields of an instant.
struct Fields {
    millis: i64,
    year: i64,
    month0: i64,
    day: i64,
    weekday: i64,
    hour: i64,
    minute: i64,
    second: i64,
    milli: i64,
}

fn fields(millis: i64) -> Option<Fields> {
    let instant = chrono::DateTime::from_timestamp_millis(millis)?;
    Some(Fields {
        millis,
        year: i64::from(instant.year()),
        month0: i64::from(instant.month0()),
        day: i64::from(instant.day()),
        weekday: i64::from(instant.weekday().num_days_from_sunday()),
        hour: i64::from(instant.hour()),
        minute: i64::from(instant.minute()),
        second: i64::from(instant.second()),
        milli: i64::from(instant.timestamp_subsec_millis()),
    })
}

fn start_of_first_week(year: i64, month0: i64) -> i64 {
    let first = date_utc(year, month0, 1, 0, 0, 0, 0);
    let mut weekday = (4 + first.div_euclid(DAY_MILLIS)).rem_euclid(7);
    if weekday == 0 {
        weekday = 7;
    }
    if weekday > 4 {
        first + (8 - weekday) * DAY_MILLIS
    } else {
        first - (weekday - 1) * DAY_MILLIS
    }
}

fn next_month(year: i64, month0: i64) -> (i64, i64) {
    if month0 == 11 {
        (year + 1, 0)
    } else {
        (year, month0 + 1)
    }
}

fn previous_month(year: i64, month0: i64) -> (i64, i64) {
    if month0 == 0 {
        (year - 1, 11)
    } else {
        (year, month0 - 1)
    }
}

#[allow(clippy::cast_precision_loss)]
fn delta_weeks(start: i64, end: i64) -> f64 {
    (end - start) as f64 / (DAY_MILLIS * 7) as f64 + 1.0
}

/// A component's value: a number, a name (`am`, `ISO`), or nothing.
enum Fragment {
    Num(f64),
    Text(&'static str),
    None,
}

#[allow(clippy::cast_precision_loss)]
fn fragment(date: &Fields, component: char) -> Fragment {
    let num = |value: i64| Fragment::Num(value as f64);
    match component {
        'Y' => num(date.year),
        'M' => num(date.month0 + 1),
        'D' => num(date.day),
        'd' => {
            let today = date_utc(date.year, date.month0, date.day, 0, 0, 0, 0);
            let first = date_utc(date.year, 0, 1, 0, 0, 0, 0);
            num((today - first) / DAY_MILLIS + 1)
        }
        'F' => num(if date.weekday == 0 { 7 } else { date.weekday }),
        'W' => {
            let start = start_of_first_week(date.year, 0);
            let today = date_utc(date.year, date.month0, date.day, 0, 0, 0, 0);
            let mut week = delta_weeks(start, today);
            if week > 52.0 {
                if today >= start_of_first_week(date.year + 1, 0) {
                    week = 1.0;
                }
            } else if week < 1.0 {
                week = delta_weeks(start_of_first_week(date.year - 1, 0), today);
            }
            Fragment::Num(week.floor())
        }
        'w' => {
            let start = start_of_first_week(date.year, date.month0);
            let today = date_utc(date.year, date.month0, date.day, 0, 0, 0, 0);
            let mut week = delta_weeks(start, today);
            if week > 4.0 {
                let (y, m) = next_month(date.year, date.month0);
                if today >= start_of_first_week(y, m) {
                    week = 1.0;
                }
            } else if week < 1.0 {
                let (y, m) = previous_month(date.year, date.month0);
                week = delta_weeks(start_of_first_week(y, m), today);
            }
            Fragment::Num(week.floor())
        }
        'X' => {
            let start = start_of_first_week(date.year, 0);
            let end = start_of_first_week(date.year + 1, 0);
            num(if date.millis < start {
                date.year - 1
            } else if date.millis >= end {
                date.year + 1
            } else {
                date.year
            })
        }
        'x' => {
            let start = start_of_first_week(date.year, date.month0);
            let (ny, nm) = next_month(date.year, date.month0);
            let end = start_of_first_week(ny, nm);
            num(if date.millis < start {
                previous_month(date.year, date.month0).1 + 1
            } else if date.millis >= end {
                nm + 1
            } else {
                date.month0 + 1
            })
        }
        'H' => num(date.hour),
        'h' => num(match date.hour % 12 {
            0 => 12,
            hour => hour,
        }),
        'P' => Fragment::Text(if date.hour >= 12 { "pm" } else { "am" }),
        'm' => num(date.minute),
        's' => num(date.second),
        'f' => num(date.milli),
        'C' | 'E' => Fragment::Text("ISO"),
        _ => Fragment::None,
    }
}

const ISO_PICTURE: &str = "[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01].[f001][Z01:01t]";

/// `$fromMillis(millis, picture?, timezone?)` (and `$now(picture, timezone)`).
pub(crate) fn format_date_time(
    millis: f64,
    picture: Option<&str>,
    timezone: Option<&str>,
) -> R<Option<String>> {
    let (mut offset_hours, mut offset_minutes) = (0i64, 0i64);
    if let Some(zone) = timezone
        && let Some(offset) = js_parse_int(zone)
    {
        #[allow(clippy::cast_possible_truncation)]
        let offset = offset as i64;
        offset_hours = offset.div_euclid(100);
        offset_minutes = offset % 100;
    }
    let parts = analyse_date_time(picture.unwrap_or(ISO_PICTURE))?;
    let offset_millis = (60 * offset_hours + offset_minutes) * 60_000;
    #[allow(clippy::cast_possible_truncation)]
    let Some(date) = fields(millis.trunc() as i64 + offset_millis) else {
        return Ok(None);
    };
    let mut out = String::new();
    for part in &parts {
        match part {
            Part::Literal(text) => out.push_str(text),
            Part::Marker(marker) => {
                out.push_str(&format_component(
                    &date,
                    marker,
                    offset_hours,
                    offset_minutes,
                )?);
            }
        }
    }
    Ok(Some(out))
}

fn format_component(
    date: &Fields,
    marker: &Marker,
    offset_hours: i64,
    offset_minutes: i64,
) -> R<String> {
    let component = marker.component;
    let value = fragment(date, component);
    if "YMDdFWwXxHhms".contains(component) {
        let Fragment::Num(mut number) = value else {
            return Ok("undefined".into());
        };
        if component == 'Y'
            && let Some(digits) = marker.year_digits
        {
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            let modulus = 10f64.powi(digits as i32);
            number %= modulus;
        }
        if let Some(case) = marker.names {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let index = number as usize;
            let name = match component {
                'M' | 'x' => MONTHS
                    .get(index.wrapping_sub(1))
                    .copied()
                    .unwrap_or("undefined"),
                'F' => DAYS.get(index).copied().unwrap_or("undefined"),
                _ => return Err(error("D3133", &component.to_string())),
            };
            let mut name = match case {
                Case::Upper => name.to_uppercase(),
                Case::Lower => name.to_lowercase(),
                Case::Title => name.to_owned(),
            };
            if let Some((_, Some(max))) = marker.width
                && name.encode_utf16().count() > max
            {
                name = name.chars().take(max).collect();
            }
            return Ok(name);
        }
        let Some(format) = &marker.integer else {
            return Ok("undefined".into());
        };
        return format_int(number, format);
    }
    match component {
        'f' => {
            let Fragment::Num(number) = value else {
                return Ok("undefined".into());
            };
            match &marker.integer {
                Some(format) => format_int(number, format),
                None => Ok("undefined".into()),
            }
        }
        'Z' | 'z' => {
            let offset = offset_hours * 100 + offset_minutes;
            let format = marker
                .integer
                .as_ref()
                .expect("time zone markers have an integer format");
            #[allow(clippy::cast_precision_loss)]
            let mut text = if format.regular.is_some() {
                format_int(offset as f64, format)?
            } else {
                match format.mandatory {
                    1 | 2 => {
                        let mut text = format_int(offset_hours as f64, format)?;
                        if offset_minutes != 0 {
                            text.push(':');
                            text.push_str(&format_integer(offset_minutes as f64, "00")?);
                        }
                        text
                    }
                    3 | 4 => format_int(offset as f64, format)?,
                    _ => return Err(error("D3134", "")),
                }
            };
            if offset >= 0 {
                text.insert(0, '+');
            }
            if component == 'z' {
                text.insert_str(0, "GMT");
            }
            if offset == 0 && marker.presentation2 == Some('t') {
                text = "Z".into();
            }
            Ok(text)
        }
        'P' => {
            let text = match value {
                Fragment::Text(text) => text,
                _ => "undefined",
            };
            Ok(if marker.names == Some(Case::Upper) {
                text.to_uppercase()
            } else {
                text.to_owned()
            })
        }
        _ => Ok(match value {
            Fragment::Text(text) => text.to_owned(),
            #[allow(clippy::cast_possible_truncation)]
            Fragment::Num(number) => {
                let mut text = String::new();
                super::value::js_number(number, &mut text);
                text
            }
            Fragment::None => "undefined".into(),
        }),
    }
}

// ---- parsing timestamps ----

/// How one part of a picture reads its text.
enum Reader {
    None,
    Zone { name: bool, separator: Option<char> },
    Fraction,
    Integer(IntFormat),
    Names(Vec<(String, f64)>),
}

fn escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if ".*+?^${}()|[]\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn integer_regex(format: &IntFormat) -> R<String> {
    let upper = format.case == Case::Upper;
    Ok(match format.primary {
        Primary::Letters => if upper { "[A-Z]+" } else { "[a-z]+" }.to_owned(),
        Primary::Roman => if upper { "[MDCLXVI]+" } else { "[mdclxvi]+" }.to_owned(),
        Primary::Words => {
            let mut alternatives: Vec<String> =
                word_values().into_iter().map(|(word, _)| word).collect();
            alternatives.push("and".into());
            alternatives.push("[\\-, ]".into());
            format!("(?:{})+", alternatives.join("|"))
        }
        Primary::Decimal => {
            let mut regex = String::from("[0-9]");
            match format.parse_width {
                Some(width) => regex.push_str(&format!("{{{width}}}")),
                None => regex.push('+'),
            }
            if format.ordinal {
                regex.push_str("(?:th|st|nd|rd)");
            }
            regex
        }
        Primary::Sequence => return Err(error("D3130", &format.token)),
    })
}

fn reader(part: &Part) -> R<(String, Reader, char)> {
    let marker = match part {
        Part::Literal(text) => return Ok((escape(text), Reader::None, '\0')),
        Part::Marker(marker) => marker,
    };
    let component = marker.component;
    if component == 'Z' || component == 'z' {
        let format = marker
            .integer
            .as_ref()
            .expect("time zone markers have an integer format");
        let separator = format.regular.map(|(_, c)| c);
        let mut regex = String::new();
        if component == 'z' {
            regex.push_str("GMT");
        }
        regex.push_str("[-+][0-9]+");
        if let Some(separator) = separator {
            regex.push_str(&escape(&separator.to_string()));
            regex.push_str("[0-9]+");
        }
        return Ok((
            regex,
            Reader::Zone {
                name: component == 'z',
                separator,
            },
            component,
        ));
    }
    if component == 'f' {
        return Ok(("[0-9]+".into(), Reader::Fraction, component));
    }
    if let Some(format) = &marker.integer {
        return Ok((
            integer_regex(format)?,
            Reader::Integer(format.clone()),
            component,
        ));
    }
    let max = marker.width.and_then(|(_, max)| max).filter(|&max| max > 0);
    let cut = |name: &str| -> String {
        match max {
            Some(max) => name.chars().take(max).collect(),
            None => name.to_owned(),
        }
    };
    let table: Vec<(String, f64)> = match component {
        'M' | 'x' => MONTHS
            .iter()
            .enumerate()
            .map(|(index, name)| (cut(name), (index + 1) as f64))
            .collect(),
        'F' => DAYS
            .iter()
            .enumerate()
            .skip(1)
            .map(|(index, name)| (cut(name), index as f64))
            .collect(),
        'P' => vec![
            ("am".into(), 0.0),
            ("AM".into(), 0.0),
            ("pm".into(), 1.0),
            ("PM".into(), 1.0),
        ],
        _ => return Err(error("D3133", &component.to_string())),
    };
    Ok(("[a-zA-Z]+".into(), Reader::Names(table), component))
}

fn read(reader: &Reader, text: &str) -> R<Option<f64>> {
    Ok(match reader {
        Reader::None => None,
        Reader::Zone { name, separator } => {
            let text = if *name {
                text.get(3..).unwrap_or("")
            } else {
                text
            };
            let (hours, minutes) = match separator {
                Some(separator) => {
                    let at = text.find(*separator).unwrap_or(text.len());
                    (
                        js_parse_int(&text[..at]),
                        js_parse_int(text.get(at + separator.len_utf8()..).unwrap_or("")),
                    )
                }
                None => {
                    if text.chars().count() <= 3 {
                        (js_parse_int(text), Some(0.0))
                    } else {
                        (js_parse_int(&text[..3]), js_parse_int(&text[3..]))
                    }
                }
            };
            match (hours, minutes) {
                (Some(hours), Some(minutes)) => Some(hours * 60.0 + minutes),
                _ => Some(f64::NAN),
            }
        }
        Reader::Fraction => {
            let digits: String = text.chars().take(3).collect();
            Some(format!("0.{digits}").parse::<f64>().unwrap_or(f64::NAN) * 1000.0)
        }
        Reader::Integer(format) => Some(parse_int(text, format)?.unwrap_or(f64::NAN)),
        Reader::Names(table) => table.iter().find(|(name, _)| name == text).map(|(_, v)| *v),
    })
}

/// `$toMillis(timestamp, picture?)`; `now` gives the components a picture leaves out.
pub(crate) fn to_millis(timestamp: &str, picture: Option<&str>, now: i64) -> R<Option<f64>> {
    match picture {
        None => parse_iso(timestamp).map(Some),
        Some(picture) => parse_date_time(timestamp, picture, now),
    }
}

/// `Date.parse` of the ISO 8601 shapes `$toMillis` accepts without a picture.
#[allow(clippy::cast_precision_loss)]
fn parse_iso(text: &str) -> R<f64> {
    let refuse = || error("D3110", text);
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let slice = b.get(range)?;
        slice
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| slice.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let year = digits(0..4).ok_or_else(refuse)?;
    let mut at = 4;
    let mut month = 1;
    let mut day = 1;
    if b.get(at) == Some(&b'-') {
        month = digits(at + 1..at + 3).ok_or_else(refuse)?;
        at += 3;
        if b.get(at) == Some(&b'-') {
            day = digits(at + 1..at + 3).ok_or_else(refuse)?;
            at += 3;
        }
    }
    let (mut hour, mut minute, mut second, mut milli) = (0, 0, 0, 0.0);
    if b.get(at) == Some(&b'T') {
        hour = digits(at + 1..at + 3).ok_or_else(refuse)?;
        if b.get(at + 3) != Some(&b':') || b.get(at + 6) != Some(&b':') {
            return Err(refuse());
        }
        minute = digits(at + 4..at + 6).ok_or_else(refuse)?;
        second = digits(at + 7..at + 9).ok_or_else(refuse)?;
        at += 9;
    }
    if b.get(at) == Some(&b'.') {
        let start = at + 1;
        let mut end = start;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start {
            return Err(refuse());
        }
        let fraction: String = text[start..end].chars().take(3).collect();
        milli = format!("0.{fraction}").parse::<f64>().unwrap_or(0.0) * 1000.0;
        at = end;
    }
    let mut offset = 0;
    match &b[at.min(b.len())..] {
        [] => {}
        [b'Z'] => {}
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => ([*h1, *h2], [*m1, *m2]),
                _ => return Err(refuse()),
            };
            if !h.iter().chain(m.iter()).all(u8::is_ascii_digit) || h[0] > b'2' || m[0] > b'5' {
                return Err(refuse());
            }
            let hours = i64::from((h[0] - b'0') * 10 + (h[1] - b'0'));
            let minutes = i64::from((m[0] - b'0') * 10 + (m[1] - b'0'));
            offset = (hours * 60 + minutes) * if *sign == b'-' { -1 } else { 1 };
        }
        _ => return Err(refuse()),
    }
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour <= 24
        && minute <= 59
        && second <= 59
        && chrono::NaiveDate::from_ymd_opt(
            i32::try_from(year).map_err(|_| refuse())?,
            u32::try_from(month).map_err(|_| refuse())?,
            u32::try_from(day).map_err(|_| refuse())?,
        )
        .is_some();
    if !valid || (hour == 24 && (minute, second, milli) != (0, 0, 0.0)) {
        return Err(refuse());
    }
    let days = days_from_civil(year, month, day);
    Ok(
        (days * DAY_MILLIS + hour * 3_600_000 + minute * 60_000 + second * 1000 - offset * 60_000)
            as f64
            + milli.trunc(),
    )
}

#[allow(clippy::too_many_lines)]
fn parse_date_time(timestamp: &str, picture: &str, now: i64) -> R<Option<f64>> {
    let parts = analyse_date_time(picture)?;
    let mut regex = String::from("^");
    let mut readers = Vec::new();
    for part in &parts {
        let (source, reader, component) = reader(part)?;
        regex.push('(');
        regex.push_str(&source);
        regex.push(')');
        readers.push((reader, component));
    }
    regex.push('$');
    let Ok(matcher) = regress::Regex::with_flags(&regex, "i") else {
        return Ok(None);
    };
    let Some(found) = matcher.find(timestamp) else {
        return Ok(None);
    };
    let mut components: Vec<(char, Option<f64>)> = Vec::new();
    let mut any = false;
    for (index, (reader, component)) in readers.iter().enumerate() {
        if matches!(reader, Reader::None) {
            continue;
        }
        any = true;
        let text = found.group(index + 1).map_or("", |range| &timestamp[range]);
        let value = read(reader, text)?;
        match components.iter_mut().find(|(c, _)| c == component) {
            Some(slot) => slot.1 = value,
            None => components.push((*component, value)),
        }
    }
    if !any {
        return Ok(None);
    }
    let get = |components: &Vec<(char, Option<f64>)>, c: char| -> Option<f64> {
        components
            .iter()
            .find(|(k, _)| *k == c)
            .and_then(|(_, v)| *v)
    };
    let truthy = |value: Option<f64>| value.is_some_and(|v| v != 0.0 && !v.is_nan());
    let mask_of = |letters: &str, components: &Vec<(char, Option<f64>)>| -> u32 {
        letters.chars().fold(0, |mask, c| {
            (mask << 1) | u32::from(truthy(get(components, c)))
        })
    };
    let is_type = |kind: u32, mask: u32| (!kind & mask) == 0 && (kind & mask) != 0;
    let date_mask = mask_of("YXMxWwdD", &components);
    let date_a = is_type(161, date_mask);
    let date_b = !date_a && is_type(130, date_mask);
    let date_c = is_type(84, date_mask);
    let date_d = !date_c && is_type(72, date_mask);
    let time_mask = mask_of("PHhmsf", &components);
    let time_a = is_type(23, time_mask);
    let time_b = !time_a && is_type(47, time_mask);
    let date_comps = if date_b {
        "YD"
    } else if date_c {
        "XxwF"
    } else if date_d {
        "XWF"
    } else {
        "YMD"
    };
    let time_comps = if time_b { "Phmsf" } else { "Hmsf" };
    let now_fields = fields(now).ok_or_else(|| error("D3136", ""))?;
    let mut start_specified = false;
    let mut end_specified = false;
    for c in date_comps.chars().chain(time_comps.chars()) {
        let defined = get(&components, c).is_some();
        if defined {
            start_specified = true;
            if end_specified {
                return Err(error("D3136", ""));
            }
            continue;
        }
        let value = if start_specified {
            end_specified = true;
            Some(if "MDd".contains(c) { 1.0 } else { 0.0 })
        } else {
            match fragment(&now_fields, c) {
                Fragment::Num(number) => Some(number),
                Fragment::Text(_) => Some(f64::NAN),
                Fragment::None => None,
            }
        };
        match components.iter_mut().find(|(k, _)| *k == c) {
            Some(slot) => slot.1 = value,
            None => components.push((c, value)),
        }
    }
    let value = |c: char| get(&components, c).unwrap_or(f64::NAN);
    let mut month = match get(&components, 'M') {
        Some(month) if month > 0.0 => month - 1.0,
        _ => 0.0,
    };
    let mut day = value('D');
    if date_b {
        #[allow(clippy::cast_possible_truncation)]
        let first = date_utc(value('Y') as i64, 0, 1, 0, 0, 0, 0);
        #[allow(clippy::cast_possible_truncation)]
        let derived = first + (value('d') as i64 - 1) * DAY_MILLIS;
        let derived = fields(derived).ok_or_else(|| error("D3136", ""))?;
        #[allow(clippy::cast_precision_loss)]
        {
            month = derived.month0 as f64;
            day = derived.day as f64;
        }
    }
    if date_c || date_d {
        return Err(error("D3136", ""));
    }
    let mut hour = value('H');
    if time_b {
        let h = value('h');
        hour = if h == 12.0 { 0.0 } else { h };
        if get(&components, 'P') == Some(1.0) {
            hour += 12.0;
        }
    }
    let all = [
        value('Y'),
        month,
        day,
        hour,
        value('m'),
        value('s'),
        value('f'),
    ];
    if all.iter().any(|v| !v.is_finite()) {
        return Ok(None);
    }
    #[allow(clippy::cast_possible_truncation)]
    let [y, mo, d, h, mi, s, f] = all.map(|v| v.trunc() as i64);
    let mut millis = date_utc(y, mo, d, h, mi, s, f);
    let zone = match get(&components, 'Z') {
        Some(z) if z != 0.0 && !z.is_nan() => Some(z),
        _ => get(&components, 'z').filter(|z| *z != 0.0 && !z.is_nan()),
    };
    if let Some(zone) = zone {
        #[allow(clippy::cast_possible_truncation)]
        {
            millis -= zone as i64 * 60_000;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    Ok(Some(millis as f64))
}
