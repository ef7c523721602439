//! The unified list answered from the record store (`source=synced`): the records a sync stored
//! for the connection, with the list's filters and paging and no vendor call.
//!
//! The filters are the connector's, checked and parsed as for a live list; each is answered from
//! the stored unified record: `ids` by remote id, `updated_after` by the record's `updated_at`,
//! `email` by its email addresses (ignoring ASCII case). A filter the store cannot answer is
//! refused naming it. Records the vendor deleted are left out. Pages follow remote ids in
//! bytewise order; a cursor is the last remote id a page returned, so records stored meanwhile
//! after it are seen and none is returned twice.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use connector::Operation;
use serde_json::{Map, Value};
use unified_model::UnifiedObject;

use crate::records::list_page_size;
use crate::{Bound, ListPage, ListRequest, OpError};

/// The filters the record store answers.
pub const SYNCED_FILTERS: &[&str] = &["ids", "updated_after", "email"];

/// What marks a cursor of a synced list (so a live list's cursor is refused, not misread).
const CURSOR_PREFIX: &str = "synced.";

/// Stored records read at a time while a page is filled.
const SCAN_BATCH: u32 = 200;

/// A synced list's filters, parsed.
#[derive(Debug, Default)]
struct Wanted {
    ids: Option<Vec<String>>,
    updated_after: Option<DateTime<Utc>>,
    email: Option<String>,
}

impl Wanted {
    fn from_filters(filters: Map<String, Value>) -> Result<Wanted, OpError> {
        let mut wanted = Wanted::default();
        for (name, value) in filters {
            match (name.as_str(), value) {
                ("ids", Value::Array(ids)) => {
                    wanted.ids = Some(
                        ids.into_iter()
                            .filter_map(|id| id.as_str().map(str::to_owned))
                            .collect(),
                    );
                }
                ("updated_after", Value::String(text)) => {
                    wanted.updated_after = Some(
                        DateTime::parse_from_rfc3339(&text)
                            .map_err(|error| OpError::invalid("updated_after", error.to_string()))?
                            .to_utc(),
                    );
                }
                ("email", Value::String(email)) => wanted.email = Some(email),
                _ => {
                    return Err(OpError::invalid(
                        &name,
                        format!(
                            "is not answered from the synced records (answered: {}); list with \
                             `source=live`",
                            SYNCED_FILTERS.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(wanted)
    }

    fn matches(&self, remote_id: &str, record: &Value) -> bool {
        if let Some(ids) = &self.ids
            && !ids.iter().any(|id| id == remote_id)
        {
            return false;
        }
        if let Some(after) = self.updated_after {
            let updated = record
                .get("updated_at")
                .and_then(Value::as_str)
                .and_then(|text| DateTime::parse_from_rfc3339(text).ok());
            if updated.is_none_or(|updated| updated.to_utc() < after) {
                return false;
            }
        }
        if let Some(email) = &self.email {
            let listed = record
                .get("email_addresses")
                .and_then(Value::as_array)
                .is_some_and(|addresses| {
                    addresses.iter().any(|address| {
                        address
                            .get("email_address")
                            .and_then(Value::as_str)
                            .is_some_and(|text| text.eq_ignore_ascii_case(email))
                    })
                });
            if !listed {
                return false;
            }
        }
        true
    }
}

fn encode_cursor(remote_id: &str) -> String {
    format!("{CURSOR_PREFIX}{}", URL_SAFE_NO_PAD.encode(remote_id))
}

fn decode_cursor(text: &str) -> Result<String, OpError> {
    text.strip_prefix(CURSOR_PREFIX)
        .and_then(|encoded| URL_SAFE_NO_PAD.decode(encoded).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            OpError::invalid(
                "cursor",
                "is not a `next_cursor` this list returned with `source=synced`",
            )
        })
}

impl Bound {
    /// One page of `object`'s records as the connection's syncs stored them, without calling
    /// the vendor.
    ///
    /// # Errors
    /// A filter the connector does not declare or the store cannot answer, `include` (the
    /// vendor's raw record is not stored), a bad page size or cursor: each names its field.
    pub async fn list_synced_page(
        &self,
        object: UnifiedObject,
        request: ListRequest,
    ) -> Result<ListPage, OpError> {
        self.supported(object, Operation::List)?;
        if request.include.sensitive_fields {
            return Err(OpError::invalid(
                "include",
                "`sensitive_fields` are not answered from the synced records (syncs store \
                 records with them withheld); list with `source=live`",
            ));
        }
        if request.include.remote_data {
            return Err(OpError::invalid(
                "include",
                "is not answered from the synced records (the vendor's raw record is not \
                 stored); list with `source=live`",
            ));
        }
        let wanted = Wanted::from_filters(self.list_filters(object, &request.filters)?)?;
        let page_size = list_page_size(request.page_size)?;
        let mut after = request.cursor.as_deref().map(decode_cursor).transpose()?;
        let store = self.ops.store();
        let limit = usize::try_from(page_size).unwrap_or(usize::MAX);
        let mut results = Vec::new();
        let mut last_returned: Option<String> = None;
        loop {
            let batch = store
                .list_synced_records(
                    &self.connection().environment_id,
                    &self.connection().id,
                    &object.key(),
                    after.as_deref(),
                    false,
                    SCAN_BATCH,
                )
                .await?;
            let exhausted = batch.len() < SCAN_BATCH as usize;
            for stored in batch {
                after = Some(stored.remote_id.clone());
                if results.len() == limit {
                    // One more match: another page follows the last one returned.
                    if wanted.matches(&stored.remote_id, &stored.record) {
                        return Ok(ListPage {
                            results,
                            errors: Vec::new(),
                            next_cursor: last_returned.as_deref().map(encode_cursor),
                        });
                    }
                    continue;
                }
                if wanted.matches(&stored.remote_id, &stored.record) {
                    last_returned = Some(stored.remote_id);
                    results.push(stored.record);
                }
            }
            if exhausted {
                return Ok(ListPage {
                    results,
                    errors: Vec::new(),
                    next_cursor: None,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_a_foreign_one_is_refused() {
        let cursor = encode_cursor("0031x00000ABC/é");
        assert_eq!(decode_cursor(&cursor).expect("decodes"), "0031x00000ABC/é");
        for foreign in ["abc", "synced.!!", ""] {
            assert!(decode_cursor(foreign).is_err(), "{foreign}");
        }
    }

    #[test]
    fn filters_match_the_stored_record() {
        let record = serde_json::json!({
            "remote_id": "7", "updated_at": "2026-10-21T09:30:00Z",
            "email_addresses": [{"email_address": "Ada@Example.com"}]
        });
        let wanted = |filters: Value| {
            Wanted::from_filters(filters.as_object().expect("object").clone()).expect("parses")
        };
        assert!(wanted(serde_json::json!({"ids": ["6", "7"]})).matches("7", &record));
        assert!(!wanted(serde_json::json!({"ids": ["6"]})).matches("7", &record));
        assert!(
            wanted(serde_json::json!({"updated_after": "2026-10-21T09:30:00.000Z"}))
                .matches("7", &record)
        );
        assert!(
            !wanted(serde_json::json!({"updated_after": "2026-10-21T09:30:01.000Z"}))
                .matches("7", &record)
        );
        assert!(wanted(serde_json::json!({"email": "ada@example.com"})).matches("7", &record));
        assert!(!wanted(serde_json::json!({"email": "bob@example.com"})).matches("7", &record));
        assert!(
            Wanted::from_filters(
                serde_json::json!({"phone": "1"})
                    .as_object()
                    .expect("object")
                    .clone()
            )
            .is_err()
        );
    }
}
