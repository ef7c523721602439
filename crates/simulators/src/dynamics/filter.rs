//! A hand-written lexer, recursive-descent parser and evaluator for OData `$filter`.
//!
//! Grammar (operators and literals case-sensitive lowercase, as OData requires):
//! `expr := and ('or' and)*`, `and := unary ('and' unary)*`, `unary := 'not' unary | primary`,
//! `primary := '(' expr ')' | property op literal | contains|startswith|endswith(property,
//! 'text') | Microsoft.Dynamics.CRM.In(PropertyName='p',PropertyValues=['a','b'])`, with
//! `op ∈ eq ne gt ge lt le`. Literals: `'text'` (`''` escapes a quote), numbers, `true`,
//! `false`, `null`, GUIDs (unquoted), dates `2024-01-15` and date-times
//! `2024-01-15T10:20:30Z`. [`check`] resolves names and types against a table before
//! [`matches`] runs per record; both report Dataverse's `0x80060888` errors. Not served:
//! arithmetic, `any`/`all` lambdas, navigation paths and the other `Microsoft.Dynamics.CRM.*`
//! query functions.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::error::ApiError;
use super::schema::{AttrType, Entity};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    fn parse(word: &str) -> Option<CmpOp> {
        Some(match word {
            "eq" => CmpOp::Eq,
            "ne" => CmpOp::Ne,
            "gt" => CmpOp::Gt,
            "ge" => CmpOp::Ge,
            "lt" => CmpOp::Lt,
            "le" => CmpOp::Le,
            _ => return None,
        })
    }

    /// The operator kind OData names in type errors.
    fn kind(self) -> &'static str {
        match self {
            CmpOp::Eq => "Equal",
            CmpOp::Ne => "NotEqual",
            CmpOp::Gt => "GreaterThan",
            CmpOp::Ge => "GreaterThanOrEqual",
            CmpOp::Lt => "LessThan",
            CmpOp::Le => "LessThanOrEqual",
        }
    }

    fn accepts(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            CmpOp::Eq => ordering == Equal,
            CmpOp::Ne => ordering != Equal,
            CmpOp::Gt => ordering == Greater,
            CmpOp::Ge => ordering != Less,
            CmpOp::Lt => ordering == Less,
            CmpOp::Le => ordering != Greater,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
    Guid(String),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
}

impl Literal {
    fn edm(&self) -> &'static str {
        match self {
            Literal::String(_) => "Edm.String",
            Literal::Number(number) if number.fract() == 0.0 => "Edm.Int32",
            Literal::Number(_) => "Edm.Decimal",
            Literal::Bool(_) => "Edm.Boolean",
            Literal::Null => "<null>",
            Literal::Guid(_) => "Edm.Guid",
            Literal::Date(_) => "Edm.Date",
            Literal::DateTime(_) => "Edm.DateTimeOffset",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StringFn {
    Contains,
    StartsWith,
    EndsWith,
}

impl StringFn {
    fn name(self) -> &'static str {
        match self {
            StringFn::Contains => "contains",
            StringFn::StartsWith => "startswith",
            StringFn::EndsWith => "endswith",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare {
        property: String,
        op: CmpOp,
        literal: Literal,
    },
    Function {
        function: StringFn,
        property: String,
        text: String,
    },
    In {
        property: String,
        values: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Literal(Literal),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Equals,
    End,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    position: usize,
}

fn syntax_error(text: &str, position: usize) -> ApiError {
    ApiError::QuerySyntax(format!("Syntax error at position {position} in '{text}'."))
}

fn is_guid(candidate: &[char]) -> bool {
    candidate.len() == 36
        && candidate.iter().enumerate().all(|(idx, ch)| {
            if matches!(idx, 8 | 13 | 18 | 23) {
                *ch == '-'
            } else {
                ch.is_ascii_hexdigit()
            }
        })
}

fn lex(text: &str) -> Result<Vec<Token>, ApiError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut idx = 0;
    while idx < chars.len() {
        let ch = chars[idx];
        let start = idx;
        let single = match ch {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            ',' => Some(Tok::Comma),
            '=' => Some(Tok::Equals),
            _ => None,
        };
        if ch.is_whitespace() {
            idx += 1;
            continue;
        }
        if let Some(tok) = single {
            tokens.push(Token {
                tok,
                position: start,
            });
            idx += 1;
            continue;
        }
        if ch == '\'' {
            let mut value = String::new();
            idx += 1;
            loop {
                match chars.get(idx) {
                    None => return Err(syntax_error(text, text.chars().count())),
                    Some('\'') if chars.get(idx + 1) == Some(&'\'') => {
                        value.push('\'');
                        idx += 2;
                    }
                    Some('\'') => {
                        idx += 1;
                        break;
                    }
                    Some(other) => {
                        value.push(*other);
                        idx += 1;
                    }
                }
            }
            tokens.push(Token {
                tok: Tok::Literal(Literal::String(value)),
                position: start,
            });
            continue;
        }
        if idx + 36 <= chars.len()
            && is_guid(&chars[idx..idx + 36])
            && chars
                .get(idx + 36)
                .is_none_or(|next| !next.is_alphanumeric())
        {
            let guid: String = chars[idx..idx + 36].iter().collect();
            tokens.push(Token {
                tok: Tok::Literal(Literal::Guid(guid.to_ascii_lowercase())),
                position: start,
            });
            idx += 36;
            continue;
        }
        if ch.is_ascii_digit()
            || (ch == '-' && chars.get(idx + 1).is_some_and(char::is_ascii_digit))
        {
            let mut end = idx + 1;
            while end < chars.len()
                && (chars[end].is_ascii_alphanumeric()
                    || matches!(chars[end], '.' | '-' | ':' | '+'))
            {
                end += 1;
            }
            let word: String = chars[idx..end].iter().collect();
            let literal = parse_number_or_date(&word).ok_or_else(|| syntax_error(text, start))?;
            tokens.push(Token {
                tok: Tok::Literal(literal),
                position: start,
            });
            idx = end;
            continue;
        }
        if ch.is_alphabetic() || ch == '_' {
            let mut end = idx + 1;
            while end < chars.len()
                && (chars[end].is_alphanumeric() || matches!(chars[end], '_' | '.'))
            {
                end += 1;
            }
            let word: String = chars[idx..end].iter().collect();
            let tok = match word.as_str() {
                "true" => Tok::Literal(Literal::Bool(true)),
                "false" => Tok::Literal(Literal::Bool(false)),
                "null" => Tok::Literal(Literal::Null),
                _ => Tok::Word(word),
            };
            tokens.push(Token {
                tok,
                position: start,
            });
            idx = end;
            continue;
        }
        return Err(syntax_error(text, start));
    }
    tokens.push(Token {
        tok: Tok::End,
        position: text.chars().count(),
    });
    Ok(tokens)
}

fn parse_number_or_date(word: &str) -> Option<Literal> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(word) {
        return Some(Literal::DateTime(instant.with_timezone(&Utc)));
    }
    if let Ok(date) = NaiveDate::parse_from_str(word, "%Y-%m-%d") {
        return Some(Literal::Date(date));
    }
    let trimmed = word.trim_end_matches(['M', 'm', 'L', 'l', 'd', 'D', 'f', 'F']);
    trimmed
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
        .map(Literal::Number)
}

/// Parses a `$filter` value.
///
/// # Errors
/// A syntax error at the position of the first token that does not fit.
pub(crate) fn parse(text: &str) -> Result<Expr, ApiError> {
    let tokens = lex(text)?;
    let mut parser = Parser {
        text,
        tokens,
        idx: 0,
    };
    let expr = parser.or_expr()?;
    if parser.peek().tok != Tok::End {
        return Err(parser.unexpected());
    }
    Ok(expr)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    idx: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.idx.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if self.idx < self.tokens.len() - 1 {
            self.idx += 1;
        }
        token
    }

    fn unexpected(&self) -> ApiError {
        syntax_error(self.text, self.peek().position)
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if matches!(&self.peek().tok, Tok::Word(w) if w == word) {
            self.idx += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &Tok) -> Result<(), ApiError> {
        if &self.peek().tok == tok {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn or_expr(&mut self) -> Result<Expr, ApiError> {
        let mut left = self.and_expr()?;
        while self.eat_word("or") {
            let right = self.and_expr()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, ApiError> {
        let mut left = self.unary()?;
        while self.eat_word("and") {
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ApiError> {
        if self.eat_word("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ApiError> {
        let token = self.next();
        match token.tok {
            Tok::LParen => {
                let inner = self.or_expr()?;
                self.expect(&Tok::RParen)?;
                Ok(inner)
            }
            Tok::Word(word) if self.peek().tok == Tok::LParen => self.function(&word),
            Tok::Word(property) => {
                let op_token = self.next();
                let op = match &op_token.tok {
                    Tok::Word(word) => CmpOp::parse(word),
                    _ => None,
                }
                .ok_or_else(|| syntax_error(self.text, op_token.position))?;
                let literal_token = self.next();
                let Tok::Literal(literal) = literal_token.tok else {
                    return Err(syntax_error(self.text, literal_token.position));
                };
                Ok(Expr::Compare {
                    property,
                    op,
                    literal,
                })
            }
            _ => Err(syntax_error(self.text, token.position)),
        }
    }

    fn function(&mut self, name: &str) -> Result<Expr, ApiError> {
        self.expect(&Tok::LParen)?;
        let function = match name {
            "contains" => StringFn::Contains,
            "startswith" => StringFn::StartsWith,
            "endswith" => StringFn::EndsWith,
            "Microsoft.Dynamics.CRM.In" => return self.in_function(),
            _ => {
                return Err(ApiError::QuerySyntax(format!(
                    "An unknown function with name '{name}' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed."
                )));
            }
        };
        let property = self.word()?;
        self.expect(&Tok::Comma)?;
        let text = self.string()?;
        self.expect(&Tok::RParen)?;
        Ok(Expr::Function {
            function,
            property,
            text,
        })
    }

    fn in_function(&mut self) -> Result<Expr, ApiError> {
        let mut property = None;
        let mut values = None;
        loop {
            let name = self.word()?;
            self.expect(&Tok::Equals)?;
            match name.as_str() {
                "PropertyName" => property = Some(self.string()?),
                "PropertyValues" => {
                    self.expect(&Tok::LBracket)?;
                    let mut list = Vec::new();
                    if self.peek().tok != Tok::RBracket {
                        loop {
                            list.push(self.string()?);
                            if self.peek().tok != Tok::Comma {
                                break;
                            }
                            self.next();
                        }
                    }
                    self.expect(&Tok::RBracket)?;
                    values = Some(list);
                }
                _ => return Err(self.unexpected()),
            }
            if self.peek().tok != Tok::Comma {
                break;
            }
            self.next();
        }
        self.expect(&Tok::RParen)?;
        match (property, values) {
            (Some(property), Some(values)) => Ok(Expr::In { property, values }),
            _ => Err(self.unexpected()),
        }
    }

    fn word(&mut self) -> Result<String, ApiError> {
        let token = self.next();
        match token.tok {
            Tok::Word(word) => Ok(word),
            _ => Err(syntax_error(self.text, token.position)),
        }
    }

    fn string(&mut self) -> Result<String, ApiError> {
        let token = self.next();
        match token.tok {
            Tok::Literal(Literal::String(text)) => Ok(text),
            _ => Err(syntax_error(self.text, token.position)),
        }
    }
}

fn unknown(property: &str, entity: &Entity) -> ApiError {
    ApiError::UnknownProperty {
        property: property.to_owned(),
        entity: entity.logical_name.to_owned(),
    }
}

fn literal_fits(attr_type: AttrType, literal: &Literal) -> bool {
    match literal {
        Literal::Null => true,
        Literal::String(_) => attr_type.is_text(),
        Literal::Number(number) => {
            attr_type.is_number() && (!attr_type.is_integer() || number.fract() == 0.0)
        }
        Literal::Bool(_) => attr_type == AttrType::Boolean,
        Literal::Guid(_) => attr_type == AttrType::Uniqueidentifier || attr_type.is_lookup(),
        Literal::Date(_) | Literal::DateTime(_) => {
            matches!(attr_type, AttrType::DateTime | AttrType::DateOnly)
        }
    }
}

/// Checks every property name and literal type of `expr` against `entity`.
///
/// # Errors
/// `0x80060888` for an unknown property, a literal of the wrong type or a string function on
/// a column that is not text.
pub(crate) fn check(expr: &Expr, entity: &Entity) -> Result<(), ApiError> {
    match expr {
        Expr::Or(left, right) | Expr::And(left, right) => {
            check(left, entity)?;
            check(right, entity)
        }
        Expr::Not(inner) => check(inner, entity),
        Expr::Compare {
            property,
            op,
            literal,
        } => {
            let attribute = entity
                .by_data_name(property)
                .ok_or_else(|| unknown(property, entity))?;
            if literal_fits(attribute.attr_type, literal) {
                Ok(())
            } else {
                Err(ApiError::QuerySyntax(format!(
                    "A binary operator with incompatible types was detected. Found operand types '{}' and '{}' for operator kind '{}'.",
                    attribute.attr_type.edm(),
                    literal.edm(),
                    op.kind()
                )))
            }
        }
        Expr::Function {
            function, property, ..
        } => {
            let attribute = entity
                .by_data_name(property)
                .ok_or_else(|| unknown(property, entity))?;
            if attribute.attr_type.is_text() {
                Ok(())
            } else {
                let name = function.name();
                Err(ApiError::QuerySyntax(format!(
                    "No function signature for the function with name '{name}' matches the specified arguments. The function signatures considered are: {name}(Edm.String Nullable=true, Edm.String Nullable=true)."
                )))
            }
        }
        Expr::In { property, .. } => entity
            .by_data_name(property)
            .map(|_| ())
            .ok_or_else(|| unknown(property, entity)),
    }
}

/// Reads a stored date or date-time value (`2024-01-15T10:20:30Z` or `2024-01-15`).
pub(crate) fn stored_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|instant| instant.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|date| date.and_hms_opt(0, 0, 0))
                .map(|naive| naive.and_utc())
        })
}

fn compare(attr_type: AttrType, value: &Value, literal: &Literal) -> Option<std::cmp::Ordering> {
    match literal {
        Literal::String(text) => Some(value.as_str()?.to_lowercase().cmp(&text.to_lowercase())),
        Literal::Number(number) => value.as_f64()?.partial_cmp(number),
        Literal::Bool(flag) => Some(value.as_bool()?.cmp(flag)),
        Literal::Guid(guid) => Some(value.as_str()?.to_ascii_lowercase().cmp(guid)),
        Literal::Date(date) => {
            let stored = stored_instant(value.as_str()?)?;
            Some(stored.date_naive().cmp(date))
        }
        Literal::DateTime(instant) => {
            let stored = stored_instant(value.as_str()?)?;
            if attr_type == AttrType::DateOnly {
                Some(stored.date_naive().cmp(&instant.date_naive()))
            } else {
                Some(stored.cmp(instant))
            }
        }
        Literal::Null => None,
    }
}

/// Whether the record `values` of `entity` satisfy `expr` (already [`check`]ed).
pub(crate) fn matches(expr: &Expr, entity: &Entity, values: &Map<String, Value>) -> bool {
    match expr {
        Expr::Or(left, right) => matches(left, entity, values) || matches(right, entity, values),
        Expr::And(left, right) => matches(left, entity, values) && matches(right, entity, values),
        Expr::Not(inner) => !matches(inner, entity, values),
        Expr::Compare {
            property,
            op,
            literal,
        } => {
            let value = values.get(property).unwrap_or(&Value::Null);
            if *literal == Literal::Null {
                return match op {
                    CmpOp::Eq => value.is_null(),
                    CmpOp::Ne => !value.is_null(),
                    _ => false,
                };
            }
            if value.is_null() {
                return *op == CmpOp::Ne;
            }
            let attr_type = entity
                .by_data_name(property)
                .map_or(AttrType::String, |attribute| attribute.attr_type);
            compare(attr_type, value, literal).is_some_and(|ordering| op.accepts(ordering))
        }
        Expr::Function {
            function,
            property,
            text,
        } => {
            let Some(value) = values.get(property).and_then(Value::as_str) else {
                return false;
            };
            let value = value.to_lowercase();
            let text = text.to_lowercase();
            match function {
                StringFn::Contains => value.contains(&text),
                StringFn::StartsWith => value.starts_with(&text),
                StringFn::EndsWith => value.ends_with(&text),
            }
        }
        Expr::In {
            property,
            values: candidates,
        } => {
            let value = values.get(property).unwrap_or(&Value::Null);
            candidates.iter().any(|candidate| match value {
                Value::String(text) => text.to_lowercase() == candidate.to_lowercase(),
                Value::Number(number) => candidate
                    .trim()
                    .parse::<f64>()
                    .is_ok_and(|parsed| number.as_f64() == Some(parsed)),
                Value::Bool(flag) => candidate.eq_ignore_ascii_case(&flag.to_string()),
                _ => false,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::dynamics::schema::entities;

    fn contact() -> Entity {
        entities()
            .into_iter()
            .find(|entity| entity.logical_name == "contact")
            .expect("contact is served")
    }

    fn cmp(property: &str, op: CmpOp, literal: Literal) -> Expr {
        Expr::Compare {
            property: property.to_owned(),
            op,
            literal,
        }
    }

    fn message(result: Result<Expr, ApiError>) -> String {
        match result {
            Ok(expr) => panic!("expected an error, parsed {expr:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let parsed = parse("a eq 1 or b eq 2 and c eq 3").expect("parses");
        assert_eq!(
            parsed,
            Expr::Or(
                Box::new(cmp("a", CmpOp::Eq, Literal::Number(1.0))),
                Box::new(Expr::And(
                    Box::new(cmp("b", CmpOp::Eq, Literal::Number(2.0))),
                    Box::new(cmp("c", CmpOp::Eq, Literal::Number(3.0))),
                )),
            )
        );
        let grouped = parse("(a eq 1 or b eq 2) and not c eq 3").expect("parses");
        assert!(matches!(grouped, Expr::And(_, ref right) if matches!(**right, Expr::Not(_))));
    }

    #[test]
    fn parses_every_literal_kind() {
        let parsed = parse(
            "a eq 'O''Brien' and b ne -2.5 and c eq true and d eq null and e eq 7D1B1C2A-0000-4F00-8000-00000000ABCD and f ge 2024-01-15T10:20:30Z and g lt 2024-01-15",
        )
        .expect("parses");
        let mut literals = Vec::new();
        fn walk(expr: &Expr, out: &mut Vec<Literal>) {
            match expr {
                Expr::And(l, r) | Expr::Or(l, r) => {
                    walk(l, out);
                    walk(r, out);
                }
                Expr::Compare { literal, .. } => out.push(literal.clone()),
                _ => {}
            }
        }
        walk(&parsed, &mut literals);
        assert_eq!(literals[0], Literal::String("O'Brien".to_owned()));
        assert_eq!(literals[1], Literal::Number(-2.5));
        assert_eq!(literals[2], Literal::Bool(true));
        assert_eq!(literals[3], Literal::Null);
        assert_eq!(
            literals[4],
            Literal::Guid("7d1b1c2a-0000-4f00-8000-00000000abcd".to_owned())
        );
        assert!(matches!(literals[5], Literal::DateTime(_)));
        assert!(matches!(literals[6], Literal::Date(_)));
    }

    #[test]
    fn parses_functions_and_in() {
        assert_eq!(
            parse("contains(fullname,'ann')").expect("parses"),
            Expr::Function {
                function: StringFn::Contains,
                property: "fullname".to_owned(),
                text: "ann".to_owned(),
            }
        );
        assert_eq!(
            parse(
                "Microsoft.Dynamics.CRM.In(PropertyName='leadsourcecode',PropertyValues=['1','8'])"
            )
            .expect("parses"),
            Expr::In {
                property: "leadsourcecode".to_owned(),
                values: vec!["1".to_owned(), "8".to_owned()],
            }
        );
    }

    #[test]
    fn reports_syntax_errors_with_a_position() {
        assert_eq!(
            message(parse("firstname eq")),
            "Syntax error at position 12 in 'firstname eq'."
        );
        assert_eq!(
            message(parse("firstname is 'x'")),
            "Syntax error at position 10 in 'firstname is 'x''."
        );
        assert_eq!(
            message(parse("(a eq 1")),
            "Syntax error at position 7 in '(a eq 1'."
        );
        assert!(message(parse("a eq 'open")).starts_with("Syntax error"));
        assert!(message(parse("substringof('x',a)")).contains("unknown function"));
    }

    #[test]
    fn check_rejects_unknown_properties_and_wrong_types() {
        let entity = contact();
        let unknown =
            check(&parse("nope eq 1").expect("parses"), &entity).expect_err("unknown property");
        assert_eq!(
            unknown.to_string(),
            "Could not find a property named 'nope' on type 'Microsoft.Dynamics.CRM.contact'."
        );
        let wrong =
            check(&parse("firstname eq 5").expect("parses"), &entity).expect_err("wrong type");
        assert!(wrong.to_string().contains("'Edm.String' and 'Edm.Int32'"));
        assert!(check(&parse("contains(statecode,'1')").expect("parses"), &entity).is_err());
        assert!(
            check(
                &parse("_parentcustomerid_value eq null and statecode eq 0").expect("parses"),
                &entity
            )
            .is_ok()
        );
    }

    #[test]
    fn evaluates_against_a_record() {
        let entity = contact();
        let record = json!({
            "firstname": "Chloé",
            "lastname": "O'Brien",
            "statecode": 0,
            "new_npsscore": 7.5,
            "createdon": "2025-06-01T12:00:00Z",
            "_parentcustomerid_value": "7d1b1c2a-0000-4f00-8000-00000000abcd",
            "jobtitle": null,
        });
        let values = record.as_object().expect("object");
        let holds = |text: &str| {
            let expr = parse(text).expect("parses");
            check(&expr, &entity).expect("checks");
            matches(&expr, &entity, values)
        };
        assert!(holds("lastname eq 'o''brien'"));
        assert!(holds(
            "startswith(firstname,'CHL') and endswith(lastname,'ien')"
        ));
        assert!(holds("new_npsscore gt 7 and new_npsscore le 7.5"));
        assert!(!holds("new_npsscore lt 7.5"));
        assert!(holds(
            "createdon ge 2025-06-01T12:00:00Z and createdon lt 2025-06-02"
        ));
        assert!(holds("jobtitle eq null and firstname ne null"));
        assert!(holds("jobtitle ne 'CEO'"));
        assert!(!holds("jobtitle eq 'CEO'"));
        assert!(holds(
            "_parentcustomerid_value eq 7D1B1C2A-0000-4F00-8000-00000000ABCD"
        ));
        assert!(holds(
            "not (statecode eq 1) and (statecode eq 1 or firstname eq 'chloé')"
        ));
        assert!(holds(
            "Microsoft.Dynamics.CRM.In(PropertyName='statecode',PropertyValues=['1','0'])"
        ));
        assert!(!holds("contains(department,'x')"));
    }
}
