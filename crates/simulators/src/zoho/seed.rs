//! Deterministic seed data: users, then accounts, contacts, leads, deals, notes, tasks, calls
//! and events, each dated in the months before [`crate::seed_epoch`] (modified times spread so
//! that `If-Modified-Since` filters cut real slices), and the generator mutation faults use
//! for new records.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::ZohoConfig;
use super::store::{
    CALL_TYPES, LEAD_SOURCES, LEAD_STATUSES, Module, PRIORITIES, Store, TASK_STATUSES, TIERS, User,
    format_time,
};

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "Niklaus",
    "Radia",
    "Tim",
    "Hedy",
    "John",
    "Katherine",
    "Linus",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "Wirth",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Backus",
    "Johnson",
    "Torvalds",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Austin", "TX", "United States"),
    ("Chennai", "TN", "India"),
    ("Dublin", "Leinster", "Ireland"),
    ("Leeds", "England", "United Kingdom"),
    ("Munich", "Bavaria", "Germany"),
    ("Seattle", "WA", "United States"),
];
const COMPANIES: &[&str] = &[
    "Analytical",
    "Difference",
    "Babbage",
    "Jacquard",
    "Colossus",
    "Zuse",
    "Eniac",
    "Univac",
];
const SUFFIXES: &[&str] = &["Engines", "Systems", "Labs", "Works", "Holdings"];

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

/// A US-style national number (seeded contacts of US cities; the demo's default region).
fn phone(rng: &mut StdRng) -> String {
    format!(
        "({}) {}-{:04}",
        rng.gen_range(201..990),
        rng.gen_range(201..990),
        rng.gen_range(0..10_000)
    )
}

/// Fields of a new record of `module`, numbered `n`.
pub(crate) fn generate(
    store: &Store,
    module: Module,
    rng: &mut StdRng,
    n: usize,
) -> Map<String, Value> {
    let owner = store.users[rng.gen_range(0..store.users.len())].minified();
    let lookup = |module: Module, rng: &mut StdRng| -> Option<Value> {
        let id = store.random_id(module, rng)?;
        let row = &store.table(module).rows[&id];
        let name = ["Full_Name", "Account_Name", "Deal_Name"]
            .iter()
            .find_map(|key| row.fields.get(*key).and_then(Value::as_str))
            .unwrap_or_default();
        Some(json!({"name": name, "id": id.to_string()}))
    };
    let first = pick(rng, FIRST);
    let last = pick(rng, LAST);
    let (city, state, country) = CITIES[rng.gen_range(0..CITIES.len())];
    let mut fields = Map::new();
    let mut put = |key: &str, value: Value| {
        fields.insert(key.to_owned(), value);
    };
    put("Owner", owner);
    match module {
        Module::Contacts => {
            put("First_Name", json!(first));
            put("Last_Name", json!(last));
            put(
                "Title",
                json!(pick(
                    rng,
                    &["Engineer", "Director", "Buyer", "CTO", "Analyst"]
                )),
            );
            put(
                "Department",
                json!(pick(rng, &["Sales", "R&D", "Finance", "Operations"])),
            );
            put("Lead_Source", json!(pick(rng, LEAD_SOURCES)));
            put(
                "Email",
                json!(format!(
                    "{}.{}.{n}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase()
                )),
            );
            if n.is_multiple_of(5) {
                put(
                    "Secondary_Email",
                    json!(format!("{}{n}@home.example.org", first.to_lowercase())),
                );
            }
            put("Phone", json!(phone(rng)));
            if n.is_multiple_of(2) {
                put("Mobile", json!(phone(rng)));
            }
            put(
                "Mailing_Street",
                json!(format!("{} Main St", rng.gen_range(1..999))),
            );
            put("Mailing_City", json!(city));
            put("Mailing_State", json!(state));
            put(
                "Mailing_Zip",
                json!(format!("{:05}", rng.gen_range(1000..99_999))),
            );
            put("Mailing_Country", json!(country));
            if let Some(account) = lookup(Module::Accounts, rng) {
                put("Account_Name", account);
            }
            if !n.is_multiple_of(3) {
                put("Loyalty_Tier", json!(pick(rng, TIERS)));
                put(
                    "Annual_Spend",
                    json!(f64::from(rng.gen_range(100..50_000)) + 0.5),
                );
            }
        }
        Module::Accounts => {
            let name = format!("{} {} {n}", pick(rng, COMPANIES), pick(rng, SUFFIXES));
            put(
                "Website",
                json!(format!(
                    "https://www.{}.example.com",
                    name.to_lowercase().replace(' ', "-")
                )),
            );
            put("Account_Name", json!(name));
            put(
                "Industry",
                json!(pick(
                    rng,
                    &["Technology", "Manufacturing", "Retail", "Finance"]
                )),
            );
            put("Employees", json!(rng.gen_range(5..20_000)));
            put(
                "Annual_Revenue",
                json!(f64::from(rng.gen_range(10_000..9_000_000))),
            );
            put("Phone", json!(phone(rng)));
            put(
                "Billing_Street",
                json!(format!("{} Market St", rng.gen_range(1..999))),
            );
            put("Billing_City", json!(city));
            put("Billing_State", json!(state));
            put(
                "Billing_Code",
                json!(format!("{:05}", rng.gen_range(1000..99_999))),
            );
            put("Billing_Country", json!(country));
            put("Region", json!(pick(rng, &["EMEA", "AMER", "APAC"])));
        }
        Module::Leads => {
            put("First_Name", json!(first));
            put("Last_Name", json!(last));
            put(
                "Designation",
                json!(pick(rng, &["Manager", "Owner", "Consultant"])),
            );
            put(
                "Company",
                json!(format!("{} {}", pick(rng, COMPANIES), pick(rng, SUFFIXES))),
            );
            put("Lead_Status", json!(pick(rng, LEAD_STATUSES)));
            put("Lead_Source", json!(pick(rng, LEAD_SOURCES)));
            put("Email", json!(format!("lead.{n}@example.net")));
            put("Phone", json!(phone(rng)));
            put("City", json!(city));
            put("State", json!(state));
            put("Country", json!(country));
        }
        Module::Deals => {
            let pipeline = &store.pipelines[usize::from(n.is_multiple_of(4))];
            let stage = &pipeline.stages[rng.gen_range(0..pipeline.stages.len())];
            put(
                "Deal_Name",
                json!(format!("{} order {n}", pick(rng, COMPANIES))),
            );
            put("Amount", json!(f64::from(rng.gen_range(1_000..500_000))));
            put("Currency", json!("USD"));
            put("Probability", json!(stage.probability));
            put("Stage", json!(stage.name));
            put(
                "Pipeline",
                json!({"name": pipeline.name, "id": pipeline.id.to_string()}),
            );
            put(
                "Closing_Date",
                json!(
                    (crate::seed_epoch() + Duration::days(rng.gen_range(-60..120)))
                        .format("%Y-%m-%d")
                        .to_string()
                ),
            );
            if let Some(account) = lookup(Module::Accounts, rng) {
                put("Account_Name", account);
            }
            if let Some(contact) = lookup(Module::Contacts, rng) {
                put("Contact_Name", contact);
            }
            put("Lead_Source", json!(pick(rng, LEAD_SOURCES)));
            put("In_Forecast", json!(n.is_multiple_of(2)));
        }
        Module::Notes => {
            let parent_module = [Module::Contacts, Module::Accounts, Module::Deals][n % 3];
            put("Note_Title", json!(format!("Note {n}")));
            put(
                "Note_Content",
                json!(format!("Spoke with {first} about the order.")),
            );
            if let Some(mut parent) = lookup(parent_module, rng) {
                parent["module"] =
                    json!({"api_name": parent_module.name(), "id": parent_module.name()});
                put("Parent_Id", parent);
            }
        }
        Module::Tasks | Module::Calls | Module::Events => {
            if let Some(contact) = lookup(Module::Contacts, rng) {
                put("Who_Id", contact);
            }
            let what = if n.is_multiple_of(2) {
                Module::Deals
            } else {
                Module::Accounts
            };
            if let Some(parent) = lookup(what, rng) {
                put("What_Id", parent);
                put("$se_module", json!(what.name()));
            }
            let start = crate::seed_epoch() - Duration::hours(rng.gen_range(1..2_000));
            match module {
                Module::Tasks => {
                    put("Subject", json!(format!("Follow up {n}")));
                    put("Status", json!(pick(rng, TASK_STATUSES)));
                    put("Priority", json!(pick(rng, PRIORITIES)));
                    put("Due_Date", json!(start.format("%Y-%m-%d").to_string()));
                    put("Effort_Hours", json!(f64::from(rng.gen_range(1..16)) / 2.0));
                }
                Module::Calls => {
                    let seconds = rng.gen_range(30..3_600);
                    put("Subject", json!(format!("Call {n}")));
                    put("Call_Type", json!(pick(rng, CALL_TYPES)));
                    put("Call_Start_Time", json!(format_time(start)));
                    put(
                        "Call_Duration",
                        json!(format!("{:02}:{:02}", seconds / 60, seconds % 60)),
                    );
                }
                _ => {
                    put("Event_Title", json!(format!("Meeting {n}")));
                    put("Start_DateTime", json!(format_time(start)));
                    put(
                        "End_DateTime",
                        json!(format_time(start + Duration::minutes(45))),
                    );
                    put(
                        "Venue",
                        json!(pick(rng, &["Zoom", "Office", "Client site"])),
                    );
                }
            }
        }
    }
    fields
}

/// Seeds the org.
pub(crate) fn seed(store: &mut Store, rng: &mut StdRng, config: &ZohoConfig) {
    let epoch = crate::seed_epoch();
    for n in 0..config.users.max(1) {
        let id = store.next_id();
        store.users.push(User {
            id,
            first_name: FIRST[n % FIRST.len()].to_owned(),
            last_name: LAST[(n * 7) % LAST.len()].to_owned(),
            email: format!("user{n}@example.com"),
            active: n % 9 != 8,
            role: if n == 0 { "CEO" } else { "Manager" },
            created: epoch - Duration::days(400 - n as i64),
        });
    }
    let counts = [
        (Module::Accounts, config.accounts),
        (Module::Contacts, config.contacts),
        (Module::Leads, config.leads),
        (Module::Deals, config.deals),
        (Module::Notes, config.notes),
        (Module::Tasks, config.tasks),
        (Module::Calls, config.calls),
        (Module::Events, config.events),
    ];
    for (module, count) in counts {
        for n in 0..count {
            let fields = generate(store, module, rng, n);
            let created: DateTime<Utc> =
                epoch - Duration::seconds(rng.gen_range(86_400..200 * 86_400));
            let span = (epoch - created).num_seconds().max(1);
            let modified = created + Duration::seconds(rng.gen_range(0..span));
            store.insert(module, fields, created, modified);
        }
    }
}
