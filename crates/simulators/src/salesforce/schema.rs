//! The sObjects the simulator knows: their fields as describe reports them, and describe output.
//!
//! Each [`ObjectSchema`] lists its fields in describe order; record values are stored in that
//! order (see `store.rs`). Custom fields added at runtime are appended. Picklists are not
//! restricted: any value is accepted on write, as with Salesforce's unrestricted picklists.

use std::collections::HashMap;

use serde_json::{Value, json};

/// The describe `type` of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    Id,
    Reference,
    String,
    TextArea,
    Email,
    Phone,
    Url,
    Picklist,
    Boolean,
    Int,
    Double,
    Currency,
    Percent,
    Date,
    DateTime,
}

/// How values of a field type compare and convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// Compared case-insensitively.
    Text,
    /// Compared case-sensitively.
    Id,
    Number,
    Boolean,
    Date,
    DateTime,
}

impl FieldType {
    pub(crate) fn parse(name: &str) -> Option<FieldType> {
        Some(match name.to_ascii_lowercase().as_str() {
            "id" => FieldType::Id,
            "reference" => FieldType::Reference,
            "string" | "encryptedstring" | "combobox" | "multipicklist" => FieldType::String,
            "textarea" => FieldType::TextArea,
            "email" => FieldType::Email,
            "phone" => FieldType::Phone,
            "url" => FieldType::Url,
            "picklist" => FieldType::Picklist,
            "boolean" => FieldType::Boolean,
            "int" | "long" => FieldType::Int,
            "double" => FieldType::Double,
            "currency" => FieldType::Currency,
            "percent" => FieldType::Percent,
            "date" => FieldType::Date,
            "datetime" => FieldType::DateTime,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FieldType::Id => "id",
            FieldType::Reference => "reference",
            FieldType::String => "string",
            FieldType::TextArea => "textarea",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::Url => "url",
            FieldType::Picklist => "picklist",
            FieldType::Boolean => "boolean",
            FieldType::Int => "int",
            FieldType::Double => "double",
            FieldType::Currency => "currency",
            FieldType::Percent => "percent",
            FieldType::Date => "date",
            FieldType::DateTime => "datetime",
        }
    }

    /// The name SOQL error messages use for the type ("must be of type dateTime").
    pub(crate) fn soql_name(self) -> &'static str {
        match self {
            FieldType::Id | FieldType::Reference => "id",
            FieldType::Boolean => "boolean",
            FieldType::Int => "integer",
            FieldType::Double | FieldType::Currency | FieldType::Percent => "double",
            FieldType::Date => "date",
            FieldType::DateTime => "dateTime",
            _ => "string",
        }
    }

    fn soap_type(self) -> &'static str {
        match self {
            FieldType::Id | FieldType::Reference => "tns:ID",
            FieldType::Boolean => "xsd:boolean",
            FieldType::Int => "xsd:int",
            FieldType::Double | FieldType::Currency | FieldType::Percent => "xsd:double",
            FieldType::Date => "xsd:date",
            FieldType::DateTime => "xsd:dateTime",
            _ => "xsd:string",
        }
    }

    pub(crate) fn kind(self) -> ValueKind {
        match self {
            FieldType::Id | FieldType::Reference => ValueKind::Id,
            FieldType::Boolean => ValueKind::Boolean,
            FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent => {
                ValueKind::Number
            }
            FieldType::Date => ValueKind::Date,
            FieldType::DateTime => ValueKind::DateTime,
            _ => ValueKind::Text,
        }
    }

    fn default_length(self) -> u32 {
        match self {
            FieldType::Id | FieldType::Reference => 18,
            FieldType::TextArea => 32_000,
            FieldType::Email => 80,
            FieldType::Phone => 40,
            FieldType::Url | FieldType::Picklist | FieldType::String => 255,
            _ => 0,
        }
    }
}

/// One field as describe reports it.
#[derive(Debug, Clone)]
pub(crate) struct FieldDef {
    pub name: String,
    pub label: String,
    pub field_type: FieldType,
    pub custom: bool,
    pub nillable: bool,
    pub createable: bool,
    pub updateable: bool,
    pub defaulted_on_create: bool,
    pub length: u32,
    pub picklist: Vec<String>,
    pub default_picklist: Option<String>,
    pub reference_to: Vec<String>,
    pub relationship_name: Option<String>,
    pub calculated: bool,
    pub formula: Option<String>,
    pub precision: u32,
    pub scale: u32,
    /// Digits a whole-number (`int`) field holds (describe's `digits`).
    pub int_digits: u32,
    pub name_field: bool,
}

impl FieldDef {
    fn new(name: &str, label: &str, field_type: FieldType) -> FieldDef {
        let (precision, scale) = match field_type {
            FieldType::Currency | FieldType::Double => (18, 2),
            FieldType::Percent => (3, 0),
            _ => (0, 0),
        };
        FieldDef {
            name: name.to_owned(),
            label: label.to_owned(),
            field_type,
            custom: name.ends_with("__c"),
            nillable: field_type != FieldType::Boolean,
            createable: true,
            updateable: true,
            defaulted_on_create: field_type == FieldType::Boolean,
            length: field_type.default_length(),
            picklist: Vec::new(),
            default_picklist: None,
            reference_to: Vec::new(),
            relationship_name: None,
            calculated: false,
            formula: None,
            precision,
            scale,
            int_digits: if field_type == FieldType::Int { 9 } else { 0 },
            name_field: false,
        }
    }

    /// Whether a create must carry the field (describe: createable, not nillable, not defaulted).
    pub(crate) fn required(&self) -> bool {
        self.createable && !self.nillable && !self.defaulted_on_create
    }

    fn required_field(mut self) -> FieldDef {
        self.nillable = false;
        self
    }

    fn read_only(mut self) -> FieldDef {
        self.createable = false;
        self.updateable = false;
        self
    }

    /// Digits in all and after the point (describe's `precision` and `scale`).
    fn digits(mut self, precision: u32, scale: u32) -> FieldDef {
        self.precision = precision;
        self.scale = scale;
        self
    }

    /// Digits a whole-number field holds (describe's `digits`; 9 unless said).
    fn int_digits(mut self, digits: u32) -> FieldDef {
        self.int_digits = digits;
        self
    }

    fn len(mut self, length: u32) -> FieldDef {
        self.length = length;
        self
    }

    fn picklist(mut self, values: &[&str]) -> FieldDef {
        self.picklist = values.iter().map(|v| (*v).to_owned()).collect();
        self
    }

    fn default_value(mut self, value: &str) -> FieldDef {
        self.default_picklist = Some(value.to_owned());
        self.defaulted_on_create = true;
        self
    }

    fn refs(mut self, targets: &[&str], relationship: &str) -> FieldDef {
        self.reference_to = targets.iter().map(|v| (*v).to_owned()).collect();
        self.relationship_name = Some(relationship.to_owned());
        self
    }

    fn name_field(mut self) -> FieldDef {
        self.name_field = true;
        self
    }

    /// Builds a field from a describe-shaped JSON object (for fields added at runtime).
    pub(crate) fn from_describe(value: &Value) -> Option<FieldDef> {
        let name = value.get("name")?.as_str()?;
        let field_type = value
            .get("type")
            .and_then(Value::as_str)
            .and_then(FieldType::parse)
            .unwrap_or(FieldType::String);
        let label = value.get("label").and_then(Value::as_str).unwrap_or(name);
        let mut field = FieldDef::new(name, label, field_type);
        let flag =
            |key: &str, default: bool| value.get(key).and_then(Value::as_bool).unwrap_or(default);
        field.custom = flag("custom", name.ends_with("__c"));
        field.nillable = flag("nillable", field.nillable);
        field.calculated = flag("calculated", false);
        field.createable = flag("createable", !field.calculated);
        field.updateable = flag("updateable", !field.calculated);
        field.defaulted_on_create = flag("defaultedOnCreate", field.defaulted_on_create);
        if let Some(length) = value.get("length").and_then(Value::as_u64) {
            field.length = u32::try_from(length).unwrap_or(u32::MAX);
        }
        if let Some(values) = value.get("picklistValues").and_then(Value::as_array) {
            for entry in values {
                if let Some(v) = entry.get("value").and_then(Value::as_str) {
                    field.picklist.push(v.to_owned());
                    if entry.get("defaultValue").and_then(Value::as_bool) == Some(true) {
                        field.default_picklist = Some(v.to_owned());
                    }
                }
            }
        }
        if let Some(targets) = value.get("referenceTo").and_then(Value::as_array) {
            field.reference_to = targets
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect();
        }
        field.relationship_name = value
            .get("relationshipName")
            .and_then(Value::as_str)
            .map(str::to_owned);
        field.formula = value
            .get("calculatedFormula")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Some(field)
    }

    /// The field's entry in describe `fields[]`.
    pub(crate) fn describe(&self) -> Value {
        let text_like = self.field_type.kind() == ValueKind::Text;
        let picklist: Vec<Value> = self
            .picklist
            .iter()
            .map(|v| {
                json!({
                    "active": true,
                    "defaultValue": self.default_picklist.as_deref() == Some(v.as_str()),
                    "label": v,
                    "validFor": null,
                    "value": v,
                })
            })
            .collect();
        let byte_length = if text_like || self.field_type.kind() == ValueKind::Id {
            self.length * 3
        } else {
            0
        };
        let entries: Vec<(&str, Value)> = vec![
            (
                "aggregatable",
                json!(self.field_type != FieldType::TextArea),
            ),
            ("autoNumber", json!(false)),
            ("byteLength", json!(byte_length)),
            ("calculated", json!(self.calculated)),
            ("calculatedFormula", json!(self.formula)),
            ("cascadeDelete", json!(false)),
            ("caseSensitive", json!(false)),
            ("compoundFieldName", json!(null)),
            ("controllerName", json!(null)),
            ("createable", json!(self.createable)),
            ("custom", json!(self.custom)),
            ("defaultValue", json!(self.default_picklist)),
            ("defaultValueFormula", json!(null)),
            ("defaultedOnCreate", json!(self.defaulted_on_create)),
            ("dependentPicklist", json!(false)),
            ("deprecatedAndHidden", json!(false)),
            ("digits", json!(self.int_digits)),
            ("displayLocationInDecimal", json!(false)),
            ("encrypted", json!(false)),
            ("externalId", json!(false)),
            ("extraTypeInfo", json!(null)),
            ("filterable", json!(self.field_type != FieldType::TextArea)),
            ("filteredLookupInfo", json!(null)),
            (
                "groupable",
                json!(!matches!(
                    self.field_type,
                    FieldType::TextArea
                        | FieldType::Double
                        | FieldType::Currency
                        | FieldType::Percent
                        | FieldType::DateTime
                )),
            ),
            ("highScaleNumber", json!(false)),
            ("htmlFormatted", json!(false)),
            (
                "idLookup",
                json!(self.field_type == FieldType::Id || self.field_type == FieldType::Email),
            ),
            ("inlineHelpText", json!(null)),
            ("label", json!(self.label)),
            ("length", json!(self.length)),
            ("mask", json!(null)),
            ("maskType", json!(null)),
            ("name", json!(self.name)),
            ("nameField", json!(self.name_field)),
            ("namePointing", json!(self.reference_to.len() > 1)),
            ("nillable", json!(self.nillable)),
            (
                "permissionable",
                json!(self.custom || (self.nillable && self.updateable)),
            ),
            ("picklistValues", json!(picklist)),
            ("polymorphicForeignKey", json!(self.reference_to.len() > 1)),
            ("precision", json!(self.precision)),
            ("queryByDistance", json!(false)),
            ("referenceTargetField", json!(null)),
            ("referenceTo", json!(self.reference_to)),
            ("relationshipName", json!(self.relationship_name)),
            ("relationshipOrder", json!(null)),
            ("restrictedDelete", json!(false)),
            ("restrictedPicklist", json!(false)),
            ("scale", json!(self.scale)),
            ("searchPrefilterable", json!(false)),
            ("soapType", json!(self.field_type.soap_type())),
            ("sortable", json!(self.field_type != FieldType::TextArea)),
            ("type", json!(self.field_type.as_str())),
            ("unique", json!(false)),
            ("updateable", json!(self.updateable)),
            ("writeRequiresMasterRead", json!(false)),
        ];
        Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }
}

/// One sObject: its names, key prefix, capabilities and fields.
#[derive(Debug, Clone)]
pub(crate) struct ObjectSchema {
    pub name: &'static str,
    pub label: &'static str,
    pub label_plural: &'static str,
    pub key_prefix: &'static str,
    pub createable: bool,
    pub updateable: bool,
    pub deletable: bool,
    pub fields: Vec<FieldDef>,
    index: HashMap<String, usize>,
}

impl ObjectSchema {
    fn new(
        name: &'static str,
        label: &'static str,
        label_plural: &'static str,
        key_prefix: &'static str,
        fields: Vec<FieldDef>,
    ) -> ObjectSchema {
        let mut schema = ObjectSchema {
            name,
            label,
            label_plural,
            key_prefix,
            createable: true,
            updateable: true,
            deletable: true,
            fields: Vec::new(),
            index: HashMap::new(),
        };
        for field in fields {
            schema.push_field(field);
        }
        schema
    }

    fn read_only(mut self) -> ObjectSchema {
        self.createable = false;
        self.updateable = false;
        self.deletable = false;
        self
    }

    /// Appends a field (or replaces the field of the same name); returns its index.
    pub(crate) fn push_field(&mut self, field: FieldDef) -> usize {
        let key = field.name.to_ascii_lowercase();
        if let Some(&idx) = self.index.get(&key) {
            self.fields[idx] = field;
            return idx;
        }
        self.fields.push(field);
        let idx = self.fields.len() - 1;
        self.index.insert(key, idx);
        idx
    }

    /// Deletes a field: it disappears from describe, queries and writes. Its column stays in
    /// place (rows keep their layout) but nothing can name it any more.
    pub(crate) fn remove_field(&mut self, name: &str) {
        self.index.remove(&name.to_ascii_lowercase());
    }

    /// Whether the field at `idx` still exists (was not removed).
    pub(crate) fn is_live(&self, idx: usize) -> bool {
        self.fields
            .get(idx)
            .is_some_and(|field| self.index.get(&field.name.to_ascii_lowercase()) == Some(&idx))
    }

    /// Index of the field named `name`, case-insensitively.
    pub(crate) fn field_index(&self, name: &str) -> Option<usize> {
        self.index.get(&name.to_ascii_lowercase()).copied()
    }

    /// Index of the field named `name`; panics when a built-in field is missing.
    ///
    /// # Panics
    /// Only on a broken invariant: callers pass names of the built-in fields defined below.
    pub(crate) fn idx(&self, name: &str) -> usize {
        self.field_index(name)
            .unwrap_or_else(|| panic!("built-in field `{name}` missing on `{}`", self.name))
    }

    /// The reference field whose relationship name is `relationship`, case-insensitively.
    pub(crate) fn relationship(&self, relationship: &str) -> Option<usize> {
        self.fields.iter().position(|f| {
            f.relationship_name
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(relationship))
        })
    }

    fn urls(&self, version: &str) -> Value {
        let base = format!("/services/data/{version}/sobjects/{}", self.name);
        json!({
            "compactLayouts": format!("{base}/describe/compactLayouts"),
            "rowTemplate": format!("{base}/{{ID}}"),
            "approvalLayouts": format!("{base}/describe/approvalLayouts"),
            "defaultValues": format!("{base}/defaultValues?recordTypeId&fields"),
            "listviews": format!("{base}/listviews"),
            "describe": format!("{base}/describe"),
            "quickActions": format!("{base}/quickActions"),
            "layouts": format!("{base}/describe/layouts"),
            "sobject": base,
        })
    }

    /// The object's entry in describeGlobal (and `objectDescribe` of the basic-info call).
    pub(crate) fn describe_global_entry(&self, version: &str) -> Value {
        json!({
            "activateable": false,
            "associateEntityType": null,
            "associateParentEntity": null,
            "createable": self.createable,
            "custom": false,
            "customSetting": false,
            "deepCloneable": false,
            "deletable": self.deletable,
            "deprecatedAndHidden": false,
            "feedEnabled": self.createable,
            "hasSubtypes": false,
            "isInterface": false,
            "isSubtype": false,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": true,
            "mergeable": matches!(self.name, "Account" | "Contact" | "Lead"),
            "mruEnabled": true,
            "name": self.name,
            "queryable": true,
            "replicateable": true,
            "retrieveable": true,
            "searchable": self.createable,
            "triggerable": self.createable,
            "undeletable": self.deletable,
            "updateable": self.updateable,
            "urls": self.urls(version),
        })
    }

    /// The full describe of the object.
    pub(crate) fn describe(&self, version: &str) -> Value {
        let mut describe = self.describe_global_entry(version);
        if let Value::Object(map) = &mut describe {
            map.insert("actionOverrides".into(), json!([]));
            map.insert("childRelationships".into(), json!([]));
            map.insert("compactLayoutable".into(), json!(true));
            map.insert("defaultImplementation".into(), Value::Null);
            map.insert("extendedBy".into(), Value::Null);
            map.insert("extendsInterfaces".into(), Value::Null);
            map.insert(
                "fields".into(),
                Value::Array(
                    self.fields
                        .iter()
                        .enumerate()
                        .filter(|(idx, _)| self.is_live(*idx))
                        .map(|(_, field)| field.describe())
                        .collect(),
                ),
            );
            map.insert("implementedBy".into(), Value::Null);
            map.insert("implementsInterfaces".into(), Value::Null);
            map.insert("listviewable".into(), Value::Null);
            map.insert("lookupLayoutable".into(), Value::Null);
            map.insert("namedLayoutInfos".into(), json!([]));
            map.insert("networkScopeFieldName".into(), Value::Null);
            map.insert("recordTypeInfos".into(), json!([]));
            map.insert("searchLayoutable".into(), json!(self.createable));
            map.insert("sobjectDescribeOption".into(), json!("FULL"));
            map.insert(
                "supportedScopes".into(),
                json!([{"label": "All records", "name": "everything"}]),
            );
        }
        describe
    }
}

const LEAD_SOURCES: &[&str] = &[
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
];
pub(crate) const INDUSTRIES: &[&str] = &[
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Finance",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Manufacturing",
    "Media",
    "Retail",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
];
pub(crate) const LEAD_STATUSES: &[&str] = &[
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
];
pub(crate) const TASK_STATUSES: &[&str] = &[
    "Not Started",
    "In Progress",
    "Completed",
    "Waiting on someone else",
    "Deferred",
];

/// One stage of the opportunity pipeline: (label, sort order, default probability, closed, won,
/// forecast category).
pub(crate) const STAGES: &[(&str, u32, u32, bool, bool, &str)] = &[
    ("Prospecting", 1, 10, false, false, "Pipeline"),
    ("Qualification", 2, 10, false, false, "Pipeline"),
    ("Needs Analysis", 3, 20, false, false, "Pipeline"),
    ("Value Proposition", 4, 50, false, false, "Pipeline"),
    ("Id. Decision Makers", 5, 60, false, false, "Pipeline"),
    ("Perception Analysis", 6, 70, false, false, "Pipeline"),
    ("Proposal/Price Quote", 7, 75, false, false, "Pipeline"),
    ("Negotiation/Review", 8, 90, false, false, "Pipeline"),
    ("Closed Won", 9, 100, true, true, "Closed"),
    ("Closed Lost", 10, 0, true, false, "Omitted"),
];

/// `Id`, `IsDeleted` and `OwnerId`, which every owned sObject has.
fn system_fields() -> Vec<FieldDef> {
    let mut owner = FieldDef::new("OwnerId", "Owner ID", FieldType::Reference)
        .refs(&["User"], "Owner")
        .required_field();
    owner.defaulted_on_create = true;
    vec![
        FieldDef::new("Id", "Record ID", FieldType::Id)
            .read_only()
            .required_field(),
        FieldDef::new("IsDeleted", "Deleted", FieldType::Boolean).read_only(),
        owner,
    ]
}

fn timestamps() -> Vec<FieldDef> {
    let mut fields = vec![
        FieldDef::new("CreatedDate", "Created Date", FieldType::DateTime).read_only(),
        FieldDef::new("CreatedById", "Created By ID", FieldType::Reference)
            .refs(&["User"], "CreatedBy")
            .read_only(),
        FieldDef::new(
            "LastModifiedDate",
            "Last Modified Date",
            FieldType::DateTime,
        )
        .read_only(),
        FieldDef::new(
            "LastModifiedById",
            "Last Modified By ID",
            FieldType::Reference,
        )
        .refs(&["User"], "LastModifiedBy")
        .read_only(),
        FieldDef::new("SystemModstamp", "System Modstamp", FieldType::DateTime).read_only(),
    ];
    for field in &mut fields {
        field.nillable = false;
        field.defaulted_on_create = true;
    }
    fields
}

fn s(name: &str, label: &str, length: u32) -> FieldDef {
    FieldDef::new(name, label, FieldType::String).len(length)
}

fn t(name: &str, label: &str, field_type: FieldType) -> FieldDef {
    FieldDef::new(name, label, field_type)
}

fn contact() -> ObjectSchema {
    let mut fields = system_fields();
    fields.extend([
        s("FirstName", "First Name", 40),
        s("LastName", "Last Name", 80).required_field(),
        s("Name", "Full Name", 121).read_only().name_field(),
        t("Salutation", "Salutation", FieldType::Picklist)
            .picklist(&["Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx."]),
        t("Email", "Email", FieldType::Email),
        t("Phone", "Business Phone", FieldType::Phone),
        t("MobilePhone", "Mobile Phone", FieldType::Phone),
        s("Title", "Title", 128),
        s("Department", "Department", 80),
        t("LeadSource", "Lead Source", FieldType::Picklist).picklist(LEAD_SOURCES),
        t("AccountId", "Account ID", FieldType::Reference).refs(&["Account"], "Account"),
        t("MailingStreet", "Mailing Street", FieldType::TextArea).len(255),
        s("MailingCity", "Mailing City", 40),
        s("MailingState", "Mailing State/Province", 80),
        s("MailingPostalCode", "Mailing Zip/Postal Code", 20),
        s("MailingCountry", "Mailing Country", 80),
        t("Description", "Contact Description", FieldType::TextArea),
    ]);
    fields.extend(timestamps());
    fields.extend([
        t("LastActivityDate", "Last Activity", FieldType::Date).read_only(),
        t("Loyalty_Tier__c", "Loyalty Tier", FieldType::Picklist)
            .picklist(&["Bronze", "Silver", "Gold"]),
        t("NPS_Score__c", "NPS Score", FieldType::Double),
        s("Preferred_Language__c", "Preferred Language", 40),
    ]);
    let mut health = t("Health_Score__c", "Health Score", FieldType::Double).read_only();
    health.calculated = true;
    health.formula = Some("NPS_Score__c * 10".into());
    fields.push(health);
    ObjectSchema::new("Contact", "Contact", "Contacts", "003", fields)
}

fn account() -> ObjectSchema {
    let mut fields = system_fields();
    fields.extend([
        s("Name", "Account Name", 255).required_field().name_field(),
        t("Type", "Account Type", FieldType::Picklist).picklist(&[
            "Prospect",
            "Customer - Direct",
            "Customer - Channel",
            "Channel Partner / Reseller",
            "Installation Partner",
            "Technology Partner",
            "Other",
        ]),
        t("Industry", "Industry", FieldType::Picklist).picklist(INDUSTRIES),
        t("Website", "Website", FieldType::Url),
        t("Phone", "Account Phone", FieldType::Phone),
        // As an org's describe states them: Employees holds 8 digits.
        t("NumberOfEmployees", "Employees", FieldType::Int).int_digits(8),
        // Salesforce's standard annual revenue holds whole amounts: Currency(18, 0).
        t("AnnualRevenue", "Annual Revenue", FieldType::Currency).digits(18, 0),
        t("Description", "Account Description", FieldType::TextArea),
        t("BillingStreet", "Billing Street", FieldType::TextArea).len(255),
        s("BillingCity", "Billing City", 40),
        s("BillingState", "Billing State/Province", 80),
        s("BillingPostalCode", "Billing Zip/Postal Code", 20),
        s("BillingCountry", "Billing Country", 80),
        t("ShippingStreet", "Shipping Street", FieldType::TextArea).len(255),
        s("ShippingCity", "Shipping City", 40),
        s("ShippingState", "Shipping State/Province", 80),
        s("ShippingPostalCode", "Shipping Zip/Postal Code", 20),
        s("ShippingCountry", "Shipping Country", 80),
        t("ParentId", "Parent Account ID", FieldType::Reference).refs(&["Account"], "Parent"),
    ]);
    fields.extend(timestamps());
    fields.extend([
        t("LastActivityDate", "Last Activity", FieldType::Date).read_only(),
        t(
            "Customer_Segment__c",
            "Customer Segment",
            FieldType::Picklist,
        )
        .picklist(&["SMB", "Mid-Market", "Enterprise", "Strategic"]),
    ]);
    ObjectSchema::new("Account", "Account", "Accounts", "001", fields)
}

fn opportunity() -> ObjectSchema {
    let stage_names: Vec<&str> = STAGES.iter().map(|s| s.0).collect();
    let mut fields = system_fields();
    fields.extend([
        s("Name", "Name", 120).required_field().name_field(),
        t("AccountId", "Account ID", FieldType::Reference).refs(&["Account"], "Account"),
        t("Amount", "Amount", FieldType::Currency),
        t("StageName", "Stage", FieldType::Picklist)
            .picklist(&stage_names)
            .required_field(),
        t("Probability", "Probability (%)", FieldType::Percent),
        t("CloseDate", "Close Date", FieldType::Date).required_field(),
        t("IsClosed", "Closed", FieldType::Boolean).read_only(),
        t("IsWon", "Won", FieldType::Boolean).read_only(),
        t("Type", "Opportunity Type", FieldType::Picklist).picklist(&[
            "Existing Customer - Upgrade",
            "Existing Customer - Replacement",
            "Existing Customer - Downgrade",
            "New Customer",
        ]),
        t("LeadSource", "Lead Source", FieldType::Picklist).picklist(LEAD_SOURCES),
        t("Description", "Description", FieldType::TextArea),
    ]);
    fields.extend(timestamps());
    fields.extend([
        t("LastActivityDate", "Last Activity", FieldType::Date).read_only(),
        s("Deal_Source_Detail__c", "Deal Source Detail", 255),
    ]);
    ObjectSchema::new("Opportunity", "Opportunity", "Opportunities", "006", fields)
}

fn lead() -> ObjectSchema {
    let mut fields = system_fields();
    fields.extend([
        s("FirstName", "First Name", 40),
        s("LastName", "Last Name", 80).required_field(),
        s("Name", "Full Name", 121).read_only().name_field(),
        s("Company", "Company", 255).required_field(),
        s("Title", "Title", 128),
        t("Email", "Email", FieldType::Email),
        t("Phone", "Phone", FieldType::Phone),
        t("MobilePhone", "Mobile Phone", FieldType::Phone),
        t("Status", "Status", FieldType::Picklist)
            .picklist(LEAD_STATUSES)
            .default_value("Open - Not Contacted")
            .required_field(),
        t("LeadSource", "Lead Source", FieldType::Picklist).picklist(LEAD_SOURCES),
        t("Industry", "Industry", FieldType::Picklist).picklist(INDUSTRIES),
        t("IsConverted", "Converted", FieldType::Boolean).read_only(),
        t("ConvertedDate", "Converted Date", FieldType::Date).read_only(),
        t(
            "ConvertedContactId",
            "Converted Contact ID",
            FieldType::Reference,
        )
        .refs(&["Contact"], "ConvertedContact")
        .read_only(),
        t(
            "ConvertedAccountId",
            "Converted Account ID",
            FieldType::Reference,
        )
        .refs(&["Account"], "ConvertedAccount")
        .read_only(),
        t(
            "ConvertedOpportunityId",
            "Converted Opportunity ID",
            FieldType::Reference,
        )
        .refs(&["Opportunity"], "ConvertedOpportunity")
        .read_only(),
        t("Street", "Street", FieldType::TextArea).len(255),
        s("City", "City", 40),
        s("State", "State/Province", 80),
        s("PostalCode", "Zip/Postal Code", 20),
        s("Country", "Country", 80),
        t("Description", "Description", FieldType::TextArea),
    ]);
    fields.extend(timestamps());
    ObjectSchema::new("Lead", "Lead", "Leads", "00Q", fields)
}

fn task() -> ObjectSchema {
    let mut fields = system_fields();
    fields.extend([
        t("Subject", "Subject", FieldType::Picklist).picklist(&[
            "Call",
            "Send Letter",
            "Send Quote",
            "Other",
        ]),
        t("Description", "Description", FieldType::TextArea),
        t("Status", "Status", FieldType::Picklist)
            .picklist(TASK_STATUSES)
            .default_value("Not Started")
            .required_field(),
        t("Priority", "Priority", FieldType::Picklist)
            .picklist(&["High", "Normal", "Low"])
            .default_value("Normal")
            .required_field(),
        t("ActivityDate", "Due Date Only", FieldType::Date),
        t("IsClosed", "Closed", FieldType::Boolean).read_only(),
        t("WhoId", "Name ID", FieldType::Reference).refs(&["Contact", "Lead"], "Who"),
        t("WhatId", "Related To ID", FieldType::Reference)
            .refs(&["Account", "Opportunity"], "What"),
        t("TaskSubtype", "Task Subtype", FieldType::Picklist)
            .picklist(&["Task", "Email", "Call"])
            .default_value("Task"),
        t("CallType", "Call Type", FieldType::Picklist)
            .picklist(&["Inbound", "Outbound", "Internal"]),
        t("CallDurationInSeconds", "Call Duration", FieldType::Int).int_digits(8),
        t(
            "CompletedDateTime",
            "Completed Date/Time",
            FieldType::DateTime,
        )
        .read_only(),
    ]);
    fields.extend(timestamps());
    ObjectSchema::new("Task", "Task", "Tasks", "00T", fields)
}

fn event() -> ObjectSchema {
    let mut fields = system_fields();
    fields.extend([
        t("Subject", "Subject", FieldType::Picklist).picklist(&[
            "Call",
            "Email",
            "Meeting",
            "Send Letter/Quote",
            "Other",
        ]),
        t("Description", "Description", FieldType::TextArea),
        s("Location", "Location", 255),
        t("StartDateTime", "Start Date Time", FieldType::DateTime),
        t("EndDateTime", "End Date Time", FieldType::DateTime),
        t("DurationInMinutes", "Duration", FieldType::Int),
        t("IsAllDayEvent", "All-Day Event", FieldType::Boolean),
        t("WhoId", "Name ID", FieldType::Reference).refs(&["Contact", "Lead"], "Who"),
        t("WhatId", "Related To ID", FieldType::Reference)
            .refs(&["Account", "Opportunity"], "What"),
    ]);
    fields.extend(timestamps());
    ObjectSchema::new("Event", "Event", "Events", "00U", fields)
}

fn note() -> ObjectSchema {
    let mut fields = system_fields();
    fields.extend([
        s("Title", "Title", 80).required_field().name_field(),
        t("Body", "Body", FieldType::TextArea),
        t("ParentId", "Parent ID", FieldType::Reference)
            .refs(&["Account", "Contact", "Lead", "Opportunity"], "Parent")
            .required_field(),
        t("IsPrivate", "Private", FieldType::Boolean),
    ]);
    fields.extend(timestamps());
    ObjectSchema::new("Note", "Note", "Notes", "002", fields)
}

fn user() -> ObjectSchema {
    // Users are deactivated, never deleted: the real User object has no `IsDeleted`.
    let mut fields = vec![
        FieldDef::new("Id", "User ID", FieldType::Id)
            .read_only()
            .required_field(),
    ];
    fields.extend([
        s("Username", "Username", 80).required_field(),
        s("Name", "Full Name", 121).read_only().name_field(),
        s("FirstName", "First Name", 40),
        s("LastName", "Last Name", 80).required_field(),
        t("Email", "Email", FieldType::Email).required_field(),
        t("IsActive", "Active", FieldType::Boolean),
        s("Title", "Title", 80),
        s("Department", "Department", 80),
    ]);
    fields.extend(timestamps());
    ObjectSchema::new("User", "User", "Users", "005", fields).read_only()
}

fn opportunity_stage() -> ObjectSchema {
    let mut fields = vec![FieldDef::new("Id", "Opportunity Stage ID", FieldType::Id).read_only()];
    fields.extend([
        s("MasterLabel", "Master Label", 255)
            .read_only()
            .name_field(),
        s("ApiName", "Api Name", 255).read_only(),
        t("SortOrder", "Sort Order", FieldType::Int).read_only(),
        t("IsActive", "Is Active", FieldType::Boolean).read_only(),
        t("IsClosed", "Closed", FieldType::Boolean).read_only(),
        t("IsWon", "Won", FieldType::Boolean).read_only(),
        t("DefaultProbability", "Probability (%)", FieldType::Percent).read_only(),
        t(
            "ForecastCategoryName",
            "Forecast Category",
            FieldType::Picklist,
        )
        .picklist(&["Omitted", "Pipeline", "Best Case", "Commit", "Closed"])
        .read_only(),
    ]);
    fields.extend(timestamps());
    ObjectSchema::new(
        "OpportunityStage",
        "Opportunity Stage",
        "Opportunity Stages",
        "01J",
        fields,
    )
    .read_only()
}

/// Every sObject of the simulated org, in describeGlobal order.
pub(crate) fn all_objects() -> Vec<ObjectSchema> {
    vec![
        account(),
        contact(),
        event(),
        lead(),
        note(),
        opportunity(),
        opportunity_stage(),
        task(),
        user(),
    ]
}
