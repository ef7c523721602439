//! Differential test: random expressions of the kinds CRM mappings are made of, evaluated over
//! CRM-shaped records by our engine and by jlens-core (kept as an oracle), must agree: the same
//! result, or errors with the same code. The generator is seeded, so every run checks the same
//! expressions; a difference names the expression and the input.

use mapping::{Expr, Vars, engine_named};
use serde_json::{Value, json};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("below n")
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FIELDS: [&str; 14] = [
    "Id",
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "Lead_Score__c",
    "Is_VIP__c",
    "Tags",
    "Missing",
    "attributes.type",
    "properties.firstname",
    "properties.lead_score",
    "Addresses.city",
    "Addresses[0].zip",
];

fn leaf(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => format!("'{}'", rng.pick(&["a", "Ada", "", "x y", "1"])),
        1 => rng.pick(&["0", "1", "2.5", "-3", "10"]).to_owned(),
        2 => rng.pick(&["true", "false", "null"]).to_owned(),
        3 => "$".to_owned(),
        _ => rng.pick(&FIELDS).to_owned(),
    }
}

fn expr(rng: &mut Rng, depth: usize) -> String {
    if depth == 0 {
        return leaf(rng);
    }
    let mut sub = || expr(rng, depth - 1);
    let a = sub();
    let b = sub();
    let c = sub();
    match rng.below(26) {
        0 => format!("$string({a})"),
        1 => format!("$uppercase({a})"),
        2 => format!("$length({a})"),
        3 => format!("$exists({a})"),
        4 => format!("$count({a})"),
        5 => format!("$boolean({a})"),
        6 => format!("$type({a})"),
        7 => format!("({a} & {b})"),
        8 => format!("({a} = {b})"),
        9 => format!("({a} ? {b} : {c})"),
        10 => format!("({a} and {b})"),
        11 => format!("({a} or {b})"),
        12 => format!("[{a}, {b}]"),
        13 => format!("{{'k1': {a}, 'k2': {b}}}"),
        14 => format!("({a} ?: {b})"),
        15 => format!("({a} ?? {b})"),
        16 => format!("({a} + {b})"),
        17 => format!("$substring({a}, 1, 2)"),
        18 => format!("$trim({a})"),
        19 => format!("$contains({a}, 'a')"),
        20 => format!("$keys({a})"),
        21 => format!("$sift({a}, function($v, $k) {{ $contains($k, 'a') }})"),
        22 => format!("$map({a}, function($v) {{ [$v, {b}] }})"),
        23 => format!("$merge([{a}, {b}])"),
        24 => format!("({a} != {b})"),
        _ => format!("$join($map([{a}, {b}], $string), ',')"),
    }
}

fn records() -> Vec<Value> {
    vec![
        json!({
            "attributes": {"type": "Contact"},
            "Id": "003A", "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com",
            "Phone": null, "Lead_Score__c": 42, "Is_VIP__c": true, "Tags": ["a", "b"],
            "Addresses": [{"city": "London", "zip": "N1"}, {"city": "Paris"}]
        }),
        json!({
            "id": "51000",
            "properties": {"firstname": "Grace", "lead_score": "7", "email": ""},
            "Tags": [], "Addresses": {"city": "Arlington", "zip": 22201}
        }),
        json!([{"Id": "1", "Lead_Score__c": 1}, {"Id": "2", "Lead_Score__c": 2.5}]),
    ]
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn our_engine_agrees_with_jlens_on_generated_mappings() {
    let ours = engine_named("crosswalk").expect("our engine");
    let oracle = engine_named("jlens").expect("jlens");
    let mut rng = Rng(0x00c0_ffee_d1ff_0001);
    let inputs = records();
    let mut differences = Vec::new();
    for _ in 0..5000 {
        let depth = 1 + rng.below(4);
        let source = expr(&mut rng, depth);
        let (a, b) = (
            Expr::compile_with(ours, &source),
            Expr::compile_with(oracle, &source),
        );
        let (a, b) = match (a, b) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(a), Err(b)) if a.code == b.code => continue,
            (a, b) => {
                differences.push(format!("{source}: compile {:?} vs {:?}", a.err(), b.err()));
                continue;
            }
        };
        for input in &inputs {
            let x = a.evaluate(Some(input), &Vars::new());
            let y = b.evaluate(Some(input), &Vars::new());
            let agree = match (&x, &y) {
                (Ok(Some(p)), Ok(Some(q))) => same(p, q),
                (Ok(None), Ok(None)) => true,
                (Err(p), Err(q)) => p.code == q.code,
                _ => false,
            };
            if !agree {
                differences.push(format!("{source} on {input}: ours {x:?}, jlens {y:?}"));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} differences, the first ones:\n{}",
        differences.len(),
        differences
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
