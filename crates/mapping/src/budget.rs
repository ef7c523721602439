//! The evaluation budget of one request: the [`Limits`] of each evaluation, and what all the
//! evaluations of the request may spend together.
//!
//! A caller (a unified operation) makes one [`Budget`] per request and [`Budget::enter`]s it on
//! the thread that runs the request's evaluations. Every [`Expr::evaluate`](crate::Expr::evaluate)
//! on that thread while the scope is held runs under the budget's limits, capped by what is left
//! of the request's steps and evaluation time, and is charged what it spent. Once the request's
//! budget is gone, further evaluations fail at once with `D1017`, naming the limit, without
//! running: a list page maps the records it can and reports the others as item errors.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::{Limits, MappingError};

/// The code of an evaluation refused or stopped because its request's budget is spent.
pub const REQUEST_BUDGET_CODE: &str = "D1017";

/// What all the evaluations of one request may spend together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Steps all evaluations of the request may take in all; `None` for no cap.
    pub max_steps: Option<u64>,
    /// Time all evaluations of the request may take in all (time spent waiting for the vendor
    /// does not count).
    pub max_time: Duration,
}

impl Default for RequestLimits {
    /// Ten times one evaluation's default steps: every vendor suite page (a page of 1,000
    /// contacts included) passes with a tenth of it, and a page whose every record runs to its
    /// own step limit stops after ten records. The time is a backstop, set far above what a
    /// page of 1,000 records takes even in a debug build on a loaded machine (it exceeded 5 s
    /// there), since time, unlike steps, depends on the machine.
    fn default() -> Self {
        RequestLimits {
            max_steps: Some(20_000_000),
            max_time: Duration::from_secs(30),
        }
    }
}

/// The evaluation budget of one request. Shared between the threads that evaluate for the
/// request (`Arc`); the counters are atomic.
#[derive(Debug)]
pub struct Budget {
    limits: Limits,
    request: RequestLimits,
    steps_spent: AtomicU64,
    nanos_spent: AtomicU64,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Budget>>> = const { RefCell::new(None) };
}

/// While held, evaluations on this thread run under a [`Budget`]. Dropping it restores the
/// scope that was current before (scopes nest).
#[must_use = "the budget applies only while the scope is held"]
pub struct Scope {
    previous: Option<Arc<Budget>>,
    /// A scope belongs to the thread that entered it.
    _not_send: PhantomData<*const ()>,
}

impl Drop for Scope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

impl Budget {
    /// A request budget: each evaluation under `limits`, all of them under `request`.
    pub fn new(limits: Limits, request: RequestLimits) -> Budget {
        Budget {
            limits,
            request,
            steps_spent: AtomicU64::new(0),
            nanos_spent: AtomicU64::new(0),
        }
    }

    /// The limits of each evaluation.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The limits of the whole request.
    pub fn request_limits(&self) -> &RequestLimits {
        &self.request
    }

    /// Steps spent so far by the request's evaluations (those of engines that count them).
    pub fn steps_spent(&self) -> u64 {
        self.steps_spent.load(Ordering::Relaxed)
    }

    /// Evaluation time spent so far by the request.
    pub fn time_spent(&self) -> Duration {
        Duration::from_nanos(self.nanos_spent.load(Ordering::Relaxed))
    }

    /// Makes this budget the one evaluations on the current thread run under, until the
    /// returned scope is dropped.
    pub fn enter(self: &Arc<Self>) -> Scope {
        let previous = CURRENT.with(|current| current.borrow_mut().replace(Arc::clone(self)));
        Scope {
            previous,
            _not_send: PhantomData,
        }
    }

    /// The budget entered on this thread, if any.
    pub fn current() -> Option<Arc<Budget>> {
        CURRENT.with(|current| current.borrow().clone())
    }

    fn spent_error(&self, limit: &str) -> MappingError {
        let what = match limit {
            "request_max_steps" => format!("{} steps", self.request.max_steps.unwrap_or_default()),
            _ => format!("{} ms", self.request.max_time.as_millis()),
        };
        MappingError::new(
            REQUEST_BUDGET_CODE,
            format!(
                "the request's evaluation budget of {what} is spent (limit {limit}); the rest was not evaluated"
            ),
        )
    }

    /// The limits of the next evaluation, from `base`: its steps and time capped by what is
    /// left of the request's. Which caps came from the request is returned beside them.
    fn next_limits(&self, base: &Limits) -> Result<(Limits, bool, bool), MappingError> {
        let mut limits = base.clone();
        let mut steps_capped = false;
        if let Some(max) = self.request.max_steps {
            let left = max.saturating_sub(self.steps_spent());
            if left == 0 {
                return Err(self.spent_error("request_max_steps"));
            }
            if limits.max_steps.is_none_or(|own| own > left) {
                limits.max_steps = Some(left);
                steps_capped = true;
            }
        }
        let time_left = self.request.max_time.saturating_sub(self.time_spent());
        if time_left.is_zero() {
            return Err(self.spent_error("request_max_time"));
        }
        let mut time_capped = false;
        if time_left < limits.timeout {
            limits.timeout = time_left;
            time_capped = true;
        }
        Ok((limits, steps_capped, time_capped))
    }

    /// Runs one evaluation under this budget: `run` gets the limits to apply and returns the
    /// result with the steps it spent.
    pub(crate) fn run<T>(
        &self,
        base: &Limits,
        run: impl FnOnce(&Limits) -> (Result<T, MappingError>, u64),
    ) -> Result<T, MappingError> {
        let (limits, steps_capped, time_capped) = self.next_limits(base)?;
        let started = Instant::now();
        let (result, steps) = run(&limits);
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.steps_spent.fetch_add(steps, Ordering::Relaxed);
        self.nanos_spent.fetch_add(nanos, Ordering::Relaxed);
        result.map_err(|error| match error.code.as_str() {
            // The evaluation stopped at a cap the request's budget set: say so.
            "U1006" if steps_capped => self.spent_error("request_max_steps"),
            "D1012" if time_capped => self.spent_error("request_max_time"),
            _ => error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Expr, Vars};

    #[test]
    fn evaluations_in_a_scope_share_the_request_budget_and_stop_naming_it() {
        let budget = Arc::new(Budget::new(
            Limits::default(),
            RequestLimits {
                max_steps: Some(2_000),
                max_time: Duration::from_secs(60),
            },
        ));
        let expr = Expr::compile("$sum([1..100])").expect("compiles");
        let _scope = budget.enter();
        let mut done = 0;
        let error = loop {
            match expr.evaluate(None, &Vars::new()) {
                Ok(_) => done += 1,
                Err(error) => break error,
            }
            assert!(done < 1_000, "the budget never ran out");
        };
        assert!(done >= 1, "at least one evaluation fits");
        assert_eq!(error.code, REQUEST_BUDGET_CODE);
        assert!(error.message.contains("request_max_steps"), "{error}");
        assert!(budget.steps_spent() <= 2_000);
        // Spent: the next one is refused without running.
        let again = expr.evaluate(None, &Vars::new()).expect_err("refused");
        assert_eq!(again.code, REQUEST_BUDGET_CODE);
    }

    #[test]
    fn each_evaluation_keeps_its_own_limits_inside_the_budget() {
        let limits = Limits {
            max_items: 10,
            ..Limits::default()
        };
        let budget = Arc::new(Budget::new(limits, RequestLimits::default()));
        let _scope = budget.enter();
        let error = Expr::compile("[1..100]")
            .expect("compiles")
            .evaluate(None, &Vars::new())
            .expect_err("above max_items");
        assert_eq!(error.code, "D1014");
        assert!(error.message.contains("max_items"), "{error}");
    }

    #[test]
    fn a_scope_ends_when_dropped_and_scopes_nest() {
        let tight = Arc::new(Budget::new(
            Limits::default(),
            RequestLimits {
                max_steps: Some(1),
                max_time: Duration::from_secs(60),
            },
        ));
        let loose = Arc::new(Budget::new(Limits::default(), RequestLimits::default()));
        let expr = Expr::compile("$sum([1..100])").expect("compiles");
        {
            let _outer = loose.enter();
            {
                let _inner = tight.enter();
                assert!(expr.evaluate(None, &Vars::new()).is_err());
            }
            assert!(expr.evaluate(None, &Vars::new()).is_ok());
        }
        assert!(Budget::current().is_none());
        assert!(expr.evaluate(None, &Vars::new()).is_ok());
    }
}
