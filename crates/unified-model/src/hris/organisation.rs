//! The unified groups, locations and companies: how the employer is organised.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Address;

unified_record! {
    /// A group of employees: a department, team, division, cost centre or business unit, with
    /// its parent group.
    pub struct Group {
        /// Name of the group.
        pub name: Option<String>,
        /// What kind of group it is.
        #[serde(rename = "type")]
        pub kind: Option<GroupType>,
        /// Id of the group it belongs to.
        pub parent_group_id: Option<String>,
        /// False when the vendor keeps the group only for history.
        pub is_active: Option<bool>,
    }
}

/// What kind of group a group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GroupType {
    /// A department.
    Department,
    /// A team.
    Team,
    /// A division.
    Division,
    /// A cost centre.
    CostCenter,
    /// A business unit.
    BusinessUnit,
    /// Anything else.
    Other,
}

unified_record! {
    /// A place employees work from.
    pub struct Location {
        /// Name of the place.
        pub name: Option<String>,
        /// Postal address.
        pub address: Option<Address>,
        /// IANA time zone (`Europe/Berlin`).
        pub timezone: Option<String>,
        /// False when the vendor keeps the place only for history.
        pub is_active: Option<bool>,
    }
}

unified_record! {
    /// The employer: a company or legal entity.
    pub struct Company {
        /// Registered legal name.
        pub legal_name: Option<String>,
        /// Name as the company shows it.
        pub display_name: Option<String>,
        /// Postal addresses.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub addresses: Vec<Address>,
    }
}
