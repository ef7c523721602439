//! Metering of one evaluation: fuel, a deadline, depth, and caps on what the evaluation builds.
//!
//! Every node evaluated and every iteration of every loop, inside built-in functions too,
//! spends fuel in proportion to its work; the clock is read every few hundred units of fuel, so
//! the deadline holds inside a single long built-in call. Arrays, ranges and strings are
//! checked against their caps before they are allocated, and every allocation counts towards a
//! per-evaluation byte budget. Each error names the limit it hit.

use std::cell::Cell;
use std::time::Instant;

use super::err;
use crate::{Limits, MappingError};

/// How much fuel may be spent between two readings of the clock.
const CLOCK_EVERY: u64 = 512;

pub(crate) struct Meter {
    fuel: Cell<u64>,
    /// The fuel the evaluation started with.
    initial_fuel: u64,
    unmetered: bool,
    until_clock: Cell<u64>,
    deadline: Option<Instant>,
    timeout_ms: u128,
    pub(crate) depth: Cell<usize>,
    pub(crate) max_depth: usize,
    allocated: Cell<usize>,
    max_alloc: usize,
    pub(crate) max_items: usize,
    pub(crate) max_string: usize,
    pub(crate) max_output: usize,
    pub(crate) started_millis: i64,
}

type R<T> = Result<T, Box<MappingError>>;

impl Meter {
    pub(crate) fn new(limits: &Limits) -> Meter {
        Meter {
            fuel: Cell::new(limits.max_steps.unwrap_or(u64::MAX)),
            initial_fuel: limits.max_steps.unwrap_or(u64::MAX),
            unmetered: limits.max_steps.is_none(),
            until_clock: Cell::new(CLOCK_EVERY),
            deadline: Instant::now().checked_add(limits.timeout),
            timeout_ms: limits.timeout.as_millis(),
            depth: Cell::new(0),
            max_depth: limits.max_depth,
            allocated: Cell::new(0),
            max_alloc: limits.max_alloc_bytes,
            max_items: limits.max_items,
            max_string: limits.max_string_bytes,
            max_output: limits.max_output_bytes,
            started_millis: chrono::Utc::now().timestamp_millis(),
        }
    }

    /// The fuel spent so far (0 when the evaluation is not metered).
    pub(crate) fn spent(&self) -> u64 {
        if self.unmetered {
            0
        } else {
            self.initial_fuel - self.fuel.get()
        }
    }

    /// Spends one unit of fuel.
    #[inline]
    pub(crate) fn tick(&self) -> R<()> {
        self.spend(1)
    }

    /// Spends `units` of fuel, reading the clock when enough has been spent since last time.
    #[inline]
    pub(crate) fn spend(&self, units: u64) -> R<()> {
        if !self.unmetered {
            let left = self.fuel.get();
            if left < units {
                self.fuel.set(0);
                return Err(err(
                    "U1006",
                    "the evaluation ran out of steps (limit max_steps)",
                    None,
                ));
            }
            self.fuel.set(left - units);
        }
        let until = self.until_clock.get();
        if until > units {
            self.until_clock.set(until - units);
            Ok(())
        } else {
            self.until_clock.set(CLOCK_EVERY);
            self.check_clock()
        }
    }

    #[cold]
    fn check_clock(&self) -> R<()> {
        match self.deadline {
            Some(deadline) if Instant::now() > deadline => Err(err(
                "D1012",
                format!(
                    "the evaluation took longer than {} ms (limit timeout)",
                    self.timeout_ms
                ),
                None,
            )),
            _ => Ok(()),
        }
    }

    /// Counts `bytes` towards the evaluation's allocation budget, before they are allocated.
    #[inline]
    pub(crate) fn alloc(&self, bytes: usize) -> R<()> {
        let total = self.allocated.get().saturating_add(bytes);
        if total > self.max_alloc {
            return Err(err(
                "D1013",
                format!(
                    "the evaluation would allocate more than {} bytes (limit max_alloc_bytes)",
                    self.max_alloc
                ),
                None,
            ));
        }
        self.allocated.set(total);
        Ok(())
    }

    /// Refuses an array or range of `count` items above the cap, before it is built, and
    /// charges its cost.
    pub(crate) fn items(&self, count: usize, what: &str) -> R<()> {
        if count > self.max_items {
            return Err(err(
                "D1014",
                format!(
                    "{what} would hold {count} items, above the limit of {} (limit max_items)",
                    self.max_items
                ),
                None,
            ));
        }
        self.alloc(count.saturating_mul(size_of::<super::value::V<'_>>()))?;
        self.spend(count as u64 / 8)
    }

    /// Charges a path step for gathering `count` items it did not build (values of the input,
    /// or of arrays already charged when they were built) into its result: their references
    /// count towards the allocation budget and fuel, not towards `max_items`, so a path over a
    /// large vendor page is not refused as if it built a large array.
    pub(crate) fn gather(&self, count: usize) -> R<()> {
        self.alloc(count.saturating_mul(size_of::<super::value::V<'_>>()))?;
        self.spend(count as u64 / 8)
    }

    /// Refuses a string of `bytes` above the cap, before it is built, and charges its cost.
    pub(crate) fn string(&self, bytes: usize) -> R<()> {
        if bytes > self.max_string {
            return Err(err(
                "D1015",
                format!(
                    "a string of {bytes} bytes would exceed the limit of {} (limit max_string_bytes)",
                    self.max_string
                ),
                None,
            ));
        }
        self.alloc(bytes)?;
        self.spend(bytes as u64 / 64)
    }

    /// Enters a function call.
    pub(crate) fn enter(&self) -> R<()> {
        let depth = self.depth.get() + 1;
        if depth > self.max_depth {
            return Err(err(
                "D1011",
                format!(
                    "the evaluation nested deeper than {} calls (limit max_depth)",
                    self.max_depth
                ),
                None,
            ));
        }
        self.depth.set(depth);
        Ok(())
    }

    pub(crate) fn leave(&self) {
        self.depth.set(self.depth.get().saturating_sub(1));
    }

    /// A node's step: spends a unit of fuel, enters a level of depth, runs `f` and leaves the
    /// level again, whether `f` succeeded or not.
    #[inline(always)]
    pub(crate) fn nested<T>(&self, f: impl FnOnce() -> R<T>) -> R<T> {
        self.tick()?;
        self.within(f)
    }

    /// Enters a level of depth, runs `f` and leaves the level again, whether `f` succeeded or
    /// not (the tail-call forms, which spend their unit of fuel inside `f`).
    #[inline(always)]
    pub(crate) fn within<T>(&self, f: impl FnOnce() -> R<T>) -> R<T> {
        self.enter()?;
        let result = f();
        self.leave();
        result
    }
}
