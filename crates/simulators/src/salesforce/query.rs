//! Evaluates parsed SOQL against the org: name resolution, type checks, filtering, ordering,
//! rendering rows, and the cursors behind `nextRecordsUrl`.
//!
//! A [`Plan`] is a query resolved against the schema (field indexes, typed literals). Running
//! it yields row indexes; rendering turns rows into Salesforce's record JSON. Cursors snapshot
//! the matching row indexes at query time: later batches render the current values of those
//! rows and skip rows deleted since (for `query`; `queryAll` keeps them).

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::ids;
use super::schema::{FieldDef, FieldType, ValueKind};
use super::soql::{CmpOp, Cond, DateConst, FieldPath, Literal, Query, SelectItem};
use super::store::{Db, NULL, Row, Table, Val};

/// Salesforce's cap on OFFSET.
const MAX_OFFSET: u64 = 2000;

/// Wraps a message in Salesforce's query-error layout, pointing at `position` in `query`.
pub(crate) fn located(query: &str, position: usize, message: &str) -> String {
    let mut row = 1;
    let mut column = 1;
    let mut line_start = 0;
    for (idx, c) in query.chars().enumerate() {
        if idx == position {
            break;
        }
        if c == '\n' {
            row += 1;
            column = 1;
            line_start = idx + 1;
        } else {
            column += 1;
        }
    }
    let line: String = query
        .chars()
        .skip(line_start)
        .take_while(|&c| c != '\n')
        .collect();
    let caret = format!("{}^", " ".repeat(column - 1));
    format!("\n{line}\n{caret}\nERROR at Row:{row}:Column:{column}\n{message}")
}

/// Where a column's value comes from.
#[derive(Debug, Clone)]
enum Column {
    Direct(usize),
    /// Through a reference field with one target table.
    Parent {
        reference: usize,
        table: usize,
        field: usize,
    },
    /// Through a polymorphic reference: the target table is found per row by key prefix.
    Poly {
        reference: usize,
        field: String,
    },
}

/// A selected column and how it is rendered.
#[derive(Debug, Clone)]
struct OutputColumn {
    column: Column,
    /// The canonical field name.
    name: String,
    field_type: FieldType,
    /// The relationship name for parent fields (`Account` in `Account.Name`).
    relationship: Option<String>,
}

#[derive(Debug, Clone)]
enum Pred {
    And(Vec<Pred>),
    Or(Vec<Pred>),
    Not(Box<Pred>),
    Compare {
        column: Column,
        kind: ValueKind,
        op: CmpOp,
        value: Val,
    },
    /// A relative date literal: `[start, end)`.
    Range {
        column: Column,
        op: CmpOp,
        start: Val,
        end: Val,
    },
    In {
        column: Column,
        kind: ValueKind,
        negated: bool,
        values: Vec<Val>,
    },
    Like {
        column: Column,
        pattern: Vec<PatternItem>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum PatternItem {
    Any,
    One,
    Char(char),
}

#[derive(Debug, Clone)]
struct OrderColumn {
    column: Column,
    kind: ValueKind,
    descending: bool,
    nulls_first: bool,
}

/// What the query returns besides rows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape {
    Rows,
    /// `SELECT COUNT() …`: only totalSize.
    CountOnly,
    /// `SELECT COUNT(f) …`: one AggregateResult.
    CountAggregate,
}

/// A query resolved against the schema.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub table: usize,
    pub shape: Shape,
    columns: Vec<OutputColumn>,
    filter: Option<Pred>,
    order: Vec<OrderColumn>,
    limit: Option<u64>,
    offset: u64,
}

/// Resolves a parsed query; `text` is the query as sent, for error messages.
pub(crate) fn plan(db: &Db, query: &Query, text: &str) -> Result<Plan, ApiError> {
    let Some(table_idx) = db.table_index(&query.from) else {
        return Err(ApiError::InvalidQueryType(located(
            text,
            query.from_position,
            &format!(
                "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
                query.from
            ),
        )));
    };
    let resolver = Resolver {
        db,
        table: table_idx,
        text,
    };
    let mut columns = Vec::new();
    let mut shape = Shape::Rows;
    let mut first_field: Option<&FieldPath> = None;
    for item in &query.select {
        match item {
            SelectItem::Field(path) => {
                first_field.get_or_insert(path);
                let (column, field, relationship) = resolver.resolve(path)?;
                if !columns
                    .iter()
                    .any(|c: &OutputColumn| c.name == field.name && c.relationship == relationship)
                {
                    columns.push(OutputColumn {
                        column,
                        name: field.name.clone(),
                        field_type: field.field_type,
                        relationship,
                    });
                }
            }
            SelectItem::Count { field, .. } => {
                if let Some(path) = field {
                    resolver.resolve(path)?;
                }
                shape = if field.is_some() {
                    Shape::CountAggregate
                } else {
                    Shape::CountOnly
                };
            }
        }
    }
    if shape != Shape::Rows
        && let Some(path) = first_field
    {
        return Err(ApiError::MalformedQuery(located(
            text,
            path.position,
            &format!("Field must be grouped or aggregated: {}", path.text()),
        )));
    }
    if query.select.len() > 1 && shape != Shape::Rows {
        return Err(ApiError::MalformedQuery(located(
            text,
            0,
            "COUNT() may only be used alone",
        )));
    }
    let filter = query
        .condition
        .as_ref()
        .map(|cond| resolver.predicate(cond))
        .transpose()?;
    let order = query
        .order_by
        .iter()
        .map(|item| {
            let (column, field, _) = resolver.resolve(&item.field)?;
            Ok(OrderColumn {
                column,
                kind: field.field_type.kind(),
                descending: item.descending,
                nulls_first: item.nulls_first,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let offset = match query.offset {
        Some((offset, position)) if offset > MAX_OFFSET => {
            return Err(ApiError::NumberOutsideValidRange(located(
                text,
                position,
                &format!("Maximum SOQL offset allowed is {MAX_OFFSET}"),
            )));
        }
        Some((offset, _)) => offset,
        None => 0,
    };
    Ok(Plan {
        table: table_idx,
        shape,
        columns,
        filter,
        order,
        limit: query.limit,
        offset,
    })
}

struct Resolver<'a> {
    db: &'a Db,
    table: usize,
    text: &'a str,
}

impl<'a> Resolver<'a> {
    fn no_such_column(&self, position: usize, field: &str, entity: &str) -> ApiError {
        ApiError::InvalidQueryField(located(
            self.text,
            position,
            &format!(
                "No such column '{field}' on entity '{entity}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
            ),
        ))
    }

    fn bad_relationship(&self, position: usize, relationship: &str) -> ApiError {
        ApiError::InvalidQueryField(located(
            self.text,
            position,
            &format!(
                "Didn't understand relationship '{relationship}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
            ),
        ))
    }

    /// Resolves a field path to a column, its field, and its relationship name.
    fn resolve(
        &self,
        path: &FieldPath,
    ) -> Result<(Column, &'a FieldDef, Option<String>), ApiError> {
        let schema = &self.db.tables[self.table].schema;
        match path.parts.as_slice() {
            [name] => {
                let idx = schema
                    .field_index(name)
                    .ok_or_else(|| self.no_such_column(path.position, name, schema.name))?;
                Ok((Column::Direct(idx), &schema.fields[idx], None))
            }
            [relationship, name] => {
                let reference = schema
                    .relationship(relationship)
                    .ok_or_else(|| self.bad_relationship(path.position, relationship))?;
                let reference_field = &schema.fields[reference];
                let relationship_name = reference_field.relationship_name.clone();
                let targets: Vec<&Table> = reference_field
                    .reference_to
                    .iter()
                    .filter_map(|target| self.db.table(target))
                    .collect();
                if let [target] = targets.as_slice() {
                    let table = self
                        .db
                        .table_index(target.schema.name)
                        .unwrap_or(self.table);
                    let field = target.schema.field_index(name).ok_or_else(|| {
                        self.no_such_column(path.position, name, target.schema.name)
                    })?;
                    return Ok((
                        Column::Parent {
                            reference,
                            table,
                            field,
                        },
                        &target.schema.fields[field],
                        relationship_name,
                    ));
                }
                let field = targets
                    .iter()
                    .find_map(|t| t.schema.field_index(name).map(|idx| &t.schema.fields[idx]))
                    .ok_or_else(|| self.no_such_column(path.position, name, "Name"))?;
                Ok((
                    Column::Poly {
                        reference,
                        field: field.name.clone(),
                    },
                    field,
                    relationship_name,
                ))
            }
            _ => Err(self.bad_relationship(path.position, &path.parts[0])),
        }
    }

    fn predicate(&self, cond: &Cond) -> Result<Pred, ApiError> {
        Ok(match cond {
            Cond::And(terms) => Pred::And(
                terms
                    .iter()
                    .map(|t| self.predicate(t))
                    .collect::<Result<_, _>>()?,
            ),
            Cond::Or(terms) => Pred::Or(
                terms
                    .iter()
                    .map(|t| self.predicate(t))
                    .collect::<Result<_, _>>()?,
            ),
            Cond::Not(inner) => Pred::Not(Box::new(self.predicate(inner)?)),
            Cond::Compare { field, op, value } => {
                let (column, def, _) = self.resolve(field)?;
                match self.literal(def, value)? {
                    Typed::Value(val) => Pred::Compare {
                        column,
                        kind: def.field_type.kind(),
                        op: *op,
                        value: val,
                    },
                    Typed::Range(start, end) => Pred::Range {
                        column,
                        op: *op,
                        start,
                        end,
                    },
                }
            }
            Cond::In {
                field,
                negated,
                values,
            } => {
                let (column, def, _) = self.resolve(field)?;
                let mut vals = Vec::with_capacity(values.len());
                for value in values {
                    match self.literal(def, value)? {
                        Typed::Value(val) => vals.push(val),
                        Typed::Range(..) => {
                            return Err(ApiError::MalformedQuery(located(
                                self.text,
                                value.position,
                                &format!("unexpected token: '{}'", value.text),
                            )));
                        }
                    }
                }
                Pred::In {
                    column,
                    kind: def.field_type.kind(),
                    negated: *negated,
                    values: vals,
                }
            }
            Cond::Like { field, value } => {
                let (column, def, _) = self.resolve(field)?;
                if def.field_type.kind() != ValueKind::Text {
                    return Err(ApiError::InvalidQueryFilterOperator(located(
                        self.text,
                        field.position,
                        &format!(
                            "invalid operator on {} field: {}",
                            def.field_type.soql_name(),
                            def.name
                        ),
                    )));
                }
                let Literal::String(pattern) = &value.literal else {
                    return Err(self.type_error(def, value.position));
                };
                Pred::Like {
                    column,
                    pattern: compile_like(pattern),
                }
            }
        })
    }

    fn type_error(&self, def: &FieldDef, position: usize) -> ApiError {
        let quoting =
            if def.field_type.kind() == ValueKind::Text || def.field_type.kind() == ValueKind::Id {
                "should be enclosed in quotes"
            } else {
                "should not be enclosed in quotes"
            };
        ApiError::InvalidQueryField(located(
            self.text,
            position,
            &format!(
                "value of filter criterion for field '{}' must be of type {} and {quoting}",
                def.name,
                def.field_type.soql_name()
            ),
        ))
    }

    /// Types a literal for `def`, as Salesforce's strict literal rules demand.
    fn literal(&self, def: &FieldDef, value: &super::soql::Value) -> Result<Typed, ApiError> {
        let kind = def.field_type.kind();
        let typed = match (&value.literal, kind) {
            (Literal::Null, _) => Typed::Value(Val::Null),
            (Literal::String(text), ValueKind::Text) => {
                Typed::Value(Val::Text(unescape_like(text)))
            }
            (Literal::String(text), ValueKind::Id) => {
                let text = unescape_like(text);
                if text.is_empty() {
                    Typed::Value(Val::Null)
                } else {
                    let id18 = ids::normalize(&text).ok_or_else(|| {
                        ApiError::InvalidQueryFilterOperator(located(
                            self.text,
                            value.position,
                            &format!("invalid ID field: {text}"),
                        ))
                    })?;
                    Typed::Value(Val::Text(id18))
                }
            }
            (Literal::Number(number), ValueKind::Number) => Typed::Value(Val::Num(*number)),
            (Literal::Bool(flag), ValueKind::Boolean) => Typed::Value(Val::Bool(*flag)),
            (Literal::Date(date), ValueKind::Date) => Typed::Value(Val::Date(*date)),
            (Literal::DateTime(instant), ValueKind::DateTime) => {
                Typed::Value(Val::DateTime(*instant))
            }
            (Literal::DateConst(constant), ValueKind::Date | ValueKind::DateTime) => {
                let (start, end) = date_range(*constant);
                let wrap = |date: NaiveDate| match kind {
                    ValueKind::Date => Val::Date(date),
                    _ => date
                        .and_hms_opt(0, 0, 0)
                        .map_or(Val::Null, |n| Val::DateTime(n.and_utc())),
                };
                Typed::Range(wrap(start), wrap(end))
            }
            _ => return Err(self.type_error(def, value.position)),
        };
        Ok(typed)
    }
}

enum Typed {
    Value(Val),
    Range(Val, Val),
}

/// `[start, end)` of a relative date literal, in UTC days.
fn date_range(constant: DateConst) -> (NaiveDate, NaiveDate) {
    let today = Utc::now().date_naive();
    let day = Duration::days(1);
    match constant {
        DateConst::Today => (today, today + day),
        DateConst::Yesterday => (today - day, today),
        DateConst::Tomorrow => (today + day, today + day + day),
        DateConst::LastNDays(n) => (today - Duration::days(i64::from(n)), today + day),
        DateConst::NextNDays(n) => (today + day, today + day + Duration::days(i64::from(n))),
    }
}

/// Drops the backslash the lexer keeps before `%` and `_` (meaningful only in LIKE).
fn unescape_like(text: &str) -> String {
    text.replace("\\%", "%").replace("\\_", "_")
}

fn compile_like(pattern: &str) -> Vec<PatternItem> {
    let mut items = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('%' | '_')) => {
                if let Some(escaped) = chars.next() {
                    items.push(PatternItem::Char(escaped));
                }
            }
            '%' => items.push(PatternItem::Any),
            '_' => items.push(PatternItem::One),
            other => items.extend(other.to_lowercase().map(PatternItem::Char)),
        }
    }
    items
}

/// Wildcard match with backtracking over the last `%`; `text` is already lowercased.
fn like_matches(pattern: &[PatternItem], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(PatternItem::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(PatternItem::One) => {
                p += 1;
                t += 1;
            }
            Some(PatternItem::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|item| *item == PatternItem::Any)
}

fn column_value<'a>(db: &'a Db, row: &'a Row, column: &Column) -> &'a Val {
    match column {
        Column::Direct(idx) => row.get(*idx),
        Column::Parent {
            reference,
            table,
            field,
        } => {
            let Val::Text(id) = row.get(*reference) else {
                return &NULL;
            };
            let target = &db.tables[*table];
            target
                .position(id)
                .map_or(&NULL, |idx| target.rows[idx].get(*field))
        }
        Column::Poly { reference, field } => {
            let Val::Text(id) = row.get(*reference) else {
                return &NULL;
            };
            let Some(table_idx) = db.table_of_id(id) else {
                return &NULL;
            };
            let target = &db.tables[table_idx];
            match (target.schema.field_index(field), target.position(id)) {
                (Some(field_idx), Some(row_idx)) => target.rows[row_idx].get(field_idx),
                _ => &NULL,
            }
        }
    }
}

fn compare_matches(value: &Val, op: CmpOp, literal: &Val, kind: ValueKind) -> bool {
    if literal.is_null() {
        return match op {
            CmpOp::Eq => value.is_null(),
            CmpOp::Ne => !value.is_null(),
            _ => false,
        };
    }
    if value.is_null() {
        return op == CmpOp::Ne;
    }
    let ordering = value.compare(literal, kind);
    match op {
        CmpOp::Eq => ordering == Ordering::Equal,
        CmpOp::Ne => ordering != Ordering::Equal,
        CmpOp::Lt => ordering == Ordering::Less,
        CmpOp::Le => ordering != Ordering::Greater,
        CmpOp::Gt => ordering == Ordering::Greater,
        CmpOp::Ge => ordering != Ordering::Less,
    }
}

fn eval(db: &Db, row: &Row, pred: &Pred) -> bool {
    match pred {
        Pred::And(terms) => terms.iter().all(|t| eval(db, row, t)),
        Pred::Or(terms) => terms.iter().any(|t| eval(db, row, t)),
        Pred::Not(inner) => !eval(db, row, inner),
        Pred::Compare {
            column,
            kind,
            op,
            value,
        } => compare_matches(column_value(db, row, column), *op, value, *kind),
        Pred::Range {
            column,
            op,
            start,
            end,
        } => {
            let value = column_value(db, row, column);
            if value.is_null() {
                return *op == CmpOp::Ne;
            }
            let kind = ValueKind::DateTime;
            let at_or_after_start = value.compare(start, kind) != Ordering::Less;
            let before_end = value.compare(end, kind) == Ordering::Less;
            match op {
                CmpOp::Eq => at_or_after_start && before_end,
                CmpOp::Ne => !(at_or_after_start && before_end),
                CmpOp::Lt => !at_or_after_start,
                CmpOp::Le => before_end,
                CmpOp::Gt => !before_end,
                CmpOp::Ge => at_or_after_start,
            }
        }
        Pred::In {
            column,
            kind,
            negated,
            values,
        } => {
            let value = column_value(db, row, column);
            let found = values
                .iter()
                .any(|v| compare_matches(value, CmpOp::Eq, v, *kind));
            if *negated { !found } else { found }
        }
        Pred::Like { column, pattern } => match column_value(db, row, column) {
            Val::Text(text) => {
                let lowered: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
                like_matches(pattern, &lowered)
            }
            _ => false,
        },
    }
}

impl Plan {
    /// The matching row indexes, ordered, after OFFSET and LIMIT.
    pub(crate) fn run(&self, db: &Db, include_deleted: bool) -> Vec<u32> {
        let table = &db.tables[self.table];
        let mut rows: Vec<u32> = (0..table.rows.len())
            .filter(|&idx| include_deleted || table.live(idx))
            .filter(|&idx| {
                self.filter
                    .as_ref()
                    .is_none_or(|p| eval(db, &table.rows[idx], p))
            })
            .map(|idx| u32::try_from(idx).expect("fewer than 4 billion rows"))
            .collect();
        let id_order = matches!(self.order.as_slice(), [])
            || matches!(
                self.order.as_slice(),
                [OrderColumn {
                    column: Column::Direct(0),
                    descending: false,
                    ..
                }]
            );
        if !id_order {
            rows.sort_by(|&a, &b| {
                let (row_a, row_b) = (&table.rows[a as usize], &table.rows[b as usize]);
                for order in &self.order {
                    let (va, vb) = (
                        column_value(db, row_a, &order.column),
                        column_value(db, row_b, &order.column),
                    );
                    let ordering = match (va.is_null(), vb.is_null()) {
                        (true, true) => Ordering::Equal,
                        (true, false) => {
                            if order.nulls_first {
                                Ordering::Less
                            } else {
                                Ordering::Greater
                            }
                        }
                        (false, true) => {
                            if order.nulls_first {
                                Ordering::Greater
                            } else {
                                Ordering::Less
                            }
                        }
                        (false, false) => {
                            let natural = va.compare(vb, order.kind);
                            if order.descending {
                                natural.reverse()
                            } else {
                                natural
                            }
                        }
                    };
                    if ordering != Ordering::Equal {
                        return ordering;
                    }
                }
                Ordering::Equal
            });
        }
        let offset = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let limit = self
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        rows.into_iter().skip(offset).take(limit).collect()
    }

    /// One row as query results show it: attributes, then the selected fields in order.
    pub(crate) fn render(&self, db: &Db, row_idx: u32, version: &str) -> Value {
        let table = &db.tables[self.table];
        let row = &table.rows[row_idx as usize];
        let mut map = Map::new();
        map.insert("attributes".into(), table.attributes(&row.id, version));
        for column in &self.columns {
            let value = column_value(db, row, &column.column).to_json(column.field_type);
            let Some(relationship) = &column.relationship else {
                map.insert(column.name.clone(), value);
                continue;
            };
            let parent_id = match &column.column {
                Column::Parent { reference, .. } | Column::Poly { reference, .. } => {
                    row.get(*reference).as_str()
                }
                Column::Direct(_) => None,
            };
            let Some(parent_id) = parent_id else {
                map.insert(relationship.clone(), Value::Null);
                continue;
            };
            let entry = map.entry(relationship.clone()).or_insert_with(|| {
                db.table_of_id(parent_id).map_or(
                    json!({}),
                    |t| json!({ "attributes": db.tables[t].attributes(parent_id, version) }),
                )
            });
            if let Value::Object(parent) = entry {
                parent.insert(column.name.clone(), value);
            }
        }
        Value::Object(map)
    }
}

impl Plan {
    /// The header of Bulk API result CSV: each selected field's name, a parent's field as
    /// `Relationship.Field`, in the order selected (as Bulk API 2.0 does from v50.0).
    pub(crate) fn csv_header(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|column| match &column.relationship {
                Some(relationship) => format!("{relationship}.{}", column.name),
                None => column.name.clone(),
            })
            .collect()
    }

    /// One row's cells as Bulk API result CSV writes them: `None` for null (an empty cell),
    /// booleans as `true`/`false`, numbers as the REST API writes them, dates as
    /// `2024-01-15` and date-times in UTC as `2024-01-15T10:20:30.000Z`.
    pub(crate) fn csv_cells(&self, db: &Db, row_idx: u32) -> Vec<Option<String>> {
        let row = &db.tables[self.table].rows[row_idx as usize];
        self.columns
            .iter()
            .map(|column| match column_value(db, row, &column.column) {
                Val::Null => None,
                Val::Text(text) => Some(text.clone()),
                Val::Bool(flag) => Some(flag.to_string()),
                Val::DateTime(instant) => {
                    Some(instant.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                }
                other => match other.to_json(column.field_type) {
                    Value::Null => None,
                    Value::String(text) => Some(text),
                    value => Some(value.to_string()),
                },
            })
            .collect()
    }
}

/// The rows of one query still to be served through `nextRecordsUrl`.
#[derive(Debug)]
pub(crate) struct Cursor {
    pub plan: Arc<Plan>,
    pub rows: Arc<Vec<u32>>,
    pub include_deleted: bool,
    pub batch_size: usize,
}

/// Open cursors by locator id; the oldest are dropped past a cap, as Salesforce expires them.
#[derive(Debug, Default)]
pub(crate) struct Cursors {
    open: HashMap<String, Arc<Cursor>>,
    order: VecDeque<String>,
    next: u64,
}

const MAX_OPEN_CURSORS: usize = 10_000;

impl Cursors {
    /// Stores a cursor; returns its locator id (`01g…`).
    pub(crate) fn open(&mut self, cursor: Cursor) -> String {
        self.next += 1;
        let locator = ids::make_id("01g", self.next);
        self.open.insert(locator.clone(), Arc::new(cursor));
        self.order.push_back(locator.clone());
        while self.order.len() > MAX_OPEN_CURSORS {
            if let Some(oldest) = self.order.pop_front() {
                self.open.remove(&oldest);
            }
        }
        locator
    }

    pub(crate) fn get(&self, locator: &str) -> Option<Arc<Cursor>> {
        self.open.get(locator).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(pattern: &str, text: &str) -> bool {
        let lowered: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
        like_matches(&compile_like(pattern), &lowered)
    }

    #[test]
    fn like_patterns_match_case_insensitively() {
        assert!(like("%smith", "John SMITH"));
        assert!(like("a_c", "abc"));
        assert!(!like("a_c", "abbc"));
        assert!(like("%ö%", "Zoë Ångström"));
        assert!(like("100\\%", "100%"));
        assert!(!like("100\\%", "1000"));
        assert!(like("%", ""));
        assert!(like("a%b%c", "aXXbYYc"));
        assert!(!like("a%b%c", "aXXbYY"));
    }

    #[test]
    fn errors_point_at_row_and_column() {
        assert_eq!(
            located("SELECT Id\nFROM Foo", 15, "boom"),
            "\nFROM Foo\n     ^\nERROR at Row:2:Column:6\nboom"
        );
    }
}
