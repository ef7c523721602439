//! The unified contact: a person the customer does business with.

use crate::{Address, EmailAddress, PhoneNumber, Timestamp};

unified_record! {
    /// A person the customer does business with.
    pub struct Contact {
        /// Given name.
        pub first_name: Option<String>,
        /// Family name.
        pub last_name: Option<String>,
        /// Full name as the vendor displays it.
        pub name: Option<String>,
        /// Job title.
        pub title: Option<String>,
        /// Department within their company.
        pub department: Option<String>,
        /// Where the contact stands in the customer's funnel, in the vendor's own terms
        /// (`lead`, `customer`...).
        pub lifecycle_stage: Option<String>,
        /// How the contact was acquired, in the vendor's own terms.
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
        /// Id of the contact's primary company.
        pub company_id: Option<String>,
        /// Id of the user who owns the contact.
        pub owner_id: Option<String>,
        /// When the last activity (call, email, meeting...) with the contact happened.
        pub last_activity_at: Option<Timestamp>,
    }
}
