//! The unified CRM objects (v1): contacts, companies, opportunities, leads, notes, tasks,
//! engagements, users and pipelines.
//!
//! Every object is a struct with the same envelope (`id`, `remote_id`, vendor timestamps, the
//! `remote_deleted` tombstone flag, `custom_fields`, opt-in `remote_data`) around its own fields.
//! [`CrmObject`] names the objects and gives their JSON Schemas; [`normalize_record`] and
//! [`parse_write_body`] check JSON against the types. Vendor specifics live in connectors, never
//! here.

/// Defines a CRM record struct: the envelope fields around the given object fields.
///
/// Keeping the envelope in one place keeps its names, order and documentation identical on every
/// object. The container-level `serde(default)` lets partial records and write bodies parse.
macro_rules! crm_record {
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

mod company;
mod contact;
mod engagement;
mod lead;
mod normalize;
mod note;
mod object;
mod opportunity;
mod pipeline;
mod schema;
mod task;
mod user;

pub use company::Company;
pub use contact::Contact;
pub use engagement::{Engagement, EngagementDirection, EngagementType};
pub use lead::{Lead, LeadStatus};
pub use normalize::{normalize_record, parse_write_body};
pub use note::{Note, NoteContentFormat};
pub use object::CrmObject;
pub use opportunity::{Opportunity, OpportunityStatus};
pub use pipeline::{Pipeline, Stage};
pub use task::{Task, TaskPriority, TaskStatus};
pub use user::User;

#[cfg(test)]
mod tests;
