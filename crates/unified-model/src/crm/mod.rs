//! The unified CRM objects (v1): contacts, companies, opportunities, leads, notes, tasks,
//! engagements, users and pipelines.
//!
//! Every object is a struct with the same envelope (`id`, `remote_id`, vendor timestamps, the
//! `remote_deleted` tombstone flag, `custom_fields`, opt-in `remote_data`) around its own fields.
//! [`CrmObject`] names the objects and gives their JSON Schemas; [`normalize_record`] and
//! [`parse_write_body`] check JSON against the types. Vendor specifics live in connectors, never
//! here.

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
