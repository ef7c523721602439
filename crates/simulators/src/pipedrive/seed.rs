//! Deterministic seed data: users, organizations, persons, deals, leads, notes and activities
//! (calls, meetings, emails, tasks, …) with custom-field values, plus a few odd values (unicode
//! and emoji names, empty strings, a 50,000-character note).
//!
//! Seeded times lie in the two years before the fixed seed epoch (2026-11-01T00:00:00Z), so runs
//! are reproducible; the same generators make the records mutation faults insert, dated now.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::PipedriveConfig;
use super::render::activity_type_name;
use super::schema::{ACTIVITY_TYPES, Entity, LABELS, STAGES, seed_epoch, v1_time};
use super::store::{LEAD_LABELS, Store};

const FIRST_NAMES: &[&str] = &[
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Priya", "Arjun",
    "Fatima", "Omar", "Yuki", "Hiroshi", "Chen", "Mei", "Lars", "Ingrid", "Pierre", "Camille",
    "Diego", "Lucía", "Kwame", "Amara", "Siobhan", "Marco", "Giulia", "Jakob", "Zoë", "Søren",
];
const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Garcia",
    "Miller",
    "Davis",
    "Martinez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Lee",
    "Patel",
    "Khan",
    "Tanaka",
    "Wang",
    "Johansson",
    "Dubois",
    "Fernández",
    "Okafor",
    "O'Brien",
    "Rossi",
    "Müller",
    "Kowalski",
    "Nguyễn",
];
const COMPANY_WORDS: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Wonka",
    "Tyrell",
    "Aperture",
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Zenith",
    "Harbor",
    "Nimbus",
];
const COMPANY_SUFFIXES: &[&str] = &[
    "Labs",
    "Systems",
    "Holdings",
    "Logistics",
    "GmbH",
    "Group",
    "Software",
    "S.A.",
];
const CITIES: &[(&str, &str)] = &[
    ("Tallinn", "Estonia"),
    ("Lisbon", "Portugal"),
    ("New York", "United States"),
    ("Berlin", "Germany"),
    ("São Paulo", "Brazil"),
    ("東京", "Japan"),
    ("Austin", "United States"),
];
const CURRENCIES: &[&str] = &["USD", "EUR", "GBP"];
const NOTE_LINES: &[&str] = &[
    "<p>Called about renewal; wants a quote by Friday.</p>",
    "Discussed pricing tiers and onboarding.",
    "<b>Decision maker</b> is out until next month.",
    "Sent the security questionnaire 🔐",
    "Follow up after the trade show in München.",
];

/// The custom fields seeded on persons, organizations and deals: `(name, field_type, options)`.
const CUSTOM_FIELDS: &[(&str, &str, &[&str])] = &[
    ("Annual spend", "monetary", &[]),
    ("Tier", "enum", &["Gold", "Silver", "Bronze 🥉"]),
    ("Preferred name", "varchar", &[]),
    ("Renewal date", "date", &[]),
];

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

/// A random instant in the two years before the seed epoch.
fn seeded_time(rng: &mut StdRng) -> DateTime<Utc> {
    seed_epoch() - Duration::seconds(rng.gen_range(3_600..2 * 365 * 86_400))
}

/// Seeds every entity of `config` into `store`.
pub(crate) fn seed(store: &mut Store, rng: &mut StdRng, config: &PipedriveConfig) {
    for entity in [Entity::Person, Entity::Organization, Entity::Deal] {
        for (name, field_type, options) in CUSTOM_FIELDS {
            let added = seed_epoch() - Duration::days(700);
            store.add_custom_field(entity, name, field_type, options, added);
        }
    }
    store.add_custom_field(
        Entity::Deal,
        "Trial period",
        "daterange",
        &[],
        seed_epoch() - Duration::days(600),
    );
    for n in 0..config.users.max(1) {
        let first = FIRST_NAMES[n % FIRST_NAMES.len()];
        let last = LAST_NAMES[(n * 7) % LAST_NAMES.len()];
        let data = json!({
            "name": format!("{first} {last}"),
            "email": format!("{}.{}{n}@example-sales.com", ascii(first), ascii(last)),
            "active_flag": n % 11 != 10,
            "is_admin": n == 0,
            "timezone_name": "Europe/Tallinn",
            "default_currency": "EUR",
        });
        let created = seed_epoch() - Duration::days(1_000 - n as i64);
        store.push(
            Entity::User,
            object(data),
            created,
            created + Duration::days(30),
        );
    }
    for entity in [
        Entity::Organization,
        Entity::Person,
        Entity::Deal,
        Entity::Lead,
        Entity::Note,
        Entity::Activity,
    ] {
        let count = match entity {
            Entity::Organization => config.organizations,
            Entity::Person => config.persons,
            Entity::Deal => config.deals,
            Entity::Lead => config.leads,
            Entity::Note => config.notes,
            _ => config.activities,
        };
        let mut times: Vec<DateTime<Utc>> = (0..count).map(|_| seeded_time(rng)).collect();
        times.sort();
        for (idx, add_time) in times.into_iter().enumerate() {
            let data = generate(store, entity, rng, idx);
            let span = (seed_epoch() - add_time).num_seconds().max(1);
            let update_time = if rng.gen_bool(0.4) {
                add_time + Duration::seconds(rng.gen_range(0..span))
            } else {
                add_time
            };
            store.push(entity, data, add_time, update_time);
        }
    }
}

/// Values of a new record of `entity`; `idx` picks the odd values of the first few records.
pub(crate) fn generate(
    store: &mut Store,
    entity: Entity,
    rng: &mut StdRng,
    idx: usize,
) -> Map<String, Value> {
    let user = |rng: &mut StdRng, store: &Store| {
        let users = &store.table(Entity::User).rows;
        users[rng.gen_range(0..users.len())].num
    };
    let live_num = |rng: &mut StdRng, store: &Store, target: Entity| -> Option<u64> {
        let rows = &store.table(target).rows;
        if rows.is_empty() {
            return None;
        }
        let row = &rows[rng.gen_range(0..rows.len())];
        (!row.deleted).then_some(row.num)
    };
    let mut data = match entity {
        Entity::Organization => {
            let name = match idx {
                0 => "Ünïcödé Ørg 株式会社 🚀".to_owned(),
                1 => "A".repeat(255),
                _ => format!(
                    "{} {}",
                    pick(rng, COMPANY_WORDS),
                    pick(rng, COMPANY_SUFFIXES)
                ),
            };
            let (city, country) = CITIES[rng.gen_range(0..CITIES.len())];
            let address = (idx != 2 && rng.gen_bool(0.8))
                .then(|| format!("{} Main Street, {city}, {country}", rng.gen_range(1..400)));
            json!({
                "name": name,
                "owner_id": user(rng, store),
                "address": if idx == 2 { json!("") } else { json!(address) },
                "address_locality": address.as_ref().map(|_| city),
                "address_country": address.as_ref().map(|_| country),
                "label_ids": labels(rng),
                "visible_to": "3",
            })
        }
        Entity::Person => {
            let (first, last) = match idx {
                0 => ("Zoë 🦄".to_owned(), "Ångström-Nguyễn".to_owned()),
                1 => (String::new(), "Solo".to_owned()),
                2 => ("田中".to_owned(), "太郎".to_owned()),
                _ => (
                    pick(rng, FIRST_NAMES).to_owned(),
                    pick(rng, LAST_NAMES).to_owned(),
                ),
            };
            let name = format!("{first} {last}").trim().to_owned();
            let mut emails = Vec::new();
            if idx != 3 && rng.gen_bool(0.95) {
                emails.push(json!({"label": "work", "value": format!("{}.{}{}@example.com", ascii(&first), ascii(&last), idx), "primary": true}));
                if rng.gen_bool(0.2) {
                    emails.push(json!({"label": "home", "value": format!("{}{}@mail.example.org", ascii(&last), idx), "primary": false}));
                }
            }
            let phones = if rng.gen_bool(0.7) {
                {
                    // Persons carry no country: a third of the numbers are typed nationally
                    // (an Estonian mobile, `5123 4567`), placed only by a default region.
                    let number = rng.gen_range(0..10_000_000);
                    let value = if idx % 3 == 1 {
                        format!("5{:03} {:04}", number / 10_000, number % 10_000)
                    } else {
                        format!("+372 5{number:07}")
                    };
                    json!([{"label": "mobile", "value": value, "primary": true}])
                }
            } else {
                json!([])
            };
            json!({
                "name": name,
                "first_name": if first.is_empty() { Value::Null } else { json!(first) },
                "last_name": last,
                "email": emails,
                "phone": phones,
                "org_id": if rng.gen_bool(0.8) { json!(live_num(rng, store, Entity::Organization)) } else { Value::Null },
                "owner_id": user(rng, store),
                "label_ids": labels(rng),
                "visible_to": if rng.gen_bool(0.9) { "3" } else { "1" },
            })
        }
        Entity::Deal => {
            let stage = &STAGES[rng.gen_range(0..STAGES.len())];
            let roll: f64 = rng.r#gen();
            let status = if roll < 0.6 {
                "open"
            } else if roll < 0.8 {
                "won"
            } else {
                "lost"
            };
            let closed = (status != "open")
                .then(|| v1_time(seed_epoch() - Duration::days(rng.gen_range(1..300))));
            json!({
                "title": if idx == 0 { "Deal with \"quotes\" & <html> — ✨".to_owned() } else { format!("{} deal #{idx}", pick(rng, COMPANY_WORDS)) },
                "value": rng.gen_range(0..20_000) * 10,
                "currency": pick(rng, CURRENCIES),
                "user_id": user(rng, store),
                "creator_user_id": user(rng, store),
                "person_id": live_num(rng, store, Entity::Person),
                "org_id": live_num(rng, store, Entity::Organization),
                "pipeline_id": stage.pipeline_id,
                "stage_id": stage.id,
                "status": status,
                "probability": if rng.gen_bool(0.3) { json!(stage.probability) } else { Value::Null },
                "lost_reason": if status == "lost" { json!("Went with a competitor") } else { Value::Null },
                "expected_close_date": (seed_epoch() + Duration::days(rng.gen_range(-200..200))).format("%Y-%m-%d").to_string(),
                "won_time": if status == "won" { json!(closed) } else { Value::Null },
                "lost_time": if status == "lost" { json!(closed) } else { Value::Null },
                "close_time": closed,
                "stage_change_time": v1_time(seed_epoch() - Duration::days(rng.gen_range(1..400))),
                "label": Value::Null,
                "visible_to": "3",
            })
        }
        Entity::Lead => {
            let person = if rng.gen_bool(0.7) {
                live_num(rng, store, Entity::Person)
            } else {
                None
            };
            let org = if person.is_none() || rng.gen_bool(0.4) {
                live_num(rng, store, Entity::Organization).or(Some(11))
            } else {
                None
            };
            let label = LEAD_LABELS[rng.gen_range(0..LEAD_LABELS.len())].0;
            json!({
                "title": if idx == 0 { "Lead ✉️ from «web form»".to_owned() } else { format!("Lead {idx} — {}", pick(rng, COMPANY_WORDS)) },
                "owner_id": user(rng, store),
                "creator_id": user(rng, store),
                "label_ids": if rng.gen_bool(0.5) { json!([label]) } else { json!([]) },
                "person_id": person,
                "organization_id": org,
                "value": if rng.gen_bool(0.6) { json!({"amount": rng.gen_range(1..500) * 100, "currency": pick(rng, CURRENCIES)}) } else { Value::Null },
                "expected_close_date": Value::Null,
                "visible_to": "3",
                "was_seen": rng.gen_bool(0.5),
                "is_archived": rng.gen_bool(0.1),
                "source_name": if rng.gen_bool(0.5) { "Manually created" } else { "API" },
            })
        }
        Entity::Note => {
            let content = match idx {
                0 => "Very long note: ".to_owned() + &"lorem ipsum dolor sit amet ".repeat(1_900),
                1 => " ".to_owned(),
                _ => pick(rng, NOTE_LINES).to_owned(),
            };
            let target: u32 = rng.gen_range(0..3);
            json!({
                "content": content,
                "deal_id": if target == 0 { json!(live_num(rng, store, Entity::Deal)) } else { Value::Null },
                "person_id": if target == 1 || idx < 2 { json!(live_num(rng, store, Entity::Person)) } else { Value::Null },
                "org_id": if target == 2 { json!(live_num(rng, store, Entity::Organization)) } else { Value::Null },
                "lead_id": Value::Null,
                "user_id": user(rng, store),
                "pinned_to_deal_flag": false,
                "pinned_to_person_flag": rng.gen_bool(0.05),
                "pinned_to_organization_flag": false,
                "pinned_to_lead_flag": false,
            })
        }
        Entity::Activity => {
            let kind = ACTIVITY_TYPES[[0, 1, 4, 2, 0, 3, 1, 5][rng.gen_range(0..8)]].0;
            let done = rng.gen_bool(0.6);
            let due = seed_epoch() + Duration::days(rng.gen_range(-400..60));
            json!({
                "subject": if idx == 0 { "📞 Rückruf — «urgent»".to_owned() } else { format!("{} with {}", activity_type_name(kind), pick(rng, FIRST_NAMES)) },
                "type": kind,
                "due_date": due.format("%Y-%m-%d").to_string(),
                "due_time": if rng.gen_bool(0.7) { format!("{:02}:{:02}", rng.gen_range(7..19), [0, 15, 30, 45][rng.gen_range(0..4)]) } else { String::new() },
                "duration": if kind == "meeting" { "01:00" } else if kind == "call" { "00:15" } else { "" },
                "done": done,
                "marked_as_done_time": if done { v1_time(due) } else { String::new() },
                "user_id": user(rng, store),
                "created_by_user_id": user(rng, store),
                "deal_id": if rng.gen_bool(0.5) { json!(live_num(rng, store, Entity::Deal)) } else { Value::Null },
                "person_id": live_num(rng, store, Entity::Person),
                "org_id": if rng.gen_bool(0.4) { json!(live_num(rng, store, Entity::Organization)) } else { Value::Null },
                "lead_id": Value::Null,
                "note": if rng.gen_bool(0.3) { json!(pick(rng, NOTE_LINES)) } else { Value::Null },
                "public_description": Value::Null,
                "location": if kind == "meeting" { json!(CITIES[rng.gen_range(0..CITIES.len())].0) } else { Value::Null },
                "busy_flag": kind == "meeting",
            })
        }
        Entity::User => {
            json!({"name": "New user", "email": "new.user@example-sales.com", "active_flag": true})
        }
    };
    if let Value::Object(map) = &mut data {
        let custom: Vec<_> = store.custom_fields(entity).cloned().collect();
        for field in custom {
            if !rng.gen_bool(0.8) {
                continue;
            }
            let value = match field.field_type.as_str() {
                "monetary" => {
                    map.insert(
                        format!("{}_currency", field.key),
                        json!(pick(rng, CURRENCIES)),
                    );
                    json!(rng.gen_range(0..100_000) * 5)
                }
                "enum" => json!(
                    field.options[rng.gen_range(0..field.options.len())]
                        .0
                        .to_string()
                ),
                "varchar" => match idx {
                    0 => json!(""),
                    1 => json!("x".repeat(4_000)),
                    _ => json!(format!("{} ✓", pick(rng, FIRST_NAMES))),
                },
                "date" | "daterange" => {
                    let start = seed_epoch() + Duration::days(rng.gen_range(-300..300));
                    if field.has_until() {
                        let end = start + Duration::days(rng.gen_range(7..60));
                        map.insert(
                            format!("{}_until", field.key),
                            json!(end.format("%Y-%m-%d").to_string()),
                        );
                    }
                    json!(start.format("%Y-%m-%d").to_string())
                }
                _ => continue,
            };
            map.insert(field.key.clone(), value);
        }
    }
    object(data)
}

fn labels(rng: &mut StdRng) -> Value {
    if rng.gen_bool(0.3) {
        json!([LABELS[rng.gen_range(0..LABELS.len())].0])
    } else {
        json!([])
    }
}

/// An ASCII, lowercase form of a name for email addresses.
fn ascii(name: &str) -> String {
    let out: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if out.is_empty() {
        "contact".to_owned()
    } else {
        out
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
