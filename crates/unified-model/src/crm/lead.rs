//! The unified lead: a prospect not yet qualified into a contact, company and opportunity.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Address, EmailAddress, PhoneNumber, Timestamp};

unified_record! {
    /// A prospect that has not yet been qualified into a contact, company and opportunity.
    pub struct Lead {
        /// Given name.
        pub first_name: Option<String>,
        /// Family name.
        pub last_name: Option<String>,
        /// Full name as the vendor displays it.
        pub name: Option<String>,
        /// Job title.
        pub title: Option<String>,
        /// Name of the lead's company, as free text.
        pub company_name: Option<String>,
        /// Where the lead stands in qualification.
        pub status: Option<LeadStatus>,
        /// How the lead was acquired, in the vendor's own terms.
        pub lead_source: Option<String>,
        /// Email addresses.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub email_addresses: Vec<EmailAddress>,
        /// Phone numbers.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub phone_numbers: Vec<PhoneNumber>,
        /// Postal addresses.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub addresses: Vec<Address>,
        /// Id of the user who owns the lead.
        pub owner_id: Option<String>,
        /// When the lead was converted.
        pub converted_at: Option<Timestamp>,
        /// Id of the contact the lead was converted into.
        pub converted_contact_id: Option<String>,
        /// Id of the company the lead was converted into.
        pub converted_company_id: Option<String>,
        /// Id of the opportunity the lead was converted into.
        pub converted_opportunity_id: Option<String>,
    }
}

/// Where a lead stands in qualification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LeadStatus {
    /// Not yet worked on.
    Open,
    /// Being worked on.
    Working,
    /// Qualified, ready for conversion.
    Qualified,
    /// Rejected.
    Unqualified,
    /// Converted into a contact (and possibly a company and an opportunity).
    Converted,
}
