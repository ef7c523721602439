//! The unified company: an organisation (called an account or a company by vendors).

use crate::{Address, Money, PhoneNumber, Timestamp};

unified_record! {
    /// An organisation the customer does business with (an account or company at the
    /// vendor).
    pub struct Company {
        /// Name of the organisation.
        pub name: Option<String>,
        /// Free-text description.
        pub description: Option<String>,
        /// Industry, in the vendor's own terms.
        pub industry: Option<String>,
        /// Main website URL.
        pub website: Option<String>,
        /// Internet domains of the organisation (`example.com`).
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub domains: Vec<String>,
        /// Number of employees.
        #[serde(deserialize_with = "crate::de::optional_u64")]
        pub number_of_employees: Option<u64>,
        /// Yearly revenue.
        pub annual_revenue: Option<Money>,
        /// Where the company stands in the customer's funnel, in the vendor's own terms.
        pub lifecycle_stage: Option<String>,
        /// Phone numbers.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub phone_numbers: Vec<PhoneNumber>,
        /// Postal addresses.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub addresses: Vec<Address>,
        /// Id of the user who owns the company.
        pub owner_id: Option<String>,
        /// Id of the parent company, for subsidiaries.
        pub parent_company_id: Option<String>,
        /// When the last activity (call, email, meeting...) with the company happened.
        pub last_activity_at: Option<Timestamp>,
    }
}
