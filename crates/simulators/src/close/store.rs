//! The organization's data: records of each table as Close renders them (JSON objects in
//! creation order), custom field definitions, statuses and the event log.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

pub(crate) const ORGANIZATION: &str = "orga_bog0WeN6OXBxaN867LEXwaisIuXTy9fbbryxDywmf6V";
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The table behind an object name, and the activity type it stands for.
pub(crate) fn table_of(object: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match object {
        "lead" => ("lead", None),
        "contact" => ("contact", None),
        "opportunity" => ("opportunity", None),
        "task" => ("task", None),
        "user" => ("user", None),
        "pipeline" => ("pipeline", None),
        "activity" => ("activity", None),
        "call" => ("activity", Some("Call")),
        "meeting" => ("activity", Some("Meeting")),
        "email" => ("activity", Some("Email")),
        "note" => ("activity", Some("Note")),
        _ => return None,
    })
}

fn prefix(table: &str) -> &'static str {
    match table {
        "lead" => "lead_",
        "contact" => "cont_",
        "opportunity" => "oppo_",
        "task" => "task_",
        "user" => "user_",
        "pipeline" => "pipe_",
        "status" => "stat_",
        "custom_field" => "cf_",
        "event" => "ev_",
        _ => "acti_",
    }
}

/// Close's times: microseconds and an explicit UTC offset.
pub(crate) fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, false)
}

pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|naive| naive.and_utc())
        })
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|day| day.and_hms_opt(0, 0, 0))
                .map(|naive| naive.and_utc())
        })
}

/// The event log's object type of a record.
pub(crate) fn object_type(table: &str, record: &Value) -> String {
    match table {
        "activity" => format!(
            "activity.{}",
            record["_type"].as_str().unwrap_or("note").to_lowercase()
        ),
        "task" => "task.lead".to_owned(),
        other => other.to_owned(),
    }
}

pub(crate) struct Store {
    pub rng: StdRng,
    /// The last time handed out: every write's time is after it, so `date_created` is unique.
    last: DateTime<Utc>,
    pub tables: HashMap<&'static str, Vec<Value>>,
    /// Custom field definitions by object (`lead`, `contact`, `opportunity`).
    pub custom_fields: HashMap<&'static str, Vec<Value>>,
    /// Lead statuses (`{id, label}`).
    pub lead_statuses: Vec<Value>,
    /// The event log, oldest first.
    pub events: Vec<Value>,
}

impl Store {
    pub fn new(rng: StdRng) -> Store {
        Store {
            rng,
            last: DateTime::<Utc>::MIN_UTC,
            tables: HashMap::new(),
            custom_fields: HashMap::new(),
            lead_statuses: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn new_id(&mut self, table: &str) -> String {
        let length = if matches!(table, "pipeline") { 22 } else { 43 };
        let body: String = (0..length)
            .map(|_| ALPHABET[self.rng.gen_range(0..ALPHABET.len())] as char)
            .collect();
        format!("{}{body}", prefix(table))
    }

    /// A time after every time handed out before (a millisecond later at least).
    pub fn tick(&mut self, wanted: Option<DateTime<Utc>>) -> DateTime<Utc> {
        let wanted = wanted.unwrap_or_else(Utc::now);
        let wanted = DateTime::from_timestamp_millis(wanted.timestamp_millis()).unwrap_or(wanted);
        let next = if wanted > self.last {
            wanted
        } else {
            self.last + chrono::Duration::milliseconds(1)
        };
        self.last = next;
        next
    }

    pub fn table(&self, table: &str) -> &[Value] {
        self.tables.get(table).map_or(&[], Vec::as_slice)
    }

    pub fn ids(&self, object: &str) -> Vec<String> {
        let Some((table, kind)) = table_of(object) else {
            return Vec::new();
        };
        self.table(table)
            .iter()
            .filter(|row| kind.is_none_or(|kind| row["_type"] == kind))
            .filter_map(|row| row["id"].as_str().map(str::to_owned))
            .collect()
    }

    pub fn find(&self, table: &str, id: &str) -> Option<&Value> {
        self.table(table).iter().find(|row| row["id"] == id)
    }

    pub fn find_mut(&mut self, table: &str, id: &str) -> Option<&mut Value> {
        self.tables
            .get_mut(table)?
            .iter_mut()
            .find(|row| row["id"] == id)
    }

    /// The record as Close answers it: a lead with its contacts and opportunities.
    pub fn render(&self, table: &str, row: &Value) -> Value {
        let mut out = row.clone();
        if table == "lead" {
            let id = &row["id"];
            out["contacts"] = Value::Array(
                self.table("contact")
                    .iter()
                    .filter(|contact| &contact["lead_id"] == id)
                    .cloned()
                    .collect(),
            );
            out["opportunities"] = Value::Array(
                self.table("opportunity")
                    .iter()
                    .filter(|opportunity| &opportunity["lead_id"] == id)
                    .cloned()
                    .collect(),
            );
        }
        out
    }

    /// Adds a record: id, times and organization filled in unless given (seeds give times).
    pub fn insert(&mut self, table: &'static str, mut record: Map<String, Value>) -> Value {
        let created = record
            .get("date_created")
            .and_then(Value::as_str)
            .and_then(parse_time);
        let created = self.tick(created);
        let updated = record
            .get("date_updated")
            .and_then(Value::as_str)
            .and_then(parse_time)
            .filter(|updated| *updated >= created)
            .unwrap_or(created);
        if !record.contains_key("id") {
            record.insert("id".to_owned(), json!(self.new_id(table)));
        }
        record.insert("organization_id".to_owned(), json!(ORGANIZATION));
        record.insert("date_created".to_owned(), json!(format_time(created)));
        record.insert("date_updated".to_owned(), json!(format_time(updated)));
        let record = Value::Object(record);
        self.tables.entry(table).or_default().push(record.clone());
        self.log(table, "created", &record, Some(record.clone()), Vec::new());
        record
    }

    /// Sets `changes` on a record and stamps it updated now.
    pub fn update(&mut self, table: &str, id: &str, changes: Map<String, Value>) -> Option<Value> {
        let now = self.tick(None);
        let row = self.find_mut(table, id)?;
        let changed: Vec<String> = changes
            .iter()
            .filter(|(key, value)| row.get(key.as_str()) != Some(value))
            .map(|(key, _)| key.clone())
            .collect();
        if let Value::Object(map) = row {
            for (key, value) in changes {
                if value.is_null() && key.starts_with("custom.") {
                    map.remove(&key);
                } else {
                    map.insert(key, value);
                }
            }
            map.insert("date_updated".to_owned(), json!(format_time(now)));
        }
        let row = row.clone();
        self.log(table, "updated", &row, Some(row.clone()), changed);
        Some(row)
    }

    /// Deletes a record (a lead takes its contacts, opportunities, activities and tasks
    /// along); `false` when there is none.
    pub fn delete(&mut self, table: &str, id: &str) -> bool {
        if self.find(table, id).is_none() {
            return false;
        }
        // The event's time is now (after every time handed out).
        self.tick(None);
        let Some(rows) = self.tables.get_mut(table) else {
            return false;
        };
        let Some(index) = rows.iter().position(|row| row["id"] == id) else {
            return false;
        };
        let row = rows.remove(index);
        self.log(table, "deleted", &row, None, Vec::new());
        if table == "lead" {
            for child in ["contact", "opportunity", "activity", "task"] {
                let ids: Vec<String> = self
                    .table(child)
                    .iter()
                    .filter(|record| record["lead_id"] == id)
                    .filter_map(|record| record["id"].as_str().map(str::to_owned))
                    .collect();
                for child_id in ids {
                    self.delete(child, &child_id);
                }
            }
        }
        true
    }

    fn log(
        &mut self,
        table: &str,
        action: &str,
        row: &Value,
        data: Option<Value>,
        changed: Vec<String>,
    ) {
        let now = format_time(self.last);
        let id = self.new_id("event");
        let lead_id = if table == "lead" {
            row["id"].clone()
        } else {
            row.get("lead_id").cloned().unwrap_or(Value::Null)
        };
        self.events.push(json!({
            "id": id,
            "date_created": now,
            "date_updated": now,
            "organization_id": ORGANIZATION,
            "user_id": null,
            "request_id": null,
            "api_key_id": null,
            "object_type": object_type(table, row),
            "object_id": row["id"],
            "lead_id": lead_id,
            "action": action,
            "changed_fields": changed,
            "meta": {},
            "data": data,
            "previous_data": {},
        }));
    }
}
