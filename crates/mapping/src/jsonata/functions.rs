//! JSONata's built-in functions and our native ones, as one table the parser resolves names in.
//!
//! Each built-in checks its arguments against its JSONata signature, then works directly on
//! the values; loops spend fuel per item and strings are checked against the string cap before
//! they are built. Our native functions (`$parseDate`...) are called with their arguments
//! written as JSON, exactly as documented in `docs/mapping-functions.md`.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{LazyLock, OnceLock};

use serde_json::Value as Json;

use super::err;
use super::eval::{Ctx, Func, R, short, truthy};
use super::signature::Signature;
use super::value::{self, Str, V, array, deep_eq, new_obj, seq};
use crate::native::{NATIVE_FUNCTIONS, NativeFunction};

pub(crate) use super::eval::Args;
type CallFn = for<'a> fn(&Ctx<'a>, Args<'a>, Option<&V<'a>>, usize) -> R<Option<V<'a>>>;

/// A function every evaluation can call by name.
pub(crate) struct Builtin {
    pub(crate) name: &'static str,
    signature_text: Option<&'static str>,
    parsed: OnceLock<Option<Signature>>,
    pub(crate) arity: usize,
    pub(crate) call: CallFn,
    native: Option<&'static NativeFunction>,
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "${}", self.name)
    }
}

impl Builtin {
    pub(crate) fn signature(&self) -> Option<&Signature> {
        self.parsed
            .get_or_init(|| {
                self.signature_text
                    .map(|text| Signature::parse(text).expect("built-in signatures are valid"))
            })
            .as_ref()
    }
}

fn def(name: &'static str, signature: &'static str, arity: usize, call: CallFn) -> Builtin {
    Builtin {
        name,
        signature_text: Some(signature),
        parsed: OnceLock::new(),
        arity,
        call,
        native: None,
    }
}

static BUILTINS: LazyLock<Vec<Builtin>> = LazyLock::new(|| {
    let mut table = vec![
        def("sum", "<a<n>:n>", 1, sum),
        def("count", "<a:n>", 1, count),
        def("max", "<a<n>:n>", 1, max),
        def("min", "<a<n>:n>", 1, min),
        def("average", "<a<n>:n>", 1, average),
        def("string", "<x-b?:s>", 1, string),
        def("substring", "<s-nn?:s>", 3, substring),
        def("substringBefore", "<s-s:s>", 2, substring_before),
        def("substringAfter", "<s-s:s>", 2, substring_after),
        def("lowercase", "<s-:s>", 1, lowercase),
        def("uppercase", "<s-:s>", 1, uppercase),
        def("length", "<s-:n>", 1, length),
        def("trim", "<s-:s>", 1, trim),
        def("pad", "<s-ns?:s>", 3, pad),
        def("match", "<s-f<s:o>n?:a<o>>", 3, match_),
        def("contains", "<s-(sf):b>", 2, contains),
        def("replace", "<s-(sf)(sf)n?:s>", 4, replace),
        def("split", "<s-(sf)n?:a<s>>", 3, split),
        def("join", "<a<s>s?:s>", 2, join),
        def("formatNumber", "<n-so?:s>", 3, format_number),
        def("formatBase", "<n-n?:s>", 2, format_base),
        def("formatInteger", "<n-s:s>", 2, format_integer),
        def("parseInteger", "<s-s:n>", 2, parse_integer),
        def("number", "<(nsb)-:n>", 1, number),
        def("floor", "<n-:n>", 1, floor),
        def("ceil", "<n-:n>", 1, ceil),
        def("round", "<n-n?:n>", 2, round),
        def("abs", "<n-:n>", 1, abs),
        def("sqrt", "<n-:n>", 1, sqrt),
        def("power", "<n-n:n>", 2, power),
        def("random", "<:n>", 0, random),
        def("boolean", "<x-:b>", 1, boolean),
        def("not", "<x-:b>", 1, not),
        def("map", "<af>", 2, map),
        def("zip", "<a+>", 0, zip),
        def("filter", "<af>", 2, filter),
        def("single", "<af?>", 2, single),
        def("reduce", "<afj?:j>", 3, reduce),
        def("sift", "<o-f?:o>", 2, sift),
        def("keys", "<x-:a<s>>", 1, keys),
        def("lookup", "<x-s:x>", 2, lookup),
        def("append", "<xx:a>", 2, append),
        def("exists", "<x:b>", 1, exists),
        def("spread", "<x-:a<o>>", 1, spread),
        def("merge", "<a<o>:o>", 1, merge),
        def("reverse", "<a:a>", 1, reverse),
        def("each", "<o-f:a>", 2, each),
        def("error", "<s?:x>", 1, error),
        def("assert", "<bs?:x>", 2, assert),
        def("type", "<x:s>", 1, type_),
        def("sort", "<af?:a>", 2, sort),
        def("shuffle", "<a:a>", 1, shuffle),
        def("distinct", "<x:x>", 1, distinct),
        def("base64encode", "<s-:s>", 1, base64encode),
        def("base64decode", "<s-:s>", 1, base64decode),
        def("encodeUrlComponent", "<s-:s>", 1, encode_url_component),
        def("encodeUrl", "<s-:s>", 1, encode_url),
        def("decodeUrlComponent", "<s-:s>", 1, decode_url_component),
        def("decodeUrl", "<s-:s>", 1, decode_url),
        def("eval", "<sx?:x>", 2, eval),
        def("toMillis", "<s-s?:n>", 2, to_millis),
        def("fromMillis", "<n-s?s?:s>", 3, from_millis),
        def("clone", "<(oa)-:o>", 1, clone),
        def("now", "<s?s?:s>", 2, now),
        def("millis", "<:n>", 0, millis),
    ];
    for native in NATIVE_FUNCTIONS {
        table.push(Builtin {
            name: native.doc.name,
            signature_text: native.jsonata_signature,
            parsed: OnceLock::new(),
            arity: native.arity,
            call: native_entry,
            native: Some(native),
        });
    }
    table
});

static BY_NAME: LazyLock<HashMap<&'static str, usize>> = LazyLock::new(|| {
    BUILTINS
        .iter()
        .enumerate()
        .map(|(index, builtin)| (builtin.name, index))
        .collect()
});

/// The built-in function called `name`.
pub(crate) fn builtin(name: &str) -> Option<&'static Builtin> {
    BY_NAME.get(name).map(|&index| &BUILTINS[index])
}

/// Whether `name` is one of JSONata's own functions (not one of our native ones).
#[cfg(test)]
pub(crate) fn is_jsonata_builtin(name: &str) -> bool {
    builtin(name).is_some_and(|builtin| builtin.native.is_none())
}

fn arg<'a>(args: &Args<'a>, index: usize) -> Option<V<'a>> {
    args.get(index).cloned().flatten()
}

fn num(args: &Args<'_>, index: usize) -> Option<f64> {
    args.get(index)
        .and_then(|arg| arg.as_ref())
        .and_then(V::as_num)
}

fn text<'a>(args: &Args<'a>, index: usize) -> Option<Str<'a>> {
    match args.get(index) {
        Some(Some(V::Str(text))) => Some(text.clone()),
        _ => None,
    }
}

fn number_result<'a>(value: f64) -> R<Option<V<'a>>> {
    if value.is_finite() {
        Ok(Some(V::Num(value)))
    } else {
        Err(err(
            "D1001",
            format!("number out of range: `{value}`"),
            None,
        ))
    }
}

fn owned_str<'a>(ctx: &Ctx<'a>, text: String) -> R<Option<V<'a>>> {
    ctx.meter.string(text.len())?;
    Ok(Some(V::str_owned(text)))
}

// ---- native functions ----

/// Calls one of our native functions with its arguments written as JSON.
pub(crate) fn call_native_fn<'a>(
    ctx: &Ctx<'a>,
    native: &NativeFunction,
    args: Args<'a>,
) -> R<Option<V<'a>>> {
    let json_args: Vec<Option<Json>> = args
        .iter()
        .map(|arg| arg.as_ref().and_then(value::to_json))
        .collect();
    ctx.meter.spend(8)?;
    let result = (native.implementation)(&json_args).map_err(Box::new)?;
    Ok(result.map(value::from_json_value))
}

// ---- aggregation ----

fn numbers<'a>(args: &Args<'a>) -> Option<Vec<f64>> {
    arg(args, 0).map(|array| array.items().filter_map(|item| item.as_num()).collect())
}

fn sum<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(values) = numbers(&args) else {
        return Ok(None);
    };
    ctx.meter.spend(values.len() as u64 / 4)?;
    number_result(values.iter().sum())
}

fn count<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    Ok(Some(V::Num(
        arg(&args, 0).map_or(0, |array| array.len_items()) as f64,
    )))
}

fn max<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(values) = numbers(&args) else {
        return Ok(None);
    };
    ctx.meter.spend(values.len() as u64 / 4)?;
    Ok(values.into_iter().reduce(f64::max).map(V::Num))
}

fn min<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(values) = numbers(&args) else {
        return Ok(None);
    };
    ctx.meter.spend(values.len() as u64 / 4)?;
    Ok(values.into_iter().reduce(f64::min).map(V::Num))
}

fn average<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(values) = numbers(&args) else {
        return Ok(None);
    };
    ctx.meter.spend(values.len() as u64 / 4)?;
    if values.is_empty() {
        return Ok(None);
    }
    Ok(Some(V::Num(
        values.iter().sum::<f64>() / values.len() as f64,
    )))
}

// ---- strings ----

/// Appends `$string(value)` to `out`.
pub(crate) fn string_of<'a>(ctx: &Ctx<'a>, value: &V<'a>, pretty: bool, out: &mut String) -> R<()> {
    match value {
        V::Str(text) => out.push_str(text),
        V::Func(_) => {}
        V::Num(number) => {
            if !number.is_finite() {
                return Err(err(
                    "D3001",
                    "attempting to invoke string function on Infinity or NaN",
                    None,
                ));
            }
            value::number_text(*number, out);
        }
        V::Arr(arr) if arr.outer && arr.items.len() == 1 => {
            string_of(ctx, &arr.items[0], pretty, out)?
        }
        other => {
            ctx.meter.spend(other.len_items() as u64)?;
            value::stringify(other, pretty, out);
            ctx.meter.string(out.len())?;
        }
    }
    Ok(())
}

fn string<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(value) = arg(&args, 0) else {
        return Ok(None);
    };
    match value {
        V::Str(_) => return Ok(Some(value)),
        V::Num(number) if number.fract() == 0.0 && number.abs() < 9_007_199_254_740_992.0 => {
            // A whole number (an id, mostly): its digits, written without a `String` first.
            #[allow(clippy::cast_possible_truncation)] // whole and below 2^53, so exact
            let whole = number as i64;
            let mut buf = [0; 20];
            let text = value::int_text(whole, &mut buf);
            ctx.meter.string(text.len())?;
            return Ok(Some(V::Str(Str::O(Rc::from(text)))));
        }
        _ => {}
    }
    let pretty = matches!(arg(&args, 1), Some(V::Bool(true)));
    let mut out = String::new();
    string_of(ctx, &value, pretty, &mut out)?;
    owned_str(ctx, out)
}

fn substring<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    let ascii = text.is_ascii();
    let len = if ascii {
        text.len()
    } else {
        text.chars().count()
    } as f64;
    let mut start = num(&args, 1).unwrap_or(0.0).trunc();
    if len + start < 0.0 {
        start = 0.0;
    }
    let begin = if start < 0.0 {
        len + start
    } else {
        start.min(len)
    };
    let end = match num(&args, 2) {
        Some(length) => {
            if length <= 0.0 {
                return Ok(Some(V::Str(Str::B(""))));
            }
            let end = if start >= 0.0 {
                start + length.trunc()
            } else {
                len + start + length.trunc()
            };
            end.min(len)
        }
        None => len,
    };
    if begin >= end {
        return Ok(Some(V::Str(Str::B(""))));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (begin, end) = (begin as usize, end as usize);
    // Characters to byte offsets (the same for ASCII text).
    let (from, to) = if ascii {
        (begin, end)
    } else {
        let mut offsets = text.char_indices().map(|(at, _)| at).chain([text.len()]);
        let from = offsets.nth(begin).unwrap_or(text.len());
        let to = offsets.nth(end - begin - 1).unwrap_or(text.len());
        (from, to)
    };
    match text {
        // A piece of borrowed text stays borrowed.
        Str::B(whole) => Ok(Some(V::Str(Str::B(&whole[from..to])))),
        Str::O(whole) => owned_str(ctx, whole[from..to].to_owned()),
    }
}

fn substring_before<'a>(
    ctx: &Ctx<'a>,
    args: Args<'a>,
    _: Option<&V<'a>>,
    _: usize,
) -> R<Option<V<'a>>> {
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    let Some(chars) = text_or_undefined(&args, 1) else {
        return Ok(Some(V::Str(text)));
    };
    match text.find(&*chars) {
        Some(at) => owned_str(ctx, text[..at].to_owned()),
        None => Ok(Some(V::Str(text))),
    }
}

fn text_or_undefined<'a>(args: &Args<'a>, index: usize) -> Option<Str<'a>> {
    text(args, index)
}

fn substring_after<'a>(
    ctx: &Ctx<'a>,
    args: Args<'a>,
    _: Option<&V<'a>>,
    _: usize,
) -> R<Option<V<'a>>> {
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    let Some(chars) = text_or_undefined(&args, 1) else {
        return Ok(Some(V::Str(text)));
    };
    match text.find(&*chars) {
        Some(at) => owned_str(ctx, text[at + chars.len()..].to_owned()),
        None => Ok(Some(V::Str(text))),
    }
}

fn lowercase<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    owned_str(ctx, text.to_lowercase())
}

fn uppercase<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    owned_str(ctx, text.to_uppercase())
}

fn length<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    Ok(Some(V::Num(text.chars().count() as f64)))
}

fn trim<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    let mut out = String::with_capacity(text.len());
    let mut in_space = false;
    for c in text.chars() {
        if matches!(c, ' ' | '\t' | '\n' | '\r') {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    let trimmed = out.strip_prefix(' ').unwrap_or(&out);
    let trimmed = trimmed.strip_suffix(' ').unwrap_or(trimmed);
    owned_str(ctx, trimmed.to_owned())
}

fn pad<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    let width = num(&args, 1).unwrap_or(0.0).trunc();
    let fill = text_or_undefined(&args, 2).map_or_else(|| " ".to_owned(), |fill| fill.to_string());
    let fill = if fill.is_empty() {
        " ".to_owned()
    } else {
        fill
    };
    let current = text.chars().count() as f64;
    let missing = width.abs() - current;
    if missing <= 0.0 {
        return Ok(Some(V::Str(text)));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let missing = missing as usize;
    ctx.meter
        .string(missing.saturating_mul(4).saturating_add(text.len()))?;
    let padding: String = fill.chars().cycle().take(missing).collect();
    let out = if width < 0.0 {
        padding + &text
    } else {
        text.to_string() + &padding
    };
    owned_str(ctx, out)
}

// ---- regular expressions ----

/// One match of a regular expression: the matched text, its character index, and the groups.
struct Found {
    text: String,
    start: usize,
    end: usize,
    index: usize,
    groups: Vec<Option<String>>,
}

/// A matcher: a regular expression literal, or a function returning match objects.
enum Matcher<'a> {
    Regex(&'a regress::Regex),
    Custom(V<'a>),
}

fn matcher<'a>(value: &V<'a>) -> Matcher<'a> {
    match value {
        V::Func(f) => match &**f {
            Func::Regex(regex) => Matcher::Regex(&regex.regex),
            _ => Matcher::Custom(value.clone()),
        },
        _ => Matcher::Custom(value.clone()),
    }
}

fn find_all<'a>(
    ctx: &Ctx<'a>,
    matcher: &Matcher<'a>,
    text: &str,
    limit: Option<usize>,
) -> R<Vec<Found>> {
    let mut found = Vec::new();
    match matcher {
        Matcher::Regex(regex) => {
            let mut start = 0;
            while start <= text.len() && limit.is_none_or(|limit| found.len() < limit) {
                let mut stopped = None;
                let result =
                    regex.find_from_interruptible(text, start, || match ctx.meter.spend(1024) {
                        Ok(()) => false,
                        Err(error) => {
                            stopped = Some(error);
                            true
                        }
                    });
                let found_match = match result {
                    Ok(found_match) => found_match,
                    Err(_) => {
                        return Err(stopped.unwrap_or_else(|| {
                            err("D1012", "the regular expression was interrupted", None)
                        }));
                    }
                };
                let Some(m) = found_match else { break };
                ctx.meter.tick()?;
                let range = m.range();
                if range.is_empty() {
                    return Err(err(
                        "D1004",
                        "regular expression matches zero length string",
                        None,
                    ));
                }
                found.push(Found {
                    text: text[range.clone()].to_owned(),
                    start: range.start,
                    end: range.end,
                    index: text[..range.start].chars().count(),
                    groups: m
                        .groups()
                        .skip(1)
                        .map(|group| group.map(|range| text[range].to_owned()))
                        .collect(),
                });
                start = range.end;
            }
        }
        Matcher::Custom(func) => {
            let mut result = ctx.apply(
                func,
                smallvec::smallvec![Some(V::Str(Str::O(Rc::from(text))))],
                None,
                0,
            )?;
            while let Some(object) = result {
                if limit.is_some_and(|limit| found.len() >= limit) {
                    break;
                }
                ctx.meter.tick()?;
                let matched = object
                    .field("match")
                    .and_then(|m| m.as_str().map(str::to_owned));
                let start = object.field("start").and_then(|v| v.as_num());
                let end = object.field("end").and_then(|v| v.as_num());
                let (Some(matched), Some(start), Some(end)) = (matched, start, end) else {
                    return Err(err(
                        "T1010",
                        "the matcher function argument passed to function does not return the correct object structure",
                        None,
                    ));
                };
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let (start, end) = (start as usize, end as usize);
                let byte = |chars: usize| {
                    text.char_indices()
                        .nth(chars)
                        .map_or(text.len(), |(b, _)| b)
                };
                found.push(Found {
                    text: matched,
                    start: byte(start),
                    end: byte(end),
                    index: start,
                    groups: object
                        .field("groups")
                        .map(|groups| {
                            groups
                                .items()
                                .map(|g| g.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                });
                result = match object.field("next") {
                    Some(next @ V::Func(_)) => ctx.apply(&next, Args::new(), None, 0)?,
                    _ => None,
                };
            }
        }
    }
    Ok(found)
}

/// The match object a regular expression returns when called as a function.
pub(crate) fn regex_match_object<'a>(
    ctx: &Ctx<'a>,
    regex: &'a regress::Regex,
    text: &str,
    _start: usize,
) -> R<Option<V<'a>>> {
    let found = find_all(ctx, &Matcher::Regex(regex), text, Some(1))?;
    Ok(found.into_iter().next().map(|found| {
        let mut obj = new_obj(4);
        obj.insert(Str::B("match"), V::str_owned(found.text));
        obj.insert(Str::B("start"), V::Num(found.index as f64));
        obj.insert(
            Str::B("end"),
            V::Num((found.index + text[found.start..found.end].chars().count()) as f64),
        );
        obj.insert(
            Str::B("groups"),
            array(
                found
                    .groups
                    .into_iter()
                    .map(|g| V::str_owned(g.unwrap_or_default()))
                    .collect(),
            ),
        );
        V::Obj(Rc::new(obj))
    }))
}

fn limit_arg(args: &Args<'_>, index: usize, code: &str, function: &str) -> R<Option<usize>> {
    match num(args, index) {
        None => Ok(None),
        Some(limit) if limit < 0.0 => Err(err(
            code,
            format!("third argument of {function} function must evaluate to a positive number"),
            None,
        )),
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(limit) => Ok(Some(limit as usize)),
    }
}

fn match_<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    let limit = limit_arg(&args, 2, "D3040", "match")?;
    let Some(pattern) = arg(&args, 1) else {
        return Ok(None);
    };
    let found = find_all(ctx, &matcher(&pattern), &text, limit)?;
    let items = found
        .into_iter()
        .map(|found| {
            let mut obj = new_obj(3);
            obj.insert(Str::B("match"), V::str_owned(found.text));
            obj.insert(Str::B("index"), V::Num(found.index as f64));
            obj.insert(
                Str::B("groups"),
                array(
                    found
                        .groups
                        .into_iter()
                        .map(|g| V::str_owned(g.unwrap_or_default()))
                        .collect(),
                ),
            );
            V::Obj(Rc::new(obj))
        })
        .collect();
    Ok(Some(seq(items)))
}

fn contains<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    let found = match arg(&args, 1) {
        Some(V::Str(token)) => text.contains(&*token),
        Some(pattern) => !find_all(ctx, &matcher(&pattern), &text, Some(1))?.is_empty(),
        None => return Ok(None),
    };
    Ok(Some(V::Bool(found)))
}

fn substitute(replacement: &str, found: &Found) -> String {
    let mut out = String::new();
    let mut rest = replacement;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(after) = rest.strip_prefix('0') {
            out.push_str(&found.text);
            rest = after;
        } else {
            let groups = found.groups.len();
            let max_digits = if groups == 0 {
                1
            } else {
                (groups as f64).log10().floor() as usize + 1
            };
            let digits: String = rest
                .chars()
                .take(max_digits)
                .take_while(char::is_ascii_digit)
                .collect();
            let mut index: Option<usize> = digits.parse().ok();
            if max_digits > 1 && index.is_some_and(|i| i > groups) {
                index = digits[..digits.len() - 1].parse().ok();
            }
            match index {
                Some(index) => {
                    if groups > 0
                        && let Some(Some(group)) = found.groups.get(index.wrapping_sub(1))
                    {
                        out.push_str(group);
                    }
                    rest = &rest[index.to_string().len()..];
                }
                None => out.push('$'),
            }
        }
    }
    out.push_str(rest);
    out
}

fn replace<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    let pattern = arg(&args, 1);
    if matches!(&pattern, Some(V::Str(p)) if p.is_empty()) {
        return Err(err(
            "D3010",
            "second argument of replace function cannot be an empty string",
            None,
        ));
    }
    let limit = limit_arg(&args, 3, "D3011", "replace")?;
    let replacement = arg(&args, 2);
    let Some(pattern) = pattern else {
        return Ok(None);
    };
    let mut out = String::new();
    match &pattern {
        V::Str(pattern) => {
            let replacement = replacement.as_ref().and_then(V::as_str).unwrap_or("");
            let mut count = 0;
            let mut rest: &str = &text;
            while limit.is_none_or(|limit| count < limit)
                && let Some(at) = rest.find(&**pattern)
            {
                ctx.meter.tick()?;
                out.push_str(&rest[..at]);
                out.push_str(replacement);
                rest = &rest[at + pattern.len()..];
                count += 1;
                ctx.meter.string(out.len())?;
            }
            out.push_str(rest);
        }
        pattern => {
            let found = find_all(ctx, &matcher(pattern), &text, limit)?;
            let mut position = 0;
            for found in found {
                out.push_str(&text[position..found.start]);
                match &replacement {
                    Some(V::Str(replacement)) => out.push_str(&substitute(replacement, &found)),
                    Some(func @ V::Func(_)) => {
                        let mut obj = new_obj(3);
                        obj.insert(Str::B("match"), V::str_owned(found.text.clone()));
                        obj.insert(Str::B("index"), V::Num(found.index as f64));
                        obj.insert(
                            Str::B("groups"),
                            array(
                                found
                                    .groups
                                    .iter()
                                    .map(|g| V::str_owned(g.clone().unwrap_or_default()))
                                    .collect(),
                            ),
                        );
                        match ctx.apply(
                            func,
                            smallvec::smallvec![Some(V::Obj(Rc::new(obj)))],
                            None,
                            0,
                        )? {
                            Some(V::Str(with)) => out.push_str(&with),
                            other => {
                                return Err(err(
                                    "D3012",
                                    format!(
                                        "attempted to replace a matched string with a non-string value: {}",
                                        other.map_or("undefined".into(), |v| short(&v))
                                    ),
                                    None,
                                ));
                            }
                        }
                    }
                    _ => {}
                }
                ctx.meter.string(out.len())?;
                position = found.end;
            }
            out.push_str(&text[position..]);
        }
    }
    owned_str(ctx, out)
}

fn split<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    let limit = match num(&args, 2) {
        None => None,
        Some(limit) if limit < 0.0 => {
            return Err(err(
                "D3020",
                "third argument of split function must evaluate to a positive number",
                None,
            ));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(limit) => Some(limit as usize),
    };
    let Some(separator) = arg(&args, 1) else {
        return Ok(None);
    };
    let mut parts: Vec<String> = Vec::new();
    match &separator {
        V::Str(separator) => {
            if separator.is_empty() {
                parts = text.chars().map(String::from).collect();
            } else {
                parts = text.split(&**separator).map(str::to_owned).collect();
            }
            if let Some(limit) = limit {
                parts.truncate(limit);
            }
        }
        pattern => {
            if limit != Some(0) {
                let found = find_all(ctx, &matcher(pattern), &text, limit)?;
                let mut position = 0;
                let count = found.len();
                for found in found {
                    parts.push(text[position..found.start].to_owned());
                    position = found.end;
                }
                if limit.is_none_or(|limit| count < limit) {
                    parts.push(text[position..].to_owned());
                }
            }
        }
    }
    ctx.meter.items(parts.len(), "the result of `$split`")?;
    ctx.meter.alloc(text.len())?;
    Ok(Some(array(parts.into_iter().map(V::str_owned).collect())))
}

fn join<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(strings) = arg(&args, 0) else {
        return Ok(None);
    };
    let separator = text(&args, 1);
    let separator: &str = separator.as_deref().unwrap_or("");
    let mut out = String::new();
    for (index, item) in strings.items().enumerate() {
        if index > 0 {
            out.push_str(separator);
        }
        out.push_str(item.as_str().unwrap_or(""));
        ctx.meter.tick()?;
    }
    owned_str(ctx, out)
}

// ---- numbers ----

fn format_number<'a>(
    ctx: &Ctx<'a>,
    args: Args<'a>,
    _: Option<&V<'a>>,
    _: usize,
) -> R<Option<V<'a>>> {
    let Some(value) = num(&args, 0) else {
        return Ok(None);
    };
    let picture = text(&args, 1).unwrap_or(Str::B(""));
    let mut options = Vec::new();
    if let Some(object) = arg(&args, 2) {
        for (key, item) in object.entries() {
            let mut text = String::new();
            match &item {
                V::Str(value) => text.push_str(value),
                other => value::stringify(other, false, &mut text),
            }
            options.push((key.to_string(), text));
        }
    }
    ctx.meter.spend(picture.len() as u64 / 8 + 4)?;
    let text = super::picture::format_number(value, &picture, &options, round_half_even)?;
    owned_str(ctx, text)
}

fn format_base<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(value) = num(&args, 0) else {
        return Ok(None);
    };
    let value = round_half_even(value, 0);
    let radix = num(&args, 1).unwrap_or(10.0);
    if !(2.0..=36.0).contains(&radix) {
        return Err(err(
            "D3100",
            format!(
                "the radix of the formatBase function must be between 2 and 36; it was given {radix}"
            ),
            None,
        ));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let radix = radix as u32;
    let negative = value < 0.0;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let mut n = value.abs() as u128;
    let mut digits = Vec::new();
    loop {
        digits.push(std::char::from_digit((n % u128::from(radix)) as u32, radix).unwrap_or('0'));
        n /= u128::from(radix);
        if n == 0 {
            break;
        }
    }
    if negative {
        digits.push('-');
    }
    owned_str(ctx, digits.into_iter().rev().collect())
}

fn number<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(value) = arg(&args, 0) else {
        return Ok(None);
    };
    let result = match &value {
        V::Num(number) => Some(*number),
        V::Dec(_) => return Ok(Some(value)),
        V::Bool(flag) => Some(if *flag { 1.0 } else { 0.0 }),
        V::Str(text) => {
            // A decimal with more digits than a float holds keeps its text.
            let trimmed = text.trim();
            if crate::native::exceeds_float_digits(trimmed)
                && let Ok(serde_json::Value::Number(exact)) =
                    serde_json::from_str::<serde_json::Value>(trimmed)
                && exact.as_f64().is_some()
            {
                return Ok(Some(value::number_value(&exact)));
            }
            parse_js_number(text)
        }
        _ => None,
    };
    match result {
        Some(number) if number.is_finite() => Ok(Some(V::Num(number))),
        _ => Err(err(
            "D3030",
            format!("unable to cast value to a number: {}", short(&value)),
            None,
        )),
    }
}

fn parse_js_number(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = lower.strip_prefix(prefix) {
            return u64::from_str_radix(digits, radix).ok().map(|n| n as f64);
        }
    }
    let body = text.strip_prefix('-').unwrap_or(text);
    let mut chars = body.chars().peekable();
    let mut digits = 0;
    while chars.peek().is_some_and(char::is_ascii_digit) {
        chars.next();
        digits += 1;
    }
    if digits == 0 {
        return None;
    }
    if chars.peek() == Some(&'.') {
        chars.next();
        let mut fraction = 0;
        while chars.peek().is_some_and(char::is_ascii_digit) {
            chars.next();
            fraction += 1;
        }
        if fraction == 0 {
            return None;
        }
    }
    if matches!(chars.peek(), Some('e' | 'E')) {
        chars.next();
        if matches!(chars.peek(), Some('+' | '-')) {
            chars.next();
        }
        let mut exponent = 0;
        while chars.peek().is_some_and(char::is_ascii_digit) {
            chars.next();
            exponent += 1;
        }
        if exponent == 0 {
            return None;
        }
    }
    if chars.next().is_some() {
        return None;
    }
    text.parse().ok()
}

fn floor<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    Ok(num(&args, 0).map(|n| V::Num(n.floor())))
}

fn ceil<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    Ok(num(&args, 0).map(|n| V::Num(n.ceil())))
}

fn abs<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    Ok(num(&args, 0).map(|n| V::Num(n.abs())))
}

fn sqrt<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(n) = num(&args, 0) else {
        return Ok(None);
    };
    if n < 0.0 {
        return Err(err(
            "D3060",
            format!("the sqrt function cannot be applied to a negative number: {n}"),
            None,
        ));
    }
    Ok(Some(V::Num(n.sqrt())))
}

fn power<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(base) = num(&args, 0) else {
        return Ok(None);
    };
    let exponent = num(&args, 1).unwrap_or(f64::NAN);
    let result = base.powf(exponent);
    if !result.is_finite() {
        return Err(err(
            "D3061",
            format!(
                "the power function has resulted in a value that cannot be represented as a JSON number: base={base}, exponent={exponent}"
            ),
            None,
        ));
    }
    Ok(Some(V::Num(result)))
}

/// Rounds half to even at `precision` decimal places, as `$round` does.
fn round_half_even(value: f64, precision: i32) -> f64 {
    let shift = |v: f64, places: i32| -> f64 {
        let mut text = String::new();
        value::js_number(v, &mut text);
        let (mantissa, exponent) = match text.split_once('e') {
            Some((m, e)) => (m.to_owned(), e.parse::<i32>().unwrap_or(0)),
            None => (text.clone(), 0),
        };
        format!("{mantissa}e{}", exponent + places)
            .parse()
            .unwrap_or(v)
    };
    let scaled = if precision == 0 {
        value
    } else {
        shift(value, precision)
    };
    let mut result = (scaled + 0.5).floor();
    let diff = result - scaled;
    if diff.abs() == 0.5 && (result % 2.0).abs() == 1.0 {
        result -= 1.0;
    }
    let result = if precision == 0 {
        result
    } else {
        shift(result, -precision)
    };
    if result == 0.0 { 0.0 } else { result }
}

fn round<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(n) = num(&args, 0) else {
        return Ok(None);
    };
    #[allow(clippy::cast_possible_truncation)]
    let precision = num(&args, 1).unwrap_or(0.0) as i32;
    Ok(Some(V::Num(round_half_even(n, precision))))
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

fn random<'a>(_: &Ctx<'a>, _: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    Ok(Some(V::Num(
        (random_u64() >> 11) as f64 / (1u64 << 53) as f64,
    )))
}

// ---- booleans ----

fn boolean<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    Ok(arg(&args, 0).map(|value| V::Bool(truthy(Some(&value)))))
}

fn not<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    Ok(arg(&args, 0).map(|value| V::Bool(!truthy(Some(&value)))))
}

// ---- higher-order functions ----

fn arity_of(func: &V<'_>) -> usize {
    match func {
        V::Func(f) => f.arity(),
        _ => 0,
    }
}

fn hof_args<'a>(func: &V<'a>, value: V<'a>, second: V<'a>, whole: &V<'a>) -> Args<'a> {
    let arity = arity_of(func);
    let mut args: Args<'a> = smallvec::smallvec![Some(value)];
    if arity >= 2 {
        args.push(Some(second));
    }
    if arity >= 3 {
        args.push(Some(whole.clone()));
    }
    args
}

fn map<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, pos: usize) -> R<Option<V<'a>>> {
    let Some(items) = arg(&args, 0) else {
        return Ok(None);
    };
    let func = arg(&args, 1).unwrap_or(V::Null);
    let caller = ctx.caller(&func);
    let mut out = Vec::with_capacity(items.len_items());
    for (index, item) in items.items().enumerate() {
        ctx.meter.tick()?;
        if let Some(value) =
            ctx.call_with(&caller, &[item, V::Num(index as f64), items.clone()], pos)?
        {
            out.push(value);
        }
    }
    ctx.release(caller);
    Ok(Some(seq(out)))
}

fn filter<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, pos: usize) -> R<Option<V<'a>>> {
    let Some(items) = arg(&args, 0) else {
        return Ok(None);
    };
    let func = arg(&args, 1).unwrap_or(V::Null);
    let caller = ctx.caller(&func);
    let mut out = Vec::new();
    for (index, item) in items.items().enumerate() {
        ctx.meter.tick()?;
        let keep = ctx.call_with(
            &caller,
            &[item.clone(), V::Num(index as f64), items.clone()],
            pos,
        )?;
        if truthy(keep.as_ref()) {
            out.push(item);
        }
    }
    ctx.release(caller);
    Ok(Some(seq(out)))
}

fn single<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, pos: usize) -> R<Option<V<'a>>> {
    let Some(items) = arg(&args, 0) else {
        return Ok(None);
    };
    let func = arg(&args, 1);
    let mut result = None;
    for (index, item) in items.items().enumerate() {
        ctx.meter.tick()?;
        let keep = match &func {
            Some(func) => truthy(
                ctx.apply(
                    func,
                    hof_args(func, item.clone(), V::Num(index as f64), &items),
                    None,
                    pos,
                )?
                .as_ref(),
            ),
            None => true,
        };
        if keep {
            if result.is_some() {
                return Err(err(
                    "D3138",
                    "the $single() function expected exactly 1 matching result; instead it matched more",
                    None,
                ));
            }
            result = Some(item);
        }
    }
    match result {
        Some(item) => Ok(Some(item)),
        None => Err(err(
            "D3139",
            "the $single() function expected exactly 1 matching result; instead it matched 0",
            None,
        )),
    }
}

fn reduce<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, pos: usize) -> R<Option<V<'a>>> {
    let Some(items) = arg(&args, 0) else {
        return Ok(None);
    };
    let func = arg(&args, 1).unwrap_or(V::Null);
    let arity = arity_of(&func);
    if arity < 2 {
        return Err(err(
            "D3050",
            "the second argument of reduce function must be a function with at least two arguments",
            None,
        ));
    }
    let items: Vec<V<'a>> = items.items().collect();
    let whole = array(items.clone());
    let (mut result, start) = match arg(&args, 2) {
        None if !items.is_empty() => (Some(items[0].clone()), 1),
        init => (init, 0),
    };
    for (index, item) in items.into_iter().enumerate().skip(start) {
        ctx.meter.tick()?;
        let mut call_args: Args<'a> = smallvec::smallvec![result, Some(item)];
        if arity >= 3 {
            call_args.push(Some(V::Num(index as f64)));
        }
        if arity >= 4 {
            call_args.push(Some(whole.clone()));
        }
        result = ctx.apply(&func, call_args, None, pos)?;
    }
    Ok(result)
}

fn sift<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, pos: usize) -> R<Option<V<'a>>> {
    let Some(object) = arg(&args, 0) else {
        return Ok(None);
    };
    let func = arg(&args, 1).unwrap_or(V::Null);
    let caller = ctx.caller(&func);
    let mut out = new_obj(0);
    let mut visit = |key: Str<'a>, value: V<'a>| -> R<()> {
        ctx.meter.tick()?;
        let keep = ctx.call_with(
            &caller,
            &[value.clone(), V::Str(key.clone()), object.clone()],
            pos,
        )?;
        if truthy(keep.as_ref()) {
            out.insert(key, value);
        }
        Ok(())
    };
    match &object {
        // A record as parsed: read in place, without listing its entries first.
        V::JObj(fields) => {
            for (key, value) in *fields {
                visit(Str::B(key), V::from_json(value))?;
            }
        }
        other => {
            for (key, value) in other.entries() {
                visit(key, value)?;
            }
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    Ok(Some(V::Obj(Rc::new(out))))
}

fn each<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, pos: usize) -> R<Option<V<'a>>> {
    let Some(object) = arg(&args, 0) else {
        return Ok(None);
    };
    let func = arg(&args, 1).unwrap_or(V::Null);
    let caller = ctx.caller(&func);
    let mut out = Vec::new();
    for (key, value) in object.entries() {
        ctx.meter.tick()?;
        if let Some(result) = ctx.call_with(&caller, &[value, V::Str(key), object.clone()], pos)? {
            out.push(result);
        }
    }
    Ok(Some(seq(out)))
}

fn zip<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let arrays: Vec<V<'a>> = args
        .into_iter()
        .map(|arg| arg.unwrap_or_else(|| array(Vec::new())))
        .collect();
    let shortest = arrays.iter().map(V::len_items).min().unwrap_or(0);
    ctx.meter.items(shortest, "the result of `$zip`")?;
    let mut out = Vec::with_capacity(shortest);
    for index in 0..shortest {
        ctx.meter.spend(arrays.len() as u64)?;
        ctx.meter.alloc(arrays.len() * size_of::<V<'_>>())?;
        out.push(array(arrays.iter().filter_map(|a| a.item(index)).collect()));
    }
    Ok(Some(array(out)))
}

fn sort<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, pos: usize) -> R<Option<V<'a>>> {
    let Some(items) = arg(&args, 0) else {
        return Ok(None);
    };
    if items.len_items() <= 1 {
        return Ok(Some(items));
    }
    let items: Vec<((), V<'a>)> = items.items().map(|item| ((), item)).collect();
    let sorted = match arg(&args, 1) {
        Some(func) => merge_sort(ctx, items, &mut |a, b| {
            let swap = ctx.apply(
                &func,
                smallvec::smallvec![Some(a.1.clone()), Some(b.1.clone())],
                None,
                pos,
            )?;
            Ok(truthy(swap.as_ref()))
        })?,
        None => {
            let all_numbers = items
                .iter()
                .all(|(_, item)| matches!(item, V::Num(_) | V::Dec(_)));
            let all_strings = items.iter().all(|(_, item)| matches!(item, V::Str(_)));
            if !all_numbers && !all_strings {
                return Err(err(
                    "D3070",
                    "the single argument form of the sort function can only be applied to an array of strings or an array of numbers; use the second argument to specify a comparison function",
                    None,
                ));
            }
            merge_sort(ctx, items, &mut |a, b| {
                Ok(match (&a.1, &b.1) {
                    (V::Str(x), V::Str(y)) => **x > **y,
                    (x, y) => x.as_num() > y.as_num(),
                })
            })?
        }
    };
    Ok(Some(array(
        sorted.into_iter().map(|(_, item)| item).collect(),
    )))
}

/// A stable merge sort whose comparison may fail; `greater(a, b)` says whether `a` goes after
/// `b`. Each comparison spends fuel.
pub(crate) fn merge_sort<'a, T>(
    ctx: &Ctx<'a>,
    items: Vec<T>,
    greater: &mut dyn FnMut(&T, &T) -> R<bool>,
) -> R<Vec<T>> {
    if items.len() <= 1 {
        return Ok(items);
    }
    let mut items = items;
    let right = items.split_off(items.len() / 2);
    let left = merge_sort(ctx, items, greater)?;
    let right = merge_sort(ctx, right, greater)?;
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    while let (Some(a), Some(b)) = (left.peek(), right.peek()) {
        ctx.meter.tick()?;
        if greater(a, b)? {
            out.push(right.next().expect("peeked"));
        } else {
            out.push(left.next().expect("peeked"));
        }
    }
    out.extend(left);
    out.extend(right);
    Ok(out)
}

fn shuffle<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(items) = arg(&args, 0) else {
        return Ok(None);
    };
    let mut items: Vec<V<'a>> = items.items().collect();
    ctx.meter.spend(items.len() as u64)?;
    let mut state = random_u64() | 1;
    for index in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        #[allow(clippy::cast_possible_truncation)]
        let other = (state % (index as u64 + 1)) as usize;
        items.swap(index, other);
    }
    Ok(Some(array(items)))
}

fn distinct<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(items) = arg(&args, 0) else {
        return Ok(None);
    };
    if !items.is_array() || items.len_items() <= 1 {
        return Ok(Some(items));
    }
    let sequence = items.is_seq();
    let mut seen_numbers = std::collections::HashSet::<u64, value::Hasher_>::default();
    let mut seen_strings = std::collections::HashSet::<Str<'a>, value::Hasher_>::default();
    let mut others: Vec<V<'a>> = Vec::new();
    let mut out = Vec::new();
    ctx.meter
        .items(items.len_items(), "the result of `$distinct`")?;
    for item in items.items() {
        ctx.meter.spend(2)?;
        let new = match &item {
            V::Num(n) => seen_numbers.insert(if *n == 0.0 { 0 } else { n.to_bits() }),
            V::Dec(dec) => seen_numbers.insert(if dec.value == 0.0 {
                0
            } else {
                dec.value.to_bits()
            }),
            V::Str(s) => seen_strings.insert(s.clone()),
            other => {
                ctx.meter.spend(others.len() as u64)?;
                if others.iter().any(|seen| deep_eq(seen, other)) {
                    false
                } else {
                    others.push(other.clone());
                    true
                }
            }
        };
        if new {
            out.push(item);
        }
    }
    Ok(Some(if sequence { seq(out) } else { array(out) }))
}

// ---- objects ----

fn keys<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(value) = arg(&args, 0) else {
        return Ok(Some(seq(Vec::new())));
    };
    let mut out: Vec<Str<'a>> = Vec::new();
    let mut seen = std::collections::HashSet::<Str<'a>, value::Hasher_>::default();
    collect_keys(ctx, &value, &mut out, &mut seen)?;
    Ok(Some(seq(out.into_iter().map(V::Str).collect())))
}

/// The keys of an object, or of every object in an array, nested arrays included.
fn collect_keys<'a>(
    ctx: &Ctx<'a>,
    value: &V<'a>,
    out: &mut Vec<Str<'a>>,
    seen: &mut std::collections::HashSet<Str<'a>, value::Hasher_>,
) -> R<()> {
    if value.is_array() {
        for item in value.items() {
            collect_keys(ctx, &item, out, seen)?;
        }
        return Ok(());
    }
    for (key, _) in value.entries() {
        ctx.meter.tick()?;
        if seen.insert(key.clone()) {
            out.push(key);
        }
    }
    Ok(())
}

fn lookup_in<'a>(value: &V<'a>, key: &str, out: &mut Vec<V<'a>>) {
    if value.is_array() {
        for item in value.items() {
            let mut inner = Vec::new();
            lookup_in(&item, key, &mut inner);
            for found in inner {
                if found.is_array() {
                    out.extend(found.items());
                } else {
                    out.push(found);
                }
            }
        }
    } else if let Some(found) = value.field(key) {
        out.push(found);
    }
}

fn lookup<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(value) = arg(&args, 0) else {
        return Ok(None);
    };
    let Some(key) = text(&args, 1) else {
        return Ok(None);
    };
    if value.is_array() {
        let mut out = Vec::new();
        lookup_in(&value, &key, &mut out);
        return Ok(Some(seq(out)));
    }
    Ok(value.field(&key))
}

fn append<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let first = arg(&args, 0);
    let second = arg(&args, 1);
    let (first, second) = match (first, second) {
        (None, second) => return Ok(second),
        (first, None) => return Ok(first),
        (Some(a), Some(b)) => (a, b),
    };
    ctx.meter.items(
        first.len_items() + second.len_items(),
        "the result of `$append`",
    )?;
    let mut out: Vec<V<'a>> = first.items().collect();
    out.extend(second.items());
    Ok(Some(array(out)))
}

fn exists<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    Ok(Some(V::Bool(arg(&args, 0).is_some())))
}

fn spread<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(value) = arg(&args, 0) else {
        return Ok(None);
    };
    if value.is_array() {
        let mut out = Vec::new();
        for item in value.items() {
            if let Some(spread) = spread(ctx, smallvec::smallvec![Some(item)], None, 0)? {
                if spread.is_array() {
                    out.extend(spread.items());
                } else {
                    out.push(spread);
                }
            }
        }
        return Ok(Some(seq(out)));
    }
    if !value.is_object() {
        return Ok(Some(value));
    }
    let mut out = Vec::new();
    for (key, item) in value.entries() {
        ctx.meter.tick()?;
        let mut obj = new_obj(1);
        obj.insert(key, item);
        out.push(V::Obj(Rc::new(obj)));
    }
    Ok(Some(seq(out)))
}

fn merge<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(objects) = args.into_iter().next().flatten() else {
        return Ok(None);
    };
    // The objects of an array just built are usually held by nothing else: the first one is
    // then extended in place instead of copied.
    let items: Vec<V<'a>> = match objects {
        V::Arr(arr) => match Rc::try_unwrap(arr) {
            Ok(arr) => arr.items,
            Err(arr) => arr.items.clone(),
        },
        other => other.items().collect(),
    };
    let mut items = items.into_iter();
    let mut out = match items.next() {
        Some(V::Obj(first)) => {
            let first = Rc::try_unwrap(first).unwrap_or_else(|first| (*first).clone());
            ctx.meter.spend(first.len() as u64)?;
            first
        }
        Some(other) => {
            let mut out = new_obj(16);
            for (key, value) in other.entries() {
                ctx.meter.tick()?;
                out.insert(key, value);
            }
            out
        }
        None => new_obj(0),
    };
    for object in items {
        match &object {
            V::JObj(fields) => {
                for (key, value) in *fields {
                    ctx.meter.tick()?;
                    out.insert(Str::B(key), V::from_json(value));
                }
            }
            _ => {
                for (key, value) in object.entries() {
                    ctx.meter.tick()?;
                    out.insert(key, value);
                }
            }
        }
    }
    ctx.meter.alloc(out.len() * 48)?;
    Ok(Some(V::Obj(Rc::new(out))))
}

fn reverse<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(items) = arg(&args, 0) else {
        return Ok(None);
    };
    if items.len_items() <= 1 {
        return Ok(Some(items));
    }
    ctx.meter
        .items(items.len_items(), "the result of `$reverse`")?;
    let mut out: Vec<V<'a>> = items.items().collect();
    out.reverse();
    Ok(Some(array(out)))
}

fn error<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let message = text(&args, 0).map_or_else(
        || "$error() function evaluated".to_owned(),
        |m| m.to_string(),
    );
    Err(err("D3137", message, None))
}

fn assert<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    if matches!(arg(&args, 0), Some(V::Bool(true))) {
        return Ok(None);
    }
    let message = text(&args, 1).map_or_else(
        || "$assert() statement failed".to_owned(),
        |m| m.to_string(),
    );
    Err(err("D3141", message, None))
}

fn type_<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    Ok(arg(&args, 0).map(|value| V::Str(Str::B(value.type_name()))))
}

fn clone<'a>(_: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    Ok(arg(&args, 0))
}

// ---- encoding ----

fn base64encode<'a>(
    ctx: &Ctx<'a>,
    args: Args<'a>,
    _: Option<&V<'a>>,
    _: usize,
) -> R<Option<V<'a>>> {
    use base64::Engine as _;
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    let bytes: Vec<u8> = if text.chars().all(|c| (c as u32) < 256) {
        #[allow(clippy::cast_possible_truncation)]
        text.chars().map(|c| c as u32 as u8).collect()
    } else {
        text.as_bytes().to_vec()
    };
    owned_str(ctx, base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn base64decode<'a>(
    ctx: &Ctx<'a>,
    args: Args<'a>,
    _: Option<&V<'a>>,
    _: usize,
) -> R<Option<V<'a>>> {
    use base64::Engine as _;
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(
            text.trim_end_matches('=').to_owned()
                + &"=".repeat((4 - text.trim_end_matches('=').len() % 4) % 4),
        )
        .unwrap_or_default();
    let decoded = match String::from_utf8(bytes.clone()) {
        Ok(decoded) => decoded,
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    };
    owned_str(ctx, decoded)
}

fn encode_with(text: &str, keep: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || keep.contains(c) {
            out.push(c);
        } else {
            let mut buffer = [0; 4];
            for byte in c.encode_utf8(&mut buffer).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

fn encode_url_component<'a>(
    ctx: &Ctx<'a>,
    args: Args<'a>,
    _: Option<&V<'a>>,
    _: usize,
) -> R<Option<V<'a>>> {
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    owned_str(ctx, encode_with(&text, "-_.!~*'()"))
}

fn encode_url<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    owned_str(ctx, encode_with(&text, "-_.!~*'();/?:@&=+$,#"))
}

fn decode_with(text: &str, reserved: &str) -> R<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = text
                .get(at + 1..at + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(byte) = hex else {
                return Err(err(
                    "D3140",
                    format!("malformed URL passed to decode: `{text}`"),
                    None,
                ));
            };
            if byte < 0x80 && reserved.contains(char::from(byte)) {
                out.extend_from_slice(&bytes[at..at + 3]);
            } else {
                out.push(byte);
            }
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        err(
            "D3140",
            format!("malformed URL passed to decode: `{text}`"),
            None,
        )
    })
}

fn decode_url_component<'a>(
    ctx: &Ctx<'a>,
    args: Args<'a>,
    _: Option<&V<'a>>,
    _: usize,
) -> R<Option<V<'a>>> {
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    owned_str(ctx, decode_with(&text, "")?)
}

fn decode_url<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(text) = text(&args, 0) else {
        return Ok(None);
    };
    owned_str(ctx, decode_with(&text, ";/?:@&=+$,#")?)
}

// ---- evaluation and time ----

fn eval<'a>(ctx: &Ctx<'a>, args: Args<'a>, input: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(source) = text(&args, 0) else {
        return Ok(None);
    };
    let tree = super::parser::parse(&source).map_err(|error| {
        err(
            "D3120",
            format!(
                "syntax error in expression passed to function eval: {}",
                error.message
            ),
            None,
        )
    })?;
    let focus = arg(&args, 1).or_else(|| input.cloned());
    let focus_json = focus.as_ref().and_then(value::to_json);
    let result = super::evaluate_tree(&tree, focus_json.as_ref(), ctx.vars(), ctx.meter).map_err(
        |error| {
            if error.code.starts_with('U') || error.code.starts_with("D101") {
                error
            } else {
                err("D3121", error.message, None)
            }
        },
    )?;
    Ok(result.map(|json| value::from_owned_json(&json)))
}

/// The entry of our native functions, which [`dispatch`] calls through their table; never
/// called itself.
fn native_entry<'a>(_: &Ctx<'a>, _: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    Err(err(
        "T1006",
        "attempted to invoke a function without an implementation",
        None,
    ))
}

fn now<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    if args.iter().any(Option::is_some) {
        let picture = text(&args, 0);
        let zone = text(&args, 1);
        #[allow(clippy::cast_precision_loss)]
        let millis = ctx.started_millis() as f64;
        ctx.meter.spend(16)?;
        return match super::datetime::format_date_time(millis, picture.as_deref(), zone.as_deref())?
        {
            Some(text) => owned_str(ctx, text),
            None => Ok(None),
        };
    }
    owned_str(ctx, iso_millis(ctx.started_millis()))
}

fn millis<'a>(ctx: &Ctx<'a>, _: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    Ok(Some(V::Num(ctx.started_millis() as f64)))
}

fn iso_millis(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|instant| instant.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

fn from_millis<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(millis) = num(&args, 0) else {
        return Ok(None);
    };
    if args.iter().skip(1).all(Option::is_none) {
        #[allow(clippy::cast_possible_truncation)]
        let text = iso_millis(millis.floor() as i64);
        if !text.is_empty() {
            return owned_str(ctx, text);
        }
    }
    let picture = text(&args, 1);
    let zone = text(&args, 2);
    ctx.meter.spend(16)?;
    match super::datetime::format_date_time(millis, picture.as_deref(), zone.as_deref())? {
        Some(text) => owned_str(ctx, text),
        None => Ok(None),
    }
}

fn to_millis<'a>(ctx: &Ctx<'a>, args: Args<'a>, _: Option<&V<'a>>, _: usize) -> R<Option<V<'a>>> {
    let Some(timestamp) = text(&args, 0) else {
        return Ok(None);
    };
    let picture = text(&args, 1);
    ctx.meter.spend(16)?;
    Ok(
        super::datetime::to_millis(&timestamp, picture.as_deref(), ctx.started_millis())?
            .filter(|millis| millis.is_finite())
            .map(V::Num),
    )
}

fn format_integer<'a>(
    ctx: &Ctx<'a>,
    args: Args<'a>,
    _: Option<&V<'a>>,
    _: usize,
) -> R<Option<V<'a>>> {
    let Some(value) = num(&args, 0) else {
        return Ok(None);
    };
    let picture = text(&args, 1).unwrap_or(Str::B(""));
    ctx.meter.spend(8)?;
    owned_str(ctx, super::datetime::format_integer(value, &picture)?)
}

fn parse_integer<'a>(
    ctx: &Ctx<'a>,
    args: Args<'a>,
    _: Option<&V<'a>>,
    _: usize,
) -> R<Option<V<'a>>> {
    let Some(value) = text(&args, 0) else {
        return Ok(None);
    };
    let picture = text(&args, 1).unwrap_or(Str::B(""));
    ctx.meter.spend(8 + value.len() as u64 / 8)?;
    Ok(super::datetime::parse_integer(&value, &picture)?
        .filter(|number| number.is_finite())
        .map(V::Num))
}

/// Calls a built-in: ours, or a native function.
pub(crate) fn dispatch<'a>(
    ctx: &Ctx<'a>,
    builtin: &'static Builtin,
    args: Args<'a>,
    input: Option<&V<'a>>,
    pos: usize,
) -> R<Option<V<'a>>> {
    if let Some(native) = builtin.native {
        if native.doc.name == "parseDate"
            && let [Some(V::Str(text))] | [Some(V::Str(text)), None] = args.as_slice()
        {
            // The hot one of the mappings from vendors: read from the borrowed text.
            ctx.meter.spend(8)?;
            return Ok(crate::native::parse_date_text(text).map(V::str_owned));
        }
        if let Some(result) = fast_native(native.doc.name, &args)? {
            ctx.meter.spend(8)?;
            return Ok(result);
        }
        if native.doc.name == "removeEmpty" {
            // The hot one of the mappings back to vendors: pruned over our values, without
            // writing the record as JSON and reading it back.
            return match args.into_iter().next().flatten() {
                Some(value) => prune(ctx, value),
                None => Ok(None),
            };
        }
        return call_native_fn(ctx, native, args);
    }
    // JSONata's own functions work on floats; `$number` gives a number back as it came, so
    // that `$number(amount)` keeps every digit of an amount.
    if builtin.name != "number" && args.iter().any(|arg| matches!(arg, Some(V::Dec(_)))) {
        let args = args.into_iter().map(|arg| arg.map(V::demoted)).collect();
        return (builtin.call)(ctx, args, input, pos);
    }
    (builtin.call)(ctx, args, input, pos)
}

/// Whether a value reads the same after a round trip through JSON (no function inside, none
/// dropped): scalars and the input's own JSON.
fn plain_json(value: &V<'_>) -> bool {
    matches!(
        value,
        V::Null | V::Bool(_) | V::Num(_) | V::Dec(_) | V::Str(_) | V::JArr(_) | V::JObj(_)
    )
}

/// Native functions computed over our values when their arguments make that exact, without
/// writing the arguments as JSON and reading the result back: `Some(result)`, or `None` to take
/// the general path (`native::values` stays the definition).
#[allow(clippy::option_option)]
fn fast_native<'a>(name: &str, args: &Args<'a>) -> R<Option<Option<V<'a>>>> {
    match name {
        "firstNonEmpty" => {
            // As `native::values::first_non_empty`: undefined, null, "" and functions (which
            // JSON cannot hold) are passed over.
            for value in args.iter().flatten() {
                match value {
                    V::Null | V::Func(_) => {}
                    V::Str(text) if text.is_empty() => {}
                    value if plain_json(value) => return Ok(Some(Some(value.clone()))),
                    _ => return Ok(None),
                }
            }
            Ok(Some(None))
        }
        "mapValue" => {
            // As `native::values::map_value` for one scalar looked up in a table.
            let (Some(Some(value)), Some(Some(table))) = (args.first(), args.get(1)) else {
                return Ok(None);
            };
            if !table.is_object() || !matches!(value, V::Null | V::Bool(_) | V::Num(_) | V::Str(_))
            {
                return Ok(None);
            }
            let key = match value {
                V::Str(text) => Some(std::borrow::Cow::Borrowed(&**text)),
                V::Null => None,
                other => crate::native::scalar_text(value::to_json(other).as_ref(), "mapValue")
                    .map_err(Box::new)?
                    .map(std::borrow::Cow::Owned),
            };
            let Some(key) = key else {
                return Ok(Some(None));
            };
            let found = table.field(&key).filter(|found| !found.is_func());
            let chosen = match found {
                Some(found) => Some(found),
                None => args
                    .get(2)
                    .cloned()
                    .flatten()
                    .filter(|default| !default.is_func()),
            };
            match chosen {
                Some(chosen) if !plain_json(&chosen) => Ok(None),
                chosen => Ok(Some(chosen)),
            }
        }
        _ => Ok(None),
    }
}

/// `$removeEmpty` over our values: as `native::values::remove_empty`, which it must match.
/// An object or array built by the evaluation and held by nothing else is pruned in place.
fn prune<'a>(ctx: &Ctx<'a>, value: V<'a>) -> R<Option<V<'a>>> {
    ctx.meter.tick()?;
    Ok(match value {
        V::Null => None,
        V::Str(text) if text.is_empty() => None,
        V::Obj(fields) => {
            let mut fields = Rc::try_unwrap(fields).unwrap_or_else(|fields| (*fields).clone());
            let mut failed = None;
            fields.retain(|_, item| {
                if failed.is_some() {
                    return true;
                }
                match prune(ctx, std::mem::replace(item, V::Null)) {
                    Ok(Some(kept)) => {
                        *item = kept;
                        true
                    }
                    Ok(None) => false,
                    Err(error) => {
                        failed = Some(error);
                        true
                    }
                }
            });
            if let Some(error) = failed {
                return Err(error);
            }
            (!fields.is_empty()).then(|| V::Obj(Rc::new(fields)))
        }
        V::JObj(fields) => {
            let mut kept = new_obj(fields.len());
            for (key, item) in fields {
                if let Some(item) = prune(ctx, V::from_json(item))? {
                    kept.insert(Str::B(key), item);
                }
            }
            (!kept.is_empty()).then(|| V::Obj(Rc::new(kept)))
        }
        array if array.is_array() => {
            let mut kept = Vec::with_capacity(array.len_items());
            for item in array.items() {
                if let Some(item) = prune(ctx, item)? {
                    kept.push(item);
                }
            }
            (!kept.is_empty()).then(|| array_of(kept))
        }
        other => Some(other),
    })
}

fn array_of(items: Vec<V<'_>>) -> V<'_> {
    array(items)
}
