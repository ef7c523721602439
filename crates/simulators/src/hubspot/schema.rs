//! What the simulated HubSpot portal knows about its own shape: the object types, their built-in
//! and custom property definitions, the association type ids between them, and the deal pipelines.
//!
//! Everything here is static description; the records themselves live in `store.rs`. Property
//! definitions follow the Properties API (`type`, `fieldType`, `modificationMetadata`…), and the
//! association type ids are HubSpot's own `HUBSPOT_DEFINED` ids.

use serde_json::{Value, json};

/// A CRM object type the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectType {
    Contacts,
    Companies,
    Deals,
    Notes,
    Tasks,
    Calls,
    Meetings,
    Emails,
    Leads,
}

impl ObjectType {
    pub const ALL: [ObjectType; 9] = [
        ObjectType::Contacts,
        ObjectType::Companies,
        ObjectType::Deals,
        ObjectType::Notes,
        ObjectType::Tasks,
        ObjectType::Calls,
        ObjectType::Meetings,
        ObjectType::Emails,
        ObjectType::Leads,
    ];

    /// The plural path name (`contacts`).
    pub fn name(self) -> &'static str {
        match self {
            ObjectType::Contacts => "contacts",
            ObjectType::Companies => "companies",
            ObjectType::Deals => "deals",
            ObjectType::Notes => "notes",
            ObjectType::Tasks => "tasks",
            ObjectType::Calls => "calls",
            ObjectType::Meetings => "meetings",
            ObjectType::Emails => "emails",
            ObjectType::Leads => "leads",
        }
    }

    /// The singular name used in association labels (`contact_to_company`).
    pub fn singular(self) -> &'static str {
        match self {
            ObjectType::Contacts => "contact",
            ObjectType::Companies => "company",
            ObjectType::Deals => "deal",
            ObjectType::Notes => "note",
            ObjectType::Tasks => "task",
            ObjectType::Calls => "call",
            ObjectType::Meetings => "meeting",
            ObjectType::Emails => "email",
            ObjectType::Leads => "lead",
        }
    }

    /// HubSpot's object type id (`0-1` for contacts).
    pub fn type_id(self) -> &'static str {
        match self {
            ObjectType::Contacts => "0-1",
            ObjectType::Companies => "0-2",
            ObjectType::Deals => "0-3",
            ObjectType::Notes => "0-46",
            ObjectType::Tasks => "0-27",
            ObjectType::Calls => "0-48",
            ObjectType::Meetings => "0-47",
            ObjectType::Emails => "0-49",
            ObjectType::Leads => "0-136",
        }
    }

    /// Accepts the plural, the singular or the `0-N` id, as HubSpot does.
    pub fn parse(text: &str) -> Option<ObjectType> {
        let lower = text.to_ascii_lowercase();
        ObjectType::ALL
            .into_iter()
            .find(|t| t.name() == lower || t.singular() == lower || t.type_id() == lower)
    }

    /// Engagements (notes, tasks, calls, meetings, emails) share the `hs_` date properties.
    pub fn is_engagement(self) -> bool {
        !matches!(
            self,
            ObjectType::Contacts | ObjectType::Companies | ObjectType::Deals | ObjectType::Leads
        )
    }

    /// The property holding the last modification time: contacts differ from everything else.
    pub fn last_modified_property(self) -> &'static str {
        if self == ObjectType::Contacts {
            "lastmodifieddate"
        } else {
            "hs_lastmodifieddate"
        }
    }

    /// The property holding the creation time.
    pub fn create_date_property(self) -> &'static str {
        if self.is_engagement() || self == ObjectType::Leads {
            "hs_createdate"
        } else {
            "createdate"
        }
    }

    /// The properties returned when none are requested.
    pub fn default_properties(self) -> &'static [&'static str] {
        match self {
            ObjectType::Contacts => &[
                "createdate",
                "email",
                "firstname",
                "hs_object_id",
                "lastmodifieddate",
                "lastname",
            ],
            ObjectType::Companies => &[
                "createdate",
                "domain",
                "hs_lastmodifieddate",
                "hs_object_id",
                "name",
            ],
            ObjectType::Deals => &[
                "amount",
                "closedate",
                "createdate",
                "dealname",
                "dealstage",
                "hs_lastmodifieddate",
                "hs_object_id",
                "pipeline",
            ],
            ObjectType::Notes => &[
                "hs_createdate",
                "hs_lastmodifieddate",
                "hs_note_body",
                "hs_object_id",
                "hs_timestamp",
            ],
            ObjectType::Tasks => &[
                "hs_createdate",
                "hs_lastmodifieddate",
                "hs_object_id",
                "hs_task_body",
                "hs_task_priority",
                "hs_task_status",
                "hs_task_subject",
                "hs_timestamp",
            ],
            ObjectType::Calls => &[
                "hs_call_body",
                "hs_call_title",
                "hs_createdate",
                "hs_lastmodifieddate",
                "hs_object_id",
                "hs_timestamp",
            ],
            ObjectType::Meetings => &[
                "hs_createdate",
                "hs_lastmodifieddate",
                "hs_meeting_body",
                "hs_meeting_title",
                "hs_object_id",
                "hs_timestamp",
            ],
            ObjectType::Emails => &[
                "hs_createdate",
                "hs_email_subject",
                "hs_email_text",
                "hs_lastmodifieddate",
                "hs_object_id",
                "hs_timestamp",
            ],
            ObjectType::Leads => &["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
        }
    }

    /// Properties the free-text `query` of a search looks in.
    pub fn searchable_properties(self) -> &'static [&'static str] {
        match self {
            ObjectType::Contacts => &["firstname", "lastname", "email", "phone", "company"],
            ObjectType::Companies => &["name", "domain", "website", "phone"],
            ObjectType::Deals => &["dealname"],
            ObjectType::Notes => &["hs_note_body"],
            ObjectType::Tasks => &["hs_task_subject", "hs_task_body"],
            ObjectType::Calls => &["hs_call_title", "hs_call_body"],
            ObjectType::Meetings => &["hs_meeting_title", "hs_meeting_body"],
            ObjectType::Emails => &["hs_email_subject", "hs_email_text"],
            ObjectType::Leads => &["hs_lead_name"],
        }
    }
}

/// A property's data type, as the Properties API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyType {
    String,
    Number,
    Date,
    Datetime,
    Enumeration,
    Bool,
}

impl PropertyType {
    pub fn name(self) -> &'static str {
        match self {
            PropertyType::String => "string",
            PropertyType::Number => "number",
            PropertyType::Date => "date",
            PropertyType::Datetime => "datetime",
            PropertyType::Enumeration => "enumeration",
            PropertyType::Bool => "bool",
        }
    }

    pub fn parse(text: &str) -> Option<PropertyType> {
        Some(match text {
            "string" => PropertyType::String,
            "number" => PropertyType::Number,
            "date" => PropertyType::Date,
            "datetime" => PropertyType::Datetime,
            "enumeration" => PropertyType::Enumeration,
            "bool" => PropertyType::Bool,
            _ => return None,
        })
    }

    fn default_field_type(self) -> &'static str {
        match self {
            PropertyType::String => "text",
            PropertyType::Number => "number",
            PropertyType::Date | PropertyType::Datetime => "date",
            PropertyType::Enumeration => "select",
            PropertyType::Bool => "booleancheckbox",
        }
    }
}

/// One option of an enumeration property.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyOption {
    pub label: String,
    pub value: String,
}

/// One property definition.
#[derive(Debug, Clone)]
pub struct PropertyDef {
    pub name: String,
    pub label: String,
    pub property_type: PropertyType,
    pub field_type: String,
    pub group_name: String,
    pub description: String,
    pub hubspot_defined: bool,
    pub options: Vec<PropertyOption>,
    pub read_only_value: bool,
    pub calculated: bool,
    pub has_unique_value: bool,
    pub form_field: bool,
    /// `OWNER` for `hubspot_owner_id`: values must be owner ids.
    pub referenced_object_type: Option<&'static str>,
    pub display_order: i64,
}

impl PropertyDef {
    /// The Properties API representation.
    pub fn to_json(&self) -> Value {
        let options: Vec<Value> = self
            .options
            .iter()
            .enumerate()
            .map(|(idx, option)| {
                json!({
                    "label": option.label,
                    "value": option.value,
                    "displayOrder": idx,
                    "hidden": false,
                })
            })
            .collect();
        let mut body = json!({
            "updatedAt": "2024-06-01T12:00:00.000Z",
            "createdAt": "2019-08-06T02:41:52.000Z",
            "name": self.name,
            "label": self.label,
            "type": self.property_type.name(),
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": options,
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": self.referenced_object_type.is_some(),
            "hasUniqueValue": self.has_unique_value,
            "hidden": false,
            "modificationMetadata": {
                "archivable": !self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only_value,
            },
            "formField": self.form_field,
            "archived": false,
        });
        if let Some(object) = body.as_object_mut() {
            if self.hubspot_defined {
                object.insert("hubspotDefined".into(), Value::Bool(true));
            } else {
                object.insert("createdUserId".into(), Value::String("9000001".into()));
            }
            if let Some(referenced) = self.referenced_object_type {
                object.insert(
                    "referencedObjectType".into(),
                    Value::String(referenced.into()),
                );
            }
        }
        body
    }

    /// Reads a definition posted to the Properties API (or given to `add_property`).
    pub fn from_json(body: &Value, hubspot_defined: bool) -> Result<PropertyDef, String> {
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        let name = text("name").ok_or("property definition needs a `name`")?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(format!(
                "Property name `{name}` is invalid: use lowercase letters, digits and underscores"
            ));
        }
        let type_name = text("type").unwrap_or_else(|| "string".into());
        let property_type = PropertyType::parse(&type_name)
            .ok_or_else(|| format!("Property type `{type_name}` is not supported"))?;
        let options = body
            .get("options")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|option| {
                        let value = option.get("value").and_then(Value::as_str)?;
                        let label = option.get("label").and_then(Value::as_str).unwrap_or(value);
                        Some(PropertyOption {
                            label: label.into(),
                            value: value.into(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let read_only_value = body
            .pointer("/modificationMetadata/readOnlyValue")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(PropertyDef {
            label: text("label").unwrap_or_else(|| name.clone()),
            field_type: text("fieldType")
                .unwrap_or_else(|| property_type.default_field_type().into()),
            group_name: text("groupName").unwrap_or_else(|| "custom_properties".into()),
            description: text("description").unwrap_or_default(),
            hubspot_defined,
            options,
            read_only_value,
            calculated: body
                .get("calculated")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            has_unique_value: body
                .get("hasUniqueValue")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            form_field: body
                .get("formField")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            referenced_object_type: None,
            display_order: body
                .get("displayOrder")
                .and_then(Value::as_i64)
                .unwrap_or(-1),
            name,
            property_type,
        })
    }
}

/// A compact way to write the built-in definitions below.
struct Spec {
    name: &'static str,
    label: &'static str,
    property_type: PropertyType,
    field_type: &'static str,
    group: &'static str,
    read_only: bool,
    options: &'static [&'static str],
}

const fn spec(
    name: &'static str,
    label: &'static str,
    property_type: PropertyType,
    field_type: &'static str,
    group: &'static str,
) -> Spec {
    Spec {
        name,
        label,
        property_type,
        field_type,
        group,
        read_only: false,
        options: &[],
    }
}

const fn read_only(mut base: Spec) -> Spec {
    base.read_only = true;
    base
}

const fn with_options(mut base: Spec, options: &'static [&'static str]) -> Spec {
    base.options = options;
    base
}

use PropertyType::{Bool, Date, Datetime, Enumeration, Number, String as Str};

pub const LIFECYCLE_STAGES: &[&str] = &[
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
];
pub const LEAD_STATUSES: &[&str] = &[
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
];
pub const INDUSTRIES: &[&str] = &[
    "ACCOUNTING",
    "AIRLINES_AVIATION",
    "BANKING",
    "COMPUTER_SOFTWARE",
    "CONSTRUCTION",
    "EDUCATION_MANAGEMENT",
    "FINANCIAL_SERVICES",
    "HOSPITAL_HEALTH_CARE",
    "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "INSURANCE",
    "MARKETING_AND_ADVERTISING",
    "REAL_ESTATE",
    "RETAIL",
    "TELECOMMUNICATIONS",
    "TRANSPORTATION_TRUCKING_RAILROAD",
];
pub const COMPANY_TYPES: &[&str] = &["PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER"];
pub const CURRENCIES: &[&str] = &["USD", "EUR", "GBP", "CAD", "AUD", "JPY"];
pub const DEAL_TYPES: &[&str] = &["newbusiness", "existingbusiness"];
pub const TASK_STATUSES: &[&str] = &[
    "NOT_STARTED",
    "IN_PROGRESS",
    "WAITING",
    "COMPLETED",
    "DEFERRED",
];
pub const TASK_PRIORITIES: &[&str] = &["LOW", "MEDIUM", "HIGH"];
pub const TASK_TYPES: &[&str] = &["CALL", "EMAIL", "TODO"];
pub const CALL_DIRECTIONS: &[&str] = &["INBOUND", "OUTBOUND"];
pub const CALL_STATUSES: &[&str] = &[
    "BUSY",
    "CALLING_CRM_USER",
    "CANCELED",
    "COMPLETED",
    "CONNECTING",
    "FAILED",
    "IN_PROGRESS",
    "NO_ANSWER",
    "QUEUED",
    "RINGING",
];
pub const MEETING_OUTCOMES: &[&str] = &[
    "SCHEDULED",
    "COMPLETED",
    "RESCHEDULED",
    "NO_SHOW",
    "CANCELED",
];
pub const EMAIL_DIRECTIONS: &[&str] = &["EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"];
pub const EMAIL_STATUSES: &[&str] = &["BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT"];
pub const LEAD_TYPES: &[&str] = &["NEW_BUSINESS", "UPSELL", "RE_ENGAGEMENT"];
/// The lead label is a temperature, not a status (the leads guide's example is `WARM`).
pub const LEAD_LABELS: &[&str] = &["HOT", "WARM", "COLD"];
/// The default lead pipeline; leads move through its stages (`hs_pipeline_stage`).
pub const LEAD_PIPELINE: &str = "lead-pipeline-id";
pub const LEAD_STAGES: &[&str] = &[
    "new-stage-id",
    "attempting-stage-id",
    "connected-stage-id",
    "qualified-stage-id",
    "unqualified-stage-id",
];
pub const FAVORITE_COLORS: &[&str] = &["red", "green", "blue", "yellow", "purple", "black"];
pub const CUSTOMER_SEGMENTS: &[&str] = &["smb", "mid_market", "enterprise", "strategic"];

const OWNER: &str = "hubspot_owner_id";

fn common_specs(object_type: ObjectType) -> Vec<Spec> {
    let group = match object_type {
        ObjectType::Contacts => "contactinformation",
        ObjectType::Companies => "companyinformation",
        ObjectType::Deals => "dealinformation",
        ObjectType::Notes | ObjectType::Tasks => "engagement",
        ObjectType::Calls => "call",
        ObjectType::Meetings => "meeting",
        ObjectType::Emails => "email",
        ObjectType::Leads => "lead_information",
    };
    let mut specs = vec![
        read_only(spec("hs_object_id", "Record ID", Number, "number", group)),
        read_only(spec(
            object_type.create_date_property(),
            "Create Date",
            Datetime,
            "date",
            group,
        )),
        read_only(spec(
            object_type.last_modified_property(),
            "Last Modified Date",
            Datetime,
            "date",
            group,
        )),
        spec(OWNER, "Owner", Enumeration, "select", group),
    ];
    if object_type == ObjectType::Contacts {
        // Contacts also carry `hs_lastmodifieddate`, but `lastmodifieddate` is the one that moves
        // on every change; connectors must use the latter.
        specs.push(read_only(spec(
            "hs_lastmodifieddate",
            "Object last modified date/time",
            Datetime,
            "date",
            group,
        )));
    }
    if object_type.is_engagement() {
        specs.push(spec(
            "hs_timestamp",
            "Activity date",
            Datetime,
            "date",
            group,
        ));
    }
    specs
}

fn object_specs(object_type: ObjectType) -> Vec<Spec> {
    match object_type {
        ObjectType::Contacts => {
            let g = "contactinformation";
            vec![
                spec("firstname", "First Name", Str, "text", g),
                spec("lastname", "Last Name", Str, "text", g),
                spec("email", "Email", Str, "text", g),
                spec("phone", "Phone Number", Str, "phonenumber", g),
                spec("mobilephone", "Mobile Phone Number", Str, "phonenumber", g),
                spec("jobtitle", "Job Title", Str, "text", g),
                spec("company", "Company Name", Str, "text", g),
                with_options(
                    spec("lifecyclestage", "Lifecycle Stage", Enumeration, "radio", g),
                    LIFECYCLE_STAGES,
                ),
                with_options(
                    spec("hs_lead_status", "Lead Status", Enumeration, "radio", g),
                    LEAD_STATUSES,
                ),
                spec("address", "Street Address", Str, "text", g),
                spec("city", "City", Str, "text", g),
                spec("state", "State/Region", Str, "text", g),
                spec("zip", "Postal Code", Str, "text", g),
                spec("country", "Country/Region", Str, "text", g),
                spec("website", "Website URL", Str, "text", g),
                spec(
                    "notes_last_updated",
                    "Last Activity Date",
                    Datetime,
                    "date",
                    g,
                ),
                read_only(spec(
                    "num_associated_deals",
                    "Number of Associated Deals",
                    Number,
                    "number",
                    "deal_information",
                )),
            ]
        }
        ObjectType::Companies => {
            let g = "companyinformation";
            vec![
                spec("name", "Company name", Str, "text", g),
                spec("domain", "Company Domain Name", Str, "text", g),
                spec("website", "Website URL", Str, "text", g),
                with_options(
                    spec("industry", "Industry", Enumeration, "select", g),
                    INDUSTRIES,
                ),
                with_options(
                    spec("type", "Type", Enumeration, "select", g),
                    COMPANY_TYPES,
                ),
                spec("phone", "Phone Number", Str, "phonenumber", g),
                spec(
                    "numberofemployees",
                    "Number of Employees",
                    Number,
                    "number",
                    g,
                ),
                spec("annualrevenue", "Annual Revenue", Number, "number", g),
                spec("description", "Description", Str, "textarea", g),
                spec("address", "Street Address", Str, "text", g),
                spec("city", "City", Str, "text", g),
                spec("state", "State/Region", Str, "text", g),
                spec("zip", "Postal Code", Str, "text", g),
                spec("country", "Country/Region", Str, "text", g),
                with_options(
                    spec("lifecyclestage", "Lifecycle Stage", Enumeration, "radio", g),
                    LIFECYCLE_STAGES,
                ),
                spec("is_public", "Is Public", Bool, "booleancheckbox", g),
            ]
        }
        ObjectType::Deals => {
            let g = "dealinformation";
            vec![
                spec("dealname", "Deal Name", Str, "text", g),
                spec("amount", "Amount", Number, "number", g),
                with_options(
                    spec("deal_currency_code", "Currency", Enumeration, "select", g),
                    CURRENCIES,
                ),
                spec("dealstage", "Deal Stage", Enumeration, "radio", g),
                spec("pipeline", "Pipeline", Enumeration, "select", g),
                spec("closedate", "Close Date", Datetime, "date", g),
                with_options(
                    spec("dealtype", "Deal Type", Enumeration, "radio", g),
                    DEAL_TYPES,
                ),
                spec("description", "Deal Description", Str, "textarea", g),
                read_only(spec(
                    "hs_is_closed_won",
                    "Is Closed Won",
                    Bool,
                    "booleancheckbox",
                    g,
                )),
                read_only(spec(
                    "hs_is_closed",
                    "Is Deal Closed?",
                    Bool,
                    "booleancheckbox",
                    g,
                )),
            ]
        }
        ObjectType::Notes => vec![
            spec("hs_note_body", "Note body", Str, "html", "engagement"),
            spec(
                "hs_attachment_ids",
                "Attachment IDs",
                Str,
                "text",
                "engagement",
            ),
        ],
        ObjectType::Tasks => {
            let g = "task";
            vec![
                spec("hs_task_subject", "Task Title", Str, "text", g),
                spec("hs_task_body", "Notes", Str, "html", g),
                with_options(
                    spec("hs_task_status", "Task Status", Enumeration, "select", g),
                    TASK_STATUSES,
                ),
                with_options(
                    spec("hs_task_priority", "Priority", Enumeration, "select", g),
                    TASK_PRIORITIES,
                ),
                with_options(
                    spec("hs_task_type", "Task Type", Enumeration, "select", g),
                    TASK_TYPES,
                ),
                spec(
                    "hs_task_completion_date",
                    "Completed at",
                    Datetime,
                    "date",
                    g,
                ),
            ]
        }
        ObjectType::Calls => {
            let g = "call";
            vec![
                spec("hs_call_title", "Call Title", Str, "text", g),
                spec("hs_call_body", "Call notes", Str, "html", g),
                with_options(
                    spec(
                        "hs_call_direction",
                        "Call direction",
                        Enumeration,
                        "select",
                        g,
                    ),
                    CALL_DIRECTIONS,
                ),
                spec("hs_call_duration", "Call duration", Number, "number", g),
                with_options(
                    spec("hs_call_status", "Call status", Enumeration, "select", g),
                    CALL_STATUSES,
                ),
                spec("hs_call_from_number", "From number", Str, "text", g),
                spec("hs_call_to_number", "To number", Str, "text", g),
            ]
        }
        ObjectType::Meetings => {
            let g = "meeting";
            vec![
                spec("hs_meeting_title", "Meeting name", Str, "text", g),
                spec("hs_meeting_body", "Meeting description", Str, "html", g),
                spec("hs_meeting_start_time", "Start time", Datetime, "date", g),
                spec("hs_meeting_end_time", "End time", Datetime, "date", g),
                spec("hs_meeting_location", "Location", Str, "text", g),
                with_options(
                    spec("hs_meeting_outcome", "Outcome", Enumeration, "select", g),
                    MEETING_OUTCOMES,
                ),
            ]
        }
        ObjectType::Emails => {
            let g = "email";
            vec![
                spec("hs_email_subject", "Email subject", Str, "text", g),
                spec("hs_email_text", "Email body", Str, "textarea", g),
                spec("hs_email_html", "Email HTML body", Str, "html", g),
                with_options(
                    spec(
                        "hs_email_direction",
                        "Email direction",
                        Enumeration,
                        "select",
                        g,
                    ),
                    EMAIL_DIRECTIONS,
                ),
                with_options(
                    spec(
                        "hs_email_status",
                        "Email send status",
                        Enumeration,
                        "select",
                        g,
                    ),
                    EMAIL_STATUSES,
                ),
                spec("hs_email_from_email", "From email", Str, "text", g),
                spec("hs_email_to_email", "To email", Str, "text", g),
            ]
        }
        ObjectType::Leads => {
            let g = "lead_information";
            vec![
                spec("hs_lead_name", "Lead name", Str, "text", g),
                with_options(
                    spec("hs_lead_type", "Lead type", Enumeration, "select", g),
                    LEAD_TYPES,
                ),
                with_options(
                    spec("hs_lead_label", "Lead label", Enumeration, "select", g),
                    LEAD_LABELS,
                ),
                with_options(
                    spec("hs_pipeline", "Pipeline", Enumeration, "select", g),
                    &[LEAD_PIPELINE],
                ),
                with_options(
                    spec("hs_pipeline_stage", "Lead stage", Enumeration, "select", g),
                    LEAD_STAGES,
                ),
            ]
        }
    }
}

/// The custom (portal-defined) properties the seeded portal has.
fn custom_properties(object_type: ObjectType) -> Vec<PropertyDef> {
    let custom =
        |name: &str, label: &str, property_type: PropertyType, options: &[&str]| PropertyDef {
            name: name.into(),
            label: label.into(),
            property_type,
            field_type: property_type.default_field_type().into(),
            group_name: "custom_properties".into(),
            description: String::new(),
            hubspot_defined: false,
            options: options
                .iter()
                .map(|value| PropertyOption {
                    label: title_case(value),
                    value: (*value).into(),
                })
                .collect(),
            read_only_value: false,
            calculated: false,
            has_unique_value: false,
            form_field: true,
            referenced_object_type: None,
            display_order: -1,
        };
    match object_type {
        ObjectType::Contacts => {
            let mut health = custom(
                "customer_health_score",
                "Customer health score",
                Number,
                &[],
            );
            health.read_only_value = true;
            health.calculated = true;
            health.form_field = false;
            health.field_type = "calculation_equation".into();
            vec![
                custom(
                    "favorite_color",
                    "Favorite color",
                    Enumeration,
                    FAVORITE_COLORS,
                ),
                custom("loyalty_tier", "Loyalty tier", Str, &[]),
                custom("nps_score", "NPS score", Number, &[]),
                health,
            ]
        }
        ObjectType::Companies => vec![custom(
            "customer_segment",
            "Customer segment",
            Enumeration,
            CUSTOMER_SEGMENTS,
        )],
        ObjectType::Deals => vec![
            custom("deal_source_detail", "Deal source detail", Str, &[]),
            custom("contract_start_date", "Contract start date", Date, &[]),
        ],
        _ => Vec::new(),
    }
}

fn title_case(value: &str) -> String {
    value
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every property definition of `object_type`: built-ins first, then the seeded custom ones.
pub fn property_definitions(object_type: ObjectType) -> Vec<PropertyDef> {
    let stage_options: Vec<PropertyOption> = pipelines()
        .iter()
        .flat_map(|pipeline| pipeline.stages.iter())
        .map(|stage| PropertyOption {
            label: stage.label.into(),
            value: stage.id.into(),
        })
        .collect();
    let pipeline_options: Vec<PropertyOption> = pipelines()
        .iter()
        .map(|pipeline| PropertyOption {
            label: pipeline.label.into(),
            value: pipeline.id.into(),
        })
        .collect();
    let mut definitions: Vec<PropertyDef> = common_specs(object_type)
        .into_iter()
        .chain(object_specs(object_type))
        .enumerate()
        .map(|(idx, spec)| {
            let options = match spec.name {
                "dealstage" => stage_options.clone(),
                "pipeline" => pipeline_options.clone(),
                _ if spec.property_type == Bool => vec![
                    PropertyOption {
                        label: "Yes".into(),
                        value: "true".into(),
                    },
                    PropertyOption {
                        label: "No".into(),
                        value: "false".into(),
                    },
                ],
                _ => spec
                    .options
                    .iter()
                    .map(|value| PropertyOption {
                        label: title_case(&value.to_ascii_lowercase()),
                        value: (*value).into(),
                    })
                    .collect(),
            };
            PropertyDef {
                name: spec.name.into(),
                label: spec.label.into(),
                property_type: spec.property_type,
                field_type: spec.field_type.into(),
                group_name: spec.group.into(),
                description: format!(
                    "The {} of the {}.",
                    spec.label.to_lowercase(),
                    object_type.singular()
                ),
                hubspot_defined: true,
                options,
                read_only_value: spec.read_only,
                calculated: matches!(
                    spec.name,
                    "hs_is_closed_won" | "hs_is_closed" | "num_associated_deals"
                ),
                has_unique_value: spec.name == "hs_object_id",
                form_field: !spec.read_only,
                referenced_object_type: (spec.name == OWNER).then_some("OWNER"),
                display_order: i64::try_from(idx).unwrap_or(i64::MAX),
            }
        })
        .collect();
    definitions.extend(custom_properties(object_type));
    definitions
}

/// One deal pipeline stage.
#[derive(Debug, Clone, Copy)]
pub struct Stage {
    pub id: &'static str,
    pub label: &'static str,
    pub probability: &'static str,
    pub is_closed: bool,
}

/// One deal pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub id: &'static str,
    pub label: &'static str,
    pub stages: Vec<Stage>,
}

const fn stage(
    id: &'static str,
    label: &'static str,
    probability: &'static str,
    is_closed: bool,
) -> Stage {
    Stage {
        id,
        label,
        probability,
        is_closed,
    }
}

/// The portal's deal pipelines: HubSpot's default Sales Pipeline and one custom pipeline.
pub fn pipelines() -> Vec<Pipeline> {
    vec![
        Pipeline {
            id: "default",
            label: "Sales Pipeline",
            stages: vec![
                stage(
                    "appointmentscheduled",
                    "Appointment Scheduled",
                    "0.2",
                    false,
                ),
                stage("qualifiedtobuy", "Qualified To Buy", "0.4", false),
                stage(
                    "presentationscheduled",
                    "Presentation Scheduled",
                    "0.6",
                    false,
                ),
                stage(
                    "decisionmakerboughtin",
                    "Decision Maker Bought-In",
                    "0.8",
                    false,
                ),
                stage("contractsent", "Contract Sent", "0.9", false),
                stage("closedwon", "Closed Won", "1.0", true),
                stage("closedlost", "Closed Lost", "0.0", true),
            ],
        },
        Pipeline {
            id: "75843215",
            label: "Enterprise Pipeline",
            stages: vec![
                stage("148302211", "Discovery", "0.1", false),
                stage("148302212", "Solution Design", "0.3", false),
                stage("148302213", "Proposal", "0.5", false),
                stage("148302214", "Negotiation", "0.8", false),
                stage("148302215", "Won", "1.0", true),
                stage("148302216", "Lost", "0.0", true),
            ],
        },
    ]
}

/// Finds a stage by id in any pipeline.
pub fn find_stage(stage_id: &str) -> Option<Stage> {
    pipelines()
        .into_iter()
        .flat_map(|pipeline| pipeline.stages)
        .find(|stage| stage.id == stage_id)
}

/// The Pipelines API representation of one pipeline.
pub fn pipeline_json(pipeline: &Pipeline) -> Value {
    json!({
        "label": pipeline.label,
        "displayOrder": if pipeline.id == "default" { 0 } else { 1 },
        "id": pipeline.id,
        "stages": pipeline.stages.iter().enumerate().map(|(idx, stage)| stage_json(stage, idx)).collect::<Vec<_>>(),
        "createdAt": "2023-01-10T09:00:00.000Z",
        "updatedAt": "2024-03-02T16:30:00.000Z",
        "archived": false,
    })
}

fn stage_json(stage: &Stage, display_order: usize) -> Value {
    json!({
        "label": stage.label,
        "displayOrder": display_order,
        "metadata": {
            "isClosed": if stage.is_closed { "true" } else { "false" },
            "probability": stage.probability,
        },
        "id": stage.id,
        "createdAt": "2023-01-10T09:00:00.000Z",
        "updatedAt": "2024-03-02T16:30:00.000Z",
        "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
        "archived": false,
    })
}

/// The Pipelines API stage list of one pipeline.
pub fn stages_json(pipeline: &Pipeline) -> Vec<Value> {
    pipeline
        .stages
        .iter()
        .enumerate()
        .map(|(idx, stage)| stage_json(stage, idx))
        .collect()
}

/// HubSpot's `HUBSPOT_DEFINED` association type ids: `(from, to) -> unlabeled type id`.
pub fn association_type_id(from: ObjectType, to: ObjectType) -> Option<u32> {
    use ObjectType::{Calls, Companies, Contacts, Deals, Emails, Leads, Meetings, Notes, Tasks};
    Some(match (from, to) {
        (Contacts, Companies) => 279,
        (Companies, Contacts) => 280,
        (Deals, Contacts) => 3,
        (Contacts, Deals) => 4,
        (Deals, Companies) => 341,
        (Companies, Deals) => 342,
        (Contacts, Notes) => 201,
        (Notes, Contacts) => 202,
        (Companies, Notes) => 189,
        (Notes, Companies) => 190,
        (Deals, Notes) => 213,
        (Notes, Deals) => 214,
        (Contacts, Tasks) => 203,
        (Tasks, Contacts) => 204,
        (Companies, Tasks) => 191,
        (Tasks, Companies) => 192,
        (Deals, Tasks) => 215,
        (Tasks, Deals) => 216,
        (Contacts, Calls) => 193,
        (Calls, Contacts) => 194,
        (Companies, Calls) => 181,
        (Calls, Companies) => 182,
        (Deals, Calls) => 205,
        (Calls, Deals) => 206,
        (Contacts, Emails) => 197,
        (Emails, Contacts) => 198,
        (Companies, Emails) => 185,
        (Emails, Companies) => 186,
        (Deals, Emails) => 209,
        (Emails, Deals) => 210,
        (Contacts, Meetings) => 199,
        (Meetings, Contacts) => 200,
        (Companies, Meetings) => 187,
        (Meetings, Companies) => 188,
        (Deals, Meetings) => 211,
        (Meetings, Deals) => 212,
        // The leads guide documents 578 (lead to primary contact) as the association a new lead
        // must carry; the reverse id is the next one, as for the other pairs.
        (Leads, Contacts) => 578,
        (Contacts, Leads) => 579,
        _ => return None,
    })
}

/// The "Primary" association type id, for the pairs that have one.
pub fn primary_association_type_id(from: ObjectType, to: ObjectType) -> Option<u32> {
    use ObjectType::{Companies, Contacts, Deals};
    match (from, to) {
        (Contacts, Companies) => Some(1),
        (Companies, Contacts) => Some(2),
        (Deals, Companies) => Some(5),
        (Companies, Deals) => Some(6),
        _ => None,
    }
}

/// Finds which pair an association type id (unlabeled or primary) belongs to, from `from`.
pub fn association_target(from: ObjectType, type_id: u32) -> Option<ObjectType> {
    ObjectType::ALL.into_iter().find(|&to| {
        association_type_id(from, to) == Some(type_id)
            || primary_association_type_id(from, to) == Some(type_id)
    })
}
