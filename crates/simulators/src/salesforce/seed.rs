//! Deterministic, realistic seed data: users, accounts, contacts, leads, opportunities,
//! activities and notes, with the relationships between them and a few odd values.
//!
//! Everything comes from one `StdRng` seeded from the config, so a seed always yields the same
//! org. Timestamps are spread over the two years before the fixed instant
//! 2026-11-01T00:00:00Z and ascend with ids. [`generate_record`] is also used by mutation faults
//! to insert records while a caller pages; those get the current time.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::rngs::StdRng;

use super::schema::{INDUSTRIES, LEAD_STATUSES, STAGES, TASK_STATUSES};
use super::store::{Db, Val, derive};
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
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Priya",
    "Arjun",
    "Mei",
    "Hiroshi",
    "Fatima",
    "Omar",
    "Sofia",
    "Mateo",
    "Lena",
    "Lukas",
    "Chloé",
    "Björn",
    "Aisha",
    "Kwame",
    "Olga",
    "Dmitri",
    "Ana",
    "João",
    "Noah",
    "Emma",
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
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Müller",
    "Schmidt",
    "Nakamura",
    "Patel",
    "Kowalski",
    "Novak",
    "Dubois",
    "Rossi",
    "Silva",
    "Okafor",
];
const COMPANY_WORDS: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Wonka",
    "Gringotts",
    "Oscorp",
    "Pied Piper",
    "Dunder",
    "Massive",
    "Nimbus",
    "Blue Harbor",
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Litware",
    "Tailspin",
    "Adatum",
    "Alpine",
    "Summit",
    "Redwood",
    "Granite",
    "Evergreen",
];
const COMPANY_SUFFIXES: &[&str] = &[
    "Inc.", "LLC", "Ltd", "GmbH", "Group", "Corp.", "Holdings", "Systems", "Labs", "Partners",
];
const CITIES: &[(&str, &str, &str, &str)] = &[
    ("San Francisco", "CA", "94105", "United States"),
    ("New York", "NY", "10001", "United States"),
    ("Austin", "TX", "73301", "United States"),
    ("Chicago", "IL", "60601", "United States"),
    ("Seattle", "WA", "98101", "United States"),
    ("Boston", "MA", "02108", "United States"),
    ("Toronto", "ON", "M5H 2N2", "Canada"),
    ("London", "", "EC1A 1BB", "United Kingdom"),
    ("Berlin", "", "10115", "Germany"),
    ("Paris", "", "75001", "France"),
    ("São Paulo", "SP", "01000-000", "Brazil"),
    ("Tokyo", "", "100-0001", "Japan"),
    ("Sydney", "NSW", "2000", "Australia"),
    ("Bengaluru", "KA", "560001", "India"),
    ("Stockholm", "", "111 20", "Sweden"),
];
const STREETS: &[&str] = &[
    "Main St",
    "Market St",
    "Oak Ave",
    "2nd Ave",
    "Elm Rd",
    "Park Blvd",
    "King St",
];
const TITLES: &[&str] = &[
    "CEO",
    "CTO",
    "VP Sales",
    "VP Marketing",
    "Director of Operations",
    "Sales Manager",
    "Account Executive",
    "Software Engineer",
    "Procurement Manager",
    "Head of IT",
    "CFO",
    "Office Manager",
    "Product Manager",
    "Customer Success Manager",
];
const DEPARTMENTS: &[&str] = &[
    "Sales",
    "Marketing",
    "Engineering",
    "Finance",
    "Operations",
    "IT",
    "Procurement",
    "Support",
];
const LEAD_SOURCES: &[&str] = &[
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
];
const LANGUAGES: &[&str] = &[
    "English",
    "German",
    "French",
    "Spanish",
    "Japanese",
    "Portuguese",
    "Mandarin",
];

/// The fields of one generated record, by name.
pub(crate) type Fields = Vec<(&'static str, Val)>;

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

fn chance(rng: &mut StdRng, probability: f64) -> bool {
    rng.gen_bool(probability)
}

/// A phone number of `country` as users type it: national format, except every sixth record
/// (by `ordinal`) written with the country code. Draws what it always drew, so the rest of
/// the org stays the same for a seed.
fn phone(rng: &mut StdRng, country: &str, ordinal: usize) -> String {
    let draws = [
        rng.gen_range(201..990),
        rng.gen_range(200..999),
        rng.gen_range(0..10_000),
    ];
    let style = if ordinal.is_multiple_of(6) {
        PhoneStyle::International
    } else {
        PhoneStyle::National
    };
    phone_number(country, style, draws).unwrap_or_else(|| {
        let [area, exchange, line] = draws;
        format!("+1 ({area}) {exchange}-{line:04}")
    })
}

fn long_text() -> String {
    let sentence =
        "Long description used to check that 32,000-character text areas survive the trip. ";
    sentence
        .repeat(32_000 / sentence.len() + 1)
        .chars()
        .take(32_000)
        .collect()
}

fn company_name(rng: &mut StdRng) -> String {
    format!(
        "{} {}",
        pick(rng, COMPANY_WORDS),
        pick(rng, COMPANY_SUFFIXES)
    )
}

fn slug(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A random live id of `sobject`, if it has any rows; never the Automated Process user, who
/// owns and creates no business records.
fn random_id(db: &Db, rng: &mut StdRng, sobject: &str) -> Option<String> {
    let table = db.table(sobject)?;
    if table.rows.is_empty() {
        return None;
    }
    for _ in 0..8 {
        let idx = rng.gen_range(0..table.rows.len());
        if table.live(idx) && db.automated_user.as_ref() != Some(&table.rows[idx].id) {
            return Some(table.rows[idx].id.clone());
        }
    }
    None
}

/// Reads a text field of the record with `id` in `sobject`.
fn field_of(db: &Db, sobject: &str, id: &str, field: &str) -> Val {
    let Some(table) = db.table(sobject) else {
        return Val::Null;
    };
    let Some(idx) = table.position(id) else {
        return Val::Null;
    };
    table.rows[idx].get(table.schema.idx(field)).clone()
}

fn person_name(rng: &mut StdRng, ordinal: usize) -> (String, String) {
    match ordinal {
        3 => ("Zoë".into(), "Ångström".into()),
        5 => ("雷".into(), "李".into()),
        7 => ("Seán".into(), "O'Brien".into()),
        _ => (pick(rng, FIRST_NAMES).into(), pick(rng, LAST_NAMES).into()),
    }
}

fn address(
    rng: &mut StdRng,
) -> (
    String,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
) {
    let (city, state, postal, country) = CITIES[rng.gen_range(0..CITIES.len())];
    let street = format!("{} {}", rng.gen_range(1..9_999), pick(rng, STREETS));
    (street, city, state, postal, country)
}

/// Generates the fields of a new `sobject` record (without ids and timestamps).
/// `ordinal` is the record's position among seeded records; odd values sit at fixed ordinals.
pub(crate) fn generate_record(
    db: &Db,
    rng: &mut StdRng,
    sobject: &str,
    ordinal: usize,
    created: DateTime<Utc>,
) -> Fields {
    let owner = Val::opt_text(random_id(db, rng, "User"));
    let mut fields: Fields = Vec::with_capacity(24);
    match sobject {
        "User" => {
            let (first, last) = if ordinal == 0 {
                ("Integration".to_owned(), "User".to_owned())
            } else {
                (
                    pick(rng, FIRST_NAMES).to_owned(),
                    pick(rng, LAST_NAMES).to_owned(),
                )
            };
            let login = format!("{}.{}{}", slug(&first), slug(&last), ordinal);
            fields.extend([
                (
                    "Username",
                    Val::Text(format!("{login}@crosswalk-sim.example")),
                ),
                ("FirstName", Val::Text(first)),
                ("LastName", Val::Text(last)),
                ("Email", Val::Text(format!("{login}@crosswalk-sim.example"))),
                ("IsActive", Val::Bool(ordinal == 0 || !chance(rng, 0.1))),
                (
                    "Title",
                    Val::text(if ordinal == 0 {
                        "API Integration"
                    } else {
                        pick(rng, TITLES)
                    }),
                ),
                ("Department", Val::text(pick(rng, DEPARTMENTS))),
            ]);
        }
        "Account" => {
            let name = match ordinal {
                2 => "Rocket Labs 🚀".to_owned(),
                4 => "Zoë's Café Ångström AB".to_owned(),
                6 => "李雷科技有限公司".to_owned(),
                _ => company_name(rng),
            };
            let (street, city, state, postal, country) = address(rng);
            let website = if ordinal == 10 {
                String::new()
            } else {
                format!("https://www.{}.example", slug(&name))
            };
            let employees = rng.gen_range(1..50_000);
            fields.extend([
                ("Name", Val::Text(name)),
                (
                    "Type",
                    Val::text(pick(
                        rng,
                        &[
                            "Prospect",
                            "Customer - Direct",
                            "Customer - Channel",
                            "Technology Partner",
                            "Other",
                        ],
                    )),
                ),
                (
                    "Industry",
                    if chance(rng, 0.9) {
                        Val::text(pick(rng, INDUSTRIES))
                    } else {
                        Val::Null
                    },
                ),
                ("Website", Val::Text(website)),
                ("Phone", Val::Text(phone(rng, country, ordinal))),
                (
                    "NumberOfEmployees",
                    if chance(rng, 0.85) {
                        Val::Num(f64::from(employees))
                    } else {
                        Val::Null
                    },
                ),
                (
                    "AnnualRevenue",
                    if chance(rng, 0.8) {
                        Val::Num(f64::from(employees) * f64::from(rng.gen_range(50_000..300_000)))
                    } else {
                        Val::Null
                    },
                ),
                (
                    "Description",
                    match ordinal {
                        9 => Val::Text(long_text()),
                        _ if chance(rng, 0.3) => {
                            Val::text("Key account; renewal discussions ongoing.")
                        }
                        _ => Val::Null,
                    },
                ),
                ("BillingStreet", Val::Text(street)),
                ("BillingCity", Val::text(city)),
                (
                    "BillingState",
                    Val::opt_text((!state.is_empty()).then_some(state)),
                ),
                ("BillingPostalCode", Val::text(postal)),
                ("BillingCountry", Val::text(country)),
                ("ShippingCity", Val::text(city)),
                ("ShippingCountry", Val::text(country)),
                (
                    "ParentId",
                    if ordinal > 20 && chance(rng, 0.05) {
                        Val::opt_text(random_id(db, rng, "Account"))
                    } else {
                        Val::Null
                    },
                ),
                (
                    "Customer_Segment__c",
                    Val::text(pick(rng, &["SMB", "Mid-Market", "Enterprise", "Strategic"])),
                ),
                (
                    "LastActivityDate",
                    if chance(rng, 0.5) {
                        Val::Date((created + Duration::days(rng.gen_range(0..60))).date_naive())
                    } else {
                        Val::Null
                    },
                ),
            ]);
        }
        "Contact" => {
            let (first, last) = person_name(rng, ordinal);
            let account = if chance(rng, 0.92) {
                random_id(db, rng, "Account")
            } else {
                None
            };
            let (street, city, state, postal, country) = address(rng);
            let email = format!(
                "{}.{}{}@{}.example",
                slug(&first),
                slug(&last),
                ordinal,
                pick(rng, &["acme", "globex", "mail", "corp"])
            );
            let nps = chance(rng, 0.6).then(|| f64::from(rng.gen_range(0..=10)));
            fields.extend([
                (
                    "FirstName",
                    if ordinal == 13 {
                        Val::Null
                    } else {
                        Val::Text(first)
                    },
                ),
                ("LastName", Val::Text(last)),
                (
                    "Salutation",
                    if chance(rng, 0.4) {
                        Val::text(pick(rng, &["Mr.", "Ms.", "Mrs.", "Dr."]))
                    } else {
                        Val::Null
                    },
                ),
                (
                    "Email",
                    if chance(rng, 0.9) {
                        Val::Text(email)
                    } else {
                        Val::Null
                    },
                ),
                (
                    "Phone",
                    if ordinal == 15 {
                        Val::text("")
                    } else if chance(rng, 0.8) {
                        Val::Text(phone(rng, country, ordinal))
                    } else {
                        Val::Null
                    },
                ),
                (
                    "MobilePhone",
                    if chance(rng, 0.5) {
                        Val::Text(phone(rng, country, ordinal))
                    } else {
                        Val::Null
                    },
                ),
                (
                    "Title",
                    match ordinal {
                        11 => Val::text("Chief 🚀 Officer"),
                        13 => Val::text(""),
                        _ => Val::text(pick(rng, TITLES)),
                    },
                ),
                (
                    "Department",
                    if chance(rng, 0.7) {
                        Val::text(pick(rng, DEPARTMENTS))
                    } else {
                        Val::Null
                    },
                ),
                (
                    "LeadSource",
                    if chance(rng, 0.7) {
                        Val::text(pick(rng, LEAD_SOURCES))
                    } else {
                        Val::Null
                    },
                ),
                ("AccountId", Val::opt_text(account)),
            ]);
            if ordinal % 5 == 2 {
                // Many orgs hold the whole address in the street field, country included,
                // and leave the other address fields empty.
                let region = if state.is_empty() {
                    String::new()
                } else {
                    format!("{state} ")
                };
                fields.extend([
                    (
                        "MailingStreet",
                        Val::Text(format!("{street}\n{city}, {region}{postal}\n{country}")),
                    ),
                    ("MailingCity", Val::Null),
                    ("MailingState", Val::Null),
                    ("MailingPostalCode", Val::Null),
                    ("MailingCountry", Val::Null),
                ]);
            } else {
                fields.extend([
                    ("MailingStreet", Val::Text(street)),
                    ("MailingCity", Val::text(city)),
                    (
                        "MailingState",
                        Val::opt_text((!state.is_empty()).then_some(state)),
                    ),
                    ("MailingPostalCode", Val::text(postal)),
                    ("MailingCountry", Val::text(country)),
                ]);
            }
            fields.extend([
                (
                    "Description",
                    match ordinal {
                        17 => Val::Text(long_text()),
                        _ if chance(rng, 0.2) => {
                            Val::text("Met at the annual conference.\nPrefers email.")
                        }
                        _ => Val::Null,
                    },
                ),
                (
                    "LastActivityDate",
                    if chance(rng, 0.5) {
                        Val::Date((created + Duration::days(rng.gen_range(0..90))).date_naive())
                    } else {
                        Val::Null
                    },
                ),
                (
                    "Loyalty_Tier__c",
                    if chance(rng, 0.7) {
                        Val::text(pick(rng, &["Bronze", "Silver", "Gold"]))
                    } else {
                        Val::Null
                    },
                ),
                ("NPS_Score__c", nps.map_or(Val::Null, Val::Num)),
                (
                    "Preferred_Language__c",
                    if chance(rng, 0.5) {
                        Val::text(pick(rng, LANGUAGES))
                    } else {
                        Val::Null
                    },
                ),
            ]);
        }
        "Lead" => {
            let (first, last) = person_name(rng, ordinal);
            let (street, city, state, postal, country) = address(rng);
            let converted = chance(rng, 0.1);
            let status = if converted {
                "Closed - Converted"
            } else {
                pick(rng, &LEAD_STATUSES[..2])
            };
            let status = if !converted && chance(rng, 0.1) {
                LEAD_STATUSES[3]
            } else {
                status
            };
            fields.extend([
                ("FirstName", Val::Text(first.clone())),
                ("LastName", Val::Text(last.clone())),
                ("Company", Val::Text(company_name(rng))),
                ("Title", Val::text(pick(rng, TITLES))),
                (
                    "Email",
                    Val::Text(format!(
                        "{}.{}{}@lead.example",
                        slug(&first),
                        slug(&last),
                        ordinal
                    )),
                ),
                ("Phone", Val::Text(phone(rng, country, ordinal))),
                (
                    "MobilePhone",
                    if chance(rng, 0.4) {
                        Val::Text(phone(rng, country, ordinal))
                    } else {
                        Val::Null
                    },
                ),
                ("Status", Val::text(status)),
                ("LeadSource", Val::text(pick(rng, LEAD_SOURCES))),
                (
                    "Industry",
                    if chance(rng, 0.7) {
                        Val::text(pick(rng, INDUSTRIES))
                    } else {
                        Val::Null
                    },
                ),
                ("IsConverted", Val::Bool(converted)),
                ("Street", Val::Text(street)),
                ("City", Val::text(city)),
                ("State", Val::opt_text((!state.is_empty()).then_some(state))),
                ("PostalCode", Val::text(postal)),
                ("Country", Val::text(country)),
            ]);
            if converted {
                fields.extend([
                    (
                        "ConvertedDate",
                        Val::Date(
                            (created + Duration::days(rng.gen_range(1..60)))
                                .date_naive()
                                .min(seed_epoch().date_naive()),
                        ),
                    ),
                    (
                        "ConvertedContactId",
                        Val::opt_text(random_id(db, rng, "Contact")),
                    ),
                    (
                        "ConvertedAccountId",
                        Val::opt_text(random_id(db, rng, "Account")),
                    ),
                    (
                        "ConvertedOpportunityId",
                        Val::opt_text(random_id(db, rng, "Opportunity")),
                    ),
                ]);
            }
        }
        "Opportunity" => {
            let account = random_id(db, rng, "Account");
            let account_name = account
                .as_deref()
                .map(|id| field_of(db, "Account", id, "Name"))
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "New Business".into());
            let close = (created + Duration::days(rng.gen_range(7..180))).date_naive();
            let stage = if close < seed_epoch().date_naive() - Duration::days(30) {
                if chance(rng, 0.55) {
                    "Closed Won"
                } else {
                    "Closed Lost"
                }
            } else {
                STAGES[rng.gen_range(0..8)].0
            };
            fields.extend([
                (
                    "Name",
                    Val::Text(format!(
                        "{account_name} - {}",
                        pick(
                            rng,
                            &["Renewal", "Expansion", "New Deal", "Pilot", "Upgrade"]
                        )
                    )),
                ),
                ("AccountId", Val::opt_text(account)),
                (
                    "Amount",
                    if chance(rng, 0.9) {
                        Val::Num(f64::from(rng.gen_range(10..5_000)) * 100.0)
                    } else {
                        Val::Null
                    },
                ),
                ("StageName", Val::text(stage)),
                ("CloseDate", Val::Date(close)),
                (
                    "Type",
                    Val::text(pick(
                        rng,
                        &[
                            "New Customer",
                            "Existing Customer - Upgrade",
                            "Existing Customer - Replacement",
                        ],
                    )),
                ),
                ("LeadSource", Val::text(pick(rng, LEAD_SOURCES))),
                (
                    "Description",
                    if chance(rng, 0.2) {
                        Val::text("Champion identified; legal review pending.")
                    } else {
                        Val::Null
                    },
                ),
                (
                    "Deal_Source_Detail__c",
                    if chance(rng, 0.5) {
                        Val::text(pick(
                            rng,
                            &[
                                "Webinar",
                                "Trade show",
                                "Cold outreach",
                                "Customer referral",
                            ],
                        ))
                    } else {
                        Val::Null
                    },
                ),
                (
                    "LastActivityDate",
                    if chance(rng, 0.5) {
                        Val::Date(close - Duration::days(rng.gen_range(0..30)))
                    } else {
                        Val::Null
                    },
                ),
            ]);
        }
        "Task" => {
            let subtype_roll = rng.gen_range(0..10);
            let subtype = match subtype_roll {
                0..=4 => "Task",
                5..=7 => "Call",
                _ => "Email",
            };
            let (who, what) = who_and_what(db, rng);
            let status = if subtype == "Task" {
                pick(rng, TASK_STATUSES)
            } else {
                "Completed"
            };
            let due = (created + Duration::days(rng.gen_range(0..21))).date_naive();
            let subject = match subtype {
                "Call" => "Call".to_owned(),
                "Email" => format!(
                    "Email: {}",
                    pick(rng, &["Follow-up", "Proposal", "Intro", "Re: pricing"])
                ),
                _ => pick(
                    rng,
                    &[
                        "Send Quote",
                        "Send Letter",
                        "Prepare demo",
                        "Review contract",
                        "Other",
                    ],
                )
                .to_owned(),
            };
            fields.extend([
                ("Subject", Val::Text(subject)),
                (
                    "Description",
                    if chance(rng, 0.3) {
                        Val::text("Discussed next steps and timeline.")
                    } else {
                        Val::Null
                    },
                ),
                ("Status", Val::text(status)),
                (
                    "Priority",
                    Val::text(pick(rng, &["High", "Normal", "Normal", "Low"])),
                ),
                ("ActivityDate", Val::Date(due)),
                ("WhoId", Val::opt_text(who)),
                ("WhatId", Val::opt_text(what)),
                ("TaskSubtype", Val::text(subtype)),
            ]);
            if subtype == "Call" {
                fields.extend([
                    (
                        "CallType",
                        Val::text(pick(rng, &["Inbound", "Outbound", "Outbound", "Internal"])),
                    ),
                    (
                        "CallDurationInSeconds",
                        Val::Num(f64::from(rng.gen_range(15..3_600))),
                    ),
                ]);
            }
            if status == "Completed" {
                fields.push((
                    "CompletedDateTime",
                    Val::DateTime(created + Duration::minutes(rng.gen_range(1..600))),
                ));
            }
        }
        "Event" => {
            let (who, what) = who_and_what(db, rng);
            let all_day = chance(rng, 0.05);
            let offset = Duration::minutes(rng.gen_range(-20_000..60_000) / 30 * 30);
            let start = if all_day {
                (created + offset)
                    .date_naive()
                    .and_hms_opt(0, 0, 0)
                    .map_or(created, |n| n.and_utc())
            } else {
                created + offset
            };
            let minutes = if all_day {
                1440
            } else {
                *[15i64, 30, 30, 45, 60, 60, 90, 120]
                    .get(rng.gen_range(0..8))
                    .unwrap_or(&30)
            };
            fields.extend([
                (
                    "Subject",
                    Val::text(pick(
                        rng,
                        &[
                            "Meeting",
                            "Call",
                            "Demo",
                            "Quarterly business review",
                            "Lunch",
                        ],
                    )),
                ),
                (
                    "Description",
                    if chance(rng, 0.3) {
                        Val::text("Agenda: roadmap, pricing, next steps.")
                    } else {
                        Val::Null
                    },
                ),
                (
                    "Location",
                    if chance(rng, 0.6) {
                        Val::text(pick(
                            rng,
                            &[
                                "Zoom",
                                "Google Meet",
                                "HQ Room 4",
                                "Customer office",
                                "Café Zoë",
                            ],
                        ))
                    } else {
                        Val::Null
                    },
                ),
                ("StartDateTime", Val::DateTime(start)),
                (
                    "EndDateTime",
                    Val::DateTime(start + Duration::minutes(minutes)),
                ),
                ("DurationInMinutes", Val::Num(minutes as f64)),
                ("IsAllDayEvent", Val::Bool(all_day)),
                ("WhoId", Val::opt_text(who)),
                ("WhatId", Val::opt_text(what)),
            ]);
        }
        "Note" => {
            let parent_type = pick(rng, &["Account", "Contact", "Opportunity", "Lead"]);
            fields.extend([
                (
                    "Title",
                    Val::text(pick(
                        rng,
                        &[
                            "Call notes",
                            "Meeting recap",
                            "Pricing discussion",
                            "Next steps",
                            "Ideas ✨",
                        ],
                    )),
                ),
                (
                    "Body",
                    match ordinal {
                        1 => Val::Text(long_text()),
                        2 => Val::text(""),
                        _ => Val::text(
                            "Customer asked about SSO and data residency.\n- follow up next week",
                        ),
                    },
                ),
                (
                    "ParentId",
                    Val::opt_text(
                        random_id(db, rng, parent_type).or_else(|| random_id(db, rng, "Account")),
                    ),
                ),
                ("IsPrivate", Val::Bool(chance(rng, 0.1))),
            ]);
        }
        _ => {}
    }
    if sobject != "User" && sobject != "OpportunityStage" {
        fields.push(("OwnerId", owner));
    }
    fields
}

/// A WhoId (contact or lead) and WhatId (account or opportunity); leads carry no WhatId.
fn who_and_what(db: &Db, rng: &mut StdRng) -> (Option<String>, Option<String>) {
    if chance(rng, 0.3) {
        return (random_id(db, rng, "Lead"), None);
    }
    let contact = random_id(db, rng, "Contact");
    let account = contact
        .as_deref()
        .map(|id| field_of(db, "Contact", id, "AccountId"))
        .and_then(|v| v.as_str().map(str::to_owned));
    let what = if chance(rng, 0.4) {
        random_id(db, rng, "Opportunity")
    } else {
        account
    };
    (contact, what)
}

/// Appends a generated record to `sobject` with the given timestamps; returns its row index.
pub(crate) fn insert_generated(
    db: &mut Db,
    rng: &mut StdRng,
    sobject: &str,
    ordinal: usize,
    created: DateTime<Utc>,
    modified: DateTime<Utc>,
) -> usize {
    let fields = generate_record(db, rng, sobject, ordinal, created);
    // The first users of an org are created by its Automated Process user.
    let creator = random_id(db, rng, "User")
        .or_else(|| db.api_user.clone())
        .or_else(|| db.automated_user.clone());
    let table = db.builtin(sobject);
    let idx = table.push_row();
    let schema = &table.schema;
    let row = &mut table.rows[idx];
    for (name, value) in fields {
        row.set(schema.idx(name), value);
    }
    row.set(schema.idx("CreatedDate"), Val::DateTime(created));
    row.set(schema.idx("LastModifiedDate"), Val::DateTime(modified));
    row.set(schema.idx("SystemModstamp"), Val::DateTime(modified));
    row.set(schema.idx("CreatedById"), Val::opt_text(creator.clone()));
    row.set(schema.idx("LastModifiedById"), Val::opt_text(creator));
    derive(schema, row);
    idx
}

/// Sorted creation instants for `count` records over the seeded span, and a modification
/// instant for each (half were edited after creation).
fn timeline(rng: &mut StdRng, count: usize) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let epoch = seed_epoch();
    let start = epoch - Duration::seconds(SEED_SPAN_SECS);
    let mut created: Vec<i64> = (0..count)
        .map(|_| rng.gen_range(0..SEED_SPAN_SECS))
        .collect();
    created.sort_unstable();
    created
        .into_iter()
        .map(|offset| {
            let created_at = start + Duration::seconds(offset);
            let modified_at = if rng.gen_bool(0.5) {
                created_at + Duration::seconds(rng.gen_range(0..=(SEED_SPAN_SECS - offset).max(1)))
            } else {
                created_at
            };
            (created_at, modified_at.min(epoch - Duration::seconds(1)))
        })
        .collect()
}

/// Counts of records to seed, by sObject.
pub(crate) struct SeedCounts {
    pub users: usize,
    pub accounts: usize,
    pub contacts: usize,
    pub opportunities: usize,
    pub leads: usize,
    pub tasks: usize,
    pub events: usize,
    pub notes: usize,
}

/// Fills an empty org.
pub(crate) fn seed(db: &mut Db, rng: &mut StdRng, counts: &SeedCounts) {
    seed_stages(db);
    seed_automated_process_user(db);
    let plan = [
        ("User", counts.users.max(1)),
        ("Account", counts.accounts),
        ("Contact", counts.contacts),
        ("Opportunity", counts.opportunities),
        ("Lead", counts.leads),
        ("Task", counts.tasks),
        ("Event", counts.events),
        ("Note", counts.notes),
    ];
    for (sobject, count) in plan {
        for (ordinal, (created, modified)) in timeline(rng, count).into_iter().enumerate() {
            let idx = insert_generated(db, rng, sobject, ordinal, created, modified);
            if sobject == "User" && ordinal == 0 {
                db.api_user = Some(db.builtin("User").rows[idx].id.clone());
            }
        }
    }
}

/// When the org was created: before every seeded record.
fn org_created() -> DateTime<Utc> {
    seed_epoch() - Duration::seconds(SEED_SPAN_SECS + 86_400)
}

/// Adds the Automated Process user every real org has (`autoproc@<org id>`): it created the
/// first users, so no user has a null `CreatedById`. It consumes no randomness, so the rest
/// of the org is the same for a seed.
fn seed_automated_process_user(db: &mut Db) {
    let created = org_created();
    let table = db.builtin("User");
    let idx = table.push_row();
    let id = table.rows[idx].id.clone();
    let schema = &table.schema;
    let row = &mut table.rows[idx];
    let values = [
        ("Username", Val::text("autoproc@crosswalk-sim.example")),
        ("FirstName", Val::text("Automated")),
        ("LastName", Val::text("Process")),
        ("Email", Val::text("noreply@crosswalk-sim.example")),
        ("IsActive", Val::Bool(true)),
        ("CreatedDate", Val::DateTime(created)),
        ("LastModifiedDate", Val::DateTime(created)),
        ("SystemModstamp", Val::DateTime(created)),
        ("CreatedById", Val::Text(id.clone())),
        ("LastModifiedById", Val::Text(id.clone())),
    ];
    for (name, value) in values {
        row.set(schema.idx(name), value);
    }
    derive(schema, row);
    db.automated_user = Some(id);
}

fn seed_stages(db: &mut Db) {
    let created = org_created();
    let table = db.builtin("OpportunityStage");
    for (label, order, probability, closed, won, forecast) in STAGES {
        let idx = table.push_row();
        let schema = &table.schema;
        let row = &mut table.rows[idx];
        let values = [
            ("MasterLabel", Val::text(*label)),
            ("ApiName", Val::text(*label)),
            ("SortOrder", Val::Num(f64::from(*order))),
            ("IsActive", Val::Bool(true)),
            ("IsClosed", Val::Bool(*closed)),
            ("IsWon", Val::Bool(*won)),
            ("DefaultProbability", Val::Num(f64::from(*probability))),
            ("ForecastCategoryName", Val::text(*forecast)),
            ("CreatedDate", Val::DateTime(created)),
            ("LastModifiedDate", Val::DateTime(created)),
            ("SystemModstamp", Val::DateTime(created)),
        ];
        for (name, value) in values {
            row.set(schema.idx(name), value);
        }
    }
}
