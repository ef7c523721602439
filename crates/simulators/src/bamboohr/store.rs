//! The simulated BambooHR company: employees as flat field maps (standard fields by their API
//! names, custom fields by their `custom…` aliases), their table rows (`jobInfo`,
//! `compensation`, `employmentStatus`), time-off types and requests, and the change log
//! `/employees/changed` reads, seeded deterministically before the seed epoch.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::BambooConfig;

/// Standard employee fields the simulator knows, by API name, with their `/meta/fields` id and
/// type. Field-level reads and writes accept these and the custom aliases below.
pub(crate) const STANDARD_FIELDS: &[(&str, &str, &str)] = &[
    ("1", "firstName", "text"),
    ("2", "lastName", "text"),
    ("3", "middleName", "text"),
    ("1358", "preferredName", "text"),
    ("4", "displayName", "text"),
    ("5", "employeeNumber", "text"),
    ("6", "jobTitle", "list"),
    ("7", "workEmail", "email"),
    ("8", "homeEmail", "email"),
    ("9", "mobilePhone", "phone"),
    ("10", "workPhone", "phone"),
    ("11", "department", "list"),
    ("12", "division", "list"),
    ("13", "location", "list"),
    ("14", "status", "status"),
    ("15", "employmentHistoryStatus", "list"),
    ("16", "hireDate", "date"),
    ("17", "terminationDate", "date"),
    ("18", "dateOfBirth", "date"),
    ("19", "gender", "gender"),
    ("20", "maritalStatus", "list"),
    ("21", "ssn", "ssn"),
    ("22", "address1", "text"),
    ("23", "city", "text"),
    ("24", "state", "state"),
    ("25", "zipcode", "text"),
    ("26", "country", "country"),
    ("27", "supervisorEId", "employee"),
    ("28", "photoUrl", "text"),
    ("29", "ethnicity", "list"),
    ("30", "lastChanged", "timestamp"),
];

/// Custom fields seeded on every company: `(id, name, type, alias)`.
pub(crate) const CUSTOM_FIELDS: &[(u64, &str, &str, &str)] = &[
    (4378, "Shirt size", "list", "customShirtsize"),
    (
        4339,
        "Secondary Language",
        "list",
        "customSecondaryLanguage1",
    ),
];

/// Time-off types: `(id, name, units, icon)`, as the recorded company has them.
pub(crate) const TIME_OFF_TYPES: &[(u64, &str, &str, &str)] = &[
    (78, "Vacation", "hours", "palm-trees"),
    (79, "Sick", "hours", "band-aid"),
    (77, "Bereavement", "days", "time-off-luggage"),
    (80, "FMLA", "hours", "family"),
];

const FIRST_NAMES: &[&str] = &[
    "Charlotte",
    "Ashley",
    "Christina",
    "Shannon",
    "Victor",
    "Jennifer",
    "Ryota",
    "Daniel",
    "Eric",
    "Cheryl",
    "Amara",
    "Søren",
    "Lucía",
    "Zoë",
    "Kwame",
    "Priya",
    "Jakob",
    "Mei",
];
const LAST_NAMES: &[&str] = &[
    "Abbott",
    "Adams",
    "Agluinda",
    "Anderson",
    "Caldwell",
    "Saito",
    "Vance",
    "Asture",
    "Barnet",
    "Okafor",
    "Johansson",
    "Fernández",
    "Nguyễn",
    "O'Brien",
    "Müller",
];
pub(crate) const DEPARTMENTS: &[(&str, &str)] = &[
    ("Human Resources", "North America"),
    ("Engineering", "North America"),
    ("Sales", "Europe"),
    ("Customer Success", "Europe"),
    ("Finance", "North America"),
];
pub(crate) const LOCATIONS: &[&str] = &[
    "Salt Lake City, Utah",
    "London, UK",
    "Lindon, Utah",
    "Remote",
];

/// Options kept only for history (`archived: yes` in `/meta/lists`, `archived: true` among
/// the locations): `(list alias, name)`. No employee holds them.
pub(crate) const ARCHIVED_OPTIONS: &[(&str, &str)] = &[
    ("department", "Legacy Support"),
    ("location", "Provo, Utah"),
];

/// The places `/hris/org/locations` gives, by name: `(address1, city, state, zipcode,
/// country ISO code, time zone)`, all `None` for a remote location.
pub(crate) fn location_address(
    name: &str,
) -> Option<(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
)> {
    match name {
        "Salt Lake City, Utah" => Some((
            "335 S 560 W",
            "Salt Lake City",
            "UT",
            "84101",
            "US",
            "America/Denver",
        )),
        "London, UK" => Some((
            "1 Finsbury Avenue",
            "London",
            "",
            "EC2M 2PF",
            "GB",
            "Europe/London",
        )),
        "Lindon, Utah" => Some((
            "335 S 560 W",
            "Lindon",
            "UT",
            "84042",
            "US",
            "America/Denver",
        )),
        "Provo, Utah" => Some((
            "86 N University Ave",
            "Provo",
            "UT",
            "84601",
            "US",
            "America/Denver",
        )),
        _ => None,
    }
}
const JOB_TITLES: &[&str] = &[
    "HR Administrator",
    "Software Engineer",
    "Account Executive",
    "Customer Success Manager",
    "Controller",
    "VP of People",
];
const HISTORY_STATUSES: &[&str] = &[
    "Full-Time",
    "Full-Time",
    "Full-Time",
    "Part-Time",
    "Contractor",
];

/// A time-off request to add, already checked.
#[derive(Debug, Clone)]
pub(crate) struct NewTimeOff {
    pub employee_id: u64,
    pub type_id: u64,
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// The amount as BambooHR answers it: a numeric string.
    pub amount: String,
    pub status: String,
    pub note: Option<String>,
    /// The day it is made (its `created` and status date).
    pub today: NaiveDate,
}

/// One table row of an employee.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub id: u64,
    pub employee_id: u64,
    pub fields: Map<String, Value>,
}

/// One employee.
#[derive(Debug, Clone)]
pub(crate) struct Employee {
    pub id: u64,
    /// Standard fields by API name and custom fields by alias; values are strings or null,
    /// as BambooHR answers them.
    pub fields: Map<String, Value>,
    pub last_changed: DateTime<Utc>,
    pub deleted: bool,
}

/// One entry of the change log `/employees/changed` reads.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub employee_id: u64,
    pub action: &'static str,
    pub at: DateTime<Utc>,
    /// The fields the change set (inserts) or changed (updates), by alias: webhooks name
    /// the monitored ones.
    pub fields: Vec<String>,
}

/// The company's data.
#[derive(Debug)]
pub(crate) struct Store {
    pub employees: Vec<Employee>,
    pub job_info: Vec<Row>,
    pub compensation: Vec<Row>,
    /// Bonuses, a table of their own (`date`, `amount`, `reason`, `comment`).
    pub bonus: Vec<Row>,
    pub employment_status: Vec<Row>,
    pub time_off_requests: Vec<Map<String, Value>>,
    pub changes: Vec<Change>,
    next_employee_id: u64,
    next_row_id: u64,
    next_request_id: u64,
    pub rng: StdRng,
}

/// An instant as BambooHR writes `lastChanged` (`2026-05-29T14:29:44Z`).
pub(crate) fn iso(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The clock of writes and mutations: now, but never before the seed epoch (seeded data leads
/// up to it) and strictly after the last change, so `since` windows see every change once.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().max(crate::seed_epoch() + Duration::seconds(1))
}

impl Store {
    /// A company seeded from `config`.
    pub(crate) fn seeded(config: &BambooConfig, mut rng: StdRng) -> Store {
        let mut store = Store {
            employees: Vec::new(),
            job_info: Vec::new(),
            compensation: Vec::new(),
            bonus: Vec::new(),
            employment_status: Vec::new(),
            time_off_requests: Vec::new(),
            changes: Vec::new(),
            next_employee_id: 4,
            next_row_id: 38_563,
            next_request_id: 1_600,
            rng: rand::SeedableRng::seed_from_u64(config.seed ^ 0xb4b0),
        };
        let epoch = crate::seed_epoch();
        for n in 0..config.employees {
            let changed = epoch - Duration::minutes(((config.employees - n) as i64) * 37);
            let id = store.insert_generated(&mut rng, n, changed);
            // Every seventh employee has left: terminated, kept with `status: Inactive`.
            if n % 7 == 6 {
                store.terminate(id, changed.date_naive() - Duration::days(30), changed);
            }
        }
        store
    }

    /// Live employees, by id.
    pub(crate) fn live(&self) -> impl Iterator<Item = &Employee> {
        self.employees.iter().filter(|employee| !employee.deleted)
    }

    pub(crate) fn employee(&self, id: u64) -> Option<&Employee> {
        self.live().find(|employee| employee.id == id)
    }

    pub(crate) fn employee_mut(&mut self, id: u64) -> Option<&mut Employee> {
        self.employees
            .iter_mut()
            .find(|employee| employee.id == id && !employee.deleted)
    }

    fn row_id(&mut self) -> u64 {
        self.next_row_id += 1;
        self.next_row_id
    }

    /// Adds an employee from `fields` (at least a first and last name), dated `at`, with its
    /// first `jobInfo` and `employmentStatus` rows; returns its id.
    pub(crate) fn insert(&mut self, mut fields: Map<String, Value>, at: DateTime<Utc>) -> u64 {
        let id = self.next_employee_id;
        self.next_employee_id += 1;
        for (_, name, _) in STANDARD_FIELDS {
            fields.entry((*name).to_owned()).or_insert(Value::Null);
        }
        for (_, _, _, alias) in CUSTOM_FIELDS {
            fields.entry((*alias).to_owned()).or_insert(Value::Null);
        }
        if fields["status"].is_null() {
            fields.insert("status".into(), json!("Active"));
        }
        let display = format!(
            "{} {}",
            fields["firstName"].as_str().unwrap_or_default(),
            fields["lastName"].as_str().unwrap_or_default()
        );
        fields.insert("displayName".into(), json!(display.trim()));
        if fields["employeeNumber"].is_null() {
            fields.insert("employeeNumber".into(), json!(id.to_string()));
        }
        let hire_date = fields["hireDate"]
            .as_str()
            .map_or_else(|| at.date_naive().to_string(), str::to_owned);
        let job_row = self.row_id();
        self.job_info.push(Row {
            id: job_row,
            employee_id: id,
            fields: job_fields(&hire_date, &fields),
        });
        let status_row = self.row_id();
        self.employment_status.push(Row {
            id: status_row,
            employee_id: id,
            fields: Map::from_iter([
                ("date".to_owned(), json!(hire_date)),
                (
                    "employmentStatus".to_owned(),
                    fields["employmentHistoryStatus"].clone(),
                ),
                ("terminationReasonId".to_owned(), Value::Null),
            ]),
        });
        self.employees.push(Employee {
            id,
            fields,
            last_changed: at,
            deleted: false,
        });
        let set = self
            .employees
            .last()
            .map(|employee| {
                employee
                    .fields
                    .iter()
                    .filter(|(_, value)| !value.is_null())
                    .map(|(name, _)| name.clone())
                    .collect()
            })
            .unwrap_or_default();
        self.changes.push(Change {
            employee_id: id,
            action: "Inserted",
            at,
            fields: set,
        });
        id
    }

    /// Sets fields of employee `id` (unknown names are ignored, as BambooHR does); a change of
    /// job title, department, division or location adds a `jobInfo` row. `false` when there is
    /// no such employee.
    pub(crate) fn update(
        &mut self,
        id: u64,
        fields: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> bool {
        let Some(employee) = self.employee_mut(id) else {
            return false;
        };
        let mut job_changed = false;
        let mut changed = Vec::new();
        for (name, value) in fields {
            if !employee.fields.contains_key(name) || name == "lastChanged" {
                continue;
            }
            if employee.fields[name] != *value {
                changed.push(name.clone());
                if ["jobTitle", "department", "division", "location"].contains(&name.as_str()) {
                    job_changed = true;
                }
            }
            employee.fields.insert(name.clone(), value.clone());
        }
        employee.last_changed = at;
        let snapshot = employee.fields.clone();
        if job_changed {
            let row = self.row_id();
            self.job_info.push(Row {
                id: row,
                employee_id: id,
                fields: job_fields(&at.date_naive().to_string(), &snapshot),
            });
        }
        self.changes.push(Change {
            employee_id: id,
            action: "Updated",
            at,
            fields: changed,
        });
        true
    }

    /// Terminates employee `id` on `date`: `status: Inactive`, `employmentHistoryStatus:
    /// Terminated`, a termination date and an `employmentStatus` row. The record stays.
    pub(crate) fn terminate(&mut self, id: u64, date: NaiveDate, at: DateTime<Utc>) -> bool {
        let fields = Map::from_iter([
            ("status".to_owned(), json!("Inactive")),
            ("employmentHistoryStatus".to_owned(), json!("Terminated")),
            ("terminationDate".to_owned(), json!(date.to_string())),
        ]);
        if !self.update(id, &fields, at) {
            return false;
        }
        let row = self.row_id();
        self.employment_status.push(Row {
            id: row,
            employee_id: id,
            fields: Map::from_iter([
                ("date".to_owned(), json!(date.to_string())),
                ("employmentStatus".to_owned(), json!("Terminated")),
                ("terminationReasonId".to_owned(), json!("Resignation")),
            ]),
        });
        true
    }

    /// Deletes employee `id` (gone from every read; `/employees/changed` reports it `Deleted`).
    pub(crate) fn delete(&mut self, id: u64, at: DateTime<Utc>) -> bool {
        let Some(employee) = self.employee_mut(id) else {
            return false;
        };
        employee.deleted = true;
        employee.last_changed = at;
        self.changes.push(Change {
            employee_id: id,
            action: "Deleted",
            at,
            fields: Vec::new(),
        });
        true
    }

    /// Adds a time-off request of employee `id` from a create body already checked; returns
    /// its id.
    pub(crate) fn add_time_off_request(&mut self, request: NewTimeOff) -> u64 {
        let NewTimeOff {
            employee_id,
            type_id,
            start,
            end,
            amount,
            status,
            note,
            today,
        } = request;
        self.next_request_id += 1;
        let id = self.next_request_id;
        let (_, type_name, units, icon) = TIME_OFF_TYPES
            .iter()
            .find(|(candidate, ..)| *candidate == type_id)
            .copied()
            .unwrap_or(TIME_OFF_TYPES[0]);
        let name = self
            .employee(employee_id)
            .and_then(|employee| employee.fields["displayName"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut notes = Map::new();
        if let Some(note) = note {
            notes.insert("employee".into(), json!(note));
        }
        let mut dates = Map::new();
        let mut day = start;
        while day <= end && dates.len() < 366 {
            dates.insert(day.to_string(), json!("1"));
            day += Duration::days(1);
        }
        self.time_off_requests.push(Map::from_iter([
            ("id".to_owned(), json!(id.to_string())),
            ("employeeId".to_owned(), json!(employee_id.to_string())),
            (
                "status".to_owned(),
                json!({"lastChanged": today.to_string(), "lastChangedByUserId": "2385", "status": status}),
            ),
            ("name".to_owned(), json!(name)),
            ("start".to_owned(), json!(start.to_string())),
            ("end".to_owned(), json!(end.to_string())),
            ("created".to_owned(), json!(today.to_string())),
            (
                "type".to_owned(),
                json!({"id": type_id.to_string(), "name": type_name, "icon": icon}),
            ),
            ("amount".to_owned(), json!({"unit": units, "amount": amount})),
            (
                "actions".to_owned(),
                json!({"view": true, "edit": true, "cancel": true, "approve": true, "deny": true, "bypass": false}),
            ),
            ("dates".to_owned(), Value::Object(dates)),
            ("notes".to_owned(), Value::Object(notes)),
        ]));
        id
    }

    /// Adds a generated employee (`n` picks its names), with pay history and time off.
    pub(crate) fn insert_generated(
        &mut self,
        rng: &mut StdRng,
        n: usize,
        at: DateTime<Utc>,
    ) -> u64 {
        let first = FIRST_NAMES[n % FIRST_NAMES.len()];
        let last = LAST_NAMES[(n / FIRST_NAMES.len() + n) % LAST_NAMES.len()];
        let (department, division) = DEPARTMENTS[n % DEPARTMENTS.len()];
        let hire = NaiveDate::from_ymd_opt(2018, 1, 1).expect("valid date")
            + Duration::days(rng.gen_range(0..2_500));
        let birth = NaiveDate::from_ymd_opt(1965, 1, 1).expect("valid date")
            + Duration::days(rng.gen_range(0..12_000));
        let supervisor = (n > 0).then(|| (4 + rng.gen_range(0..n.min(5)) as u64).to_string());
        let email_name = format!("{}.{}", ascii(first), ascii(last)).to_lowercase();
        let fields = Map::from_iter([
            ("firstName".to_owned(), json!(first)),
            ("lastName".to_owned(), json!(last)),
            ("preferredName".to_owned(), Value::Null),
            (
                "jobTitle".to_owned(),
                json!(JOB_TITLES[n % JOB_TITLES.len()]),
            ),
            (
                "workEmail".to_owned(),
                json!(format!("{email_name}{n}@efficientoffice.com")),
            ),
            (
                "homeEmail".to_owned(),
                json!(format!("{email_name}{n}@example.net")),
            ),
            (
                "mobilePhone".to_owned(),
                json!(format!("801-555-{:04}", 1000 + n % 9000)),
            ),
            (
                "workPhone".to_owned(),
                json!(format!("+44 20 7946 {:04}", n % 10_000)),
            ),
            ("department".to_owned(), json!(department)),
            ("division".to_owned(), json!(division)),
            ("location".to_owned(), json!(LOCATIONS[n % LOCATIONS.len()])),
            ("status".to_owned(), json!("Active")),
            (
                "employmentHistoryStatus".to_owned(),
                json!(HISTORY_STATUSES[n % HISTORY_STATUSES.len()]),
            ),
            ("hireDate".to_owned(), json!(hire.to_string())),
            ("dateOfBirth".to_owned(), json!(birth.to_string())),
            (
                "gender".to_owned(),
                json!(if n.is_multiple_of(2) {
                    "Female"
                } else {
                    "Male"
                }),
            ),
            (
                "maritalStatus".to_owned(),
                json!(if n.is_multiple_of(3) {
                    "Married"
                } else {
                    "Single"
                }),
            ),
            (
                "ssn".to_owned(),
                json!(format!(
                    "{:03}-{:02}-{:04}",
                    100 + n % 800,
                    n % 99,
                    1000 + n
                )),
            ),
            (
                "address1".to_owned(),
                json!(format!("{} Main Street", 10 + n)),
            ),
            ("city".to_owned(), json!("Lindon")),
            ("state".to_owned(), json!("UT")),
            ("zipcode".to_owned(), json!("84042")),
            ("country".to_owned(), json!("United States")),
            ("supervisorEId".to_owned(), json!(supervisor)),
            (
                "photoUrl".to_owned(),
                json!("https://resources.bamboohr.com/images/photo_person_160x160.png"),
            ),
            ("ethnicity".to_owned(), Value::Null),
            (
                "customShirtsize".to_owned(),
                json!(["S", "M", "L", "XL"][n % 4]),
            ),
            (
                "customSecondaryLanguage1".to_owned(),
                if n.is_multiple_of(5) {
                    json!("Spanish")
                } else {
                    Value::Null
                },
            ),
        ]);
        let id = self.insert(fields, at);
        // Pay history: a starting salary and a raise a year later (the `compensation` table's
        // rows give no `endDate`: the next row's `startDate` ends a row).
        let salary = 52_000 + (n as u64 % 40) * 1_250;
        for (years, amount) in [(0, salary), (1, salary + salary / 20)] {
            let row = self.row_id();
            let start = hire + Duration::days(365 * years);
            let hourly = HISTORY_STATUSES[n % HISTORY_STATUSES.len()] == "Contractor";
            let value = if hourly {
                format!("{}.50", 30 + n % 40)
            } else {
                format!("{amount}.00")
            };
            self.compensation.push(Row {
                id: row,
                employee_id: id,
                fields: Map::from_iter([
                    ("startDate".to_owned(), json!(start.to_string())),
                    (
                        "rate".to_owned(),
                        json!({"currency": "USD", "value": value}),
                    ),
                    (
                        "type".to_owned(),
                        json!(if hourly { "Hourly" } else { "Salary" }),
                    ),
                    (
                        "exempt".to_owned(),
                        json!(if hourly { "Non-exempt" } else { "Exempt" }),
                    ),
                    (
                        "reason".to_owned(),
                        json!(if years == 0 { "New Hire" } else { "Merit" }),
                    ),
                    ("comment".to_owned(), Value::Null),
                    (
                        "paidPer".to_owned(),
                        json!(if hourly { "Hour" } else { "Year" }),
                    ),
                    ("paySchedule".to_owned(), json!("Twice a month")),
                ]),
            });
        }
        // Bonuses for every fourth employee, after each of their first two years: one-off
        // payments in the `bonus` table, apart from the pay rates above.
        if n.is_multiple_of(4) {
            for years in [1, 2] {
                let row = self.row_id();
                let date = hire + Duration::days(365 * years);
                self.bonus.push(Row {
                    id: row,
                    employee_id: id,
                    fields: Map::from_iter([
                        ("date".to_owned(), json!(date.to_string())),
                        (
                            "amount".to_owned(),
                            json!({"currency": "USD", "value": format!("{}.00", 1_000 + (n % 8) * 250)}),
                        ),
                        ("reason".to_owned(), json!("Performance")),
                        ("comment".to_owned(), Value::Null),
                    ]),
                });
            }
        }
        // A promotion for every third employee.
        if n.is_multiple_of(3) {
            let row = self.row_id();
            let mut fields = job_fields(
                &(hire + Duration::days(400)).to_string(),
                &self.employees.last().expect("just inserted").fields,
            );
            fields.insert(
                "jobTitle".into(),
                json!(format!("Senior {}", JOB_TITLES[n % JOB_TITLES.len()])),
            );
            self.job_info.push(Row {
                id: row,
                employee_id: id,
                fields,
            });
        }
        for k in 0..2 {
            let start = NaiveDate::from_ymd_opt(2026, 1, 5).expect("valid date")
                + Duration::days((n as i64 * 3 + k * 90) % 300);
            let (type_id, _, units, _) = TIME_OFF_TYPES[(n + k as usize) % TIME_OFF_TYPES.len()];
            let days = 1 + (n as i64 + k) % 3;
            let amount = if units == "hours" {
                (days * 8).to_string()
            } else {
                days.to_string()
            };
            let status = ["approved", "requested", "denied", "approved"][(n + k as usize) % 4];
            self.add_time_off_request(NewTimeOff {
                employee_id: id,
                type_id,
                start,
                end: start + Duration::days(days - 1),
                amount,
                status: status.to_owned(),
                note: (k == 0).then(|| "Family trip".to_owned()),
                today: start - Duration::days(14),
            });
        }
        id
    }
}

/// A `jobInfo` row dated `date` from an employee's current fields.
fn job_fields(date: &str, fields: &Map<String, Value>) -> Map<String, Value> {
    Map::from_iter([
        ("date".to_owned(), json!(date)),
        (
            "location".to_owned(),
            fields.get("location").cloned().unwrap_or(Value::Null),
        ),
        (
            "department".to_owned(),
            fields.get("department").cloned().unwrap_or(Value::Null),
        ),
        (
            "division".to_owned(),
            fields.get("division").cloned().unwrap_or(Value::Null),
        ),
        (
            "jobTitle".to_owned(),
            fields.get("jobTitle").cloned().unwrap_or(Value::Null),
        ),
        (
            "reportsTo".to_owned(),
            fields.get("supervisorEId").cloned().unwrap_or(Value::Null),
        ),
        ("teams".to_owned(), Value::Null),
    ])
}

/// `text` with its letters folded to ASCII for email addresses.
fn ascii(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            'ø' => Some('o'),
            'ö' | 'ó' => Some('o'),
            'ü' | 'ú' => Some('u'),
            'é' | 'ễ' => Some('e'),
            'í' => Some('i'),
            'á' => Some('a'),
            'Ø' => Some('O'),
            '\'' => None,
            c if c.is_ascii_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}
