//! Every whole-number field of a write body states the range the server parses (issue 15: a
//! HubSpot company's `number_of_employees` of 1.17e23 was refused with "not a whole number in
//! range" although the document stated no maximum), and the parse agrees with the document at
//! both ends: the bound is taken, one past it refused naming the field.

use serde_json::Value;
use unified_model::UnifiedObject;

/// A JSON number written out in full (one past `u64::MAX` is no `u64`, so it is made from its
/// text, as a request's body is).
fn number(value: i128) -> Value {
    serde_json::from_str(&value.to_string()).expect("a JSON number")
}

#[test]
fn whole_number_fields_state_the_range_the_parse_takes() {
    let mut checked = 0;
    for object in UnifiedObject::all().filter(|object| object.supports_writes()) {
        let schema = object.write_schema();
        let properties = schema["properties"].as_object().expect("properties");
        for (name, property) in properties {
            let integer = match &property["type"] {
                Value::String(single) => single == "integer",
                Value::Array(types) => types.iter().any(|kind| kind == "integer"),
                _ => false,
            };
            if !integer {
                continue;
            }
            let bound = |key: &str| {
                property[key]
                    .as_i64()
                    .map(i128::from)
                    .or_else(|| property[key].as_u64().map(i128::from))
                    .unwrap_or_else(|| {
                        panic!("{}.{name} states no {key}: {property}", object.key())
                    })
            };
            for (at_bound, past_bound) in [
                (bound("minimum"), bound("minimum") - 1),
                (bound("maximum"), bound("maximum") + 1),
            ] {
                let body = |value: i128| {
                    let mut body = serde_json::Map::new();
                    body.insert(name.clone(), number(value));
                    Value::Object(body)
                };
                let taken = object.parse_write_body(body(at_bound));
                assert!(
                    taken.is_ok(),
                    "{}.{name} = {at_bound}: {taken:?}",
                    object.key()
                );
                let refused = object
                    .parse_write_body(body(past_bound))
                    .expect_err(&format!("{}.{name} = {past_bound}", object.key()));
                assert_eq!(refused.path(), Some(name.as_str()), "{refused}");
            }
            checked += 1;
        }
    }
    // number_of_employees and duration_seconds at least.
    assert!(checked >= 2, "{checked} whole-number fields checked");
}
