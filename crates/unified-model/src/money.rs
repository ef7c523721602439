//! Money: an exact amount with its currency.
//!
//! Amounts are decimal strings, never floats, so `1500.10` stays `1500.10` from vendor to client.
//! Currency conversion is out of scope: an amount is reported in the currency the vendor holds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::scalar::{CurrencyCode, Decimal};

/// An amount of money in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// The amount as a decimal string, such as `"1500.50"`; negative amounts start with `-`.
    pub amount: Decimal,
    /// ISO 4217 code of the currency, such as `"USD"`; null when the vendor does not say.
    #[serde(default)]
    pub currency: Option<CurrencyCode>,
}
