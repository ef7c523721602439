//! The simulated portal's data: records by object type and numeric id, associations, property
//! definitions and owners, plus the rules for writing property values (validation and the
//! string normalisation HubSpot applies) and for rendering records as the objects API does.
//!
//! The store knows nothing about HTTP: handlers lock it, call these methods and turn the
//! returned [`PropertyError`]s into HubSpot error bodies.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::schema::{self, ObjectType, PropertyDef, PropertyType};

/// A record's property values by name. Seeded names borrow the static schema names, which keeps
/// seeding tens of thousands of records fast.
pub type Properties = BTreeMap<Cow<'static, str>, String>;

/// One stored CRM record. Every property value is a string, as the objects API serves it.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: u64,
    pub properties: Properties,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

/// One user who can own records.
#[derive(Debug, Clone)]
pub struct Owner {
    pub id: u64,
    pub user_id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub team: Option<(u64, &'static str)>,
}

impl Owner {
    /// The Owners API representation.
    pub fn to_json(&self) -> Value {
        let teams: Vec<Value> = self
            .team
            .iter()
            .map(|(id, name)| json!({"id": id.to_string(), "name": name, "primary": true}))
            .collect();
        json!({
            "id": self.id.to_string(),
            "email": self.email,
            "type": "PERSON",
            "firstName": self.first_name,
            "lastName": self.last_name,
            "userId": self.user_id,
            "userIdIncludingInactive": self.user_id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "archived": false,
            "teams": teams,
        })
    }
}

/// Why one property value was refused; `code` is HubSpot's error code (`PROPERTY_DOESNT_EXIST`…).
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyError {
    pub name: String,
    pub code: &'static str,
    pub message: String,
}

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteError {
    /// A contact with this email already exists.
    DuplicateEmail { existing_id: u64 },
    /// An association in the create body is invalid.
    Association(String),
    /// The record does not exist (or is archived).
    NotFound,
}

/// Formats a timestamp as HubSpot does: `2024-01-15T10:20:30.123Z`.
pub fn iso(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads a timestamp given as epoch milliseconds, an RFC 3339 string or a bare date.
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let millis: i64 = text.parse().ok()?;
        return Utc.timestamp_millis_opt(millis).single();
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

/// The data of one simulated portal.
pub struct Store {
    pub objects: BTreeMap<ObjectType, BTreeMap<u64, Record>>,
    pub properties: BTreeMap<ObjectType, Vec<PropertyDef>>,
    /// Both directions of every association: `(type, id) -> to type -> ids`.
    pub associations: HashMap<(ObjectType, u64), BTreeMap<ObjectType, BTreeSet<u64>>>,
    pub owners: Vec<Owner>,
    /// Lowercased email -> id, for non-archived contacts.
    pub emails: HashMap<String, u64>,
    pub next_id: u64,
    /// Drives the records that mutation faults insert and archive.
    pub rng: StdRng,
}

impl Store {
    /// An empty portal with the built-in and seeded custom property definitions.
    pub fn new(rng: StdRng) -> Store {
        Store {
            objects: ObjectType::ALL
                .into_iter()
                .map(|object_type| (object_type, BTreeMap::new()))
                .collect(),
            properties: ObjectType::ALL
                .into_iter()
                .map(|object_type| (object_type, schema::property_definitions(object_type)))
                .collect(),
            associations: HashMap::new(),
            owners: Vec::new(),
            emails: HashMap::new(),
            next_id: 1001,
            rng,
        }
    }

    pub fn records(&self, object_type: ObjectType) -> &BTreeMap<u64, Record> {
        self.objects
            .get(&object_type)
            .expect("every object type has a record map")
    }

    fn records_mut(&mut self, object_type: ObjectType) -> &mut BTreeMap<u64, Record> {
        self.objects
            .get_mut(&object_type)
            .expect("every object type has a record map")
    }

    pub fn definitions(&self, object_type: ObjectType) -> &[PropertyDef] {
        self.properties
            .get(&object_type)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub fn definition(&self, object_type: ObjectType, name: &str) -> Option<&PropertyDef> {
        self.definitions(object_type)
            .iter()
            .find(|definition| definition.name == name)
    }

    /// A live (non-archived) record.
    pub fn live(&self, object_type: ObjectType, id: u64) -> Option<&Record> {
        self.records(object_type)
            .get(&id)
            .filter(|record| record.archived_at.is_none())
    }

    /// Adds a seeded or generated record as is (no validation), assigning the next id.
    pub fn insert_raw(
        &mut self,
        object_type: ObjectType,
        mut properties: Properties,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        properties.insert("hs_object_id".into(), id.to_string());
        properties.insert(object_type.create_date_property().into(), iso(created_at));
        set_modified(object_type, &mut properties, updated_at);
        if object_type == ObjectType::Contacts
            && let Some(email) = properties.get("email").filter(|email| !email.is_empty())
        {
            self.emails.insert(email.to_lowercase(), id);
        }
        self.records_mut(object_type).insert(
            id,
            Record {
                id,
                properties,
                created_at,
                updated_at,
                archived_at: None,
            },
        );
        id
    }

    /// Sets a property of a stored record as is (no validation); `false` when there is no such
    /// record.
    pub fn plant(&mut self, object_type: ObjectType, id: u64, name: &str, value: &str) -> bool {
        let Some(record) = self.records_mut(object_type).get_mut(&id) else {
            return false;
        };
        record
            .properties
            .insert(Cow::Owned(name.to_owned()), value.to_owned());
        true
    }

    /// Links two records in both directions.
    pub fn associate(&mut self, from: ObjectType, from_id: u64, to: ObjectType, to_id: u64) {
        self.associations
            .entry((from, from_id))
            .or_default()
            .entry(to)
            .or_default()
            .insert(to_id);
        self.associations
            .entry((to, to_id))
            .or_default()
            .entry(from)
            .or_default()
            .insert(from_id);
    }

    /// Live records of `to` associated with `(from, id)`, ascending.
    pub fn associated(&self, from: ObjectType, id: u64, to: ObjectType) -> Vec<u64> {
        self.associations
            .get(&(from, id))
            .and_then(|by_type| by_type.get(&to))
            .map(|ids| {
                ids.iter()
                    .copied()
                    .filter(|to_id| self.live(to, *to_id).is_some())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Archives a live record; returns whether it was live.
    pub fn archive(&mut self, object_type: ObjectType, id: u64, now: DateTime<Utc>) -> bool {
        let Some(record) = self.records_mut(object_type).get_mut(&id) else {
            return false;
        };
        if record.archived_at.is_some() {
            return false;
        }
        record.archived_at = Some(now);
        let email = record
            .properties
            .get("email")
            .map(|email| email.to_lowercase());
        if object_type == ObjectType::Contacts
            && let Some(email) = email
            && self.emails.get(&email) == Some(&id)
        {
            self.emails.remove(&email);
        }
        true
    }

    /// Validates and normalises a `properties` object for a create or update.
    pub fn validate(
        &self,
        object_type: ObjectType,
        input: &Map<String, Value>,
    ) -> Result<BTreeMap<String, Option<String>>, Vec<PropertyError>> {
        let mut values = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, raw) in input {
            let Some(definition) = self.definition(object_type, name) else {
                errors.push(PropertyError {
                    name: name.clone(),
                    code: "PROPERTY_DOESNT_EXIST",
                    message: format!("Property \"{name}\" does not exist"),
                });
                continue;
            };
            if definition.read_only_value {
                errors.push(PropertyError {
                    name: name.clone(),
                    code: "READ_ONLY_VALUE",
                    message: format!(
                        "\"{name}\" is a read only property; its value cannot be set."
                    ),
                });
                continue;
            }
            match self.normalize(definition, raw) {
                Ok(value) => {
                    values.insert(name.clone(), value);
                }
                Err(error) => errors.push(error),
            }
        }
        if errors.is_empty() {
            Ok(values)
        } else {
            Err(errors)
        }
    }

    /// Turns one written value into its stored string (`None` clears the property).
    fn normalize(
        &self,
        definition: &PropertyDef,
        raw: &Value,
    ) -> Result<Option<String>, PropertyError> {
        let name = &definition.name;
        let text = match raw {
            Value::Null => return Ok(None),
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            Value::Array(_) | Value::Object(_) => {
                return Err(PropertyError {
                    name: name.clone(),
                    code: "INVALID_PROPERTY_VALUE",
                    message: format!("Property \"{name}\" must be a string"),
                });
            }
        };
        if text.is_empty() {
            return Ok(Some(text));
        }
        let invalid = |code: &'static str, message: String| PropertyError {
            name: name.clone(),
            code,
            message,
        };
        match definition.property_type {
            PropertyType::String => Ok(Some(text)),
            PropertyType::Number => match text.trim().parse::<f64>() {
                Ok(number) if number.is_finite() => Ok(Some(text.trim().to_owned())),
                _ => Err(invalid(
                    "INVALID_DECIMAL",
                    format!("{text} was not a valid number."),
                )),
            },
            PropertyType::Datetime => parse_instant(&text)
                .map(|instant| Some(iso(instant)))
                .ok_or_else(|| {
                    invalid(
                        "INVALID_DATE",
                        format!(
                            "{text} is not a valid datetime: use epoch milliseconds or ISO 8601."
                        ),
                    )
                }),
            PropertyType::Date => {
                let date =
                    parse_instant(&text).filter(|instant| instant.time() == chrono::NaiveTime::MIN);
                date.map(|instant| Some(instant.format("%Y-%m-%d").to_string()))
                    .ok_or_else(|| {
                        invalid(
                            "INVALID_DATE",
                            format!("{text} is not a valid date: use YYYY-MM-DD or midnight UTC in epoch milliseconds."),
                        )
                    })
            }
            PropertyType::Bool => match text.to_ascii_lowercase().as_str() {
                "true" | "false" => Ok(Some(text.to_ascii_lowercase())),
                _ => Err(invalid(
                    "INVALID_BOOLEAN",
                    format!("{text} was not a valid boolean (true or false)."),
                )),
            },
            PropertyType::Enumeration => {
                if definition.referenced_object_type == Some("OWNER") {
                    let known = text
                        .parse::<u64>()
                        .ok()
                        .is_some_and(|id| self.owners.iter().any(|owner| owner.id == id));
                    return if known {
                        Ok(Some(text))
                    } else {
                        Err(invalid(
                            "INVALID_OWNER_ID",
                            format!("{text} is not a valid owner id"),
                        ))
                    };
                }
                let allowed: Vec<&str> = definition
                    .options
                    .iter()
                    .map(|option| option.value.as_str())
                    .collect();
                let parts: Vec<&str> = if definition.field_type == "checkbox" {
                    text.split(';').collect()
                } else {
                    vec![text.as_str()]
                };
                match parts.iter().find(|part| !allowed.contains(part)) {
                    None => Ok(Some(text.clone())),
                    Some(bad) => Err(invalid(
                        "INVALID_OPTION",
                        format!(
                            "{bad} was not one of the allowed options: [{}]",
                            allowed.join(", ")
                        ),
                    )),
                }
            }
        }
    }

    /// Creates a record from validated values.
    pub fn create(
        &mut self,
        object_type: ObjectType,
        values: BTreeMap<String, Option<String>>,
        associations: &[(ObjectType, u64)],
        now: DateTime<Utc>,
    ) -> Result<u64, WriteError> {
        let mut properties: Properties = values
            .into_iter()
            .filter_map(|(name, value)| value.map(|value| (Cow::Owned(name), value)))
            .collect();
        if object_type == ObjectType::Contacts
            && let Some(email) = properties.get("email").filter(|email| !email.is_empty())
            && let Some(existing_id) = self.emails.get(&email.to_lowercase())
        {
            return Err(WriteError::DuplicateEmail {
                existing_id: *existing_id,
            });
        }
        for (to, to_id) in associations {
            if self.live(*to, *to_id).is_none() {
                return Err(WriteError::Association(format!(
                    "No {} with ID {to_id} exists",
                    to.singular()
                )));
            }
        }
        derive_calculated(object_type, &mut properties);
        let id = self.insert_raw(object_type, properties, now, now);
        for (to, to_id) in associations {
            self.associate(object_type, id, *to, *to_id);
        }
        Ok(id)
    }

    /// Applies validated values to a live record.
    pub fn update(
        &mut self,
        object_type: ObjectType,
        id: u64,
        values: BTreeMap<String, Option<String>>,
        now: DateTime<Utc>,
    ) -> Result<(), WriteError> {
        if self.live(object_type, id).is_none() {
            return Err(WriteError::NotFound);
        }
        if object_type == ObjectType::Contacts
            && let Some(Some(email)) = values.get("email")
            && let Some(existing_id) = self.emails.get(&email.to_lowercase())
            && *existing_id != id
        {
            return Err(WriteError::DuplicateEmail {
                existing_id: *existing_id,
            });
        }
        let record = self
            .records_mut(object_type)
            .get_mut(&id)
            .expect("checked live above");
        let old_email = record
            .properties
            .get("email")
            .map(|email| email.to_lowercase());
        for (name, value) in values {
            match value {
                Some(value) => record.properties.insert(Cow::Owned(name), value),
                None => record.properties.remove(name.as_str()),
            };
        }
        derive_calculated(object_type, &mut record.properties);
        set_modified(object_type, &mut record.properties, now);
        record.updated_at = now;
        let new_email = record
            .properties
            .get("email")
            .map(|email| email.to_lowercase());
        if object_type == ObjectType::Contacts && old_email != new_email {
            if let Some(old) = old_email {
                self.emails.remove(&old);
            }
            if let Some(new) = new_email.filter(|email| !email.is_empty()) {
                self.emails.insert(new, id);
            }
        }
        Ok(())
    }
}

/// Sets the last-modified properties of a record to `instant`.
fn set_modified(object_type: ObjectType, properties: &mut Properties, instant: DateTime<Utc>) {
    properties.insert(object_type.last_modified_property().into(), iso(instant));
    if object_type == ObjectType::Contacts {
        properties.insert("hs_lastmodifieddate".into(), iso(instant));
    }
}

/// Keeps calculated deal properties in step with the stage.
pub fn derive_calculated(object_type: ObjectType, properties: &mut Properties) {
    if object_type != ObjectType::Deals {
        return;
    }
    let stage = properties
        .get("dealstage")
        .and_then(|stage_id| schema::find_stage(stage_id));
    let is_closed = stage.is_some_and(|stage| stage.is_closed);
    let is_won = stage.is_some_and(|stage| stage.is_closed && stage.probability == "1.0");
    properties.insert("hs_is_closed".into(), is_closed.to_string());
    properties.insert("hs_is_closed_won".into(), is_won.to_string());
}

/// Which properties a response carries: the defaults plus the known requested names.
pub struct Selection {
    names: BTreeSet<String>,
}

impl Selection {
    /// Unknown requested names are dropped silently, as HubSpot does.
    pub fn new(store: &Store, object_type: ObjectType, requested: &[String]) -> Selection {
        let mut names: BTreeSet<String> = object_type
            .default_properties()
            .iter()
            .map(|name| (*name).to_owned())
            .collect();
        for name in requested {
            if store.definition(object_type, name).is_some() {
                names.insert(name.clone());
            }
        }
        Selection { names }
    }
}

/// Renders a record as the objects API does; `associations` lists the types to include.
pub fn render(
    store: &Store,
    object_type: ObjectType,
    record: &Record,
    selection: &Selection,
    associations: &[ObjectType],
) -> Value {
    let properties: Map<String, Value> = selection
        .names
        .iter()
        .map(|name| {
            let value = record
                .properties
                .get(name.as_str())
                .map_or(Value::Null, |value| Value::String(value.clone()));
            (name.clone(), value)
        })
        .collect();
    render_with(store, object_type, record, properties, associations)
}

/// Renders a record with every stored property (for the simulator handle).
pub fn render_full(store: &Store, object_type: ObjectType, record: &Record) -> Value {
    let properties: Map<String, Value> = record
        .properties
        .iter()
        .map(|(name, value)| (name.to_string(), Value::String(value.clone())))
        .collect();
    render_with(store, object_type, record, properties, &[])
}

fn render_with(
    store: &Store,
    object_type: ObjectType,
    record: &Record,
    properties: Map<String, Value>,
    associations: &[ObjectType],
) -> Value {
    let mut body = Map::new();
    body.insert("id".into(), Value::String(record.id.to_string()));
    body.insert("properties".into(), Value::Object(properties));
    body.insert("createdAt".into(), Value::String(iso(record.created_at)));
    body.insert("updatedAt".into(), Value::String(iso(record.updated_at)));
    body.insert("archived".into(), Value::Bool(record.archived_at.is_some()));
    if let Some(archived_at) = record.archived_at {
        body.insert("archivedAt".into(), Value::String(iso(archived_at)));
    }
    let mut linked = Map::new();
    for &to in associations {
        let ids = store.associated(object_type, record.id, to);
        if ids.is_empty() {
            continue;
        }
        let label = format!("{}_to_{}", object_type.singular(), to.singular());
        let results: Vec<Value> = ids
            .iter()
            .map(|id| json!({"id": id.to_string(), "type": label}))
            .collect();
        linked.insert(to.name().into(), json!({"results": results}));
    }
    if !linked.is_empty() {
        body.insert("associations".into(), Value::Object(linked));
    }
    Value::Object(body)
}
