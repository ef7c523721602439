//! The unified compensation: one pay component (base pay, a bonus...) over a period of time.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Date, Money};

unified_record! {
    /// One pay component of an employee (base salary, hourly rate, a bonus...) from an
    /// effective date: pay history, kept apart from job history so that several components
    /// can hold at once. The amount is sensitive.
    pub struct Compensation {
        /// Id of the employee paid.
        pub employee_id: Option<String>,
        /// Id of the employment the pay belongs to, when the vendor links them.
        pub employment_id: Option<String>,
        /// What kind of pay this is.
        #[serde(rename = "type")]
        pub kind: Option<CompensationType>,
        /// The amount per `pay_period`. Sensitive: withheld (null) unless asked for and
        /// allowed.
        pub amount: Option<Money>,
        /// What the amount covers (an hour, a year...).
        pub pay_period: Option<PayPeriod>,
        /// How often it is paid out.
        pub pay_frequency: Option<PayFrequency>,
        /// From when this pay applies.
        pub effective_date: Option<Date>,
        /// Until when it applied; null while it is current.
        pub end_date: Option<Date>,
        /// Why the pay was set or changed, in the vendor's own terms.
        pub reason: Option<String>,
        /// Free-text comment.
        pub notes: Option<String>,
    }
}

/// What kind of pay a compensation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompensationType {
    /// A salary.
    Salary,
    /// An hourly rate.
    Hourly,
    /// A bonus.
    Bonus,
    /// A commission.
    Commission,
    /// Equity.
    Equity,
    /// Anything else.
    Other,
}

/// The span of time a pay amount covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayPeriod {
    /// An hour.
    Hour,
    /// A day.
    Day,
    /// A week.
    Week,
    /// Two weeks.
    TwoWeeks,
    /// Half a month.
    HalfMonth,
    /// A month.
    Month,
    /// A quarter.
    Quarter,
    /// Half a year.
    HalfYear,
    /// A year.
    Year,
    /// Paid once (a one-off bonus).
    OneTime,
}

/// How often pay is paid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayFrequency {
    /// Every week.
    Weekly,
    /// Every two weeks.
    Biweekly,
    /// Twice a month.
    Semimonthly,
    /// Every month.
    Monthly,
    /// Every quarter.
    Quarterly,
    /// Every year.
    Annually,
    /// Once.
    OneTime,
}
