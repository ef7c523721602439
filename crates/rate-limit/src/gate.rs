//! [`ConcurrencyGate`]: at most `max` requests in flight per key (a connector's
//! `rate_limits.max_concurrency`), in this process only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Per-key semaphores, created on first use and dropped once no permit or waiter remains.
///
/// In-process only: with several Crosswalk processes each one admits up to `max` requests per
/// key ([`crate::RedisGate`] caps them all together). Waiters of one key are served in FIFO
/// order; keys never wait on each other.
#[derive(Debug, Clone, Default)]
pub struct ConcurrencyGate {
    slots: Arc<Mutex<HashMap<String, Slot>>>,
}

#[derive(Debug)]
struct Slot {
    max: u32,
    semaphore: Arc<Semaphore>,
}

/// A place in flight for one key; released on drop.
#[derive(Debug)]
pub struct OwnedPermit {
    permit: Option<OwnedSemaphorePermit>,
    key: String,
    slots: Arc<Mutex<HashMap<String, Slot>>>,
}

impl ConcurrencyGate {
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until fewer than `max` permits of `key` are held, then holds one.
    ///
    /// `max` of 0 is treated as 1. If `max` differs from the value the key's current permits
    /// were taken under, a fresh semaphore with the new limit serves new callers, and permits
    /// already handed out stay valid (so during the change up to old + new may be in flight).
    /// Cancel-safe: dropping the future gives up the place in the queue.
    pub async fn acquire(&self, key: &str, max: u32) -> OwnedPermit {
        let max = max.max(1);
        let semaphore = {
            let mut slots = self.lock();
            let slot = slots.entry(key.to_owned()).or_insert_with(|| Slot {
                max,
                semaphore: Arc::new(Semaphore::new(max as usize)),
            });
            if slot.max != max {
                *slot = Slot {
                    max,
                    semaphore: Arc::new(Semaphore::new(max as usize)),
                };
            }
            Arc::clone(&slot.semaphore)
        };
        let permit = semaphore
            .acquire_owned()
            .await
            .expect("gate semaphores are never closed");
        OwnedPermit {
            permit: Some(permit),
            key: key.to_owned(),
            slots: Arc::clone(&self.slots),
        }
    }

    /// Permits of `key` held now.
    pub fn in_flight(&self, key: &str) -> u32 {
        self.lock().get(key).map_or(0, |slot| {
            let available = u32::try_from(slot.semaphore.available_permits()).unwrap_or(slot.max);
            slot.max.saturating_sub(available)
        })
    }

    /// Keys with a permit held or awaited (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().expect("concurrency gate mutex poisoned")
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut slots = self.slots.lock().expect("concurrency gate mutex poisoned");
        // Only the map holds the semaphore: no permit and no waiter left, so forget the key.
        // Waiters clone the `Arc` under this lock before waiting, so none can be missed.
        if slots
            .get(&self.key)
            .is_some_and(|slot| Arc::strong_count(&slot.semaphore) == 1)
        {
            slots.remove(&self.key);
        }
    }
}

/// The concurrency cap a server uses: per process ([`ConcurrencyGate`]), or shared by every
/// process on one Redis ([`crate::RedisGate`]).
#[derive(Debug, Clone)]
pub enum Gate {
    Local(ConcurrencyGate),
    Shared(crate::RedisGate),
}

impl Default for Gate {
    fn default() -> Self {
        Gate::Local(ConcurrencyGate::new())
    }
}

/// A place in flight from a [`Gate`]; released on drop.
#[derive(Debug)]
pub enum GatePermit {
    Local(OwnedPermit),
    Shared(crate::SharedPermit),
}

impl Gate {
    /// Waits until fewer than `max` places of `key` are held, then holds one.
    ///
    /// # Errors
    /// [`crate::LimitError::Redis`] when a shared gate cannot reach Redis.
    pub async fn acquire(&self, key: &str, max: u32) -> Result<GatePermit, crate::LimitError> {
        match self {
            Gate::Local(gate) => Ok(GatePermit::Local(gate.acquire(key, max).await)),
            Gate::Shared(gate) => gate.acquire(key, max).await.map(GatePermit::Shared),
        }
    }
}
