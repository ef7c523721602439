//! The unified employment: one job an employee holds or held (job history).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Date;

unified_record! {
    /// One job an employee holds or held, from its effective date: job history. A person may
    /// hold several at once. Pay is not here but in compensations.
    pub struct Employment {
        /// Id of the employee holding the job.
        pub employee_id: Option<String>,
        /// Job title.
        pub job_title: Option<String>,
        /// How the job is held.
        pub employment_type: Option<EmploymentType>,
        /// The vendor's own value behind `employment_type`.
        pub employment_type_raw: Option<String>,
        /// From when this job applies.
        pub effective_date: Option<Date>,
        /// Until when it applied; null while it is current.
        pub end_date: Option<Date>,
        /// Whether this is the job the employee holds now.
        pub is_current: Option<bool>,
        /// Department name, as the vendor holds it.
        pub department: Option<String>,
        /// Division name, as the vendor holds it.
        pub division: Option<String>,
        /// Name of the place of work, as the vendor holds it.
        pub location: Option<String>,
        /// Id of the group (department) the job belongs to.
        pub group_id: Option<String>,
        /// Id of the place of work.
        pub location_id: Option<String>,
        /// Id of the manager (an employee) for this job.
        pub manager_id: Option<String>,
    }
}

/// How a job is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EmploymentType {
    /// Full time.
    FullTime,
    /// Part time.
    PartTime,
    /// An outside contractor.
    Contractor,
    /// An intern or working student.
    Intern,
    /// A fixed-term or temporary job.
    Temporary,
    /// A freelancer.
    Freelance,
    /// Anything else.
    Other,
}
