//! Function signatures such as `<s-nn?:s>`: parsed once, then used to check the arguments of
//! every call, to take the context value for a missing first argument, and to wrap a single
//! value where an array is expected, as JSONata does.

use super::err;
use super::value::V;
use crate::MappingError;

const ALL: &[u8] = b"asnblfom";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quant {
    One,
    Optional,
    Plus,
}

#[derive(Debug, Clone)]
struct Param {
    /// The type symbols this parameter accepts (`m` is a missing, undefined argument).
    accepts: Vec<u8>,
    /// `accepts` as a set of bits, one per lowercase letter: what the usual call checks.
    mask: u32,
    kind: u8,
    quant: Quant,
    context: bool,
    /// The type of the items, for `a<n>`.
    subtype: Option<u8>,
}

/// A parsed signature.
#[derive(Debug, Clone)]
pub(crate) struct Signature {
    params: Vec<Param>,
}

type R<T> = Result<T, Box<MappingError>>;

/// The bit of a type symbol (a lowercase letter) in [`Param::mask`].
#[inline]
fn symbol_bit(symbol: u8) -> u32 {
    1 << (symbol.wrapping_sub(b'a') & 31)
}

impl Signature {
    /// Parses `<...>` (the return type after `:` is read and ignored).
    pub(crate) fn parse(text: &str) -> R<Signature> {
        let bytes: Vec<char> = text.chars().collect();
        let mut params: Vec<Param> = Vec::new();
        let mut at = 1;
        while at < bytes.len() {
            let c = bytes[at];
            if c == ':' || c == '>' && at == bytes.len() - 1 {
                break;
            }
            let simple = |symbol: u8, accepts: &[u8]| Param {
                accepts: accepts.to_vec(),
                mask: 0,
                kind: symbol,
                quant: Quant::One,
                context: false,
                subtype: None,
            };
            match c {
                'b' | 'n' | 's' | 'l' | 'o' => {
                    let symbol = c as u8;
                    params.push(simple(symbol, &[symbol, b'm']));
                }
                'a' => params.push(simple(b'a', ALL)),
                'f' => params.push(simple(b'f', b"f")),
                'j' => params.push(simple(b'j', b"asnblom")),
                'x' => params.push(simple(b'x', ALL)),
                '-' => {
                    if let Some(last) = params.last_mut() {
                        last.context = true;
                        last.quant = Quant::Optional;
                    }
                }
                '?' => {
                    if let Some(last) = params.last_mut() {
                        last.quant = Quant::Optional;
                    }
                }
                '+' => {
                    if let Some(last) = params.last_mut() {
                        last.quant = Quant::Plus;
                    }
                }
                '(' => {
                    let end = bytes[at..]
                        .iter()
                        .position(|&c| c == ')')
                        .map(|offset| at + offset)
                        .ok_or_else(|| {
                            err("S0401", "unbalanced parentheses in the signature", None)
                        })?;
                    if bytes[at + 1..end].contains(&'<') {
                        return Err(err(
                            "S0402",
                            "choice groups containing parameterized types are not supported",
                            None,
                        ));
                    }
                    let mut accepts: Vec<u8> =
                        bytes[at + 1..end].iter().map(|&c| c as u8).collect();
                    accepts.push(b'm');
                    params.push(Param {
                        accepts,
                        mask: 0,
                        kind: b'(',
                        quant: Quant::One,
                        context: false,
                        subtype: None,
                    });
                    at = end;
                }
                '<' => {
                    let mut depth = 1;
                    let mut end = at + 1;
                    while end < bytes.len() && depth > 0 {
                        match bytes[end] {
                            '<' => depth += 1,
                            '>' => depth -= 1,
                            _ => {}
                        }
                        end += 1;
                    }
                    let Some(last) = params.last_mut() else {
                        return Err(err(
                            "S0401",
                            "type parameters apply to arrays and functions",
                            None,
                        ));
                    };
                    if last.kind == b'a' {
                        last.subtype = bytes.get(at + 1).map(|&c| c as u8);
                    } else if last.kind != b'f' {
                        return Err(err(
                            "S0401",
                            "type parameters apply to arrays and functions",
                            None,
                        ));
                    }
                    at = end - 1;
                }
                _ => {
                    return Err(err(
                        "S0401",
                        format!("unknown type `{c}` in the signature"),
                        None,
                    ));
                }
            }
            at += 1;
        }
        for param in &mut params {
            param.mask = param
                .accepts
                .iter()
                .filter(|symbol| symbol.is_ascii_lowercase())
                .fold(0, |mask, &symbol| mask | symbol_bit(symbol));
        }
        Ok(Signature { params })
    }

    /// Checks `args` against the signature and returns them as the function receives them.
    pub(crate) fn validate<'a>(
        &self,
        args: super::eval::Args<'a>,
        context: Option<&V<'a>>,
    ) -> R<super::eval::Args<'a>> {
        // The usual call: one argument for each of the first parameters, of a type it accepts,
        // and the parameters left (if any) optional ones that do not take the context; none to
        // wrap in an array. The matching below, which tries one argument per parameter first,
        // would give each parameter its argument and the rest none.
        // An array parameter given an array (of its item type, if it has one) or undefined
        // takes it as it is, as the matching below would.
        if args.len() <= self.params.len()
            && self.params.iter().enumerate().all(|(index, param)| {
                param.quant != Quant::Plus
                    && match args.get(index) {
                        Some(arg) => {
                            param.mask & symbol_bit(arg.as_ref().map_or(b'm', V::symbol)) != 0
                                && (param.kind != b'a'
                                    || match arg {
                                        None => true,
                                        Some(arg) => {
                                            arg.is_array()
                                                && param.subtype.is_none_or(|subtype| {
                                                    arg.items().all(|item| item.symbol() == subtype)
                                                })
                                        }
                                    })
                        }
                        None => {
                            param.kind != b'a' && param.quant == Quant::Optional && !param.context
                        }
                    }
            })
        {
            // The parameters without an argument read as undefined (no function counts its
            // arguments), so the list is not padded.
            return Ok(args);
        }
        let symbols: smallvec::SmallVec<[u8; 8]> = args
            .iter()
            .map(|arg| arg.as_ref().map_or(b'm', V::symbol))
            .collect();
        let Some(counts) = self.matches(&symbols, 0, 0) else {
            return Err(self.mismatch(&args, &symbols));
        };
        // The usual call: one argument per parameter, none to wrap in an array.
        if counts.len() == args.len()
            && counts.iter().all(|&count| count == 1)
            && self.params.iter().all(|param| param.kind != b'a')
        {
            return Ok(args);
        }
        let mut out = super::eval::Args::with_capacity(self.params.len());
        let mut args = args.into_iter();
        let mut index = 0;
        for (param, count) in self.params.iter().zip(counts) {
            if count == 0 {
                if param.context {
                    let symbol = context.map_or(b'm', V::symbol);
                    if param.accepts.contains(&symbol) {
                        out.push(context.cloned());
                    } else {
                        return Err(err(
                            "T0411",
                            format!(
                                "context value is not a compatible type with argument {}",
                                index + 1
                            ),
                            None,
                        ));
                    }
                } else {
                    // JSONata hands the next argument to a parameter that matched nothing.
                    out.push(args.next().flatten());
                    index += 1;
                }
                continue;
            }
            for _ in 0..count {
                let arg = args.next().flatten();
                index += 1;
                if param.kind == b'a' {
                    let Some(arg) = arg else {
                        out.push(None);
                        continue;
                    };
                    if let Some(subtype) = param.subtype {
                        let ok = if arg.is_array() {
                            arg.items().all(|item| item.symbol() == subtype)
                        } else {
                            arg.symbol() == subtype
                        };
                        if !ok {
                            return Err(err(
                                "T0412",
                                format!(
                                    "argument {index} of function must be an array of {}",
                                    type_word(subtype)
                                ),
                                None,
                            ));
                        }
                    }
                    if arg.is_array() {
                        out.push(Some(arg));
                    } else {
                        out.push(Some(super::value::array(vec![arg])));
                    }
                } else {
                    out.push(arg);
                }
            }
        }
        Ok(out)
    }

    /// How many arguments each parameter takes, or `None` when the symbols do not match.
    fn matches(&self, symbols: &[u8], param: usize, at: usize) -> Option<Counts> {
        let mut counts = Counts::new();
        self.matches_into(symbols, param, at, &mut counts)
            .then_some(counts)
    }

    fn matches_into(&self, symbols: &[u8], param: usize, at: usize, counts: &mut Counts) -> bool {
        let Some(p) = self.params.get(param) else {
            return at == symbols.len();
        };
        let accepts = |index: usize| symbols.get(index).is_some_and(|s| p.accepts.contains(s));
        let attempt = |count: usize, counts: &mut Counts| {
            counts.push(count);
            if self.matches_into(symbols, param + 1, at + count, counts) {
                true
            } else {
                counts.pop();
                false
            }
        };
        match p.quant {
            Quant::One => accepts(at) && attempt(1, counts),
            Quant::Optional => (accepts(at) && attempt(1, counts)) || attempt(0, counts),
            Quant::Plus => {
                let mut max = 0;
                while accepts(at + max) {
                    max += 1;
                }
                (1..=max).rev().any(|count| attempt(count, counts))
            }
        }
    }

    fn mismatch(&self, args: &[Option<V<'_>>], symbols: &[u8]) -> Box<MappingError> {
        // The first argument that no prefix of the signature accepts.
        let mut good = 0;
        for count in 1..=self.params.len() {
            let partial = Signature {
                params: self.params[..count].to_vec(),
            };
            match (0..=symbols.len())
                .rev()
                .find(|&len| partial.matches(&symbols[..len], 0, 0).is_some())
            {
                Some(len) => good = len,
                None => break,
            }
        }
        let _ = args;
        err(
            "T0410",
            format!(
                "argument {} of function does not match function signature",
                good + 1
            ),
            None,
        )
    }
}

/// How many arguments each parameter takes.
type Counts = smallvec::SmallVec<[usize; 8]>;

fn type_word(symbol: u8) -> &'static str {
    match symbol {
        b'n' => "numbers",
        b's' => "strings",
        b'b' => "booleans",
        b'o' => "objects",
        b'a' => "arrays",
        b'f' => "functions",
        _ => "values",
    }
}
