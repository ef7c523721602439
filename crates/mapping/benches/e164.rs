//! `$e164` alone: phone numbers as a contact backfill reads them (twelve regions, national
//! format with every sixth number international, almost every number new), normalised through
//! the mapping engine by a few threads taking turns in chunks, as a sync's pages are mapped
//! on the runtime's blocking threads. Prints the time per number and the process's memory
//! (`RssAnon`, the heap, after every `--report` numbers, and the peak resident size `VmHWM`), so
//! that the phone patterns' compiled automata and their caches show; run with
//! `MIMALLOC_PURGE_DELAY=0` for the heap to follow what is live.
//!
//! `cargo bench -p mapping --bench e164 -- [--numbers N] [--threads N] [--chunk N] [--report N]
//! [--every-region]` (the last normalises every region's example numbers first).
//!
//! For instruction counts, run the built binary under `valgrind --tool=callgrind`.

use std::time::Instant;

use anyhow::Context as _;
use mapping::{Expr, Vars};
use serde_json::{Value, json};

/// The allocator of the `crosswalk` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A field of `/proc/self/status` in MB (`VmHWM`, `RssAnon`); 0 where there is none.
fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
        })
        .map_or(0.0, |kb| kb / 1e3)
}

/// A number of `region` from three draws, written as users type it (national format, or
/// international when `international`).
fn number(region: &str, international: bool, [a, b, c]: [u64; 3]) -> String {
    let (national, with_code) = match region {
        "US" | "CA" => {
            let areas: &[u64] = if region == "US" {
                &[212, 312, 415, 512, 617, 206, 336, 650, 303, 404]
            } else {
                &[416, 647, 604, 514, 613]
            };
            let area = areas[(a % areas.len() as u64) as usize];
            let (exchange, line) = (201 + b % 790, c % 10_000);
            (
                format!("({area}) {exchange}-{line:04}"),
                format!("+1 {area}-{exchange}-{line:04}"),
            )
        }
        "GB" => {
            let line = c % 1_000;
            (
                format!("020 7946 0{line:03}"),
                format!("+44 20 7946 0{line:03}"),
            )
        }
        "DE" => {
            let n = 2_000_000 + (b * 10_000 + c) % 8_000_000;
            (format!("030 {n}"), format!("+49 30 {n}"))
        }
        "FR" => {
            let (x, y, z) = (10 + a % 90, b % 100, c % 100);
            (
                format!("01 42 {x:02} {y:02} {z:02}"),
                format!("+33 1 42 {x:02} {y:02} {z:02}"),
            )
        }
        "BR" => {
            let (x, y) = (b % 1_000, c % 10_000);
            (
                format!("(11) 3{x:03}-{y:04}"),
                format!("+55 11 3{x:03}-{y:04}"),
            )
        }
        "JP" => {
            let (x, y) = (b % 1_000, c % 10_000);
            (
                format!("03-5{x:03}-{y:04}"),
                format!("+81 3-5{x:03}-{y:04}"),
            )
        }
        "AU" => {
            let (x, y) = (b % 1_000, c % 10_000);
            (
                format!("(02) 9{x:03} {y:04}"),
                format!("+61 2 9{x:03} {y:04}"),
            )
        }
        "IN" => {
            let (x, y) = (b % 1_000, c % 10_000);
            (
                format!("080 2{x:03} {y:04}"),
                format!("+91 80 2{x:03} {y:04}"),
            )
        }
        "SE" => {
            let (x, y, z) = (b % 100, c / 100 % 1_000, c % 100);
            (
                format!("08-5{x:02} {y:03} {z:02}"),
                format!("+46 8-5{x:02} {y:03} {z:02}"),
            )
        }
        "IE" => {
            let (x, y) = (b % 100, c % 10_000);
            (
                format!("01 6{x:02} {y:04}"),
                format!("+353 1 6{x:02} {y:04}"),
            )
        }
        _ => {
            let (x, y, z) = (b % 100, c / 100 % 100, c % 100);
            (
                format!("91 5{x:02} {y:02} {z:02}"),
                format!("+34 91 5{x:02} {y:02} {z:02}"),
            )
        }
    };
    if international { with_code } else { national }
}

const REGIONS: [&str; 12] = [
    "US", "CA", "GB", "DE", "FR", "BR", "JP", "AU", "IN", "SE", "IE", "ES",
];

/// The inputs: `{phone, region}` objects from a fixed seed.
fn inputs(count: usize) -> Vec<Value> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut draw = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|i| {
            let region = REGIONS[(draw() % REGIONS.len() as u64) as usize];
            let phone = number(region, i % 6 == 0, [draw(), draw(), draw()]);
            json!({"phone": phone, "region": region})
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let (mut numbers, mut threads, mut chunk, mut report) = (200_000, 3, 2_000, 20_000);
    let mut every_region = false;
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || -> anyhow::Result<usize> {
            given
                .next()
                .with_context(|| format!("`{flag}` needs a value"))?
                .parse()
                .with_context(|| format!("`{flag}`"))
        };
        match flag.as_str() {
            "--numbers" => numbers = value()?,
            "--threads" => threads = value()?,
            "--chunk" => chunk = value()?,
            "--report" => report = value()?,
            "--every-region" => every_region = true,
            "--bench" => {}
            other => anyhow::bail!("unknown argument `{other}`"),
        }
    }
    anyhow::ensure!(
        threads > 0 && chunk > 0 && report > 0,
        "counts must be positive"
    );
    let expr = Expr::compile("$e164(phone, region)")?;
    let all = inputs(numbers);
    if every_region {
        // Every region's example numbers first, so that every region's patterns are compiled.
        let start = status_mb("RssAnon");
        let started = Instant::now();
        let vars = Vars::new();
        let mut examples = 0;
        for meta in phonenumber::metadata::DATABASE.iter() {
            let descriptors = meta.descriptors();
            for example in [descriptors.fixed_line(), descriptors.mobile()]
                .into_iter()
                .flatten()
                .filter_map(phonenumber::metadata::Descriptor::example)
            {
                let phone = format!("+{} {example}", meta.country_code());
                let input = json!({"phone": phone});
                expr.evaluate(Some(&input), &vars)?;
                examples += 1;
            }
        }
        println!(
            "every region: {examples} example numbers in {:.2} s, heap (RssAnon) {start:.1} MB before, {:.1} MB after",
            started.elapsed().as_secs_f64(),
            status_mb("RssAnon"),
        );
    }
    let before = status_mb("RssAnon");
    let mut peak_anon = before;
    let started = Instant::now();
    let mut valid = 0_usize;
    let mut done = 0_usize;
    // The threads take turns, one chunk each, as a sync's pages land on whichever blocking
    // thread is free.
    let pool: Vec<_> = (0..threads)
        .map(|_| {
            let (to, from) = std::sync::mpsc::channel::<Option<Vec<Value>>>();
            let (back, results) = std::sync::mpsc::channel::<usize>();
            let expr = expr.clone();
            let handle = std::thread::spawn(move || {
                let vars = Vars::new();
                while let Ok(Some(chunk)) = from.recv() {
                    let mut found = 0;
                    for input in &chunk {
                        if expr.evaluate(Some(input), &vars).ok().flatten().is_some() {
                            found += 1;
                        }
                    }
                    if back.send(found).is_err() {
                        break;
                    }
                }
            });
            (to, results, handle)
        })
        .collect();
    for (turn, part) in all.chunks(chunk).enumerate() {
        let (to, results, _) = &pool[turn % threads];
        to.send(Some(part.to_vec()))?;
        valid += results.recv()?;
        let next = done + part.len();
        let anon = status_mb("RssAnon");
        peak_anon = peak_anon.max(anon);
        if next / report > done / report {
            println!(
                "{next:>9} numbers: {:>8.1} µs each so far, heap (RssAnon) {anon:>6.1} MB",
                started.elapsed().as_secs_f64() * 1e6 / next as f64,
            );
        }
        done = next;
    }
    let elapsed = started.elapsed();
    for (to, _, handle) in pool {
        to.send(None)?;
        handle
            .join()
            .map_err(|_| anyhow::anyhow!("a thread panicked"))?;
    }
    println!(
        "{numbers} numbers ({valid} valid) on {threads} threads by {chunk}: {:.2} s, {:.2} µs per number; heap (RssAnon) {before:.1} MB before, at most {peak_anon:.1} MB after a chunk; VmHWM {:.1} MB",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / numbers as f64,
        status_mb("VmHWM"),
    );
    Ok(())
}
