//! [`CrmObject`]: the closed set of unified CRM objects, with their URL slugs and JSON Schemas.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::schema;

/// One of the unified CRM objects of v1.
///
/// Serialized as its slug (`"contacts"`), the name used in URLs (`/unified/crm/contacts`),
/// connector files (`crm.contacts`) and schema file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrmObject {
    /// [`Contact`](super::Contact) records.
    Contacts,
    /// [`Company`](super::Company) records.
    Companies,
    /// [`Opportunity`](super::Opportunity) records.
    Opportunities,
    /// [`Lead`](super::Lead) records.
    Leads,
    /// [`Note`](super::Note) records.
    Notes,
    /// [`Task`](super::Task) records.
    Tasks,
    /// [`Engagement`](super::Engagement) records.
    Engagements,
    /// [`User`](super::User) records (read-only).
    Users,
    /// [`Pipeline`](super::Pipeline) records with their stages (read-only).
    Pipelines,
}

impl CrmObject {
    /// Every CRM object, in the order of the documentation.
    pub const ALL: [CrmObject; 9] = [
        CrmObject::Contacts,
        CrmObject::Companies,
        CrmObject::Opportunities,
        CrmObject::Leads,
        CrmObject::Notes,
        CrmObject::Tasks,
        CrmObject::Engagements,
        CrmObject::Users,
        CrmObject::Pipelines,
    ];

    /// Returns the object's slug: plural, snake_case (`"contacts"`).
    pub fn slug(self) -> &'static str {
        match self {
            CrmObject::Contacts => "contacts",
            CrmObject::Companies => "companies",
            CrmObject::Opportunities => "opportunities",
            CrmObject::Leads => "leads",
            CrmObject::Notes => "notes",
            CrmObject::Tasks => "tasks",
            CrmObject::Engagements => "engagements",
            CrmObject::Users => "users",
            CrmObject::Pipelines => "pipelines",
        }
    }

    /// Returns the object named by `slug`, or `None` for anything else (matching is exact).
    pub fn parse(slug: &str) -> Option<CrmObject> {
        CrmObject::ALL
            .into_iter()
            .find(|object| object.slug() == slug)
    }

    /// Returns the name of one record's type (`"Contact"`), used as its schema title.
    pub fn record_name(self) -> &'static str {
        match self {
            CrmObject::Contacts => "Contact",
            CrmObject::Companies => "Company",
            CrmObject::Opportunities => "Opportunity",
            CrmObject::Leads => "Lead",
            CrmObject::Notes => "Note",
            CrmObject::Tasks => "Task",
            CrmObject::Engagements => "Engagement",
            CrmObject::Users => "User",
            CrmObject::Pipelines => "Pipeline",
        }
    }

    /// Returns true when the object accepts create and update bodies. Users and pipelines are
    /// read-only in v1.
    pub fn supports_writes(self) -> bool {
        !matches!(self, CrmObject::Users | CrmObject::Pipelines)
    }

    /// Returns the JSON Schema (draft 2020-12) of one record as the API returns it.
    ///
    /// Every documented field is required, because [`normalize_record`](super::normalize_record)
    /// writes each one (null when unknown, `[]` for an empty list); only `remote_data` is
    /// optional. Records allow properties the schema does not list, so that a field added in a
    /// later version does not break clients that validate.
    pub fn schema(self) -> Value {
        schema::record_schema(self)
    }

    /// Returns the JSON Schema (draft 2020-12) of a create or update body.
    ///
    /// It lists the record's fields minus the read-only envelope (`id`, `remote_id`,
    /// `created_at`, `updated_at`, `remote_deleted`); no field is required, null clears a field,
    /// unknown properties are refused, and `remote_data` is an object of vendor fields merged
    /// into the vendor request. For objects without writes (see
    /// [`supports_writes`](CrmObject::supports_writes)) it is a schema no body satisfies.
    pub fn write_schema(self) -> Value {
        schema::write_schema(self)
    }
}

impl fmt::Display for CrmObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}
