//! What the benches that start the demo share.

use serde_json::{Value, json};

/// Operator overrides raising every bucket of every embedded connector, by its id (buckets merge
/// item by item), so that none makes a request wait: Crosswalk paces requests to the vendor's
/// budget (Salesforce's 20 then 10 a second), and a benchmark sending a hundred pages a second
/// would otherwise measure that pacing instead of the work per page. Each bucket keeps its kind
/// and window, so the limiter still does its bookkeeping for every call, as in production.
pub fn unpaced_overrides() -> anyhow::Result<Value> {
    // A million is far above what the bench sends in any window, and below the lifted
    // simulators' "remaining" headers: when the vendor reports fewer left than a sliding window
    // counts, the limiter records one inferred entry per missing request, so a billion here
    // would fill memory.
    const HUGE: u32 = 1_000_000;
    let (connectors, errors) = cli::startup::load_connectors("", &Value::Null)?;
    if let Some(error) = errors.first() {
        anyhow::bail!("an embedded connector does not load: {error}");
    }
    let mut overrides = serde_json::Map::new();
    for connector in &connectors {
        let Some(limits) = connector.file().rate_limits.as_ref() else {
            continue;
        };
        let buckets: Vec<Value> = limits
            .buckets
            .iter()
            .map(|bucket| {
                let mut raised = json!({"id": bucket.id, "capacity": HUGE});
                if bucket.refill_tokens.is_some() {
                    raised["refill_tokens"] = json!(HUGE);
                }
                raised
            })
            .collect();
        overrides.insert(
            connector.id().to_owned(),
            json!({"rate_limits": {"buckets": buckets}}),
        );
    }
    Ok(overrides.into())
}
