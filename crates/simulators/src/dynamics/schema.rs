//! The tables the simulator serves and their columns, as Dataverse's metadata describes them.
//!
//! Each [`Entity`] holds its logical name (`contact`), entity set name (`contacts`), primary id
//! and name columns and its [`Attribute`]s. An attribute is named by its metadata logical name
//! (`parentcustomerid`); lookups appear in records under `_parentcustomerid_value`
//! ([`Attribute::data_name`]). Option sets carry their values and English labels; custom
//! attributes use the `new_` publisher prefix. Only what the simulator needs is modelled:
//! no relationships metadata, no alternate keys, no calculated columns besides `fullname`.

/// The `AttributeType` of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttrType {
    Uniqueidentifier,
    String,
    Memo,
    Integer,
    Decimal,
    Double,
    Money,
    Boolean,
    DateTime,
    /// A `DateTime` column with the DateOnly format: values are `YYYY-MM-DD`.
    DateOnly,
    Picklist,
    State,
    Status,
    Lookup,
    Customer,
    Owner,
    EntityName,
}

impl AttrType {
    /// Parses an `AttributeType` name as `add_custom_attribute` receives it.
    pub(crate) fn parse(name: &str) -> Option<AttrType> {
        Some(match name.to_ascii_lowercase().as_str() {
            "string" => AttrType::String,
            "memo" => AttrType::Memo,
            "integer" | "int" => AttrType::Integer,
            "decimal" => AttrType::Decimal,
            "double" => AttrType::Double,
            "money" => AttrType::Money,
            "boolean" | "bool" => AttrType::Boolean,
            "datetime" => AttrType::DateTime,
            "dateonly" | "date" => AttrType::DateOnly,
            "picklist" => AttrType::Picklist,
            _ => return None,
        })
    }

    /// The `AttributeType` value of the metadata.
    pub(crate) fn name(self) -> &'static str {
        match self {
            AttrType::Uniqueidentifier => "Uniqueidentifier",
            AttrType::String => "String",
            AttrType::Memo => "Memo",
            AttrType::Integer => "Integer",
            AttrType::Decimal => "Decimal",
            AttrType::Double => "Double",
            AttrType::Money => "Money",
            AttrType::Boolean => "Boolean",
            AttrType::DateTime | AttrType::DateOnly => "DateTime",
            AttrType::Picklist => "Picklist",
            AttrType::State => "State",
            AttrType::Status => "Status",
            AttrType::Lookup => "Lookup",
            AttrType::Customer => "Customer",
            AttrType::Owner => "Owner",
            AttrType::EntityName => "EntityName",
        }
    }

    /// The `@odata.type` of the attribute's metadata entry.
    pub(crate) fn metadata_type(self) -> &'static str {
        match self {
            AttrType::Uniqueidentifier => "UniqueIdentifierAttributeMetadata",
            AttrType::String => "StringAttributeMetadata",
            AttrType::Memo => "MemoAttributeMetadata",
            AttrType::Integer => "IntegerAttributeMetadata",
            AttrType::Decimal => "DecimalAttributeMetadata",
            AttrType::Double => "DoubleAttributeMetadata",
            AttrType::Money => "MoneyAttributeMetadata",
            AttrType::Boolean => "BooleanAttributeMetadata",
            AttrType::DateTime | AttrType::DateOnly => "DateTimeAttributeMetadata",
            AttrType::Picklist => "PicklistAttributeMetadata",
            AttrType::State => "StateAttributeMetadata",
            AttrType::Status => "StatusAttributeMetadata",
            AttrType::Lookup | AttrType::Customer | AttrType::Owner => "LookupAttributeMetadata",
            AttrType::EntityName => "EntityNameAttributeMetadata",
        }
    }

    /// The EDM type of the column in `$metadata` and in error messages.
    pub(crate) fn edm(self) -> &'static str {
        match self {
            AttrType::Uniqueidentifier
            | AttrType::Lookup
            | AttrType::Customer
            | AttrType::Owner => "Edm.Guid",
            AttrType::String | AttrType::Memo | AttrType::EntityName => "Edm.String",
            AttrType::Integer | AttrType::Picklist | AttrType::State | AttrType::Status => {
                "Edm.Int32"
            }
            AttrType::Decimal | AttrType::Money => "Edm.Decimal",
            AttrType::Double => "Edm.Double",
            AttrType::Boolean => "Edm.Boolean",
            AttrType::DateTime => "Edm.DateTimeOffset",
            AttrType::DateOnly => "Edm.Date",
        }
    }

    pub(crate) fn is_lookup(self) -> bool {
        matches!(
            self,
            AttrType::Lookup | AttrType::Customer | AttrType::Owner
        )
    }

    pub(crate) fn is_option_set(self) -> bool {
        matches!(
            self,
            AttrType::Picklist | AttrType::State | AttrType::Status
        )
    }

    pub(crate) fn is_text(self) -> bool {
        matches!(
            self,
            AttrType::String | AttrType::Memo | AttrType::EntityName
        )
    }

    pub(crate) fn is_number(self) -> bool {
        matches!(
            self,
            AttrType::Integer
                | AttrType::Decimal
                | AttrType::Double
                | AttrType::Money
                | AttrType::Picklist
                | AttrType::State
                | AttrType::Status
        )
    }

    pub(crate) fn is_integer(self) -> bool {
        matches!(
            self,
            AttrType::Integer | AttrType::Picklist | AttrType::State | AttrType::Status
        )
    }
}

/// One column of a table.
#[derive(Debug, Clone)]
pub(crate) struct Attribute {
    pub logical_name: String,
    pub attr_type: AttrType,
    pub display_name: String,
    pub custom: bool,
    /// `None`, `ApplicationRequired` or `SystemRequired` (not enforced on write, as in
    /// Dataverse for `ApplicationRequired`).
    pub required: &'static str,
    pub valid_for_create: bool,
    pub valid_for_update: bool,
    /// Option set values and labels; for booleans `(0, false label)` and `(1, true label)`.
    pub options: Vec<(i64, String)>,
    /// Lookup targets, by entity logical name.
    pub targets: Vec<&'static str>,
    /// Maximum length of text columns (0: none).
    pub max_length: usize,
    /// The least and greatest value of an integer column (`MinValue`, `MaxValue` of its
    /// `IntegerAttributeMetadata`: an Int32 range, the whole of it unless the column says less).
    pub range: Option<(i64, i64)>,
}

impl Attribute {
    fn new(logical_name: &str, attr_type: AttrType, display_name: &str) -> Attribute {
        let writable = !matches!(attr_type, AttrType::EntityName);
        Attribute {
            logical_name: logical_name.to_owned(),
            attr_type,
            display_name: display_name.to_owned(),
            custom: logical_name.starts_with("new_"),
            required: "None",
            valid_for_create: writable,
            valid_for_update: writable && attr_type != AttrType::Uniqueidentifier,
            options: Vec::new(),
            targets: Vec::new(),
            max_length: match attr_type {
                AttrType::String => 200,
                AttrType::Memo => 100_000,
                _ => 0,
            },
            range: (attr_type == AttrType::Integer)
                .then_some((i64::from(i32::MIN), i64::from(i32::MAX))),
        }
    }

    /// An attribute added at run time through the handle.
    pub(crate) fn custom(logical_name: &str, attr_type: AttrType) -> Attribute {
        let mut attribute = Attribute::new(logical_name, attr_type, logical_name);
        attribute.custom = true;
        if attr_type == AttrType::Boolean {
            attribute.options = vec![(0, "No".to_owned()), (1, "Yes".to_owned())];
        }
        attribute
    }

    fn read_only(mut self) -> Attribute {
        self.valid_for_create = false;
        self.valid_for_update = false;
        self
    }

    fn required(mut self, level: &'static str) -> Attribute {
        self.required = level;
        self
    }

    fn options(mut self, options: &[(i64, &str)]) -> Attribute {
        self.options = options
            .iter()
            .map(|(value, label)| (*value, (*label).to_owned()))
            .collect();
        self
    }

    /// An integer column's own `MinValue` and `MaxValue`.
    fn range(mut self, min: i64, max: i64) -> Attribute {
        self.range = Some((min, max));
        self
    }

    fn targets(mut self, targets: &[&'static str]) -> Attribute {
        self.targets = targets.to_vec();
        self
    }

    /// The name the column has in records and queries: `_x_value` for lookups.
    pub(crate) fn data_name(&self) -> String {
        if self.attr_type.is_lookup() {
            format!("_{}_value", self.logical_name)
        } else {
            self.logical_name.clone()
        }
    }

    /// The label of an option set (or boolean) value.
    pub(crate) fn label(&self, value: i64) -> Option<&str> {
        self.options
            .iter()
            .find(|(option, _)| *option == value)
            .map(|(_, label)| label.as_str())
    }
}

/// One table.
#[derive(Debug, Clone)]
pub(crate) struct Entity {
    pub logical_name: &'static str,
    pub entity_set: &'static str,
    pub display_name: &'static str,
    pub primary_id: &'static str,
    pub primary_name: &'static str,
    pub object_type_code: i64,
    pub is_activity: bool,
    pub attributes: Vec<Attribute>,
}

impl Entity {
    /// The attribute whose record or query name is `data_name`.
    pub(crate) fn by_data_name(&self, data_name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|attribute| attribute.data_name() == data_name)
    }

    /// The attribute with this metadata logical name.
    pub(crate) fn by_logical_name(&self, logical_name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|attribute| attribute.logical_name == logical_name)
    }
}

/// The fixed id of the organisation's base currency (US Dollar).
pub(crate) const CURRENCY_ID: &str = "2b1f7a49-2a35-f011-8c4d-000d3a5a8b1e";
/// Its name, shown as the formatted value of `_transactioncurrencyid_value`.
pub(crate) const CURRENCY_NAME: &str = "US Dollar";

pub(crate) const LEAD_SOURCES: &[(i64, &str)] = &[
    (1, "Advertisement"),
    (2, "Employee Referral"),
    (3, "External Referral"),
    (4, "Partner"),
    (5, "Public Relations"),
    (6, "Seminar"),
    (7, "Trade Show"),
    (8, "Web"),
    (9, "Word of Mouth"),
    (10, "Other"),
];

pub(crate) const LOYALTY_TIERS: &[(i64, &str)] = &[
    (100_000_000, "Bronze"),
    (100_000_001, "Silver"),
    (100_000_002, "Gold"),
];

pub(crate) const SEGMENTS: &[(i64, &str)] = &[
    (100_000_000, "SMB"),
    (100_000_001, "Mid-Market"),
    (100_000_002, "Enterprise"),
];

pub(crate) const INDUSTRIES: &[(i64, &str)] = &[
    (1, "Accounting"),
    (2, "Agriculture and Non-petrol Natural Resource Extraction"),
    (3, "Broadcasting Printing and Publishing"),
    (4, "Brokers"),
    (6, "Business Services"),
    (7, "Consulting"),
    (8, "Consumer Services"),
    (12, "Financial"),
    (19, "Inbound Capital Goods"),
    (23, "Retail"),
    (33, "Transportation"),
];

/// Opportunity sales stages.
pub(crate) const SALES_STAGES: &[(i64, &str)] =
    &[(0, "Qualify"), (1, "Develop"), (2, "Propose"), (3, "Close")];

const PRIORITIES: &[(i64, &str)] = &[(0, "Low"), (1, "Normal"), (2, "High")];

fn common(attributes: &mut Vec<Attribute>, owned: bool) {
    attributes.push(Attribute::new("createdon", AttrType::DateTime, "Created On").read_only());
    attributes.push(Attribute::new("modifiedon", AttrType::DateTime, "Modified On").read_only());
    if owned {
        attributes.push(
            Attribute::new("ownerid", AttrType::Owner, "Owner")
                .targets(&["systemuser"])
                .required("SystemRequired"),
        );
    }
}

fn address(attributes: &mut Vec<Attribute>) {
    for (name, display) in [
        ("address1_line1", "Address 1: Street 1"),
        ("address1_city", "Address 1: City"),
        ("address1_stateorprovince", "Address 1: State/Province"),
        ("address1_postalcode", "Address 1: ZIP/Postal Code"),
        ("address1_country", "Address 1: Country/Region"),
    ] {
        attributes.push(Attribute::new(name, AttrType::String, display));
    }
}

fn contact() -> Entity {
    let mut attributes = vec![
        Attribute::new("contactid", AttrType::Uniqueidentifier, "Contact"),
        Attribute::new("firstname", AttrType::String, "First Name"),
        Attribute::new("lastname", AttrType::String, "Last Name").required("ApplicationRequired"),
        Attribute::new("fullname", AttrType::String, "Full Name").read_only(),
        Attribute::new("emailaddress1", AttrType::String, "Email"),
        Attribute::new("telephone1", AttrType::String, "Business Phone"),
        Attribute::new("mobilephone", AttrType::String, "Mobile Phone"),
        Attribute::new("jobtitle", AttrType::String, "Job Title"),
        Attribute::new("department", AttrType::String, "Department"),
        Attribute::new("description", AttrType::Memo, "Description"),
        Attribute::new("parentcustomerid", AttrType::Customer, "Company Name")
            .targets(&["account", "contact"]),
    ];
    address(&mut attributes);
    attributes.extend([
        Attribute::new("leadsourcecode", AttrType::Picklist, "Lead Source").options(LEAD_SOURCES),
        Attribute::new("statecode", AttrType::State, "Status")
            .options(&[(0, "Active"), (1, "Inactive")]),
        Attribute::new("statuscode", AttrType::Status, "Status Reason")
            .options(&[(1, "Active"), (2, "Inactive")]),
        Attribute::new("new_loyaltytier", AttrType::Picklist, "Loyalty Tier")
            .options(LOYALTY_TIERS),
        Attribute::new("new_npsscore", AttrType::Decimal, "NPS Score"),
    ]);
    common(&mut attributes, true);
    Entity {
        logical_name: "contact",
        entity_set: "contacts",
        display_name: "Contact",
        primary_id: "contactid",
        primary_name: "fullname",
        object_type_code: 2,
        is_activity: false,
        attributes,
    }
}

fn account() -> Entity {
    let mut attributes = vec![
        Attribute::new("accountid", AttrType::Uniqueidentifier, "Account"),
        Attribute::new("name", AttrType::String, "Account Name").required("ApplicationRequired"),
        Attribute::new("websiteurl", AttrType::String, "Website"),
        Attribute::new("telephone1", AttrType::String, "Main Phone"),
        // The account table's column takes 0 to 1,000,000,000 (its MinValue and MaxValue).
        Attribute::new(
            "numberofemployees",
            AttrType::Integer,
            "Number of Employees",
        )
        .range(0, 1_000_000_000),
        Attribute::new("revenue", AttrType::Money, "Annual Revenue"),
        Attribute::new("transactioncurrencyid", AttrType::Lookup, "Currency")
            .targets(&["transactioncurrency"]),
        Attribute::new("industrycode", AttrType::Picklist, "Industry").options(INDUSTRIES),
        Attribute::new("description", AttrType::Memo, "Description"),
        Attribute::new("parentaccountid", AttrType::Lookup, "Parent Account").targets(&["account"]),
    ];
    address(&mut attributes);
    attributes.extend([
        Attribute::new("statecode", AttrType::State, "Status")
            .options(&[(0, "Active"), (1, "Inactive")]),
        Attribute::new("statuscode", AttrType::Status, "Status Reason")
            .options(&[(1, "Active"), (2, "Inactive")]),
        Attribute::new("new_segment", AttrType::Picklist, "Segment").options(SEGMENTS),
    ]);
    common(&mut attributes, true);
    Entity {
        logical_name: "account",
        entity_set: "accounts",
        display_name: "Account",
        primary_id: "accountid",
        primary_name: "name",
        object_type_code: 1,
        is_activity: false,
        attributes,
    }
}

fn opportunity() -> Entity {
    let mut attributes = vec![
        Attribute::new("opportunityid", AttrType::Uniqueidentifier, "Opportunity"),
        Attribute::new("name", AttrType::String, "Topic").required("ApplicationRequired"),
        Attribute::new("estimatedvalue", AttrType::Money, "Est. Revenue"),
        Attribute::new("transactioncurrencyid", AttrType::Lookup, "Currency")
            .targets(&["transactioncurrency"]),
        Attribute::new("estimatedclosedate", AttrType::DateOnly, "Est. Close Date"),
        Attribute::new("closeprobability", AttrType::Integer, "Probability").range(0, 100),
        Attribute::new("salesstage", AttrType::Picklist, "Sales Stage").options(SALES_STAGES),
        Attribute::new("stepname", AttrType::String, "Pipeline Phase"),
        Attribute::new("description", AttrType::Memo, "Description"),
        Attribute::new("parentaccountid", AttrType::Lookup, "Account").targets(&["account"]),
        Attribute::new("parentcontactid", AttrType::Lookup, "Contact").targets(&["contact"]),
        Attribute::new("statecode", AttrType::State, "Status").options(&[
            (0, "Open"),
            (1, "Won"),
            (2, "Lost"),
        ]),
        Attribute::new("statuscode", AttrType::Status, "Status Reason").options(&[
            (1, "In Progress"),
            (2, "On Hold"),
            (3, "Won"),
            (4, "Canceled"),
            (5, "Out-Sold"),
        ]),
    ];
    common(&mut attributes, true);
    Entity {
        logical_name: "opportunity",
        entity_set: "opportunities",
        display_name: "Opportunity",
        primary_id: "opportunityid",
        primary_name: "name",
        object_type_code: 3,
        is_activity: false,
        attributes,
    }
}

fn lead() -> Entity {
    let mut attributes = vec![
        Attribute::new("leadid", AttrType::Uniqueidentifier, "Lead"),
        Attribute::new("firstname", AttrType::String, "First Name"),
        Attribute::new("lastname", AttrType::String, "Last Name").required("ApplicationRequired"),
        Attribute::new("fullname", AttrType::String, "Name").read_only(),
        Attribute::new("companyname", AttrType::String, "Company Name"),
        Attribute::new("emailaddress1", AttrType::String, "Email"),
        Attribute::new("telephone1", AttrType::String, "Business Phone"),
        Attribute::new("jobtitle", AttrType::String, "Job Title"),
        Attribute::new("description", AttrType::Memo, "Description"),
        Attribute::new("leadsourcecode", AttrType::Picklist, "Lead Source").options(LEAD_SOURCES),
        Attribute::new("statecode", AttrType::State, "Status").options(&[
            (0, "Open"),
            (1, "Qualified"),
            (2, "Disqualified"),
        ]),
        Attribute::new("statuscode", AttrType::Status, "Status Reason").options(&[
            (1, "New"),
            (2, "Contacted"),
            (3, "Qualified"),
            (4, "Lost"),
            (5, "Cannot Contact"),
            (6, "No Longer Interested"),
            (7, "Canceled"),
        ]),
    ];
    common(&mut attributes, true);
    Entity {
        logical_name: "lead",
        entity_set: "leads",
        display_name: "Lead",
        primary_id: "leadid",
        primary_name: "fullname",
        object_type_code: 4,
        is_activity: false,
        attributes,
    }
}

fn annotation() -> Entity {
    let mut attributes = vec![
        Attribute::new("annotationid", AttrType::Uniqueidentifier, "Note"),
        Attribute::new("subject", AttrType::String, "Title"),
        Attribute::new("notetext", AttrType::Memo, "Description"),
        Attribute::new("objectid", AttrType::Lookup, "Regarding").targets(&[
            "account",
            "contact",
            "lead",
            "opportunity",
        ]),
        Attribute::new("objecttypecode", AttrType::EntityName, "Object Type"),
    ];
    common(&mut attributes, true);
    Entity {
        logical_name: "annotation",
        entity_set: "annotations",
        display_name: "Note",
        primary_id: "annotationid",
        primary_name: "subject",
        object_type_code: 5,
        is_activity: false,
        attributes,
    }
}

/// States and status reasons of one activity table.
struct ActivityKind {
    logical_name: &'static str,
    entity_set: &'static str,
    display_name: &'static str,
    object_type_code: i64,
    states: &'static [(i64, &'static str)],
    statuses: &'static [(i64, &'static str)],
}

/// Activity states shared by tasks, phone calls and emails; appointments add `Scheduled`.
const ACTIVITY_STATES: &[(i64, &str)] = &[(0, "Open"), (1, "Completed"), (2, "Canceled")];

fn activity(kind: &ActivityKind) -> Entity {
    let mut attributes = vec![
        Attribute::new("activityid", AttrType::Uniqueidentifier, kind.display_name),
        Attribute::new("subject", AttrType::String, "Subject").required("ApplicationRequired"),
        Attribute::new("description", AttrType::Memo, "Description"),
        Attribute::new("scheduledstart", AttrType::DateTime, "Start Date"),
        Attribute::new("scheduledend", AttrType::DateTime, "Due Date"),
        Attribute::new("actualend", AttrType::DateTime, "Actual End"),
        Attribute::new("prioritycode", AttrType::Picklist, "Priority").options(PRIORITIES),
        Attribute::new("regardingobjectid", AttrType::Lookup, "Regarding").targets(&[
            "account",
            "contact",
            "lead",
            "opportunity",
        ]),
        Attribute::new("statecode", AttrType::State, "Activity Status").options(kind.states),
        Attribute::new("statuscode", AttrType::Status, "Status Reason").options(kind.statuses),
    ];
    match kind.logical_name {
        "phonecall" => {
            attributes.push(
                Attribute::new("directioncode", AttrType::Boolean, "Direction")
                    .options(&[(0, "Incoming"), (1, "Outgoing")]),
            );
            attributes.push(Attribute::new(
                "phonenumber",
                AttrType::String,
                "Phone Number",
            ));
        }
        "email" => attributes.push(
            Attribute::new("directioncode", AttrType::Boolean, "Direction")
                .options(&[(0, "Incoming"), (1, "Outgoing")]),
        ),
        "appointment" => attributes.push(Attribute::new("location", AttrType::String, "Location")),
        _ => {}
    }
    common(&mut attributes, true);
    Entity {
        logical_name: kind.logical_name,
        entity_set: kind.entity_set,
        display_name: kind.display_name,
        primary_id: "activityid",
        primary_name: "subject",
        object_type_code: kind.object_type_code,
        is_activity: true,
        attributes,
    }
}

fn systemuser() -> Entity {
    let mut attributes = vec![
        Attribute::new("systemuserid", AttrType::Uniqueidentifier, "User"),
        Attribute::new("fullname", AttrType::String, "Full Name").read_only(),
        Attribute::new("firstname", AttrType::String, "First Name"),
        Attribute::new("lastname", AttrType::String, "Last Name"),
        Attribute::new("internalemailaddress", AttrType::String, "Primary Email"),
        Attribute::new("title", AttrType::String, "Title"),
        Attribute::new("isdisabled", AttrType::Boolean, "Status")
            .options(&[(0, "Enabled"), (1, "Disabled")])
            .read_only(),
    ];
    common(&mut attributes, false);
    Entity {
        logical_name: "systemuser",
        entity_set: "systemusers",
        display_name: "User",
        primary_id: "systemuserid",
        primary_name: "fullname",
        object_type_code: 8,
        is_activity: false,
        attributes,
    }
}

/// Every served table, in the order `$metadata` lists them.
pub(crate) fn entities() -> Vec<Entity> {
    vec![
        systemuser(),
        account(),
        contact(),
        lead(),
        opportunity(),
        activity(&ActivityKind {
            logical_name: "task",
            entity_set: "tasks",
            display_name: "Task",
            object_type_code: 4212,
            states: ACTIVITY_STATES,
            statuses: &[
                (2, "Not Started"),
                (3, "In Progress"),
                (5, "Completed"),
                (6, "Canceled"),
            ],
        }),
        activity(&ActivityKind {
            logical_name: "phonecall",
            entity_set: "phonecalls",
            display_name: "Phone Call",
            object_type_code: 4210,
            states: ACTIVITY_STATES,
            statuses: &[(1, "Open"), (2, "Made"), (3, "Canceled"), (4, "Received")],
        }),
        activity(&ActivityKind {
            logical_name: "appointment",
            entity_set: "appointments",
            display_name: "Appointment",
            object_type_code: 4201,
            states: &[
                (0, "Open"),
                (1, "Completed"),
                (2, "Canceled"),
                (3, "Scheduled"),
            ],
            statuses: &[
                (1, "Free"),
                (2, "Tentative"),
                (3, "Completed"),
                (4, "Canceled"),
                (5, "Busy"),
            ],
        }),
        activity(&ActivityKind {
            logical_name: "email",
            entity_set: "emails",
            display_name: "Email",
            object_type_code: 4202,
            states: ACTIVITY_STATES,
            statuses: &[
                (1, "Draft"),
                (2, "Completed"),
                (3, "Sent"),
                (4, "Received"),
                (5, "Canceled"),
            ],
        }),
        annotation(),
    ]
}
