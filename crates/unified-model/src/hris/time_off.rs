//! The unified time off: policies (kinds of leave), requests and balances.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Date, Decimal, Timestamp};

unified_record! {
    /// A kind of leave employees take (vacation, sick leave...) and how it is counted.
    pub struct TimeOffPolicy {
        /// Name of the policy as the vendor shows it.
        pub name: Option<String>,
        /// What kind of leave it is.
        #[serde(rename = "type")]
        pub kind: Option<TimeOffType>,
        /// Whether it is counted in hours or days.
        pub unit: Option<TimeOffUnit>,
        /// Whether the leave is paid.
        pub is_paid: Option<bool>,
    }
}

unified_record! {
    /// A request for time off: who, when, how much, and where it stands.
    pub struct TimeOffRequest {
        /// Id of the employee taking the time off.
        pub employee_id: Option<String>,
        /// Id of the employee who approved or declined it.
        pub approver_id: Option<String>,
        /// Id of the time-off policy it is taken under.
        pub policy_id: Option<String>,
        /// What kind of leave it is.
        pub request_type: Option<TimeOffType>,
        /// Where the request stands.
        pub status: Option<TimeOffRequestStatus>,
        /// The vendor's own value behind `status`.
        pub status_raw: Option<String>,
        /// Whether `amount` counts hours or days.
        pub units: Option<TimeOffUnit>,
        /// How much time off, in `units`, as a decimal string.
        pub amount: Option<Decimal>,
        /// First day off.
        pub start_date: Option<Date>,
        /// Last day off.
        pub end_date: Option<Date>,
        /// The employee's note.
        pub employee_note: Option<String>,
        /// The approver's note.
        pub approver_note: Option<String>,
        /// When the request was approved.
        pub approved_at: Option<Timestamp>,
    }
}

unified_record! {
    /// What an employee has left of one time-off policy.
    pub struct TimeOffBalance {
        /// Id of the employee.
        pub employee_id: Option<String>,
        /// Id of the time-off policy.
        pub policy_id: Option<String>,
        /// Name of the policy as the vendor shows it.
        pub policy_name: Option<String>,
        /// Whether the amounts count hours or days.
        pub units: Option<TimeOffUnit>,
        /// What is left, as a decimal string (negative when overdrawn).
        pub balance: Option<Decimal>,
        /// What was used, as a decimal string.
        pub used: Option<Decimal>,
        /// The day the balance is given for.
        pub as_of: Option<Date>,
    }
}

/// What kind of leave a policy or request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TimeOffType {
    /// Vacation or paid time off.
    Vacation,
    /// Sick leave.
    Sick,
    /// Personal days.
    Personal,
    /// Parental leave.
    Parental,
    /// Bereavement leave.
    Bereavement,
    /// Jury duty.
    JuryDuty,
    /// Volunteering.
    Volunteer,
    /// Unpaid leave.
    Unpaid,
    /// A holiday.
    Holiday,
    /// Anything else.
    Other,
}

/// Whether time off is counted in hours or days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TimeOffUnit {
    /// Hours.
    Hours,
    /// Days.
    Days,
}

/// Where a time-off request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TimeOffRequestStatus {
    /// Waiting for a decision.
    Requested,
    /// Approved.
    Approved,
    /// Declined.
    Declined,
    /// Withdrawn by the employee.
    Cancelled,
    /// Deleted or superseded at the vendor.
    Deleted,
}
