//! The unified objects of Crosswalk's public API: Rust types, their JSON Schemas, and the checks
//! that every record and write body passes through.
//!
//! This crate is the API contract. Records leave the API in the shape of these types (see
//! [`normalize_record`]), write bodies are checked against them (see [`parse_write_body`]), and
//! the JSON Schemas published in `schemas/unified/<category>/` are generated from them. A serde change
//! here is a breaking change for API clients. The crate knows no vendor and does no IO; it
//! imports none of Crosswalk's crates.

/// Defines a unified record struct: the envelope fields around the given object fields.
///
/// Keeping the envelope in one place keeps its names, order and documentation identical on every
/// object. The container-level `serde(default)` lets partial records and write bodies parse.
macro_rules! unified_record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                pub $field:ident: $type:ty,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Default,
            PartialEq,
            serde::Serialize,
            serde::Deserialize,
            schemars::JsonSchema,
        )]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            /// Crosswalk's stable id of the record. In v1 it equals `remote_id`; when a mapping
            /// sets only one of the two, normalization copies it to the other.
            #[schemars(with = "String")]
            pub id: Option<String>,
            /// The record's id in the vendor system.
            #[schemars(with = "String")]
            pub remote_id: Option<String>,
            /// When the vendor created the record.
            pub created_at: Option<$crate::Timestamp>,
            /// When the vendor last changed the record.
            pub updated_at: Option<$crate::Timestamp>,
            /// True when the record was deleted in the vendor system; the record is kept as a
            /// tombstone so incremental readers learn about the delete.
            #[serde(deserialize_with = "crate::de::null_as_default")]
            pub remote_deleted: bool,
            $(
                $(#[$field_meta])*
                pub $field: $type,
            )*
            /// Values of the connection's custom fields, keyed by the unified key of each field
            /// mapping; each value is any JSON value.
            #[serde(deserialize_with = "crate::de::null_as_default")]
            pub custom_fields: serde_json::Map<String, serde_json::Value>,
            /// The raw vendor payload behind the record, present only when requested. In a write
            /// body, an object of vendor fields merged into the vendor's request as is, for what
            /// the unified fields do not cover.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub remote_data: Option<serde_json::Value>,
        }
    };
}

mod contact_details;
pub mod crm;
mod de;
mod error;
pub mod hris;
mod money;
mod normalize;
mod number_text;
mod object;
mod scalar;
mod schema;

pub use contact_details::{
    Address, AddressType, EmailAddress, EmailAddressType, PhoneNumber, PhoneNumberType,
};
pub use crm::{CrmObject, normalize_record, parse_write_body};
pub use error::{ModelError, ValueError};
pub use hris::HrisObject;
pub use money::Money;
pub use number_text::{compare_number_text, decimal_range_pattern, is_multiple_of_text};
pub use object::{CATEGORIES, UnifiedObject};
pub use scalar::{CurrencyCode, Date, Decimal, E164, Percentage, Timestamp};
pub use schema::property_at_mut;
