//! Deterministic seed data: users, lead statuses, a pipeline with its statuses, custom fields,
//! then leads, contacts, opportunities, activities and tasks, created in the months before
//! [`crate::seed_epoch`] (one after the other, so `date_created` is unique) and updated at
//! times spread after that, so `date_updated` filters cut real slices.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::CloseConfig;
use super::store::{Store, format_time};

const FIRST: &[&str] = &[
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Radia",
    "Hedy", "John",
];
const LAST: &[&str] = &[
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton",
    "Perlman", "Lamarr", "Backus",
];
const COMPANIES: &[&str] = &[
    "Analytical",
    "Difference",
    "Jacquard",
    "Colossus",
    "Zuse",
    "Univac",
];
const SUFFIXES: &[&str] = &["Engines", "Systems", "Labs", "Works"];
const TIERS: &[&str] = &["Gold", "Silver", "Bronze"];
/// Lead statuses: the defaults of a new organization and one for leads being worked.
const LEAD_STATUSES: &[&str] = &[
    "Potential",
    "Interested",
    "Qualified",
    "Bad Fit",
    "Customer",
];
/// The sales pipeline's statuses: label and type.
const OPPORTUNITY_STATUSES: &[(&str, &str)] = &[
    ("Demo Completed", "active"),
    ("Proposal Sent", "active"),
    ("Contract Sent", "active"),
    ("Won", "won"),
    ("Lost", "lost"),
];

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A US number in E.164, as Close stores phones.
pub(crate) fn phone(rng: &mut StdRng) -> Value {
    let area = rng.gen_range(201..990);
    let line = rng.gen_range(2_000_000..9_999_999);
    json!({"type": "office", "phone": format!("+1{area}{line}"),
           "phone_formatted": format!("+1 {area}-{}-{}", line / 10_000, line % 10_000), "country": "US"})
}

/// The custom field definitions' ids, by object and name.
pub(crate) fn custom_field_id(store: &Store, object: &str, name: &str) -> Option<String> {
    store.custom_fields.get(object)?.iter().find_map(|field| {
        (field["name"] == name).then(|| field["id"].as_str().unwrap_or_default().to_owned())
    })
}

/// A contact as the mutation faults and the seed make them.
pub(crate) fn contact(
    store: &mut Store,
    rng: &mut StdRng,
    lead_id: &str,
    created: Option<DateTime<Utc>>,
    updated: Option<DateTime<Utc>>,
) -> Value {
    let first = pick(rng, FIRST);
    let last = pick(rng, LAST);
    let n = rng.gen_range(1..100_000);
    let mut record = object(json!({
        "lead_id": lead_id,
        "name": format!("{first} {last}"),
        "display_name": format!("{first} {last}"),
        "title": pick(rng, &["CEO", "CTO", "VP Sales", "Engineer", "Buyer"]),
        "emails": [{"type": "office", "email": format!("{}.{}{n}@example.com", first.to_lowercase(), last.to_lowercase()), "is_unsubscribed": false}],
        "phones": if rng.gen_bool(0.7) { json!([phone(rng)]) } else { json!([]) },
        "urls": [],
        "integration_links": [],
        "created_by": null,
        "updated_by": null,
        "timezone": null,
        "timezone_source": null,
    }));
    if let Some(field) = custom_field_id(store, "contact", "Membership Level")
        && rng.gen_bool(0.6)
    {
        record.insert(format!("custom.{field}"), json!(pick(rng, TIERS)));
    }
    if let Some(time) = created {
        record.insert("date_created".to_owned(), json!(format_time(time)));
    }
    if let Some(time) = updated {
        record.insert("date_updated".to_owned(), json!(format_time(time)));
    }
    store.insert("contact", record)
}

pub(crate) fn seed(store: &mut Store, rng: &mut StdRng, config: &CloseConfig) {
    let epoch = crate::seed_epoch();
    let total = config.users
        + config.leads
        + config.contacts
        + config.opportunities
        + config.calls
        + config.meetings
        + config.emails
        + config.notes
        + config.tasks
        + 20;
    // Creation times step forward from a year before the epoch; updates land after them.
    let mut clock = epoch - Duration::days(365);
    let step_ms = (300 * 86_400_000 / total.max(1)) as i64;
    let mut next = |rng: &mut StdRng| {
        clock += Duration::milliseconds(rng.gen_range(step_ms / 2..=step_ms.max(2)));
        clock
    };
    let updated = |rng: &mut StdRng, created: DateTime<Utc>| {
        let room = (epoch - created).num_minutes().max(1);
        created + Duration::minutes(rng.gen_range(0..room))
    };

    for i in 0..config.users {
        let first = FIRST[i % FIRST.len()];
        let last = LAST[(i * 5 + 3) % LAST.len()];
        let created = next(rng);
        store.insert(
            "user",
            object(json!({
                "first_name": first,
                "last_name": last,
                "email": format!("{}.{}@closesim.example", first.to_lowercase(), last.to_lowercase()),
                "image": null,
                "organizations": [super::store::ORGANIZATION],
                "date_created": format_time(created),
            })),
        );
    }
    let users = store.ids("user");
    for label in LEAD_STATUSES {
        let id = store.new_id("status");
        store.lead_statuses.push(json!({"id": id, "label": label}));
    }
    let created = next(rng);
    let statuses: Vec<Value> = OPPORTUNITY_STATUSES
        .iter()
        .map(|(label, kind)| json!({"id": store.new_id("status"), "label": label, "type": kind}))
        .collect();
    store.insert(
        "pipeline",
        object(
            json!({"name": "Sales", "statuses": statuses, "created_by": null, "updated_by": null,
                      "date_created": format_time(created)}),
        ),
    );
    let created = next(rng);
    let statuses: Vec<Value> = [
        ("Discovery", "active"),
        ("Renewal Won", "won"),
        ("Churned", "lost"),
    ]
    .iter()
    .map(|(label, kind)| json!({"id": store.new_id("status"), "label": label, "type": kind}))
    .collect();
    store.insert(
        "pipeline",
        object(
            json!({"name": "Renewals", "statuses": statuses, "created_by": null, "updated_by": null,
                      "date_created": format_time(created)}),
        ),
    );
    for (object_name, name, kind, choices) in [
        ("contact", "Membership Level", "choices", Some(TIERS)),
        (
            "lead",
            "Industry",
            "choices",
            Some(&["Manufacturing", "Software", "Retail"][..]),
        ),
        ("lead", "Employees", "number", None),
        ("opportunity", "Contract Length", "number", None),
    ] {
        let id = store.new_id("custom_field");
        let now = format_time(epoch - Duration::days(366));
        let mut field = json!({
            "id": id, "name": name, "type": kind, "description": null,
            "accepts_multiple_values": false, "editable_with_roles": [], "is_shared": false,
            "organization_id": super::store::ORGANIZATION, "date_created": now, "date_updated": now,
            "created_by": null, "updated_by": null,
        });
        if let Some(choices) = choices {
            field["choices"] = json!(choices);
        }
        store
            .custom_fields
            .entry(object_name)
            .or_default()
            .push(field);
    }

    let industry = custom_field_id(store, "lead", "Industry").unwrap_or_default();
    let employees = custom_field_id(store, "lead", "Employees").unwrap_or_default();
    for _ in 0..config.leads {
        let name = format!("{} {}", pick(rng, COMPANIES), pick(rng, SUFFIXES));
        let created = next(rng);
        let status = store.lead_statuses[rng.gen_range(0..store.lead_statuses.len())].clone();
        let mut lead = object(json!({
            "name": name,
            "display_name": name,
            "description": "Seeded lead",
            "url": format!("https://{}.example.com", name.to_lowercase().replace(' ', "-")),
            "status_id": status["id"],
            "status_label": status["label"],
            "integration_links": [],
            "addresses": [{"label": "business", "address_1": "1 Main St", "city": "Austin", "state": "TX", "zipcode": "78701", "country": "US"}],
            "created_by": null,
            "updated_by": null,
            "date_created": format_time(created),
            "date_updated": format_time(updated(rng, created)),
        }));
        lead.insert(
            format!("custom.{industry}"),
            json!(pick(rng, &["Manufacturing", "Software", "Retail"])),
        );
        lead.insert(format!("custom.{employees}"), json!(rng.gen_range(5..5000)));
        store.insert("lead", lead);
    }
    let leads = store.ids("lead");
    let lead_names: std::collections::HashMap<String, Value> = store
        .table("lead")
        .iter()
        .map(|lead| {
            (
                lead["id"].as_str().unwrap_or_default().to_owned(),
                lead["display_name"].clone(),
            )
        })
        .collect();
    for _ in 0..config.contacts {
        let lead = leads[rng.gen_range(0..leads.len())].clone();
        let created = next(rng);
        let changed = updated(rng, created);
        contact(store, rng, &lead, Some(created), Some(changed));
    }
    let contacts: Vec<(String, String)> = store
        .table("contact")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_owned(),
                c["lead_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let pipeline = store.table("pipeline")[0].clone();
    let contract = custom_field_id(store, "opportunity", "Contract Length").unwrap_or_default();
    for _ in 0..config.opportunities {
        let (contact, lead) = contacts[rng.gen_range(0..contacts.len())].clone();
        let status = pipeline["statuses"][rng.gen_range(0..OPPORTUNITY_STATUSES.len())].clone();
        let value = rng.gen_range(10..500) * 10_000;
        let created = next(rng);
        let user = &users[rng.gen_range(0..users.len())];
        let mut record = object(json!({
            "lead_name": lead_names.get(&lead).cloned().unwrap_or(Value::Null),
            "lead_id": lead,
            "contact_id": contact,
            "created_by": user,
            "updated_by": null,
            "note": format!("Order of {} engines", rng.gen_range(1..50)),
            "value": value,
            "value_currency": "USD",
            "value_period": "one_time",
            "value_formatted": format!("${}", value / 100),
            "confidence": rng.gen_range(0..=100),
            "status_id": status["id"],
            "status_label": status["label"],
            "status_display_name": status["label"],
            "status_type": status["type"],
            "pipeline_id": pipeline["id"],
            "pipeline_name": pipeline["name"],
            "user_id": user,
            "date_won": if status["type"] == "won" { json!(format!("{}", (created + Duration::days(30)).format("%Y-%m-%d"))) } else { Value::Null },
            "date_lost": null,
            "attachments": [],
            "integration_links": [],
            "date_created": format_time(created),
            "date_updated": format_time(updated(rng, created)),
        }));
        record.insert(format!("custom.{contract}"), json!(rng.gen_range(1..36)));
        store.insert("opportunity", record);
    }
    let kinds = [
        ("Call", config.calls),
        ("Meeting", config.meetings),
        ("Email", config.emails),
        ("Note", config.notes),
    ];
    for (kind, count) in kinds {
        for i in 0..count {
            let (contact, lead) = contacts[rng.gen_range(0..contacts.len())].clone();
            let user = users[rng.gen_range(0..users.len())].clone();
            let created = next(rng);
            let mut record = object(json!({
                "_type": kind,
                "lead_id": lead,
                "contact_id": contact,
                "user_id": user,
                "users": [],
                "activity_at": format_time(created),
                "created_by": user,
                "updated_by": null,
                "date_created": format_time(created),
                "date_updated": format_time(updated(rng, created)),
            }));
            let extra = match kind {
                "Call" => json!({"direction": if i % 3 == 0 { "inbound" } else { "outbound" },
                    "duration": rng.gen_range(30..3600), "note": format!("Call about order {i}"),
                    "status": "completed", "disposition": "answered", "source": "Close.io"}),
                "Meeting" => {
                    json!({"title": format!("Review meeting {i}"), "note": "Agenda: the order",
                    "location": "Office", "starts_at": format_time(created),
                    "ends_at": format_time(created + Duration::minutes(45)), "duration": 2700,
                    "status": "completed", "attendees": []})
                }
                "Email" => {
                    json!({"subject": format!("Quote {i}"), "body_text": "Please find the quote.",
                    "direction": "outgoing", "status": "sent", "sender": "sales@closesim.example",
                    "to": ["buyer@example.com"]})
                }
                _ => {
                    json!({"note": format!("Spoke about the order {i}."), "title": format!("Note {i}"),
                    "note_html": format!("<body><p>Spoke about the order {i}.</p></body>")})
                }
            };
            record.extend(object(extra));
            store.insert("activity", record);
        }
    }
    for i in 0..config.tasks {
        let (contact, lead) = contacts[rng.gen_range(0..contacts.len())].clone();
        let user = users[rng.gen_range(0..users.len())].clone();
        let created = next(rng);
        let due = created + Duration::days(rng.gen_range(1..30));
        store.insert(
            "task",
            object(json!({
                "_type": "lead",
                "lead_name": lead_names.get(&lead).cloned().unwrap_or(Value::Null),
                "lead_id": lead,
                "contact_id": contact,
                "assigned_to": user,
                "text": format!("Follow up {i}"),
                "date": due.format("%Y-%m-%d").to_string(),
                "due_date": due.format("%Y-%m-%d").to_string(),
                "is_complete": i % 4 == 0,
                "is_dateless": false,
                "priority": pick(rng, &["high", "medium", "low"]),
                "view": "inbox",
                "created_by": user,
                "updated_by": null,
                "date_created": format_time(created),
                "date_updated": format_time(updated(rng, created)),
            })),
        );
    }
    // The seed's own creation events are not history anyone reads.
    store.events.clear();
}
