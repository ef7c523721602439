//! Mapping throughput of every connector's list mappings: for each object of each connector in
//! `connectors/`, the `record_mapping` of its list operation (with `record_mapping_merge`
//! folded in as the connector compiler does) over records shaped like the vendor's answers,
//! with our engine and with jsonata-js 2.2.2 in the same run, beside the serde_json floor
//! (parsing and re-serialising the same records).
//!
//! Run with `cargo bench -p mapping --bench map_connectors`. The records come from the
//! connector's recorded fixtures (`connectors/<vendor>/fixtures/*.json`): the first list
//! fixture of the object whose answer the route's `records` expression reads records from (a
//! get fixture's record when the object has no list fixture), cycled to 5,000 records whose
//! ids are made distinct. The bindings are the fixture's context as the connector runtime
//! binds them (`$account`, `$vars`, `$fields` with `all` and `custom`, `$query`). Each case
//! compiles once and evaluates once per record: a warm-up pass, then five timed passes,
//! alternating with the serde_json floor's, reporting the best. The jsonata-js side runs
//! `bench/jsonata/run.js` with JavaScript stand-ins for our native functions
//! (`bench/jsonata/natives.js`); the `same out` column counts the records on which both
//! engines gave the same output (the stand-ins for `$e164` and `$regionOf` are approximations,
//! so it need not be all). Figures are recorded in `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mapping::{Expr, Vars};
use serde_json::{Value, json};

/// The allocator of the `crosswalk` binary, so the figures are those of the server.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const N_RECORDS: usize = 5_000;
const N_TIMED_PASSES: usize = 5;

/// One connector object's list mapping and its inputs.
struct Case {
    connector: String,
    object: String,
    fixture: String,
    expression: String,
    bindings: Value,
    inputs: Vec<Value>,
    outputs: Vec<Value>,
    errors: usize,
    best: Duration,
    serde: Duration,
}

impl Case {
    fn name(&self) -> String {
        format!("{}_{}", self.connector, self.object.replace('.', "_"))
    }
}

fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A connector file as JSON, anchors and merge keys resolved.
fn read_yaml(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    yaml.apply_merge()
        .with_context(|| format!("merge keys of {}", path.display()))?;
    Ok(serde_json::to_value(yaml)?)
}

/// The `$fields` binding from a fixture's discovered fields, as the runtime builds it.
fn fields_binding(fields: &Value) -> Value {
    let mut all = fields.as_array().cloned().unwrap_or_default();
    for field in &mut all {
        if let Some(object) = field.as_object_mut()
            && !object.contains_key("vendor_key")
        {
            let key = object.get("key").cloned().unwrap_or(Value::Null);
            object.insert("vendor_key".into(), key);
        }
    }
    let custom: Vec<Value> = all
        .iter()
        .filter(|field| field["custom"] == json!(true))
        .cloned()
        .collect();
    json!({"all": all, "custom": custom})
}

/// The record mapping with its `record_mapping_merge`, as `connector::compile` combines them.
fn record_mapping(list: &Value) -> Option<String> {
    let base = list["record_mapping"].as_str()?;
    Some(match list["record_mapping_merge"].as_str() {
        None => base.to_owned(),
        Some(merge) => format!(
            "($crosswalk_base := ({base}); $crosswalk_extra := ({merge}); \
             $type($crosswalk_extra) = \"object\" ? $merge([$crosswalk_base, $crosswalk_extra]) : $crosswalk_base)"
        ),
    })
}

/// The records a fixture's answer holds, read with the `records` expressions of the list's
/// routes (the first that gives any), or the answer itself for a get fixture.
fn fixture_records(file: &Value, list: &Value, fixture: &Value) -> Vec<Value> {
    let body = &fixture["response"]["body"];
    for route in list["routes"].as_array().into_iter().flatten() {
        let Some((resource, request)) = route["use"].as_str().and_then(|u| u.split_once('.'))
        else {
            continue;
        };
        let Some(records) = file["resources"][resource][request]["records"].as_str() else {
            continue;
        };
        let Ok(expr) = Expr::compile(records) else {
            continue;
        };
        match expr.evaluate(Some(body), &Vars::new()) {
            Ok(Some(Value::Array(items))) if !items.is_empty() => return items,
            Ok(Some(item @ Value::Object(_))) => return vec![item],
            _ => {}
        }
    }
    if fixture["operation"] == json!("get") && body.is_object() {
        return vec![body.clone()];
    }
    Vec::new()
}

/// `record`, made distinct for index `i`: its `Id`/`id`/`*id` text or number shifted.
fn distinct(record: &Value, i: usize) -> Value {
    let mut record = record.clone();
    if let Some(object) = record.as_object_mut() {
        for key in ["Id", "id", "contactid", "accountid", "activityid"] {
            match object.get_mut(key) {
                Some(Value::String(text)) => text.push_str(&format!("-{i}")),
                Some(Value::Number(number)) => {
                    if let Some(n) = number.as_u64() {
                        *number = (n + i as u64).into();
                    }
                }
                _ => {}
            }
        }
    }
    record
}

fn load_cases() -> anyhow::Result<(Vec<Case>, Vec<String>)> {
    let mut cases = Vec::new();
    let mut skipped = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo_dir().join("connectors"))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("connector.yaml").is_file())
        .collect();
    dirs.sort();
    for dir in dirs {
        let connector = dir
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
            .to_owned();
        let file = read_yaml(&dir.join("connector.yaml"))?;
        let mut fixtures: Vec<(String, Value)> = Vec::new();
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join("fixtures"))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path)?;
            if let Ok(value) = serde_json::from_str::<Value>(&text) {
                let name = path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .unwrap_or_default()
                    .to_owned();
                fixtures.push((name, value));
            }
        }
        let Some(unified) = file["unified"].as_object() else {
            continue;
        };
        for (object, spec) in unified {
            let list = &spec["list"];
            let Some(expression) = record_mapping(list) else {
                continue;
            };
            let candidates = ["list", "get"].into_iter().flat_map(|operation| {
                fixtures.iter().filter(move |(_, fixture)| {
                    fixture["object"] == json!(object) && fixture["operation"] == json!(operation)
                })
            });
            let found = candidates
                .map(|(name, fixture)| (name, fixture, fixture_records(&file, list, fixture)))
                .find(|(_, _, records)| !records.is_empty());
            let Some((fixture_name, fixture, records)) = found else {
                skipped.push(format!("{connector} {object}: no fixture with records"));
                continue;
            };
            let context = &fixture["context"];
            let bindings = json!({
                "account": context.get("account").cloned().unwrap_or_else(|| json!({})),
                "vars": file.get("vars").cloned().unwrap_or_else(|| json!({})),
                "fields": fields_binding(context.get("fields").unwrap_or(&Value::Null)),
                "query": context.get("query").cloned().unwrap_or_else(|| json!({})),
            });
            let inputs = (0..N_RECORDS)
                .map(|i| distinct(&records[i % records.len()], i))
                .collect();
            cases.push(Case {
                connector: connector.clone(),
                object: object.clone(),
                fixture: fixture_name.clone(),
                expression,
                bindings,
                inputs,
                outputs: Vec::new(),
                errors: 0,
                best: Duration::ZERO,
                serde: Duration::ZERO,
            });
        }
    }
    Ok((cases, skipped))
}

/// One evaluation per input, for instruction counts.
#[inline(never)]
fn evaluation_pass(expr: &Expr, inputs: &[Value], vars: &Vars) {
    for input in inputs {
        std::hint::black_box(expr.evaluate(Some(input), vars).ok());
    }
}

#[inline(never)]
fn serde_pass(texts: &[String]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for text in texts {
        let value: Value = serde_json::from_str(text)?;
        std::hint::black_box(serde_json::to_string(&value)?);
    }
    Ok(started.elapsed())
}

fn run_ours(case: &mut Case) -> anyhow::Result<()> {
    let expr = Expr::compile(&case.expression)
        .with_context(|| format!("compiling {} {}", case.connector, case.object))?;
    let vars: Vars = case
        .bindings
        .as_object()
        .context("bindings are an object")?
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    case.outputs = case
        .inputs
        .iter()
        .map(|input| match expr.evaluate(Some(input), &vars) {
            Ok(output) => output.unwrap_or(Value::Null),
            Err(error) => json!({"__error": error.code}),
        })
        .collect();
    case.errors = case
        .outputs
        .iter()
        .filter(|output| output.get("__error").is_some())
        .count();
    let texts: Vec<String> = case
        .inputs
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()?;
    if arg_after("--count").is_some() {
        // For an instruction count under callgrind: one pass of each, in functions of their own.
        evaluation_pass(&expr, &case.inputs, &vars);
        serde_pass(&texts)?;
        return Ok(());
    }
    case.best = Duration::MAX;
    case.serde = Duration::MAX;
    for _ in 0..N_TIMED_PASSES {
        let started = Instant::now();
        for input in &case.inputs {
            std::hint::black_box(expr.evaluate(Some(input), &vars).ok());
        }
        case.best = case.best.min(started.elapsed());
        case.serde = case.serde.min(serde_pass(&texts)?);
    }
    Ok(())
}

/// What jsonata-js reported for one case.
struct JsResult {
    records_per_sec: Option<f64>,
    outputs: Vec<Value>,
}

fn run_jsonata_js(cases: &[Case]) -> anyhow::Result<(String, Vec<JsResult>)> {
    let bench_dir = repo_dir().join("bench/jsonata");
    let version = Command::new("node").arg("--version").output();
    if !version.is_ok_and(|output| output.status.success()) {
        bail!("`node` is not available");
    }
    if !bench_dir.join("node_modules/jsonata").is_dir() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&bench_dir)
            .status()
            .context("running npm")?;
        if !status.success() {
            bail!("`npm ci --prefix {}` failed", bench_dir.display());
        }
    }
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let mut manifest = Vec::new();
    for case in cases {
        let name = case.name();
        let write = |suffix: &str, text: String| -> anyhow::Result<String> {
            let file = format!("{name}{suffix}");
            std::fs::write(work.path().join(&file), text)
                .with_context(|| format!("writing {file}"))?;
            Ok(file)
        };
        manifest.push(json!({
            "name": name,
            "expr": write(".jsonata", case.expression.clone())?,
            "input": write(".input.json", serde_json::to_string(&case.inputs)?)?,
            "bindings": write(".bindings.json", case.bindings.to_string())?,
        }));
    }
    std::fs::write(
        work.path().join("manifest.json"),
        json!({"passes": N_TIMED_PASSES, "directions": manifest}).to_string(),
    )?;
    let output = Command::new("node")
        .arg(bench_dir.join("run.js"))
        .arg(work.path())
        .output()
        .context("running node")?;
    if !output.status.success() {
        bail!(
            "run.js failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let report: Value =
        serde_json::from_slice(&output.stdout).context("reading run.js's report")?;
    let version = format!(
        "jsonata-js {}",
        report["jsonata_version"].as_str().unwrap_or("?")
    );
    let mut results = Vec::new();
    for (case, reported) in cases.iter().zip(
        report["directions"]
            .as_array()
            .context("run.js reports directions")?,
    ) {
        let path = work.path().join(format!("{}.js-out.json", case.name()));
        let text = std::fs::read_to_string(&path)?;
        let Value::Array(outputs) = serde_json::from_str(&text)? else {
            bail!("{} is not an array", path.display());
        };
        results.push(JsResult {
            records_per_sec: reported["records_per_sec"].as_f64(),
            outputs,
        });
    }
    Ok((version, results))
}

/// The value after `flag` on the command line.
fn arg_after(flag: &str) -> Option<String> {
    let mut args = std::env::args().skip_while(|arg| arg != flag);
    args.next()?;
    args.next()
}

fn main() -> anyhow::Result<()> {
    let (mut cases, skipped) = load_cases()?;
    // `--only NAME` (such as `hubspot_crm_contacts`) keeps one mapping, and skips jsonata-js:
    // for profiling ours; `--count NAME` makes one pass of each side, for callgrind.
    let only = arg_after("--only").or_else(|| arg_after("--count"));
    if let Some(only) = &only {
        cases.retain(|case| case.name() == *only);
    }
    for case in &mut cases {
        run_ours(case)?;
    }
    let js = if only.is_some() {
        Err(anyhow::anyhow!("--only profiles our engine alone"))
    } else {
        run_jsonata_js(&cases)
    };
    let js = match js {
        Ok(results) => Some(results),
        Err(error) => {
            println!("skipped the jsonata-js side: {error:#}");
            None
        }
    };
    let header = js
        .as_ref()
        .map_or_else(|| "jsonata-js".to_owned(), |(version, _)| version.clone());
    let mut table = String::new();
    let _ = writeln!(
        table,
        "| connector | object | fixture | records | crosswalk rec/s | {header} rec/s | ratio | x serde cost | same out | our errors |"
    );
    let _ = writeln!(
        table,
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let mut ratios = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)] // record counts are far below 2^52
        let ours = case.inputs.len() as f64 / case.best.as_secs_f64();
        let versus_serde = case.best.as_secs_f64() / case.serde.as_secs_f64();
        let (theirs, ratio, same) = match js.as_ref().and_then(|(_, results)| results.get(index)) {
            Some(result) => {
                let agreeing = case
                    .outputs
                    .iter()
                    .zip(&result.outputs)
                    .filter(|(ours, theirs)| ours == theirs)
                    .count();
                match result.records_per_sec {
                    Some(rate) => {
                        ratios.push(ours / rate);
                        (
                            format!("{rate:.0}"),
                            format!("{:.1}x", ours / rate),
                            format!("{agreeing}/{}", case.inputs.len()),
                        )
                    }
                    None => (
                        "failed".to_owned(),
                        "-".to_owned(),
                        format!("{agreeing}/{}", case.inputs.len()),
                    ),
                }
            }
            None => ("-".to_owned(), "-".to_owned(), "-".to_owned()),
        };
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {ours:.0} | {theirs} | {ratio} | {versus_serde:.2}x | {same} | {} |",
            case.connector,
            case.object,
            case.fixture,
            case.inputs.len(),
            case.errors
        );
    }
    print!("{table}");
    if !ratios.is_empty() {
        ratios.sort_by(f64::total_cmp);
        println!(
            "ratio to jsonata-js: min {:.1}x, median {:.1}x, max {:.1}x over {} mappings",
            ratios[0],
            ratios[ratios.len() / 2],
            ratios[ratios.len() - 1],
            ratios.len()
        );
    }
    for line in skipped {
        println!("not covered: {line}");
    }
    Ok(())
}
