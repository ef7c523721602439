//! `$e164` compiles each phone-metadata pattern at most once per process.
//!
//! The `phonenumber` crate keeps compiled patterns in one process-wide cache, so this check
//! lives in a test binary of its own: no other test may add patterns between its two passes.

use mapping::{Expr, Vars};
use serde_json::{Value, json};

#[test]
fn e164_compiles_each_phone_pattern_once() {
    // Every region's example fixed-line and mobile numbers, written nationally: enough regions
    // and number types to overflow a cache of 100 patterns many times over.
    let database = &phonenumber::metadata::DATABASE;
    let examples: Vec<Value> = database
        .iter()
        .filter(|meta| meta.id() != "001")
        .flat_map(|meta| {
            let descriptors = meta.descriptors();
            [descriptors.fixed_line(), descriptors.mobile()]
                .into_iter()
                .flatten()
                .filter_map(|descriptor| descriptor.example())
                .map(|example| json!({"number": example, "region": meta.id()}))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(examples.len() > 300, "{} examples", examples.len());
    // One evaluation per number, so the evaluation time limit never depends on the machine.
    let expr = Expr::compile("$e164(number, region)").expect("the expression compiles");
    let pass = || {
        examples
            .iter()
            .map(|example| {
                expr.evaluate(Some(example), &Vars::new())
                    .expect("evaluates")
            })
            .collect::<Vec<Option<Value>>>()
    };
    let valid = pass();
    let valid_count = valid.iter().filter(|number| number.is_some()).count();
    assert!(
        valid_count * 10 > examples.len() * 9,
        "{valid_count} of {} example numbers read as valid",
        examples.len()
    );
    let compiled = database.cache().lock().unwrap().len();
    assert!(compiled > 100, "only {compiled} compiled patterns kept");
    // A second pass over the same numbers finds every pattern it needs already compiled.
    assert_eq!(pass(), valid);
    assert_eq!(database.cache().lock().unwrap().len(), compiled);
}
