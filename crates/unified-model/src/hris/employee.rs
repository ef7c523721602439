//! The unified employee: a person employed (now, before or soon) by the customer's company.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Address, Date, EmailAddress, PhoneNumber};

unified_record! {
    /// A person employed by the company, now, before (terminated employees are kept) or soon
    /// (hired, not yet started).
    pub struct Employee {
        /// The company's own number for the employee.
        pub employee_number: Option<String>,
        /// Given name.
        pub first_name: Option<String>,
        /// Middle name or names.
        pub middle_name: Option<String>,
        /// Family name.
        pub last_name: Option<String>,
        /// The name the employee goes by, when it differs from the given name.
        pub preferred_name: Option<String>,
        /// Full name as the vendor displays it.
        pub display_full_name: Option<String>,
        /// Work email address.
        pub work_email: Option<String>,
        /// Personal email address.
        pub personal_email: Option<String>,
        /// Every email address, work and personal.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub email_addresses: Vec<EmailAddress>,
        /// Phone numbers.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub phone_numbers: Vec<PhoneNumber>,
        /// Current job title.
        pub job_title: Option<String>,
        /// Whether the person works there now: `ACTIVE`, `PENDING` (hired, not started),
        /// `ON_LEAVE`, `TERMINATED` (left; the record is kept) or `INACTIVE` (not working, for
        /// a reason the vendor does not say). Independent of `remote_deleted`.
        pub employment_status: Option<EmploymentStatus>,
        /// The vendor's own value behind `employment_status` (`Active`, `Inactive`,
        /// `Terminated`...), kept as given.
        pub employment_status_raw: Option<String>,
        /// Current employment type, in the vendor's own terms (`Full-Time`, `Contractor`...).
        pub employment_type: Option<String>,
        /// Department name, as the vendor holds it.
        pub department: Option<String>,
        /// Name of the place of work, as the vendor holds it.
        pub work_location: Option<String>,
        /// When the employee was (last) hired.
        pub hire_date: Option<Date>,
        /// When the employee started or starts working.
        pub start_date: Option<Date>,
        /// When the employment ended or ends; may be in the future.
        pub termination_date: Option<Date>,
        /// Why the employment ended, in the vendor's own terms.
        pub termination_reason: Option<String>,
        /// Gender.
        pub gender: Option<Gender>,
        /// Date of birth. Sensitive: withheld (null) unless asked for and allowed.
        pub date_of_birth: Option<Date>,
        /// Marital status, in the vendor's own terms. Sensitive.
        pub marital_status: Option<String>,
        /// Ethnicity, in the vendor's own terms. Sensitive.
        pub ethnicity: Option<String>,
        /// National identifiers (social security, tax or identity numbers). Sensitive.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub national_ids: Vec<NationalId>,
        /// Bank accounts pay goes to. Sensitive.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub bank_accounts: Vec<BankAccount>,
        /// Home address. Sensitive.
        pub home_address: Option<Address>,
        /// URL of the employee's photo.
        pub avatar_url: Option<String>,
        /// Id of the employee's company (legal entity).
        pub company_id: Option<String>,
        /// Id of the employee's manager (an employee).
        pub manager_id: Option<String>,
        /// Ids of the groups (departments, divisions, teams...) the employee belongs to.
        #[serde(deserialize_with = "crate::de::null_as_default")]
        pub group_ids: Vec<String>,
        /// Id of the employee's place of work.
        pub work_location_id: Option<String>,
    }
}

/// Whether a person works at the company now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EmploymentStatus {
    /// Working there.
    Active,
    /// Hired, not started yet.
    Pending,
    /// On leave (parental, sabbatical...), still employed.
    OnLeave,
    /// No longer employed; the record is kept.
    Terminated,
    /// Not working there, for a reason the vendor does not say.
    Inactive,
}

/// Gender as the vendor records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Gender {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Non-binary.
    NonBinary,
    /// The employee declined to say.
    NotDisclosed,
    /// Anything else.
    Other,
}

/// A national identifier of a person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NationalId {
    /// What the number is, in the vendor's terms (`ssn`, `sin`, `tax_id`...).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// ISO 3166-1 alpha-2 country that issued it.
    pub country: Option<String>,
    /// The number as the vendor holds it.
    pub value: Option<String>,
}

/// A bank account pay goes to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BankAccount {
    /// Name of the bank.
    pub bank_name: Option<String>,
    /// Account number or IBAN.
    pub account_number: Option<String>,
    /// Routing number, sort code or BIC.
    pub routing_number: Option<String>,
    /// Name on the account.
    pub account_holder: Option<String>,
}
