//! A hand-written lexer and recursive-descent parser for the SOQL subset the simulator serves.
//!
//! Grammar (keywords case-insensitive):
//! `SELECT item, … FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], …]
//! [LIMIT n] [OFFSET n]`, where an item is a field (`Name`, `Account.Name`) or `COUNT()` /
//! `COUNT(f)`. Conditions: `= != <> < <= > >= LIKE IN NOT IN`, `AND`, `OR`, `NOT`, parentheses.
//! As in Salesforce, AND and OR may not be mixed at one level without parentheses, and `NOT`
//! only opens a (parenthesised or top-level) condition. Errors carry the character position
//! of the offending token; `evaluate.rs` resolves names against the schema.

use chrono::{DateTime, NaiveDate, Utc};

use super::store::parse_datetime;

/// A syntax error at a character position of the query text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct ParseError {
    pub position: usize,
    pub message: String,
}

/// A field path as written (`Name`, `Account.Name`) and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldPath {
    pub parts: Vec<String>,
    pub position: usize,
}

impl FieldPath {
    pub(crate) fn text(&self) -> String {
        self.parts.join(".")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SelectItem {
    Field(FieldPath),
    Count {
        field: Option<FieldPath>,
        position: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A relative date literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateConst {
    Today,
    Yesterday,
    Tomorrow,
    LastNDays(u32),
    NextNDays(u32),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    DateConst(DateConst),
}

/// A literal and the position it was written at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Value {
    pub literal: Literal,
    pub position: usize,
    /// The literal as written, for error messages.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Compare {
        field: FieldPath,
        op: CmpOp,
        value: Value,
    },
    In {
        field: FieldPath,
        negated: bool,
        values: Vec<Value>,
    },
    Like {
        field: FieldPath,
        value: Value,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrderItem {
    pub field: FieldPath,
    pub descending: bool,
    pub nulls_first: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    pub select: Vec<SelectItem>,
    pub from: String,
    pub from_position: usize,
    pub condition: Option<Cond>,
    pub order_by: Vec<OrderItem>,
    pub limit: Option<u64>,
    pub offset: Option<(u64, usize)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    /// A number, date or datetime: a run starting with a digit or a sign.
    Atom(String),
    LParen,
    RParen,
    Comma,
    Colon,
    Op(CmpOp),
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    position: usize,
    text: String,
}

fn lex(query: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = query.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let simple = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            ':' => Some(Tok::Colon),
            '=' => Some(Tok::Op(CmpOp::Eq)),
            _ => None,
        };
        if let Some(tok) = simple {
            i += 1;
            tokens.push(Token {
                tok,
                position: start,
                text: c.to_string(),
            });
            continue;
        }
        let two = chars.get(i + 1).copied();
        let op = match (c, two) {
            ('!', Some('=')) => Some((CmpOp::Ne, 2)),
            ('<', Some('>')) => Some((CmpOp::Ne, 2)),
            ('<', Some('=')) => Some((CmpOp::Le, 2)),
            ('>', Some('=')) => Some((CmpOp::Ge, 2)),
            ('<', _) => Some((CmpOp::Lt, 1)),
            ('>', _) => Some((CmpOp::Gt, 1)),
            _ => None,
        };
        if let Some((op, width)) = op {
            i += width;
            tokens.push(Token {
                tok: Tok::Op(op),
                position: start,
                text: chars[start..i].iter().collect(),
            });
            continue;
        }
        if c == '\'' {
            let (value, end) = lex_string(&chars, i)?;
            i = end;
            tokens.push(Token {
                tok: Tok::Str(value),
                position: start,
                text: chars[start..i].iter().collect(),
            });
            continue;
        }
        let signed_number = (c == '-' || c == '+') && two.is_some_and(|d| d.is_ascii_digit());
        if c.is_ascii_digit() || signed_number {
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], ':' | '.' | '+' | '-'))
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            tokens.push(Token {
                tok: Tok::Atom(text.clone()),
                position: start,
                text,
            });
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            tokens.push(Token {
                tok: Tok::Ident(text.clone()),
                position: start,
                text,
            });
            continue;
        }
        return Err(ParseError {
            position: start,
            message: format!("line 1:{start} no viable alternative at character '{c}'"),
        });
    }
    tokens.push(Token {
        tok: Tok::Eof,
        position: chars.len(),
        text: "<EOF>".into(),
    });
    Ok(tokens)
}

/// Reads a quoted string starting at `chars[start] == '\''`; returns the value and the index
/// after the closing quote.
fn lex_string(chars: &[char], start: usize) -> Result<(String, usize), ParseError> {
    let mut value = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\'' => return Ok((value, i + 1)),
            '\\' => {
                let escaped = chars.get(i + 1).copied();
                let replacement = match escaped {
                    Some('n') => "\n".to_owned(),
                    Some('t') => "\t".to_owned(),
                    Some('r') => "\r".to_owned(),
                    Some('b') => "\u{8}".to_owned(),
                    Some('f') => "\u{c}".to_owned(),
                    Some('\'') => "'".to_owned(),
                    Some('"') => "\"".to_owned(),
                    Some('\\') => "\\".to_owned(),
                    // Kept escaped: LIKE patterns give them meaning; elsewhere they are literal.
                    Some('%') => "\\%".to_owned(),
                    Some('_') => "\\_".to_owned(),
                    other => {
                        let literal: String = chars[start..chars.len().min(i + 2)].iter().collect();
                        let sequence: String = ['\\'].into_iter().chain(other).collect();
                        return Err(ParseError {
                            position: start,
                            message: format!(
                                "Invalid string literal '{literal}'. Illegal character sequence '{sequence}' in string literal."
                            ),
                        });
                    }
                };
                value.push_str(&replacement);
                i += 2;
            }
            other => {
                value.push(other);
                i += 1;
            }
        }
    }
    Err(ParseError {
        position: start,
        message: "Unknown error parsing query".into(),
    })
}

/// Parses a SOQL query.
pub(crate) fn parse(query: &str) -> Result<Query, ParseError> {
    let tokens = lex(query)?;
    let mut parser = Parser { tokens, pos: 0 };
    parser.query()
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        token
    }

    fn unexpected(&self) -> ParseError {
        let token = self.peek();
        let message = if token.tok == Tok::Eof {
            "unexpected token: <EOF>".to_owned()
        } else {
            format!("unexpected token: '{}'", token.text)
        };
        ParseError {
            position: token.position,
            message,
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(word) if word.eq_ignore_ascii_case(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        if self.is_keyword(keyword) {
            self.next();
            true
        } else {
            false
        }
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), ParseError> {
        if self.eat_keyword(keyword) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn expect(&mut self, tok: &Tok) -> Result<(), ParseError> {
        if &self.peek().tok == tok {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn query(&mut self) -> Result<Query, ParseError> {
        self.expect_keyword("SELECT")?;
        let mut select = vec![self.select_item()?];
        while self.peek().tok == Tok::Comma {
            self.next();
            select.push(self.select_item()?);
        }
        self.expect_keyword("FROM")?;
        let Tok::Ident(from) = self.peek().tok.clone() else {
            return Err(self.unexpected());
        };
        let from_token = self.next();
        let condition = if self.eat_keyword("WHERE") {
            Some(self.condition_group()?)
        } else {
            None
        };
        let mut order_by = Vec::new();
        if self.eat_keyword("ORDER") {
            self.expect_keyword("BY")?;
            loop {
                order_by.push(self.order_item()?);
                if self.peek().tok != Tok::Comma {
                    break;
                }
                self.next();
            }
        }
        let limit = if self.eat_keyword("LIMIT") {
            Some(self.integer()?.0)
        } else {
            None
        };
        let offset = if self.eat_keyword("OFFSET") {
            Some(self.integer()?)
        } else {
            None
        };
        if self.peek().tok != Tok::Eof {
            return Err(self.unexpected());
        }
        Ok(Query {
            select,
            from,
            from_position: from_token.position,
            condition,
            order_by,
            limit,
            offset,
        })
    }

    fn field_path(&mut self) -> Result<FieldPath, ParseError> {
        match &self.peek().tok {
            Tok::Ident(word)
                if !is_reserved(word) && !word.ends_with('.') && !word.starts_with('.') =>
            {
                let token = self.next();
                Ok(FieldPath {
                    parts: token.text.split('.').map(str::to_owned).collect(),
                    position: token.position,
                })
            }
            _ => Err(self.unexpected()),
        }
    }

    fn select_item(&mut self) -> Result<SelectItem, ParseError> {
        if self.is_keyword("COUNT")
            && self
                .tokens
                .get(self.pos + 1)
                .is_some_and(|t| t.tok == Tok::LParen)
        {
            let position = self.next().position;
            self.next();
            let field = if self.peek().tok == Tok::RParen {
                None
            } else {
                Some(self.field_path()?)
            };
            self.expect(&Tok::RParen)?;
            return Ok(SelectItem::Count { field, position });
        }
        Ok(SelectItem::Field(self.field_path()?))
    }

    fn order_item(&mut self) -> Result<OrderItem, ParseError> {
        let field = self.field_path()?;
        let descending = if self.eat_keyword("DESC") {
            true
        } else {
            self.eat_keyword("ASC");
            false
        };
        // Salesforce sorts nulls first in ascending and last in descending order by default.
        let mut nulls_first = !descending;
        if self.eat_keyword("NULLS") {
            if self.eat_keyword("FIRST") {
                nulls_first = true;
            } else if self.eat_keyword("LAST") {
                nulls_first = false;
            } else {
                return Err(self.unexpected());
            }
        }
        Ok(OrderItem {
            field,
            descending,
            nulls_first,
        })
    }

    fn integer(&mut self) -> Result<(u64, usize), ParseError> {
        let token = self.peek().clone();
        match &token.tok {
            Tok::Atom(text) => match text.parse::<u64>() {
                Ok(number) => {
                    self.next();
                    Ok((number, token.position))
                }
                Err(_) => Err(self.unexpected()),
            },
            _ => Err(self.unexpected()),
        }
    }

    /// `[NOT] unary ((AND unary)* | (OR unary)*)`: one level of one connective.
    fn condition_group(&mut self) -> Result<Cond, ParseError> {
        let first = if self.eat_keyword("NOT") {
            Cond::Not(Box::new(self.unary()?))
        } else {
            self.unary()?
        };
        let connective = if self.is_keyword("AND") {
            "AND"
        } else if self.is_keyword("OR") {
            "OR"
        } else {
            return Ok(first);
        };
        let mut terms = vec![first];
        while self.eat_keyword(connective) {
            terms.push(self.unary()?);
        }
        if self.is_keyword("AND") || self.is_keyword("OR") {
            return Err(self.unexpected());
        }
        Ok(if connective == "AND" {
            Cond::And(terms)
        } else {
            Cond::Or(terms)
        })
    }

    fn unary(&mut self) -> Result<Cond, ParseError> {
        if self.peek().tok == Tok::LParen {
            self.next();
            let inner = self.condition_group()?;
            self.expect(&Tok::RParen)?;
            return Ok(inner);
        }
        let field = self.field_path()?;
        if self.eat_keyword("LIKE") {
            let value = self.value()?;
            return Ok(Cond::Like { field, value });
        }
        let negated = if self.is_keyword("NOT")
            && self
                .tokens
                .get(self.pos + 1)
                .is_some_and(|t| matches!(&t.tok, Tok::Ident(w) if w.eq_ignore_ascii_case("IN")))
        {
            self.next();
            true
        } else {
            false
        };
        if self.eat_keyword("IN") {
            self.expect(&Tok::LParen)?;
            let mut values = vec![self.value()?];
            while self.peek().tok == Tok::Comma {
                self.next();
                values.push(self.value()?);
            }
            self.expect(&Tok::RParen)?;
            return Ok(Cond::In {
                field,
                negated,
                values,
            });
        }
        let op = match self.peek().tok {
            Tok::Op(op) => op,
            _ => return Err(self.unexpected()),
        };
        self.next();
        let value = self.value()?;
        Ok(Cond::Compare { field, op, value })
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        let token = self.peek().clone();
        let literal = match &token.tok {
            Tok::Str(text) => Literal::String(text.clone()),
            Tok::Atom(text) => parse_atom(text).ok_or_else(|| self.unexpected())?,
            Tok::Ident(word) => match word.to_ascii_uppercase().as_str() {
                "TRUE" => Literal::Bool(true),
                "FALSE" => Literal::Bool(false),
                "NULL" => Literal::Null,
                "TODAY" => Literal::DateConst(DateConst::Today),
                "YESTERDAY" => Literal::DateConst(DateConst::Yesterday),
                "TOMORROW" => Literal::DateConst(DateConst::Tomorrow),
                "LAST_N_DAYS" | "NEXT_N_DAYS" => {
                    let upper = word.to_ascii_uppercase();
                    self.next();
                    self.expect(&Tok::Colon)?;
                    let (days, _) = self.integer()?;
                    let days = u32::try_from(days).unwrap_or(u32::MAX);
                    let constant = if upper == "LAST_N_DAYS" {
                        DateConst::LastNDays(days)
                    } else {
                        DateConst::NextNDays(days)
                    };
                    return Ok(Value {
                        literal: Literal::DateConst(constant),
                        position: token.position,
                        text: format!("{upper}:{days}"),
                    });
                }
                _ => return Err(self.unexpected()),
            },
            _ => return Err(self.unexpected()),
        };
        self.next();
        Ok(Value {
            literal,
            position: token.position,
            text: token.text,
        })
    }
}

/// Words that cannot name a field.
fn is_reserved(word: &str) -> bool {
    const RESERVED: &[&str] = &[
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT",
        "OFFSET", "NULL", "TRUE", "FALSE", "ASC", "DESC", "NULLS",
    ];
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

/// A number, a date (`2024-01-15`) or a datetime (`2024-01-15T10:20:30Z`, `.000Z`, `+01:00`).
fn parse_atom(text: &str) -> Option<Literal> {
    let bytes = text.as_bytes();
    let date_shaped = bytes.len() >= 10 && bytes[4] == b'-' && bytes[7] == b'-';
    if date_shaped && bytes.len() == 10 {
        return NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .map(Literal::Date);
    }
    if date_shaped && bytes[10] == b'T' {
        // SOQL demands an explicit zone: `Z` or an offset.
        let has_zone = text.ends_with('Z') || text[11..].contains(['+', '-']);
        return has_zone
            .then(|| parse_datetime(text))
            .flatten()
            .map(Literal::DateTime);
    }
    let number: f64 = text.parse().ok()?;
    number.is_finite().then_some(Literal::Number(number))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_err(query: &str, position: usize, message: &str) {
        let error = parse(query).expect_err("query should not parse");
        assert_eq!(
            (error.position, error.message.as_str()),
            (position, message),
            "{query}"
        );
    }

    #[test]
    fn parses_a_full_query() {
        let query = parse(
            "select Id, account.Name, COUNT() from Contact where (Email LIKE '%@x.com' or Email = null) \
             and CreatedDate > 2024-01-15T10:20:30.000Z order by LastName desc nulls first, Id limit 10 offset 5",
        )
        .expect("parses");
        assert_eq!(query.from, "Contact");
        assert_eq!(query.select.len(), 3);
        assert!(matches!(&query.select[1], SelectItem::Field(f) if f.parts == ["account", "Name"]));
        assert_eq!(query.limit, Some(10));
        assert_eq!(query.offset.map(|o| o.0), Some(5));
        assert_eq!(query.order_by.len(), 2);
        assert!(query.order_by[0].descending && query.order_by[0].nulls_first);
        assert!(!query.order_by[1].descending && query.order_by[1].nulls_first);
        let Some(Cond::And(terms)) = query.condition else {
            panic!("expected AND")
        };
        assert!(matches!(&terms[0], Cond::Or(inner) if inner.len() == 2));
        assert!(
            matches!(&terms[1], Cond::Compare { op: CmpOp::Gt, value, .. } if matches!(value.literal, Literal::DateTime(_)))
        );
    }

    #[test]
    fn parses_literals() {
        let query = parse(
            "SELECT Id FROM Task WHERE A = 'it\\'s \\\\ \\n' AND B = -1.5 AND C = true AND D = 2024-01-15 \
             AND E = 2024-01-15T10:20:30+01:00 AND F = LAST_N_DAYS:30 AND G NOT IN ('a','b') AND H != TODAY",
        )
        .expect("parses");
        let Some(Cond::And(terms)) = query.condition else {
            panic!("expected AND")
        };
        let literal = |n: usize| match &terms[n] {
            Cond::Compare { value, .. } => value.literal.clone(),
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(literal(0), Literal::String("it's \\ \n".into()));
        assert_eq!(literal(1), Literal::Number(-1.5));
        assert_eq!(literal(2), Literal::Bool(true));
        assert_eq!(
            literal(3),
            Literal::Date(NaiveDate::from_ymd_opt(2024, 1, 15).expect("date"))
        );
        assert_eq!(
            literal(4),
            Literal::DateTime(
                DateTime::parse_from_rfc3339("2024-01-15T09:20:30Z")
                    .expect("dt")
                    .with_timezone(&Utc)
            )
        );
        assert_eq!(literal(5), Literal::DateConst(DateConst::LastNDays(30)));
        assert!(matches!(&terms[6], Cond::In { negated: true, values, .. } if values.len() == 2));
        assert_eq!(literal(7), Literal::DateConst(DateConst::Today));
    }

    #[test]
    fn reports_syntax_errors_at_the_token() {
        check_err("SELECT Id FORM Contact", 10, "unexpected token: 'FORM'");
        check_err(
            "SELECT Id FROM Contact WHERE A = 1 AND B = 2 OR C = 3",
            45,
            "unexpected token: 'OR'",
        );
        check_err(
            "SELECT Id FROM Contact WHERE A = 1 AND NOT B = 2",
            39,
            "unexpected token: 'NOT'",
        );
        check_err(
            "SELECT Id FROM Contact LIMIT",
            28,
            "unexpected token: <EOF>",
        );
        check_err("SELECT FROM Contact", 7, "unexpected token: 'FROM'");
        check_err("SELECT Id FROM", 14, "unexpected token: <EOF>");
        check_err("SELECT Id FROM (", 15, "unexpected token: '('");
        check_err(
            "SELECT Id FROM Contact WHERE Name = 'x",
            36,
            "Unknown error parsing query",
        );
        check_err(
            "SELECT Id FROM Contact WHERE Name = 'a\\qb'",
            36,
            "Invalid string literal ''a\\q'. Illegal character sequence '\\q' in string literal.",
        );
        check_err(
            "SELECT Id FROM Contact WHERE CreatedDate > 2024-01-15T10:20:30",
            43,
            "unexpected token: '2024-01-15T10:20:30'",
        );
        check_err(
            "SELECT Id FROM Contact ORDER BY Name LIMIT 5 WHERE",
            45,
            "unexpected token: 'WHERE'",
        );
    }

    #[test]
    fn allows_not_at_the_start_of_a_group() {
        let query = parse("SELECT Id FROM Account WHERE Name != null AND (NOT AnnualRevenue > 0)")
            .expect("parses");
        let Some(Cond::And(terms)) = query.condition else {
            panic!("expected AND")
        };
        assert!(matches!(&terms[1], Cond::Not(_)));
        assert!(parse("SELECT Id FROM Account WHERE NOT Name = 'x'").is_ok());
    }
}
