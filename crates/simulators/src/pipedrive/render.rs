//! Stored rows as the API shows them: v1 objects (nested `owner_id`/`org_id` objects, custom
//! values under hash keys, `YYYY-MM-DD HH:MM:SS` times) and v2 objects (plain ids, RFC 3339
//! times, custom values grouped under `custom_fields`).
//!
//! Counters Pipedrive keeps on records (`notes_count`, `open_deals_count`, …) are sent as 0,
//! except `people_count` on organizations, which is computed.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::schema::{
    ACTIVITY_TYPES, COMPANY_ID, Entity, STAGES, lead_time, seed_epoch, v1_time, v2_time,
};
use super::store::{Row, Store};

/// What rendering a page needs besides the rows: live persons per organization.
pub(crate) struct RenderCtx<'a> {
    pub store: &'a Store,
    people: HashMap<u64, u64>,
}

impl<'a> RenderCtx<'a> {
    pub(crate) fn new(store: &'a Store) -> RenderCtx<'a> {
        let mut people = HashMap::new();
        for row in store.table(Entity::Person).live_rows() {
            if let Some(org) = row.u64("org_id") {
                *people.entry(org).or_insert(0) += 1;
            }
        }
        RenderCtx { store, people }
    }

    fn user(&self, id: Option<u64>) -> Option<&Row> {
        self.store.table(Entity::User).get(&id?.to_string())
    }

    /// A user as nested in v1 records. Pipedrive sends `has_pic` as 0/1 on persons and
    /// organizations but as a boolean on deals, and the spec says the same.
    fn user_ref(&self, id: Option<u64>) -> Value {
        self.user_ref_with(id, json!(0))
    }

    fn user_ref_with(&self, id: Option<u64>, has_pic: Value) -> Value {
        match self.user(id) {
            Some(user) => json!({
                "id": user.num,
                "name": user.str("name"),
                "email": user.str("email"),
                "has_pic": has_pic,
                "pic_hash": null,
                "active_flag": user.get("active_flag").as_bool().unwrap_or(true),
                "value": user.num,
            }),
            None => Value::Null,
        }
    }

    fn user_name(&self, id: Option<u64>) -> String {
        self.user(id)
            .map_or_else(String::new, |u| u.str("name").to_owned())
    }

    fn org(&self, id: Option<u64>) -> Option<&Row> {
        self.store.table(Entity::Organization).get(&id?.to_string())
    }

    fn org_ref(&self, id: Option<u64>) -> Value {
        match self.org(id) {
            Some(org) => json!({
                "name": org.str("name"),
                "people_count": self.people.get(&org.num).copied().unwrap_or(0),
                "owner_id": org.u64("owner_id"),
                "address": org.get("address"),
                "active_flag": !org.deleted,
                "cc_email": cc_email(),
                "value": org.num,
            }),
            None => Value::Null,
        }
    }

    fn person(&self, id: Option<u64>) -> Option<&Row> {
        self.store.table(Entity::Person).get(&id?.to_string())
    }

    fn person_ref(&self, id: Option<u64>) -> Value {
        match self.person(id) {
            Some(person) => json!({
                "active_flag": !person.deleted,
                "name": person.str("name"),
                "email": person.get("email"),
                "phone": person.get("phone"),
                "owner_id": person.u64("owner_id"),
                "value": person.num,
            }),
            None => Value::Null,
        }
    }

    fn deal(&self, id: Option<u64>) -> Option<&Row> {
        self.store.table(Entity::Deal).get(&id?.to_string())
    }

    /// The record as v1 `GET /{entity}/{id}` shows it.
    pub(crate) fn v1(&self, entity: Entity, row: &Row) -> Value {
        let mut out = match entity {
            Entity::Person => self.person_v1(row),
            Entity::Organization => self.org_v1(row),
            Entity::Deal => self.deal_v1(row),
            Entity::Lead => lead_v1(row),
            Entity::Note => self.note_v1(row),
            Entity::Activity => self.activity_v1(row),
            Entity::User => user_v1(row),
        };
        if let Value::Object(map) = &mut out {
            for field in self.store.custom_fields(entity) {
                map.insert(field.key.clone(), row.get(&field.key).clone());
                if field.has_currency() {
                    let key = format!("{}_currency", field.key);
                    map.insert(key.clone(), row.get(&key).clone());
                }
                if field.has_until() {
                    let key = format!("{}_until", field.key);
                    map.insert(key.clone(), row.get(&key).clone());
                }
            }
        }
        out
    }

    fn person_v1(&self, row: &Row) -> Value {
        let owner = row.u64("owner_id");
        let org = row.u64("org_id");
        let label_ids = row.get("label_ids").clone();
        let first_char = row
            .str("name")
            .chars()
            .next()
            .map(|c| c.to_lowercase().to_string());
        json!({
            "id": row.num,
            "company_id": COMPANY_ID,
            "owner_id": self.user_ref(owner),
            "org_id": self.org_ref(org),
            "name": row.str("name"),
            "first_name": row.get("first_name"),
            "last_name": row.get("last_name"),
            "email": row.get("email"),
            "phone": row.get("phone"),
            "add_time": v1_time(row.add_time),
            "update_time": v1_time(row.update_time),
            "active_flag": !row.deleted,
            "visible_to": row.get("visible_to"),
            "label": label_ids.get(0).cloned().unwrap_or(Value::Null),
            "label_ids": label_ids,
            "first_char": first_char,
            "org_name": self.org(org).map(|o| o.str("name").to_owned()),
            "owner_name": self.user_name(owner),
            "cc_email": cc_email(),
            "picture_id": null,
            "open_deals_count": 0,
            "closed_deals_count": 0,
            "won_deals_count": 0,
            "lost_deals_count": 0,
            "activities_count": 0,
            "done_activities_count": 0,
            "undone_activities_count": 0,
            "email_messages_count": 0,
            "files_count": 0,
            "notes_count": 0,
            "followers_count": 1,
            "next_activity_date": null,
            "next_activity_time": null,
            "next_activity_id": null,
            "last_activity_id": null,
            "last_activity_date": null,
            "last_incoming_mail_time": null,
            "last_outgoing_mail_time": null,
        })
    }

    fn org_v1(&self, row: &Row) -> Value {
        let owner = row.u64("owner_id");
        let label_ids = row.get("label_ids").clone();
        json!({
            "id": row.num,
            "company_id": COMPANY_ID,
            "owner_id": self.user_ref(owner),
            "name": row.str("name"),
            "active_flag": !row.deleted,
            "picture_id": null,
            "country_code": null,
            "first_char": row.str("name").chars().next().map(|c| c.to_lowercase().to_string()),
            "add_time": v1_time(row.add_time),
            "update_time": v1_time(row.update_time),
            "visible_to": row.get("visible_to"),
            "label": label_ids.get(0).cloned().unwrap_or(Value::Null),
            "label_ids": label_ids,
            "owner_name": self.user_name(owner),
            "cc_email": cc_email(),
            "people_count": self.people.get(&row.num).copied().unwrap_or(0),
            "address": row.get("address"),
            "address_locality": row.get("address_locality"),
            "address_country": row.get("address_country"),
            "address_formatted_address": row.get("address"),
            "open_deals_count": 0,
            "closed_deals_count": 0,
            "won_deals_count": 0,
            "lost_deals_count": 0,
            "activities_count": 0,
            "done_activities_count": 0,
            "undone_activities_count": 0,
            "email_messages_count": 0,
            "files_count": 0,
            "notes_count": 0,
            "followers_count": 1,
            "next_activity_date": null,
            "next_activity_time": null,
            "next_activity_id": null,
            "last_activity_id": null,
            "last_activity_date": null,
        })
    }

    fn deal_v1(&self, row: &Row) -> Value {
        let owner = row.u64("user_id");
        let person = row.u64("person_id");
        let org = row.u64("org_id");
        let status = if row.deleted {
            "deleted"
        } else {
            row.str("status")
        };
        let value = row.get("value").as_f64().unwrap_or(0.0);
        let stage = STAGES.iter().find(|s| Some(s.id) == row.u64("stage_id"));
        let probability = row.get("probability").as_f64();
        let weighted = value * probability.unwrap_or(100.0) / 100.0;
        let currency = row.str("currency");
        let mut out = json!({
            "id": row.num,
            "creator_user_id": self.user_ref_with(Some(row.u64("creator_user_id").unwrap_or(1)), json!(false)),
            "user_id": self.user_ref_with(owner, json!(false)),
            "person_id": self.person_ref(person),
            "org_id": self.org_ref(org),
            "stage_id": row.u64("stage_id"),
            "pipeline_id": row.u64("pipeline_id"),
            "title": row.str("title"),
            "value": row.get("value"),
            "currency": currency,
            "add_time": v1_time(row.add_time),
            "update_time": v1_time(row.update_time),
            "stage_change_time": row.get("stage_change_time"),
            "active": status == "open",
            "deleted": row.deleted,
            "status": status,
            "probability": row.get("probability"),
            "next_activity_date": null,
            "next_activity_time": null,
            "next_activity_id": null,
            "last_activity_id": null,
            "last_activity_date": null,
            "lost_reason": row.get("lost_reason"),
            "visible_to": row.get("visible_to"),
            "close_time": row.get("close_time"),
            "won_time": row.get("won_time"),
            "first_won_time": row.get("won_time"),
            "lost_time": row.get("lost_time"),
            "expected_close_date": row.get("expected_close_date"),
            "label": row.get("label"),
        });
        let extra = json!({
            "stage_order_nr": stage.map(|s| STAGES.iter().filter(|o| o.pipeline_id == s.pipeline_id && o.id < s.id).count() + 1),
            "person_name": self.person(person).map(|p| p.str("name").to_owned()),
            "org_name": self.org(org).map(|o| o.str("name").to_owned()),
            "owner_name": self.user_name(owner),
            "formatted_value": format_money(value, currency),
            "weighted_value": super::store::number_json(weighted),
            "formatted_weighted_value": format_money(weighted, currency),
            "weighted_value_currency": currency,
            "rotten_time": null,
            "cc_email": cc_email(),
            "org_hidden": false,
            "person_hidden": false,
            "products_count": 0,
            "files_count": 0,
            "notes_count": 0,
            "followers_count": 1,
            "email_messages_count": 0,
            "activities_count": 0,
            "done_activities_count": 0,
            "undone_activities_count": 0,
            "participants_count": usize::from(person.is_some()),
        });
        merge(&mut out, extra);
        out
    }

    fn note_v1(&self, row: &Row) -> Value {
        let user = self.user(row.u64("user_id"));
        let deal = self.deal(row.u64("deal_id"));
        let org = self.org(row.u64("org_id"));
        let person = self.person(row.u64("person_id"));
        json!({
            "id": row.num,
            "active_flag": !row.deleted,
            "add_time": v1_time(row.add_time),
            "update_time": v1_time(row.update_time),
            "content": row.str("content"),
            "deal_id": row.get("deal_id"),
            "lead_id": row.get("lead_id"),
            "person_id": row.get("person_id"),
            "org_id": row.get("org_id"),
            "user_id": row.get("user_id"),
            "last_update_user_id": row.get("user_id"),
            "pinned_to_deal_flag": row.get("pinned_to_deal_flag"),
            "pinned_to_person_flag": row.get("pinned_to_person_flag"),
            "pinned_to_organization_flag": row.get("pinned_to_organization_flag"),
            "pinned_to_lead_flag": row.get("pinned_to_lead_flag"),
            "deal": deal.map(|d| json!({"title": d.str("title")})),
            "organization": org.map(|o| json!({"name": o.str("name")})),
            "person": person.map(|p| json!({"name": p.str("name")})),
            "user": user.map(|u| json!({"email": u.str("email"), "name": u.str("name"), "icon_url": null, "is_you": u.num == 1})),
        })
    }

    fn activity_v1(&self, row: &Row) -> Value {
        let owner = row.u64("user_id");
        let person = row.u64("person_id");
        let org = row.u64("org_id");
        let participants = match person {
            Some(id) => json!([{"person_id": id, "primary_flag": true}]),
            None => json!([]),
        };
        json!({
            "id": row.num,
            "company_id": COMPANY_ID,
            "user_id": owner,
            "assigned_to_user_id": owner,
            "created_by_user_id": row.u64("created_by_user_id").unwrap_or(1),
            "done": row.get("done"),
            "type": row.str("type"),
            "subject": row.str("subject"),
            "due_date": row.get("due_date"),
            "due_time": row.str("due_time"),
            "duration": row.str("duration"),
            "busy_flag": row.get("busy_flag"),
            "add_time": v1_time(row.add_time),
            "update_time": v1_time(row.update_time),
            "update_user_id": owner,
            "marked_as_done_time": row.str("marked_as_done_time"),
            "active_flag": !row.deleted,
            "deal_id": row.get("deal_id"),
            "lead_id": row.get("lead_id"),
            "person_id": person,
            "org_id": org,
            "project_id": null,
            "note": row.get("note"),
            "public_description": row.get("public_description"),
            "location": row.get("location"),
            "participants": participants,
            "attendees": null,
            "org_name": self.org(org).map(|o| o.str("name").to_owned()),
            "person_name": self.person(person).map(|p| p.str("name").to_owned()),
            "deal_title": self.deal(row.u64("deal_id")).map(|d| d.str("title").to_owned()),
            "owner_name": self.user_name(owner),
            "source_timezone": null,
            "rec_rule": null,
            "series": [],
        })
    }

    /// The record as v2 `GET /api/v2/{entity}/{id}` shows it (persons, organizations, deals,
    /// activities).
    pub(crate) fn v2(&self, entity: Entity, row: &Row) -> Value {
        let visible_to = row.str("visible_to").parse::<u64>().ok();
        let mut out = match entity {
            Entity::Person => json!({
                "id": row.num,
                "name": row.str("name"),
                "first_name": row.get("first_name"),
                "last_name": row.get("last_name"),
                "owner_id": row.get("owner_id"),
                "org_id": row.get("org_id"),
                "add_time": v2_time(row.add_time),
                "update_time": v2_time(row.update_time),
                "emails": row.get("email"),
                "phones": row.get("phone"),
                "is_deleted": row.deleted,
                "visible_to": visible_to,
                "label_ids": row.get("label_ids"),
                "picture_id": null,
            }),
            Entity::Organization => json!({
                "id": row.num,
                "name": row.str("name"),
                "owner_id": row.get("owner_id"),
                "add_time": v2_time(row.add_time),
                "update_time": v2_time(row.update_time),
                "is_deleted": row.deleted,
                "visible_to": visible_to,
                "label_ids": row.get("label_ids"),
                "address": row.get("address").as_str().map(|address| json!({
                    "value": address,
                    "locality": row.get("address_locality"),
                    "country": row.get("address_country"),
                    "formatted_address": address,
                })),
            }),
            Entity::Deal => json!({
                "id": row.num,
                "title": row.str("title"),
                "owner_id": row.get("user_id"),
                "person_id": row.get("person_id"),
                "org_id": row.get("org_id"),
                "pipeline_id": row.get("pipeline_id"),
                "stage_id": row.get("stage_id"),
                "value": row.get("value"),
                "currency": row.get("currency"),
                "add_time": v2_time(row.add_time),
                "update_time": v2_time(row.update_time),
                "stage_change_time": v2_stamp(row.get("stage_change_time")),
                "is_deleted": row.deleted,
                "status": if row.deleted { "deleted" } else { row.str("status") },
                "probability": row.get("probability"),
                "lost_reason": row.get("lost_reason"),
                "visible_to": visible_to,
                "close_time": v2_stamp(row.get("close_time")),
                "won_time": v2_stamp(row.get("won_time")),
                "lost_time": v2_stamp(row.get("lost_time")),
                "expected_close_date": row.get("expected_close_date"),
                "label_ids": [],
            }),
            Entity::Activity => json!({
                "id": row.num,
                "subject": row.str("subject"),
                "type": row.str("type"),
                "owner_id": row.get("user_id"),
                "is_deleted": row.deleted,
                "add_time": v2_time(row.add_time),
                "update_time": v2_time(row.update_time),
                "deal_id": row.get("deal_id"),
                "lead_id": row.get("lead_id"),
                "person_id": row.get("person_id"),
                "org_id": row.get("org_id"),
                "due_date": row.get("due_date"),
                "due_time": non_empty(row.str("due_time")),
                "duration": non_empty(row.str("duration")),
                "busy": row.get("busy_flag"),
                "done": row.get("done"),
                "marked_as_done_time": v2_stamp(row.get("marked_as_done_time")),
                "location": row.get("location").as_str().map(|l| json!({"value": l})),
                "participants": row.u64("person_id").map_or_else(|| json!([]), |id| json!([{"person_id": id, "primary": true}])),
                "note": row.get("note"),
                "public_description": row.get("public_description"),
            }),
            _ => self.v1(entity, row),
        };
        if let Value::Object(map) = &mut out
            && matches!(
                entity,
                Entity::Person | Entity::Organization | Entity::Deal | Entity::Activity
            )
        {
            let mut custom = Map::new();
            for field in self.store.custom_fields(entity) {
                let value = row.get(&field.key).clone();
                let shown = if value.is_null() {
                    Value::Null
                } else if field.has_currency() {
                    json!({"value": value, "currency": row.get(&format!("{}_currency", field.key))})
                } else if field.has_until() {
                    json!({"value": value, "until": row.get(&format!("{}_until", field.key))})
                } else if field.field_type == "enum" {
                    value
                        .as_str()
                        .and_then(|s| s.parse::<u64>().ok())
                        .map_or(value.clone(), |id| json!(id))
                } else if field.field_type == "set" {
                    let ids: Vec<u64> = value
                        .as_str()
                        .unwrap_or("")
                        .split(',')
                        .filter_map(|s| s.parse().ok())
                        .collect();
                    json!(ids)
                } else {
                    value
                };
                custom.insert(field.key.clone(), shown);
            }
            map.insert("custom_fields".into(), Value::Object(custom));
        }
        out
    }
}

fn lead_v1(row: &Row) -> Value {
    json!({
        "id": row.id,
        "title": row.str("title"),
        "owner_id": row.get("owner_id"),
        "creator_id": row.get("creator_id"),
        "label_ids": row.get("label_ids"),
        "person_id": row.get("person_id"),
        "organization_id": row.get("organization_id"),
        "source_name": row.str("source_name"),
        "origin": "API",
        "channel": null,
        "is_archived": row.get("is_archived"),
        "was_seen": row.get("was_seen"),
        "value": row.get("value"),
        "expected_close_date": row.get("expected_close_date"),
        "next_activity_id": null,
        "add_time": lead_time(row.add_time),
        "update_time": lead_time(row.update_time),
        "visible_to": row.get("visible_to"),
        "cc_email": cc_email(),
    })
}

fn user_v1(row: &Row) -> Value {
    let created = v1_time(row.add_time);
    json!({
        "id": row.num,
        "name": row.str("name"),
        "default_currency": row.str("default_currency"),
        "locale": "en_US",
        "lang": 1,
        "email": row.str("email"),
        "phone": null,
        "activated": true,
        "last_login": v1_time(seed_epoch() - chrono::Duration::hours(row.num as i64)),
        "created": created,
        "modified": v1_time(row.update_time),
        "has_created_company": row.num == 1,
        "access": [{"app": "sales", "admin": row.get("is_admin").as_bool().unwrap_or(false), "permission_set_id": "sales-regular"}],
        "active_flag": row.get("active_flag").as_bool().unwrap_or(true),
        "timezone_name": row.str("timezone_name"),
        "timezone_offset": "+00:00",
        "role_id": 1,
        "icon_url": null,
        "is_you": row.num == 1,
        "is_admin": i64::from(row.get("is_admin").as_bool().unwrap_or(false)),
    })
}

/// Converts a stored `YYYY-MM-DD HH:MM:SS` value to v2's RFC 3339; null when empty.
fn v2_stamp(value: &Value) -> Value {
    value
        .as_str()
        .and_then(super::schema::parse_time)
        .map_or(Value::Null, |instant| json!(v2_time(instant)))
}

/// Adds the keys of `extra` to `out` (both objects); keeps `json!` literals small.
fn merge(out: &mut Value, extra: Value) {
    if let (Value::Object(map), Value::Object(extra)) = (out, extra) {
        map.extend(extra);
    }
}

fn non_empty(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        json!(text)
    }
}

fn cc_email() -> String {
    format!("simulated-company+{COMPANY_ID}@pipedrivemail.com")
}

fn format_money(amount: f64, currency: &str) -> String {
    let symbol = match currency {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        _ => "",
    };
    if symbol.is_empty() {
        format!("{amount:.0} {currency}")
    } else {
        format!("{symbol}{amount:.0}")
    }
}

/// The activity type names (for `activityFields` options and seeded subjects).
pub(crate) fn activity_type_name(key: &str) -> &'static str {
    ACTIVITY_TYPES
        .iter()
        .find(|(known, _)| *known == key)
        .map_or("Task", |(_, name)| name)
}
