//! A short-lived cache of the whole lists `enrich` entries join with (`all_pages`: an HRIS
//! vendor's list of office locations), so a walk of a list does not read the joined list again for every
//! page and every single read. Keyed by the connection and the exact first request (method,
//! URL, query, headers and body, after templating: a different request is a different entry);
//! an entry lives [`TTL`], a connection's entries are dropped when a write goes through it, and
//! the cache holds at most [`MAX_ENTRIES`] entries (the oldest go first). Answers only, never
//! credentials: the key is made before the request is authenticated.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use connector::{PlannedRequest, VendorResponse};

/// How long a joined list is reused.
pub(crate) const TTL: Duration = Duration::from_secs(30);
/// Most joined lists kept in the process.
pub(crate) const MAX_ENTRIES: usize = 256;

/// A joined list's answers, every page, and when they were read.
type Kept = (Instant, Arc<Vec<VendorResponse>>);

/// The cache (one per process, in `Operations`).
#[derive(Debug, Default)]
pub(crate) struct JoinedLists {
    entries: Mutex<HashMap<String, Kept>>,
}

impl JoinedLists {
    /// The key of `request`'s every-page answers on `connection`.
    pub(crate) fn key(connection: &str, request: &PlannedRequest) -> String {
        format!(
            "{connection}\u{0}{}\u{0}{} {}\u{0}{:?}\u{0}{:?}\u{0}{:?}",
            request.uses,
            request.http_method.as_str(),
            request.url,
            request.query,
            request.headers,
            request.body
        )
    }

    /// The answers kept for `key`, while fresh.
    pub(crate) fn get(&self, key: &str) -> Option<Arc<Vec<VendorResponse>>> {
        let mut entries = self.entries.lock().expect("never poisoned");
        match entries.get(key) {
            Some((at, answers)) if at.elapsed() < TTL => Some(Arc::clone(answers)),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `answers` for `key`, dropping stale entries and, past the bound, the oldest.
    pub(crate) fn put(&self, key: String, answers: Vec<VendorResponse>) {
        let mut entries = self.entries.lock().expect("never poisoned");
        entries.retain(|_, (at, _)| at.elapsed() < TTL);
        while entries.len() >= MAX_ENTRIES {
            let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            entries.remove(&oldest);
        }
        entries.insert(key, (Instant::now(), Arc::new(answers)));
    }

    /// Drops every entry of `connection` (a write went through it).
    pub(crate) fn forget(&self, connection: &str) {
        let prefix = format!("{connection}\u{0}");
        self.entries
            .lock()
            .expect("never poisoned")
            .retain(|key, _| !key.starts_with(&prefix));
    }
}
