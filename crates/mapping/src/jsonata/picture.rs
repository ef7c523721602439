//! XPath picture strings (F&O 3.1, as JSONata reads them): `$formatNumber`'s decimal format.
//!
//! Written to give jsonata-js's results, quirks included where the official suite pins them
//! (the fractional part of a picture without a decimal separator is its suffix, grouping
//! positions of the fractional part are searched in the integer part...).

use super::err;
use super::eval::R;

/// Characters as JavaScript indexes them would be UTF-16 units; every picture character the
/// suite and CRM mappings use is in the Basic Multilingual Plane, where both agree.
type Chars = Vec<char>;

fn index_of(hay: &[char], needle: &[char], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return (from <= hay.len()).then_some(from);
    }
    if needle.len() > hay.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&at| hay[at..at + needle.len()] == *needle)
}

fn last_index_of(hay: &[char], needle: &[char]) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len())
        .rev()
        .find(|&at| hay[at..at + needle.len()] == *needle)
}

/// JavaScript's `substring`: bounds clamped, swapped when reversed.
fn substring(text: &[char], start: usize, end: usize) -> Chars {
    let (start, end) = (start.min(text.len()), end.min(text.len()));
    let (start, end) = if start > end {
        (end, start)
    } else {
        (start, end)
    };
    text[start..end].to_vec()
}

fn is(ch: char, prop: &[char]) -> bool {
    prop.len() == 1 && prop[0] == ch
}

/// The decimal format's properties (`$formatNumber`'s third argument overrides them).
struct Props {
    decimal: Chars,
    grouping: Chars,
    exponent: Chars,
    minus: Chars,
    percent: Chars,
    permille: Chars,
    zero: Chars,
    digit: Chars,
    pattern: Chars,
    /// The ten digits from the zero digit.
    family: Vec<char>,
}

impl Props {
    fn new(options: &[(String, String)]) -> Props {
        let get = |name: &str, default: &str| -> Chars {
            options
                .iter()
                .find(|(key, _)| key == name)
                .map_or(default, |(_, value)| value.as_str())
                .chars()
                .collect()
        };
        let zero = get("zero-digit", "0");
        let first = zero.first().copied().unwrap_or('0');
        let family = (0..10)
            .filter_map(|offset| char::from_u32(first as u32 + offset))
            .collect();
        Props {
            decimal: get("decimal-separator", "."),
            grouping: get("grouping-separator", ","),
            exponent: get("exponent-separator", "e"),
            minus: get("minus-sign", "-"),
            percent: get("percent", "%"),
            permille: get("per-mille", "\u{2030}"),
            zero,
            digit: get("digit", "#"),
            pattern: get("pattern-separator", ";"),
            family,
        }
    }

    fn in_family(&self, ch: char) -> bool {
        self.family.contains(&ch)
    }

    fn active(&self, ch: char) -> bool {
        self.in_family(ch)
            || is(ch, &self.decimal)
            || is(ch, &self.exponent)
            || is(ch, &self.grouping)
            || is(ch, &self.digit)
            || is(ch, &self.pattern)
    }

    fn digit_or_optional(&self, ch: char) -> bool {
        self.in_family(ch) || is(ch, &self.digit)
    }
}

struct Parts {
    prefix: Chars,
    suffix: Chars,
    active: Chars,
    mantissa: Chars,
    exponent: Option<Chars>,
    integer: Chars,
    fractional: Chars,
    whole: Chars,
}

fn split_parts(sub: &[char], props: &Props) -> Parts {
    let starts_active = |ch: char| props.active(ch) && !is(ch, &props.exponent);
    let prefix_len = sub.iter().position(|&ch| starts_active(ch));
    let suffix_start = sub
        .iter()
        .rposition(|&ch| starts_active(ch))
        .map(|at| at + 1);
    let (prefix, suffix) = match (prefix_len, suffix_start) {
        (Some(p), Some(s)) => (sub[..p].to_vec(), sub[s..].to_vec()),
        _ => (Vec::new(), Vec::new()),
    };
    let active = substring(sub, prefix.len(), sub.len() - suffix.len());
    let exponent_at = index_of(sub, &props.exponent, prefix.len());
    let (mantissa, exponent) = match exponent_at {
        Some(at) if at <= sub.len() - suffix.len() => (
            substring(&active, 0, at),
            Some(substring(&active, at + 1, active.len())),
        ),
        _ => (active.clone(), None),
    };
    let (integer, fractional) = match index_of(&mantissa, &props.decimal, 0) {
        None => (mantissa.clone(), suffix.clone()),
        Some(at) => (
            substring(&mantissa, 0, at),
            substring(&mantissa, at + 1, mantissa.len()),
        ),
    };
    Parts {
        prefix,
        suffix,
        active,
        mantissa,
        exponent,
        integer,
        fractional,
        whole: sub.to_vec(),
    }
}

fn validate(parts: &Parts, props: &Props) -> R<()> {
    let sub = &parts.whole;
    let mut error = None;
    let decimal_at = index_of(sub, &props.decimal, 0);
    if decimal_at != last_index_of(sub, &props.decimal) {
        error = Some("D3081");
    }
    if index_of(sub, &props.percent, 0) != last_index_of(sub, &props.percent) {
        error = Some("D3082");
    }
    if index_of(sub, &props.permille, 0) != last_index_of(sub, &props.permille) {
        error = Some("D3083");
    }
    let has_percent = index_of(sub, &props.percent, 0).is_some();
    let has_permille = index_of(sub, &props.permille, 0).is_some();
    if has_percent && has_permille {
        error = Some("D3084");
    }
    if !parts.mantissa.iter().any(|&ch| props.digit_or_optional(ch)) {
        error = Some("D3085");
    }
    if parts.active.iter().any(|&ch| !props.active(ch)) {
        error = Some("D3086");
    }
    match decimal_at {
        Some(at) => {
            let before = at.checked_sub(1).and_then(|i| sub.get(i)).copied();
            let after = sub.get(at + 1).copied();
            if before.is_some_and(|ch| is(ch, &props.grouping))
                || after.is_some_and(|ch| is(ch, &props.grouping))
            {
                error = Some("D3087");
            }
        }
        None => {
            if parts
                .integer
                .last()
                .is_some_and(|&ch| is(ch, &props.grouping))
            {
                error = Some("D3088");
            }
        }
    }
    let mut double = props.grouping.clone();
    double.extend_from_slice(&props.grouping);
    if index_of(sub, &double, 0).is_some() {
        error = Some("D3089");
    }
    if let Some(at) = index_of(&parts.integer, &props.digit, 0)
        && parts.integer[..at].iter().any(|&ch| props.in_family(ch))
    {
        error = Some("D3090");
    }
    if let Some(at) = last_index_of(&parts.fractional, &props.digit)
        && parts.fractional[at..].iter().any(|&ch| props.in_family(ch))
    {
        error = Some("D3091");
    }
    if let Some(exponent) = &parts.exponent {
        if !exponent.is_empty() && (has_percent || has_permille) {
            error = Some("D3092");
        }
        if exponent.is_empty() || exponent.iter().any(|&ch| !props.in_family(ch)) {
            error = Some("D3093");
        }
    }
    match error {
        Some(code) => Err(err(code, picture_message(code), None)),
        None => Ok(()),
    }
}

fn picture_message(code: &str) -> &'static str {
    match code {
        "D3080" => "the picture string must only contain a maximum of two sub-pictures",
        "D3081" => {
            "a sub-picture must not contain more than one instance of the decimal-separator character"
        }
        "D3082" => "a sub-picture must not contain more than one instance of the percent character",
        "D3083" => {
            "a sub-picture must not contain more than one instance of the per-mille character"
        }
        "D3084" => "a sub-picture must not contain both a percent and a per-mille character",
        "D3085" => {
            "the mantissa part of a sub-picture must contain at least one character that is either an optional digit character or a member of the decimal digit family"
        }
        "D3086" => {
            "a sub-picture must not contain a passive character that is preceded by an active character and that is followed by another active character"
        }
        "D3087" => "a group separator must not appear adjacent to a decimal separator",
        "D3088" => {
            "a group separator must not appear at the end of the integer part of a sub-picture"
        }
        "D3089" => "there must be no two adjacent instances of the grouping-separator character",
        "D3090" => {
            "the integer part of a sub-picture must not contain a member of the decimal digit family that is followed by an instance of the optional digit character"
        }
        "D3091" => {
            "the fractional part of a sub-picture must not contain an instance of the optional digit character that is followed by a member of the decimal digit family"
        }
        "D3092" => {
            "a sub-picture that contains a percent or per-mille character must not contain a character treated as an exponent-separator"
        }
        _ => {
            "the exponent part of the sub-picture must comprise only of one or more characters that are members of the decimal digit family"
        }
    }
}

#[derive(Clone)]
struct Pic {
    integer_groups: Vec<usize>,
    regular_grouping: usize,
    min_integer: usize,
    scaling: usize,
    prefix: Chars,
    fraction_groups: Vec<usize>,
    min_fraction: usize,
    max_fraction: usize,
    min_exponent: usize,
    suffix: Chars,
    whole: Chars,
}

fn analyse(parts: &Parts, props: &Props) -> Pic {
    let groups = |part: &[char], to_left: bool| -> Vec<usize> {
        let mut positions = Vec::new();
        let mut at = index_of(part, &props.grouping, 0);
        while let Some(position) = at {
            let side = if to_left {
                substring(part, 0, position)
            } else {
                substring(part, position, part.len())
            };
            positions.push(
                side.iter()
                    .filter(|&&ch| props.digit_or_optional(ch))
                    .count(),
            );
            // As jsonata-js: the next separator is looked for in the integer part.
            at = index_of(&parts.integer, &props.grouping, position + 1);
        }
        positions
    };
    let integer_groups = groups(&parts.integer, false);
    let regular_grouping = regular(&integer_groups);
    let fraction_groups = groups(&parts.fractional, true);
    let mut min_integer = parts
        .integer
        .iter()
        .filter(|&&ch| props.in_family(ch))
        .count();
    let scaling = min_integer;
    let mut min_fraction = parts
        .fractional
        .iter()
        .filter(|&&ch| props.in_family(ch))
        .count();
    let mut max_fraction = parts
        .fractional
        .iter()
        .filter(|&&ch| props.digit_or_optional(ch))
        .count();
    let exponent_present = parts.exponent.is_some();
    if min_integer == 0 && max_fraction == 0 {
        if exponent_present {
            min_fraction = 1;
            max_fraction = 1;
        } else {
            min_integer = 1;
        }
    }
    if exponent_present && min_integer == 0 && index_of(&parts.integer, &props.digit, 0).is_some() {
        min_integer = 1;
    }
    if min_integer == 0 && min_fraction == 0 {
        min_fraction = 1;
    }
    let min_exponent = parts.exponent.as_ref().map_or(0, |exponent| {
        exponent.iter().filter(|&&ch| props.in_family(ch)).count()
    });
    Pic {
        integer_groups,
        regular_grouping,
        min_integer,
        scaling,
        prefix: parts.prefix.clone(),
        fraction_groups,
        min_fraction,
        max_fraction,
        min_exponent,
        suffix: parts.suffix.clone(),
        whole: parts.whole.clone(),
    }
}

fn regular(positions: &[usize]) -> usize {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let Some(&first) = positions.first() else {
        return 0;
    };
    let factor = positions[1..].iter().fold(first, |a, &b| gcd(a, b));
    for index in 1..=positions.len() {
        if !positions.contains(&(index * factor)) {
            return 0;
        }
    }
    factor
}

/// `$formatNumber(value, picture, options)`, `options` as key/value strings.
pub(crate) fn format_number(
    value: f64,
    picture: &str,
    options: &[(String, String)],
    round: fn(f64, i32) -> f64,
) -> R<String> {
    let props = Props::new(options);
    let picture: Chars = picture.chars().collect();
    let mut subs: Vec<Chars> = Vec::new();
    let mut start = 0;
    while let Some(at) =
        index_of(&picture, &props.pattern, start).filter(|_| !props.pattern.is_empty())
    {
        subs.push(picture[start..at].to_vec());
        start = at + props.pattern.len();
    }
    subs.push(picture[start..].to_vec());
    if subs.len() > 2 {
        return Err(err("D3080", picture_message("D3080"), None));
    }
    let parts: Vec<Parts> = subs.iter().map(|sub| split_parts(sub, &props)).collect();
    for part in &parts {
        validate(part, &props)?;
    }
    let mut pics: Vec<Pic> = parts.iter().map(|part| analyse(part, &props)).collect();
    if pics.len() == 1 {
        let mut negative = pics[0].clone();
        let mut prefix = props.minus.clone();
        prefix.extend_from_slice(&negative.prefix);
        negative.prefix = prefix;
        pics.push(negative);
    }
    let pic = if value >= 0.0 { &pics[0] } else { &pics[1] };
    let adjusted = if index_of(&pic.whole, &props.percent, 0).is_some() {
        value * 100.0
    } else if index_of(&pic.whole, &props.permille, 0).is_some() {
        value * 1000.0
    } else {
        value
    };
    let (mantissa, exponent) = if pic.min_exponent == 0 {
        (adjusted, None)
    } else {
        let max = 10f64.powi(i32::try_from(pic.scaling).unwrap_or(i32::MAX));
        let min = 10f64.powi(i32::try_from(pic.scaling).unwrap_or(i32::MAX) - 1);
        let mut mantissa = adjusted;
        let mut exponent: i32 = 0;
        if mantissa != 0.0 && mantissa.is_finite() {
            while mantissa.abs() < min {
                mantissa *= 10.0;
                exponent -= 1;
            }
            while mantissa.abs() > max {
                mantissa /= 10.0;
                exponent += 1;
            }
        }
        (mantissa, Some(exponent))
    };
    let max_fraction = i32::try_from(pic.max_fraction).unwrap_or(i32::MAX);
    let rounded = round(mantissa, max_fraction);
    let zero = props.zero.first().copied().unwrap_or('0');
    let make_string = |value: f64, places: usize| -> Chars {
        format!("{:.*}", places, value.abs())
            .chars()
            .map(|ch| match ch.to_digit(10) {
                Some(digit) => props.family.get(digit as usize).copied().unwrap_or(ch),
                None => ch,
            })
            .collect()
    };
    let mut text = make_string(rounded, pic.max_fraction);
    match text.iter().position(|&ch| ch == '.') {
        None => text.extend_from_slice(&props.decimal),
        Some(at) => {
            text.splice(at..=at, props.decimal.iter().copied());
        }
    }
    let leading = text.iter().take_while(|&&ch| ch == zero).count();
    text.drain(..leading);
    while text.last() == Some(&zero) {
        text.pop();
    }
    let decimal_at = index_of(&text, &props.decimal, 0).unwrap_or(0);
    let pad_left = pic.min_integer.saturating_sub(decimal_at);
    let after = text.len() - decimal_at - 1;
    let pad_right = pic.min_fraction.saturating_sub(after);
    let mut padded = vec![zero; pad_left];
    padded.extend_from_slice(&text);
    padded.extend(std::iter::repeat_n(zero, pad_right));
    let mut text = padded;
    let mut decimal_at = index_of(&text, &props.decimal, 0).unwrap_or(0);
    // JavaScript's `slice` at `at`: negative counts from the end.
    let insert = |text: &mut Chars, at: isize| {
        let len = isize::try_from(text.len()).unwrap_or(isize::MAX);
        let at = if at < 0 {
            (len + at).max(0)
        } else {
            at.min(len)
        };
        let at = usize::try_from(at).unwrap_or(0);
        text.splice(at..at, props.grouping.iter().copied());
    };
    let signed = |n: usize| isize::try_from(n).unwrap_or(isize::MAX);
    if let Some(count) = decimal_at
        .saturating_sub(1)
        .checked_div(pic.regular_grouping)
    {
        for group in 1..=count {
            insert(&mut text, signed(decimal_at - group * pic.regular_grouping));
        }
    } else {
        for &position in &pic.integer_groups {
            insert(&mut text, signed(decimal_at) - signed(position));
            decimal_at += 1;
        }
    }
    let decimal_at = index_of(&text, &props.decimal, 0).unwrap_or(0);
    for &position in &pic.fraction_groups {
        insert(&mut text, signed(position + decimal_at + 1));
    }
    let decimal_at = index_of(&text, &props.decimal, 0);
    if index_of(&pic.whole, &props.decimal, 0).is_none()
        || decimal_at.is_some_and(|at| at + 1 == text.len())
    {
        text.pop();
    }
    if let Some(exponent) = exponent {
        let mut digits = make_string(f64::from(exponent), 0);
        let pad = pic.min_exponent.saturating_sub(digits.len());
        let mut padded = vec![zero; pad];
        padded.append(&mut digits);
        text.extend_from_slice(&props.exponent);
        if exponent < 0 {
            text.extend_from_slice(&props.minus);
        }
        text.extend(padded);
    }
    let mut out: String = pic.prefix.iter().collect();
    out.extend(text);
    out.extend(pic.suffix.iter());
    Ok(out)
}
