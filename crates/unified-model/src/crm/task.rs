//! The unified task: a to-do item for a user.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Timestamp;

unified_record! {
    /// A to-do item for a user, possibly attached to companies, contacts, opportunities or
    /// leads.
    pub struct Task {
        /// Short summary of the task.
        pub subject: Option<String>,
        /// Longer description.
        pub content: Option<String>,
        /// Progress of the task.
        pub status: Option<TaskStatus>,
        /// Urgency of the task.
        pub priority: Option<TaskPriority>,
        /// When the task is due.
        pub due_at: Option<Timestamp>,
        /// When the task was completed.
        pub completed_at: Option<Timestamp>,
        /// Id of the user the task is assigned to.
        pub owner_id: Option<String>,
        /// Ids of the companies the task is about.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub company_ids: Vec<String>,
        /// Ids of the contacts the task is about.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub contact_ids: Vec<String>,
        /// Ids of the opportunities the task is about.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub opportunity_ids: Vec<String>,
        /// Ids of the leads the task is about.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub lead_ids: Vec<String>,
    }
}

/// Progress of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    /// Not started.
    Open,
    /// Started.
    InProgress,
    /// Done.
    Completed,
    /// Abandoned.
    Cancelled,
}

/// Urgency of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskPriority {
    /// Low priority.
    Low,
    /// Normal priority.
    Normal,
    /// High priority.
    High,
}
