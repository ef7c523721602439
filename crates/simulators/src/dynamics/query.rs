//! OData query options of a collection request, and keyset paging over them.
//!
//! Served: `$select`, `$filter` (see `filter.rs`), `$orderby` (several keys, `asc`/`desc`),
//! `$top`, `$count=true` and `$skiptoken`. `$skip` is rejected as Dataverse rejects it;
//! `$expand`, `$apply` and `$search` are not simulated and rejected too. Rows are ordered by the
//! `$orderby` keys then by primary id (ascending GUID text), nulls first when ascending, text
//! case-insensitively. A `$skiptoken` carries the last row's sort key (values and id), never an
//! offset, so paging neither skips nor repeats a record that exists throughout, whatever is
//! inserted or deleted meanwhile. Its text imitates Dataverse's paging cookie:
//! `<cookie pagenumber="2" pagingcookie="HEX" istracking="False" />`, HEX being the hex of the
//! key as JSON.

use std::cmp::Ordering;

use serde_json::{Value, json};

use super::error::ApiError;
use super::filter::{self, Expr};
use super::schema::Entity;
use super::store::Table;

/// Largest page Dataverse serves, and the default.
pub(crate) const MAX_PAGE_SIZE: usize = 5000;
/// `@odata.count` stops counting here.
pub(crate) const COUNT_LIMIT: usize = 5000;

/// Where the previous page stopped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SkipToken {
    pub page_number: u64,
    /// The order-by values of the last row served, then its id.
    pub key: Vec<Value>,
}

impl SkipToken {
    pub(crate) fn encode(&self) -> String {
        let json = Value::Array(self.key.clone()).to_string();
        let hex: String = json.bytes().map(|byte| format!("{byte:02x}")).collect();
        format!(
            "<cookie pagenumber=\"{}\" pagingcookie=\"{hex}\" istracking=\"False\" />",
            self.page_number
        )
    }

    pub(crate) fn decode(text: &str) -> Option<SkipToken> {
        let attribute = |name: &str| {
            let start = text.find(&format!("{name}=\""))? + name.len() + 2;
            let end = start + text[start..].find('"')?;
            Some(&text[start..end])
        };
        let page_number = attribute("pagenumber")?.parse().ok()?;
        let hex = attribute("pagingcookie")?;
        if hex.len() % 2 != 0 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|idx| u8::from_str_radix(hex.get(idx..idx + 2)?, 16).ok())
            .collect();
        let Value::Array(key) = serde_json::from_slice(&bytes?).ok()? else {
            return None;
        };
        Some(SkipToken { page_number, key })
    }
}

/// The parsed query options of one collection request.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListQuery {
    pub select: Option<Vec<String>>,
    pub filter: Option<Expr>,
    /// Data names and whether each sorts descending.
    pub order: Vec<(String, bool)>,
    pub top: Option<usize>,
    pub count: bool,
    pub skiptoken: Option<SkipToken>,
    /// The options as received (minus `$skiptoken`), repeated in `@odata.nextLink`.
    pub carried: Vec<(String, String)>,
}

fn unknown(property: &str, entity: &Entity) -> ApiError {
    ApiError::UnknownProperty {
        property: property.to_owned(),
        entity: entity.logical_name.to_owned(),
    }
}

/// Parses `$select` against the table's columns.
pub(crate) fn parse_select(text: &str, entity: &Entity) -> Result<Vec<String>, ApiError> {
    text.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            entity
                .by_data_name(name)
                .map(|_| name.to_owned())
                .ok_or_else(|| unknown(name, entity))
        })
        .collect()
}

impl ListQuery {
    /// Reads the options of a collection request for `entity`.
    ///
    /// # Errors
    /// `0x80060888` for `$skip`, unsupported options, unknown columns, bad values and
    /// `$filter` syntax or type errors.
    pub(crate) fn parse(
        pairs: &[(String, String)],
        entity: &Entity,
    ) -> Result<ListQuery, ApiError> {
        let mut query = ListQuery::default();
        for (name, value) in pairs {
            if name != "$skiptoken" {
                query.carried.push((name.clone(), value.clone()));
            }
            match name.as_str() {
                "$select" => query.select = Some(parse_select(value, entity)?),
                "$filter" => {
                    let expr = filter::parse(value)?;
                    filter::check(&expr, entity)?;
                    query.filter = Some(expr);
                }
                "$orderby" => {
                    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                        let mut words = item.split_whitespace();
                        let property = words.next().unwrap_or_default();
                        let descending = match words.next() {
                            None | Some("asc") => false,
                            Some("desc") => true,
                            Some(_) => {
                                return Err(ApiError::QuerySyntax(format!(
                                    "Syntax error at position {} in '{value}'.",
                                    value.find(item).unwrap_or(0) + property.len() + 1
                                )));
                            }
                        };
                        if entity.by_data_name(property).is_none() {
                            return Err(unknown(property, entity));
                        }
                        query.order.push((property.to_owned(), descending));
                    }
                }
                "$top" => {
                    let top = value.trim().parse::<usize>().map_err(|_| {
                        ApiError::QuerySyntax(format!(
                            "Invalid value '{value}' for $top query option found. The $top query option requires a non-negative integer value."
                        ))
                    })?;
                    query.top = Some(top);
                }
                "$count" => {
                    query.count = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(ApiError::QuerySyntax(format!(
                                "'{value}' is not a valid count option."
                            )));
                        }
                    }
                }
                "$skiptoken" => {
                    query.skiptoken = Some(SkipToken::decode(value).ok_or_else(|| {
                        ApiError::QuerySyntax("The skip token is not valid.".to_owned())
                    })?);
                }
                "$skip" => return Err(ApiError::SkipNotSupported),
                other if other.starts_with('$') => {
                    return Err(ApiError::UnsupportedOption(other.to_owned()));
                }
                _ => {}
            }
        }
        if let Some(token) = &query.skiptoken
            && token.key.len() != query.order.len() + 1
        {
            return Err(ApiError::QuerySyntax(
                "The skip token is not valid.".to_owned(),
            ));
        }
        Ok(query)
    }

    fn sort_key(&self, table: &Table, id: &str) -> Vec<Value> {
        let mut key: Vec<Value> = self
            .order
            .iter()
            .map(|(name, _)| {
                table
                    .rows
                    .get(id)
                    .and_then(|row| row.values.get(name))
                    .cloned()
                    .unwrap_or(Value::Null)
            })
            .collect();
        key.push(json!(id));
        key
    }

    fn compare_keys(&self, left: &[Value], right: &[Value]) -> Ordering {
        for (idx, (a, b)) in left.iter().zip(right).enumerate() {
            let descending = self.order.get(idx).is_some_and(|(_, desc)| *desc);
            let ordering = compare_values(a, b);
            let ordering = if descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    }

    /// Runs the query: the ids of one page, in order, whether more follow, the matching count
    /// (capped at [`COUNT_LIMIT`]) and whether the count was capped.
    pub(crate) fn run(&self, table: &Table, page_size: usize) -> Page {
        let entity = &table.entity;
        let mut keyed: Vec<(Vec<Value>, String)> = table
            .rows
            .iter()
            .filter(|(_, row)| {
                self.filter
                    .as_ref()
                    .is_none_or(|expr| filter::matches(expr, entity, &row.values))
            })
            .map(|(id, _)| (self.sort_key(table, id), id.clone()))
            .collect();
        let total = keyed.len();
        keyed.sort_by(|a, b| self.compare_keys(&a.0, &b.0));
        if let Some(token) = &self.skiptoken {
            keyed.retain(|(key, _)| self.compare_keys(key, &token.key) == Ordering::Greater);
        }
        let (limit, pageable) = match self.top {
            Some(top) => (top.min(MAX_PAGE_SIZE), false),
            None => (page_size, true),
        };
        let more = pageable && keyed.len() > limit;
        keyed.truncate(limit);
        let next = if more {
            keyed.last().map(|(key, _)| SkipToken {
                page_number: self.skiptoken.as_ref().map_or(1, |t| t.page_number) + 1,
                key: key.clone(),
            })
        } else {
            None
        };
        Page {
            ids: keyed.into_iter().map(|(_, id)| id).collect(),
            next,
            count: total.min(COUNT_LIMIT),
            count_capped: total > COUNT_LIMIT,
        }
    }
}

/// One page of a query.
#[derive(Debug)]
pub(crate) struct Page {
    pub ids: Vec<String>,
    pub next: Option<SkipToken>,
    pub count: usize,
    pub count_capped: bool,
}

/// Orders two column values: null first, numbers numerically, text case-insensitively.
fn compare_values(left: &Value, right: &Value) -> Ordering {
    match (left, right) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .partial_cmp(&b.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(a), Value::String(b)) => a.to_lowercase().cmp(&b.to_lowercase()),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_tokens_round_trip() {
        let token = SkipToken {
            page_number: 3,
            key: vec![json!("O'Brien \"x\""), json!(null), json!("abc")],
        };
        assert_eq!(SkipToken::decode(&token.encode()), Some(token));
        assert_eq!(SkipToken::decode("<cookie pagenumber=\"2\" />"), None);
        assert_eq!(SkipToken::decode("garbage"), None);
    }
}
