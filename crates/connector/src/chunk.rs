//! Chunked requests (a route's `chunk`): one planned request whose query parameter holds a long
//! list (field names a vendor wants in the URL) becomes several requests for the same page, each
//! with a slice of the list; the records of their answers are merged back by key. Enrichment (a
//! route's `enrich`) merges the answers of follow-up requests into a page's records the same way.
//!
//! Pure functions over planned requests and raw records; sending the requests and reading the
//! answers' status stay with the caller and `runtime.rs`.

use std::collections::HashMap;

use serde_json::Value;

use mapping::{Expr, Vars};

use crate::file::Chunk;
use crate::runtime::{PlanError, PlannedRequest, ReadError, VendorResponse};
use crate::{CompiledChunk, CompiledEnrich};

/// Encoded length of `name=value` in a query string.
fn encoded_len(name: &str, value: &str) -> usize {
    let encode = |text: &str| -> usize {
        url::form_urlencoded::byte_serialize(text.as_bytes())
            .map(str::len)
            .sum()
    };
    encode(name) + 1 + encode(value)
}

/// The bytes the parameter takes in the query string with `items`.
fn param_bytes(chunk: &Chunk, items: &[String]) -> usize {
    match &chunk.separator {
        Some(separator) => encoded_len(&chunk.param, &items.join(separator)),
        None => {
            items
                .iter()
                .map(|item| encoded_len(&chunk.param, item))
                .sum::<usize>()
                + items.len().saturating_sub(1)
        }
    }
}

/// Packs `items` in order into groups within the chunk's limits.
fn pack(chunk: &Chunk, items: Vec<String>) -> Result<Vec<Vec<String>>, PlanError> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for item in items {
        if let Some(max_bytes) = chunk.max_bytes {
            let alone = param_bytes(chunk, std::slice::from_ref(&item));
            if alone > max_bytes {
                return Err(PlanError::Invalid(format!(
                    "chunk of `{}`: the item `{item}` alone takes {alone} bytes, more than `max_bytes` ({max_bytes})",
                    chunk.param
                )));
            }
        }
        current.push(item);
        let too_many = chunk.max_items.is_some_and(|max| current.len() > max);
        let too_long = chunk
            .max_bytes
            .is_some_and(|max| param_bytes(chunk, &current) > max);
        if too_many || too_long {
            let last = current.pop().expect("an item was just pushed");
            groups.push(std::mem::take(&mut current));
            current.push(last);
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    Ok(groups)
}

/// Splits a planned request into one request per chunk of the chunked parameter, in order. A
/// request whose parameter fits in one chunk (or that does not carry it) is returned as it is.
///
/// # Errors
/// Fails when one item alone is longer than `max_bytes`.
pub(crate) fn split(
    chunk: Option<&CompiledChunk>,
    request: PlannedRequest,
) -> Result<Vec<PlannedRequest>, PlanError> {
    let Some(chunk) = chunk.map(|chunk| &chunk.raw) else {
        return Ok(vec![request]);
    };
    let Some(position) = request
        .query
        .iter()
        .position(|(name, _)| name == &chunk.param)
    else {
        return Ok(vec![request]);
    };
    let items: Vec<String> = request
        .query
        .iter()
        .filter(|(name, _)| name == &chunk.param)
        .flat_map(|(_, value)| match &chunk.separator {
            Some(separator) => value
                .split(separator.as_str())
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>(),
            None => vec![value.clone()],
        })
        .collect();
    let groups = pack(chunk, items)?;
    if groups.len() <= 1 {
        return Ok(vec![request]);
    }
    let others: Vec<(String, String)> = request
        .query
        .iter()
        .filter(|(name, _)| name != &chunk.param)
        .cloned()
        .collect();
    Ok(groups
        .into_iter()
        .map(|group| {
            let mut query = others.clone();
            let values: Vec<(String, String)> = match &chunk.separator {
                Some(separator) => vec![(chunk.param.clone(), group.join(separator))],
                None => group
                    .into_iter()
                    .map(|item| (chunk.param.clone(), item))
                    .collect(),
            };
            let at = position.min(query.len());
            query.splice(at..at, values);
            PlannedRequest {
                query,
                ..request.clone()
            }
        })
        .collect())
}

/// Merges `extra` into `target`: objects key by key (recursively), a key `target` lacks or holds
/// as null is taken from `extra`; any other value of `target` is kept.
pub(crate) fn merge_value(target: &mut Value, extra: &Value) {
    match (target, extra) {
        (Value::Object(target), Value::Object(extra)) => {
            for (key, value) in extra {
                match target.get_mut(key) {
                    Some(existing) if !existing.is_null() => merge_value(existing, value),
                    _ => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target @ Value::Null, extra) => *target = extra.clone(),
        _ => {}
    }
}

fn key_of(chunk: &CompiledChunk, record: &Value) -> Result<Option<String>, ReadError> {
    key_text(&chunk.merge_key, "chunk merge_key", record)
}

/// The text of the key `expr` gives for `record` (numbers as their JSON text); `None` when it
/// gives nothing or null.
fn key_text(expr: &Expr, what: &str, record: &Value) -> Result<Option<String>, ReadError> {
    let key = expr
        .evaluate(Some(record), &Vars::new())
        .map_err(|source| ReadError::Mapping {
            what: what.to_owned(),
            source,
        })?;
    Ok(match key {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text),
        Some(other) => Some(other.to_string()),
    })
}

/// Merges the records of later chunks' pages into the first chunk's, by merge key. The first
/// page decides which records there are and their order: a record only a later chunk holds
/// (one that appeared between the requests) is dropped.
///
/// # Errors
/// Fails when the merge key cannot be evaluated.
pub(crate) fn merge_pages(
    chunk: &CompiledChunk,
    mut first: Vec<Value>,
    later: Vec<Vec<Value>>,
) -> Result<Vec<Value>, ReadError> {
    let mut index: HashMap<String, usize> = HashMap::new();
    for (idx, record) in first.iter().enumerate() {
        if let Some(key) = key_of(chunk, record)? {
            index.entry(key).or_insert(idx);
        }
    }
    for page in later {
        for record in page {
            let Some(key) = key_of(chunk, &record)? else {
                continue;
            };
            if let Some(idx) = index.get(&key) {
                merge_value(&mut first[*idx], &record);
            }
        }
    }
    Ok(first)
}

/// Merges the answers of a page's `enrich` requests into its raw records: each answer record's
/// `merge` object goes into every page record whose `record_key` equals the answer record's
/// `key`. An answer record that names no record of the page is ignored; a page record no answer
/// names is left as it is. An entry without `key` (one record per request) merges the first
/// record of its n-th answer into the n-th page record: the answers come in planning order.
///
/// # Errors
/// Fails when an answer is a vendor error (`check`), its records cannot be read (`extract`), or
/// a key or merge expression fails.
pub(crate) fn enrich(
    entries: &[CompiledEnrich],
    records: &mut [Value],
    answers: &[(usize, VendorResponse)],
    extract: impl Fn(&CompiledEnrich, &Value) -> Result<Vec<Value>, ReadError>,
    check: impl Fn(&VendorResponse) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut indexes: HashMap<usize, HashMap<String, Vec<usize>>> = HashMap::new();
    let mut answered: HashMap<usize, usize> = HashMap::new();
    for (entry_idx, response) in answers {
        check(response)?;
        let Some(entry) = entries.get(*entry_idx) else {
            return Err(ReadError::Invalid(format!(
                "an enrichment answer for entry {entry_idx}, which the route does not declare"
            )));
        };
        let Some(key_expr) = &entry.key else {
            let nth = answered.entry(*entry_idx).or_insert(0);
            let idx = *nth;
            *nth += 1;
            let Some(answer) = extract(entry, &response.body)?.into_iter().next() else {
                continue;
            };
            let Some(record) = records.get_mut(idx) else {
                continue;
            };
            let merged = entry
                .merge
                .evaluate(Some(&answer), &Vars::new())
                .map_err(|source| ReadError::Mapping {
                    what: format!("enrich `{}` merge", entry.uses),
                    source,
                })?;
            if let Some(merged @ Value::Object(_)) = merged {
                merge_value(record, &merged);
            }
            continue;
        };
        let index = match indexes.entry(*entry_idx) {
            std::collections::hash_map::Entry::Occupied(found) => found.into_mut(),
            std::collections::hash_map::Entry::Vacant(vacant) => {
                let mut index: HashMap<String, Vec<usize>> = HashMap::new();
                for (idx, record) in records.iter().enumerate() {
                    if let Some(key) = key_text(&entry.record_key, "enrich record_key", record)? {
                        index.entry(key).or_default().push(idx);
                    }
                }
                vacant.insert(index)
            }
        };
        for answer in extract(entry, &response.body)? {
            let Some(key) = key_text(key_expr, "enrich key", &answer)? else {
                continue;
            };
            let Some(targets) = index.get(&key) else {
                continue;
            };
            let merged = entry
                .merge
                .evaluate(Some(&answer), &Vars::new())
                .map_err(|source| ReadError::Mapping {
                    what: format!("enrich `{}` merge", entry.uses),
                    source,
                })?;
            if let Some(merged @ Value::Object(_)) = merged {
                for &idx in targets {
                    merge_value(&mut records[idx], &merged);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chunk(separator: Option<&str>, max_items: Option<usize>, max_bytes: Option<usize>) -> Chunk {
        Chunk {
            param: "properties".to_owned(),
            separator: separator.map(str::to_owned),
            max_items,
            max_bytes,
            merge_key: None,
        }
    }

    fn items(n: usize) -> Vec<String> {
        (0..n).map(|idx| format!("p{idx:02}")).collect()
    }

    #[test]
    fn packs_by_item_count() {
        let groups = pack(&chunk(Some(","), Some(4), None), items(10)).expect("packs");
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(sizes, [4, 4, 2]);
        assert_eq!(groups.concat(), items(10), "every item once, in order");
    }

    #[test]
    fn packs_by_encoded_bytes() {
        // `properties=p00%2Cp01` is 20 bytes; each further item adds 6.
        let spec = chunk(Some(","), None, Some(26));
        let groups = pack(&spec, items(7)).expect("packs");
        for group in &groups {
            assert!(param_bytes(&spec, group) <= 26, "{group:?}");
        }
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 3, 1]);
        let repeated = chunk(None, None, Some(29));
        // `properties=p00&properties=p01` is 29 bytes.
        let sizes: Vec<usize> = pack(&repeated, items(5))
            .expect("packs")
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [2, 2, 1]);
    }

    #[test]
    fn refuses_an_item_longer_than_a_chunk() {
        let error = pack(
            &chunk(Some(","), None, Some(12)),
            vec!["far_too_long".into()],
        )
        .expect_err("too long");
        assert!(error.to_string().contains("far_too_long"), "{error}");
    }

    #[test]
    fn merges_objects_key_by_key_and_fills_nulls() {
        let mut target = json!({"id": "1", "properties": {"a": "1", "b": null}, "list": [1]});
        merge_value(
            &mut target,
            &json!({"id": "1", "properties": {"b": "2", "c": "3", "a": "other"}, "list": [2]}),
        );
        assert_eq!(
            target,
            json!({"id": "1", "properties": {"a": "1", "b": "2", "c": "3"}, "list": [1]})
        );
    }
}
