//! The simulated company's records and the rules writes follow.
//!
//! A [`Store`] holds one [`Table`] per [`Entity`], rows in creation order (ids ascending). Rows
//! keep their values in the shape v1 writes use (`org_id` a number, custom values under their
//! hash keys); `render.rs` turns them into v1 and v2 answers. Rows are never removed: a delete
//! marks them, so persons, organizations and deals stay readable with `active_flag: false`
//! while leads, notes and activities answer 404 afterwards. HTTP lives in `routes.rs`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SubsecRound, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::schema::{
    ACTIVITY_TYPES, Entity, FieldDef, LABELS, PIPELINES, STAGES, hash_key, initial_fields, is_date,
    parse_time, v1_time,
};

/// One stored record.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// The id as it appears in paths (a number, or a UUID for leads).
    pub id: String,
    /// The numeric id; 0 for leads.
    pub num: u64,
    pub data: Map<String, Value>,
    pub add_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub deleted: bool,
}

impl Row {
    pub(crate) fn get(&self, key: &str) -> &Value {
        self.data.get(key).unwrap_or(&Value::Null)
    }

    pub(crate) fn str(&self, key: &str) -> &str {
        self.get(key).as_str().unwrap_or("")
    }

    pub(crate) fn u64(&self, key: &str) -> Option<u64> {
        self.get(key).as_u64()
    }
}

/// The rows of one entity.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub rows: Vec<Row>,
    by_id: HashMap<String, usize>,
    next_num: u64,
}

impl Table {
    fn new(first_num: u64) -> Table {
        Table {
            rows: Vec::new(),
            by_id: HashMap::new(),
            next_num: first_num,
        }
    }

    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        self.by_id.get(&id.to_ascii_lowercase()).copied()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Row> {
        self.position(id).map(|idx| &self.rows[idx])
    }

    /// The live (not deleted) row with this id.
    pub(crate) fn live(&self, id: &str) -> Option<&Row> {
        self.get(id).filter(|row| !row.deleted)
    }

    pub(crate) fn live_rows(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|row| !row.deleted)
    }
}

/// How one writable field's input is checked and stored.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Number,
    Flag,
    Date,
    /// `HH:MM`, as activities store due times and durations.
    Time,
    /// The id of a live record of this entity, or null.
    Ref(Entity),
    /// One of `1`, `3`, `5`, `7`, stored as a string as v1 answers it.
    Visible,
    /// A list of label ids (integers for persons and organizations).
    LabelIds,
    /// A list of lead label ids (UUIDs).
    LeadLabelIds,
    /// An email or phone list, given as a string, strings, or `{value, primary, label}` objects.
    Contacts,
    Choice(&'static [&'static str]),
    /// The lead `value` object `{amount, currency}`.
    LeadValue,
    /// A deal stage id.
    Stage,
    /// A pipeline id.
    Pipeline,
    /// A time written as `YYYY-MM-DD HH:MM:SS`.
    Stamp,
}

/// The writable built-in fields of each entity.
fn writable(entity: Entity) -> &'static [(&'static str, Kind)] {
    match entity {
        Entity::Person => &[
            ("name", Kind::Text),
            ("first_name", Kind::Text),
            ("last_name", Kind::Text),
            ("owner_id", Kind::Ref(Entity::User)),
            ("org_id", Kind::Ref(Entity::Organization)),
            ("email", Kind::Contacts),
            ("phone", Kind::Contacts),
            ("label", Kind::Number),
            ("label_ids", Kind::LabelIds),
            ("visible_to", Kind::Visible),
            (
                "marketing_status",
                Kind::Choice(&["no_consent", "unsubscribed", "subscribed", "archived"]),
            ),
        ],
        Entity::Organization => &[
            ("name", Kind::Text),
            ("owner_id", Kind::Ref(Entity::User)),
            ("address", Kind::Text),
            ("label", Kind::Number),
            ("label_ids", Kind::LabelIds),
            ("visible_to", Kind::Visible),
        ],
        Entity::Deal => &[
            ("title", Kind::Text),
            ("value", Kind::Number),
            ("currency", Kind::Text),
            ("user_id", Kind::Ref(Entity::User)),
            ("person_id", Kind::Ref(Entity::Person)),
            ("org_id", Kind::Ref(Entity::Organization)),
            ("pipeline_id", Kind::Pipeline),
            ("stage_id", Kind::Stage),
            ("status", Kind::Choice(&["open", "won", "lost", "deleted"])),
            ("expected_close_date", Kind::Date),
            ("probability", Kind::Number),
            ("lost_reason", Kind::Text),
            ("label", Kind::Text),
            ("visible_to", Kind::Visible),
            ("won_time", Kind::Stamp),
            ("lost_time", Kind::Stamp),
            ("close_time", Kind::Stamp),
        ],
        Entity::Lead => &[
            ("title", Kind::Text),
            ("owner_id", Kind::Ref(Entity::User)),
            ("label_ids", Kind::LeadLabelIds),
            ("person_id", Kind::Ref(Entity::Person)),
            ("organization_id", Kind::Ref(Entity::Organization)),
            ("value", Kind::LeadValue),
            ("expected_close_date", Kind::Date),
            ("visible_to", Kind::Visible),
            ("was_seen", Kind::Flag),
            ("is_archived", Kind::Flag),
        ],
        Entity::Note => &[
            ("content", Kind::Text),
            ("deal_id", Kind::Ref(Entity::Deal)),
            ("person_id", Kind::Ref(Entity::Person)),
            ("org_id", Kind::Ref(Entity::Organization)),
            ("lead_id", Kind::Ref(Entity::Lead)),
            ("user_id", Kind::Ref(Entity::User)),
            ("pinned_to_deal_flag", Kind::Flag),
            ("pinned_to_person_flag", Kind::Flag),
            ("pinned_to_organization_flag", Kind::Flag),
            ("pinned_to_lead_flag", Kind::Flag),
        ],
        Entity::Activity => &[
            ("subject", Kind::Text),
            (
                "type",
                Kind::Choice(&["call", "meeting", "task", "deadline", "email", "lunch"]),
            ),
            ("due_date", Kind::Date),
            ("due_time", Kind::Time),
            ("duration", Kind::Time),
            ("done", Kind::Flag),
            ("user_id", Kind::Ref(Entity::User)),
            ("deal_id", Kind::Ref(Entity::Deal)),
            ("person_id", Kind::Ref(Entity::Person)),
            ("org_id", Kind::Ref(Entity::Organization)),
            ("lead_id", Kind::Ref(Entity::Lead)),
            ("note", Kind::Text),
            ("public_description", Kind::Text),
            ("location", Kind::Text),
            ("busy_flag", Kind::Flag),
        ],
        Entity::User => &[],
    }
}

/// Lead labels (`label_ids` of leads are UUIDs).
pub(crate) const LEAD_LABELS: &[(&str, &str)] = &[
    ("f08b42a0-4e75-11ea-9643-03698ef1cfd6", "Hot"),
    ("f08b42a1-4e75-11ea-9643-03698ef1cfd6", "Warm"),
    ("f08b42a2-4e75-11ea-9643-03698ef1cfd6", "Cold"),
];

/// Every record and field definition of the simulated company.
#[derive(Debug)]
pub(crate) struct Store {
    tables: BTreeMap<Entity, Table>,
    pub fields: BTreeMap<Entity, Vec<FieldDef>>,
    /// Drives mutation faults, custom-field keys and lead ids, deterministically for a seed.
    pub rng: StdRng,
    next_field_id: u64,
}

impl Store {
    pub(crate) fn new(rng: StdRng) -> Store {
        let tables = Entity::ALL
            .into_iter()
            .map(|entity| {
                let first = match entity {
                    Entity::User => 1,
                    Entity::Person => 101,
                    Entity::Organization => 11,
                    Entity::Deal => 51,
                    Entity::Note => 1_001,
                    Entity::Activity => 2_001,
                    Entity::Lead => 0,
                };
                (entity, Table::new(first))
            })
            .collect();
        let fields = Entity::ALL
            .into_iter()
            .filter(|e| e.has_fields())
            .map(|e| (e, initial_fields(e)))
            .collect();
        Store {
            tables,
            fields,
            rng,
            next_field_id: 30_000,
        }
    }

    /// The table of `entity`.
    ///
    /// # Panics
    /// Only on a broken invariant: every entity has a table from [`Store::new`].
    pub(crate) fn table(&self, entity: Entity) -> &Table {
        self.tables.get(&entity).expect("every entity has a table")
    }

    pub(crate) fn table_mut(&mut self, entity: Entity) -> &mut Table {
        self.tables
            .get_mut(&entity)
            .expect("every entity has a table")
    }

    /// The custom fields of `entity`.
    pub(crate) fn custom_fields(&self, entity: Entity) -> impl Iterator<Item = &FieldDef> {
        self.fields
            .get(&entity)
            .into_iter()
            .flatten()
            .filter(|f| f.custom)
    }

    /// Defines a custom field; returns its hash key.
    pub(crate) fn add_custom_field(
        &mut self,
        entity: Entity,
        name: &str,
        field_type: &str,
        options: &[&str],
        add_time: DateTime<Utc>,
    ) -> String {
        let key = hash_key(&mut self.rng);
        let id = self.next_field_id;
        self.next_field_id += 1;
        let options = options
            .iter()
            .enumerate()
            .map(|(n, label)| (id * 10 + n as u64, (*label).to_owned()))
            .collect();
        self.fields.entry(entity).or_default().push(FieldDef {
            id,
            key: key.clone(),
            name: name.to_owned(),
            field_type: field_type.to_owned(),
            options,
            custom: true,
            mandatory: false,
            add_time,
        });
        key
    }

    /// Appends a record with these values, dated `add_time`/`update_time`; returns its id.
    pub(crate) fn push(
        &mut self,
        entity: Entity,
        data: Map<String, Value>,
        add_time: DateTime<Utc>,
        update_time: DateTime<Utc>,
    ) -> String {
        let (id, num) = if entity.uuid_ids() {
            let bytes: [u8; 16] = self.rng.r#gen();
            let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
            (uuid.to_string(), 0)
        } else {
            let table = self.table_mut(entity);
            let num = table.next_num;
            table.next_num += 1;
            (num.to_string(), num)
        };
        let table = self.table_mut(entity);
        table.by_id.insert(id.clone(), table.rows.len());
        table.rows.push(Row {
            id: id.clone(),
            num,
            data,
            add_time: add_time.trunc_subsecs(0),
            update_time: update_time.trunc_subsecs(0),
            deleted: false,
        });
        id
    }

    /// Creates a record from a v1 write body; returns its id.
    pub(crate) fn create(
        &mut self,
        entity: Entity,
        body: &Map<String, Value>,
    ) -> Result<String, ApiError> {
        let mut data = defaults(entity);
        let changes = self.validate(entity, body)?;
        data.extend(changes);
        finish(entity, &mut data, None)?;
        let instant = now();
        let add_time = body
            .get("add_time")
            .and_then(Value::as_str)
            .and_then(parse_time)
            .unwrap_or(instant);
        Ok(self.push(entity, data, add_time, instant))
    }

    /// Updates a live record from a v1 `PUT` (or leads `PATCH`) body.
    pub(crate) fn update(
        &mut self,
        entity: Entity,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        let idx = self.writable_row(entity, id)?;
        let previous = self.table(entity).rows[idx].data.clone();
        let changes = self.validate(entity, body)?;
        let mut data = previous.clone();
        data.extend(changes);
        finish(entity, &mut data, Some(&previous))?;
        let row = &mut self.table_mut(entity).rows[idx];
        row.data = data;
        row.update_time = now();
        Ok(())
    }

    /// Deletes a live record.
    pub(crate) fn delete(&mut self, entity: Entity, id: &str) -> Result<(), ApiError> {
        let idx = self.writable_row(entity, id)?;
        self.mark_deleted(entity, idx, now());
        Ok(())
    }

    pub(crate) fn mark_deleted(&mut self, entity: Entity, idx: usize, instant: DateTime<Utc>) {
        let row = &mut self.table_mut(entity).rows[idx];
        row.deleted = true;
        row.update_time = instant.trunc_subsecs(0);
    }

    /// The row index of a record a write may touch: 404 when unknown (or hard-deleted),
    /// 410 when a soft-deleted record is written again.
    fn writable_row(&self, entity: Entity, id: &str) -> Result<usize, ApiError> {
        let table = self.table(entity);
        let idx = table
            .position(id)
            .ok_or(ApiError::NotFound(entity.title()))?;
        if table.rows[idx].deleted {
            return Err(if entity.soft_deletes() {
                ApiError::Gone(entity.title())
            } else {
                ApiError::NotFound(entity.title())
            });
        }
        Ok(idx)
    }

    /// Checks a write body and converts its values; unknown keys are ignored, as Pipedrive does.
    fn validate(
        &self,
        entity: Entity,
        body: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ApiError> {
        let mut changes = Map::new();
        for (key, kind) in writable(entity) {
            if let Some(value) = body.get(*key) {
                changes.insert((*key).to_owned(), self.convert(key, *kind, value)?);
            }
        }
        for field in self.custom_fields(entity) {
            if let Some(value) = body.get(&field.key) {
                changes.insert(field.key.clone(), convert_custom(field, value)?);
            }
            for suffix in ["currency", "until"] {
                let companion = format!("{}_{suffix}", field.key);
                let applies = (suffix == "currency" && field.has_currency())
                    || (suffix == "until" && field.has_until());
                if let Some(value) = body.get(&companion).filter(|_| applies) {
                    let converted = match value {
                        Value::Null => Value::Null,
                        Value::String(text)
                            if suffix == "until"
                                && field.field_type == "daterange"
                                && !is_date(text) =>
                        {
                            return Err(ApiError::BadRequest(format!(
                                "Invalid date value for field `{companion}`"
                            )));
                        }
                        Value::String(text) => Value::String(text.clone()),
                        _ => return Err(invalid(&companion)),
                    };
                    changes.insert(companion, converted);
                }
            }
        }
        Ok(changes)
    }

    fn convert(&self, key: &str, kind: Kind, value: &Value) -> Result<Value, ApiError> {
        if value.is_null() {
            return Ok(match kind {
                Kind::Flag => Value::Bool(false),
                Kind::Contacts | Kind::LabelIds | Kind::LeadLabelIds => json!([]),
                _ => Value::Null,
            });
        }
        Ok(match kind {
            Kind::Text => match value {
                Value::String(text) => Value::String(text.clone()),
                Value::Number(number) => Value::String(number.to_string()),
                _ => return Err(invalid(key)),
            },
            Kind::Number => exact_number_json(value).ok_or_else(|| invalid(key))?,
            Kind::Flag => match value {
                Value::Bool(flag) => Value::Bool(*flag),
                Value::Number(n) if n.as_u64() == Some(0) => Value::Bool(false),
                Value::Number(n) if n.as_u64() == Some(1) => Value::Bool(true),
                Value::String(s) if s == "0" || s == "false" => Value::Bool(false),
                Value::String(s) if s == "1" || s == "true" => Value::Bool(true),
                _ => return Err(invalid(key)),
            },
            Kind::Date => match value.as_str() {
                Some(text) if is_date(text) => Value::String(text.to_owned()),
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "Invalid date value for field `{key}`"
                    )));
                }
            },
            Kind::Time => match value.as_str() {
                Some(text) if parse_hhmm(text) => Value::String(text[..5].to_owned()),
                _ => return Err(invalid(key)),
            },
            Kind::Stamp => match value.as_str().and_then(parse_time) {
                Some(instant) => Value::String(v1_time(instant)),
                None => return Err(invalid(key)),
            },
            Kind::Ref(target) => {
                let id = match value {
                    Value::Number(n) => n.as_u64().map(|n| n.to_string()),
                    Value::String(s) => Some(s.clone()),
                    Value::Object(map) => map
                        .get("value")
                        .and_then(Value::as_u64)
                        .map(|n| n.to_string()),
                    _ => None,
                }
                .ok_or_else(|| invalid(key))?;
                let row = self
                    .table(target)
                    .live(&id)
                    .ok_or(ApiError::BadRequest(format!(
                        "{} with id {id} not found",
                        target.title()
                    )))?;
                if target.uuid_ids() {
                    Value::String(row.id.clone())
                } else {
                    json!(row.num)
                }
            }
            Kind::Visible => {
                let text = match value {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.clone(),
                    _ => return Err(invalid(key)),
                };
                if !["1", "3", "5", "7"].contains(&text.as_str()) {
                    return Err(ApiError::BadRequest(format!(
                        "Invalid value for field `{key}`: {text}"
                    )));
                }
                Value::String(text)
            }
            Kind::LabelIds => {
                let ids: Vec<u64> = list(value)
                    .iter()
                    .map(|v| number(v).filter(|n| n.fract() == 0.0).map(|n| n as u64))
                    .collect::<Option<_>>()
                    .ok_or_else(|| invalid(key))?;
                if let Some(bad) = ids
                    .iter()
                    .find(|id| !LABELS.iter().any(|(known, _)| known == *id))
                {
                    return Err(ApiError::BadRequest(format!(
                        "Label with id {bad} not found"
                    )));
                }
                json!(ids)
            }
            Kind::LeadLabelIds => {
                let ids: Vec<String> = list(value)
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or_else(|| invalid(key))?;
                if let Some(bad) = ids
                    .iter()
                    .find(|id| !LEAD_LABELS.iter().any(|(known, _)| known == id))
                {
                    return Err(ApiError::BadRequest(format!(
                        "Lead label with id {bad} not found"
                    )));
                }
                json!(ids)
            }
            Kind::Contacts => contacts(value).ok_or_else(|| invalid(key))?,
            Kind::Choice(choices) => match value.as_str() {
                Some(text) if choices.contains(&text) => Value::String(text.to_owned()),
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "Invalid value for field `{key}`"
                    )));
                }
            },
            Kind::LeadValue => {
                let amount = value.get("amount").and_then(exact_number_json);
                let currency = value.get("currency").and_then(Value::as_str);
                match (amount, currency) {
                    (Some(amount), Some(currency)) => {
                        json!({"amount": amount, "currency": currency})
                    }
                    _ => return Err(ApiError::BadRequest(
                        "Validation failed: value: Must be an object with `amount` and `currency`"
                            .into(),
                    )),
                }
            }
            Kind::Stage => {
                let id = number(value)
                    .map(|n| n as u64)
                    .ok_or_else(|| invalid(key))?;
                if !STAGES.iter().any(|s| s.id == id) {
                    return Err(ApiError::BadRequest(format!(
                        "Stage with id {id} not found"
                    )));
                }
                json!(id)
            }
            Kind::Pipeline => {
                let id = number(value)
                    .map(|n| n as u64)
                    .ok_or_else(|| invalid(key))?;
                if !PIPELINES.iter().any(|p| p.id == id) {
                    return Err(ApiError::BadRequest(format!(
                        "Pipeline with id {id} not found"
                    )));
                }
                json!(id)
            }
        })
    }
}

fn invalid(key: &str) -> ApiError {
    ApiError::BadRequest(format!("Invalid value for field `{key}`"))
}

/// A number given as a JSON number or a numeric string.
pub(crate) fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

/// A number given as a JSON number or a numeric string, stored as Pipedrive keeps it: every
/// digit of the value, whole values without a fraction (`1200`, not `1200.0`).
fn exact_number_json(value: &Value) -> Option<Value> {
    let amount = match value {
        Value::Number(number) => crate::decimal::parse(number),
        Value::String(text) => crate::decimal::parse_text(text),
        _ => None,
    }?;
    Some(crate::decimal::json(amount))
}

/// A number as JavaScript prints it: whole values without a fraction (`1200`, not `1200.0`).
pub(crate) fn number_json(number: f64) -> Value {
    if number.fract() == 0.0 && number.abs() < 9.0e15 {
        json!(number as i64)
    } else {
        json!(number)
    }
}

/// A list given as an array, a comma-separated string or a single value.
fn list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::String(text) if text.trim().is_empty() => Vec::new(),
        Value::String(text) => text
            .split(',')
            .map(|s| Value::String(s.trim().to_owned()))
            .collect(),
        other => vec![other.clone()],
    }
}

fn parse_hhmm(text: &str) -> bool {
    let bytes = text.as_bytes();
    (bytes.len() == 5 || bytes.len() == 8)
        && chrono::NaiveTime::parse_from_str(&text[..5], "%H:%M").is_ok()
}

/// Normalises an email or phone input to `[{value, primary, label}]`; the first entry is primary
/// unless one says otherwise.
fn contacts(value: &Value) -> Option<Value> {
    let items: Vec<Value> = match value {
        Value::String(text) if text.is_empty() => Vec::new(),
        Value::String(_) => vec![value.clone()],
        Value::Array(items) => items.clone(),
        _ => return None,
    };
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        let (text, primary, label) = match item {
            Value::String(text) => (text.clone(), None, None),
            Value::Object(map) => (
                map.get("value")?.as_str()?.to_owned(),
                map.get("primary").and_then(|p| match p {
                    Value::Bool(flag) => Some(*flag),
                    Value::String(s) => Some(s == "true"),
                    _ => None,
                }),
                map.get("label").and_then(Value::as_str).map(str::to_owned),
            ),
            _ => return None,
        };
        out.push((text, primary, label));
    }
    let any_primary = out.iter().any(|(_, primary, _)| *primary == Some(true));
    Some(Value::Array(
        out.into_iter()
            .enumerate()
            .map(|(idx, (text, primary, label))| {
                json!({
                    "label": label.unwrap_or_else(|| "work".to_owned()),
                    "value": text,
                    "primary": primary.unwrap_or(!any_primary && idx == 0),
                })
            })
            .collect(),
    ))
}

/// Checks and converts a custom-field value.
fn convert_custom(field: &FieldDef, value: &Value) -> Result<Value, ApiError> {
    if value.is_null() || value.as_str() == Some("") {
        return Ok(Value::Null);
    }
    let bad = || {
        ApiError::BadRequest(format!(
            "Invalid value for custom field `{}` ({})",
            field.name, field.field_type
        ))
    };
    Ok(match field.field_type.as_str() {
        "double" | "monetary" => exact_number_json(value).ok_or_else(bad)?,
        "date" | "daterange" => match value.as_str() {
            Some(text) if is_date(text) => Value::String(text.to_owned()),
            _ => return Err(bad()),
        },
        "enum" => {
            let id = number(value).map(|n| n as u64).ok_or_else(bad)?;
            if !field.options.iter().any(|(known, _)| *known == id) {
                return Err(ApiError::Unprocessable(format!(
                    "Option with id {id} does not exist for field `{}`",
                    field.name
                )));
            }
            Value::String(id.to_string())
        }
        "set" => {
            let mut ids = Vec::new();
            for item in list(value) {
                let id = number(&item).map(|n| n as u64).ok_or_else(bad)?;
                if !field.options.iter().any(|(known, _)| *known == id) {
                    return Err(ApiError::Unprocessable(format!(
                        "Option with id {id} does not exist for field `{}`",
                        field.name
                    )));
                }
                ids.push(id.to_string());
            }
            Value::String(ids.join(","))
        }
        "user" | "org" | "people" => json!(number(value).map(|n| n as u64).ok_or_else(bad)?),
        _ => match value {
            Value::String(text) => Value::String(text.clone()),
            Value::Number(n) => Value::String(n.to_string()),
            _ => return Err(bad()),
        },
    })
}

/// The values a new record starts with before its body is applied.
fn defaults(entity: Entity) -> Map<String, Value> {
    let value = match entity {
        Entity::Person => {
            json!({"owner_id": 1, "org_id": null, "email": [], "phone": [], "label_ids": [], "visible_to": "3"})
        }
        Entity::Organization => {
            json!({"owner_id": 1, "address": null, "label_ids": [], "visible_to": "3"})
        }
        Entity::Deal => {
            json!({"value": 0, "currency": "USD", "user_id": 1, "person_id": null, "org_id": null,
            "pipeline_id": 1, "stage_id": 1, "status": "open", "probability": null, "lost_reason": null,
            "expected_close_date": null, "label": null, "visible_to": "3"})
        }
        Entity::Lead => json!({"owner_id": 1, "creator_id": 1, "label_ids": [], "person_id": null,
            "organization_id": null, "value": null, "expected_close_date": null, "visible_to": "3",
            "was_seen": false, "is_archived": false, "source_name": "API"}),
        Entity::Note => {
            json!({"deal_id": null, "person_id": null, "org_id": null, "lead_id": null, "user_id": 1,
            "pinned_to_deal_flag": false, "pinned_to_person_flag": false,
            "pinned_to_organization_flag": false, "pinned_to_lead_flag": false})
        }
        Entity::Activity => {
            json!({"type": "call", "done": false, "user_id": 1, "due_date": null, "due_time": "",
            "duration": "", "deal_id": null, "person_id": null, "org_id": null, "lead_id": null, "note": null,
            "public_description": null, "location": null, "busy_flag": false})
        }
        Entity::User => json!({}),
    };
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Required fields, derived values and cross-field rules, after a body is applied.
fn finish(
    entity: Entity,
    data: &mut Map<String, Value>,
    previous: Option<&Map<String, Value>>,
) -> Result<(), ApiError> {
    let text = |data: &Map<String, Value>, key: &str| {
        data.get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    match entity {
        Entity::Person => {
            let name = text(data, "name");
            let name_changed = previous.is_none_or(|p| p.get("name") != data.get("name"));
            if name.trim().is_empty() {
                let first = text(data, "first_name");
                let last = text(data, "last_name");
                let joined = format!("{first} {last}").trim().to_owned();
                if joined.is_empty() {
                    return Err(ApiError::BadRequest("Name must be given.".into()));
                }
                data.insert("name".into(), Value::String(joined));
            } else if name_changed && (previous.is_some() || !data.contains_key("first_name")) {
                let (first, last) = name.split_once(' ').unwrap_or((name.as_str(), ""));
                data.insert("first_name".into(), json!(first));
                data.insert(
                    "last_name".into(),
                    json!(if last.is_empty() {
                        Value::Null
                    } else {
                        json!(last)
                    }),
                );
            }
        }
        Entity::Organization => {
            if text(data, "name").trim().is_empty() {
                return Err(ApiError::BadRequest("Name must be given.".into()));
            }
        }
        Entity::Deal => {
            if text(data, "title").trim().is_empty() {
                return Err(ApiError::BadRequest("Title must be given.".into()));
            }
            let pipeline_id = data.get("pipeline_id").and_then(Value::as_u64).unwrap_or(1);
            let stage_id = data.get("stage_id").and_then(Value::as_u64).unwrap_or(1);
            let stage_pipeline = STAGES
                .iter()
                .find(|s| s.id == stage_id)
                .map_or(1, |s| s.pipeline_id);
            let stage_given = previous.is_none_or(|p| p.get("stage_id") != data.get("stage_id"));
            if stage_given {
                data.insert("pipeline_id".into(), json!(stage_pipeline));
            } else if stage_pipeline != pipeline_id {
                let first = STAGES
                    .iter()
                    .find(|s| s.pipeline_id == pipeline_id)
                    .map_or(1, |s| s.id);
                data.insert("stage_id".into(), json!(first));
            }
            let status = text(data, "status");
            let old_status = previous.map(|p| {
                p.get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            });
            if old_status.as_deref() != Some(status.as_str()) {
                let stamp = json!(v1_time(now()));
                for key in ["won_time", "lost_time", "close_time"] {
                    data.entry(key.to_owned()).or_insert(Value::Null);
                }
                match status.as_str() {
                    "won" => {
                        data.insert("won_time".into(), stamp.clone());
                        data.insert("close_time".into(), stamp);
                    }
                    "lost" => {
                        data.insert("lost_time".into(), stamp.clone());
                        data.insert("close_time".into(), stamp);
                    }
                    _ => {}
                }
            }
            if previous.is_none_or(|p| p.get("stage_id") != data.get("stage_id")) {
                data.insert("stage_change_time".into(), json!(v1_time(now())));
            }
        }
        Entity::Lead => {
            if text(data, "title").trim().is_empty() {
                return Err(ApiError::BadRequest(
                    "Validation failed: title: Required".into(),
                ));
            }
            if data.get("person_id").is_none_or(Value::is_null)
                && data.get("organization_id").is_none_or(Value::is_null)
            {
                return Err(ApiError::BadRequest(
                    "A lead must be linked to a person or an organization (person_id or organization_id)".into(),
                ));
            }
        }
        Entity::Note => {
            if text(data, "content").trim().is_empty() {
                return Err(ApiError::BadRequest("Note content must be given.".into()));
            }
            let linked = ["deal_id", "person_id", "org_id", "lead_id"]
                .iter()
                .any(|key| data.get(*key).is_some_and(|v| !v.is_null()));
            if !linked {
                return Err(ApiError::BadRequest(
                    "Note must be attached to a deal, person, organization or lead.".into(),
                ));
            }
        }
        Entity::Activity => {
            if text(data, "subject").trim().is_empty() {
                let kind = text(data, "type");
                let name = ACTIVITY_TYPES
                    .iter()
                    .find(|(key, _)| *key == kind)
                    .map_or("Call", |(_, name)| name);
                data.insert("subject".into(), json!(name));
            }
            let done = data.get("done").and_then(Value::as_bool).unwrap_or(false);
            let was_done = previous
                .and_then(|p| p.get("done"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if done && !was_done {
                data.insert("marked_as_done_time".into(), json!(v1_time(now())));
            } else if !done {
                data.insert("marked_as_done_time".into(), json!(""));
            }
        }
        Entity::User => {}
    }
    Ok(())
}

/// The current instant with whole seconds, as Pipedrive stores times.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}
