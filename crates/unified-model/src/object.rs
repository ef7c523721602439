//! [`UnifiedObject`]: every unified object of every category, as data the runtime iterates.
//!
//! The runtime (routes, OpenAPI, /meta, /fields, connector compilation, fixtures) never names a
//! category: it asks this type which categories and objects exist, what their schemas are, and
//! how records and write bodies are checked. A new category is a new variant here and a module
//! beside `crm`; nothing else in the runtime changes.

use std::fmt;

use serde_json::Value;

use crate::crm::CrmObject;
use crate::error::ModelError;
use crate::hris::HrisObject;

/// The categories of unified objects, in the order of the documentation.
pub const CATEGORIES: &[&str] = &["crm", "hris"];

/// One unified object of one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnifiedObject {
    /// A CRM object (`crm.contacts`).
    Crm(CrmObject),
    /// An HRIS object (`hris.employees`).
    Hris(HrisObject),
}

/// Fields of every record that a caller never writes: the envelope the API fills in.
const ENVELOPE: &[&str] = &[
    "id",
    "remote_id",
    "created_at",
    "updated_at",
    "remote_deleted",
    "remote_data",
];

impl UnifiedObject {
    /// Every object of every category, category by category in the documentation's order.
    pub fn all() -> impl Iterator<Item = UnifiedObject> {
        CrmObject::ALL
            .into_iter()
            .map(UnifiedObject::Crm)
            .chain(HrisObject::ALL.into_iter().map(UnifiedObject::Hris))
    }

    /// The objects of `category` (none for an unknown category).
    pub fn of_category(category: &str) -> impl Iterator<Item = UnifiedObject> + '_ {
        UnifiedObject::all().filter(move |object| object.category() == category)
    }

    /// Whether `category` names a category.
    pub fn is_category(category: &str) -> bool {
        CATEGORIES.contains(&category)
    }

    /// The object `slug` of `category`, as named in URLs (`/unified/{category}/{slug}`).
    pub fn parse(category: &str, slug: &str) -> Option<UnifiedObject> {
        UnifiedObject::of_category(category).find(|object| object.slug() == slug)
    }

    /// The object named by its key (`crm.contacts`), as connector files name it.
    pub fn parse_key(key: &str) -> Option<UnifiedObject> {
        let (category, slug) = key.split_once('.')?;
        UnifiedObject::parse(category, slug)
    }

    /// The object's category (`crm`).
    pub fn category(self) -> &'static str {
        match self {
            UnifiedObject::Crm(_) => "crm",
            UnifiedObject::Hris(_) => "hris",
        }
    }

    /// The object's slug (`contacts`).
    pub fn slug(self) -> &'static str {
        match self {
            UnifiedObject::Crm(object) => object.slug(),
            UnifiedObject::Hris(object) => object.slug(),
        }
    }

    /// The object's key (`crm.contacts`), as connector files and overrides name it.
    pub fn key(self) -> String {
        format!("{}.{}", self.category(), self.slug())
    }

    /// The name of one record's type (`Contact`).
    pub fn record_name(self) -> &'static str {
        match self {
            UnifiedObject::Crm(object) => object.record_name(),
            UnifiedObject::Hris(object) => object.record_name(),
        }
    }

    /// Whether the object accepts create and update bodies.
    pub fn supports_writes(self) -> bool {
        match self {
            UnifiedObject::Crm(object) => object.supports_writes(),
            UnifiedObject::Hris(object) => object.supports_writes(),
        }
    }

    /// The JSON Schema of one record.
    pub fn schema(self) -> Value {
        match self {
            UnifiedObject::Crm(object) => object.schema(),
            UnifiedObject::Hris(object) => object.schema(),
        }
    }

    /// The JSON Schema of a create or update body.
    pub fn write_schema(self) -> Value {
        match self {
            UnifiedObject::Crm(object) => object.write_schema(),
            UnifiedObject::Hris(object) => object.write_schema(),
        }
    }

    /// A mapped record in its published shape (see [`crate::normalize_record`]).
    ///
    /// # Errors
    /// Fails when the mapped value is not a valid record of this object.
    pub fn normalize(self, mapped: Value) -> Result<Value, ModelError> {
        match self {
            UnifiedObject::Crm(object) => crate::crm::normalize_record(object, mapped),
            UnifiedObject::Hris(object) => crate::hris::normalize_record(object, mapped),
        }
    }

    /// A caller's write body, checked (see [`crate::parse_write_body`]).
    ///
    /// # Errors
    /// Names the offending field.
    pub fn parse_write_body(self, body: Value) -> Result<Value, ModelError> {
        match self {
            UnifiedObject::Crm(object) => crate::crm::parse_write_body(object, body),
            UnifiedObject::Hris(object) => crate::hris::parse_write_body(object, body),
        }
    }

    /// Fields withheld from records unless the caller asks for sensitive fields and the
    /// connection allows them (national ids, dates of birth, bank data, pay amounts); a
    /// withheld field is null, or `[]` for a list.
    pub fn sensitive_fields(self) -> &'static [&'static str] {
        match self {
            UnifiedObject::Crm(_) => &[],
            UnifiedObject::Hris(object) => object.sensitive_fields(),
        }
    }

    /// Fields a write never carries: the record envelope.
    pub fn read_only_fields(self) -> &'static [&'static str] {
        ENVELOPE
    }

    /// The canonical value of a standard list filter: `email` is lowercased and must be an
    /// address, `employment_status` one of the employment statuses; other filters pass as
    /// given. `Err` says why the value is refused.
    pub fn standard_filter(self, name: &str, value: &str) -> Result<String, &'static str> {
        match name {
            "employment_status" if !EMPLOYMENT_STATUSES.contains(&value) => {
                Err("is not one of ACTIVE, PENDING, ON_LEAVE, TERMINATED, INACTIVE")
            }
            "email" if !value.contains('@') => Err("is not an email address"),
            "email" => Ok(value.to_lowercase()),
            _ => Ok(value.to_owned()),
        }
    }

    /// The JSON Schema of a `string` list filter's value, stating what [`standard_filter`]
    /// checks: an address for `email`, a status for `employment_status`, any non-empty text
    /// otherwise.
    ///
    /// [`standard_filter`]: UnifiedObject::standard_filter
    pub fn standard_filter_schema(name: &str) -> serde_json::Value {
        match name {
            "employment_status" => {
                serde_json::json!({"type": "string", "enum": EMPLOYMENT_STATUSES})
            }
            "email" => serde_json::json!({"type": "string", "pattern": "@"}),
            _ => serde_json::json!({"type": "string", "minLength": 1}),
        }
    }
}

/// The values of the `employment_status` list filter.
const EMPLOYMENT_STATUSES: [&str; 5] = ["ACTIVE", "PENDING", "ON_LEAVE", "TERMINATED", "INACTIVE"];

impl fmt::Display for UnifiedObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.category(), self.slug())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_found_by_category_and_slug_or_key() {
        let contacts = UnifiedObject::parse("crm", "contacts").expect("known");
        assert_eq!(contacts.key(), "crm.contacts");
        assert_eq!(UnifiedObject::parse_key("crm.contacts"), Some(contacts));
        assert_eq!(UnifiedObject::parse("crm", "employees"), None);
        assert_eq!(UnifiedObject::parse("nope", "contacts"), None);
        for category in CATEGORIES {
            assert!(UnifiedObject::of_category(category).count() > 0);
        }
        assert_eq!(
            UnifiedObject::all().count(),
            CATEGORIES
                .iter()
                .map(|category| UnifiedObject::of_category(category).count())
                .sum::<usize>()
        );
    }
}
