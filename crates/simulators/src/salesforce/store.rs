//! Records of the simulated org: typed values, tables, and the rules writes follow.
//!
//! A [`Db`] holds one [`Table`] per sObject, rows in id (= creation) order. Rows are never
//! removed: a delete sets `IsDeleted`, so row indexes stay valid for query cursors. Writes go
//! through [`Db::insert`] and [`Db::update`], which check fields the way Salesforce does and
//! recompute derived fields (`Name`, `IsClosed`, `IsWon`, formulas). HTTP lives in `routes.rs`.

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use rust_decimal::prelude::ToPrimitive as _;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value};

use super::error::ApiError;
use super::ids;
use super::schema::{FieldDef, FieldType, ObjectSchema, STAGES, ValueKind, all_objects};

/// A stored field value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Text(String),
    Num(f64),
    /// A currency value written through the API: exact, rounded to the field's scale.
    Dec(Decimal),
    Bool(bool),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
}

pub(crate) static NULL: Val = Val::Null;

impl Val {
    pub(crate) fn text(value: impl Into<String>) -> Val {
        Val::Text(value.into())
    }

    pub(crate) fn opt_text(value: Option<impl Into<String>>) -> Val {
        value.map_or(Val::Null, |v| Val::Text(v.into()))
    }

    /// A value planted past the API's checks: text read as `field_type` (a date, a date-time,
    /// a number, a boolean), kept as text when it does not read.
    pub(crate) fn planted(value: &Value, field_type: FieldType) -> Val {
        let text = match value {
            Value::Null => return Val::Null,
            Value::Bool(flag) => return Val::Bool(*flag),
            Value::Number(number) => return number.as_f64().map_or(Val::Null, Val::Num),
            Value::String(text) => text,
            other => return Val::Text(other.to_string()),
        };
        let read = match field_type {
            FieldType::Date => text.parse::<NaiveDate>().ok().map(Val::Date),
            FieldType::DateTime => parse_datetime(text).map(Val::DateTime),
            FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent => {
                text.parse::<f64>().ok().map(Val::Num)
            }
            FieldType::Boolean => text.parse::<bool>().ok().map(Val::Bool),
            _ => None,
        };
        read.unwrap_or_else(|| Val::Text(text.clone()))
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    /// A number's value as a float (currency values rounded to one).
    pub(crate) fn number(&self) -> Option<f64> {
        match self {
            Val::Num(number) => Some(*number),
            Val::Dec(amount) => amount.to_f64(),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Val::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The value as Salesforce serialises it for a field of type `field_type`.
    pub(crate) fn to_json(&self, field_type: FieldType) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Text(text) => Value::String(text.clone()),
            Val::Bool(flag) => Value::Bool(*flag),
            Val::Num(number) if field_type == FieldType::Int => Value::from(number.trunc() as i64),
            Val::Num(number) => {
                serde_json::Number::from_f64(*number).map_or(Value::Null, Value::Number)
            }
            Val::Dec(amount) => crate::decimal::json(*amount),
            Val::Date(date) => Value::String(date.format("%Y-%m-%d").to_string()),
            Val::DateTime(instant) => Value::String(format_datetime(*instant)),
        }
    }

    /// Orders two values of one field: text case-insensitively, ids byte-wise; nulls first.
    pub(crate) fn compare(&self, other: &Val, kind: ValueKind) -> Ordering {
        match (self, other) {
            (Val::Null, Val::Null) => Ordering::Equal,
            (Val::Null, _) => Ordering::Less,
            (_, Val::Null) => Ordering::Greater,
            (Val::Text(a), Val::Text(b)) if kind == ValueKind::Text => compare_ci(a, b),
            (Val::Text(a), Val::Text(b)) => a.cmp(b),
            (Val::Num(a), Val::Num(b)) => a.total_cmp(b),
            (Val::Bool(a), Val::Bool(b)) => a.cmp(b),
            (Val::Date(a), Val::Date(b)) => a.cmp(b),
            (Val::DateTime(a), Val::DateTime(b)) => a.cmp(b),
            (Val::Date(a), Val::DateTime(b)) => a.cmp(&b.date_naive()),
            (Val::DateTime(a), Val::Date(b)) => a.date_naive().cmp(b),
            _ => match (self.number(), other.number()) {
                (Some(a), Some(b)) => a.total_cmp(&b),
                _ => Ordering::Equal,
            },
        }
    }
}

/// Compares two strings case-insensitively without allocating.
pub(crate) fn compare_ci(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a
            .bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.bytes().map(|c| c.to_ascii_lowercase()));
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

/// Formats an instant as Salesforce does: `2024-01-15T10:20:30.000+0000`.
pub(crate) fn format_datetime(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Parses the datetime spellings Salesforce accepts on input: RFC 3339 (`Z` or `+01:00`),
/// `+0100` offsets, optional fractions, and a bare date (midnight UTC).
pub(crate) fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(instant) = DateTime::parse_from_str(text, format) {
            return Some(instant.with_timezone(&Utc));
        }
    }
    if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(naive.and_utc());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|naive| naive.and_utc())
}

/// The current instant with Salesforce's millisecond precision.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// One stored record.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub id: String,
    /// Values in the order of the object's fields; shorter when fields were added later.
    pub values: Vec<Val>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Row {
    pub(crate) fn get(&self, idx: usize) -> &Val {
        self.values.get(idx).unwrap_or(&NULL)
    }

    pub(crate) fn set(&mut self, idx: usize, value: Val) {
        if self.values.len() <= idx {
            self.values.resize(idx + 1, Val::Null);
        }
        self.values[idx] = value;
    }
}

/// The rows of one sObject.
#[derive(Debug)]
pub(crate) struct Table {
    pub schema: ObjectSchema,
    pub rows: Vec<Row>,
    by_id: HashMap<String, usize>,
    next_counter: u64,
    /// When the schema last changed, for describe's `If-Modified-Since`.
    pub schema_changed_at: DateTime<Utc>,
}

impl Table {
    fn new(schema: ObjectSchema, first_counter: u64) -> Table {
        Table {
            schema,
            rows: Vec::new(),
            by_id: HashMap::new(),
            next_counter: first_counter,
            schema_changed_at: super::seed::seed_epoch() - chrono::Duration::days(800),
        }
    }

    /// Row index of the record with id `id` (15 or 18 characters).
    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        let id18 = ids::normalize(id)?;
        self.by_id.get(&id18).copied()
    }

    /// Allocates the next id and appends an empty row for it; returns the row index.
    pub(crate) fn push_row(&mut self) -> usize {
        let id = ids::make_id(self.schema.key_prefix, self.next_counter);
        self.next_counter += 1;
        let mut row = Row {
            id: id.clone(),
            values: vec![Val::Null; self.schema.fields.len()],
            deleted_at: None,
        };
        row.set(self.schema.idx("Id"), Val::Text(id.clone()));
        if let Some(deleted_idx) = self.schema.field_index("IsDeleted") {
            row.set(deleted_idx, Val::Bool(false));
        }
        self.rows.push(row);
        let idx = self.rows.len() - 1;
        self.by_id.insert(id, idx);
        idx
    }

    /// Whether the row is live (not deleted).
    pub(crate) fn live(&self, idx: usize) -> bool {
        self.rows[idx].deleted_at.is_none()
    }

    /// The record as the sObject GET returns it: `attributes`, then the requested fields.
    pub(crate) fn record_json(&self, idx: usize, version: &str, fields: Option<&[usize]>) -> Value {
        let row = &self.rows[idx];
        let mut map = Map::new();
        map.insert("attributes".into(), self.attributes(&row.id, version));
        let mut put = |field_idx: usize| {
            let field = &self.schema.fields[field_idx];
            map.insert(
                field.name.clone(),
                row.get(field_idx).to_json(field.field_type),
            );
        };
        match fields {
            Some(list) => list.iter().copied().for_each(&mut put),
            None => (0..self.schema.fields.len())
                .filter(|idx| self.schema.is_live(*idx))
                .for_each(&mut put),
        }
        Value::Object(map)
    }

    pub(crate) fn attributes(&self, id: &str, version: &str) -> Value {
        serde_json::json!({
            "type": self.schema.name,
            "url": format!("/services/data/{version}/sobjects/{}/{id}", self.schema.name),
        })
    }
}

/// What a validated write sets: field index → value.
type Changes = Vec<(usize, Val)>;

/// Every table of the simulated org.
#[derive(Debug)]
pub(crate) struct Db {
    pub tables: Vec<Table>,
    by_name: HashMap<String, usize>,
    /// The user the API acts as (CreatedById, default OwnerId).
    pub api_user: Option<String>,
    /// The org's Automated Process user, which created the first users and owns nothing.
    pub automated_user: Option<String>,
}

impl Db {
    pub(crate) fn new() -> Db {
        let tables: Vec<Table> = all_objects()
            .into_iter()
            .enumerate()
            .map(|(n, schema)| Table::new(schema, 3_000_000 + 97_000 * n as u64))
            .collect();
        let by_name = tables
            .iter()
            .enumerate()
            .map(|(idx, table)| (table.schema.name.to_ascii_lowercase(), idx))
            .collect();
        Db {
            tables,
            by_name,
            api_user: None,
            automated_user: None,
        }
    }

    /// Index of the table of `sobject`, case-insensitively.
    pub(crate) fn table_index(&self, sobject: &str) -> Option<usize> {
        self.by_name.get(&sobject.to_ascii_lowercase()).copied()
    }

    pub(crate) fn table(&self, sobject: &str) -> Option<&Table> {
        self.table_index(sobject).map(|idx| &self.tables[idx])
    }

    /// The table of a built-in sObject.
    ///
    /// # Panics
    /// Only on a broken invariant: callers pass the names of built-in sObjects.
    pub(crate) fn builtin(&mut self, sobject: &str) -> &mut Table {
        let idx = self
            .table_index(sobject)
            .unwrap_or_else(|| panic!("built-in sObject `{sobject}` missing"));
        &mut self.tables[idx]
    }

    /// The table holding the record with this id, found by key prefix.
    pub(crate) fn table_of_id(&self, id: &str) -> Option<usize> {
        let prefix = id.get(..3)?;
        self.tables
            .iter()
            .position(|t| t.schema.key_prefix == prefix)
    }

    /// Creates a record from an API body; returns its id.
    pub(crate) fn insert(
        &mut self,
        table_idx: usize,
        body: &Map<String, Value>,
        raw: &str,
    ) -> Result<String, ApiError> {
        let changes = self.validate(table_idx, body, raw, true)?;
        let schema = &self.tables[table_idx].schema;
        let missing: Vec<String> = schema
            .fields
            .iter()
            .enumerate()
            .filter(|(idx, field)| {
                field.required()
                    && !changes
                        .iter()
                        .any(|(changed, value)| changed == idx && !value.is_null())
            })
            .map(|(_, field)| field.name.clone())
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::RequiredFieldMissing(missing));
        }
        let instant = now();
        let api_user = self.api_user.clone();
        let table = &mut self.tables[table_idx];
        let idx = table.push_row();
        let schema = &table.schema;
        let row = &mut table.rows[idx];
        for (field_idx, field) in schema.fields.iter().enumerate() {
            if let Some(default) = &field.default_picklist {
                row.set(field_idx, Val::Text(default.clone()));
            } else if field.field_type == FieldType::Boolean {
                // Salesforce booleans are never null: read-only flags such as
                // `Lead.IsConverted` start false too.
                row.set(field_idx, Val::Bool(false));
            }
        }
        for (field_idx, value) in changes {
            row.set(field_idx, value);
        }
        if let Some(owner_idx) = schema.field_index("OwnerId")
            && row.get(owner_idx).is_null()
        {
            row.set(owner_idx, Val::opt_text(api_user.clone()));
        }
        for name in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
            row.set(schema.idx(name), Val::DateTime(instant));
        }
        for name in ["CreatedById", "LastModifiedById"] {
            row.set(schema.idx(name), Val::opt_text(api_user.clone()));
        }
        derive(schema, row);
        Ok(table.rows[idx].id.clone())
    }

    /// Updates a record from an API body.
    pub(crate) fn update(
        &mut self,
        table_idx: usize,
        row_idx: usize,
        body: &Map<String, Value>,
        raw: &str,
    ) -> Result<(), ApiError> {
        let changes = self.validate(table_idx, body, raw, false)?;
        let table = &mut self.tables[table_idx];
        let schema = &table.schema;
        let row = &mut table.rows[row_idx];
        for (field_idx, value) in changes {
            if schema.fields[field_idx].required() && value.is_null() {
                return Err(ApiError::RequiredFieldMissing(vec![
                    schema.fields[field_idx].name.clone(),
                ]));
            }
            row.set(field_idx, value);
        }
        touch(schema, row, now(), self.api_user.clone());
        derive(schema, row);
        Ok(())
    }

    /// Marks a record deleted at `instant`.
    pub(crate) fn delete(&mut self, table_idx: usize, row_idx: usize, instant: DateTime<Utc>) {
        let table = &mut self.tables[table_idx];
        let schema = &table.schema;
        let row = &mut table.rows[row_idx];
        row.deleted_at = Some(instant);
        if let Some(deleted_idx) = schema.field_index("IsDeleted") {
            row.set(deleted_idx, Val::Bool(true));
        }
        row.set(schema.idx("SystemModstamp"), Val::DateTime(instant));
    }

    /// Checks a write body field by field and converts its values.
    fn validate(
        &self,
        table_idx: usize,
        body: &Map<String, Value>,
        raw: &str,
        create: bool,
    ) -> Result<Changes, ApiError> {
        let schema = &self.tables[table_idx].schema;
        let mut changes = Vec::with_capacity(body.len());
        let mut not_writable = Vec::new();
        for (key, value) in body {
            if key == "attributes" {
                continue;
            }
            let Some(field_idx) = schema.field_index(key) else {
                return Err(ApiError::InvalidFieldOnWrite {
                    field: key.clone(),
                    sobject: schema.name.to_owned(),
                });
            };
            let field = &schema.fields[field_idx];
            let writable = if create {
                field.createable
            } else {
                field.updateable
            };
            if !writable {
                not_writable.push(field.name.clone());
                continue;
            }
            let converted = convert_input(field, value).ok_or_else(|| {
                ApiError::JsonParser(format!(
                    "Cannot deserialize instance of {} from {} value {} or request may be missing a required field at [line:1, column:{}]",
                    field.field_type.soql_name(),
                    token_name(value),
                    value_text(value),
                    column_of(raw, key),
                ))
            })?;
            self.check_value(field, &converted)?;
            changes.push((field_idx, converted));
        }
        if !not_writable.is_empty() {
            return Err(ApiError::InvalidFieldForInsertUpdate(not_writable));
        }
        Ok(changes)
    }

    /// Checks lengths, references and numeric ranges of one converted value.
    fn check_value(&self, field: &FieldDef, value: &Val) -> Result<(), ApiError> {
        if let Val::Num(number) = value
            && field.field_type == FieldType::Int
            && number.abs() >= 10_f64.powi(field.int_digits.try_into().unwrap_or(i32::MAX))
        {
            // An `int` holds `digits` digits (describe's `digits`).
            return Err(ApiError::NumberOutsideRangeOnWrite {
                field: field.name.clone(),
                message: format!(
                    "{}: value outside of valid range on numeric field: {number}",
                    field.label
                ),
            });
        }
        if let Val::Dec(amount) = value {
            // `precision` digits in all, `scale` of them after the point.
            let integer_digits = field.precision.saturating_sub(field.scale);
            let limit = Decimal::from_i128_with_scale(10_i128.pow(integer_digits), 0);
            if amount.abs() >= limit {
                return Err(ApiError::NumberOutsideRangeOnWrite {
                    field: field.name.clone(),
                    message: format!(
                        "{}: value outside of valid range on numeric field: {amount}",
                        field.label
                    ),
                });
            }
            return Ok(());
        }
        let Val::Text(text) = value else {
            return Ok(());
        };
        if field.field_type == FieldType::Reference {
            let Some(id18) = ids::normalize(text) else {
                return Err(ApiError::MalformedId {
                    field: field.name.clone(),
                    message: format!("{}: id value of incorrect type: {text}", field.label),
                });
            };
            let target = self.table_of_id(&id18).filter(|&t| {
                field
                    .reference_to
                    .iter()
                    .any(|r| r == self.tables[t].schema.name)
            });
            let row = target.and_then(|t| Some((t, self.tables[t].position(&id18)?)));
            if target.is_none() {
                return Err(ApiError::FieldIntegrity {
                    field: field.name.clone(),
                    message: format!("{}: id value of incorrect type: {text}", field.label),
                });
            }
            match row {
                None => {
                    return Err(ApiError::InvalidCrossReference {
                        field: field.name.clone(),
                    });
                }
                Some((t, idx)) if !self.tables[t].live(idx) => {
                    return Err(ApiError::ReferenceIsDeleted {
                        field: field.name.clone(),
                    });
                }
                Some(_) => {}
            }
            return Ok(());
        }
        if field.length > 0 && text.chars().count() > field.length as usize {
            let shown: String = text.chars().take(20).collect();
            return Err(ApiError::StringTooLong {
                field: field.name.clone(),
                message: format!(
                    "{}: data value too large: {shown} (max length={})",
                    field.label, field.length
                ),
            });
        }
        Ok(())
    }
}

/// Converts one JSON input value for `field`; `None` when its type does not fit.
/// Empty strings become null, as Salesforce stores them.
fn convert_input(field: &FieldDef, value: &Value) -> Option<Val> {
    if value.is_null() {
        return Some(if field.field_type == FieldType::Boolean {
            Val::Bool(false)
        } else {
            Val::Null
        });
    }
    match field.field_type.kind() {
        ValueKind::Text | ValueKind::Id => match value {
            Value::String(text) if text.is_empty() => Some(Val::Null),
            Value::String(text) => Some(Val::Text(text.clone())),
            Value::Number(number) if field.field_type != FieldType::Reference => {
                Some(Val::Text(number.to_string()))
            }
            Value::Bool(flag) if field.field_type != FieldType::Reference => {
                Some(Val::Text(flag.to_string()))
            }
            _ => None,
        },
        ValueKind::Number if field.field_type == FieldType::Currency => {
            // Kept exactly and rounded to the field's scale (half away from zero), as
            // Salesforce stores a currency; the range is checked by `check_value`.
            let amount = match value {
                Value::Number(number) => crate::decimal::parse(number)?,
                Value::String(text) if text.is_empty() => return Some(Val::Null),
                Value::String(text) => crate::decimal::parse_text(text)?,
                _ => return None,
            };
            Some(Val::Dec(amount.round_dp_with_strategy(
                field.scale,
                RoundingStrategy::MidpointAwayFromZero,
            )))
        }
        ValueKind::Number => {
            let number = match value {
                Value::Number(number) => number.as_f64()?,
                Value::String(text) if text.is_empty() => return Some(Val::Null),
                Value::String(text) => text.trim().parse::<f64>().ok()?,
                _ => return None,
            };
            // An `int` is a 32-bit integer: a value that is not one is no `int` to parse.
            if field.field_type == FieldType::Int
                && (number.fract() != 0.0
                    || !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&number))
            {
                return None;
            }
            number.is_finite().then_some(Val::Num(number))
        }
        ValueKind::Boolean => match value {
            Value::Bool(flag) => Some(Val::Bool(*flag)),
            Value::String(text) if text.eq_ignore_ascii_case("true") => Some(Val::Bool(true)),
            Value::String(text) if text.eq_ignore_ascii_case("false") => Some(Val::Bool(false)),
            _ => None,
        },
        ValueKind::Date => {
            let text = value.as_str()?;
            if text.is_empty() {
                return Some(Val::Null);
            }
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .or_else(|| parse_datetime(text).map(|instant| instant.date_naive()))
                .map(Val::Date)
        }
        ValueKind::DateTime => {
            let text = value.as_str()?;
            if text.is_empty() {
                return Some(Val::Null);
            }
            parse_datetime(text).map(|instant| Val::DateTime(instant.trunc_subsecs(3)))
        }
    }
}

fn token_name(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "VALUE_STRING",
        Value::Number(_) => "VALUE_NUMBER_INT",
        Value::Bool(true) => "VALUE_TRUE",
        Value::Bool(false) => "VALUE_FALSE",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
        Value::Null => "VALUE_NULL",
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// 1-based column just after `"key":` in the raw body, for JSON_PARSER_ERROR messages.
fn column_of(raw: &str, key: &str) -> usize {
    let needle = format!("\"{key}\"");
    raw.find(&needle).map_or(1, |pos| {
        raw[..pos].chars().count() + needle.chars().count() + 2
    })
}

/// Sets LastModifiedDate, SystemModstamp and LastModifiedById after a change.
pub(crate) fn touch(
    schema: &ObjectSchema,
    row: &mut Row,
    instant: DateTime<Utc>,
    user: Option<String>,
) {
    row.set(schema.idx("LastModifiedDate"), Val::DateTime(instant));
    row.set(schema.idx("SystemModstamp"), Val::DateTime(instant));
    row.set(schema.idx("LastModifiedById"), Val::opt_text(user));
}

/// Recomputes the fields Salesforce derives from others.
pub(crate) fn derive(schema: &ObjectSchema, row: &mut Row) {
    match schema.name {
        "Contact" | "Lead" | "User" => {
            let first = row
                .get(schema.idx("FirstName"))
                .as_str()
                .unwrap_or("")
                .to_owned();
            let last = row
                .get(schema.idx("LastName"))
                .as_str()
                .unwrap_or("")
                .to_owned();
            let name = if first.is_empty() {
                last
            } else {
                format!("{first} {last}")
            };
            row.set(schema.idx("Name"), Val::Text(name));
            if schema.name == "Contact" {
                let health = match row.get(schema.idx("NPS_Score__c")) {
                    Val::Num(score) => Val::Num(score * 10.0),
                    _ => Val::Null,
                };
                row.set(schema.idx("Health_Score__c"), health);
            }
        }
        "Opportunity" => {
            let stage_name = row
                .get(schema.idx("StageName"))
                .as_str()
                .unwrap_or("")
                .to_owned();
            let stage = STAGES
                .iter()
                .find(|s| s.0.eq_ignore_ascii_case(&stage_name));
            let (closed, won) = stage.map_or((false, false), |s| (s.3, s.4));
            row.set(schema.idx("IsClosed"), Val::Bool(closed));
            row.set(schema.idx("IsWon"), Val::Bool(won));
            let probability_idx = schema.idx("Probability");
            if row.get(probability_idx).is_null()
                && let Some(stage) = stage
            {
                row.set(probability_idx, Val::Num(f64::from(stage.2)));
            }
        }
        "Task" => {
            let completed = row
                .get(schema.idx("Status"))
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("Completed"));
            row.set(schema.idx("IsClosed"), Val::Bool(completed));
            let completed_idx = schema.idx("CompletedDateTime");
            if completed && row.get(completed_idx).is_null() {
                let stamp = row.get(schema.idx("LastModifiedDate")).clone();
                row.set(completed_idx, stamp);
            } else if !completed {
                row.set(completed_idx, Val::Null);
            }
        }
        "Event" => {
            let start = row.get(schema.idx("StartDateTime")).clone();
            let end_idx = schema.idx("EndDateTime");
            let duration_idx = schema.idx("DurationInMinutes");
            match (
                &start,
                row.get(end_idx).clone(),
                row.get(duration_idx).clone(),
            ) {
                (Val::DateTime(start), Val::DateTime(end), _) => {
                    let minutes = (end - *start).num_minutes().max(0);
                    row.set(duration_idx, Val::Num(minutes as f64));
                }
                (Val::DateTime(start), Val::Null, Val::Num(minutes)) => {
                    let end = *start + chrono::Duration::minutes(minutes as i64);
                    row.set(end_idx, Val::DateTime(end));
                }
                _ => {}
            }
        }
        _ => {}
    }
}
