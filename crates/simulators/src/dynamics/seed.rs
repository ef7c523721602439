//! Deterministic, realistic seed data for every table, with lookups between them and a few
//! odd values (unicode names, apostrophes, empty strings, a very long description).
//!
//! Everything comes from one `StdRng` seeded from the config, so a seed always yields the same
//! organisation, GUIDs included. Timestamps are spread over the two years before the fixed
//! instant 2026-11-01T00:00:00Z and ascend with creation order. [`generate`] is also used by
//! mutation faults to insert records while a caller pages; those get the current time.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::schema::{CURRENCY_ID, INDUSTRIES, LEAD_SOURCES, LOYALTY_TIERS, SALES_STAGES, SEGMENTS};
use super::store::{Db, Row, derive, format_instant};
use crate::phones::{PhoneStyle, phone_number};

/// The instant seeded data leads up to.
pub use crate::seed_epoch;

const SEED_SPAN_SECS: i64 = 2 * 365 * 24 * 3600;

const FIRST_NAMES: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Priya",
    "Arjun",
    "Mei",
    "Hiroshi",
    "Fatima",
    "Omar",
    "Sofia",
    "Mateo",
    "Chloé",
    "Björn",
    "Aisha",
    "Kwame",
    "Olga",
    "João",
    "Zoë",
    "Łukasz",
    "Siobhán",
    "美咲",
];
const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Müller",
    "Nakamura",
    "Patel",
    "Kowalski",
    "Novak",
    "Dubois",
    "Rossi",
    "Silva",
    "Okafor",
    "O'Brien",
    "D'Angelo",
    "Ångström",
    "van der Berg",
    "田中",
];
const COMPANY_WORDS: &[&str] = &[
    "Contoso",
    "Fabrikam",
    "Northwind",
    "Adventure Works",
    "Litware",
    "Tailspin",
    "Wingtip",
    "Proseware",
    "Alpine Ski",
    "Coho",
    "Fourth Coffee",
    "Lucerne",
    "Margie's",
    "Trey Research",
    "Zürich Logistik",
    "Société Générale de Test",
];
const COMPANY_SUFFIXES: &[&str] = &["Inc.", "Ltd", "GmbH", "LLC", "S.A.", "Group", "Holdings"];
const TITLES: &[&str] = &[
    "CEO",
    "CTO",
    "VP Sales",
    "Account Executive",
    "Engineer",
    "Purchasing Manager",
    "Head of Operations",
    "Analyst",
    "Directrice générale",
];
const DEPARTMENTS: &[&str] = &["Sales", "Engineering", "Finance", "Operations", "Marketing"];
const CITIES: &[(&str, &str, &str)] = &[
    ("Seattle", "WA", "United States"),
    ("Redmond", "WA", "United States"),
    ("Austin", "TX", "United States"),
    ("London", "", "United Kingdom"),
    ("München", "BY", "Germany"),
    ("Paris", "", "France"),
    ("São Paulo", "SP", "Brazil"),
    ("東京", "", "Japan"),
];
const STREETS: &[&str] = &[
    "Main St",
    "1st Ave",
    "Oak Rd",
    "Königstraße",
    "Rue de Rivoli",
];
const STEPS: &[&str] = &["1-Qualify", "2-Develop", "3-Propose", "4-Close"];
const TASK_SUBJECTS: &[&str] = &[
    "Follow up",
    "Send proposal",
    "Prepare quote",
    "Call back",
    "Review contract",
    "Demo 🚀 next week",
    "Check in",
];

/// Record counts per entity set.
#[derive(Debug, Clone)]
pub(crate) struct SeedCounts {
    pub systemusers: usize,
    pub accounts: usize,
    pub contacts: usize,
    pub leads: usize,
    pub opportunities: usize,
    pub tasks: usize,
    pub phonecalls: usize,
    pub appointments: usize,
    pub emails: usize,
    pub annotations: usize,
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

fn pick_option(rng: &mut StdRng, options: &[(i64, &str)]) -> i64 {
    options[rng.gen_range(0..options.len())].0
}

/// A phone number of `country` as users type it, national or with the country code. Draws
/// what it always drew, so the rest of the organization stays the same for a seed.
fn phone(rng: &mut StdRng, country: &str, style: PhoneStyle) -> String {
    let draws = [
        rng.gen_range(201..990),
        rng.gen_range(200..999),
        rng.gen_range(0..10_000),
    ];
    phone_number(country, style, draws).unwrap_or_else(|| {
        let [area, exchange, line] = draws;
        format!("+1 ({area}) {exchange}-{line:04}")
    })
}

fn long_text() -> String {
    let sentence = "Long note used to check that very long memo text survives the trip. ";
    sentence
        .repeat(20_000 / sentence.len() + 1)
        .chars()
        .take(20_000)
        .collect()
}

fn slug(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A deterministic GUID from the generator.
pub(crate) fn guid(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.r#gen::<[u8; 16]>())
        .into_uuid()
        .to_string()
}

/// A random existing id of the entity set, if it has rows.
fn random_id(db: &Db, rng: &mut StdRng, entity_set: &str) -> Option<String> {
    let table = &db.tables[db.table_by_set(entity_set)?];
    if table.rows.is_empty() {
        return None;
    }
    let idx = rng.gen_range(0..table.rows.len());
    table.rows.keys().nth(idx).cloned()
}

/// Points the lookup `data_name` at a random record of `entity_set` (null when it is empty).
fn link(
    db: &Db,
    rng: &mut StdRng,
    values: &mut Map<String, Value>,
    lookups: &mut Vec<(String, String)>,
    data_name: &str,
    entity_set: &str,
    target: &str,
) -> bool {
    match random_id(db, rng, entity_set) {
        Some(id) => {
            values.insert(data_name.to_owned(), json!(id));
            lookups.push((data_name.to_owned(), target.to_owned()));
            true
        }
        None => {
            values.insert(data_name.to_owned(), Value::Null);
            false
        }
    }
}

/// The values of one new record of `entity_set`, created at `created`.
fn values(
    db: &Db,
    rng: &mut StdRng,
    entity_set: &str,
    created: DateTime<Utc>,
) -> (Map<String, Value>, Vec<(String, String)>) {
    let mut values = Map::new();
    let mut lookups: Vec<(String, String)> = Vec::new();
    let modified = (created + Duration::seconds(rng.gen_range(0..30 * 24 * 3600)))
        .min(seed_epoch().max(created));
    values.insert("createdon".into(), json!(format_instant(created)));
    values.insert("modifiedon".into(), json!(format_instant(modified)));
    if entity_set != "systemusers" {
        link(
            db,
            rng,
            &mut values,
            &mut lookups,
            "_ownerid_value",
            "systemusers",
            "systemuser",
        );
    }
    let first = pick(rng, FIRST_NAMES).to_owned();
    let last = pick(rng, LAST_NAMES).to_owned();
    let company = format!(
        "{} {}",
        pick(rng, COMPANY_WORDS),
        pick(rng, COMPANY_SUFFIXES)
    );
    let email = format!(
        "{}.{}@{}.example.com",
        slug(&first),
        slug(&last),
        slug(&company)
    );
    let (city, state, country) = CITIES[rng.gen_range(0..CITIES.len())];
    let address = |values: &mut Map<String, Value>, rng: &mut StdRng| {
        values.insert(
            "address1_line1".into(),
            json!(format!("{} {}", rng.gen_range(1..9999), pick(rng, STREETS))),
        );
        values.insert("address1_city".into(), json!(city));
        values.insert("address1_stateorprovince".into(), json!(state));
        values.insert(
            "address1_postalcode".into(),
            json!(format!("{:05}", rng.gen_range(1000..99999))),
        );
        values.insert("address1_country".into(), json!(country));
    };
    let roll: f64 = rng.r#gen();
    // A quarter of the numbers carry the country code; the rest are national.
    let style = if roll < 0.25 {
        PhoneStyle::International
    } else {
        PhoneStyle::National
    };
    match entity_set {
        "systemusers" => {
            values.insert("firstname".into(), json!(first));
            values.insert("lastname".into(), json!(last));
            values.insert(
                "internalemailaddress".into(),
                json!(format!(
                    "{}.{}@contoso.onmicrosoft.com",
                    slug(&first),
                    slug(&last)
                )),
            );
            values.insert("title".into(), json!(pick(rng, TITLES)));
            values.insert("isdisabled".into(), json!(rng.gen_bool(0.1)));
        }
        "accounts" => {
            values.insert("name".into(), json!(company));
            values.insert(
                "websiteurl".into(),
                json!(format!("https://www.{}.example.com", slug(&company))),
            );
            values.insert("telephone1".into(), json!(phone(rng, country, style)));
            values.insert(
                "numberofemployees".into(),
                if roll < 0.1 {
                    Value::Null
                } else {
                    json!(rng.gen_range(1..250_000))
                },
            );
            values.insert(
                "revenue".into(),
                json!(f64::from(rng.gen_range(10_000..500_000_000_u32)) + 0.5),
            );
            values.insert("_transactioncurrencyid_value".into(), json!(CURRENCY_ID));
            lookups.push((
                "_transactioncurrencyid_value".into(),
                "transactioncurrency".into(),
            ));
            values.insert("industrycode".into(), json!(pick_option(rng, INDUSTRIES)));
            values.insert(
                "description".into(),
                if roll < 0.01 {
                    json!(long_text())
                } else if roll < 0.1 {
                    json!("")
                } else {
                    Value::Null
                },
            );
            address(&mut values, rng);
            if rng.gen_bool(0.2) {
                link(
                    db,
                    rng,
                    &mut values,
                    &mut lookups,
                    "_parentaccountid_value",
                    "accounts",
                    "account",
                );
            }
            let active = rng.gen_bool(0.9);
            values.insert("statecode".into(), json!(if active { 0 } else { 1 }));
            values.insert("statuscode".into(), json!(if active { 1 } else { 2 }));
            values.insert("new_segment".into(), json!(pick_option(rng, SEGMENTS)));
        }
        "contacts" | "leads" => {
            values.insert(
                "firstname".into(),
                if roll < 0.03 {
                    Value::Null
                } else {
                    json!(first)
                },
            );
            values.insert("lastname".into(), json!(last));
            values.insert(
                "emailaddress1".into(),
                if roll > 0.95 {
                    Value::Null
                } else {
                    json!(email)
                },
            );
            values.insert("telephone1".into(), json!(phone(rng, country, style)));
            values.insert(
                "jobtitle".into(),
                if roll < 0.08 {
                    json!("")
                } else {
                    json!(pick(rng, TITLES))
                },
            );
            values.insert(
                "leadsourcecode".into(),
                json!(pick_option(rng, LEAD_SOURCES)),
            );
            values.insert(
                "description".into(),
                if roll < 0.005 {
                    json!(long_text())
                } else {
                    Value::Null
                },
            );
            if entity_set == "contacts" {
                values.insert("mobilephone".into(), json!(phone(rng, country, style)));
                values.insert("department".into(), json!(pick(rng, DEPARTMENTS)));
                address(&mut values, rng);
                if rng.gen_bool(0.85) {
                    link(
                        db,
                        rng,
                        &mut values,
                        &mut lookups,
                        "_parentcustomerid_value",
                        "accounts",
                        "account",
                    );
                }
                let active = rng.gen_bool(0.92);
                values.insert("statecode".into(), json!(if active { 0 } else { 1 }));
                values.insert("statuscode".into(), json!(if active { 1 } else { 2 }));
                values.insert(
                    "new_loyaltytier".into(),
                    if rng.gen_bool(0.7) {
                        json!(pick_option(rng, LOYALTY_TIERS))
                    } else {
                        Value::Null
                    },
                );
                values.insert(
                    "new_npsscore".into(),
                    if rng.gen_bool(0.6) {
                        json!(f64::from(rng.gen_range(0..=100_u32)) / 10.0)
                    } else {
                        Value::Null
                    },
                );
            } else {
                values.insert("companyname".into(), json!(company));
                let (state_code, status_code) = match rng.gen_range(0..10) {
                    0..=5 => (0, if rng.gen_bool(0.5) { 1 } else { 2 }),
                    6 | 7 => (1, 3),
                    _ => (2, rng.gen_range(4..=7)),
                };
                values.insert("statecode".into(), json!(state_code));
                values.insert("statuscode".into(), json!(status_code));
            }
        }
        "opportunities" => {
            let stage = rng.gen_range(0..SALES_STAGES.len());
            values.insert(
                "name".into(),
                json!(format!("{} – {} licences", company, rng.gen_range(5..500))),
            );
            values.insert(
                "estimatedvalue".into(),
                json!(f64::from(rng.gen_range(1_000..2_000_000_u32))),
            );
            values.insert("_transactioncurrencyid_value".into(), json!(CURRENCY_ID));
            lookups.push((
                "_transactioncurrencyid_value".into(),
                "transactioncurrency".into(),
            ));
            let close = created + Duration::days(rng.gen_range(14..240));
            values.insert(
                "estimatedclosedate".into(),
                json!(close.format("%Y-%m-%d").to_string()),
            );
            values.insert("closeprobability".into(), json!(rng.gen_range(0..=100)));
            values.insert("salesstage".into(), json!(SALES_STAGES[stage].0));
            values.insert("stepname".into(), json!(STEPS[stage]));
            link(
                db,
                rng,
                &mut values,
                &mut lookups,
                "_parentaccountid_value",
                "accounts",
                "account",
            );
            if rng.gen_bool(0.7) {
                link(
                    db,
                    rng,
                    &mut values,
                    &mut lookups,
                    "_parentcontactid_value",
                    "contacts",
                    "contact",
                );
            }
            let (state_code, status_code) = match rng.gen_range(0..10) {
                0..=5 => (0, if rng.gen_bool(0.8) { 1 } else { 2 }),
                6 | 7 => (1, 3),
                _ => (2, if rng.gen_bool(0.5) { 4 } else { 5 }),
            };
            values.insert("statecode".into(), json!(state_code));
            values.insert("statuscode".into(), json!(status_code));
        }
        "annotations" => {
            let (set, target) = match rng.gen_range(0..4) {
                0 => ("accounts", "account"),
                1 => ("leads", "lead"),
                2 => ("opportunities", "opportunity"),
                _ => ("contacts", "contact"),
            };
            if link(
                db,
                rng,
                &mut values,
                &mut lookups,
                "_objectid_value",
                set,
                target,
            ) {
                values.insert("objecttypecode".into(), json!(target));
            }
            values.insert(
                "subject".into(),
                if roll < 0.05 {
                    json!("")
                } else {
                    json!(format!("Note about {company}"))
                },
            );
            values.insert(
                "notetext".into(),
                if roll > 0.99 {
                    json!(long_text())
                } else {
                    json!(format!("Spoke with {first} {last} — next steps agreed. ✅"))
                },
            );
        }
        _ => {
            let (set, target) = match rng.gen_range(0..4) {
                0 => ("accounts", "account"),
                1 => ("leads", "lead"),
                2 => ("opportunities", "opportunity"),
                _ => ("contacts", "contact"),
            };
            if rng.gen_bool(0.9) {
                link(
                    db,
                    rng,
                    &mut values,
                    &mut lookups,
                    "_regardingobjectid_value",
                    set,
                    target,
                );
            }
            values.insert(
                "subject".into(),
                json!(format!("{} with {first} {last}", pick(rng, TASK_SUBJECTS))),
            );
            values.insert(
                "description".into(),
                if roll < 0.1 {
                    json!("")
                } else {
                    json!(format!("Regarding {company}."))
                },
            );
            let start = created + Duration::hours(rng.gen_range(1..24 * 30));
            let end = start + Duration::minutes(30 * rng.gen_range(1..5));
            values.insert("scheduledstart".into(), json!(format_instant(start)));
            values.insert("scheduledend".into(), json!(format_instant(end)));
            values.insert("prioritycode".into(), json!(rng.gen_range(0..3)));
            let done = end < seed_epoch() && rng.gen_bool(0.7);
            values.insert(
                "actualend".into(),
                if done {
                    json!(format_instant(end))
                } else {
                    Value::Null
                },
            );
            let (state_code, status_code) = match (entity_set, done) {
                ("tasks", true) => (1, 5),
                ("tasks", false) => (0, 2),
                ("phonecalls", true) => (1, 2),
                ("phonecalls", false) => (0, 1),
                ("appointments", true) => (1, 3),
                ("appointments", false) => (3, 5),
                (_, true) => (1, 3),
                (_, false) => (0, 1),
            };
            values.insert("statecode".into(), json!(state_code));
            values.insert("statuscode".into(), json!(status_code));
            match entity_set {
                "phonecalls" => {
                    values.insert("directioncode".into(), json!(rng.gen_bool(0.6)));
                    values.insert(
                        "phonenumber".into(),
                        json!(phone(rng, "US", PhoneStyle::International)),
                    );
                }
                "emails" => {
                    values.insert("directioncode".into(), json!(rng.gen_bool(0.5)));
                }
                "appointments" => {
                    values.insert(
                        "location".into(),
                        json!(if roll < 0.5 {
                            "Teams meeting".to_owned()
                        } else {
                            format!("{city} office")
                        }),
                    );
                }
                _ => {}
            }
        }
    }
    (values, lookups)
}

/// Builds and stores one record of `entity_set` created at `created`; returns its id.
pub(crate) fn generate(
    db: &mut Db,
    rng: &mut StdRng,
    entity_set: &str,
    created: DateTime<Utc>,
) -> Option<String> {
    let table_idx = db.table_by_set(entity_set)?;
    let id = guid(rng);
    let (mut values, lookups) = values(db, rng, entity_set, created);
    let version = db.next_version();
    let table = &mut db.tables[table_idx];
    let entity = &table.entity;
    let mut full = Map::new();
    for attribute in &entity.attributes {
        let name = attribute.data_name();
        let value = values.remove(&name).unwrap_or(Value::Null);
        full.insert(name, value);
    }
    full.insert(entity.primary_id.to_owned(), json!(id));
    let mut row = Row {
        values: full,
        lookup_types: lookups
            .into_iter()
            .filter(|(name, _)| values_has(&table.entity, name))
            .collect(),
        version,
    };
    row.lookup_types
        .retain(|name, _| row.values.get(name).is_some_and(|value| !value.is_null()));
    derive(&table.entity, &mut row);
    table.rows.insert(id.clone(), row);
    Some(id)
}

fn values_has(entity: &super::schema::Entity, data_name: &str) -> bool {
    entity.by_data_name(data_name).is_some()
}

/// Fills every table, in dependency order.
pub(crate) fn seed(db: &mut Db, rng: &mut StdRng, counts: &SeedCounts) {
    let plan = [
        ("systemusers", counts.systemusers.max(1)),
        ("accounts", counts.accounts),
        ("contacts", counts.contacts),
        ("leads", counts.leads),
        ("opportunities", counts.opportunities),
        ("tasks", counts.tasks),
        ("phonecalls", counts.phonecalls),
        ("appointments", counts.appointments),
        ("emails", counts.emails),
        ("annotations", counts.annotations),
    ];
    let start = seed_epoch() - Duration::seconds(SEED_SPAN_SECS);
    for (entity_set, count) in plan {
        for idx in 0..count {
            let offset = SEED_SPAN_SECS * idx as i64 / count.max(1) as i64;
            let created = start + Duration::seconds(offset + rng.gen_range(0..60));
            if let Some(id) = generate(db, rng, entity_set, created)
                && entity_set == "systemusers"
                && db.caller_id.is_empty()
            {
                db.caller_id = id;
            }
        }
    }
}
