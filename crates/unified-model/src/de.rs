//! Deserialization helpers shared by the unified objects: what a mapped record may send that the
//! plain derive would refuse.
//!
//! JSONata mappings produce `null` for a list they found nothing for, and whole numbers as
//! floats (`250.0`); both are read as the caller meant them. Nothing here is lenient about
//! types: a string is still refused where a number belongs.

use serde::de::{Deserialize, Deserializer, Error};
use serde_json::Number;

use crate::error::ValueError;

/// Reads `null` as the type's default (`[]`, `{}`, `false`).
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads an optional non-negative whole number, accepting floats without a fractional part.
pub(crate) fn optional_u64<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    let Some(number) = Option::<Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(value) = number.as_u64() {
        return Ok(Some(value));
    }
    let float = number.as_f64().unwrap_or(f64::NAN);
    // 2^64 is exactly representable; every whole float below it fits in a u64.
    if float.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&float) {
        Ok(Some(float as u64))
    } else {
        Err(D::Error::custom(ValueError::WholeNumber(float)))
    }
}

/// Reads an optional whole number, accepting floats without a fractional part.
pub(crate) fn optional_i64<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    let Some(number) = Option::<Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(value) = number.as_i64() {
        return Ok(Some(value));
    }
    let float = number.as_f64().unwrap_or(f64::NAN);
    // -2^63 and 2^63 are exactly representable floats.
    let in_range = (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&float);
    if float.fract() == 0.0 && in_range {
        Ok(Some(float as i64))
    } else {
        Err(D::Error::custom(ValueError::WholeNumber(float)))
    }
}
