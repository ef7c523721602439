//! The unified note: free text attached to CRM records.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

unified_record! {
    /// Free text attached to companies, contacts, opportunities or leads.
    pub struct Note {
        /// Title of the note, for vendors that have one.
        pub title: Option<String>,
        /// Body of the note.
        pub content: Option<String>,
        /// Whether `content` is plain text or HTML.
        pub content_format: Option<NoteContentFormat>,
        /// Id of the user who owns the note.
        pub owner_id: Option<String>,
        /// Ids of the companies the note is attached to.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub company_ids: Vec<String>,
        /// Ids of the contacts the note is attached to.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub contact_ids: Vec<String>,
        /// Ids of the opportunities the note is attached to.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub opportunity_ids: Vec<String>,
        /// Ids of the leads the note is attached to.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub lead_ids: Vec<String>,
    }
}

/// The markup of a note's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NoteContentFormat {
    /// Plain text.
    Text,
    /// HTML.
    Html,
}
