//! Route handlers, one module per resource family.

pub mod api_keys;
pub mod connect;
pub mod connections;
pub mod environment;
pub mod events;
pub mod idempotency;
pub mod inbound;
pub mod meta;
pub mod overrides;
pub mod proxy;
pub mod syncs;
pub mod unified;
pub mod webhooks;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use serde_json::{Number, Value};

use crate::ApiError;

/// A JSON body whose rejections answer problem+json naming what was wrong.
///
/// Numbers are read as JSON Schema reads them: an integer is a number with no fractional part,
/// so `134.0` fills an integer field as `134` does (the documents say `"type": "integer"`, and
/// a generated client or another language's encoder may write integral floats).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<Value>::from_request(request, state).await?;
        read_body(value).map(JsonBody)
    }
}

/// A JSON body the caller may leave out: an empty (or blank) body is `T::default()`, any other
/// is read as [`JsonBody`] reads it.
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJsonBody<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|error| ApiError::BadRequest {
                code: "invalid_body",
                field: Some("body".to_owned()),
                detail: format!("the body is not JSON: {error}"),
            })?;
        read_body(value).map(OptionalJsonBody)
    }
}

/// Reads a body's JSON `value` as a `T`, as the documents state it.
fn read_body<T: DeserializeOwned>(mut value: Value) -> Result<T, ApiError> {
    // Every body of the API is an object (serde would read a struct from an array too).
    if !value.is_object() {
        return Err(ApiError::BadRequest {
            code: "invalid_body",
            field: Some("body".to_owned()),
            detail: "must be a JSON object".to_owned(),
        });
    }
    integral_floats_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let detail = error.into_inner().to_string();
        // A missing field is named itself, not the object that lacks it.
        let missing = detail
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name);
        let field = match (path.as_str(), missing) {
            (".", Some(name)) => name.to_owned(),
            (".", None) => "body".to_owned(),
            (_, Some(name)) => format!("{path}.{name}"),
            (_, None) => path,
        };
        ApiError::BadRequest {
            code: "invalid_body",
            field: Some(field),
            detail,
        }
    })
}

/// For an optional body field the documents type without `null`: absent is `None`, and an
/// explicit `null` is refused as the wrong type like any other (`#[serde(default,
/// deserialize_with = "not_null")]`).
///
/// # Errors
/// The value is not a `T` (`null` included).
/// What a request's Debug output shows in place of a secret.
pub(crate) const REDACTED: &str = "<redacted>";

pub fn not_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// An object nested in a body. serde's derived structs also read a JSON array (the fields'
/// values in order), which no document of the API allows; this reads a JSON object only, and
/// errors inside it keep their path (`syncs[0].every_secs`).
#[derive(Debug)]
pub struct Object<T>(pub T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Fields<T> {
            type Value = T;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(Fields(std::marker::PhantomData))
            .map(Object)
    }
}

/// Rewrites every number with no fractional part that fits an `i64` or `u64` (`134.0`, `1e3`)
/// as that integer, in place.
fn integral_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(number) => {
            if let Some(integer) = integral(number) {
                *number = integer;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

/// The integer `number` is, when it is written as a float but has no fractional part.
fn integral(number: &Number) -> Option<Number> {
    if number.is_i64() || number.is_u64() {
        return None;
    }
    let text = number.to_string();
    if !text.contains(['.', 'e', 'E']) {
        return None;
    }
    let float = number.as_f64()?;
    if float.fract() != 0.0 || !float.is_finite() {
        return None;
    }
    // Exactly, from the text: `as_f64` rounds beyond 2^53.
    let exact = rust_decimal::Decimal::from_scientific(&text)
        .or_else(|_| text.parse::<rust_decimal::Decimal>())
        .ok()?;
    if !exact.fract().is_zero() {
        return None;
    }
    let exact = exact.normalize();
    if let Ok(integer) = i64::try_from(exact) {
        return Some(Number::from(integer));
    }
    u64::try_from(exact).ok().map(Number::from)
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::TooLarge;
        }
        ApiError::BadRequest {
            code: "invalid_body",
            field: Some("body".to_owned()),
            detail: rejection.body_text(),
        }
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::TooLarge;
        }
        ApiError::BadRequest {
            code: "invalid_body",
            field: Some("body".to_owned()),
            detail: rejection.body_text(),
        }
    }
}

impl<T: serde::Serialize> IntoResponse for JsonBody<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    /// Request bodies and queries that carry secrets show none in their Debug output (a
    /// `tracing` field or a panic message that prints one logs no secret).
    #[test]
    fn requests_with_secrets_debug_without_them() {
        let secret = "s3cr3t-value-never-printed";
        let shown = [
            format!(
                "{:?}",
                serde_json::from_value::<super::inbound::IngressRequest>(
                    serde_json::json!({"secret": secret})
                )
                .expect("parses")
            ),
            format!(
                "{:?}",
                serde_json::from_value::<super::environment::PutOAuthApp>(
                    serde_json::json!({"client_id": "id", "client_secret": secret, "redirect_uris": []})
                )
                .expect("parses")
            ),
            format!(
                "{:?}",
                serde_json::from_value::<super::connections::CreateConnection>(
                    serde_json::json!({"provider": "acme", "fields": {"api_key": secret}})
                )
                .expect("parses")
            ),
            format!(
                "{:?}",
                serde_json::from_value::<super::connect::TokenQuery>(
                    serde_json::json!({"token": secret})
                )
                .expect("parses")
            ),
            format!(
                "{:?}",
                serde_json::from_value::<super::connect::StartQuery>(
                    serde_json::json!({"token": secret, "provider": "acme"})
                )
                .expect("parses")
            ),
            format!(
                "{:?}",
                serde_json::from_value::<super::connect::CallbackQuery>(
                    serde_json::json!({"code": secret, "state": secret})
                )
                .expect("parses")
            ),
        ];
        for debug in shown {
            assert!(!debug.contains(secret), "{debug}");
        }
    }

    use serde_json::{Value, json};

    use super::integral_floats_as_integers;

    fn read(text: &str) -> Value {
        let mut value: Value = serde_json::from_str(text).expect("JSON");
        integral_floats_as_integers(&mut value);
        value
    }

    #[test]
    fn integral_floats_become_integers_and_nothing_else_changes() {
        assert_eq!(read("134.0"), json!(134));
        assert_eq!(read("1e3"), json!(1000));
        assert_eq!(read("-2.50e1"), json!(-25));
        assert_eq!(read("-0.0"), json!(0));
        // Beyond i64, within u64; beyond both stays a float (and fits no integer field).
        assert_eq!(
            read("18446744073709551615.0"),
            json!(18_446_744_073_709_551_615_u64)
        );
        let beyond = read("1e30");
        assert!(!beyond.is_i64() && !beyond.is_u64(), "{beyond}");
        // Fractions, integers, strings and nesting.
        assert_eq!(read("1.5").to_string(), "1.5");
        assert_eq!(
            read("12345678901234567.89").to_string(),
            "12345678901234567.89"
        );
        assert_eq!(
            read(r#"{"a": [2.0, "3.0", 4], "b": {"c": 7.00}}"#),
            json!({"a": [2, "3.0", 4], "b": {"c": 7}})
        );
    }
}
