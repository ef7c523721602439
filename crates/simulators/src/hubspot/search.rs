//! `POST /crm/v3/objects/{objectType}/search`: filter groups (ORed) of filters (ANDed), a free
//! text `query`, sorts, offset paging with `after`, and the 10,000-result ceiling.
//!
//! Comparisons follow the property's type: numbers numerically, datetimes as instants (filter
//! values may be epoch milliseconds or ISO 8601), everything else case-insensitively. Archived
//! records are never returned.

use std::cmp::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::objects::{apply_mutation, object_type, parse_body, parse_limit};
use super::schema::{ObjectType, PropertyType};
use super::store::{self, Record, Selection, Store, iso, parse_instant};
use super::{Portal, Shared, errors};

const SEARCH_DEFAULT_LIMIT: usize = 10;
const SEARCH_MAX_LIMIT: usize = 200;
/// A search query can page through at most this many results.
const SEARCH_RESULT_CEILING: usize = 10_000;
// The search guide's limits (5 groups, 6 filters per group, 18 in all). A 2024 changelog
// ("expanded filtering capabilities") announced 5/10/25; the stricter numbers are kept so a
// connector that passes here passes on either.
const MAX_GROUPS: usize = 5;
const MAX_FILTERS_PER_GROUP: usize = 6;
const MAX_FILTERS: usize = 18;
const MAX_QUERY_CHARS: usize = 3_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Between,
    In,
    NotIn,
    HasProperty,
    NotHasProperty,
    ContainsToken,
    NotContainsToken,
}

impl Operator {
    fn parse(text: &str) -> Option<Operator> {
        Some(match text {
            "EQ" => Operator::Eq,
            "NEQ" => Operator::Neq,
            "LT" => Operator::Lt,
            "LTE" => Operator::Lte,
            "GT" => Operator::Gt,
            "GTE" => Operator::Gte,
            "BETWEEN" => Operator::Between,
            "IN" => Operator::In,
            "NOT_IN" => Operator::NotIn,
            "HAS_PROPERTY" => Operator::HasProperty,
            "NOT_HAS_PROPERTY" => Operator::NotHasProperty,
            "CONTAINS_TOKEN" => Operator::ContainsToken,
            "NOT_CONTAINS_TOKEN" => Operator::NotContainsToken,
            _ => return None,
        })
    }
}

/// A filter operand normalised to the property's type once, so records compare cheaply.
#[derive(Debug, Clone)]
enum Operand {
    Number(f64),
    /// A normalised datetime (`…T…:…:….mmmZ`) or date (`YYYY-MM-DD`): these compare as text.
    Ordered(String),
    /// Lowercased text.
    Text(String),
}

#[derive(Debug)]
struct Filter {
    property: String,
    operator: Operator,
    operands: Vec<Operand>,
}

fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn operand(property_type: PropertyType, property: &str, raw: &str) -> Result<Operand, String> {
    match property_type {
        PropertyType::Number => raw
            .trim()
            .parse::<f64>()
            .map(Operand::Number)
            .map_err(|_| format!("`{raw}` is not a number, as property `{property}` needs")),
        PropertyType::Datetime => parse_instant(raw)
            .map(|instant| Operand::Ordered(iso(instant)))
            .ok_or_else(|| format!("`{raw}` is not a datetime (epoch milliseconds or ISO 8601), as property `{property}` needs")),
        PropertyType::Date => parse_instant(raw)
            .map(|instant| Operand::Ordered(instant.format("%Y-%m-%d").to_string()))
            .ok_or_else(|| format!("`{raw}` is not a date, as property `{property}` needs")),
        PropertyType::String | PropertyType::Enumeration | PropertyType::Bool => {
            Ok(Operand::Text(raw.to_lowercase()))
        }
    }
}

fn parse_filter(store: &Store, object_type: ObjectType, raw: &Value) -> Result<Filter, String> {
    let property = raw
        .get("propertyName")
        .and_then(Value::as_str)
        .ok_or("each filter needs a `propertyName`")?
        .to_owned();
    let operator_name = raw
        .get("operator")
        .and_then(Value::as_str)
        .ok_or("each filter needs an `operator`")?;
    let operator = Operator::parse(operator_name)
        .ok_or_else(|| format!("Unsupported operator `{operator_name}`"))?;
    // An unknown property matches nothing rather than failing, like a property no record has.
    let property_type = store
        .definition(object_type, &property)
        .map_or(PropertyType::String, |definition| definition.property_type);
    let single = |key: &str| -> Result<Operand, String> {
        let text = raw
            .get(key)
            .and_then(value_text)
            .ok_or_else(|| format!("operator {operator_name} needs a `{key}`"))?;
        operand(property_type, &property, &text)
    };
    let operands = match operator {
        Operator::HasProperty | Operator::NotHasProperty => Vec::new(),
        Operator::Between => vec![single("value")?, single("highValue")?],
        Operator::In | Operator::NotIn => {
            let values = raw
                .get("values")
                .and_then(Value::as_array)
                .filter(|values| !values.is_empty())
                .ok_or_else(|| {
                    format!("operator {operator_name} needs a non-empty `values` list")
                })?;
            values
                .iter()
                .map(|value| {
                    value_text(value)
                        .ok_or_else(|| "`values` must hold strings or numbers".to_owned())
                        .and_then(|text| operand(property_type, &property, &text))
                })
                .collect::<Result<Vec<_>, String>>()?
        }
        Operator::ContainsToken | Operator::NotContainsToken => {
            let text = raw
                .get("value")
                .and_then(value_text)
                .ok_or_else(|| format!("operator {operator_name} needs a `value`"))?;
            vec![Operand::Text(text.to_lowercase())]
        }
        _ => vec![single("value")?],
    };
    Ok(Filter {
        property,
        operator,
        operands,
    })
}

fn compare(stored: &str, operand: &Operand) -> Option<Ordering> {
    match operand {
        Operand::Number(number) => stored.trim().parse::<f64>().ok()?.partial_cmp(number),
        Operand::Ordered(text) => Some(stored.cmp(text.as_str())),
        Operand::Text(text) => Some(stored.to_lowercase().cmp(text)),
    }
}

/// `*` in a token matches any run of characters; tokens match whole words or the whole value.
fn token_matches(stored: &str, token: &str) -> bool {
    let stored = stored.to_lowercase();
    let glob = |text: &str| -> bool {
        let parts: Vec<&str> = token.split('*').collect();
        if parts.len() == 1 {
            return text == token;
        }
        let mut rest = text;
        for (idx, part) in parts.iter().enumerate() {
            if idx == 0 {
                let Some(stripped) = rest.strip_prefix(part) else {
                    return false;
                };
                rest = stripped;
            } else if idx == parts.len() - 1 {
                return rest.ends_with(part);
            } else {
                match rest.find(part) {
                    Some(pos) => rest = &rest[pos + part.len()..],
                    None => return false,
                }
            }
        }
        true
    };
    glob(&stored)
        || stored
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '.' | '@' | '-'))
            .any(glob)
}

fn matches(record: &Record, filter: &Filter) -> bool {
    let stored = record
        .properties
        .get(filter.property.as_str())
        .filter(|value| !value.is_empty());
    let equals = |value: &str| {
        filter
            .operands
            .iter()
            .any(|operand| compare(value, operand) == Some(Ordering::Equal))
    };
    let first = filter.operands.first();
    let ordered = |accept: fn(Ordering) -> bool| {
        stored
            .zip(first)
            .and_then(|(value, operand)| compare(value, operand))
            .is_some_and(accept)
    };
    match filter.operator {
        Operator::Eq | Operator::In => stored.is_some_and(|value| equals(value)),
        Operator::Neq | Operator::NotIn => !stored.is_some_and(|value| equals(value)),
        Operator::Lt => ordered(|order| order == Ordering::Less),
        Operator::Lte => ordered(|order| order != Ordering::Greater),
        Operator::Gt => ordered(|order| order == Ordering::Greater),
        Operator::Gte => ordered(|order| order != Ordering::Less),
        Operator::Between => match (stored, filter.operands.first(), filter.operands.get(1)) {
            (Some(value), Some(low), Some(high)) => {
                compare(value, low).is_some_and(|order| order != Ordering::Less)
                    && compare(value, high).is_some_and(|order| order != Ordering::Greater)
            }
            _ => false,
        },
        Operator::HasProperty => stored.is_some(),
        Operator::NotHasProperty => stored.is_none(),
        Operator::ContainsToken | Operator::NotContainsToken => {
            let token = match first {
                Some(Operand::Text(token)) => token.as_str(),
                _ => "",
            };
            let found = stored.is_some_and(|value| token_matches(value, token));
            (filter.operator == Operator::ContainsToken) == found
        }
    }
}

/// One sort rule.
struct Sort {
    property: String,
    property_type: PropertyType,
    descending: bool,
}

fn parse_sorts(
    store: &Store,
    object_type: ObjectType,
    raw: Option<&Value>,
) -> Result<Vec<Sort>, String> {
    let Some(list) = raw.and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let mut sorts = Vec::new();
    for entry in list {
        let (property, descending) = match entry {
            Value::String(text) => match text.strip_prefix('-') {
                Some(name) => (name.to_owned(), true),
                None => (text.clone(), false),
            },
            Value::Object(_) => {
                let property = entry
                    .get("propertyName")
                    .and_then(Value::as_str)
                    .ok_or("each sort needs a `propertyName`")?
                    .to_owned();
                let direction = entry
                    .get("direction")
                    .and_then(Value::as_str)
                    .unwrap_or("ASCENDING");
                let descending = match direction {
                    "ASCENDING" => false,
                    "DESCENDING" => true,
                    other => return Err(format!("Unsupported sort direction `{other}`")),
                };
                (property, descending)
            }
            _ => return Err("each sort is a property name or {propertyName, direction}".into()),
        };
        let property_type = store
            .definition(object_type, &property)
            .map_or(PropertyType::String, |definition| definition.property_type);
        sorts.push(Sort {
            property,
            property_type,
            descending,
        });
    }
    Ok(sorts)
}

/// A precomputed sort key: missing values sort first in ascending order.
#[derive(Debug, PartialEq, PartialOrd)]
enum SortKey {
    Missing,
    Number(f64),
    Text(String),
}

fn sort_key(record: &Record, sort: &Sort) -> SortKey {
    match record
        .properties
        .get(sort.property.as_str())
        .filter(|value| !value.is_empty())
    {
        None => SortKey::Missing,
        Some(value) => match sort.property_type {
            PropertyType::Number => value
                .trim()
                .parse::<f64>()
                .map_or_else(|_| SortKey::Text(value.to_lowercase()), SortKey::Number),
            // Stored datetimes and dates are normalised, so their text orders chronologically.
            PropertyType::Datetime | PropertyType::Date => SortKey::Text(value.clone()),
            _ => SortKey::Text(value.to_lowercase()),
        },
    }
}

fn query_matches(record: &Record, object_type: ObjectType, tokens: &[String]) -> bool {
    tokens.iter().all(|token| {
        object_type.searchable_properties().iter().any(|name| {
            record
                .properties
                .get(*name)
                .is_some_and(|value| value.to_lowercase().contains(token.as_str()))
        })
    })
}

fn number_field(body: &Value, key: &str) -> Option<String> {
    body.get(key)
        .filter(|value| !value.is_null())
        .and_then(value_text)
}

/// `POST /crm/v3/objects/{objectType}/search`.
pub(super) async fn search(
    State(shared): State<Shared>,
    Extension(portal): Extension<Portal>,
    Path(type_name): Path<String>,
    body: Bytes,
) -> Response {
    let object_type = match object_type(&type_name) {
        Ok(object_type) => object_type,
        Err(response) => return response,
    };
    let body = match parse_body(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let limit_text = number_field(&body, "limit");
    let limit = match parse_limit(
        limit_text.as_deref(),
        SEARCH_DEFAULT_LIMIT,
        SEARCH_MAX_LIMIT,
    ) {
        Ok(limit) => limit,
        Err(response) => return response,
    };
    let after: usize = match number_field(&body, "after").as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(raw) => match raw.parse() {
            Ok(after) => after,
            Err(_) => return errors::validation(format!("Invalid paging cursor `after`: {raw}")),
        },
    };
    if after + limit > SEARCH_RESULT_CEILING {
        return errors::validation(format!(
            "Paging past {SEARCH_RESULT_CEILING} results is not supported: after ({after}) + limit ({limit}) exceeds the {SEARCH_RESULT_CEILING} results a search query can return. Narrow the query (for example with a range on hs_object_id or the last-modified date) and search again."
        ));
    }
    let query = body
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if query.chars().count() > MAX_QUERY_CHARS {
        return errors::validation(format!(
            "query must be at most {MAX_QUERY_CHARS} characters"
        ));
    }
    let tokens: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let requested: Vec<String> = body
        .get("properties")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let raw_groups: Vec<Value> = body
        .get("filterGroups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if raw_groups.len() > MAX_GROUPS {
        return errors::validation(format!(
            "Too many filter groups: {} given, at most {MAX_GROUPS} are allowed",
            raw_groups.len()
        ));
    }
    let mut n_filters = 0;
    for group in &raw_groups {
        let n_in_group = group
            .get("filters")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if n_in_group > MAX_FILTERS_PER_GROUP {
            return errors::validation(format!(
                "Too many filters in a group: {n_in_group} given, at most {MAX_FILTERS_PER_GROUP} are allowed per group"
            ));
        }
        n_filters += n_in_group;
    }
    if n_filters > MAX_FILTERS {
        return errors::validation(format!(
            "Too many filters: {n_filters} given, at most {MAX_FILTERS} are allowed in total"
        ));
    }

    apply_mutation(
        &shared,
        &portal,
        object_type,
        &format!("/crm/v3/objects/{type_name}/search"),
    );
    let store = portal.read();
    let mut groups: Vec<Vec<Filter>> = Vec::with_capacity(raw_groups.len());
    for group in &raw_groups {
        let filters = group
            .get("filters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        match filters
            .iter()
            .map(|filter| parse_filter(&store, object_type, filter))
            .collect::<Result<Vec<_>, String>>()
        {
            Ok(filters) => groups.push(filters),
            Err(message) => return errors::validation(message),
        }
    }
    let mut sorts = match parse_sorts(&store, object_type, body.get("sorts")) {
        Ok(sorts) => sorts,
        Err(message) => return errors::validation(message),
    };
    if sorts.is_empty() {
        sorts.push(Sort {
            property: object_type.create_date_property().to_owned(),
            property_type: PropertyType::Datetime,
            descending: false,
        });
    }
    let mut hits: Vec<(Vec<SortKey>, &Record)> = store
        .records(object_type)
        .values()
        .filter(|record| record.archived_at.is_none())
        .filter(|record| {
            groups.is_empty()
                || groups
                    .iter()
                    .any(|filters| filters.iter().all(|filter| matches(record, filter)))
        })
        .filter(|record| tokens.is_empty() || query_matches(record, object_type, &tokens))
        .map(|record| {
            (
                sorts.iter().map(|sort| sort_key(record, sort)).collect(),
                record,
            )
        })
        .collect();
    hits.sort_by(|(left_keys, left), (right_keys, right)| {
        for ((left_key, right_key), sort) in left_keys.iter().zip(right_keys).zip(&sorts) {
            let order = left_key.partial_cmp(right_key).unwrap_or(Ordering::Equal);
            let order = if sort.descending {
                order.reverse()
            } else {
                order
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        left.id.cmp(&right.id)
    });
    let total = hits.len();
    let selection = Selection::new(&store, object_type, &requested);
    let results: Vec<Value> = hits
        .iter()
        .skip(after)
        .take(limit)
        .map(|(_, record)| store::render(&store, object_type, record, &selection, &[]))
        .collect();
    drop(store);
    let mut response = json!({ "total": total, "results": results });
    if after + limit < total {
        response["paging"] = json!({ "next": { "after": (after + limit).to_string() } });
    }
    Json(response).into_response()
}
