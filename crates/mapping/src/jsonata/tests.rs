//! Tests of our own engine through the public API: compile errors, variables, limits (each
//! abuse that once ran past them), and each native function called from an expression.

use std::time::Duration;

use serde_json::{Value, json};

use super::OwnEngine;
use super::functions::is_jsonata_builtin;
use crate::{Engine, Expr, Limits, MappingError, Vars, native_functions};

fn compile(source: &str) -> Result<Expr, MappingError> {
    Expr::compile_with(&OwnEngine, source)
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
    assert_eq!(OwnEngine.name(), "crosswalk");
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
    assert!(
        ["D1012", "U1006", "D1014"].contains(&error.code.as_str()),
        "{error}"
    );
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
    assert!(is_jsonata_builtin("lookup"));
    for doc in native_functions() {
        assert!(
            !is_jsonata_builtin(doc.name),
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

/// Evaluates under the default limits, expecting the error `code`, within `within`.
fn stopped(source: &str, limits: &Limits, code: &str, limit: &str) {
    let error = compile(source)
        .unwrap()
        .evaluate_with(None, &Vars::new(), limits)
        .expect_err(source);
    assert_eq!(error.code, code, "{source}: {error}");
    assert!(error.message.contains(limit), "{source}: {error}");
}

#[test]
fn abuses_stop_at_the_item_cap_by_default() {
    let limits = Limits::default();
    for source in [
        "($x := $count($distinct([1..40000])); $x)",
        "$distinct([1..120000])",
        "$zip([1..10000000], [1..10000000])",
        "$sum([1..10000000])",
    ] {
        stopped(source, &limits, "D1014", "max_items");
    }
}

#[test]
fn abuses_stop_at_fuel_inside_built_ins() {
    let limits = Limits {
        max_items: usize::MAX,
        max_steps: Some(50_000),
        max_alloc_bytes: usize::MAX,
        ..Limits::default()
    };
    stopped(
        "$count($distinct([1..40000]))",
        &limits,
        "U1006",
        "max_steps",
    );
    stopped("$sum([1..10000000])", &limits, "U1006", "max_steps");
    stopped(
        "$sort([1..50000], function($a, $b) { $a < $b })",
        &limits,
        "U1006",
        "max_steps",
    );
}

#[test]
fn abuses_stop_at_the_allocation_cap() {
    let limits = Limits {
        max_items: usize::MAX,
        max_steps: None,
        max_alloc_bytes: 1 << 20,
        ..Limits::default()
    };
    stopped(
        "$distinct([1..120000])",
        &limits,
        "D1013",
        "max_alloc_bytes",
    );
    stopped(
        "$zip([1..10000000], [1..10000000])",
        &limits,
        "D1013",
        "max_alloc_bytes",
    );
}

#[test]
fn abuses_stop_at_the_deadline_inside_built_ins() {
    let limits = Limits {
        max_items: usize::MAX,
        max_steps: None,
        max_alloc_bytes: usize::MAX,
        timeout: Duration::from_millis(50),
        ..Limits::default()
    };
    stopped(
        "$sort([1..300000], function($a, $b) { $a < $b })",
        &limits,
        "D1012",
        "timeout",
    );
}

#[test]
fn strings_are_refused_before_they_are_built() {
    let limits = Limits {
        max_string_bytes: 1000,
        ..Limits::default()
    };
    stopped("$pad('', 100000000)", &limits, "D1015", "max_string_bytes");
    stopped(
        "$join($map([1..100], function() { 'xxxxxxxxxxxxxxxxxxxx' }))",
        &limits,
        "D1015",
        "max_string_bytes",
    );
}

#[test]
fn output_is_capped() {
    let limits = Limits {
        max_output_bytes: 1000,
        ..Limits::default()
    };
    stopped("[1..1000]", &limits, "D1016", "max_output_bytes");
    let input = json!({"big": "x".repeat(2000)});
    let error = compile("big")
        .unwrap()
        .evaluate_with(Some(&input), &Vars::new(), &limits)
        .unwrap_err();
    assert_eq!(error.code, "D1016");
}

#[test]
fn closures_bound_in_their_own_scope_are_freed() {
    // A function bound in the scope it closes over: the scope is cleared when the
    // evaluation ends, so repeated evaluations do not accumulate.
    let expr = compile("($f := function($n) { $n < 1 ? 0 : $f($n - 1) }; $f(3))").unwrap();
    for _ in 0..3 {
        assert_eq!(expr.evaluate(None, &Vars::new()), Ok(Some(json!(0))));
    }
}

#[test]
fn remove_empty_over_our_values_matches_the_native_function() {
    let inputs = [
        json!({"a": null, "b": "", "c": [], "d": {}, "e": 0, "f": false,
               "g": {"h": {"i": null}, "j": [null, "", {"k": ""}, 1]}, "l": "x"}),
        json!({"a": {"b": [null]}}),
        json!(""),
        json!("x"),
        json!([null, [""], [1, {"z": null}]]),
    ];
    let expr = compile("$removeEmpty($)").unwrap();
    for input in inputs {
        let implementation = crate::native::NATIVE_FUNCTIONS
            .iter()
            .find(|function| function.doc.name == "removeEmpty")
            .unwrap()
            .implementation;
        let native = crate::native::tests::call(implementation, std::slice::from_ref(&input));
        assert_eq!(
            expr.evaluate(Some(&input), &Vars::new()),
            Ok(native),
            "{input}"
        );
    }
}

#[test]
fn higher_order_functions_rebind_one_scope_per_loop_correctly() {
    check(
        "$map([1, 2, 3], function($x) { $x * 2 })",
        json!(null),
        Some(json!([2, 4, 6])),
    );
    check(
        r#"$sift({"a": 1, "b": 2, "c": 3}, function($v, $k) { $k in ["a", "c"] })"#,
        json!(null),
        Some(json!({"a": 1, "c": 3})),
    );
    check(
        "$filter([1, 2, 3, 4], function($v, $i, $a) { $i < $count($a) - 1 and $v > 1 })",
        json!(null),
        Some(json!([2, 3])),
    );
    // An inner lambda closes over the outer call's `$x`: the outer scope is not reused.
    check(
        "$map([1, 2], function($x) { $map([10, 20], function($y) { $x + $y }) })",
        json!(null),
        Some(json!([[11, 21], [12, 22]])),
    );
    // A binding inside the body stays in its call.
    check(
        "$map([1, 2], function($x) { ($y := $x * 10; $y + $x) })",
        json!(null),
        Some(json!([11, 22])),
    );
    // Recursion from a reused scope, and a parameter left undefined.
    check(
        "($f := function($n) { $n <= 1 ? 1 : $n * $f($n - 1) }; $map([3, 4], function($x) { $f($x) }))",
        json!(null),
        Some(json!([6, 24])),
    );
    check(
        r#"$each({"a": 1, "b": 2}, function($v, $k, $o) { $k & $v & $exists($o.a) })"#,
        json!(null),
        Some(json!(["a1true", "b2true"])),
    );
}

#[test]
fn in_against_a_bound_list_compares_by_value() {
    let vars = Vars::new().with("keys", json!(["a", 1, true, null]));
    let expr = compile(
        r#"[ "a" in $keys, 1 in $keys, true in $keys, null in $keys, "b" in $keys, 2 in $keys ]"#,
    )
    .expect("compiles");
    assert_eq!(
        expr.evaluate(None, &vars),
        Ok(Some(json!([true, true, true, true, false, false])))
    );
}

#[test]
fn a_bound_name_hides_the_built_in_of_that_name() {
    check(
        r#"($string := function($x) { "mine" }; $string(1))"#,
        json!(null),
        Some(json!("mine")),
    );
    check(
        "(function($uppercase) { $uppercase('a') })(function($x) { 'param' })",
        json!(null),
        Some(json!("param")),
    );
    check("[1, 2]@$length.$length", json!(null), Some(json!([1, 2])));
    check("$length('abc')", json!(null), Some(json!(3)));
}

#[test]
fn picture_functions_agree_with_the_jlens_oracle() {
    let jlens = crate::engine_named("jlens").expect("the jlens engine");
    let expressions = [
        "$formatNumber(1234567.891, '#,##0.00')",
        "$formatNumber(-0.5, '0.0%')",
        "$formatNumber(12345, '0.00e0')",
        "$formatNumber(1234.5, '#.##0,00', {'decimal-separator': ',', 'grouping-separator': '.'})",
        "$formatInteger(1999, 'I')",
        "$formatInteger(123456, 'w')",
        "$formatInteger(21, '1;o')",
        "$formatInteger(1234567, '#,##0')",
        "$parseInteger('MCMXCIX', 'I')",
        "$parseInteger('one hundred and twenty-three', 'w')",
        "$parseInteger('1,234,567', '#,##0')",
        "$fromMillis(1517478133123, '[Y0001]-[M01]-[D01] [H01]:[m01]:[s01].[f001] [Z]')",
        "$fromMillis(1517478133123, '[FNn], [D1o] [MNn] [Y] [h]:[m01] [PN]', '-0500')",
        "$fromMillis(1517478133123, '[X0001]-W[W01]-[F1]')",
        "$fromMillis(1517478133123, undefined, '+0530')",
        "$toMillis('2018-02-01T09:42:13.123+0000')",
        "$toMillis('2018')",
        "$toMillis('01/02/2018 11:15', '[D01]/[M01]/[Y0001] [H01]:[m01]')",
        "$toMillis('Thursday, 1st February 2018', '[FNn], [D1o] [MNn] [Y0001]')",
    ];
    for source in expressions {
        let ours = eval(source, json!(null));
        let theirs = Expr::compile_with(jlens, source)
            .expect("compiles")
            .evaluate(None, &Vars::new());
        assert_eq!(ours, theirs, "{source}");
    }
}

#[test]
fn loop_invariant_parts_of_a_lambda_body_keep_their_meaning() {
    // Parts that do not read a parameter are evaluated once per loop...
    check(
        "$map([1, 2], function($v) { $v & $string($count([1, 2, 3])) })",
        json!(null),
        Some(json!(["13", "23"])),
    );
    // ...but not a call that may differ each time, nor one never reached.
    check(
        "$count($distinct($map([1..50], function($v) { $random() }))) > 1",
        json!(null),
        Some(json!(true)),
    );
    check(
        "($g := $random; $count($distinct($map([1..50], function($v) { $g() }))) > 1)",
        json!(null),
        Some(json!(true)),
    );
    check(
        r#"$map([1, 2], function($v) { $v > 5 and $error("never evaluated") })"#,
        json!(null),
        Some(json!([false, false])),
    );
    check(
        "$map([], function($v) { $error('no items') })",
        json!(null),
        None,
    );
    check_error(
        "$map([1], function($v) { $error('one item') })",
        json!(null),
        "D3137",
    );
}

#[test]
fn merge_and_remove_empty_never_change_a_value_held_elsewhere() {
    check(
        r#"($o := {"a": 1, "b": null}; [$removeEmpty($o), $o])"#,
        json!(null),
        Some(json!([{"a": 1}, {"a": 1, "b": null}])),
    );
    check(
        r#"($a := {"x": 1}; [$merge([$a, {"y": 2}]), $a])"#,
        json!(null),
        Some(json!([{"x": 1, "y": 2}, {"x": 1}])),
    );
    check(
        r#"($n := {"k": ""}; $r := $removeEmpty({"n": $n, "m": 1}); [$r, $n])"#,
        json!(null),
        Some(json!([{"m": 1}, {"k": ""}])),
    );
    check(
        r#"$removeEmpty($merge([{"a": "", "b": [null, {}], "c": 0}, c, {"d": false}]))"#,
        json!({"c": {"e": "x", "f": null}}),
        Some(json!({"c": 0, "e": "x", "d": false})),
    );
}

#[test]
fn first_non_empty_and_map_value_over_values_match_their_json_definition() {
    check(
        r#"$firstNonEmpty(null, "", function() { 1 }, "x")"#,
        json!(null),
        Some(json!("x")),
    );
    check(
        "$firstNonEmpty(a, b)",
        json!({"a": "", "b": {"c": [1]}}),
        Some(json!({"c": [1]})),
    );
    check(
        "$firstNonEmpty(null, [1, 2])",
        json!(null),
        Some(json!([1, 2])),
    );
    check("$firstNonEmpty(null, '')", json!(null), None);
    check(
        r#"$mapValue(2, {"2": "two"})"#,
        json!(null),
        Some(json!("two")),
    );
    check(
        r#"$mapValue(1.50, {"1.5": "x"})"#,
        json!(null),
        Some(json!("x")),
    );
    check(
        r#"$mapValue(true, {"true": "yes"})"#,
        json!(null),
        Some(json!("yes")),
    );
    check(r#"$mapValue(null, {"null": "no"}, "d")"#, json!(null), None);
    check(
        r#"$mapValue("z", {"a": 1}, "d")"#,
        json!(null),
        Some(json!("d")),
    );
    check(
        r#"$mapValue("a", {"a": null}, "d")"#,
        json!(null),
        Some(json!(null)),
    );
    check(
        r#"$mapValue("a", {"a": function() { 1 }}, "d")"#,
        json!(null),
        Some(json!("d")),
    );
    check(
        r#"$mapValue(s, t)"#,
        json!({"s": "k", "t": {"k": [1]}}),
        Some(json!([1])),
    );
    check(
        r#"$mapValue(["a", "b"], {"a": 1, "b": 2})"#,
        json!(null),
        Some(json!([1, 2])),
    );
    check_error(r#"$mapValue({"x": 1}, {"a": 1})"#, json!(null), "CW005");
}

/// `max_items` caps what an evaluation builds, not what a path gathers from its input: a
/// vendor page larger than the cap maps through multi-step paths, filters and constructors.
#[test]
fn paths_over_a_page_larger_than_the_item_cap_are_not_refused() {
    let count = Limits::default().max_items + 5_000;
    let items: Vec<Value> = (0..count)
        .map(|n| json!({"item": {"id": n, "active": n % 2 == 0}}))
        .collect();
    let page = json!({"data": {"items": items}});
    let vars = Vars::new();
    for (source, expected) in [
        ("$count(data.items.item)", count),
        ("$count(data.items.item.id)", count),
        ("$count(data.items[item.active])", count / 2),
        ("$count(data.items.item.{'id': id})", count),
    ] {
        let result = compile(source)
            .unwrap()
            .evaluate(Some(&page), &vars)
            .unwrap_or_else(|error| panic!("{source}: {error}"));
        assert_eq!(result, Some(json!(expected)), "{source}");
    }
    // Building an array that large is still refused.
    let error = compile("[1..20000]")
        .unwrap()
        .evaluate(None, &vars)
        .unwrap_err();
    assert_eq!(error.code, "D1014", "{error}");
}

/// A number with more digits than a float holds keeps its text through field reads, bindings,
/// `$number` and native functions, so an amount is written out digit for digit (issue 15);
/// arithmetic, comparison and `$string` still work on its float, as JSONata does.
#[test]
fn numbers_beyond_a_float_keep_their_digits_until_computed_with() {
    let exact = |text: &str| Value::Number(text.parse().expect("a JSON number"));
    let input: Value =
        serde_json::from_str(r#"{"amount": 12345678901234567.89, "small": 1500.5}"#).expect("JSON");
    check("amount", input.clone(), Some(exact("12345678901234567.89")));
    check(
        "{'a': amount, 'b': [amount]}",
        input.clone(),
        Some(json!({"a": exact("12345678901234567.89"), "b": [exact("12345678901234567.89")]})),
    );
    check(
        "($x := amount; $number($x))",
        input.clone(),
        Some(exact("12345678901234567.89")),
    );
    check(
        "$decimal(amount)",
        input.clone(),
        Some(json!("12345678901234567.89")),
    );
    check(
        "$number('12345678901234567.89')",
        json!({}),
        Some(exact("12345678901234567.89")),
    );
    check(
        "$number(' 1234567890123456.78 ')",
        json!({}),
        Some(exact("1234567890123456.78")),
    );
    // Computed with, it is its float.
    check(
        "amount + 0",
        input.clone(),
        Some(json!(12_345_678_901_234_568.0)),
    );
    check(
        "-amount",
        input.clone(),
        Some(json!(-12_345_678_901_234_568.0)),
    );
    check("amount > 1e16", input.clone(), Some(json!(true)));
    check(
        "amount = 12345678901234567.89",
        input.clone(),
        Some(json!(true)),
    );
    check(
        "$string(amount)",
        input.clone(),
        Some(json!("12345678901234568")),
    );
    check(
        "$round(amount)",
        input.clone(),
        Some(json!(12_345_678_901_234_568.0)),
    );
    check(
        "$sum([amount, 1])",
        input.clone(),
        Some(json!(12_345_678_901_234_568.0)),
    );
    check("$type(amount)", input.clone(), Some(json!("number")));
    check("amount ? 'yes' : 'no'", input.clone(), Some(json!("yes")));
    // A number a float holds is a plain number.
    check("small", input.clone(), Some(json!(1500.5)));
    check("$number('1500.50')", json!({}), Some(json!(1500.5)));
}

#[test]
fn a_binding_added_later_hides_the_built_in_of_its_name() {
    // The answer to "does a binding have a built-in's name" is kept with the bindings, so a
    // binding added to the same set after an evaluation must still hide the built-in.
    let expr = compile("$string(1)").expect("expression compiles");
    let mut vars = Vars::new().with("account", json!({}));
    assert_eq!(expr.evaluate(Some(&json!({})), &vars), Ok(Some(json!("1"))));
    vars.insert("string", json!(5));
    let error = expr
        .evaluate(Some(&json!({})), &vars)
        .expect_err("`$string` is now the number 5");
    assert_eq!(error.code, "T1006", "{error}");
    let clone = vars.clone();
    assert_eq!(
        expr.evaluate(Some(&json!({})), &clone).map_err(|e| e.code),
        Err("T1006".to_owned())
    );
}

#[test]
fn blocks_that_bind_keep_their_own_scope_and_others_share_it() {
    // A block that binds has a scope of its own; a parenthesised expression reads the
    // enclosing scope's variables and binds nothing there.
    check(
        "($x := 1; ($y := ($x + 1)); [$x, $y])",
        json!({}),
        Some(json!([1])),
    );
    check("($x := 1; ($x := 2); $x)", json!({}), Some(json!(1)));
    check("($x := 1; ($x + 1))", json!({}), Some(json!(2)));
    check(
        "($f := function($v) { ($v > 1 ? ($v * 2) : ($x := 5; $x)) }; $x := 1; [$f(1), $f(3), $x])",
        json!({}),
        Some(json!([5, 6, 1])),
    );
    check(
        "$join([\"a\", (\"b\")], \",\")",
        json!({}),
        Some(json!("a,b")),
    );
    check_error("$join([1, 2], \",\")", json!({}), "T0412");
}

/// Scopes that calls, blocks and `$map`/`$filter` are done with are reused by the next ones,
/// but never one a closure still holds; literal constructors give their values; `$string`
/// writes whole numbers digit for digit.
#[test]
fn reused_scopes_constant_constructors_and_whole_numbers() {
    check(
        "($mk := function($x) { function() { $x } }; $a := $mk(1); $b := $mk(2); [$a(), $b()])",
        json!({}),
        Some(json!([1, 2])),
    );
    check(
        "($f := function($x) { ($y := $x * 2; $y + 1) }; [$f(1), $f(2), $f(3)])",
        json!({}),
        Some(json!([3, 5, 7])),
    );
    check(
        "$map([1, 2], function($v) { $map([10, 20], function($w) { $v * $w }) })",
        json!({}),
        Some(json!([[10, 20], [20, 40]])),
    );
    check(
        "($fs := $map([1, 2], function($v) { function() { $v } }); [$fs[0](), $fs[1]()])",
        json!({}),
        Some(json!([1, 2])),
    );
    check(
        "{'t': $mapValue(kind, {'work': 'WORK', 'home': 'PERSONAL'}, 'OTHER'), 'in': kind in ['a', 'work'], 'e': [], 'o': {}}",
        json!({"kind": "work"}),
        Some(json!({"t": "WORK", "in": true, "e": [], "o": {}})),
    );
    check(
        "[$string(0), $string(-0), $string(-5), $string(id), $string(9007199254740993), $string(1e21)]",
        json!({"id": 12_345_678_901_234_u64}),
        Some(json!([
            "0",
            "0",
            "-5",
            "12345678901234",
            "9007199254740992",
            "1e+21"
        ])),
    );
}

#[test]
fn results_written_through_remembered_shapes_are_each_records_own() {
    // One compiled expression over records whose results have the same keys, other keys, keys
    // in another order, fewer keys, functions among the values, and objects nested in arrays:
    // each result is written as its own (the shapes only spare hashing the keys again).
    let expr = compile(
        "$.(kind = 'f' ? {'a': a, 'f': function() { 1 }, 'b': b} \
         : kind = 'r' ? {'b': b, 'a': a} \
         : kind = 'n' ? {'a': a, 'items': [items.{'v': v, 'w': w}], 'o': {'x': a, 'y': {'z': b}}} \
         : {'a': a, 'b': b})",
    )
    .expect("compiles");
    let records = [
        (json!({"a": 1, "b": "x"}), json!({"a": 1, "b": "x"})),
        (json!({"a": 2, "b": "y"}), json!({"a": 2, "b": "y"})),
        (json!({"a": 3}), json!({"a": 3})),
        (
            json!({"a": [1, {"z": 2}], "b": {"c": null}}),
            json!({"a": [1, {"z": 2}], "b": {"c": null}}),
        ),
        (
            json!({"kind": "r", "a": 4, "b": 5}),
            json!({"b": 5, "a": 4}),
        ),
        (
            json!({"kind": "f", "a": 6, "b": 7}),
            json!({"a": 6, "b": 7}),
        ),
        (
            json!({"kind": "n", "a": 8, "b": 9, "items": [{"v": 1, "w": 2}, {"v": 3}, {"w": 4, "v": 5}]}),
            json!({"a": 8, "items": [{"v": 1, "w": 2}, {"v": 3}, {"v": 5, "w": 4}], "o": {"x": 8, "y": {"z": 9}}}),
        ),
        (
            json!({"kind": "n", "a": 10, "items": [{"v": "s", "w": [true]}]}),
            json!({"a": 10, "items": [{"v": "s", "w": [true]}], "o": {"x": 10, "y": {}}}),
        ),
        (json!({"a": 11, "b": 12}), json!({"a": 11, "b": 12})),
        (json!({"kind": "r", "a": 13}), json!({"a": 13})),
        (json!({"b": 14}), json!({"b": 14})),
        (json!({}), json!({})),
        (
            json!({"kind": "r", "a": 15, "b": 16}),
            json!({"b": 16, "a": 15}),
        ),
    ];
    for pass in 0..2 {
        for (input, expected) in &records {
            let output = expr
                .evaluate(Some(input), &Vars::new())
                .expect("evaluates")
                .expect("defined");
            assert_eq!(&output, expected, "pass {pass}, {input}");
            let order: Vec<&String> = output.as_object().expect("object").keys().collect();
            let expected_order: Vec<&String> =
                expected.as_object().expect("object").keys().collect();
            assert_eq!(order, expected_order, "pass {pass}, {input}");
        }
    }
    // Objects too wide for their shape to be remembered are written as they are.
    let merged = compile("$merge([$, {'extra': 1}])").expect("compiles");
    let wide: serde_json::Map<String, Value> =
        (0..70).map(|i| (format!("k{i}"), json!(i))).collect();
    for _ in 0..2 {
        for input in [Value::Object(wide.clone()), json!({"a": 1})] {
            let mut expected = input.clone();
            expected["extra"] = json!(1);
            let output = merged
                .evaluate(Some(&input), &Vars::new())
                .expect("evaluates")
                .expect("defined");
            assert_eq!(output, expected);
            assert!(
                output
                    .as_object()
                    .expect("object")
                    .keys()
                    .eq(expected.as_object().expect("object").keys())
            );
        }
    }
}

#[test]
fn output_cap_holds_for_results_written_through_remembered_shapes() {
    let expr = compile("{'a': a, 'b': [b]}").expect("compiles");
    let limits = Limits {
        max_output_bytes: 40,
        ..Limits::default()
    };
    let small = json!({"a": "x", "b": 1});
    for _ in 0..2 {
        assert_eq!(
            expr.evaluate_with(Some(&small), &Vars::new(), &limits),
            Ok(Some(json!({"a": "x", "b": [1]})))
        );
    }
    let large = json!({"a": "x".repeat(40), "b": 1});
    let error = expr
        .evaluate_with(Some(&large), &Vars::new(), &limits)
        .expect_err("past the cap");
    assert_eq!(error.code, "D1016", "{error}");
    let nested = json!({"a": "x", "b": ["y".repeat(30)]});
    let error = expr
        .evaluate_with(Some(&nested), &Vars::new(), &limits)
        .expect_err("past the cap");
    assert_eq!(error.code, "D1016", "{error}");
}
