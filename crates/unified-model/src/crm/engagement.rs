//! The unified engagement: a call, meeting, email or message with the customer's contacts.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Timestamp;

unified_record! {
    /// An interaction with contacts (a call, meeting, email or text message), possibly attached
    /// to companies, contacts, opportunities or leads.
    pub struct Engagement {
        /// Kind of interaction.
        #[serde(rename = "type")]
        pub kind: Option<EngagementType>,
        /// Who started the interaction, when known.
        pub direction: Option<EngagementDirection>,
        /// Subject line or title.
        pub subject: Option<String>,
        /// Body, transcript or notes.
        pub content: Option<String>,
        /// When the interaction started.
        pub start_time: Option<Timestamp>,
        /// When the interaction ended.
        pub end_time: Option<Timestamp>,
        /// Length of the interaction in seconds.
        #[serde(deserialize_with = "crate::de::optional_u64")]
        pub duration_seconds: Option<u64>,
        /// Where a meeting takes place (an address or a video-call link).
        pub location: Option<String>,
        /// Id of the user who owns the engagement.
        pub owner_id: Option<String>,
        /// Ids of the companies involved.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub company_ids: Vec<String>,
        /// Ids of the contacts involved.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub contact_ids: Vec<String>,
        /// Ids of the opportunities involved.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub opportunity_ids: Vec<String>,
        /// Ids of the leads involved.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub lead_ids: Vec<String>,
    }
}

/// Kind of interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EngagementType {
    /// A phone or video call.
    Call,
    /// A meeting.
    Meeting,
    /// An email.
    Email,
    /// A text message.
    Sms,
    /// Any other interaction.
    Other,
}

/// Who started an interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EngagementDirection {
    /// The contact reached out.
    Inbound,
    /// The customer's user reached out.
    Outbound,
}
