//! Tests of the jlens-core engine (our test oracle) through the public API: compile errors, variables, limits and
//! each native function called from an expression.

use std::time::Duration;

use serde_json::{Value, json};

use super::JlensEngine;
use super::char_offset;
use crate::{Engine, Expr, Limits, MappingError, Vars, native_functions};

fn compile(source: &str) -> Result<Expr, MappingError> {
    Expr::compile_with(&JlensEngine, source)
}

fn eval(source: &str, input: Value) -> Result<Option<Value>, MappingError> {
    compile(source)
        .expect("expression compiles")
        .evaluate(Some(&input), &Vars::new())
}

fn check(source: &str, input: Value, expected: Option<Value>) {
    assert_eq!(eval(source, input), Ok(expected), "{source}");
}

fn check_error(source: &str, input: Value, code: &str) -> MappingError {
    let error = eval(source, input).expect_err(source);
    assert_eq!(error.code, code, "{source}: {error}");
    error
}

#[test]
fn engine_is_named() {
    assert_eq!(JlensEngine.name(), "jlens");
    assert_eq!(crate::default_engine().name(), "crosswalk");
}

#[test]
fn compile_errors_carry_code_and_position() {
    let error = compile("Account.Order[").unwrap_err();
    assert_eq!(error.code, "S0203");
    assert!(error.position.is_some());
    assert!(
        error.to_string().starts_with("`S0203` at position"),
        "{error}"
    );

    let error = compile("1 + ").unwrap_err();
    assert_eq!(error.code, "S0207");

    let error = compile("foo(").unwrap_err();
    assert!(error.code.starts_with('S'), "{error}");
}

#[test]
fn positions_count_characters_not_utf16_units() {
    // `𝒳` is one character but two UTF-16 code units.
    let ascii = compile("'ab' = = 1").unwrap_err();
    let astral = compile("'𝒳' = = 1").unwrap_err();
    assert_eq!(ascii.code, astral.code);
    assert_eq!(astral.position, ascii.position.map(|p| p - 1));
    assert_eq!(char_offset("𝒳ab", 3), 2);
    assert_eq!(char_offset("𝒳ab", 0), 0);
    assert_eq!(char_offset("ab", 10), 2);
}

#[test]
fn evaluation_errors_carry_code_and_position() {
    let error = check_error("$x := 1 + 'a'", json!(null), "T2002");
    assert_eq!(error.position, Some(9));
    check_error("$undefinedFunction()", json!(null), "T1006");
}

#[test]
fn expr_is_cheap_to_clone_and_shows_its_source() {
    let expr = compile("a.b").unwrap();
    let clone = expr.clone();
    assert_eq!(clone.source(), "a.b");
    assert_eq!(format!("{expr:?}"), r#"Expr("a.b")"#);
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Expr>();
    assert_send_sync::<Vars>();
}

#[test]
fn undefined_input_and_result() {
    let expr = compile("a").unwrap();
    assert_eq!(expr.evaluate(None, &Vars::new()), Ok(None));
    assert_eq!(
        expr.evaluate(Some(&json!({"b": 1})), &Vars::new()),
        Ok(None)
    );
    assert_eq!(
        expr.evaluate(Some(&json!({"a": [1, 2]})), &Vars::new()),
        Ok(Some(json!([1, 2])))
    );
}

#[test]
fn vars_are_bound_and_reused() {
    let expr = compile("$prefix & name & $suffix.text").unwrap();
    let vars = Vars::new()
        .with("prefix", json!("Dr. "))
        .with("suffix", json!({"text": " PhD"}));
    for name in ["Ada", "Grace"] {
        assert_eq!(
            expr.evaluate(Some(&json!({"name": name})), &vars),
            Ok(Some(json!(format!("Dr. {name} PhD"))))
        );
    }
    let mut changed = vars.clone();
    changed.insert("prefix", json!("Prof. "));
    assert_eq!(
        expr.evaluate(Some(&json!({"name": "Ada"})), &changed),
        Ok(Some(json!("Prof. Ada PhD")))
    );
    // The original is unchanged by its clone's insert.
    assert_eq!(
        expr.evaluate(Some(&json!({"name": "Ada"})), &vars),
        Ok(Some(json!("Dr. Ada PhD")))
    );
}

#[test]
fn native_functions_work_next_to_variables() {
    let vars = Vars::new().with("region", json!("US"));
    let expr = compile("$e164(phone, $region)").unwrap();
    assert_eq!(
        expr.evaluate(Some(&json!({"phone": "(415) 555-2671"})), &vars),
        Ok(Some(json!("+14155552671")))
    );
}

#[test]
fn infinite_recursion_is_stopped() {
    let expr = compile("($f := function($n) { $n + $f($n + 1) }; $f(0))").unwrap();
    let error = expr.evaluate(None, &Vars::new()).unwrap_err();
    assert_eq!(error.code, "D1011", "{error}");
}

#[test]
fn infinite_tail_recursion_is_stopped() {
    let expr = compile("($f := function() { $f() }; $f())").unwrap();
    let error = expr.evaluate(None, &Vars::new()).unwrap_err();
    assert!(
        ["D1011", "D1012", "U1006"].contains(&error.code.as_str()),
        "{error}"
    );
}

#[test]
fn huge_range_is_stopped() {
    // Stopped by a limit (which one depends on how fast the machine is), not run to its end.
    let expr = compile("[1..10000000].($)").unwrap();
    let error = expr.evaluate(None, &Vars::new()).unwrap_err();
    assert!(["D1012", "U1006"].contains(&error.code.as_str()), "{error}");
}

#[test]
fn step_cap_is_applied() {
    let expr = compile("$sum([1..1000].($ * 2))").unwrap();
    assert_eq!(
        expr.evaluate(None, &Vars::new()),
        Ok(Some(json!(1_001_000)))
    );
    let limits = Limits {
        max_steps: Some(100),
        ..Limits::default()
    };
    let error = expr.evaluate_with(None, &Vars::new(), &limits).unwrap_err();
    assert_eq!(error.code, "U1006");
}

#[test]
fn depth_cap_is_applied() {
    let expr = compile("($f := function($n) { $n = 0 ? 0 : 1 + $f($n - 1) }; $f(50))").unwrap();
    assert_eq!(expr.evaluate(None, &Vars::new()), Ok(Some(json!(50))));
    let limits = Limits {
        max_depth: 20,
        ..Limits::default()
    };
    let error = expr.evaluate_with(None, &Vars::new(), &limits).unwrap_err();
    assert_eq!(error.code, "D1011");
}

#[test]
fn timeout_is_applied() {
    let limits = Limits {
        max_steps: None,
        timeout: Duration::from_millis(20),
        ..Limits::default()
    };
    let expr = compile("($f := function() { $f() }; $f())").unwrap();
    let error = expr.evaluate_with(None, &Vars::new(), &limits).unwrap_err();
    assert_eq!(error.code, "D1012", "{error}");
}

#[test]
fn native_names_do_not_shadow_built_ins() {
    let built_ins: Vec<String> = jlens_core::function_catalog()
        .into_iter()
        .map(|info| info.name.trim_start_matches('$').to_owned())
        .collect();
    assert!(
        built_ins.iter().any(|name| name == "lookup"),
        "{built_ins:?}"
    );
    for doc in native_functions() {
        assert!(
            !built_ins.iter().any(|name| name == doc.name),
            "{} shadows a built-in",
            doc.name
        );
    }
}

#[test]
fn built_in_lookup_still_works() {
    check("$lookup({'a': 1}, 'a')", json!(null), Some(json!(1)));
}

#[test]
fn parse_date_from_expressions() {
    check(
        "$parseDate(CreatedDate)",
        json!({"CreatedDate": "2024-01-15T10:20:30.000+0000"}),
        Some(json!("2024-01-15T10:20:30Z")),
    );
    check(
        "CreatedDate.$parseDate()",
        json!({"CreatedDate": "2024-01-15T10:20:30.000+0000"}),
        Some(json!("2024-01-15T10:20:30Z")),
    );
    check("$parseDate(missing)", json!({}), None);
    check(
        "$parseDate(d, '%d/%m/%Y %H:%M')",
        json!({"d": "15/01/2024 10:20"}),
        Some(json!("2024-01-15T10:20:00Z")),
    );
    let error = check_error(
        "$parseDate(d, '%d/%m/%Y')",
        json!({"d": "2024-01-15"}),
        "CW001",
    );
    assert_eq!(error.position, Some(11));
    assert_eq!(
        error.to_string(),
        "`CW001` at position 11: `2024-01-15` does not match the date format `%d/%m/%Y`"
    );
    check_error("$parseDate(d, 5)", json!({"d": "2024-01-15"}), "T0410");
}

#[test]
fn epoch_functions_from_expressions() {
    check(
        "$toEpochMs('2024-01-15T10:20:30Z')",
        json!(null),
        Some(json!(1_705_314_030_000_i64)),
    );
    check(
        "$fromEpochMs(1705314030000)",
        json!(null),
        Some(json!("2024-01-15T10:20:30.000Z")),
    );
    check(
        "$fromEpochMs($toEpochMs(d))",
        json!({"d": "2024-01-15"}),
        Some(json!("2024-01-15T00:00:00.000Z")),
    );
}

#[test]
fn format_date_from_expressions() {
    check(
        "$formatDate(since, '%Y-%m-%dT%H:%M:%SZ')",
        json!({"since": 1_705_314_030_000_i64}),
        Some(json!("2024-01-15T10:20:30Z")),
    );
    check_error("$formatDate('2024-01-15', '%Q')", json!(null), "CW002");
}

#[test]
fn remove_empty_from_expressions() {
    check(
        "$removeEmpty({'a': x, 'b': '', 'c': [y], 'd': {'e': null}, 'f': 1})",
        json!({"x": null}),
        Some(json!({"f": 1})),
    );
    check("$removeEmpty({'a': ''})", json!(null), None);
}

#[test]
fn first_non_empty_from_expressions() {
    check(
        "$firstNonEmpty(a, b, c, 'd')",
        json!({"b": "", "c": "x"}),
        Some(json!("x")),
    );
    check("$firstNonEmpty(a, b)", json!({"a": null}), None);
    check("$firstNonEmpty(nothing, 0)", json!({}), Some(json!(0)));
}

#[test]
fn coercions_from_expressions() {
    check("$toNumber(n)", json!({"n": "1,234.5"}), Some(json!(1234.5)));
    check("n.$toNumber()", json!({"n": "12.5"}), Some(json!(12.5)));
    check("$toNumber(n)", json!({"n": "garbage"}), None);
    check("$toInteger(n)", json!({"n": "12.9"}), Some(json!(12)));
    check("$toBoolean(b)", json!({"b": "Yes"}), Some(json!(true)));
    check("$toBoolean(b)", json!({"b": "perhaps"}), None);
}

#[test]
fn map_value_from_expressions() {
    let table = "{'New': 'lead', 'Won': 'customer'}";
    check(
        &format!("$mapValue(s, {table})"),
        json!({"s": "Won"}),
        Some(json!("customer")),
    );
    check(
        &format!("$mapValue(s, {table}, 'other')"),
        json!({"s": "Lost"}),
        Some(json!("other")),
    );
    check(
        &format!("$mapValue(s, {table})"),
        json!({"s": "Lost"}),
        None,
    );
    let vars = Vars::new().with("stages", json!({"1": "open", "2": "closed"}));
    let expr = compile("$mapValue(stage, $stages)").unwrap();
    assert_eq!(
        expr.evaluate(Some(&json!({"stage": 2})), &vars),
        Ok(Some(json!("closed")))
    );
}

#[test]
fn e164_from_expressions() {
    check(
        "$e164(p)",
        json!({"p": "+44 20 7946 0018"}),
        Some(json!("+442079460018")),
    );
    check(
        "$e164(p, 'US')",
        json!({"p": "415.555.2671"}),
        Some(json!("+14155552671")),
    );
    check("$e164(p)", json!({"p": "call me"}), None);
    check_error("$e164(p, 'ZZ')", json!({"p": "1"}), "CW003");
}

#[test]
fn escapes_from_expressions() {
    check(
        "\"Name = '\" & $soqlEscape(n) & \"'\"",
        json!({"n": "O'Brien"}),
        Some(json!("Name = 'O\\'Brien'")),
    );
    check(
        "\"name eq '\" & $odataEscape(n) & \"'\"",
        json!({"n": "O'Brien"}),
        Some(json!("name eq 'O''Brien'")),
    );
}

#[test]
fn split_name_from_expressions() {
    check(
        "$splitName(n).last",
        json!({"n": "Ada Lovelace"}),
        Some(json!("Lovelace")),
    );
    check(
        "$splitName(n)",
        json!({"n": "Lovelace, Ada"}),
        Some(json!({"first": "Ada", "last": "Lovelace"})),
    );
}

#[test]
fn chunk_from_expressions() {
    check(
        "$chunk(ids, 2)",
        json!({"ids": [1, 2, 3]}),
        Some(json!([[1, 2], [3]])),
    );
    check(
        "$chunk(ids, 2)",
        json!({"ids": [1, 2]}),
        Some(json!([[1, 2]])),
    );
    check("$chunk(ids, 2)", json!({"ids": 7}), Some(json!([[7]])));
    check(
        "$count($chunk(ids, 2))",
        json!({"ids": [1, 2, 3, 4, 5]}),
        Some(json!(3)),
    );
    check_error("$chunk(ids, 0)", json!({"ids": [1]}), "CW004");
}

#[test]
fn variables_shadow_native_functions() {
    let vars = Vars::new().with("chunk", json!("a variable"));
    let expr = compile("$chunk").unwrap();
    assert_eq!(expr.evaluate(None, &vars), Ok(Some(json!("a variable"))));
}
