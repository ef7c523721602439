//! The unified opportunity: a potential sale (also called a deal).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Date, Money, Percentage};

unified_record! {
    /// A potential sale moving through a pipeline (also called a deal).
    pub struct Opportunity {
        /// Name of the opportunity.
        pub name: Option<String>,
        /// Free-text description.
        pub description: Option<String>,
        /// Expected value of the sale.
        pub amount: Option<Money>,
        /// Likelihood of winning, from 0 to 100.
        pub probability: Option<Percentage>,
        /// Whether the opportunity is still open, won or lost.
        pub status: Option<OpportunityStatus>,
        /// Expected or actual close date.
        pub close_date: Option<Date>,
        /// Id of the pipeline the opportunity moves through.
        pub pipeline_id: Option<String>,
        /// Id of the pipeline stage the opportunity is in.
        pub stage_id: Option<String>,
        /// Id of the company the sale is with.
        pub company_id: Option<String>,
        /// Ids of the contacts involved.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub contact_ids: Vec<String>,
        /// Id of the user who owns the opportunity.
        pub owner_id: Option<String>,
        /// How the opportunity was acquired, in the vendor's own terms.
        pub lead_source: Option<String>,
    }
}

/// Whether an opportunity is still open, won or lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OpportunityStatus {
    /// Still being worked on.
    Open,
    /// Closed as a sale.
    Won,
    /// Closed without a sale.
    Lost,
}
