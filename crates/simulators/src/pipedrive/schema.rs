//! What the simulated company's data is made of: the entity kinds, their field definitions
//! (built-in and custom, as the `*Fields` endpoints list them), the activity types, pipelines
//! and stages, and the time formats Pipedrive writes.
//!
//! Custom fields are keyed by a 40-character hex hash, as in Pipedrive; a monetary field stores
//! its currency under `<key>_currency` and a date or time range its end under `<key>_until`.
//! Built-in fields use their plain names as keys.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rand::Rng;
use serde_json::{Value, json};

pub(crate) use crate::seed_epoch;

/// The company id every record carries.
pub(crate) const COMPANY_ID: u64 = 7_654_321;

/// One kind of record the simulator stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Entity {
    Person,
    Organization,
    Deal,
    Lead,
    Note,
    Activity,
    User,
}

impl Entity {
    pub(crate) const ALL: [Entity; 7] = [
        Entity::Person,
        Entity::Organization,
        Entity::Deal,
        Entity::Lead,
        Entity::Note,
        Entity::Activity,
        Entity::User,
    ];

    /// The entity of a path segment or handle name (`persons`, `deals`, …).
    pub(crate) fn parse_plural(name: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.plural() == name)
    }

    /// The entity of a `*Fields` path segment or custom-field entity name.
    pub(crate) fn parse_singular(name: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.singular() == name)
    }

    pub(crate) fn plural(self) -> &'static str {
        match self {
            Entity::Person => "persons",
            Entity::Organization => "organizations",
            Entity::Deal => "deals",
            Entity::Lead => "leads",
            Entity::Note => "notes",
            Entity::Activity => "activities",
            Entity::User => "users",
        }
    }

    pub(crate) fn singular(self) -> &'static str {
        match self {
            Entity::Person => "person",
            Entity::Organization => "organization",
            Entity::Deal => "deal",
            Entity::Lead => "lead",
            Entity::Note => "note",
            Entity::Activity => "activity",
            Entity::User => "user",
        }
    }

    /// The capitalised name used in error messages (`Person not found`).
    pub(crate) fn title(self) -> &'static str {
        match self {
            Entity::Person => "Person",
            Entity::Organization => "Organization",
            Entity::Deal => "Deal",
            Entity::Lead => "Lead",
            Entity::Note => "Note",
            Entity::Activity => "Activity",
            Entity::User => "User",
        }
    }

    /// Whether a deleted record stays readable (`active_flag: false`, deals `status: deleted`).
    pub(crate) fn soft_deletes(self) -> bool {
        matches!(self, Entity::Person | Entity::Organization | Entity::Deal)
    }

    /// Whether ids are UUIDs (leads) rather than integers.
    pub(crate) fn uuid_ids(self) -> bool {
        self == Entity::Lead
    }

    /// Whether the entity has a `*Fields` endpoint.
    pub(crate) fn has_fields(self) -> bool {
        matches!(
            self,
            Entity::Person | Entity::Organization | Entity::Deal | Entity::Activity
        )
    }
}

/// One field as a `*Fields` endpoint lists it.
#[derive(Debug, Clone)]
pub(crate) struct FieldDef {
    pub id: u64,
    pub key: String,
    pub name: String,
    pub field_type: String,
    /// `(id, label)` of an enum or set field.
    pub options: Vec<(u64, String)>,
    pub custom: bool,
    pub mandatory: bool,
    pub add_time: DateTime<Utc>,
}

impl FieldDef {
    /// Whether the field stores an end value under `<key>_until`.
    pub(crate) fn has_until(&self) -> bool {
        matches!(self.field_type.as_str(), "daterange" | "timerange")
    }

    /// Whether the field stores a currency under `<key>_currency`.
    pub(crate) fn has_currency(&self) -> bool {
        self.field_type == "monetary"
    }

    /// The field as `GET /{entity}Fields` lists it.
    pub(crate) fn to_json(&self, order_nr: usize) -> Value {
        let options = if matches!(self.field_type.as_str(), "enum" | "set") {
            Value::Array(
                self.options
                    .iter()
                    .map(|(id, label)| json!({"id": id, "label": label}))
                    .collect(),
            )
        } else {
            Value::Null
        };
        let stamp = v1_time(self.add_time);
        let mut field = json!({
            "id": self.id,
            "key": self.key,
            "name": self.name,
            "order_nr": order_nr,
            "field_type": self.field_type,
            "add_time": stamp,
            "update_time": stamp,
            "last_updated_by_user_id": 1,
            "active_flag": true,
            "edit_flag": self.custom,
            "index_visible_flag": true,
            "details_visible_flag": true,
            "add_visible_flag": self.custom || self.mandatory,
            "important_flag": false,
            "bulk_edit_allowed": self.key != "id",
            "searchable_flag": self.custom && self.field_type == "varchar",
            "filtering_allowed": true,
            "sortable_flag": true,
            "mandatory_flag": self.mandatory,
            "options": options,
        });
        let subfield = |suffix: &str, name: String, field_type: &str| json!({"key": format!("{}_{suffix}", self.key), "name": name, "field_type": field_type});
        let subfields = if self.has_currency() {
            vec![subfield(
                "currency",
                format!("Currency of {}", self.name),
                "varchar",
            )]
        } else if self.has_until() {
            let field_type = if self.field_type == "daterange" {
                "date"
            } else {
                "time"
            };
            vec![subfield(
                "until",
                format!("End of {}", self.name),
                field_type,
            )]
        } else {
            Vec::new()
        };
        if let Value::Object(map) = &mut field
            && !subfields.is_empty()
        {
            map.insert("subfields".into(), Value::Array(subfields));
        }
        field
    }
}

/// The built-in fields of `entity`: `(key, name, field_type, mandatory)`.
fn builtin_fields(entity: Entity) -> &'static [(&'static str, &'static str, &'static str, bool)] {
    match entity {
        Entity::Person => &[
            ("id", "ID", "int", false),
            ("name", "Name", "varchar", true),
            ("first_name", "First name", "varchar", false),
            ("last_name", "Last name", "varchar", false),
            ("org_id", "Organization", "org", false),
            ("owner_id", "Owner", "user", false),
            ("email", "Email", "varchar", false),
            ("phone", "Phone", "phone", false),
            ("label_ids", "Labels", "set", false),
            ("add_time", "Person created", "date", false),
            ("update_time", "Update time", "date", false),
            ("visible_to", "Visible to", "visible_to", false),
        ],
        Entity::Organization => &[
            ("id", "ID", "int", false),
            ("name", "Name", "varchar", true),
            ("owner_id", "Owner", "user", false),
            ("address", "Address", "address", false),
            ("label_ids", "Labels", "set", false),
            ("add_time", "Organization created", "date", false),
            ("update_time", "Update time", "date", false),
            ("visible_to", "Visible to", "visible_to", false),
        ],
        Entity::Deal => &[
            ("id", "ID", "int", false),
            ("title", "Title", "varchar", true),
            ("value", "Value", "monetary", false),
            ("person_id", "Contact person", "people", false),
            ("org_id", "Organization", "org", false),
            ("user_id", "Owner", "user", false),
            ("stage_id", "Stage", "enum", false),
            ("status", "Status", "enum", false),
            ("expected_close_date", "Expected close date", "date", false),
            ("probability", "Probability", "double", false),
            ("lost_reason", "Lost reason", "varchar", false),
            ("add_time", "Deal created", "date", false),
            ("update_time", "Update time", "date", false),
            ("won_time", "Won time", "date", false),
            ("lost_time", "Lost time", "date", false),
            ("close_time", "Deal closed on", "date", false),
            ("visible_to", "Visible to", "visible_to", false),
        ],
        Entity::Activity => &[
            ("id", "ID", "int", false),
            ("subject", "Subject", "varchar", true),
            ("type", "Type", "enum", true),
            ("due_date", "Due date", "date", false),
            ("due_time", "Due time", "time", false),
            ("duration", "Duration", "time", false),
            ("done", "Done", "enum", false),
            ("user_id", "Assigned to user", "user", false),
            ("deal_id", "Deal", "double", false),
            ("person_id", "Contact person", "people", false),
            ("org_id", "Organization", "org", false),
            ("note", "Note", "text", false),
            ("location", "Location", "address", false),
            ("add_time", "Add time", "date", false),
            ("update_time", "Update time", "date", false),
        ],
        Entity::Lead | Entity::Note | Entity::User => &[],
    }
}

/// The field list of `entity` before any custom field is added.
pub(crate) fn initial_fields(entity: Entity) -> Vec<FieldDef> {
    let base_id = match entity {
        Entity::Person => 9_000,
        Entity::Organization => 4_000,
        Entity::Deal => 12_000,
        Entity::Activity => 15_000,
        _ => 20_000,
    };
    builtin_fields(entity)
        .iter()
        .enumerate()
        .map(|(idx, (key, name, field_type, mandatory))| {
            let options: Vec<(u64, String)> = match (entity, *key) {
                (Entity::Deal, "status") => ["open", "won", "lost", "deleted"]
                    .iter()
                    .enumerate()
                    .map(|(n, s)| (n as u64 + 1, (*s).to_owned()))
                    .collect(),
                (Entity::Deal, "stage_id") => {
                    STAGES.iter().map(|s| (s.id, s.name.to_owned())).collect()
                }
                (Entity::Activity, "type") => ACTIVITY_TYPES
                    .iter()
                    .enumerate()
                    .map(|(n, (key, _))| (n as u64 + 1, (*key).to_owned()))
                    .collect(),
                (Entity::Activity, "done") => vec![(0, "To do".into()), (1, "Done".into())],
                (_, "label_ids") => LABELS
                    .iter()
                    .map(|(id, label)| (*id, (*label).to_owned()))
                    .collect(),
                _ => Vec::new(),
            };
            FieldDef {
                id: base_id + idx as u64,
                key: (*key).to_owned(),
                name: (*name).to_owned(),
                field_type: (*field_type).to_owned(),
                options,
                custom: false,
                mandatory: *mandatory,
                add_time: seed_epoch() - chrono::Duration::days(900),
            }
        })
        .collect()
}

/// A new 40-character lowercase hex key for a custom field.
pub(crate) fn hash_key(rng: &mut impl Rng) -> String {
    let bytes: [u8; 20] = rng.r#gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Person and organization labels (`label_ids`).
pub(crate) const LABELS: &[(u64, &str)] = &[
    (1, "Customer"),
    (2, "Hot lead"),
    (3, "Warm lead"),
    (4, "Cold lead"),
];

/// Activity types: `(key_string, name)`.
pub(crate) const ACTIVITY_TYPES: &[(&str, &str)] = &[
    ("call", "Call"),
    ("meeting", "Meeting"),
    ("task", "Task"),
    ("deadline", "Deadline"),
    ("email", "Email"),
    ("lunch", "Lunch"),
];

/// One pipeline.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pub id: u64,
    pub name: &'static str,
}

/// One deal stage.
#[derive(Debug)]
pub(crate) struct Stage {
    pub id: u64,
    pub pipeline_id: u64,
    pub name: &'static str,
    pub probability: u64,
}

pub(crate) const PIPELINES: &[Pipeline] = &[
    Pipeline {
        id: 1,
        name: "Sales",
    },
    Pipeline {
        id: 2,
        name: "Partnerships",
    },
];

pub(crate) const STAGES: &[Stage] = &[
    Stage {
        id: 1,
        pipeline_id: 1,
        name: "Qualified",
        probability: 10,
    },
    Stage {
        id: 2,
        pipeline_id: 1,
        name: "Contact Made",
        probability: 20,
    },
    Stage {
        id: 3,
        pipeline_id: 1,
        name: "Demo Scheduled",
        probability: 40,
    },
    Stage {
        id: 4,
        pipeline_id: 1,
        name: "Proposal Made",
        probability: 60,
    },
    Stage {
        id: 5,
        pipeline_id: 1,
        name: "Negotiations Started",
        probability: 80,
    },
    Stage {
        id: 6,
        pipeline_id: 2,
        name: "Intro",
        probability: 10,
    },
    Stage {
        id: 7,
        pipeline_id: 2,
        name: "Évaluation 🤝",
        probability: 30,
    },
    Stage {
        id: 8,
        pipeline_id: 2,
        name: "Contract",
        probability: 70,
    },
    Stage {
        id: 9,
        pipeline_id: 2,
        name: "",
        probability: 90,
    },
];

/// The pipeline as `GET /pipelines` lists it.
pub(crate) fn pipeline_json(pipeline: &Pipeline) -> Value {
    let stamp = v1_time(seed_epoch() - chrono::Duration::days(900));
    json!({
        "id": pipeline.id,
        "name": pipeline.name,
        "url_title": pipeline.name.to_lowercase(),
        "order_nr": pipeline.id - 1,
        "active": true,
        "deal_probability": true,
        "add_time": stamp,
        "update_time": stamp,
        "selected": pipeline.id == 1,
    })
}

/// The stage as `GET /stages` lists it.
pub(crate) fn stage_json(stage: &Stage) -> Value {
    let stamp = v1_time(seed_epoch() - chrono::Duration::days(900));
    let pipeline_name = PIPELINES
        .iter()
        .find(|p| p.id == stage.pipeline_id)
        .map_or("", |p| p.name);
    json!({
        "id": stage.id,
        "order_nr": STAGES.iter().filter(|s| s.pipeline_id == stage.pipeline_id && s.id < stage.id).count() + 1,
        "name": stage.name,
        "active_flag": true,
        "deal_probability": stage.probability,
        "pipeline_id": stage.pipeline_id,
        "rotten_flag": false,
        "rotten_days": null,
        "add_time": stamp,
        "update_time": stamp,
        "pipeline_name": pipeline_name,
        "pipeline_deal_probability": true,
    })
}

/// Formats an instant as v1 does: `2024-01-15 10:20:30` (UTC).
pub(crate) fn v1_time(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Formats an instant as v2 does: RFC 3339 in UTC without fractions (`2024-01-15T10:20:30Z`).
pub(crate) fn v2_time(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Formats an instant as the Leads API does: RFC 3339 with milliseconds.
pub(crate) fn lead_time(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parses a v1 `YYYY-MM-DD HH:MM:SS` time, an RFC 3339 instant or a bare date.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(naive) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S") {
        return Some(naive.and_utc());
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|naive| naive.and_utc())
}

/// Whether `text` is a `YYYY-MM-DD` date.
pub(crate) fn is_date(text: &str) -> bool {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}
