//! The monotonic clock the circuit breaker reads: the machine's, plus however far it has been
//! moved forward. Tests move it to let an open circuit's time pass without waiting for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic clock shared by clones; starts at the machine's time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Nanoseconds added to the machine's monotonic time.
    skew_nanos: Arc<AtomicU64>,
}

impl Clock {
    /// The current instant.
    pub fn now(&self) -> Instant {
        Instant::now() + Duration::from_nanos(self.skew_nanos.load(Ordering::Relaxed))
    }

    /// Moves the clock `by` forward, for every clone.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.skew_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;
    use std::time::Duration;

    #[test]
    fn advancing_moves_every_clone() {
        let clock = Clock::default();
        let other = clock.clone();
        let before = other.now();
        clock.advance(Duration::from_secs(60));
        assert!(other.now() >= before + Duration::from_secs(60));
    }
}
