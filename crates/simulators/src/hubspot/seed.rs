//! Deterministic seed data for the simulated portal: owners, companies, contacts, deals,
//! engagements and leads (each associated with a contact) with realistic names and associations, plus a few records with odd values
//! (unicode and emoji names, empty strings, a 50,000-character note).
//!
//! Seeded timestamps lie in the two years before the fixed [`crate::seed_epoch`], so tests are
//! reproducible; the same generators make the records that mutation faults insert, dated now.

use std::borrow::Cow;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::HubSpotConfig;
use super::schema::{self, ObjectType};
use super::store::{Owner, Properties, Store, derive_calculated, iso};
use crate::phones::{PhoneStyle, phone_number};

const FIRST_NAMES: &[&str] = &[
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella", "Lucas",
    "Mia", "Mateo", "Amelia", "Benjamin", "Harper", "Henry", "Evelyn", "Theodore", "Priya",
    "Arjun", "Fatima", "Omar", "Yuki", "Hiroshi", "Chen", "Mei", "Lars", "Ingrid", "Pierre",
    "Camille", "Diego", "Lucía", "Kwame", "Amara", "Sean", "Siobhan", "Marco", "Giulia", "Anna",
    "Jakob",
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
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Patel",
    "Khan",
    "Tanaka",
    "Suzuki",
    "Wang",
    "Zhang",
    "Johansson",
    "Nielsen",
    "Dubois",
    "Moreau",
    "Fernández",
    "Okafor",
    "Mensah",
    "O'Brien",
    "Murphy",
    "Rossi",
    "Bianchi",
    "Müller",
    "Schmidt",
    "Kowalski",
];
const COMPANY_PREFIXES: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Wonka",
    "Cyberdyne",
    "Soylent",
    "Tyrell",
    "Gringotts",
    "Oscorp",
    "Aperture",
    "Black Mesa",
    "Blue Sun",
    "Monarch",
    "Pied Piper",
    "Dunder",
    "Sterling",
    "Prestige",
    "Nimbus",
    "Zenith",
    "Apex",
    "Summit",
    "Harbor",
    "Northwind",
    "Contoso",
    "Fabrikam",
];
const COMPANY_SUFFIXES: &[&str] = &[
    "Industries",
    "Labs",
    "Systems",
    "Holdings",
    "Logistics",
    "Analytics",
    "Software",
    "Partners",
    "Group",
    "Dynamics",
    "Solutions",
    "Networks",
    "Health",
    "Capital",
    "Foods",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Boston", "MA", "United States"),
    ("New York", "NY", "United States"),
    ("San Francisco", "CA", "United States"),
    ("Austin", "TX", "United States"),
    ("Chicago", "IL", "United States"),
    ("Seattle", "WA", "United States"),
    ("Toronto", "ON", "Canada"),
    ("London", "England", "United Kingdom"),
    ("Dublin", "Leinster", "Ireland"),
    ("Berlin", "Berlin", "Germany"),
    ("Paris", "Île-de-France", "France"),
    ("Madrid", "Madrid", "Spain"),
    ("Sydney", "NSW", "Australia"),
    ("Tokyo", "Tokyo", "Japan"),
    ("São Paulo", "SP", "Brazil"),
];
const STREETS: &[&str] = &[
    "Main St",
    "Oak Ave",
    "Maple Dr",
    "Cedar Ln",
    "Pine St",
    "Elm St",
    "Harbor Blvd",
    "Market St",
    "High St",
    "Church Rd",
];
const JOB_TITLES: &[&str] = &[
    "CEO",
    "CTO",
    "VP of Sales",
    "Head of Marketing",
    "Account Executive",
    "Sales Manager",
    "Software Engineer",
    "Operations Manager",
    "Product Manager",
    "Customer Success Manager",
    "CFO",
    "Procurement Lead",
    "IT Director",
    "Office Manager",
    "Founder",
];
const DEAL_WORDS: &[&str] = &[
    "Annual subscription",
    "Expansion",
    "Renewal",
    "Pilot",
    "Enterprise license",
    "Professional services",
    "Onboarding package",
    "Upsell",
    "Multi-year agreement",
    "Support contract",
];
const NOTE_PHRASES: &[&str] = &[
    "Discussed pricing and next steps.",
    "Customer asked for a security questionnaire.",
    "Follow up after the quarterly review.",
    "Champion is moving to a new team; find a new sponsor.",
    "Sent the proposal and the order form.",
    "They are evaluating two competitors.",
    "Budget approved for next quarter.",
    "Integration questions about the API and webhooks.",
];
const TASK_SUBJECTS: &[&str] = &[
    "Call back about the proposal",
    "Send contract for signature",
    "Prepare demo environment",
    "Check in after onboarding",
    "Schedule quarterly business review",
    "Follow up on invoice",
];
const MEETING_TITLES: &[&str] = &[
    "Discovery call",
    "Product demo",
    "Quarterly business review",
    "Contract negotiation",
    "Kick-off meeting",
    "Technical deep dive",
];
const LOYALTY_TIERS: &[&str] = &["bronze", "silver", "gold", "platinum"];
const TEAMS: &[&str] = &[
    "Sales EMEA",
    "Sales Americas",
    "Customer Success",
    "Partnerships",
];
const SOURCE_DETAILS: &[&str] = &[
    "Webinar signup",
    "Partner referral",
    "Trade show",
    "Inbound demo request",
    "Outbound sequence",
];

/// The instant seeded timestamps lie before.
pub use crate::seed_epoch;

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list.choose(rng).copied().unwrap_or_default()
}

fn ascii_slug(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            'é' | 'è' | 'ë' => Some('e'),
            'á' | 'à' | 'å' | 'ä' | 'Å' => Some('a'),
            'ú' | 'ü' => Some('u'),
            'ö' | 'ó' => Some('o'),
            'í' => Some('i'),
            _ => None,
        })
        .collect()
}

/// `n` creation instants spread over the two years before the epoch, ascending, each paired with
/// a last-modified instant at or after it (and before the epoch).
fn timeline(rng: &mut StdRng, n: usize) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let epoch = seed_epoch();
    let span_ms: i64 = 2 * 365 * 24 * 3600 * 1000;
    let mut created: Vec<i64> = (0..n).map(|_| rng.gen_range(0..span_ms)).collect();
    created.sort_unstable();
    created
        .into_iter()
        .map(|offset| {
            let created_at = epoch - Duration::milliseconds(span_ms - offset);
            let remaining = span_ms - offset;
            let updated_at = if rng.gen_bool(0.3) {
                created_at
            } else {
                created_at + Duration::milliseconds(rng.gen_range(0..remaining.max(1)))
            };
            (created_at, updated_at)
        })
        .collect()
}

type Props = Properties;

/// A phone number as portal users type it: the national format of `country`, every third
/// record (by `idx`) with the country code; `line` is the seed's draw.
fn seeded_phone(country: &str, idx: usize, line: u32) -> String {
    let style = if idx.is_multiple_of(3) {
        PhoneStyle::International
    } else {
        PhoneStyle::National
    };
    let seed = u32::try_from(idx % 1_000_000).unwrap_or(0);
    phone_number(country, style, [seed, seed.wrapping_mul(7_919), line])
        .unwrap_or_else(|| format!("+1 617 555 {line:04}"))
}

fn put(properties: &mut Props, name: &'static str, value: impl Into<String>) {
    properties.insert(Cow::Borrowed(name), value.into());
}

/// Generates the properties of one new record of `object_type` (`idx` makes emails unique).
pub fn generate(
    store: &Store,
    rng: &mut StdRng,
    object_type: ObjectType,
    idx: usize,
    when: DateTime<Utc>,
) -> Props {
    let mut properties = Props::new();
    let owner_id = (!store.owners.is_empty() && rng.gen_bool(0.9))
        .then(|| store.owners[rng.gen_range(0..store.owners.len())].id);
    if let Some(owner_id) = owner_id {
        put(&mut properties, "hubspot_owner_id", owner_id.to_string());
    }
    let (city, state, country) = *CITIES.choose(rng).unwrap_or(&CITIES[0]);
    match object_type {
        ObjectType::Contacts => {
            let first = pick(rng, FIRST_NAMES);
            let last = pick(rng, LAST_NAMES);
            put(&mut properties, "firstname", first);
            put(&mut properties, "lastname", last);
            if rng.gen_bool(0.98) {
                let domain = format!("{}.example.com", ascii_slug(pick(rng, COMPANY_PREFIXES)));
                let email = format!(
                    "{}.{}{}@{}",
                    ascii_slug(first),
                    ascii_slug(last),
                    idx,
                    domain
                );
                put(&mut properties, "email", email);
            }
            if rng.gen_bool(0.8) {
                let phone = seeded_phone(country, idx, rng.gen_range(0..10_000));
                put(&mut properties, "phone", phone);
            }
            if rng.gen_bool(0.5) {
                let mobile = seeded_phone(country, idx + 1, rng.gen_range(0..10_000));
                put(&mut properties, "mobilephone", mobile);
            }
            put(&mut properties, "jobtitle", pick(rng, JOB_TITLES));
            put(
                &mut properties,
                "lifecyclestage",
                pick(rng, schema::LIFECYCLE_STAGES),
            );
            if rng.gen_bool(0.6) {
                put(
                    &mut properties,
                    "hs_lead_status",
                    pick(rng, schema::LEAD_STATUSES),
                );
            }
            let street = format!("{} {}", rng.gen_range(1..2000), pick(rng, STREETS));
            put(&mut properties, "address", street);
            put(&mut properties, "city", city);
            put(&mut properties, "state", state);
            put(
                &mut properties,
                "zip",
                format!("{:05}", rng.gen_range(1000..99_999)),
            );
            put(&mut properties, "country", country);
            if rng.gen_bool(0.3) {
                let site = format!("https://www.{}.example.com", ascii_slug(last));
                put(&mut properties, "website", site);
            }
            if rng.gen_bool(0.7) {
                put(
                    &mut properties,
                    "favorite_color",
                    pick(rng, schema::FAVORITE_COLORS),
                );
            }
            if rng.gen_bool(0.6) {
                put(&mut properties, "loyalty_tier", pick(rng, LOYALTY_TIERS));
            }
            if rng.gen_bool(0.6) {
                put(
                    &mut properties,
                    "nps_score",
                    rng.gen_range(0..=10).to_string(),
                );
            }
            if rng.gen_bool(0.8) {
                let score = f64::from(rng.gen_range(0..1000_u32)) / 10.0;
                put(&mut properties, "customer_health_score", score.to_string());
            }
            put(&mut properties, "num_associated_deals", "0");
        }
        ObjectType::Companies => {
            let name = format!(
                "{} {}",
                pick(rng, COMPANY_PREFIXES),
                pick(rng, COMPANY_SUFFIXES)
            );
            let domain = format!("{}{}.example.com", ascii_slug(&name), idx);
            put(&mut properties, "website", format!("https://{domain}"));
            put(&mut properties, "domain", domain);
            put(&mut properties, "name", name);
            put(&mut properties, "industry", pick(rng, schema::INDUSTRIES));
            put(&mut properties, "type", pick(rng, schema::COMPANY_TYPES));
            let phone = seeded_phone(country, idx, rng.gen_range(0..10_000));
            put(&mut properties, "phone", phone);
            let employees = rng.gen_range(1..20_000).to_string();
            put(&mut properties, "numberofemployees", employees);
            if rng.gen_bool(0.7) {
                let revenue = rng.gen_range(10_u64..50_000).saturating_mul(10_000);
                put(&mut properties, "annualrevenue", revenue.to_string());
            }
            put(
                &mut properties,
                "description",
                format!("{} based in {city}.", pick(rng, NOTE_PHRASES)),
            );
            put(&mut properties, "city", city);
            put(&mut properties, "state", state);
            put(&mut properties, "country", country);
            put(
                &mut properties,
                "lifecyclestage",
                pick(rng, schema::LIFECYCLE_STAGES),
            );
            put(&mut properties, "is_public", rng.gen_bool(0.1).to_string());
            if rng.gen_bool(0.75) {
                put(
                    &mut properties,
                    "customer_segment",
                    pick(rng, schema::CUSTOMER_SEGMENTS),
                );
            }
        }
        ObjectType::Deals => {
            let pipelines = schema::pipelines();
            let pipeline = if rng.gen_bool(0.8) {
                &pipelines[0]
            } else {
                &pipelines[1]
            };
            let stage = pipeline
                .stages
                .choose(rng)
                .expect("every pipeline has stages");
            let name = format!(
                "{} - {}",
                pick(rng, COMPANY_PREFIXES),
                pick(rng, DEAL_WORDS)
            );
            put(&mut properties, "dealname", name);
            let amount = rng.gen_range(5_u32..2000) * 100;
            put(&mut properties, "amount", amount.to_string());
            put(
                &mut properties,
                "deal_currency_code",
                pick(rng, &schema::CURRENCIES[..3]),
            );
            put(&mut properties, "pipeline", pipeline.id);
            put(&mut properties, "dealstage", stage.id);
            let close = when + Duration::days(rng.gen_range(-30..180));
            put(&mut properties, "closedate", iso(close));
            put(&mut properties, "dealtype", pick(rng, schema::DEAL_TYPES));
            if rng.gen_bool(0.5) {
                put(&mut properties, "description", pick(rng, NOTE_PHRASES));
            }
            if rng.gen_bool(0.6) {
                put(
                    &mut properties,
                    "deal_source_detail",
                    pick(rng, SOURCE_DETAILS),
                );
            }
            if rng.gen_bool(0.4) {
                let start = close + Duration::days(rng.gen_range(1..60));
                put(
                    &mut properties,
                    "contract_start_date",
                    start.format("%Y-%m-%d").to_string(),
                );
            }
            derive_calculated(ObjectType::Deals, &mut properties);
        }
        ObjectType::Notes => {
            put(
                &mut properties,
                "hs_note_body",
                format!("<p>{}</p>", pick(rng, NOTE_PHRASES)),
            );
            put(&mut properties, "hs_timestamp", iso(when));
        }
        ObjectType::Tasks => {
            put(&mut properties, "hs_task_subject", pick(rng, TASK_SUBJECTS));
            put(&mut properties, "hs_task_body", pick(rng, NOTE_PHRASES));
            let status = pick(rng, schema::TASK_STATUSES);
            put(&mut properties, "hs_task_status", status);
            put(
                &mut properties,
                "hs_task_priority",
                pick(rng, schema::TASK_PRIORITIES),
            );
            put(
                &mut properties,
                "hs_task_type",
                pick(rng, schema::TASK_TYPES),
            );
            let due = when + Duration::days(rng.gen_range(1..30));
            put(&mut properties, "hs_timestamp", iso(due));
            if status == "COMPLETED" {
                put(
                    &mut properties,
                    "hs_task_completion_date",
                    iso(when + Duration::hours(rng.gen_range(1..200))),
                );
            }
        }
        ObjectType::Calls => {
            put(
                &mut properties,
                "hs_call_title",
                format!("Call with {}", pick(rng, FIRST_NAMES)),
            );
            put(&mut properties, "hs_call_body", pick(rng, NOTE_PHRASES));
            put(
                &mut properties,
                "hs_call_direction",
                pick(rng, schema::CALL_DIRECTIONS),
            );
            let duration_ms = rng.gen_range(0_u32..3_600) * 1000;
            put(&mut properties, "hs_call_duration", duration_ms.to_string());
            put(
                &mut properties,
                "hs_call_status",
                pick(
                    rng,
                    &["COMPLETED", "COMPLETED", "NO_ANSWER", "BUSY", "FAILED"],
                ),
            );
            put(
                &mut properties,
                "hs_call_to_number",
                format!("+1 617 555 {:04}", rng.gen_range(0..10_000)),
            );
            put(&mut properties, "hs_timestamp", iso(when));
        }
        ObjectType::Meetings => {
            put(
                &mut properties,
                "hs_meeting_title",
                pick(rng, MEETING_TITLES),
            );
            put(&mut properties, "hs_meeting_body", pick(rng, NOTE_PHRASES));
            let start = when + Duration::days(rng.gen_range(0..14));
            let end = start + Duration::minutes(*[30_i64, 45, 60, 90].choose(rng).unwrap_or(&30));
            put(&mut properties, "hs_meeting_start_time", iso(start));
            put(&mut properties, "hs_meeting_end_time", iso(end));
            put(
                &mut properties,
                "hs_meeting_location",
                if rng.gen_bool(0.6) {
                    "Zoom".to_owned()
                } else {
                    format!("{city} office")
                },
            );
            put(
                &mut properties,
                "hs_meeting_outcome",
                pick(rng, schema::MEETING_OUTCOMES),
            );
            put(&mut properties, "hs_timestamp", iso(start));
        }
        ObjectType::Emails => {
            put(
                &mut properties,
                "hs_email_subject",
                format!("Re: {}", pick(rng, DEAL_WORDS)),
            );
            put(
                &mut properties,
                "hs_email_text",
                format!("Hi,\n\n{}\n\nBest regards", pick(rng, NOTE_PHRASES)),
            );
            put(
                &mut properties,
                "hs_email_direction",
                pick(rng, schema::EMAIL_DIRECTIONS),
            );
            put(&mut properties, "hs_email_status", "SENT");
            put(&mut properties, "hs_timestamp", iso(when));
        }
        ObjectType::Leads => {
            // Seeding renames the lead after the contact it is associated with.
            let name = format!("{} {}", pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES));
            put(&mut properties, "hs_lead_name", name);
            put(
                &mut properties,
                "hs_lead_type",
                pick(rng, schema::LEAD_TYPES),
            );
            if rng.gen_bool(0.7) {
                put(
                    &mut properties,
                    "hs_lead_label",
                    pick(rng, schema::LEAD_LABELS),
                );
            }
            put(&mut properties, "hs_pipeline", schema::LEAD_PIPELINE);
            put(
                &mut properties,
                "hs_pipeline_stage",
                pick(rng, schema::LEAD_STAGES),
            );
        }
    }
    properties
}

/// Overrides a few seeded records with the odd values connectors must survive.
fn oddities(object_type: ObjectType, idx: usize, properties: &mut Props) {
    match (object_type, idx) {
        (ObjectType::Contacts, 0) => {
            put(properties, "firstname", "Zoë");
            put(properties, "lastname", "Ångström");
            put(properties, "email", "zoe.angstrom@example.com");
        }
        (ObjectType::Contacts, 1) => {
            put(properties, "firstname", "雷");
            put(properties, "lastname", "李");
            put(properties, "email", "li.lei@example.cn");
            put(properties, "city", "北京");
        }
        (ObjectType::Contacts, 2) => {
            put(properties, "firstname", "Rocket 🚀");
            put(properties, "lastname", "O'Connor-Smith");
            put(properties, "jobtitle", "Chief 🎉 Officer");
        }
        (ObjectType::Contacts, 3) => {
            put(properties, "firstname", "");
            put(properties, "jobtitle", "");
            put(properties, "phone", "");
            properties.remove("lifecyclestage");
        }
        (ObjectType::Companies, 0) => {
            put(properties, "name", "Café Zürich AG");
            put(properties, "description", "");
        }
        (ObjectType::Notes, 0) => {
            let sentence = "This is a very long note body that goes on and on. ";
            let body: String = sentence.chars().cycle().take(50_000).collect();
            put(properties, "hs_note_body", body);
        }
        (ObjectType::Deals, 0) => {
            put(properties, "dealname", "Déal — ünïcödé ✓");
            put(properties, "amount", "0");
        }
        _ => {}
    }
}

fn seed_owners(store: &mut Store, rng: &mut StdRng, count: usize) {
    let epoch = seed_epoch();
    for idx in 0..count {
        let first = FIRST_NAMES[idx % FIRST_NAMES.len()];
        let last = LAST_NAMES[(idx * 7 + 3) % LAST_NAMES.len()];
        let created_at = epoch - Duration::days(rng.gen_range(800..1500));
        let offset = u64::try_from(idx).unwrap_or(u64::MAX);
        store.owners.push(Owner {
            id: 70_000_001 + offset * 37,
            user_id: 9_000_001 + offset,
            email: format!(
                "{}.{}@crosswalk-sim.example.com",
                ascii_slug(first),
                ascii_slug(last)
            ),
            first_name: first.to_owned(),
            last_name: last.to_owned(),
            created_at,
            updated_at: created_at + Duration::days(rng.gen_range(0..700)),
            team: (idx % 5 != 4).then(|| {
                let team_idx = idx % TEAMS.len();
                (
                    5_100_000 + u64::try_from(team_idx).unwrap_or(0),
                    TEAMS[team_idx],
                )
            }),
        });
    }
}

fn seed_type(
    store: &mut Store,
    rng: &mut StdRng,
    object_type: ObjectType,
    count: usize,
) -> Vec<u64> {
    let mut ids = Vec::with_capacity(count);
    for (idx, (created_at, updated_at)) in timeline(rng, count).into_iter().enumerate() {
        let mut properties = generate(store, rng, object_type, idx, created_at);
        oddities(object_type, idx, &mut properties);
        ids.push(store.insert_raw(object_type, properties, created_at, updated_at));
    }
    ids
}

/// Fills `store` with the configured numbers of records.
pub fn seed(store: &mut Store, rng: &mut StdRng, config: &HubSpotConfig) {
    seed_owners(store, rng, config.owners);
    let companies = seed_type(store, rng, ObjectType::Companies, config.companies);
    let contacts = seed_type(store, rng, ObjectType::Contacts, config.contacts);
    for &contact_id in &contacts {
        if !companies.is_empty() && rng.gen_bool(0.9) {
            let company_id = companies[rng.gen_range(0..companies.len())];
            let company_name = store
                .live(ObjectType::Companies, company_id)
                .and_then(|company| company.properties.get("name").cloned());
            store.associate(
                ObjectType::Contacts,
                contact_id,
                ObjectType::Companies,
                company_id,
            );
            if let Some(name) = company_name
                && let Some(contact) = store
                    .objects
                    .get_mut(&ObjectType::Contacts)
                    .and_then(|records| records.get_mut(&contact_id))
            {
                contact.properties.insert("company".into(), name);
            }
        }
    }
    let deals = seed_type(store, rng, ObjectType::Deals, config.deals);
    for &deal_id in &deals {
        if !companies.is_empty() && rng.gen_bool(0.95) {
            let company_id = companies[rng.gen_range(0..companies.len())];
            store.associate(
                ObjectType::Deals,
                deal_id,
                ObjectType::Companies,
                company_id,
            );
        }
        if !contacts.is_empty() {
            for _ in 0..rng.gen_range(1..=3) {
                let contact_id = contacts[rng.gen_range(0..contacts.len())];
                store.associate(ObjectType::Deals, deal_id, ObjectType::Contacts, contact_id);
            }
        }
    }
    for &contact_id in &contacts {
        let n_deals = store
            .associated(ObjectType::Contacts, contact_id, ObjectType::Deals)
            .len();
        if let Some(contact) = store
            .objects
            .get_mut(&ObjectType::Contacts)
            .and_then(|records| records.get_mut(&contact_id))
        {
            contact
                .properties
                .insert("num_associated_deals".into(), n_deals.to_string());
        }
    }
    let engagements = [
        (ObjectType::Notes, config.notes),
        (ObjectType::Tasks, config.tasks),
        (ObjectType::Calls, config.calls),
        (ObjectType::Meetings, config.meetings),
        (ObjectType::Emails, config.emails),
    ];
    for (object_type, count) in engagements {
        let ids = seed_type(store, rng, object_type, count);
        for id in ids {
            link_engagement(store, rng, object_type, id, &contacts, &companies, &deals);
        }
    }
    // Leads come last so that adding them left every other seeded record as it was.
    let leads = seed_type(store, rng, ObjectType::Leads, config.leads);
    for &lead_id in &leads {
        if let Some(&contact_id) = contacts.choose(rng) {
            link_lead(store, lead_id, contact_id);
        }
    }
}

/// Associates a lead with its contact (a lead always has one) and names it after the contact.
fn link_lead(store: &mut Store, lead_id: u64, contact_id: u64) {
    store.associate(ObjectType::Leads, lead_id, ObjectType::Contacts, contact_id);
    let name = store.live(ObjectType::Contacts, contact_id).map(|contact| {
        let parts: Vec<&str> = ["firstname", "lastname"]
            .iter()
            .filter_map(|key| contact.properties.get(*key).map(String::as_str))
            .filter(|part| !part.is_empty())
            .collect();
        parts.join(" ")
    });
    if let Some(name) = name.filter(|name| !name.is_empty())
        && let Some(lead) = store
            .objects
            .get_mut(&ObjectType::Leads)
            .and_then(|records| records.get_mut(&lead_id))
    {
        lead.properties.insert("hs_lead_name".into(), name);
    }
}

fn link_engagement(
    store: &mut Store,
    rng: &mut StdRng,
    object_type: ObjectType,
    id: u64,
    contacts: &[u64],
    companies: &[u64],
    deals: &[u64],
) {
    let targets = [
        (ObjectType::Contacts, contacts, 0.9),
        (ObjectType::Companies, companies, 0.5),
        (ObjectType::Deals, deals, 0.3),
    ];
    for (to, ids, chance) in targets {
        if !ids.is_empty() && rng.gen_bool(chance) {
            let to_id = ids[rng.gen_range(0..ids.len())];
            store.associate(object_type, id, to, to_id);
        }
    }
}

/// Inserts `count` new records of `object_type` dated `now`, as a mutation fault does; they get
/// associated to random live contacts and companies like seeded ones.
pub fn insert_generated(
    store: &mut Store,
    object_type: ObjectType,
    count: usize,
    now: DateTime<Utc>,
) {
    let mut rng = std::mem::replace(&mut store.rng, rand::SeedableRng::seed_from_u64(0));
    for _ in 0..count {
        // Offset so generated emails never collide with seeded ones (seeded use 0..n).
        let idx = usize::try_from(store.next_id).unwrap_or(usize::MAX / 2) + 1_000_000_000;
        let properties = generate(store, &mut rng, object_type, idx, now);
        let id = store.insert_raw(object_type, properties, now, now);
        if object_type == ObjectType::Leads {
            let contacts: Vec<u64> = store
                .records(ObjectType::Contacts)
                .values()
                .filter(|contact| contact.archived_at.is_none())
                .map(|contact| contact.id)
                .take(50)
                .collect();
            if let Some(&contact_id) = contacts.choose(&mut rng) {
                link_lead(store, id, contact_id);
            }
        } else if object_type != ObjectType::Companies {
            let companies: Vec<u64> = store
                .records(ObjectType::Companies)
                .keys()
                .copied()
                .take(50)
                .collect();
            if let Some(&company_id) = companies.choose(&mut rng) {
                store.associate(object_type, id, ObjectType::Companies, company_id);
            }
        }
    }
    store.rng = rng;
}

/// Archives `count` random live records of `object_type`, as a mutation fault does.
pub fn archive_random(
    store: &mut Store,
    object_type: ObjectType,
    count: usize,
    now: DateTime<Utc>,
) {
    for id in pick_live(store, object_type, count) {
        store.archive(object_type, id, now);
    }
}

/// Up to `count` live records of `object_type`, picked at random with the store's generator.
fn pick_live(store: &mut Store, object_type: ObjectType, count: usize) -> Vec<u64> {
    let mut live: Vec<u64> = store
        .records(object_type)
        .values()
        .filter(|record| record.archived_at.is_none())
        .map(|record| record.id)
        .collect();
    let n = count.min(live.len());
    let (chosen, _) = live.partial_shuffle(&mut store.rng, n);
    chosen.to_vec()
}

/// Changes `count` live records picked at random, as a user editing them would: a property
/// the record's unified form shows gets a new value, and the record its modification time.
pub fn update_random(store: &mut Store, object_type: ObjectType, count: usize, now: DateTime<Utc>) {
    use rand::Rng;
    let chosen = pick_live(store, object_type, count);
    let property = match object_type {
        ObjectType::Contacts => "jobtitle",
        ObjectType::Companies => "description",
        ObjectType::Deals => "dealname",
        ObjectType::Notes => "hs_note_body",
        ObjectType::Tasks => "hs_task_subject",
        ObjectType::Calls => "hs_call_title",
        ObjectType::Meetings => "hs_meeting_title",
        ObjectType::Emails => "hs_email_subject",
        ObjectType::Leads => "hs_lead_name",
    };
    for id in chosen {
        let mark: u32 = store.rng.r#gen();
        let values = [(property.to_owned(), Some(format!("Edited {mark:08x}")))].into();
        // The record was picked live under the same lock, and no email changes.
        let _ = store.update(object_type, id, values, now);
    }
}

/// The value a record holds for a portal's extra custom property: a pure function of the record
/// id and the property, so a test can predict it (`custom_value`).
pub fn custom_value(definition: &schema::PropertyDef, id: u64) -> String {
    use schema::PropertyType;
    match definition.property_type {
        PropertyType::String => format!("{}-{id}", definition.name),
        PropertyType::Number => (id % 1000).to_string(),
        PropertyType::Bool => id.is_multiple_of(2).to_string(),
        PropertyType::Date => format!("2024-01-{:02}", id % 28 + 1),
        PropertyType::Datetime => format!("2024-01-{:02}T12:00:00.000Z", id % 28 + 1),
        PropertyType::Enumeration => definition
            .options
            .get(usize::try_from(id).unwrap_or_default() % definition.options.len().max(1))
            .map(|option| option.value.clone())
            .unwrap_or_default(),
    }
}

/// Defines a portal's extra custom property and gives every record of its type a value.
pub fn add_custom_property(
    store: &mut Store,
    object_type: ObjectType,
    definition: schema::PropertyDef,
) {
    if let Some(records) = store.objects.get_mut(&object_type) {
        for record in records.values_mut() {
            record.properties.insert(
                Cow::Owned(definition.name.clone()),
                custom_value(&definition, record.id),
            );
        }
    }
    if let Some(list) = store.properties.get_mut(&object_type) {
        list.retain(|existing| existing.name != definition.name);
        list.push(definition);
    }
}
