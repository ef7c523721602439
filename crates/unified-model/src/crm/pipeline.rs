//! The unified pipeline and its embedded stages (read-only in v1).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Percentage;

unified_record! {
    /// A sales pipeline: the ordered stages opportunities move through. Read-only in v1.
    pub struct Pipeline {
        /// Name of the pipeline.
        pub name: Option<String>,
        /// False when the pipeline is archived.
        pub is_active: Option<bool>,
        /// Position of the pipeline in the vendor's list, lowest first.
        #[serde(deserialize_with = "crate::de::optional_i64")]
        pub display_order: Option<i64>,
        /// The pipeline's stages.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub stages: Vec<Stage>,
    }
}

/// One stage of a pipeline, embedded in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Stage {
    /// Crosswalk's stable id of the stage: the value of an opportunity's `stage_id`. In v1 it
    /// equals `remote_id`; when a mapping sets only one of the two, normalization copies it to
    /// the other.
    #[schemars(with = "String")]
    pub id: Option<String>,
    /// The stage's id in the vendor system.
    #[schemars(with = "String")]
    pub remote_id: Option<String>,
    /// Name of the stage.
    pub name: Option<String>,
    /// Position of the stage in the pipeline, lowest first.
    #[serde(deserialize_with = "crate::de::optional_i64")]
    pub display_order: Option<i64>,
    /// Win probability of opportunities in this stage, from 0 to 100.
    pub probability: Option<Percentage>,
    /// True when opportunities in this stage are closed (won or lost).
    pub is_closed: Option<bool>,
    /// True when opportunities in this stage are won.
    pub is_won: Option<bool>,
    /// False when the stage is archived.
    pub is_active: Option<bool>,
}
