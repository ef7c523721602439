//! The simulated org's data: one table per module (records as field maps keyed by API name),
//! the recycle bin of deleted records, field definitions (`/settings/fields`), users and the
//! Deals pipelines, and the write rules (`validate_record`) that turn a request record into
//! stored fields or a per-record error naming the field.
//!
//! Times are whole seconds in UTC, rendered `YYYY-MM-DDTHH:MM:SS+00:00` as Zoho does in the
//! org's time zone. Ids are 19-digit numbers from one counter, so they are unique across
//! modules and grow with creation.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SubsecRound, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

/// The modules the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Module {
    Contacts,
    Accounts,
    Deals,
    Leads,
    Notes,
    Tasks,
    Calls,
    Events,
}

impl Module {
    pub(crate) const ALL: [Module; 8] = [
        Module::Contacts,
        Module::Accounts,
        Module::Deals,
        Module::Leads,
        Module::Notes,
        Module::Tasks,
        Module::Calls,
        Module::Events,
    ];

    pub(crate) fn parse(name: &str) -> Option<Module> {
        Module::ALL.into_iter().find(|module| module.name() == name)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Module::Contacts => "Contacts",
            Module::Accounts => "Accounts",
            Module::Deals => "Deals",
            Module::Leads => "Leads",
            Module::Notes => "Notes",
            Module::Tasks => "Tasks",
            Module::Calls => "Calls",
            Module::Events => "Events",
        }
    }

    /// The field whose value names a record (the deleted listing's `display_name`).
    fn display_field(self) -> &'static str {
        match self {
            Module::Contacts | Module::Leads => "Full_Name",
            Module::Accounts => "Account_Name",
            Module::Deals => "Deal_Name",
            Module::Notes => "Note_Title",
            Module::Tasks | Module::Calls => "Subject",
            Module::Events => "Event_Title",
        }
    }

    /// The field a mutation fault edits (one the unified record shows).
    pub(crate) fn edited_field(self) -> &'static str {
        match self {
            Module::Contacts => "Title",
            Module::Accounts => "Description",
            Module::Deals | Module::Leads | Module::Tasks | Module::Calls | Module::Events => {
                "Description"
            }
            Module::Notes => "Note_Content",
        }
    }
}

/// A field definition, as `/settings/fields` lists it.
#[derive(Debug, Clone)]
pub(crate) struct FieldDef {
    pub api_name: String,
    pub label: String,
    pub data_type: &'static str,
    pub custom: bool,
    pub read_only: bool,
    pub mandatory: bool,
    pub options: Vec<String>,
    /// The module a `lookup` points at.
    pub lookup: Option<Module>,
    pub id: u64,
}

/// A live record.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub id: u64,
    pub fields: Map<String, Value>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

/// A record in the recycle bin.
#[derive(Debug, Clone)]
pub(crate) struct DeletedRow {
    pub id: u64,
    pub display_name: String,
    pub deleted_time: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub(crate) struct Table {
    pub rows: BTreeMap<u64, Row>,
    pub deleted: Vec<DeletedRow>,
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: u64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub active: bool,
    pub role: &'static str,
    pub created: DateTime<Utc>,
}

impl User {
    pub(crate) fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }

    /// The user as a record's `Owner` shows it.
    pub(crate) fn minified(&self) -> Value {
        json!({"name": self.full_name(), "id": self.id.to_string(), "email": self.email})
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Stage {
    pub id: u64,
    pub name: &'static str,
    pub probability: u32,
    pub forecast_type: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct Pipeline {
    pub id: u64,
    pub name: &'static str,
    pub default: bool,
    pub stages: Vec<Stage>,
}

/// Why a record of a write was refused: the per-record answer's parts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RecordError {
    pub code: &'static str,
    pub message: &'static str,
    pub details: Value,
}

impl RecordError {
    fn invalid(api_name: &str, index: usize, expected: &str) -> RecordError {
        RecordError {
            code: "INVALID_DATA",
            message: "invalid data",
            details: json!({"expected_data_type": expected, "api_name": api_name,
                            "json_path": format!("$.data[{index}].{api_name}")}),
        }
    }

    fn mandatory(api_name: &str, index: usize) -> RecordError {
        RecordError {
            code: "MANDATORY_NOT_FOUND",
            message: "required field not found",
            details: json!({"api_name": api_name, "json_path": format!("$.data[{index}].{api_name}")}),
        }
    }
}

/// The org.
pub(crate) struct Store {
    pub tables: HashMap<Module, Table>,
    pub fields: HashMap<Module, Vec<FieldDef>>,
    pub users: Vec<User>,
    pub pipelines: Vec<Pipeline>,
    pub layout_id: u64,
    next_id: u64,
    pub rng: StdRng,
}

pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// Zoho's rendering of an instant.
pub(crate) fn format_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// Reads an ISO 8601 instant with an offset (`2026-01-01T10:00:00+05:30`, `…Z`).
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc).trunc_subsecs(0))
}

fn def(
    api_name: &str,
    data_type: &'static str,
    options: &[&str],
    lookup: Option<Module>,
) -> FieldDef {
    FieldDef {
        api_name: api_name.to_owned(),
        label: api_name.replace('_', " "),
        data_type,
        custom: false,
        read_only: false,
        mandatory: false,
        options: options.iter().map(|o| (*o).to_owned()).collect(),
        lookup,
        id: 0,
    }
}

pub(crate) const LEAD_STATUSES: &[&str] = &[
    "Not Contacted",
    "Attempted to Contact",
    "Contact in Future",
    "Contacted",
    "Junk Lead",
    "Lost Lead",
    "Not Qualified",
    "Pre-Qualified",
];
pub(crate) const LEAD_SOURCES: &[&str] = &[
    "Advertisement",
    "Cold Call",
    "Employee Referral",
    "External Referral",
    "Online Store",
    "Partner",
    "Public Relations",
    "Trade Show",
    "Web Download",
];
pub(crate) const TASK_STATUSES: &[&str] = &[
    "Not Started",
    "Deferred",
    "In Progress",
    "Completed",
    "Waiting for input",
];
pub(crate) const PRIORITIES: &[&str] = &["Highest", "High", "Normal", "Low", "Lowest"];
pub(crate) const CALL_TYPES: &[&str] = &["Outbound", "Inbound", "Missed"];
pub(crate) const TIERS: &[&str] = &["Bronze", "Silver", "Gold", "Platinum"];

/// The standard fields of each module, then the org's custom ones.
fn standard_fields(module: Module) -> Vec<FieldDef> {
    use Module as M;
    let mut fields = vec![
        def("Owner", "ownerlookup", &[], None),
        def("Created_Time", "datetime", &[], None),
        def("Modified_Time", "datetime", &[], None),
        def("Created_By", "ownerlookup", &[], None),
        def("Modified_By", "ownerlookup", &[], None),
    ];
    for field in &mut fields[1..] {
        field.read_only = true;
    }
    let more: Vec<FieldDef> = match module {
        M::Contacts => vec![
            def("First_Name", "text", &[], None),
            def("Last_Name", "text", &[], None),
            def("Full_Name", "text", &[], None),
            def("Title", "text", &[], None),
            def("Department", "text", &[], None),
            def("Lead_Source", "picklist", LEAD_SOURCES, None),
            def("Email", "email", &[], None),
            def("Secondary_Email", "email", &[], None),
            def("Phone", "phone", &[], None),
            def("Mobile", "phone", &[], None),
            def("Home_Phone", "phone", &[], None),
            def("Other_Phone", "phone", &[], None),
            def("Fax", "phone", &[], None),
            def("Mailing_Street", "text", &[], None),
            def("Mailing_City", "text", &[], None),
            def("Mailing_State", "text", &[], None),
            def("Mailing_Zip", "text", &[], None),
            def("Mailing_Country", "text", &[], None),
            def("Account_Name", "lookup", &[], Some(M::Accounts)),
            def("Description", "textarea", &[], None),
            def("Last_Activity_Time", "datetime", &[], None),
        ],
        M::Accounts => vec![
            def("Account_Name", "text", &[], None),
            def("Description", "textarea", &[], None),
            def(
                "Industry",
                "picklist",
                &[
                    "Technology",
                    "Manufacturing",
                    "Retail",
                    "Finance",
                    "Healthcare",
                    "Education",
                ],
                None,
            ),
            def("Website", "website", &[], None),
            def("Employees", "integer", &[], None),
            def("Annual_Revenue", "currency", &[], None),
            def("Phone", "phone", &[], None),
            def("Fax", "phone", &[], None),
            def("Billing_Street", "text", &[], None),
            def("Billing_City", "text", &[], None),
            def("Billing_State", "text", &[], None),
            def("Billing_Code", "text", &[], None),
            def("Billing_Country", "text", &[], None),
            def("Shipping_Street", "text", &[], None),
            def("Shipping_City", "text", &[], None),
            def("Shipping_State", "text", &[], None),
            def("Shipping_Code", "text", &[], None),
            def("Shipping_Country", "text", &[], None),
            def("Parent_Account", "lookup", &[], Some(M::Accounts)),
            def("Last_Activity_Time", "datetime", &[], None),
        ],
        M::Deals => vec![
            def("Deal_Name", "text", &[], None),
            def("Description", "textarea", &[], None),
            def("Amount", "currency", &[], None),
            def("Currency", "picklist", &["USD", "EUR", "GBP", "INR"], None),
            def("Probability", "integer", &[], None),
            def("Stage", "picklist", &[], None),
            def("Pipeline", "picklist", &[], None),
            def("Closing_Date", "date", &[], None),
            def("Account_Name", "lookup", &[], Some(M::Accounts)),
            def("Contact_Name", "lookup", &[], Some(M::Contacts)),
            def("Lead_Source", "picklist", LEAD_SOURCES, None),
        ],
        M::Leads => vec![
            def("First_Name", "text", &[], None),
            def("Last_Name", "text", &[], None),
            def("Full_Name", "text", &[], None),
            def("Designation", "text", &[], None),
            def("Company", "text", &[], None),
            def("Lead_Status", "picklist", LEAD_STATUSES, None),
            def("Lead_Source", "picklist", LEAD_SOURCES, None),
            def("Email", "email", &[], None),
            def("Phone", "phone", &[], None),
            def("Mobile", "phone", &[], None),
            def("Street", "text", &[], None),
            def("City", "text", &[], None),
            def("State", "text", &[], None),
            def("Zip_Code", "text", &[], None),
            def("Country", "text", &[], None),
            def("Description", "textarea", &[], None),
        ],
        M::Notes => vec![
            def("Note_Title", "text", &[], None),
            def("Note_Content", "textarea", &[], None),
            def("Parent_Id", "lookup", &[], None),
        ],
        M::Tasks => vec![
            def("Subject", "text", &[], None),
            def("Description", "textarea", &[], None),
            def("Status", "picklist", TASK_STATUSES, None),
            def("Priority", "picklist", PRIORITIES, None),
            def("Due_Date", "date", &[], None),
            def("Closed_Time", "datetime", &[], None),
            def("Who_Id", "lookup", &[], Some(M::Contacts)),
            def("What_Id", "lookup", &[], None),
        ],
        M::Calls => vec![
            def("Subject", "text", &[], None),
            def("Description", "textarea", &[], None),
            def("Call_Type", "picklist", CALL_TYPES, None),
            def("Call_Start_Time", "datetime", &[], None),
            def("Call_Duration", "text", &[], None),
            def("Call_Duration_in_seconds", "integer", &[], None),
            def("Who_Id", "lookup", &[], Some(M::Contacts)),
            def("What_Id", "lookup", &[], None),
        ],
        M::Events => vec![
            def("Event_Title", "text", &[], None),
            def("Description", "textarea", &[], None),
            def("Start_DateTime", "datetime", &[], None),
            def("End_DateTime", "datetime", &[], None),
            def("Venue", "text", &[], None),
            def("Participants", "multiselectlookup", &[], None),
            def("Who_Id", "lookup", &[], Some(M::Contacts)),
            def("What_Id", "lookup", &[], None),
        ],
    };
    fields.extend(more);
    let mandatory: &[&str] = match module {
        M::Contacts | M::Leads => &["Last_Name"],
        M::Accounts => &["Account_Name"],
        M::Deals => &["Deal_Name", "Stage"],
        M::Notes => &["Note_Content", "Parent_Id"],
        M::Tasks => &["Subject"],
        M::Calls => &["Subject", "Call_Type", "Call_Start_Time"],
        M::Events => &["Event_Title", "Start_DateTime", "End_DateTime"],
    };
    let read_only: &[&str] = &[
        "Full_Name",
        "Last_Activity_Time",
        "Closed_Time",
        "Call_Duration_in_seconds",
    ];
    for field in &mut fields {
        field.mandatory = mandatory.contains(&field.api_name.as_str());
        field.read_only |= read_only.contains(&field.api_name.as_str());
    }
    // The org's custom fields: a loyalty tier and a yearly spend on contacts, a region on
    // accounts, a forecast flag on deals, an effort on tasks and calls.
    let custom: Vec<FieldDef> = match module {
        M::Contacts => vec![
            def("Loyalty_Tier", "picklist", TIERS, None),
            def("Annual_Spend", "currency", &[], None),
        ],
        M::Accounts => vec![def("Region", "text", &[], None)],
        M::Deals => vec![def("In_Forecast", "boolean", &[], None)],
        M::Tasks | M::Calls => vec![def("Effort_Hours", "double", &[], None)],
        M::Leads | M::Notes | M::Events => Vec::new(),
    };
    fields.extend(custom.into_iter().map(|mut field| {
        field.custom = true;
        field
    }));
    fields
}

impl Store {
    pub(crate) fn new(rng: StdRng) -> Store {
        let mut store = Store {
            tables: HashMap::new(),
            fields: HashMap::new(),
            users: Vec::new(),
            pipelines: Vec::new(),
            layout_id: 0,
            next_id: 5_725_767_000_000_400_000,
            rng,
        };
        for module in Module::ALL {
            let mut fields = standard_fields(module);
            for field in &mut fields {
                field.id = store.next_id();
            }
            store.fields.insert(module, fields);
            store.tables.insert(module, Table::default());
        }
        store.layout_id = store.next_id();
        let stage = |store: &mut Store, name, probability, forecast_type| Stage {
            id: store.next_id(),
            name,
            probability,
            forecast_type,
        };
        let standard = Pipeline {
            id: store.next_id(),
            name: "Standard",
            default: true,
            stages: vec![
                stage(&mut store, "Qualification", 10, "Open"),
                stage(&mut store, "Needs Analysis", 20, "Open"),
                stage(&mut store, "Value Proposition", 40, "Open"),
                stage(&mut store, "Negotiation/Review", 80, "Open"),
                stage(&mut store, "Closed Won", 100, "Closed Won"),
                stage(&mut store, "Closed Lost", 0, "Closed Lost"),
            ],
        };
        let renewals = Pipeline {
            id: store.next_id(),
            name: "Renewals",
            default: false,
            stages: vec![
                stage(&mut store, "Renewal Due", 50, "Open"),
                stage(&mut store, "Renewal Signed", 100, "Closed Won"),
                stage(&mut store, "Churned", 0, "Closed Lost"),
            ],
        };
        store.pipelines = vec![standard, renewals];
        store
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn table(&self, module: Module) -> &Table {
        &self.tables[&module]
    }

    pub(crate) fn table_mut(&mut self, module: Module) -> &mut Table {
        self.tables
            .get_mut(&module)
            .expect("every module has a table")
    }

    pub(crate) fn field_defs(&self, module: Module) -> &[FieldDef] {
        &self.fields[&module]
    }

    pub(crate) fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|user| user.id.to_string() == id)
    }

    fn display_name(module: Module, row: &Row) -> String {
        row.fields
            .get(module.display_field())
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// The record as `GET /{module}/{id}` renders it, limited to `fields` when given.
    pub(crate) fn render(&self, module: Module, row: &Row, fields: Option<&[String]>) -> Value {
        let owner = self
            .users
            .first()
            .map(User::minified)
            .unwrap_or(Value::Null);
        let mut record = Map::new();
        record.insert("id".into(), Value::String(row.id.to_string()));
        let mut all = row.fields.clone();
        all.insert(
            "Created_Time".into(),
            Value::String(format_time(row.created)),
        );
        all.insert(
            "Modified_Time".into(),
            Value::String(format_time(row.modified)),
        );
        all.insert("Created_By".into(), owner.clone());
        all.insert("Modified_By".into(), owner);
        match fields {
            Some(names) => {
                for name in names {
                    if name == "id" {
                        continue;
                    }
                    record.insert(name.clone(), all.get(name).cloned().unwrap_or(Value::Null));
                }
                // A lookup to a parent keeps the parent's module beside it.
                if names.iter().any(|name| name == "What_Id")
                    && let Some(module) = all.get("$se_module")
                {
                    record.insert("$se_module".into(), module.clone());
                }
            }
            None => {
                for def in self.field_defs(module) {
                    record.insert(
                        def.api_name.clone(),
                        all.get(&def.api_name).cloned().unwrap_or(Value::Null),
                    );
                }
                if let Some(module) = all.get("$se_module") {
                    record.insert("$se_module".into(), module.clone());
                }
            }
        }
        record.insert("$editable".into(), Value::Bool(true));
        if module == Module::Notes {
            // A note's own properties, always in its answers.
            if let Some(parent) = all
                .get("Parent_Id")
                .and_then(|parent| parent.pointer("/module/api_name"))
            {
                record.insert("$se_module".into(), parent.clone());
            }
            record.insert("$attachments".into(), Value::Null);
            record.insert("$is_shared_to_client".into(), Value::Bool(false));
            record.insert("$size".into(), Value::Null);
            record.insert("$state".into(), Value::String("save".into()));
            record.insert("$voice_note".into(), Value::Bool(false));
        }
        Value::Object(record)
    }

    /// Inserts a record's validated fields as a new row; returns its id.
    pub(crate) fn insert(
        &mut self,
        module: Module,
        fields: Map<String, Value>,
        created: DateTime<Utc>,
        modified: DateTime<Utc>,
    ) -> u64 {
        let id = self.next_id();
        let mut row = Row {
            id,
            fields,
            created,
            modified,
        };
        derive(module, &mut row.fields);
        self.table_mut(module).rows.insert(id, row);
        id
    }

    /// Applies validated fields to an existing row.
    pub(crate) fn update(&mut self, module: Module, id: u64, fields: Map<String, Value>) -> bool {
        let Some(row) = self.table_mut(module).rows.get_mut(&id) else {
            return false;
        };
        for (key, value) in fields {
            row.fields.insert(key, value);
        }
        derive(module, &mut row.fields);
        row.modified = now();
        true
    }

    /// Moves a row to the recycle bin.
    pub(crate) fn delete(&mut self, module: Module, id: u64, when: DateTime<Utc>) -> bool {
        let Some(row) = self.table_mut(module).rows.remove(&id) else {
            return false;
        };
        let display_name = Store::display_name(module, &row);
        self.table_mut(module).deleted.push(DeletedRow {
            id,
            display_name,
            deleted_time: when,
        });
        true
    }

    /// A lookup's stored value: `{name, id}` of the record it names.
    fn lookup_value(&self, module: Module, id: u64) -> Option<Value> {
        let row = self.table(module).rows.get(&id)?;
        Some(json!({"name": Store::display_name(module, row), "id": id.to_string()}))
    }

    /// Checks one record of a write body and returns the fields to store, or the first field
    /// the vendor would refuse. `creating` asks for the module's mandatory fields.
    pub(crate) fn validate_record(
        &self,
        module: Module,
        record: &Value,
        index: usize,
        creating: bool,
        current: Option<&Map<String, Value>>,
    ) -> Result<Map<String, Value>, RecordError> {
        let Some(given) = record.as_object() else {
            return Err(RecordError {
                code: "INVALID_DATA",
                message: "invalid data",
                details: json!({"expected_data_type": "jsonobject", "json_path": format!("$.data[{index}]")}),
            });
        };
        let mut out = Map::new();
        let se_module = given
            .get("$se_module")
            .and_then(Value::as_str)
            .and_then(Module::parse);
        for def in self.field_defs(module) {
            let Some(value) = given.get(&def.api_name) else {
                continue;
            };
            if def.read_only {
                continue;
            }
            if value.is_null() {
                if def.mandatory {
                    return Err(RecordError::mandatory(&def.api_name, index));
                }
                out.insert(def.api_name.clone(), Value::Null);
                continue;
            }
            let name = def.api_name.as_str();
            let bad = |expected: &str| RecordError::invalid(name, index, expected);
            let stored = match def.data_type {
                "text" | "textarea" | "phone" | "website" => {
                    let text = value.as_str().ok_or_else(|| bad("text"))?;
                    let max = if def.data_type == "textarea" {
                        32_000
                    } else {
                        255
                    };
                    if text.chars().count() > max {
                        return Err(bad("text"));
                    }
                    if name == "Call_Duration" && !is_duration(text) {
                        return Err(bad("text"));
                    }
                    Value::String(text.to_owned())
                }
                "email" => {
                    let text = value.as_str().ok_or_else(|| bad("email"))?;
                    if !is_email(text) {
                        return Err(bad("email"));
                    }
                    Value::String(text.to_owned())
                }
                "integer" => {
                    let number = value.as_i64().ok_or_else(|| bad("integer"))?;
                    json!(number)
                }
                "currency" | "double" => {
                    let number = value.as_f64().ok_or_else(|| bad("double"))?;
                    json!(number)
                }
                "boolean" => Value::Bool(value.as_bool().ok_or_else(|| bad("boolean"))?),
                "date" => {
                    let text = value.as_str().ok_or_else(|| bad("date"))?;
                    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad("date"))?;
                    Value::String(text.to_owned())
                }
                "datetime" => {
                    let text = value.as_str().ok_or_else(|| bad("datetime"))?;
                    Value::String(format_time(
                        parse_time(text).ok_or_else(|| bad("datetime"))?,
                    ))
                }
                "picklist" if name == "Pipeline" => {
                    let pipeline = self.pipeline_named(value).ok_or_else(|| bad("picklist"))?;
                    json!({"name": pipeline.name, "id": pipeline.id.to_string()})
                }
                "picklist" if name == "Stage" => {
                    let text = value.as_str().ok_or_else(|| bad("picklist"))?;
                    let pipeline = given
                        .get("Pipeline")
                        .and_then(|named| self.pipeline_named(named))
                        .or_else(|| {
                            current
                                .and_then(|fields| fields.get("Pipeline"))
                                .and_then(|named| self.pipeline_named(named))
                        })
                        .or_else(|| self.pipelines.first())
                        .ok_or_else(|| bad("picklist"))?;
                    if !pipeline.stages.iter().any(|stage| stage.name == text) {
                        return Err(bad("picklist"));
                    }
                    Value::String(text.to_owned())
                }
                "picklist" => {
                    let text = value.as_str().ok_or_else(|| bad("picklist"))?;
                    if !def.options.iter().any(|option| option == text) {
                        return Err(bad("picklist"));
                    }
                    Value::String(text.to_owned())
                }
                "ownerlookup" => {
                    let id = lookup_id(value).ok_or_else(|| bad("jsonobject"))?;
                    self.user(&id).ok_or_else(|| bad("jsonobject"))?.minified()
                }
                "lookup" if name == "Parent_Id" => {
                    let target = value
                        .pointer("/module/api_name")
                        .and_then(Value::as_str)
                        .and_then(Module::parse)
                        .filter(|target| {
                            matches!(
                                target,
                                Module::Contacts | Module::Accounts | Module::Deals | Module::Leads
                            )
                        })
                        .ok_or_else(|| bad("jsonobject"))?;
                    let id = lookup_id(value)
                        .and_then(|id| id.parse::<u64>().ok())
                        .ok_or_else(|| bad("jsonobject"))?;
                    let mut parent = self
                        .lookup_value(target, id)
                        .ok_or_else(|| bad("jsonobject"))?;
                    parent["module"] = json!({"api_name": target.name(), "id": target.name()});
                    parent
                }
                "lookup" => {
                    let target = def.lookup.or(se_module).ok_or_else(|| bad("jsonobject"))?;
                    let id = lookup_id(value)
                        .and_then(|id| id.parse::<u64>().ok())
                        .ok_or_else(|| bad("jsonobject"))?;
                    if name == "What_Id" {
                        out.insert("$se_module".into(), Value::String(target.name().to_owned()));
                    }
                    self.lookup_value(target, id)
                        .ok_or_else(|| bad("jsonobject"))?
                }
                "multiselectlookup" => {
                    let items = value.as_array().ok_or_else(|| bad("jsonarray"))?;
                    Value::Array(items.clone())
                }
                _ => value.clone(),
            };
            out.insert(def.api_name.clone(), stored);
        }
        if creating {
            for def in self.field_defs(module) {
                if def.mandatory && out.get(&def.api_name).is_none_or(Value::is_null) {
                    return Err(RecordError::mandatory(&def.api_name, index));
                }
            }
            if module == Module::Deals
                && !out.contains_key("Pipeline")
                && let Some(pipeline) = self.pipelines.iter().find(|p| p.default)
            {
                out.insert(
                    "Pipeline".into(),
                    json!({"name": pipeline.name, "id": pipeline.id.to_string()}),
                );
            }
        }
        Ok(out)
    }

    fn pipeline_named(&self, value: &Value) -> Option<&Pipeline> {
        let key = match value {
            Value::String(text) => text.clone(),
            Value::Object(map) => map
                .get("id")
                .or_else(|| map.get("name"))
                .and_then(Value::as_str)?
                .to_owned(),
            _ => return None,
        };
        self.pipelines
            .iter()
            .find(|pipeline| pipeline.id.to_string() == key || pipeline.name == key)
    }

    /// The stage of a deal's pipeline, by name.
    pub(crate) fn stage_probability(&self, fields: &Map<String, Value>) -> Option<u32> {
        let stage = fields.get("Stage")?.as_str()?;
        self.pipelines
            .iter()
            .flat_map(|pipeline| &pipeline.stages)
            .find(|candidate| candidate.name == stage)
            .map(|stage| stage.probability)
    }

    /// Picks a random live record id of `module`.
    pub(crate) fn random_id(&self, module: Module, rng: &mut StdRng) -> Option<u64> {
        let rows = &self.table(module).rows;
        if rows.is_empty() {
            return None;
        }
        rows.keys().nth(rng.gen_range(0..rows.len())).copied()
    }
}

/// Fields Zoho derives from others.
fn derive(module: Module, fields: &mut Map<String, Value>) {
    if matches!(module, Module::Contacts | Module::Leads) {
        let full = ["First_Name", "Last_Name"]
            .iter()
            .filter_map(|key| fields.get(*key).and_then(Value::as_str))
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        fields.insert("Full_Name".into(), Value::String(full));
    }
    if module == Module::Calls
        && let Some(duration) = fields.get("Call_Duration").and_then(Value::as_str)
        && let Some((minutes, seconds)) = duration.split_once(':')
        && let (Ok(minutes), Ok(seconds)) = (minutes.parse::<i64>(), seconds.parse::<i64>())
    {
        fields.insert(
            "Call_Duration_in_seconds".into(),
            json!(minutes * 60 + seconds),
        );
    }
    if module == Module::Tasks {
        let done = fields.get("Status").and_then(Value::as_str) == Some("Completed");
        let closed = fields
            .get("Closed_Time")
            .is_some_and(|value| !value.is_null());
        if done && !closed {
            fields.insert("Closed_Time".into(), Value::String(format_time(now())));
        } else if !done {
            fields.insert("Closed_Time".into(), Value::Null);
        }
    }
}

fn lookup_id(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Object(map) => match map.get("id")? {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        },
        _ => None,
    }
}

fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !local.contains(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains(['@', ' '])
}

fn is_duration(text: &str) -> bool {
    text.split_once(':').is_some_and(|(minutes, seconds)| {
        !minutes.is_empty()
            && minutes.bytes().all(|b| b.is_ascii_digit())
            && seconds.len() == 2
            && seconds.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_write_is_refused_naming_the_field() {
        let store = Store::new(StdRng::seed_from_u64(1));
        let error = store
            .validate_record(
                Module::Contacts,
                &json!({"First_Name": "Ada"}),
                0,
                true,
                None,
            )
            .expect_err("no last name");
        assert_eq!(error.code, "MANDATORY_NOT_FOUND");
        assert_eq!(error.details["api_name"], "Last_Name");
        let error = store
            .validate_record(
                Module::Contacts,
                &json!({"Last_Name": "L", "Email": "not an email"}),
                2,
                true,
                None,
            )
            .expect_err("bad email");
        assert_eq!(error.details["json_path"], "$.data[2].Email");
        let fields = store
            .validate_record(
                Module::Deals,
                &json!({"Deal_Name": "D", "Stage": "Qualification"}),
                0,
                true,
                None,
            )
            .expect("a deal");
        assert_eq!(fields["Pipeline"]["name"], "Standard");
        assert!(
            store
                .validate_record(
                    Module::Deals,
                    &json!({"Deal_Name": "D", "Stage": "Churned", "Pipeline": "Standard"}),
                    0,
                    true,
                    None,
                )
                .is_err(),
            "a stage of another pipeline"
        );
    }
}
