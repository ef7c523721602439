//! A circuit breaker per key (a connection id), so a vendor that keeps failing for one
//! connection is left alone for a while instead of being retried into the ground.
//!
//! Each key is *closed* (calls pass) until `failure_threshold` consecutive failures open it;
//! while *open* every call is refused with the time left; after `open_for` it turns *half-open*
//! and lets at most `half_open_probes` calls through at once: one success closes it, one
//! failure opens it again for another `open_for`. Only 5xx answers, timeouts and unreachable
//! vendors count as failures; a client error (a 404, a validation error) says nothing about the
//! vendor's health and is [`Outcome::Neutral`], and so is a throttle (a 429, a spent quota, a
//! 503 with `Retry-After`): the vendor is metering the connection, which the buckets and the
//! retries' waits handle.
//!
//! Calls take a [`Permit`] from [`CircuitBreaker::check`] and hand back the outcome with
//! [`Permit::record`]; a permit dropped unrecorded (a cancelled call) counts as neutral, so a
//! lost probe never wedges a key half-open. Outcomes of calls that started in an earlier state
//! do not decide a later one: a probe from a previous half-open spell is ignored, and a
//! late failure does not reopen a circuit that is already open or probing.
//!
//! The breaker reads no clock: every call takes `now`. State lives in memory, per process, in
//! one `std::sync::Mutex` (held for a few map operations, never across an await); keys whose
//! circuit is closed with no failures are dropped from the map. Left out: sharing state between
//! processes, and time-windowed failure rates (consecutive failures are enough for a vendor
//! that is either up or not).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use connector::file::ErrorCode;
use connector::{ErrorAction, ProviderError, VendorResponse};

use crate::SendError;

/// When a circuit opens and how it recovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitConfig {
    /// Consecutive failures that open the circuit (0 is taken as 1).
    pub failure_threshold: u32,
    /// How long an open circuit refuses calls before probing.
    pub open_for: Duration,
    /// Calls allowed in flight at once while half-open (0 is taken as 1).
    pub half_open_probes: u32,
}

impl Default for CircuitConfig {
    /// Five consecutive failures open the circuit for 30 seconds, then one probe at a time.
    fn default() -> CircuitConfig {
        CircuitConfig {
            failure_threshold: 5,
            open_for: Duration::from_secs(30),
            half_open_probes: 1,
        }
    }
}

/// What a call says about the vendor's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The vendor answered as it should: resets the failure count, closes a half-open circuit.
    Success,
    /// A 5xx, a timeout or no answer: counts towards opening the circuit.
    Failure,
    /// Neither (a client error, a refused credential, a throttle): changes nothing.
    Neutral,
}

impl Outcome {
    /// The outcome of a vendor answer, given its classified error (`None`: success).
    ///
    /// An ignored error is a success. A throttle (the rule's `rate_limited` action, a
    /// `rate_limited` or `quota_exhausted` code, or a 503 carrying `Retry-After`) is neutral: the
    /// vendor is healthy and is metering this connection, which the buckets and retries handle;
    /// counting it as a failure would shut the connection out for the breaker's whole spell.
    /// Retryable errors, timeouts and 5xx answers are failures; every other error (the caller's
    /// or the credential's fault) is neutral.
    pub fn of_answer(response: &VendorResponse, error: Option<&ProviderError>) -> Outcome {
        let Some(error) = error else {
            return Outcome::Success;
        };
        if error.action == ErrorAction::Ignore {
            return Outcome::Success;
        }
        let throttled = error.action == ErrorAction::RateLimited
            || matches!(
                error.code,
                ErrorCode::RateLimited | ErrorCode::QuotaExhausted
            )
            || (error.status == 503 && response.header("retry-after").is_some());
        if throttled {
            return Outcome::Neutral;
        }
        let down = matches!(
            error.code,
            ErrorCode::UpstreamUnavailable | ErrorCode::UpstreamTimeout
        );
        match error.action {
            ErrorAction::Retry => Outcome::Failure,
            _ if down || error.status >= 500 => Outcome::Failure,
            _ => Outcome::Neutral,
        }
    }

    /// The outcome of a call that got no answer: timeouts and unreachable vendors are failures;
    /// refusals on our side (host not allowed, bad URL, no credentials, oversized answer) are
    /// neutral.
    pub fn of_send_error(error: &SendError) -> Outcome {
        match error {
            SendError::Timeout(_) | SendError::Connect(_) => Outcome::Failure,
            SendError::HostNotAllowed(_)
            | SendError::InvalidUrl(_)
            | SendError::Auth(_)
            | SendError::TooLarge => Outcome::Neutral,
        }
    }
}

/// A call refused because the key's circuit is open (or all half-open probes are taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the vendor is failing for this connection; retry in {retry_in:?}")]
pub struct Open {
    /// When to check again. While half-open with every probe taken this is `open_for`: the
    /// probes' fate is unknown, so callers wait as if the circuit were open.
    pub retry_in: Duration,
}

/// A key's state, as reported by [`CircuitBreaker::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed { consecutive_failures: u32 },
    Open { retry_in: Duration },
    HalfOpen { probes_in_flight: u32 },
}

/// Circuit breakers keyed by connection. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: CircuitConfig,
    circuits: Arc<Mutex<Circuits>>,
}

#[derive(Debug, Default)]
struct Circuits {
    /// Names each half-open spell, so a probe from an earlier spell cannot decide a later one.
    next_spell: u64,
    /// Keys absent from the map are closed with no failures.
    by_key: HashMap<String, Circuit>,
}

#[derive(Debug, Clone, Copy)]
enum Circuit {
    Closed { consecutive_failures: u32 },
    Open { opened_at: Instant },
    HalfOpen { spell: u64, probes_in_flight: u32 },
}

/// Leave to make one call; hand its outcome back with [`Permit::record`].
#[derive(Debug)]
#[must_use = "record the call's outcome, or it counts as neutral"]
pub struct Permit {
    breaker: CircuitBreaker,
    key: String,
    /// The half-open spell this probe belongs to; `None` for a call made while closed.
    probe_spell: Option<u64>,
    settled: bool,
}

impl CircuitBreaker {
    /// A breaker in which every key starts closed.
    pub fn new(config: CircuitConfig) -> CircuitBreaker {
        CircuitBreaker {
            config: CircuitConfig {
                failure_threshold: config.failure_threshold.max(1),
                half_open_probes: config.half_open_probes.max(1),
                ..config
            },
            circuits: Arc::default(),
        }
    }

    /// The configuration in force (zero thresholds raised to one).
    pub fn config(&self) -> CircuitConfig {
        self.config
    }

    /// Asks to make a call for `key` at `now`.
    ///
    /// # Errors
    /// Returns [`Open`] while the circuit is open, or half-open with every probe taken.
    pub fn check(&self, key: &str, now: Instant) -> Result<Permit, Open> {
        let mut circuits = self.lock();
        let Circuits { next_spell, by_key } = &mut *circuits;
        let Some(circuit) = by_key.get_mut(key) else {
            return Ok(self.permit(key, None));
        };
        if let Circuit::Open { opened_at } = *circuit {
            let open_since = now.saturating_duration_since(opened_at);
            if open_since < self.config.open_for {
                return Err(Open {
                    retry_in: self.config.open_for - open_since,
                });
            }
            *circuit = Circuit::HalfOpen {
                spell: *next_spell,
                probes_in_flight: 0,
            };
            *next_spell += 1;
        }
        let probe_spell = match circuit {
            Circuit::Closed { .. } => None,
            Circuit::HalfOpen {
                spell,
                probes_in_flight,
            } if *probes_in_flight < self.config.half_open_probes => {
                *probes_in_flight += 1;
                Some(*spell)
            }
            Circuit::HalfOpen { .. } | Circuit::Open { .. } => {
                return Err(Open {
                    retry_in: self.config.open_for,
                });
            }
        };
        Ok(self.permit(key, probe_spell))
    }

    /// Reports `key`'s state at `now` without changing it (an open circuit whose time is up
    /// reports half-open with no probes).
    pub fn state(&self, key: &str, now: Instant) -> CircuitState {
        match self.lock().by_key.get(key) {
            None => CircuitState::Closed {
                consecutive_failures: 0,
            },
            Some(Circuit::Closed {
                consecutive_failures,
            }) => CircuitState::Closed {
                consecutive_failures: *consecutive_failures,
            },
            Some(Circuit::Open { opened_at }) => {
                let open_since = now.saturating_duration_since(*opened_at);
                match self.config.open_for.checked_sub(open_since) {
                    Some(retry_in) if !retry_in.is_zero() => CircuitState::Open { retry_in },
                    _ => CircuitState::HalfOpen {
                        probes_in_flight: 0,
                    },
                }
            }
            Some(Circuit::HalfOpen {
                probes_in_flight, ..
            }) => CircuitState::HalfOpen {
                probes_in_flight: *probes_in_flight,
            },
        }
    }

    fn permit(&self, key: &str, probe_spell: Option<u64>) -> Permit {
        Permit {
            breaker: self.clone(),
            key: key.to_owned(),
            probe_spell,
            settled: false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Circuits> {
        // Every update under the lock is a single assignment, so a panic elsewhere while it
        // was held cannot have left a circuit half-written.
        self.circuits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn settle(&self, key: &str, probe_spell: Option<u64>, outcome: Outcome, now: Instant) {
        let mut circuits = self.lock();
        let current = circuits.by_key.get(key).copied();
        let next = match (probe_spell, current, outcome) {
            (_, _, Outcome::Neutral) | (None, None, Outcome::Success) => None,
            // A call made while closed: counts only while the circuit is still closed.
            (None, None, Outcome::Failure) => Some(self.after_failures(1, now)),
            (
                None,
                Some(Circuit::Closed {
                    consecutive_failures,
                }),
                Outcome::Failure,
            ) => Some(self.after_failures(consecutive_failures.saturating_add(1), now)),
            (None, Some(Circuit::Closed { .. }), Outcome::Success) => {
                circuits.by_key.remove(key);
                None
            }
            // A probe of the current half-open spell decides it.
            (Some(spell), Some(Circuit::HalfOpen { spell: current, .. }), Outcome::Success)
                if spell == current =>
            {
                circuits.by_key.remove(key);
                None
            }
            (Some(spell), Some(Circuit::HalfOpen { spell: current, .. }), Outcome::Failure)
                if spell == current =>
            {
                Some(Circuit::Open { opened_at: now })
            }
            // Late outcomes: a closed-state call finishing while open or probing, or a probe
            // from an earlier spell.
            _ => None,
        };
        if let Some(circuit) = next {
            circuits.by_key.insert(key.to_owned(), circuit);
        }
        if outcome == Outcome::Neutral {
            release_probe(&mut circuits, key, probe_spell);
        }
    }

    fn after_failures(&self, consecutive_failures: u32, now: Instant) -> Circuit {
        if consecutive_failures >= self.config.failure_threshold {
            Circuit::Open { opened_at: now }
        } else {
            Circuit::Closed {
                consecutive_failures,
            }
        }
    }
}

/// Frees a neutral or abandoned probe's slot, if its spell is still the current one.
fn release_probe(circuits: &mut Circuits, key: &str, probe_spell: Option<u64>) {
    let Some(spell) = probe_spell else { return };
    if let Some(Circuit::HalfOpen {
        spell: current,
        probes_in_flight,
    }) = circuits.by_key.get_mut(key)
        && *current == spell
    {
        *probes_in_flight = probes_in_flight.saturating_sub(1);
    }
}

impl Permit {
    /// Whether this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe_spell.is_some()
    }

    /// Hands back the call's outcome, observed at `now` (an opening circuit counts its
    /// `open_for` from then).
    pub fn record(mut self, outcome: Outcome, now: Instant) {
        self.settled = true;
        self.breaker
            .settle(&self.key, self.probe_spell, outcome, now);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.settled {
            release_probe(&mut self.breaker.lock(), &self.key, self.probe_spell);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    fn breaker(failure_threshold: u32, half_open_probes: u32) -> CircuitBreaker {
        CircuitBreaker::new(CircuitConfig {
            failure_threshold,
            open_for: Duration::from_secs(10),
            half_open_probes,
        })
    }

    fn secs(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    /// Makes one call for `key` at `now` and records `outcome`.
    fn call(breaker: &CircuitBreaker, key: &str, now: Instant, outcome: Outcome) {
        breaker
            .check(key, now)
            .expect("the circuit lets the call through")
            .record(outcome, now);
    }

    fn closed(consecutive_failures: u32) -> CircuitState {
        CircuitState::Closed {
            consecutive_failures,
        }
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let breaker = breaker(3, 1);
        let t0 = Instant::now();
        call(&breaker, "conn", t0, Outcome::Failure);
        call(&breaker, "conn", t0, Outcome::Failure);
        assert_eq!(breaker.state("conn", t0), closed(2));
        // A success in between resets the count.
        call(&breaker, "conn", t0, Outcome::Success);
        assert_eq!(breaker.state("conn", t0), closed(0));
        call(&breaker, "conn", t0, Outcome::Failure);
        call(&breaker, "conn", t0, Outcome::Failure);
        call(&breaker, "conn", t0, Outcome::Failure);
        assert_eq!(
            breaker.state("conn", t0),
            CircuitState::Open { retry_in: secs(10) }
        );
        assert_eq!(
            breaker.check("conn", t0 + secs(4)).map(|_| ()),
            Err(Open { retry_in: secs(6) })
        );
    }

    #[test]
    fn neutral_outcomes_neither_count_nor_reset() {
        let breaker = breaker(2, 1);
        let t0 = Instant::now();
        call(&breaker, "conn", t0, Outcome::Failure);
        for _ in 0..10 {
            call(&breaker, "conn", t0, Outcome::Neutral);
        }
        assert_eq!(breaker.state("conn", t0), closed(1));
        call(&breaker, "conn", t0, Outcome::Failure);
        assert!(breaker.check("conn", t0).is_err());
    }

    #[test]
    fn half_open_after_open_for_then_closes_on_success() {
        let breaker = breaker(1, 1);
        let t0 = Instant::now();
        call(&breaker, "conn", t0, Outcome::Failure);
        assert!(breaker.check("conn", t0 + secs(9)).is_err());
        assert_eq!(
            breaker.state("conn", t0 + secs(10)),
            CircuitState::HalfOpen {
                probes_in_flight: 0
            }
        );
        let probe = breaker
            .check("conn", t0 + secs(10))
            .expect("the first probe passes");
        assert!(probe.is_probe());
        assert_eq!(
            breaker.state("conn", t0 + secs(10)),
            CircuitState::HalfOpen {
                probes_in_flight: 1
            }
        );
        probe.record(Outcome::Success, t0 + secs(11));
        assert_eq!(breaker.state("conn", t0 + secs(11)), closed(0));
        let permit = breaker
            .check("conn", t0 + secs(11))
            .expect("the circuit is closed");
        assert!(!permit.is_probe());
        permit.record(Outcome::Success, t0 + secs(11));
    }

    #[test]
    fn half_open_failure_reopens_for_another_spell() {
        let breaker = breaker(1, 1);
        let t0 = Instant::now();
        call(&breaker, "conn", t0, Outcome::Failure);
        let probe = breaker.check("conn", t0 + secs(10)).expect("probe");
        probe.record(Outcome::Failure, t0 + secs(12));
        assert_eq!(
            breaker.check("conn", t0 + secs(13)).map(|_| ()),
            Err(Open { retry_in: secs(9) })
        );
        assert!(breaker.check("conn", t0 + secs(22)).is_ok());
    }

    #[test]
    fn half_open_allows_only_the_configured_probes() {
        let breaker = breaker(1, 2);
        let t0 = Instant::now();
        call(&breaker, "conn", t0, Outcome::Failure);
        let t1 = t0 + secs(10);
        let first = breaker.check("conn", t1).expect("first probe");
        let second = breaker.check("conn", t1).expect("second probe");
        assert_eq!(
            breaker.check("conn", t1).map(|_| ()),
            Err(Open { retry_in: secs(10) })
        );
        // A neutral probe frees its slot without deciding anything.
        first.record(Outcome::Neutral, t1);
        let third = breaker.check("conn", t1).expect("a slot was freed");
        assert!(breaker.check("conn", t1).is_err());
        // A dropped (cancelled) probe frees its slot too.
        drop(third);
        let fourth = breaker.check("conn", t1).expect("a slot was freed");
        second.record(Outcome::Success, t1);
        assert_eq!(breaker.state("conn", t1), closed(0));
        // The other probe's late failure belongs to a finished spell.
        fourth.record(Outcome::Failure, t1);
        assert_eq!(breaker.state("conn", t1), closed(0));
    }

    #[test]
    fn probes_from_an_earlier_spell_are_ignored() {
        let breaker = breaker(1, 2);
        let t0 = Instant::now();
        call(&breaker, "conn", t0, Outcome::Failure);
        let t1 = t0 + secs(10);
        let failing = breaker.check("conn", t1).expect("probe");
        let late = breaker.check("conn", t1).expect("probe");
        failing.record(Outcome::Failure, t1);
        let t2 = t1 + secs(10);
        let current = breaker.check("conn", t2).expect("probe of the new spell");
        // The earlier spell's probe neither closes the circuit nor frees a slot of this one.
        late.record(Outcome::Success, t2);
        assert_eq!(
            breaker.state("conn", t2),
            CircuitState::HalfOpen {
                probes_in_flight: 1
            }
        );
        current.record(Outcome::Success, t2);
        assert_eq!(breaker.state("conn", t2), closed(0));
    }

    #[test]
    fn late_closed_calls_do_not_decide_an_open_circuit() {
        let breaker = breaker(1, 1);
        let t0 = Instant::now();
        let slow = breaker.check("conn", t0).expect("closed");
        call(&breaker, "conn", t0, Outcome::Failure);
        slow.record(Outcome::Success, t0 + secs(1));
        assert_eq!(
            breaker.state("conn", t0 + secs(1)),
            CircuitState::Open { retry_in: secs(9) }
        );
    }

    #[test]
    fn breakers_and_permits_cross_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CircuitBreaker>();
        assert_send_sync::<Permit>();
    }

    #[test]
    fn keys_are_independent() {
        let breaker = breaker(1, 1);
        let t0 = Instant::now();
        call(&breaker, "a", t0, Outcome::Failure);
        assert!(breaker.check("a", t0).is_err());
        assert!(breaker.check("b", t0).is_ok());
        assert_eq!(breaker.state("b", t0), closed(0));
    }

    #[test]
    fn zero_settings_are_raised_to_one() {
        let breaker = breaker(0, 0);
        assert_eq!(breaker.config().failure_threshold, 1);
        assert_eq!(breaker.config().half_open_probes, 1);
        let t0 = Instant::now();
        call(&breaker, "conn", t0, Outcome::Failure);
        assert!(breaker.check("conn", t0).is_err());
        assert!(breaker.check("conn", t0 + secs(10)).is_ok());
    }

    #[test]
    fn concurrent_failures_open_once_and_probes_stay_limited() {
        let breaker = breaker(50, 3);
        let t0 = Instant::now();
        let start = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let breaker = breaker.clone();
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..10 {
                        if let Ok(permit) = breaker.check("conn", t0) {
                            permit.record(Outcome::Failure, t0);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("no thread panicked");
        }
        assert_eq!(
            breaker.state("conn", t0),
            CircuitState::Open { retry_in: secs(10) }
        );
        let t1 = t0 + secs(10);
        let granted = Arc::new(Mutex::new(Vec::new()));
        let start = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let breaker = breaker.clone();
                let granted = Arc::clone(&granted);
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    if let Ok(permit) = breaker.check("conn", t1) {
                        granted.lock().expect("not poisoned").push(permit);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("no thread panicked");
        }
        assert_eq!(granted.lock().expect("not poisoned").len(), 3);
    }

    fn provider_error(status: u16, code: ErrorCode, action: ErrorAction) -> ProviderError {
        ProviderError {
            code,
            action,
            rule: None,
            status,
            vendor_code: None,
            message: None,
            field: None,
        }
    }

    #[test]
    fn outcomes_of_answers_and_send_errors() {
        use ErrorAction as A;
        use ErrorCode as C;
        let cases = [
            // Throttles say the vendor is metering, not failing (issue 15).
            (429, C::RateLimited, A::RateLimited, Outcome::Neutral),
            (429, C::RateLimited, A::Fail, Outcome::Neutral),
            (503, C::UpstreamUnavailable, A::Retry, Outcome::Failure),
            (504, C::UpstreamTimeout, A::Retry, Outcome::Failure),
            // A spent daily allowance answered as a 403: it fails the call but is a throttle.
            (403, C::QuotaExhausted, A::Fail, Outcome::Neutral),
            (500, C::Internal, A::Fail, Outcome::Failure),
            (404, C::NotFound, A::Fail, Outcome::Neutral),
            (422, C::ValidationFailed, A::Fail, Outcome::Neutral),
            (401, C::AuthExpired, A::RefreshAndRetry, Outcome::Neutral),
            (404, C::NotFound, A::Ignore, Outcome::Success),
        ];
        let plain = |status: u16| VendorResponse::new(status, Vec::new(), serde_json::Value::Null);
        for (status, code, action, expected) in cases {
            let error = provider_error(status, code, action);
            assert_eq!(
                Outcome::of_answer(&plain(status), Some(&error)),
                expected,
                "{error:?}"
            );
        }
        assert_eq!(Outcome::of_answer(&plain(200), None), Outcome::Success);
        // A 503 with Retry-After is the vendor asking for a pause: a throttle.
        let unavailable = provider_error(503, C::UpstreamUnavailable, A::Retry);
        let paused = VendorResponse::new(
            503,
            vec![("Retry-After".to_owned(), "5".to_owned())],
            serde_json::Value::Null,
        );
        assert_eq!(
            Outcome::of_answer(&paused, Some(&unavailable)),
            Outcome::Neutral
        );
        assert_eq!(
            Outcome::of_send_error(&SendError::Timeout(secs(30))),
            Outcome::Failure
        );
        assert_eq!(
            Outcome::of_send_error(&SendError::Connect("refused".to_owned())),
            Outcome::Failure
        );
        assert_eq!(
            Outcome::of_send_error(&SendError::HostNotAllowed("evil.test".to_owned())),
            Outcome::Neutral
        );
    }
}
