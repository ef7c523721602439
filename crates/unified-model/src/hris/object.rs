//! [`HrisObject`]: the closed set of unified HRIS objects, with their URL slugs, JSON Schemas,
//! sensitive fields and the checks of records and write bodies.

use std::fmt;
use std::sync::OnceLock;

use schemars::SchemaGenerator;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    Company, Compensation, Employee, Employment, Group, Location, TimeOffBalance, TimeOffPolicy,
    TimeOffRequest,
};
use crate::error::ModelError;
use crate::normalize::{check_write_body, fill_ids, into_object, retain_present, round_trip_as};
use crate::schema::{build_record_schema, build_write_schema, check_against_write_schema, of};

/// One of the unified HRIS objects of v1, serialized as its slug (`"employees"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HrisObject {
    /// [`Employee`] records.
    Employees,
    /// [`Employment`] records (job history, read-only).
    Employments,
    /// [`Compensation`] records (pay history, read-only).
    Compensations,
    /// [`Group`] records (read-only).
    Groups,
    /// [`Location`] records (read-only).
    Locations,
    /// [`Company`] records (read-only).
    Companies,
    /// [`TimeOffPolicy`] records (read-only).
    TimeOffPolicies,
    /// [`TimeOffRequest`] records.
    TimeOffRequests,
    /// [`TimeOffBalance`] records (read-only).
    TimeOffBalances,
}

impl HrisObject {
    /// Every HRIS object, in the order of the documentation.
    pub const ALL: [HrisObject; 9] = [
        HrisObject::Employees,
        HrisObject::Employments,
        HrisObject::Compensations,
        HrisObject::Groups,
        HrisObject::Locations,
        HrisObject::Companies,
        HrisObject::TimeOffPolicies,
        HrisObject::TimeOffRequests,
        HrisObject::TimeOffBalances,
    ];

    /// Returns the object's slug: plural, snake_case (`"time_off_requests"`).
    pub fn slug(self) -> &'static str {
        match self {
            HrisObject::Employees => "employees",
            HrisObject::Employments => "employments",
            HrisObject::Compensations => "compensations",
            HrisObject::Groups => "groups",
            HrisObject::Locations => "locations",
            HrisObject::Companies => "companies",
            HrisObject::TimeOffPolicies => "time_off_policies",
            HrisObject::TimeOffRequests => "time_off_requests",
            HrisObject::TimeOffBalances => "time_off_balances",
        }
    }

    /// Returns the name of one record's type (`"Employee"`), used as its schema title.
    pub fn record_name(self) -> &'static str {
        match self {
            HrisObject::Employees => "Employee",
            HrisObject::Employments => "Employment",
            HrisObject::Compensations => "Compensation",
            HrisObject::Groups => "Group",
            HrisObject::Locations => "Location",
            HrisObject::Companies => "HrisCompany",
            HrisObject::TimeOffPolicies => "TimeOffPolicy",
            HrisObject::TimeOffRequests => "TimeOffRequest",
            HrisObject::TimeOffBalances => "TimeOffBalance",
        }
    }

    /// Returns true when the object accepts create and update bodies: employees and time-off
    /// requests in v1.
    pub fn supports_writes(self) -> bool {
        matches!(self, HrisObject::Employees | HrisObject::TimeOffRequests)
    }

    /// The fields withheld from records (set to null, or `[]` for lists) unless the caller
    /// asks for sensitive fields and the connection allows them.
    pub fn sensitive_fields(self) -> &'static [&'static str] {
        match self {
            HrisObject::Employees => &[
                "date_of_birth",
                "marital_status",
                "ethnicity",
                "national_ids",
                "bank_accounts",
                "home_address",
            ],
            HrisObject::Compensations => &["amount"],
            _ => &[],
        }
    }

    /// Returns the JSON Schema (draft 2020-12) of one record as the API returns it.
    pub fn schema(self) -> Value {
        static CACHE: [OnceLock<Value>; HrisObject::ALL.len()] = [const { OnceLock::new() }; 9];
        CACHE[self as usize]
            .get_or_init(|| build_record_schema(|generator| self.root_schema(generator)))
            .clone()
    }

    /// Returns the JSON Schema (draft 2020-12) of a create or update body (a schema no body
    /// satisfies for read-only objects).
    pub fn write_schema(self) -> Value {
        static CACHE: [OnceLock<Value>; HrisObject::ALL.len()] = [const { OnceLock::new() }; 9];
        CACHE[self as usize]
            .get_or_init(|| {
                build_write_schema(
                    &format!("hris.{}", self.slug()),
                    self.record_name(),
                    self.supports_writes(),
                    |generator| self.root_schema(generator),
                )
            })
            .clone()
    }

    fn root_schema(self, generator: SchemaGenerator) -> Value {
        let mut schema = match self {
            HrisObject::Employees => of::<Employee>(generator),
            HrisObject::Employments => of::<Employment>(generator),
            HrisObject::Compensations => of::<Compensation>(generator),
            HrisObject::Groups => of::<Group>(generator),
            HrisObject::Locations => of::<Location>(generator),
            HrisObject::Companies => of::<Company>(generator),
            HrisObject::TimeOffPolicies => of::<TimeOffPolicy>(generator),
            HrisObject::TimeOffRequests => of::<TimeOffRequest>(generator),
            HrisObject::TimeOffBalances => of::<TimeOffBalance>(generator),
        };
        // The CRM has a `Company` too; the HRIS one is titled apart in shared documents.
        if let Some(title) = schema.get_mut("title") {
            *title = Value::String(self.record_name().to_owned());
        }
        schema
    }

    fn round_trip(self, value: Value) -> Result<Value, ModelError> {
        match self {
            HrisObject::Employees => round_trip_as::<Employee>(value),
            HrisObject::Employments => round_trip_as::<Employment>(value),
            HrisObject::Compensations => round_trip_as::<Compensation>(value),
            HrisObject::Groups => round_trip_as::<Group>(value),
            HrisObject::Locations => round_trip_as::<Location>(value),
            HrisObject::Companies => round_trip_as::<Company>(value),
            HrisObject::TimeOffPolicies => round_trip_as::<TimeOffPolicy>(value),
            HrisObject::TimeOffRequests => round_trip_as::<TimeOffRequest>(value),
            HrisObject::TimeOffBalances => round_trip_as::<TimeOffBalance>(value),
        }
    }
}

impl fmt::Display for HrisObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// Checks a mapped HRIS record and returns it in the object's one stable shape (every field,
/// in schema order; see [`crate::crm::normalize_record`] for the conventions).
///
/// # Errors
/// As [`crate::crm::normalize_record`].
pub fn normalize_record(object: HrisObject, value: Value) -> Result<Value, ModelError> {
    let mut record = into_object(value)?;
    fill_ids(&mut record, ".")?;
    object.round_trip(Value::Object(record))
}

/// Checks an HRIS create or update body and returns it normalized, holding only the fields it
/// had.
///
/// # Errors
/// As [`crate::crm::parse_write_body`].
pub fn parse_write_body(object: HrisObject, value: Value) -> Result<Value, ModelError> {
    if !object.supports_writes() {
        return Err(ModelError::WritesNotSupported {
            object: object.slug(),
        });
    }
    static VALIDATORS: [OnceLock<jsonschema::Validator>; HrisObject::ALL.len()] =
        [const { OnceLock::new() }; HrisObject::ALL.len()];
    let body = check_write_body(value)?;
    let normalized = object.round_trip(body.clone())?;
    check_against_write_schema(
        &VALIDATORS[object as usize],
        || object.write_schema(),
        &body,
    )?;
    Ok(retain_present(&body, normalized))
}
