//! The simulated Personio company: employees as maps of attribute values (standard attributes
//! by their API names, custom ones as `dynamic_<id>`), the company's departments, teams,
//! offices, cost centres and subcompanies they point to, time-off types, day-based time-off
//! periods and the balances computed from them, hourly absence periods, seeded
//! deterministically before the seed epoch. Rendering the `{label, value, type, universal_id}` envelope is the routes' work.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use super::PersonioConfig;

/// An attribute the company's API credentials may read: `(key, label, type, universal_id,
/// options)`. The `/company/employees/attributes` list and every envelope come from here.
pub(crate) struct AttributeDef {
    pub key: &'static str,
    pub label: &'static str,
    pub kind: &'static str,
    pub universal_id: Option<&'static str>,
    pub options: &'static [&'static str],
}

const fn attribute(
    key: &'static str,
    label: &'static str,
    kind: &'static str,
    universal_id: Option<&'static str>,
) -> AttributeDef {
    AttributeDef {
        key,
        label,
        kind,
        universal_id,
        options: &[],
    }
}

/// Standard attributes, then the company's custom (`dynamic_<id>`) ones. The custom ones are
/// those of the recorded sandbox (`Geburtstag` is the date of birth, `IBAN`) and of the
/// description (`Titel`, `Anniversary Date`), plus a list attribute every employee has.
pub(crate) const ATTRIBUTES: &[AttributeDef] = &[
    attribute("id", "ID", "integer", Some("id")),
    attribute("first_name", "First name", "standard", Some("first_name")),
    attribute("last_name", "Last name", "standard", Some("last_name")),
    attribute(
        "preferred_name",
        "Name (preferred)",
        "standard",
        Some("preferred_name"),
    ),
    attribute("email", "Email", "standard", Some("email")),
    attribute("gender", "Gender", "standard", Some("gender")),
    attribute("status", "Status", "standard", Some("status")),
    attribute("position", "Position", "standard", Some("position")),
    attribute("supervisor", "Supervisor", "standard", Some("supervisor")),
    attribute(
        "employment_type",
        "Employment type",
        "standard",
        Some("employment_type"),
    ),
    attribute(
        "weekly_working_hours",
        "Weekly hours",
        "standard",
        Some("weekly_working_hours"),
    ),
    attribute("hire_date", "Hire date", "date", Some("hire_date")),
    attribute(
        "contract_end_date",
        "Contract ends",
        "date",
        Some("contract_end_date"),
    ),
    attribute(
        "termination_date",
        "Termination date",
        "date",
        Some("termination_date"),
    ),
    attribute(
        "termination_type",
        "Termination type",
        "standard",
        Some("termination_type"),
    ),
    attribute(
        "termination_reason",
        "Termination reason",
        "standard",
        Some("termination_reason"),
    ),
    attribute(
        "probation_period_end",
        "Probation period end",
        "date",
        Some("probation_period_end"),
    ),
    attribute("created_at", "created_at", "date", Some("created_at")),
    attribute(
        "last_modified_at",
        "Last modified",
        "date",
        Some("last_modified_at"),
    ),
    attribute("subcompany", "Subcompany", "standard", Some("subcompany")),
    attribute("office", "Office", "standard", Some("office")),
    attribute("department", "Department", "standard", Some("department")),
    attribute(
        "cost_centers",
        "Cost center",
        "standard",
        Some("cost_centers"),
    ),
    attribute("team", "Team", "standard", Some("team")),
    attribute(
        "absence_entitlement",
        "Absence entitlement",
        "standard",
        Some("absence_entitlement"),
    ),
    attribute("fix_salary", "Fix salary", "decimal", Some("fix_salary")),
    attribute(
        "fix_salary_interval",
        "Salary interval",
        "standard",
        Some("fix_salary_interval"),
    ),
    attribute(
        "hourly_salary",
        "Hourly salary",
        "decimal",
        Some("hourly_salary"),
    ),
    attribute(
        "vacation_day_balance",
        "Vacation day balance",
        "decimal",
        Some("vacation_day_balance"),
    ),
    attribute(
        "last_working_day",
        "Last day of work",
        "date",
        Some("last_working_day"),
    ),
    attribute(
        "profile_picture",
        "Profile Picture",
        "standard",
        Some("profile_picture"),
    ),
    attribute(
        "dynamic_1146666",
        "Geburtstag",
        "date",
        Some("date_of_birth"),
    ),
    attribute("dynamic_21827", "IBAN", "standard", Some("iban")),
    attribute("dynamic_24407", "Titel", "standard", None),
    attribute("dynamic_33400", "Anniversary Date", "date", None),
    AttributeDef {
        key: "dynamic_33410",
        label: "T-Shirt size",
        kind: "list",
        universal_id: None,
        options: &["S", "M", "L", "XL"],
    },
];

/// Looks an attribute up by key.
pub(crate) fn attribute_def(key: &str) -> Option<&'static AttributeDef> {
    ATTRIBUTES.iter().find(|def| def.key == key)
}

/// Departments: `(id, name)`; 625448 is the recorded sandbox's.
pub(crate) const DEPARTMENTS: &[(u64, &str)] = &[
    (281521, "Customer Support"),
    (625448, "Engineering"),
    (281522, "Sales"),
    (281523, "Finance"),
    (281524, "People"),
];
pub(crate) const OFFICES: &[(u64, &str)] = &[
    (131014, "Munich"),
    (131015, "Berlin"),
    (131016, "Madrid"),
    (131017, "London"),
];
pub(crate) const TEAMS: &[(u64, &str)] = &[(59026, "T_X"), (59027, "Platform"), (59028, "Field")];
pub(crate) const COST_CENTERS: &[(u64, &str)] =
    &[(82957, "Cost center 1"), (82958, "Cost center 2")];
pub(crate) const SUBCOMPANIES: &[(u64, &str)] = &[(7033, "CS Demo GmbH"), (7034, "CS Demo S.L.")];

/// Time-off types: `(id, name, category, unit, approval_required, yearly entitlement)`.
pub(crate) const TIME_OFF_TYPES: &[(u64, &str, &str, &str, bool, u32)] = &[
    (113437, "Paid vacation", "paid_vacation", "day", true, 24),
    (113438, "Sick days", "sick_leave", "day", false, 0),
    (
        113439,
        "Parental leave",
        "maternity_parental_leave",
        "day",
        true,
        0,
    ),
    (113440, "Unpaid leave", "unpaid_vacation", "day", true, 0),
    (113441, "Home office", "offsite_work", "hour", false, 0),
];

const FIRST_NAMES: &[&str] = &[
    "Ada", "Alan", "Richard", "Grace", "Lena", "Jonas", "Lukas", "Marie", "Sofia", "Mateo", "Emma",
    "Noah", "Hannah", "Felix", "Clara", "Elias", "Mia", "Paul", "Lea", "Ben", "Zoë", "Jürgen",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "Turing",
    "Stallman",
    "Hopper",
    "Schmidt",
    "Müller",
    "Fischer",
    "Weber",
    "García",
    "Martínez",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Schulz",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
];
const POSITIONS: &[&str] = &[
    "Software Engineer",
    "Support Agent",
    "Account Executive",
    "Controller",
    "People Partner",
    "Team Lead",
    "Product Manager",
];

/// One employee: attribute values by key (relations as the API's `{type, attributes}`
/// objects; `supervisor` as the supervisor's id, rendered by the routes).
#[derive(Debug, Clone)]
pub(crate) struct Employee {
    pub id: u64,
    pub values: Map<String, Value>,
    pub modified_at: DateTime<Utc>,
}

/// One day-based time-off period.
#[derive(Debug, Clone)]
pub(crate) struct TimeOff {
    pub id: u64,
    pub employee_id: u64,
    pub type_id: u64,
    pub status: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub half_day_start: bool,
    pub half_day_end: bool,
    pub comment: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TimeOff {
    /// Working days between start and end, less the half days.
    pub fn days_count(&self) -> f64 {
        let mut days = 0.0;
        let mut day = self.start;
        while day <= self.end {
            if chrono::Datelike::weekday(&day).num_days_from_monday() < 5 {
                days += 1.0;
            }
            day += Duration::days(1);
        }
        if self.half_day_start && days > 0.0 {
            days -= 0.5;
        }
        if self.half_day_end && days > 0.0 && self.end != self.start {
            days -= 0.5;
        }
        days
    }
}

/// One hourly absence period (a time-off type whose unit is `hour`): an instant to an
/// instant, identified by a UUID.
#[derive(Debug, Clone)]
pub(crate) struct HourlyAbsence {
    pub id: String,
    pub employee_id: u64,
    pub type_id: u64,
    pub status: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub comment: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// A period of whole days (created for several days without times): from the first
    /// day's midnight to the midnight after the last, each day counting the working day
    /// (8 hours; 4 for a half day), with whether the first and last days are halves.
    pub whole_days: Option<(bool, bool)>,
}

/// Minutes of one working day, in the simulated company's schedule.
pub(crate) const WORKING_DAY_MINUTES: i64 = 480;

impl HourlyAbsence {
    /// Minutes absent on each day of the company's zone the period touches, in day order.
    pub fn breakdowns(&self) -> Vec<(NaiveDate, i64)> {
        let cet = FixedOffset::east_opt(3600).expect("one hour is a valid offset");
        let (start, end) = (self.start.with_timezone(&cet), self.end.with_timezone(&cet));
        if let Some((half_start, half_end)) = self.whole_days {
            let (first, last) = (start.date_naive(), end.date_naive() - Duration::days(1));
            let mut days = Vec::new();
            let mut day = first;
            while day <= last {
                let half = (day == first && half_start) || (day == last && half_end);
                days.push((
                    day,
                    if half {
                        WORKING_DAY_MINUTES / 2
                    } else {
                        WORKING_DAY_MINUTES
                    },
                ));
                day += Duration::days(1);
            }
            return days;
        }
        let mut days = Vec::new();
        let mut day = start.date_naive();
        while day <= end.date_naive() {
            let from = if day == start.date_naive() {
                start.naive_local()
            } else {
                day.and_hms_opt(0, 0, 0).expect("midnight")
            };
            let to = if day == end.date_naive() {
                end.naive_local()
            } else {
                (day + Duration::days(1))
                    .and_hms_opt(0, 0, 0)
                    .expect("midnight")
            };
            days.push((day, (to - from).num_minutes()));
            day += Duration::days(1);
        }
        days
    }
}

/// The company's data.
pub(crate) struct Store {
    employees: BTreeMap<u64, Employee>,
    pub time_offs: BTreeMap<u64, TimeOff>,
    /// Hourly absence periods by id.
    pub absence_periods: BTreeMap<String, HourlyAbsence>,
    pub next_employee_id: u64,
    pub next_time_off_id: u64,
    pub rng: StdRng,
}

/// Now, in whole seconds (Personio's timestamps carry no fraction).
pub(crate) fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
}

/// Personio's timestamp text: local time with its offset (the sandbox's is CET, `+01:00`).
pub(crate) fn stamp(at: DateTime<Utc>) -> String {
    let cet = FixedOffset::east_opt(3600).expect("one hour is a valid offset");
    at.with_timezone(&cet)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// Personio's date text: midnight of that day in the company's zone.
pub(crate) fn day_stamp(day: NaiveDate) -> String {
    format!("{}T00:00:00+01:00", day.format("%Y-%m-%d"))
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

fn relation(kind: &str, (id, name): (u64, &str)) -> Value {
    json!({"type": kind, "attributes": {"id": id, "name": name}})
}

/// Finds a department, office or subcompany by name, as writes name them.
pub(crate) fn relation_by_name(key: &str, name: &str) -> Option<Value> {
    let (table, kind) = match key {
        "department" => (DEPARTMENTS, "Department"),
        "office" => (OFFICES, "Office"),
        "subcompany" => (SUBCOMPANIES, "Subcompany"),
        _ => return None,
    };
    table
        .iter()
        .find(|(_, each)| each.eq_ignore_ascii_case(name))
        .map(|entry| relation(kind, *entry))
}

impl Store {
    /// A company of `config.employees` employees, some terminated, some on leave or still
    /// onboarding, each with a few time-off periods.
    pub fn seeded(config: &PersonioConfig, mut rng: StdRng) -> Store {
        let mut store = Store {
            employees: BTreeMap::new(),
            time_offs: BTreeMap::new(),
            absence_periods: BTreeMap::new(),
            next_employee_id: 2_040_600,
            next_time_off_id: 17_205_900,
            rng: StdRng::seed_from_u64(0),
        };
        let epoch = crate::seed_epoch();
        for n in 0..config.employees {
            let modified = epoch - Duration::minutes(rng.gen_range(1..400_000));
            store.insert_generated(&mut rng, n, modified);
        }
        let ids: Vec<u64> = store.employees.keys().copied().collect();
        for &id in &ids {
            for _ in 0..rng.gen_range(0..3) {
                let (type_id, ..) = *pick(&mut rng, &TIME_OFF_TYPES[..4]);
                let start = NaiveDate::from_ymd_opt(2026, 1, 5).expect("a date")
                    + Duration::days(rng.gen_range(0..330));
                let end = start + Duration::days(rng.gen_range(0..5));
                let created = epoch - Duration::days(rng.gen_range(1..300));
                let status = if rng.gen_bool(0.8) {
                    "approved"
                } else {
                    "pending"
                };
                store.add_time_off(TimeOff {
                    id: 0,
                    employee_id: id,
                    type_id,
                    status: status.to_owned(),
                    start,
                    end,
                    half_day_start: false,
                    half_day_end: rng.gen_bool(0.1),
                    comment: String::new(),
                    created_by: "API".to_owned(),
                    created_at: created,
                    updated_at: created,
                });
            }
        }
        store.seed_hourly_absences(config.seed);
        store.rng = rng;
        store
    }

    /// Gives about a third of the employees one morning of hourly time off (the `hour` type),
    /// from a generator of its own so that the rest of the seed stays as it was.
    fn seed_hourly_absences(&mut self, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x0ab5_e4ce);
        let (type_id, ..) = *TIME_OFF_TYPES
            .iter()
            .find(|(.., unit, _, _)| *unit == "hour")
            .expect("an hourly type");
        let epoch = crate::seed_epoch();
        let ids: Vec<u64> = self.employees.keys().copied().collect();
        for id in ids {
            if !rng.gen_bool(0.35) {
                continue;
            }
            let day = NaiveDate::from_ymd_opt(2026, 1, 5).expect("a date")
                + Duration::days(rng.gen_range(0..330));
            // 08:00 to 10:00, 11:00 or 12:00 in the company's zone (UTC+1).
            let start = day.and_hms_opt(7, 0, 0).expect("a time").and_utc();
            let end = start + Duration::hours(rng.gen_range(2..5));
            let created = epoch - Duration::days(rng.gen_range(1..300));
            let status = if rng.gen_bool(0.8) {
                "approved"
            } else {
                "pending"
            };
            let uuid = uuid::Builder::from_random_bytes(rng.r#gen()).into_uuid();
            self.absence_periods.insert(
                uuid.to_string(),
                HourlyAbsence {
                    id: uuid.to_string(),
                    employee_id: id,
                    type_id,
                    status: status.to_owned(),
                    start,
                    end,
                    comment: String::new(),
                    created_at: created,
                    updated_at: created,
                    whole_days: None,
                },
            );
        }
    }

    /// Adds a generated employee changed at `modified` (the `n`th drawn: names and emails
    /// stay unique).
    pub fn insert_generated(&mut self, rng: &mut StdRng, n: usize, modified: DateTime<Utc>) -> u64 {
        let first = *pick(rng, FIRST_NAMES);
        let last = *pick(rng, LAST_NAMES);
        let hire = NaiveDate::from_ymd_opt(2015, 1, 1).expect("a date")
            + Duration::days(rng.gen_range(0..4000));
        let roll: f64 = rng.r#gen();
        let (status, termination) = if roll < 0.08 {
            (
                "inactive",
                Some(hire + Duration::days(rng.gen_range(200..1500))),
            )
        } else if roll < 0.11 {
            ("inactive", None)
        } else if roll < 0.14 {
            ("leave", None)
        } else if roll < 0.17 {
            ("onboarding", None)
        } else {
            ("active", None)
        };
        let hire = if status == "onboarding" {
            NaiveDate::from_ymd_opt(2026, 12, 1).expect("a date")
                + Duration::days(rng.gen_range(0..90))
        } else {
            hire
        };
        let supervisor = (!self.employees.is_empty() && rng.gen_bool(0.8)).then(|| {
            let ids: Vec<u64> = self.employees.keys().copied().take(12).collect();
            *pick(rng, &ids)
        });
        let monthly = rng.gen_range(30..120) * 100;
        let hourly = rng.gen_bool(0.1);
        let birthday = NaiveDate::from_ymd_opt(1960, 1, 1).expect("a date")
            + Duration::days(rng.gen_range(0..15000));
        let email = format!(
            "{}.{}.{n}@demo.example",
            first.to_lowercase(),
            last.to_lowercase()
        );
        let mut values = Map::new();
        let mut set = |key: &str, value: Value| {
            values.insert(key.to_owned(), value);
        };
        set("first_name", json!(first));
        set("last_name", json!(last));
        set("preferred_name", json!(format!("{first} {last}")));
        set("email", json!(email));
        set("gender", json!(*pick(rng, &["male", "female", "diverse"])));
        set("status", json!(status));
        set("position", json!(*pick(rng, POSITIONS)));
        set("supervisor", supervisor.map_or(Value::Null, |id| json!(id)));
        set(
            "employment_type",
            json!(if rng.gen_bool(0.9) {
                "internal"
            } else {
                "external"
            }),
        );
        set(
            "weekly_working_hours",
            json!(if rng.gen_bool(0.8) { "40" } else { "20" }),
        );
        set("hire_date", json!(day_stamp(hire)));
        set("contract_end_date", Value::Null);
        set(
            "termination_date",
            termination.map_or(Value::Null, |day| json!(day_stamp(day))),
        );
        set(
            "termination_type",
            json!(if termination.is_some() {
                "Resignation"
            } else {
                ""
            }),
        );
        set("termination_reason", json!(""));
        set(
            "probation_period_end",
            json!(day_stamp(hire + Duration::days(180))),
        );
        set("created_at", json!(stamp(modified - Duration::days(30))));
        set(
            "subcompany",
            relation("Subcompany", *pick(rng, SUBCOMPANIES)),
        );
        set("office", relation("Office", *pick(rng, OFFICES)));
        set(
            "department",
            relation("Department", *pick(rng, DEPARTMENTS)),
        );
        let (center_id, center_name) = *pick(rng, COST_CENTERS);
        set(
            "cost_centers",
            json!([{"type": "CostCenter", "attributes": {"id": center_id, "name": center_name, "percentage": 100}}]),
        );
        set("team", relation("Team", *pick(rng, TEAMS)));
        set(
            "absence_entitlement",
            Value::Array(
                TIME_OFF_TYPES
                    .iter()
                    .filter(|(.., entitlement)| *entitlement > 0)
                    .map(|(id, name, category, _, _, entitlement)| {
                        json!({"type": "TimeOffType", "attributes": {"id": id, "name": name, "category": category, "entitlement": entitlement}})
                    })
                    .collect(),
            ),
        );
        set("fix_salary", json!(if hourly { 0 } else { monthly }));
        set("fix_salary_interval", json!("monthly"));
        set("hourly_salary", json!(if hourly { 25 } else { 0 }));
        set(
            "last_working_day",
            termination.map_or(Value::Null, |day| json!(day_stamp(day))),
        );
        set(
            "dynamic_1146666",
            json!(birthday.format("%Y-%m-%d").to_string()),
        );
        set(
            "dynamic_21827",
            json!(format!(
                "DE89 3704 0044 0532 {:04} {:02}",
                rng.gen_range(0..10000),
                rng.gen_range(0..100)
            )),
        );
        set(
            "dynamic_24407",
            if rng.gen_bool(0.1) {
                json!("Dr")
            } else {
                json!("")
            },
        );
        set(
            "dynamic_33400",
            json!(day_stamp(hire + Duration::days(365))),
        );
        set("dynamic_33410", json!(*pick(rng, &["S", "M", "L", "XL"])));
        let id = self.next_employee_id;
        self.next_employee_id += 1 + rng.gen_range(0..3);
        values.insert(
            "profile_picture".to_owned(),
            json!(format!(
                "https://api.personio.de/v1/company/employees/{id}/profile-picture"
            )),
        );
        self.employees.insert(
            id,
            Employee {
                id,
                values,
                modified_at: modified,
            },
        );
        id
    }

    /// Live employees in id order.
    pub fn live(&self) -> impl Iterator<Item = &Employee> {
        self.employees.values()
    }

    pub fn employee(&self, id: u64) -> Option<&Employee> {
        self.employees.get(&id)
    }

    /// Adds an employee from written values; returns its id.
    pub fn create(&mut self, values: Map<String, Value>, at: DateTime<Utc>) -> u64 {
        let id = self.next_employee_id;
        self.next_employee_id += 1;
        let mut values = values;
        values.insert("created_at".to_owned(), json!(stamp(at)));
        self.employees.insert(
            id,
            Employee {
                id,
                values,
                modified_at: at,
            },
        );
        id
    }

    /// Sets values of an employee; `false` when there is none.
    pub fn update(&mut self, id: u64, values: &Map<String, Value>, at: DateTime<Utc>) -> bool {
        let Some(employee) = self.employees.get_mut(&id) else {
            return false;
        };
        for (key, value) in values {
            employee.values.insert(key.clone(), value.clone());
        }
        employee.modified_at = at;
        true
    }

    /// Terminates an employee as HR does in the app: inactive, with a termination date.
    pub fn terminate(&mut self, id: u64, at: DateTime<Utc>) -> bool {
        let day = json!(day_stamp(at.date_naive()));
        let values = Map::from_iter([
            ("status".to_owned(), json!("inactive")),
            ("termination_date".to_owned(), day.clone()),
            ("last_working_day".to_owned(), day),
            ("termination_type".to_owned(), json!("Resignation")),
        ]);
        self.update(id, &values, at)
    }

    /// Deletes an employee and their time off; Personio v1 keeps no trace of it.
    pub fn delete(&mut self, id: u64) -> bool {
        let removed = self.employees.remove(&id).is_some();
        if removed {
            self.time_offs.retain(|_, period| period.employee_id != id);
            self.absence_periods
                .retain(|_, period| period.employee_id != id);
        }
        removed
    }

    /// Adds an hourly absence period under a new UUID, which it answers.
    pub fn add_absence_period(&mut self, mut period: HourlyAbsence) -> String {
        let uuid = uuid::Builder::from_random_bytes(self.rng.r#gen()).into_uuid();
        period.id = uuid.to_string();
        self.absence_periods.insert(period.id.clone(), period);
        uuid.to_string()
    }

    /// Adds a period, giving it the next id.
    pub fn add_time_off(&mut self, mut period: TimeOff) -> u64 {
        let id = self.next_time_off_id;
        self.next_time_off_id += 1;
        period.id = id;
        self.time_offs.insert(id, period);
        id
    }

    /// The balance of each time-off type an employee has, as `/absences/balance` gives it:
    /// `(type, balance, available)`, the entitlement less approved days (and pending ones).
    pub fn balances(&self, employee_id: u64) -> Vec<(usize, f64, f64)> {
        TIME_OFF_TYPES
            .iter()
            .enumerate()
            .filter(|(_, (.., unit, _, _))| *unit == "day")
            .map(|(idx, (type_id, _, _, _, _, entitlement))| {
                let taken = |status: &str| -> f64 {
                    self.time_offs
                        .values()
                        .filter(|p| {
                            p.employee_id == employee_id
                                && p.type_id == *type_id
                                && p.status == status
                        })
                        .map(TimeOff::days_count)
                        .sum()
                };
                let balance = f64::from(*entitlement) - taken("approved");
                (idx, balance, balance - taken("pending"))
            })
            .collect()
    }
}
