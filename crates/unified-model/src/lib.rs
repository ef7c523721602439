//! The unified objects of Crosswalk's public API: Rust types, their JSON Schemas, and the checks
//! that every record and write body passes through.
//!
//! This crate is the API contract. Records leave the API in the shape of these types (see
//! [`normalize_record`]), write bodies are checked against them (see [`parse_write_body`]), and
//! the JSON Schemas published in `schemas/unified/crm/` are generated from them. A serde change
//! here is a breaking change for API clients. The crate knows no vendor and does no IO; it
//! imports none of Crosswalk's crates.

mod contact_details;
pub mod crm;
mod de;
mod error;
mod money;
mod object;
mod scalar;

pub use contact_details::{
    Address, AddressType, EmailAddress, EmailAddressType, PhoneNumber, PhoneNumberType,
};
pub use crm::{CrmObject, normalize_record, parse_write_body};
pub use error::{ModelError, ValueError};
pub use money::Money;
pub use object::{CATEGORIES, UnifiedObject};
pub use scalar::{CurrencyCode, Date, Decimal, E164, Percentage, Timestamp};
