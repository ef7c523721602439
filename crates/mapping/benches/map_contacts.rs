//! Mapping throughput: 10,000 Salesforce-like and 10,000 HubSpot-like contacts mapped to the
//! unified model and back, with our engine, with jlens-core (the engine we had before, kept as
//! a test oracle) and with jsonata-js 2.2.2 on the same inputs, beside the floor any mapping
//! has: parsing and re-serialising the same record with serde_json.
//!
//! Run with `cargo bench -p mapping --bench map_contacts`. The data is generated from a fixed
//! seed, so every run maps the same records. Each direction compiles its expression once and
//! evaluates it once per record (as the gateway does), one warm-up pass and then five timed
//! passes, reporting the best; the serde_json floor's passes alternate with ours, so that a
//! change of load on a shared machine weighs on both alike. The jsonata-js side runs `bench/jsonata/run.js` under Node on
//! the same inputs and expressions, written to a temporary directory; it is skipped, with a
//! message, when Node or the jsonata package is unavailable. Figures are recorded in
//! `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use mapping::{Engine, Expr, Vars};
use serde_json::{Value, json};

/// The allocator of the `crosswalk` binary, so the figures are those of the server.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const N_RECORDS: usize = 10_000;
const N_TIMED_PASSES: usize = 5;

const SALESFORCE_TO_UNIFIED: &str = r#"{
  "id": Id,
  "first_name": FirstName,
  "last_name": LastName,
  "title": Title,
  "account_id": AccountId,
  "owner_id": OwnerId,
  "email_addresses": Email ? [{"email_address": Email, "email_address_type": "work"}] : [],
  "phone_numbers": [
    Phone ? {"phone_number": Phone, "phone_number_type": "work"},
    MobilePhone ? {"phone_number": MobilePhone, "phone_number_type": "mobile"}
  ],
  "created_at": $parseDate(CreatedDate),
  "updated_at": $parseDate(LastModifiedDate),
  "custom_fields": $sift($, function($v, $k) { $k in $custom_keys })
}"#;

const HUBSPOT_TO_UNIFIED: &str = r#"(
  $p := properties;
  {
    "id": id,
    "first_name": $p.firstname,
    "last_name": $p.lastname,
    "company": $p.company,
    "owner_id": $p.hubspot_owner_id,
    "lifecycle_stage": $p.lifecyclestage,
    "email_addresses": $p.email ? [{"email_address": $p.email, "email_address_type": "work"}] : [],
    "phone_numbers": [
      $p.phone ? {"phone_number": $p.phone, "phone_number_type": "work"},
      $p.mobilephone ? {"phone_number": $p.mobilephone, "phone_number_type": "mobile"}
    ],
    "created_at": $parseDate(createdAt),
    "updated_at": $parseDate(updatedAt),
    "archived": archived,
    "custom_fields": $sift($p, function($v, $k) { $k in $custom_keys })
  }
)"#;

const UNIFIED_TO_SALESFORCE: &str = r#"$removeEmpty($merge([
  {
    "FirstName": first_name,
    "LastName": last_name,
    "Title": title,
    "Email": email_addresses[0].email_address,
    "Phone": phone_numbers[phone_number_type = "work"][0].phone_number,
    "MobilePhone": phone_numbers[phone_number_type = "mobile"][0].phone_number,
    "AccountId": account_id,
    "OwnerId": owner_id
  },
  custom_fields
]))"#;

const UNIFIED_TO_HUBSPOT: &str = r#"{
  "properties": $removeEmpty($merge([
    {
      "firstname": first_name,
      "lastname": last_name,
      "email": email_addresses[0].email_address,
      "phone": phone_numbers[phone_number_type = "work"][0].phone_number,
      "mobilephone": phone_numbers[phone_number_type = "mobile"][0].phone_number,
      "company": company,
      "hubspot_owner_id": owner_id,
      "lifecyclestage": lifecycle_stage
    },
    custom_fields
  ]))
}"#;

const SALESFORCE_CUSTOM_KEYS: [&str; 4] =
    ["Lead_Score__c", "Region__c", "Is_VIP__c", "Renewal_Date__c"];
const HUBSPOT_CUSTOM_KEYS: [&str; 4] = ["lead_score", "region", "vip", "renewal_date"];

const FIRST_NAMES: [&str; 16] = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Katherine",
    "Linus",
    "Margaret",
    "Niklaus",
    "Radia",
    "Tim",
    "Whitfield",
    "Zoë",
];
const LAST_NAMES: [&str; 16] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "McCarthy",
    "Johnson",
    "Torvalds",
    "Hamilton",
    "Wirth",
    "Perlman",
    "Berners-Lee",
    "Diffie",
    "O'Brien",
];
const TITLES: [&str; 6] = [
    "CEO",
    "CTO",
    "VP Sales",
    "Account Executive",
    "Engineer",
    "Office Manager",
];
const REGIONS: [&str; 4] = ["EMEA", "AMER", "APAC", "LATAM"];
const STAGES: [&str; 5] = [
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "opportunity",
    "customer",
];

/// A small deterministic generator (xorshift64*), so every run maps the same records.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("below n, which is a usize")
    }

    fn below_i64(&mut self, n: u32) -> i64 {
        i64::from(u32::try_from(self.next() % u64::from(n)).expect("below n, which is a u32"))
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// An instant in 2023–2024, as epoch seconds.
fn some_instant(rng: &mut Rng) -> DateTime<Utc> {
    let start = 1_672_531_200; // 2023-01-01T00:00:00Z
    let offset = i64::try_from(rng.next() % (2 * 365 * 86_400)).expect("under two years");
    DateTime::from_timestamp(start + offset, 0).expect("an instant in range")
}

fn salesforce_contacts(rng: &mut Rng) -> Vec<Value> {
    (0..N_RECORDS)
        .map(|index| {
            let first = rng.pick(&FIRST_NAMES);
            let last = rng.pick(&LAST_NAMES);
            let id = format!("003{index:012}AAA");
            let created = some_instant(rng);
            let modified = created + chrono::Duration::seconds(rng.below_i64(86_400));
            let salesforce_date = |instant: DateTime<Utc>| {
                instant.format("%Y-%m-%dT%H:%M:%S.000+0000").to_string()
            };
            json!({
                "attributes": {"type": "Contact", "url": format!("/services/data/v59.0/sobjects/Contact/{id}")},
                "Id": id,
                "FirstName": first,
                "LastName": last,
                "Email": if rng.chance(90) {
                    json!(format!("{}.{}{index}@example.com", first.to_lowercase(), last.to_lowercase()))
                } else {
                    Value::Null
                },
                "Phone": if rng.chance(80) { json!(format!("+1 415 555 {:04}", rng.below(10_000))) } else { Value::Null },
                "MobilePhone": if rng.chance(50) { json!(format!("+1 628 555 {:04}", rng.below(10_000))) } else { Value::Null },
                "Title": rng.pick(&TITLES),
                "AccountId": format!("001{:012}AAA", rng.below(2_000)),
                "OwnerId": format!("005{:012}AAA", rng.below(40)),
                "CreatedDate": salesforce_date(created),
                "LastModifiedDate": salesforce_date(modified),
                "Lead_Score__c": rng.below(101),
                "Region__c": rng.pick(&REGIONS),
                "Is_VIP__c": rng.chance(10),
                "Renewal_Date__c": if rng.chance(60) {
                    json!(some_instant(rng).format("%Y-%m-%d").to_string())
                } else {
                    Value::Null
                },
                "Other_Internal__c": "not mapped",
            })
        })
        .collect()
}

fn hubspot_contacts(rng: &mut Rng) -> Vec<Value> {
    (0..N_RECORDS)
        .map(|index| {
            let first = rng.pick(&FIRST_NAMES);
            let last = rng.pick(&LAST_NAMES);
            let created = some_instant(rng);
            let modified = created + chrono::Duration::milliseconds(rng.below_i64(86_400_000));
            let iso = |instant: DateTime<Utc>| instant.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            let id = format!("{}", 51_000 + index);
            json!({
                "id": id,
                "properties": {
                    "firstname": first,
                    "lastname": last,
                    "email": if rng.chance(90) {
                        json!(format!("{}.{}{index}@example.org", first.to_lowercase(), last.to_lowercase()))
                    } else {
                        Value::Null
                    },
                    "phone": if rng.chance(80) { json!(format!("+44 20 7946 {:04}", rng.below(10_000))) } else { json!("") },
                    "mobilephone": if rng.chance(50) { json!(format!("+44 7700 900{:03}", rng.below(1_000))) } else { Value::Null },
                    "company": format!("Company {}", rng.below(500)),
                    "hubspot_owner_id": format!("{}", 100 + rng.below(40)),
                    "lifecyclestage": rng.pick(&STAGES),
                    "createdate": iso(created),
                    "lastmodifieddate": iso(modified),
                    "hs_object_id": id,
                    "lead_score": format!("{}", rng.below(101)),
                    "region": rng.pick(&REGIONS),
                    "vip": if rng.chance(10) { "true" } else { "false" },
                    "renewal_date": if rng.chance(60) {
                        json!(some_instant(rng).format("%Y-%m-%d").to_string())
                    } else {
                        Value::Null
                    },
                },
                "createdAt": iso(created),
                "updatedAt": iso(modified),
                "archived": false,
            })
        })
        .collect()
}

/// One mapping direction: its expression, inputs and bindings, and our results.
struct Direction {
    name: &'static str,
    label: &'static str,
    expression: &'static str,
    inputs: Vec<Value>,
    bindings: Value,
    outputs: Vec<Option<Value>>,
    best: Duration,
    /// The best pass of jlens-core on the same records.
    jlens: Duration,
    /// The best pass of parsing each record's JSON text and writing it back.
    serde: Duration,
}

/// The best of the timed passes of `expr` over the direction's records.
fn time_engine(
    direction: &Direction,
    engine: &dyn Engine,
    vars: &Vars,
) -> anyhow::Result<Duration> {
    let expr = Expr::compile_with(engine, direction.expression)?;
    let mut best = Duration::MAX;
    for _ in 0..=N_TIMED_PASSES {
        let started = Instant::now();
        for input in &direction.inputs {
            let output = expr.evaluate(Some(input), vars)?;
            std::hint::black_box(output);
        }
        best = best.min(started.elapsed());
    }
    Ok(best)
}

/// With `--count DIRECTION`, the direction whose passes are counted (see `docs/benchmarks.md`).
fn count_only() -> Option<String> {
    let mut args = std::env::args().skip_while(|arg| arg != "--count");
    args.next()?;
    args.next()
}

/// One evaluation of `expr` per input, for instruction counts.
#[inline(never)]
fn evaluation_pass(expr: &Expr, inputs: &[Value], vars: &Vars) -> anyhow::Result<()> {
    for input in inputs {
        std::hint::black_box(expr.evaluate(Some(input), vars)?);
    }
    Ok(())
}

/// One pass of parsing each record's JSON text and serialising it again.
#[inline(never)]
fn serde_pass(texts: &[String]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for text in texts {
        let value: Value = serde_json::from_str(text)?;
        std::hint::black_box(serde_json::to_string(&value)?);
    }
    Ok(started.elapsed())
}

fn run_ours(direction: &mut Direction) -> anyhow::Result<()> {
    let expr = Expr::compile(direction.expression)
        .with_context(|| format!("compiling {}", direction.name))?;
    let vars: Vars = direction
        .bindings
        .as_object()
        .context("bindings are an object")?
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    direction.outputs = direction
        .inputs
        .iter()
        .map(|input| expr.evaluate(Some(input), &vars))
        .collect::<Result<_, _>>()
        .with_context(|| format!("evaluating {}", direction.name))?;
    if let Some(counted) = count_only() {
        // For an instruction count under callgrind: one pass of ours and one of serde_json,
        // each in a function of its own, and nothing else timed.
        if counted == direction.name {
            evaluation_pass(&expr, &direction.inputs, &vars)?;
            let texts: Vec<String> = direction
                .inputs
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<_, _>>()?;
            serde_pass(&texts)?;
        }
        return Ok(());
    }
    // Our passes and the serde_json floor's alternate, so that a change of load on a shared
    // machine weighs on both sides of the ratio alike.
    let texts: Vec<String> = direction
        .inputs
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()?;
    direction.best = Duration::MAX;
    direction.serde = Duration::MAX;
    for _ in 0..N_TIMED_PASSES {
        let started = Instant::now();
        for input in &direction.inputs {
            let output = expr.evaluate(Some(input), &vars)?;
            std::hint::black_box(output);
        }
        direction.best = direction.best.min(started.elapsed());
        direction.serde = direction.serde.min(serde_pass(&texts)?);
    }
    let jlens = mapping::engine_named("jlens").context("the jlens engine")?;
    direction.jlens = time_engine(direction, jlens, &vars)?;
    Ok(())
}

/// What jsonata-js reported for one direction.
struct JsResult {
    records_per_sec: f64,
    agreeing: usize,
}

fn main() -> anyhow::Result<()> {
    let mut rng = Rng(0x5eed_c0ff_ee15_900d);
    let salesforce = salesforce_contacts(&mut rng);
    let hubspot = hubspot_contacts(&mut rng);

    let mut directions = vec![
        Direction {
            name: "salesforce_to_unified",
            label: "Salesforce → unified",
            expression: SALESFORCE_TO_UNIFIED,
            inputs: salesforce,
            bindings: json!({"custom_keys": SALESFORCE_CUSTOM_KEYS}),
            outputs: Vec::new(),
            best: Duration::ZERO,
            jlens: Duration::ZERO,
            serde: Duration::ZERO,
        },
        Direction {
            name: "hubspot_to_unified",
            label: "HubSpot → unified",
            expression: HUBSPOT_TO_UNIFIED,
            inputs: hubspot,
            bindings: json!({"custom_keys": HUBSPOT_CUSTOM_KEYS}),
            outputs: Vec::new(),
            best: Duration::ZERO,
            jlens: Duration::ZERO,
            serde: Duration::ZERO,
        },
    ];
    for direction in &mut directions {
        run_ours(direction)?;
    }
    // The unified records the first two directions produced are the inputs of the way back.
    let unified_salesforce: Vec<Value> = directions[0].outputs.iter().flatten().cloned().collect();
    let unified_hubspot: Vec<Value> = directions[1].outputs.iter().flatten().cloned().collect();
    let mut back = vec![
        Direction {
            name: "unified_to_salesforce",
            label: "unified → Salesforce",
            expression: UNIFIED_TO_SALESFORCE,
            inputs: unified_salesforce,
            bindings: json!({}),
            outputs: Vec::new(),
            best: Duration::ZERO,
            jlens: Duration::ZERO,
            serde: Duration::ZERO,
        },
        Direction {
            name: "unified_to_hubspot",
            label: "unified → HubSpot",
            expression: UNIFIED_TO_HUBSPOT,
            inputs: unified_hubspot,
            bindings: json!({}),
            outputs: Vec::new(),
            best: Duration::ZERO,
            jlens: Duration::ZERO,
            serde: Duration::ZERO,
        },
    ];
    for direction in &mut back {
        run_ours(direction)?;
    }
    directions.extend(back);
    if count_only().is_some() {
        return Ok(());
    }

    let js = match run_jsonata_js(&directions) {
        Ok(results) => Some(results),
        Err(error) => {
            println!("skipped the jsonata-js side: {error:#}");
            None
        }
    };
    print_table(&directions, js.as_ref());
    Ok(())
}

fn print_table(directions: &[Direction], js: Option<&(String, Vec<JsResult>)>) {
    let js_header = js.map_or_else(|| "jsonata-js".to_owned(), |(version, _)| version.clone());
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<24} {:>8} {:>16} {:>12} {:>24} {:>7} {:>12} {:>10}",
        "direction",
        "records",
        "crosswalk rec/s",
        "jlens rec/s",
        format!("{js_header} rec/s"),
        "ratio",
        "x serde cost",
        "same out"
    );
    for (index, direction) in directions.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)] // record counts are far below 2^52
        let ours = direction.inputs.len() as f64 / direction.best.as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let jlens = direction.inputs.len() as f64 / direction.jlens.as_secs_f64();
        let versus_serde = direction.best.as_secs_f64() / direction.serde.as_secs_f64();
        let (theirs, ratio, agree) = match js.and_then(|(_, results)| results.get(index)) {
            Some(result) => (
                format!("{:.0}", result.records_per_sec),
                format!("{:.1}x", ours / result.records_per_sec),
                format!("{}/{}", result.agreeing, direction.inputs.len()),
            ),
            None => ("-".to_owned(), "-".to_owned(), "-".to_owned()),
        };
        let _ = writeln!(
            table,
            "{:<24} {:>8} {:>16.0} {:>12.0} {:>24} {:>7} {:>12} {:>10}",
            direction.label,
            direction.inputs.len(),
            ours,
            jlens,
            theirs,
            ratio,
            format!("{versus_serde:.2}"),
            agree
        );
    }
    print!("{table}");
}

/// Writes the inputs and expressions to a temporary directory, runs `bench/jsonata/run.js`
/// on them, and compares its outputs with ours. Returns the jsonata version and one result
/// per direction.
fn run_jsonata_js(directions: &[Direction]) -> anyhow::Result<(String, Vec<JsResult>)> {
    let bench_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/jsonata");
    let version = Command::new("node").arg("--version").output();
    if !version.is_ok_and(|output| output.status.success()) {
        bail!("`node` is not available");
    }
    if !bench_dir.join("node_modules/jsonata").is_dir() {
        println!(
            "installing jsonata-js: npm ci --prefix {}",
            bench_dir.display()
        );
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
    for direction in directions {
        let write = |suffix: &str, text: String| -> anyhow::Result<String> {
            let file = format!("{}{suffix}", direction.name);
            std::fs::write(work.path().join(&file), text)
                .with_context(|| format!("writing {file}"))?;
            Ok(file)
        };
        manifest.push(json!({
            "name": direction.name,
            "expr": write(".jsonata", direction.expression.to_owned())?,
            "input": write(".input.json", serde_json::to_string(&direction.inputs)?)?,
            "bindings": write(".bindings.json", direction.bindings.to_string())?,
        }));
    }
    std::fs::write(
        work.path().join("manifest.json"),
        json!({"passes": N_TIMED_PASSES, "directions": manifest}).to_string(),
    )
    .context("writing manifest.json")?;

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
    for (direction, reported) in directions.iter().zip(
        report["directions"]
            .as_array()
            .context("run.js reports directions")?,
    ) {
        let js_outputs =
            read_js_outputs(&work.path().join(format!("{}.js-out.json", direction.name)))?;
        let agreeing = direction
            .outputs
            .iter()
            .zip(&js_outputs)
            .filter(|(ours, theirs)| ours.as_ref().unwrap_or(&Value::Null) == *theirs)
            .count();
        results.push(JsResult {
            records_per_sec: reported["records_per_sec"]
                .as_f64()
                .context("run.js reports records_per_sec")?,
            agreeing,
        });
    }
    Ok((version, results))
}

fn read_js_outputs(path: &PathBuf) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let Value::Array(outputs) = serde_json::from_str(&text)? else {
        bail!("{} is not an array", path.display());
    };
    Ok(outputs)
}
