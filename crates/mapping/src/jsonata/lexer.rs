//! Splits JSONata source into tokens, one at a time, as the parser asks for them.
//!
//! Whether a `/` starts a regular expression or divides depends on what the parser expects, so
//! the parser says (`infix`) when it asks for the next token. Positions are character offsets
//! just after the token, as JSONata reports them.

use super::err;
use crate::MappingError;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Op(&'static str),
    Name(String),
    Var(String),
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Regex(String, String),
    End,
}

/// A token and the character offset just after it.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) pos: usize,
}

const TWO_CHAR: [&str; 9] = ["..", ":=", "!=", ">=", "<=", "**", "~>", "?:", "??"];
const ONE_CHAR: &str = ".[]{}(),@#;:?+-*/%|=<>^&!~";

pub(crate) struct Lexer {
    chars: Vec<char>,
    pub(crate) pos: usize,
}

fn is_op_char(c: char) -> bool {
    ONE_CHAR.contains(c)
}

fn static_op(text: &str) -> &'static str {
    for op in TWO_CHAR {
        if op == text {
            return op;
        }
    }
    for op in [
        ".", "[", "]", "{", "}", "(", ")", ",", "@", "#", ";", ":", "?", "+", "-", "*", "/", "%",
        "|", "=", "<", ">", "^", "&", "!", "~",
    ] {
        if op == text {
            return op;
        }
    }
    match text {
        "and" => "and",
        "or" => "or",
        _ => "in",
    }
}

impl Lexer {
    pub(crate) fn new(source: &str) -> Self {
        Lexer {
            chars: source.chars().collect(),
            pos: 0,
        }
    }

    fn at(&self, index: usize) -> Option<char> {
        self.chars.get(index).copied()
    }

    /// The source text between two character offsets.
    pub(crate) fn slice(&self, from: usize, to: usize) -> String {
        self.chars[from.min(self.chars.len())..to.min(self.chars.len())]
            .iter()
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.chars.len()
    }

    fn token(&self, tok: Tok) -> Token {
        Token { tok, pos: self.pos }
    }

    pub(crate) fn next(&mut self, infix: bool) -> Result<Token, Box<MappingError>> {
        loop {
            // Whitespace and comments.
            while let Some(c) = self.at(self.pos) {
                if matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}') {
                    self.pos += 1;
                } else {
                    break;
                }
            }
            if self.at(self.pos) == Some('/') && self.at(self.pos + 1) == Some('*') {
                let start = self.pos;
                self.pos += 2;
                loop {
                    match (self.at(self.pos), self.at(self.pos + 1)) {
                        (Some('*'), Some('/')) => {
                            self.pos += 2;
                            break;
                        }
                        (Some(_), _) => self.pos += 1,
                        (None, _) => {
                            return Err(err("S0106", "comment has no closing tag", Some(start)));
                        }
                    }
                }
                continue;
            }
            break;
        }
        let Some(c) = self.at(self.pos) else {
            return Ok(self.token(Tok::End));
        };
        if !infix && c == '/' {
            self.pos += 1;
            return self.regex();
        }
        if let Some(next) = self.at(self.pos + 1) {
            let pair: String = [c, next].iter().collect();
            if TWO_CHAR.contains(&pair.as_str()) {
                self.pos += 2;
                return Ok(self.token(Tok::Op(static_op(&pair))));
            }
        }
        if is_op_char(c) {
            self.pos += 1;
            return Ok(self.token(Tok::Op(static_op(&c.to_string()))));
        }
        if c == '"' || c == '\'' {
            self.pos += 1;
            return self.string(c);
        }
        if c.is_ascii_digit() {
            return self.number();
        }
        if c == '`' {
            self.pos += 1;
            let start = self.pos;
            while let Some(ch) = self.at(self.pos) {
                if ch == '`' {
                    let name = self.slice(start, self.pos);
                    self.pos += 1;
                    return Ok(self.token(Tok::Name(name)));
                }
                self.pos += 1;
            }
            return Err(err(
                "S0105",
                "quoted property name must be terminated with a backquote (`)",
                Some(self.pos),
            ));
        }
        let start = self.pos;
        let mut end = self.pos;
        while let Some(ch) = self.at(end) {
            if matches!(ch, ' ' | '\t' | '\n' | '\r' | '\u{b}') || is_op_char(ch) {
                break;
            }
            end += 1;
        }
        self.pos = end;
        if c == '$' {
            return Ok(self.token(Tok::Var(self.slice(start + 1, end))));
        }
        let name = self.slice(start, end);
        Ok(self.token(match name.as_str() {
            "and" | "or" | "in" => Tok::Op(static_op(&name)),
            "true" => Tok::Bool(true),
            "false" => Tok::Bool(false),
            "null" => Tok::Null,
            _ => Tok::Name(name),
        }))
    }

    fn string(&mut self, quote: char) -> Result<Token, Box<MappingError>> {
        let mut text = String::new();
        while let Some(c) = self.at(self.pos) {
            self.pos += 1;
            if c == '\\' {
                let Some(escaped) = self.at(self.pos) else {
                    break;
                };
                self.pos += 1;
                match escaped {
                    '"' | '\\' | '/' | '\'' => text.push(escaped),
                    'b' => text.push('\u{8}'),
                    'f' => text.push('\u{c}'),
                    'n' => text.push('\n'),
                    'r' => text.push('\r'),
                    't' => text.push('\t'),
                    'u' => {
                        let code = self.hex4().ok_or_else(|| {
                            err(
                                "S0104",
                                "the escape sequence \\u must be followed by 4 hex digits",
                                Some(self.pos),
                            )
                        })?;
                        if (0xD800..0xDC00).contains(&code)
                            && self.at(self.pos) == Some('\\')
                            && self.at(self.pos + 1) == Some('u')
                        {
                            let save = self.pos;
                            self.pos += 2;
                            match self.hex4() {
                                Some(low) if (0xDC00..0xE000).contains(&low) => {
                                    let joined = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                                    text.push(char::from_u32(joined).unwrap_or('\u{fffd}'));
                                    continue;
                                }
                                _ => self.pos = save,
                            }
                        }
                        text.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                    }
                    other => {
                        return Err(err(
                            "S0103",
                            format!("unsupported escape sequence: \\{other}"),
                            Some(self.pos),
                        ));
                    }
                }
            } else if c == quote {
                return Ok(self.token(Tok::Str(text)));
            } else {
                text.push(c);
            }
        }
        Err(err(
            "S0101",
            "string literal must be terminated by a matching quote",
            Some(self.pos),
        ))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.slice(self.pos, self.pos + 4);
        if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.pos += 4;
        u32::from_str_radix(&digits, 16).ok()
    }

    fn number(&mut self) -> Result<Token, Box<MappingError>> {
        let start = self.pos;
        let mut end = self.pos;
        let digits = |lexer: &Lexer, mut at: usize| {
            while lexer.at(at).is_some_and(|c| c.is_ascii_digit()) {
                at += 1;
            }
            at
        };
        if self.at(end) == Some('0') {
            end += 1;
        } else {
            end = digits(self, end);
        }
        if self.at(end) == Some('.') && self.at(end + 1).is_some_and(|c| c.is_ascii_digit()) {
            end = digits(self, end + 1);
        }
        if matches!(self.at(end), Some('e' | 'E')) {
            let mut exp = end + 1;
            if matches!(self.at(exp), Some('+' | '-')) {
                exp += 1;
            }
            if self.at(exp).is_some_and(|c| c.is_ascii_digit()) {
                end = digits(self, exp);
            }
        }
        let text = self.slice(start, end);
        self.pos = end;
        let value: f64 = text.parse().unwrap_or(f64::NAN);
        if !value.is_finite() {
            return Err(err(
                "S0102",
                format!("number out of range: `{text}`"),
                Some(self.pos),
            ));
        }
        Ok(self.token(Tok::Num(value)))
    }

    fn regex(&mut self) -> Result<Token, Box<MappingError>> {
        let start = self.pos;
        let mut depth: i32 = 0;
        while let Some(c) = self.at(self.pos) {
            if c == '/' && depth == 0 {
                let mut backslashes = 0;
                while self.pos > backslashes && self.at(self.pos - backslashes - 1) == Some('\\') {
                    backslashes += 1;
                }
                if backslashes % 2 == 0 {
                    let pattern = self.slice(start, self.pos);
                    if pattern.is_empty() {
                        return Err(err(
                            "S0301",
                            "empty regular expressions are not allowed",
                            Some(self.pos),
                        ));
                    }
                    self.pos += 1;
                    let flag_start = self.pos;
                    while matches!(self.at(self.pos), Some('i' | 'm')) {
                        self.pos += 1;
                    }
                    let flags = self.slice(flag_start, self.pos);
                    return Ok(self.token(Tok::Regex(pattern, flags)));
                }
            }
            let escaped = self.pos > 0 && self.at(self.pos - 1) == Some('\\');
            if matches!(c, '(' | '[' | '{') && !escaped {
                depth += 1;
            }
            if matches!(c, ')' | ']' | '}') && !escaped {
                depth -= 1;
            }
            self.pos += 1;
        }
        Err(err(
            "S0302",
            "no terminating / in regular expression",
            Some(self.pos),
        ))
    }
}
