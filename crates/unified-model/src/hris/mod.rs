//! The unified HRIS objects (v1): employees, employments, compensations, groups, locations,
//! companies, time-off policies, time-off requests and time-off balances.
//!
//! The envelope is the CRM one (`id`, `remote_id`, vendor timestamps, `remote_deleted`,
//! `custom_fields`, opt-in `remote_data`). Two questions never share a field: whether a person
//! still works there (`employment_status`, with the vendor's raw value beside it) and whether the
//! record is gone from the vendor (`remote_deleted`). Some fields are sensitive (national ids,
//! date of birth, bank data, pay amounts): [`HrisObject::sensitive_fields`] names them, and the
//! runtime withholds them unless the caller asks and the connection allows. Vendor specifics
//! live in connectors, never here.

mod compensation;
mod employee;
mod employment;
mod object;
mod organisation;
mod time_off;

pub use compensation::{Compensation, CompensationType, PayFrequency, PayPeriod};
pub use employee::{BankAccount, Employee, EmploymentStatus, Gender, NationalId};
pub use employment::{Employment, EmploymentType};
pub use object::{HrisObject, normalize_record, parse_write_body};
pub use organisation::{Company, Group, GroupType, Location};
pub use time_off::{
    TimeOffBalance, TimeOffPolicy, TimeOffRequest, TimeOffRequestStatus, TimeOffType, TimeOffUnit,
};

#[cfg(test)]
mod tests;
