//! Runs the official JSONata test suite through our `Expr`/`Vars` API, with a given engine.
//!
//! The suite lives in `shared/jsonata-test-suite` beside the repository (its `TESTSUITE.md`
//! gives the case format). Cases that our engine is known to fail are listed, with a reason,
//! per engine in a file of its own; the test fails when any other case fails, and when a
//! listed case passes, so the list can only shrink. Each engine's suite runs as its own binary
//! (`harness = false`) so the summary line is always printed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use mapping::{Engine, Expr, Limits, MappingError, Vars};
use serde_json::Value;

/// One case of the suite, named `group/file` or `group/file[index]` for files holding an
/// array of cases.
struct Case {
    id: String,
    expr: String,
    input: Option<Value>,
    vars: Vars,
    limits: Limits,
    expected: Expected,
    unordered: bool,
}

/// What a case holds: one we can run, or why it cannot be read (such as a lone surrogate
/// escape, which no Rust string can hold).
enum Loaded {
    Case(Box<Case>),
    Unreadable { id: String, why: String },
}

impl Loaded {
    fn id(&self) -> &str {
        match self {
            Loaded::Case(case) => &case.id,
            Loaded::Unreadable { id, .. } => id,
        }
    }
}

enum Expected {
    Result(Value),
    Undefined,
    Error(String),
}

/// Runs the suite through the engine called `engine`, with the known failures listed in
/// `tests/<known_failures>`.
pub fn main(engine: &str, known_failures: &str) -> ExitCode {
    let Some(engine) = mapping::engine_named(engine) else {
        eprintln!("error: no engine named `{engine}`");
        return ExitCode::FAILURE;
    };
    match run(engine, known_failures) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(engine: &'static dyn Engine, known_failures: &str) -> anyhow::Result<bool> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let suite_dir = manifest_dir.join("../../../shared/jsonata-test-suite");
    let suite_dir = suite_dir.canonicalize().unwrap_or(suite_dir);
    if !suite_dir.join("groups").is_dir() {
        bail!(
            "the JSONata test suite is missing: expected it in {} (shared/jsonata-test-suite beside the repository)",
            suite_dir.display()
        );
    }
    let known_path = manifest_dir.join("tests").join(known_failures);
    let known = read_known_failures(&known_path)?;
    let cases = load_cases(&suite_dir)?;

    let mut passed = 0;
    let mut known_failed = 0;
    let mut unexpected_failures = Vec::new();
    let mut unexpected_passes = Vec::new();
    for loaded in &cases {
        let outcome = match loaded {
            Loaded::Case(case) => catch_unwind(AssertUnwindSafe(|| run_case(engine, case)))
                .unwrap_or_else(|_| Err("the engine panicked".to_owned())),
            Loaded::Unreadable { why, .. } => Err(format!("unreadable case: {why}")),
        };
        let id = loaded.id();
        match (outcome, known.contains_key(id)) {
            (Ok(()), false) => passed += 1,
            (Ok(()), true) => unexpected_passes.push(id.to_owned()),
            (Err(_), true) => known_failed += 1,
            (Err(why), false) => unexpected_failures.push(format!("{id}: {why}")),
        }
    }
    let ids: BTreeSet<&str> = cases.iter().map(Loaded::id).collect();
    let unknown_listed: Vec<&String> = known
        .keys()
        .filter(|id| !ids.contains(id.as_str()))
        .collect();

    println!(
        "jsonata suite through {}: {passed} passed, {known_failed} known failures, {} unexpected failures",
        engine.name(),
        unexpected_failures.len()
    );
    for failure in &unexpected_failures {
        println!("FAILED {failure}");
    }
    for id in &unexpected_passes {
        println!(
            "PASSED {id}, which {} lists as a known failure: remove it from the list",
            known_path.display()
        );
    }
    for id in &unknown_listed {
        println!(
            "UNKNOWN {id} is listed in {} but is not a case of the suite: remove it from the list",
            known_path.display()
        );
    }
    Ok(unexpected_failures.is_empty() && unexpected_passes.is_empty() && unknown_listed.is_empty())
}

/// Reads `group/case  # reason` lines; blank lines and `#` comments are skipped.
fn read_known_failures(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut known = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (id, reason) = line.split_once('#').unwrap_or((line, ""));
        known.insert(id.trim().to_owned(), reason.trim().to_owned());
    }
    Ok(known)
}

fn load_cases(suite_dir: &Path) -> anyhow::Result<Vec<Loaded>> {
    let mut datasets: HashMap<String, Value> = HashMap::new();
    let mut cases = Vec::new();
    for group_dir in sorted_entries(&suite_dir.join("groups"))? {
        let Some(group) = group_dir
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
        else {
            continue;
        };
        for file in sorted_entries(&group_dir)? {
            if file.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let stem = file
                .file_stem()
                .and_then(|s| s.to_str())
                .context("case file name")?
                .to_owned();
            let json = match read_json(&file) {
                Ok(json) => json,
                Err(error) => {
                    cases.push(Loaded::Unreadable {
                        id: format!("{group}/{stem}"),
                        why: format!("{error:#}"),
                    });
                    continue;
                }
            };
            let entries = match json {
                Value::Array(items) => items
                    .into_iter()
                    .enumerate()
                    .map(|(index, item)| (format!("{group}/{stem}[{index}]"), item))
                    .collect(),
                single => vec![(format!("{group}/{stem}"), single)],
            };
            for (id, case) in entries {
                let case = parse_case(id.clone(), &case, &group_dir, suite_dir, &mut datasets)
                    .with_context(|| format!("reading case {id}"))?;
                cases.push(Loaded::Case(Box::new(case)));
            }
        }
    }
    Ok(cases)
}

fn parse_case(
    id: String,
    case: &Value,
    group_dir: &Path,
    suite_dir: &Path,
    datasets: &mut HashMap<String, Value>,
) -> anyhow::Result<Case> {
    let expr = match (case.get("expr"), case.get("expr-file")) {
        (Some(Value::String(expr)), _) => expr.clone(),
        (_, Some(Value::String(file))) => fs::read_to_string(group_dir.join(file))
            .with_context(|| format!("reading expr-file {file}"))?,
        _ => bail!("no expr or expr-file"),
    };
    let input = if let Some(data) = case.get("data") {
        Some(data.clone())
    } else {
        match case.get("dataset") {
            Some(Value::String(name)) => {
                if !datasets.contains_key(name) {
                    let path = suite_dir.join("datasets").join(format!("{name}.json"));
                    datasets.insert(name.clone(), read_json(&path)?);
                }
                datasets.get(name).cloned()
            }
            _ => None,
        }
    };
    let vars = match case.get("bindings") {
        Some(Value::Object(bindings)) => bindings
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
        _ => Vars::new(),
    };
    // The suite's own runner has no limits but those a case sets.
    let mut limits = Limits {
        max_steps: None,
        max_depth: 50_000,
        timeout: Duration::from_secs(60),
        max_items: usize::MAX,
        max_string_bytes: usize::MAX,
        max_alloc_bytes: usize::MAX,
        max_output_bytes: usize::MAX,
    };
    if let Some(millis) = case.get("timelimit").and_then(Value::as_u64) {
        limits.timeout = Duration::from_millis(millis);
    }
    if let Some(depth) = case.get("depth").and_then(Value::as_u64) {
        limits.max_depth = usize::try_from(depth).context("depth")?;
    }
    let error_code = case
        .get("code")
        .or_else(|| case.get("error").and_then(|error| error.get("code")))
        .and_then(Value::as_str);
    let expected = if let Some(code) = error_code {
        Expected::Error(code.to_owned())
    } else if let Some(result) = case.get("result") {
        Expected::Result(result.clone())
    } else if case.get("undefinedResult") == Some(&Value::Bool(true)) {
        Expected::Undefined
    } else {
        bail!("no result, undefinedResult or code");
    };
    Ok(Case {
        id,
        expr,
        input,
        vars,
        limits,
        expected,
        unordered: case.get("unordered") == Some(&Value::Bool(true)),
    })
}

fn run_case(engine: &'static dyn Engine, case: &Case) -> Result<(), String> {
    let outcome = Expr::compile_with(engine, &case.expr)
        .and_then(|expr| expr.evaluate_with(case.input.as_ref(), &case.vars, &case.limits));
    match (&case.expected, outcome) {
        (Expected::Error(code), Err(error)) if code_matches(code, &error) => Ok(()),
        (Expected::Error(code), other) => Err(format!("expected error {code}, got {other:?}")),
        (Expected::Undefined, Ok(None)) => Ok(()),
        (Expected::Undefined, other) => Err(format!("expected undefined, got {other:?}")),
        (Expected::Result(expected), Ok(Some(actual)))
            if same(expected, &actual, case.unordered) =>
        {
            Ok(())
        }
        (Expected::Result(expected), other) => Err(format!("expected {expected}, got {other:?}")),
    }
}

/// `U1001` is the code the suite's own runner raises when a case passes its `depth` or
/// `timelimit`; our engine reports those as `D1011` (depth) and `D1012` (timeout).
fn code_matches(expected: &str, error: &MappingError) -> bool {
    error.code == expected
        || (expected == "U1001" && ["D1011", "D1012"].contains(&error.code.as_str()))
}

/// Deep equality with numbers compared as floats, and arrays as multisets when `unordered`.
fn same(expected: &Value, actual: &Value, unordered: bool) -> bool {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => a == b || (a - b).abs() <= 1e-13 * a.abs().max(b.abs()),
            _ => false,
        },
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            if unordered {
                let mut unused: Vec<&Value> = b.iter().collect();
                a.iter().all(|item| {
                    match unused
                        .iter()
                        .position(|candidate| same(item, candidate, false))
                    {
                        Some(index) => {
                            unused.swap_remove(index);
                            true
                        }
                        None => false,
                    }
                })
            } else {
                a.iter().zip(b).all(|(x, y)| same(x, y, false))
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, x)| b.get(key).is_some_and(|y| same(x, y, false)))
        }
        (a, b) => a == b,
    }
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn sorted_entries(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut entries = fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    entries.sort();
    Ok(entries)
}
