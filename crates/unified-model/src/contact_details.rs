//! Contact details shared by people and organisations: email addresses, phone numbers and
//! postal addresses, each with a closed set of types.
//!
//! The type enums are strict: a connector maps a vendor's own labels onto them, using `OTHER`
//! (or null) for anything it does not recognise, so an unknown label never breaks a record.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::scalar::E164;

/// An email address of a person or organisation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EmailAddress {
    /// The address as the vendor holds it.
    pub email_address: Option<String>,
    /// What the address is used for.
    #[serde(rename = "type")]
    pub kind: Option<EmailAddressType>,
    /// True for the one address the vendor treats as the main one.
    #[serde(deserialize_with = "crate::de::null_as_default")]
    pub is_primary: bool,
}

/// What an email address is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EmailAddressType {
    /// The main address, when the vendor marks one without saying more.
    Primary,
    /// A work address.
    Work,
    /// A personal address.
    Personal,
    /// Any other use.
    Other,
}

/// A phone number of a person or organisation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PhoneNumber {
    /// The number in E.164 form (`+14155550100`); null when the vendor's text could not be
    /// read as a full international number.
    pub phone_number: Option<E164>,
    /// The number exactly as the vendor holds it.
    pub raw: Option<String>,
    /// What the number is used for.
    #[serde(rename = "type")]
    pub kind: Option<PhoneNumberType>,
    /// True for the one number the vendor treats as the main one.
    #[serde(deserialize_with = "crate::de::null_as_default")]
    pub is_primary: bool,
}

/// What a phone number is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PhoneNumberType {
    /// A work landline.
    Work,
    /// A mobile phone.
    Mobile,
    /// A home landline.
    Home,
    /// A fax machine.
    Fax,
    /// Any other use.
    Other,
}

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Address {
    /// First line of the street address.
    pub street_1: Option<String>,
    /// Second line of the street address.
    pub street_2: Option<String>,
    /// City or locality.
    pub city: Option<String>,
    /// State, province or region.
    pub state: Option<String>,
    /// Postal or ZIP code.
    pub postal_code: Option<String>,
    /// Country: an ISO 3166-1 alpha-2 code (`US`) when the vendor has one, else the vendor's text.
    pub country: Option<String>,
    /// What the address is used for.
    #[serde(rename = "type")]
    pub kind: Option<AddressType>,
}

/// What a postal address is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AddressType {
    /// Where invoices go.
    Billing,
    /// Where goods go.
    Shipping,
    /// Where letters go.
    Mailing,
    /// A home address.
    Home,
    /// A work address.
    Work,
    /// Any other use.
    Other,
}
