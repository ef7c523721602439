//! Keeps `docs/mapping-functions.md` honest: every native function has a section with
//! examples, every section names a native function, and every example row evaluates (with no
//! input) to the result the row shows.

use std::collections::BTreeSet;
use std::path::Path;

use mapping::{Expr, Vars, native_functions};
use serde_json::Value;

/// One example row: `| \`expression\` | \`json\` |`, `| ... | undefined |` or
/// `| ... | error \`CODE\` |`.
struct Example {
    function: String,
    expression: String,
    expected: String,
}

fn read_doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/mapping-functions.md");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

fn code_span(cell: &str) -> Option<&str> {
    cell.strip_prefix('`')?.strip_suffix('`')
}

fn parse(doc: &str) -> (Vec<String>, Vec<Example>) {
    let mut sections = Vec::new();
    let mut examples = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("### `$") {
            let name = heading.split('(').next().unwrap_or_default().to_owned();
            sections.push(name.clone());
            current = Some(name);
        } else if line.starts_with("## ") {
            current = None;
        } else if let (Some(function), Some(row)) = (&current, line.strip_prefix("| `")) {
            let row = row.strip_suffix(" |").expect("a table row ends with ` |`");
            let (expression, expected) = row
                .split_once("` | ")
                .expect("a row has an expression and a result");
            examples.push(Example {
                function: function.clone(),
                expression: expression.to_owned(),
                expected: expected.to_owned(),
            });
        }
    }
    (sections, examples)
}

#[test]
fn every_native_function_is_documented_with_examples() {
    let (sections, examples) = parse(&read_doc());
    let documented: BTreeSet<&str> = sections.iter().map(String::as_str).collect();
    let native: BTreeSet<&str> = native_functions().iter().map(|doc| doc.name).collect();
    assert_eq!(
        documented, native,
        "sections of docs/mapping-functions.md vs native_functions()"
    );
    for name in native {
        assert!(
            examples.iter().any(|example| example.function == name),
            "`${name}` has no example"
        );
    }
}

#[test]
fn examples_give_the_results_shown() {
    let doc = read_doc();
    let (_, examples) = parse(&doc);
    assert!(
        examples.len() > 40,
        "only {} examples found",
        examples.len()
    );
    let mut failures = Vec::new();
    for example in &examples {
        let outcome =
            Expr::compile(&example.expression).and_then(|expr| expr.evaluate(None, &Vars::new()));
        let ok = match (example.expected.as_str(), &outcome) {
            ("undefined", Ok(None)) => true,
            (expected, Err(error)) if expected.starts_with("error ") => {
                let code = code_span(&expected["error ".len()..]).expect("error `CODE`");
                assert!(
                    doc.contains(&format!("| `{code}` |")),
                    "{code} is missing from the error code table"
                );
                error.code == code
            }
            (expected, Ok(Some(actual))) => {
                let json = code_span(expected).expect("a result in a code span");
                let expected: Value = serde_json::from_str(json)
                    .unwrap_or_else(|error| panic!("{json} is not JSON: {error}"));
                *actual == expected
            }
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{} gave {outcome:?}, the doc shows {}",
                example.expression, example.expected
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
