//! The simulated HiBob company: employees as nested records in Bob's machine format (`root`
//! fields at the top, then `work`, `internal`, `home`, `personal`, `address`,
//! `identification` and custom categories), their work and salary history tables, the named
//! lists behind list fields (`department`, `site`), time-off policy types and requests, and the
//! time-off change log, seeded deterministically before the seed epoch.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::HiBobConfig;

/// The company id every record carries.
pub(crate) const COMPANY_ID: u64 = 636_192;

/// A field of `/company/people/fields`: `(id, category, category display name, name, type,
/// list id, historical)`. The id is also the field's JSON path.
pub(crate) type FieldDef = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    bool,
);

/// The employee fields the company has, standard and custom (ids holding `field_`).
pub(crate) const FIELDS: &[FieldDef] = &[
    (
        "root.id",
        "root",
        "Basic info",
        "Employee ID",
        "text",
        None,
        false,
    ),
    (
        "root.firstName",
        "root",
        "Basic info",
        "First name",
        "text",
        None,
        false,
    ),
    (
        "root.surname",
        "root",
        "Basic info",
        "Last name",
        "text",
        None,
        false,
    ),
    (
        "root.secondName",
        "root",
        "Basic info",
        "Middle name",
        "text",
        None,
        false,
    ),
    (
        "root.displayName",
        "root",
        "Basic info",
        "Display name",
        "text",
        None,
        false,
    ),
    (
        "root.fullName",
        "root",
        "Basic info",
        "Full name",
        "text",
        None,
        false,
    ),
    (
        "root.email",
        "root",
        "Basic info",
        "Email",
        "text",
        None,
        false,
    ),
    (
        "root.avatarUrl",
        "root",
        "Basic info",
        "Avatar",
        "text",
        None,
        false,
    ),
    (
        "root.companyId",
        "root",
        "Basic info",
        "Company ID",
        "number",
        None,
        false,
    ),
    (
        "root.creationDateTime",
        "root",
        "Basic info",
        "Creation date",
        "date",
        None,
        false,
    ),
    (
        "about.avatar",
        "about",
        "About",
        "Avatar",
        "text",
        None,
        false,
    ),
    (
        "work.title",
        "work",
        "Work",
        "Job title",
        "list",
        Some("title"),
        true,
    ),
    (
        "work.department",
        "work",
        "Work",
        "Department",
        "list",
        Some("department"),
        true,
    ),
    (
        "work.site",
        "work",
        "Work",
        "Site",
        "list",
        Some("site"),
        true,
    ),
    (
        "work.siteId",
        "work",
        "Work",
        "Site ID",
        "number",
        None,
        true,
    ),
    (
        "work.startDate",
        "work",
        "Work",
        "Start date",
        "date",
        None,
        false,
    ),
    (
        "work.manager",
        "work",
        "Work",
        "Reports to",
        "employee-reference",
        None,
        true,
    ),
    (
        "work.employeeIdInCompany",
        "work",
        "Work",
        "Employee ID in company",
        "number",
        None,
        false,
    ),
    (
        "work.isManager",
        "work",
        "Work",
        "Is manager",
        "boolean",
        None,
        false,
    ),
    (
        "work.workPhone",
        "work",
        "Work",
        "Work phone",
        "text",
        None,
        false,
    ),
    (
        "work.workMobile",
        "work",
        "Work",
        "Work mobile",
        "text",
        None,
        false,
    ),
    (
        "internal.status",
        "internal",
        "Internal",
        "Status",
        "text",
        None,
        false,
    ),
    (
        "internal.lifecycleStatus",
        "internal",
        "Internal",
        "Lifecycle status",
        "text",
        None,
        false,
    ),
    (
        "internal.terminationDate",
        "internal",
        "Internal",
        "Termination date",
        "date",
        None,
        false,
    ),
    (
        "internal.terminationReason",
        "internal",
        "Internal",
        "Termination reason",
        "list",
        Some("terminationReason"),
        false,
    ),
    (
        "payroll.employment.contract",
        "payroll",
        "Payroll",
        "Contract",
        "list",
        Some("contract"),
        true,
    ),
    (
        "home.privateEmail",
        "home",
        "Home",
        "Personal email",
        "text",
        None,
        false,
    ),
    (
        "home.mobilePhone",
        "home",
        "Home",
        "Personal mobile",
        "text",
        None,
        false,
    ),
    (
        "home.legalGender",
        "home",
        "Home",
        "Legal gender",
        "list",
        Some("legalGender"),
        false,
    ),
    (
        "home.familyStatus",
        "home",
        "Home",
        "Marital status",
        "list",
        Some("familyStatus"),
        false,
    ),
    (
        "personal.birthDate",
        "personal",
        "Personal",
        "Date of birth",
        "date",
        None,
        false,
    ),
    (
        "identification.ssn",
        "identification",
        "Identification",
        "SSN",
        "text",
        None,
        false,
    ),
    (
        "address.line1",
        "address",
        "Address",
        "Address line 1",
        "text",
        None,
        true,
    ),
    (
        "address.line2",
        "address",
        "Address",
        "Address line 2",
        "text",
        None,
        true,
    ),
    (
        "address.city",
        "address",
        "Address",
        "City",
        "text",
        None,
        true,
    ),
    (
        "address.zipCode",
        "address",
        "Address",
        "Zip code",
        "text",
        None,
        true,
    ),
    (
        "address.usaState",
        "address",
        "Address",
        "State",
        "list",
        Some("usaState"),
        true,
    ),
    (
        "address.country",
        "address",
        "Address",
        "Country",
        "list",
        Some("country"),
        true,
    ),
    (
        "work.custom.field_1711886937296",
        "work",
        "Work",
        "T-shirt size",
        "list",
        Some("tShirtSize"),
        false,
    ),
    (
        "category_1673436523123.field_1673436539999",
        "category_1673436523123",
        "Languages",
        "Secondary language",
        "text",
        None,
        false,
    ),
];

/// Departments (a named list with a hierarchy): `(item id, name, parent item id)`.
pub(crate) const DEPARTMENTS: &[(u64, &str, Option<u64>)] = &[
    (1_647_299_318_901, "Product", None),
    (1_647_299_318_902, "Engineering", Some(1_647_299_318_901)),
    (1_647_299_318_903, "Design", Some(1_647_299_318_901)),
    (1_647_299_318_904, "Sales", None),
    (1_647_299_318_905, "People", None),
    (1_647_299_318_906, "Finance", None),
];

/// Sites (a named list): `(item id, name, archived)`.
pub(crate) const SITES: &[(u64, &str, bool)] = &[
    (2_510_068, "New York (Demo)", false),
    (2_510_069, "London", false),
    (2_510_070, "Tel Aviv", false),
    (2_510_071, "Remote", false),
    (2_510_072, "Boston (closed)", true),
];

/// Time-off policy types: `(name, unit, activity)`.
pub(crate) const POLICY_TYPES: &[(&str, &str, &str)] = &[
    ("Holiday", "days", "paidTimeoff"),
    ("Sick", "days", "paidTimeoff"),
    ("Parental leave", "days", "paidTimeoff"),
    ("Unpaid leave", "days", "unpaidTimeoff"),
    ("Overtime", "hours", "workTime"),
];

const FIRST_NAMES: &[&str] = &[
    "Amy", "Zoe", "Noam", "Olivia", "Liam", "Maya", "Ethan", "Yael", "Søren", "Lucía", "Kwame",
    "Priya", "Jakob", "Mei", "Chloé",
];
const LAST_NAMES: &[&str] = &[
    "Miles",
    "Clark",
    "Cohen",
    "Levi",
    "Brown",
    "Okafor",
    "Johansson",
    "Fernández",
    "Nguyễn",
    "O'Brien",
    "Müller",
    "Patel",
    "Smith",
];
const TITLES: &[&str] = &[
    "Designer",
    "Software Engineer",
    "Product Manager",
    "Account Executive",
    "HR Business Partner",
    "Controller",
];

/// One employee.
#[derive(Debug, Clone)]
pub(crate) struct Employee {
    pub id: String,
    /// The record in Bob's machine format.
    pub record: Value,
    pub deleted: bool,
}

/// One row of an employee's history table (`work`, `salaries`).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub employee_id: String,
    /// The entry as the table answers it (without `isCurrent` and `endEffectiveDate`, which
    /// depend on the rows after it).
    pub fields: Map<String, Value>,
}

/// One time-off request.
#[derive(Debug, Clone)]
pub(crate) struct TimeOffRequest {
    pub id: u64,
    pub employee_id: String,
    pub policy_type: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// `approved`, `pending`, `declined` or `canceled`.
    pub status: String,
    pub created_on: DateTime<Utc>,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    /// The request's reason, as submitted (`description`).
    pub description: Option<String>,
    /// An hours request's duration in minutes (one day, `requestRangeType: hours`); `None`
    /// for whole days.
    pub minutes: Option<i64>,
}

/// One entry of the change log `/timeoff/requests/changes` reads.
#[derive(Debug, Clone)]
pub(crate) struct TimeOffChange {
    pub request_id: u64,
    /// `Created`, `Pending` (created, waiting for approval), `Canceled` or `Deleted`.
    pub change_type: &'static str,
    pub at: DateTime<Utc>,
}

/// The company's data.
#[derive(Debug)]
pub(crate) struct Store {
    pub employees: Vec<Employee>,
    pub work: Vec<Entry>,
    pub salaries: Vec<Entry>,
    /// The employment table: contract and employment type over time.
    pub employment: Vec<Entry>,
    pub time_off: Vec<TimeOffRequest>,
    pub time_off_changes: Vec<TimeOffChange>,
    next_employee: u64,
    next_entry: u64,
    next_request: u64,
    pub rng: StdRng,
}

/// The clock of writes and mutations: now, but never before the seed epoch (seeded data leads
/// up to it).
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().max(crate::seed_epoch() + Duration::seconds(1))
}

/// An instant as Bob writes `creationDateTime` (`2024-03-27T09:12:25.002884`, no zone).
pub(crate) fn bob_time(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

pub(crate) fn department_name(id: &str) -> Option<&'static str> {
    DEPARTMENTS
        .iter()
        .find(|(item, ..)| item.to_string() == id)
        .map(|(_, name, _)| *name)
}

pub(crate) fn site_by_name(name: &str) -> Option<u64> {
    SITES
        .iter()
        .find(|(_, site, archived)| *site == name && !archived)
        .map(|(id, ..)| *id)
}

/// The value at a dotted JSON path (`work.custom.field_1`) of a record; `root.x` is `x`.
pub(crate) fn at_path<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.strip_prefix("root.").unwrap_or(path);
    path.split('.')
        .try_fold(record, |value, key| value.get(key))
}

/// Sets the value at a dotted JSON path, creating the objects on the way.
pub(crate) fn set_path(record: &mut Value, path: &str, value: Value) {
    let path = path.strip_prefix("root.").unwrap_or(path);
    let mut current = record;
    let keys: Vec<&str> = path.split('.').collect();
    for key in &keys[..keys.len() - 1] {
        if !current.get(*key).is_some_and(Value::is_object) {
            current[*key] = json!({});
        }
        current = &mut current[*key];
    }
    current[keys[keys.len() - 1]] = value;
}

impl Store {
    /// A company seeded from `config`.
    pub(crate) fn seeded(config: &HiBobConfig, mut rng: StdRng) -> Store {
        let mut store = Store {
            employees: Vec::new(),
            work: Vec::new(),
            salaries: Vec::new(),
            employment: Vec::new(),
            time_off: Vec::new(),
            time_off_changes: Vec::new(),
            next_employee: 3_332_883_909_410_030_364,
            next_entry: 104_000,
            next_request: 24_587_000,
            rng: rand::SeedableRng::seed_from_u64(config.seed ^ 0xb0b),
        };
        let epoch = crate::seed_epoch();
        for n in 0..config.employees {
            let at = epoch - Duration::minutes(((config.employees - n) as i64) * 41);
            let id = store.insert_generated(&mut rng, n, at);
            // Every seventh employee has left: kept, `status: Inactive`, lifecycle terminated.
            if n % 7 == 6 {
                store.terminate(&id, at.date_naive() - Duration::days(20), None);
            } else if n % 11 == 5 {
                store.employee_mut(&id).expect("just inserted").record["internal"]["lifecycleStatus"] =
                    json!("leave");
            }
        }
        store
    }

    /// Employees not deleted, in id order.
    pub(crate) fn live(&self) -> impl Iterator<Item = &Employee> {
        self.employees.iter().filter(|employee| !employee.deleted)
    }

    pub(crate) fn employee(&self, id: &str) -> Option<&Employee> {
        self.live().find(|employee| employee.id == id)
    }

    pub(crate) fn employee_mut(&mut self, id: &str) -> Option<&mut Employee> {
        self.employees
            .iter_mut()
            .find(|employee| employee.id == id && !employee.deleted)
    }

    fn entry_id(&mut self) -> u64 {
        self.next_entry += 1;
        self.next_entry
    }

    /// Adds an employee: names, email, site (a site name) and start date are given; returns
    /// its id. It gets its first work entry.
    pub(crate) fn insert(&mut self, mut record: Value, at: DateTime<Utc>) -> String {
        self.next_employee += 7_919;
        let id = self.next_employee.to_string();
        let number = self.employees.len() as u64 + 1;
        let first = record["firstName"].as_str().unwrap_or_default().to_owned();
        let last = record["surname"].as_str().unwrap_or_default().to_owned();
        let object = record.as_object_mut().expect("an employee object");
        object.insert("id".into(), json!(id));
        object.insert("companyId".into(), json!(COMPANY_ID));
        object.insert("displayName".into(), json!(format!("{first} {last}")));
        object.insert("fullName".into(), json!(format!("{first} {last}")));
        object.entry("secondName").or_insert(Value::Null);
        object.insert("creationDateTime".into(), json!(bob_time(at)));
        object.entry("avatarUrl").or_insert(Value::Null);
        for category in [
            "work",
            "internal",
            "home",
            "personal",
            "address",
            "identification",
        ] {
            object.entry(category).or_insert_with(|| json!({}));
        }
        let site = record["work"]["site"]
            .as_str()
            .unwrap_or("Remote")
            .to_owned();
        let work = record["work"].as_object_mut().expect("work is an object");
        work.insert("siteId".into(), json!(site_by_name(&site)));
        work.insert("employeeIdInCompany".into(), json!(number));
        work.entry("isManager").or_insert(json!(false));
        work.entry("manager").or_insert(Value::Null);
        work.entry("title").or_insert(Value::Null);
        work.entry("department").or_insert(Value::Null);
        work.entry("custom")
            .or_insert_with(|| json!({"field_1711886937296": null}));
        let internal = record["internal"].as_object_mut().expect("internal");
        internal.entry("status").or_insert(json!("Active"));
        internal
            .entry("lifecycleStatus")
            .or_insert(json!("employed"));
        internal.entry("terminationDate").or_insert(Value::Null);
        internal.entry("terminationReason").or_insert(Value::Null);
        let start = record["work"]["startDate"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let snapshot = record.clone();
        self.employees.push(Employee {
            id: id.clone(),
            record,
            deleted: false,
        });
        self.add_work_entry(&id, &start, &snapshot, at);
        let contract = match snapshot["payroll"]["employment"]["contract"].as_str() {
            Some("Part time" | "Part-Time") => "Part-Time",
            _ => "Full-Time",
        };
        let kind = snapshot["payroll"]["employment"]["type"]
            .as_str()
            .unwrap_or("Permanent")
            .to_owned();
        self.add_employment_entry(&id, &start, contract, &kind, at);
        id
    }

    /// An employment table entry dated `effective`: the contract (`Full-Time`, `Part-Time`)
    /// and the employment type (`Permanent`, `Temporary`, `Contractor`, …).
    pub(crate) fn add_employment_entry(
        &mut self,
        id: &str,
        effective: &str,
        contract: &str,
        kind: &str,
        at: DateTime<Utc>,
    ) {
        let entry = self.entry_id();
        let weekly = if contract == "Part-Time" { 20 } else { 40 };
        self.employment.push(Entry {
            employee_id: id.to_owned(),
            fields: Map::from_iter([
                ("id".to_owned(), json!(entry)),
                ("effectiveDate".to_owned(), json!(effective)),
                ("contract".to_owned(), json!(contract)),
                ("type".to_owned(), json!(kind)),
                (
                    "salaryPayType".to_owned(),
                    json!(if contract == "Part-Time" { "Hourly" } else { "Salaries" }),
                ),
                ("weeklyHours".to_owned(), json!(weekly)),
                ("fte".to_owned(), json!(weekly * 100 / 40)),
                ("calendarName".to_owned(), json!("US holidays")),
                ("flsaCode".to_owned(), json!("Exempt")),
                (
                    "creationDate".to_owned(),
                    json!(at.date_naive().to_string()),
                ),
                (
                    "modificationDate".to_owned(),
                    json!(at.date_naive().to_string()),
                ),
                ("canBeDeleted".to_owned(), json!(true)),
                (
                    "change".to_owned(),
                    json!({"reason": "New hire", "changedBy": "Zoe Clark", "changedById": "3332883909410030364"}),
                ),
            ]),
        });
    }

    /// A work history entry dated `effective` from the employee's current work fields.
    fn add_work_entry(&mut self, id: &str, effective: &str, record: &Value, at: DateTime<Utc>) {
        let entry = self.entry_id();
        let manager = record["work"]["manager"].as_str().and_then(|manager| {
            self.employee(manager).map(|boss| {
                json!({"id": boss.id, "firstName": boss.record["firstName"], "surname": boss.record["surname"],
                    "email": boss.record["email"], "displayName": boss.record["displayName"]})
            })
        });
        let mut fields = Map::from_iter([
            ("id".to_owned(), json!(entry)),
            ("effectiveDate".to_owned(), json!(effective)),
            ("activeEffectiveDate".to_owned(), json!(effective)),
            ("title".to_owned(), record["work"]["title"].clone()),
            (
                "department".to_owned(),
                record["work"]["department"].clone(),
            ),
            ("site".to_owned(), record["work"]["site"].clone()),
            ("siteId".to_owned(), record["work"]["siteId"].clone()),
            (
                "creationDate".to_owned(),
                json!(at.date_naive().to_string()),
            ),
            (
                "modificationDate".to_owned(),
                json!(at.date_naive().to_string()),
            ),
            ("canBeDeleted".to_owned(), json!(true)),
            ("workChangeType".to_owned(), json!("Promotion")),
            (
                "change".to_owned(),
                json!({"reason": "Promotion", "changedBy": "Zoe Clark", "changedById": "3332883909410030364"}),
            ),
            ("customColumns".to_owned(), json!({})),
        ]);
        if let Some(manager) = manager {
            fields.insert("reportsTo".into(), manager);
        }
        self.work.push(Entry {
            employee_id: id.to_owned(),
            fields,
        });
    }

    /// Updates employee `id` with a nested body (objects merged key by key); a change of title,
    /// department or site adds a work entry. `false` when there is no such employee.
    pub(crate) fn update(&mut self, id: &str, body: &Value, at: DateTime<Utc>) -> bool {
        let Some(employee) = self.employee_mut(id) else {
            return false;
        };
        let before = employee.record["work"].clone();
        merge(&mut employee.record, body);
        if let Some(site) = employee.record["work"]["site"].as_str() {
            let site_id = site_by_name(site);
            employee.record["work"]["siteId"] = json!(site_id);
        }
        let first = employee.record["firstName"].as_str().unwrap_or_default();
        let last = employee.record["surname"].as_str().unwrap_or_default();
        let name = format!("{first} {last}");
        employee.record["displayName"] = json!(name);
        employee.record["fullName"] = json!(name);
        let after = employee.record.clone();
        if ["title", "department", "site"]
            .iter()
            .any(|key| before[key] != after["work"][key])
        {
            self.add_work_entry(id, &at.date_naive().to_string(), &after, at);
        }
        true
    }

    /// Terminates employee `id`: `status: Inactive`, lifecycle `terminated`, the date and
    /// reason. The record stays.
    pub(crate) fn terminate(&mut self, id: &str, date: NaiveDate, reason: Option<&str>) -> bool {
        let Some(employee) = self.employee_mut(id) else {
            return false;
        };
        let internal = &mut employee.record["internal"];
        internal["status"] = json!("Inactive");
        internal["lifecycleStatus"] = json!("terminated");
        internal["terminationDate"] = json!(date.to_string());
        internal["terminationReason"] = json!(reason.unwrap_or("Resignation"));
        true
    }

    /// Deletes employee `id` (gone from every read).
    pub(crate) fn delete(&mut self, id: &str) -> bool {
        let Some(employee) = self.employee_mut(id) else {
            return false;
        };
        employee.deleted = true;
        true
    }

    /// Adds a time-off request; returns its id.
    pub(crate) fn add_time_off(
        &mut self,
        employee_id: &str,
        policy_type: &str,
        start: NaiveDate,
        end: NaiveDate,
        status: &str,
        at: DateTime<Utc>,
    ) -> u64 {
        self.next_request += 1;
        let id = self.next_request;
        let approved = status == "approved";
        self.time_off.push(TimeOffRequest {
            description: None,
            minutes: None,
            id,
            employee_id: employee_id.to_owned(),
            policy_type: policy_type.to_owned(),
            start,
            end,
            status: status.to_owned(),
            created_on: at,
            approved_by: approved.then(|| "3332883909410030364".to_owned()),
            approved_at: approved.then_some(at),
        });
        self.time_off_changes.push(TimeOffChange {
            request_id: id,
            change_type: if status == "pending" {
                "Pending"
            } else {
                "Created"
            },
            at,
        });
        id
    }

    /// Cancels request `id` of `employee_id`; `false` when there is none.
    pub(crate) fn cancel_time_off(
        &mut self,
        employee_id: &str,
        id: u64,
        at: DateTime<Utc>,
    ) -> bool {
        let Some(request) = self
            .time_off
            .iter_mut()
            .find(|request| request.id == id && request.employee_id == employee_id)
        else {
            return false;
        };
        request.status = "canceled".to_owned();
        self.time_off_changes.push(TimeOffChange {
            request_id: id,
            change_type: "Canceled",
            at,
        });
        true
    }

    /// Adds a generated employee (`n` picks its names), with history and time off.
    pub(crate) fn insert_generated(
        &mut self,
        rng: &mut StdRng,
        n: usize,
        at: DateTime<Utc>,
    ) -> String {
        let first = FIRST_NAMES[n % FIRST_NAMES.len()];
        let last = LAST_NAMES[(n / FIRST_NAMES.len() + n) % LAST_NAMES.len()];
        let start = NaiveDate::from_ymd_opt(2016, 1, 4).expect("valid date")
            + Duration::days(rng.gen_range(0..3_000));
        let birth = NaiveDate::from_ymd_opt(1966, 1, 1).expect("valid date")
            + Duration::days(rng.gen_range(0..12_000));
        let (department, _, _) = DEPARTMENTS[n % DEPARTMENTS.len()];
        let (_, site, _) = SITES[n % (SITES.len() - 1)];
        let manager = self
            .live()
            .take(5)
            .nth(rng.gen_range(0..5))
            .map(|boss| boss.id.clone());
        let email = format!("{}.{}{n}", ascii(first), ascii(last)).to_lowercase();
        let record = json!({
            "firstName": first,
            "surname": last,
            "email": format!("{email}@samplebob.com"),
            "work": {
                "title": TITLES[n % TITLES.len()],
                "department": department.to_string(),
                "site": site,
                "startDate": start.to_string(),
                "manager": manager,
                "isManager": n < 5,
                "workPhone": format!("+1 212 555 {:04}", n % 10_000),
                "workMobile": null,
                "custom": {"field_1711886937296": (["S", "M", "L", "XL"][n % 4])},
            },
            "payroll": {"employment": {
                "contract": if n % 5 == 4 { "Part time" } else { "Full time" },
                // Every sixth starts on a fixed term (made permanent a year later, below); every
                // seventh is a contractor.
                "type": if n % 6 == 1 { "Temporary" } else if n % 7 == 2 { "Contractor" } else { "Permanent" },
            }},
            "home": {
                "privateEmail": format!("{email}@example.net"),
                "mobilePhone": format!("914-963-{:04}", 1000 + n % 9000),
                "legalGender": if n.is_multiple_of(2) { "Female" } else { "Male" },
                "familyStatus": if n.is_multiple_of(3) { "Married" } else { "Single" },
            },
            "personal": {"birthDate": birth.to_string()},
            "identification": {"ssn": format!("{:03}-{:02}-{:04}", 100 + n % 800, n % 99, 1000 + n)},
            "address": {
                "line1": format!("{} Grove Street", 10 + n),
                "line2": null,
                "city": "New York",
                "zipCode": "11757",
                "usaState": "NY",
                "country": "United States",
            },
            "category_1673436523123": {
                "field_1673436539999": if n.is_multiple_of(5) { json!("Hebrew") } else { Value::Null },
            },
        });
        let id = self.insert(record, at);
        // A promotion two years in for every third employee.
        if n.is_multiple_of(3) {
            let snapshot = {
                let employee = self.employee_mut(&id).expect("just inserted");
                employee.record["work"]["title"] =
                    json!(format!("Senior {}", TITLES[n % TITLES.len()]));
                employee.record.clone()
            };
            self.add_work_entry(
                &id,
                &(start + Duration::days(730)).to_string(),
                &snapshot,
                at,
            );
        }
        if n % 6 == 1 {
            let contract = if n % 5 == 4 { "Part-Time" } else { "Full-Time" };
            let permanent = (start + Duration::days(365)).to_string();
            self.add_employment_entry(&id, &permanent, contract, "Permanent", at);
        }
        // Salary history: a starting salary and a raise a year later (hourly for part-timers).
        let hourly = n % 5 == 4;
        let base = 60_000 + (n as u64 % 40) * 1_500;
        for (years, amount) in [(0, base), (1, base + base / 20)] {
            let entry = self.entry_id();
            let effective = (start + Duration::days(365 * years)).to_string();
            let value = if hourly {
                json!(28.5 + (n % 20) as f64)
            } else {
                json!(amount)
            };
            self.salaries.push(Entry {
                employee_id: id.clone(),
                fields: Map::from_iter([
                    ("id".to_owned(), json!(entry)),
                    ("effectiveDate".to_owned(), json!(effective)),
                    ("activeEffectiveDate".to_owned(), json!(effective)),
                    ("base".to_owned(), json!({"value": value, "currency": "USD"})),
                    ("payPeriod".to_owned(), json!(if hourly { "Hourly" } else { "Annual" })),
                    ("payFrequency".to_owned(), json!(if hourly { "Weekly" } else { "Every two weeks" })),
                    ("creationDate".to_owned(), json!(effective)),
                    ("modificationDate".to_owned(), json!(effective)),
                    ("canBeDeleted".to_owned(), json!(true)),
                    (
                        "change".to_owned(),
                        json!({"reason": if years == 0 { "New hire" } else { "Merit increase" }, "changedBy": "Zoe Clark", "changedById": "3332883909410030364"}),
                    ),
                    ("customColumns".to_owned(), json!({})),
                ]),
            });
        }
        for k in 0..2_usize {
            let start = NaiveDate::from_ymd_opt(2026, 1, 5).expect("valid date")
                + Duration::days(((n * 3 + k * 90) % 300) as i64);
            let (policy, ..) = POLICY_TYPES[(n + k) % 4];
            let days = 1 + ((n + k) % 3) as i64;
            let status = ["approved", "pending", "declined", "approved"][(n + k) % 4];
            self.add_time_off(
                &id,
                policy,
                start,
                start + Duration::days(days - 1),
                status,
                at - Duration::days(1),
            );
        }
        id
    }
}

/// Merges `patch` into `target`: objects key by key, anything else replaces.
pub(crate) fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                match target.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge(existing, value);
                    }
                    _ => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// `text` folded to ASCII letters for email addresses.
fn ascii(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            'ø' | 'ö' | 'ó' => Some('o'),
            'ü' | 'ú' => Some('u'),
            'é' | 'ễ' => Some('e'),
            'í' => Some('i'),
            'á' => Some('a'),
            c if c.is_ascii_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}
