//! JSONata mappings behind a small trait of ours, with the native helper functions connectors use.
//!
//! Connectors express record, query and body mappings, route conditions and error rules as
//! JSONata expressions. This crate compiles them once ([`Expr::compile`]) and evaluates them
//! many times ([`Expr::evaluate`]) with bound variables ([`Vars`]) under evaluation
//! [`Limits`], so a bad mapping can never hang the gateway.
//!
//! The JSONata engine itself sits behind the [`Engine`] and [`Compiled`] traits: the default
//! one ([`default_engine`]) is our own (`src/jsonata/`), compiled once and metered inside
//! every built-in; the one built on the `jlens-core` crate stays beside it as a test oracle
//! ([`engine_named`]). No other crate of ours names either. The native functions CRM mappings need (`$parseDate`, `$e164`, `$soqlEscape`...) are
//! engine-neutral Rust ([`native_functions`] lists them) that each engine registers on every
//! evaluation. The crate does no IO.

mod budget;
mod error;
mod jlens_engine;
mod jsonata;
mod native;
mod vars;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use budget::{Budget, REQUEST_BUDGET_CODE, RequestLimits, Scope};
pub use error::MappingError;
pub use native::{FunctionDoc, native_functions};
pub use vars::Vars;

/// A compiled JSONata expression.
///
/// Cloning is cheap (an `Arc` inside), and an `Expr` can be shared between threads.
#[derive(Clone)]
pub struct Expr {
    inner: Arc<ExprInner>,
}

struct ExprInner {
    source: String,
    compiled: Arc<dyn Compiled>,
}

impl Expr {
    /// Compiles `source` with the [`default_engine`].
    ///
    /// # Errors
    ///
    /// Returns the engine's syntax error, such as `S0203` with the position it was found at.
    pub fn compile(source: &str) -> Result<Expr, MappingError> {
        Expr::compile_with(default_engine(), source)
    }

    /// Compiles `source` with the given engine.
    ///
    /// # Errors
    ///
    /// Returns the engine's syntax error.
    pub fn compile_with(engine: &dyn Engine, source: &str) -> Result<Expr, MappingError> {
        let compiled = engine.compile(source)?;
        Ok(Expr {
            inner: Arc::new(ExprInner {
                source: source.to_owned(),
                compiled,
            }),
        })
    }

    /// Returns the source text the expression was compiled from.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// Evaluates the expression under the [`Limits`] of the [`Budget`] entered on this thread
    /// (charging it), or the default limits outside any budget.
    ///
    /// `None` as input means *undefined* (no input document); `Ok(None)` means the expression
    /// evaluated to *undefined*.
    ///
    /// # Errors
    ///
    /// Returns the JSONata error (`T2002`, `D3001`...), one of our native functions' errors
    /// (`CW...`), a limit's error (`D1011` depth, `D1012` timeout, `U1006` steps, `D1013` to
    /// `D1016` sizes), or `D1017` when the request's budget is spent.
    pub fn evaluate(
        &self,
        input: Option<&Value>,
        vars: &Vars,
    ) -> Result<Option<Value>, MappingError> {
        match Budget::current() {
            Some(budget) => {
                let limits = budget.limits().clone();
                budget.run(&limits, |limits| {
                    self.inner.compiled.evaluate_counted(input, vars, limits)
                })
            }
            None => self
                .inner
                .compiled
                .evaluate(input, vars, &Limits::default()),
        }
    }

    /// Evaluates the expression under explicit [`Limits`]; inside a [`Budget`]'s scope, its
    /// steps and time are still capped by what is left of the request's and charged to it.
    ///
    /// # Errors
    ///
    /// As [`Expr::evaluate`].
    pub fn evaluate_with(
        &self,
        input: Option<&Value>,
        vars: &Vars,
        limits: &Limits,
    ) -> Result<Option<Value>, MappingError> {
        match Budget::current() {
            Some(budget) => budget.run(limits, |limits| {
                self.inner.compiled.evaluate_counted(input, vars, limits)
            }),
            None => self.inner.compiled.evaluate(input, vars, limits),
        }
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Expr").field(&self.inner.source).finish()
    }
}

/// Guardrails applied to one evaluation.
///
/// The default is generous for any real mapping but bounded: 1 s, depth 500 and 2,000,000
/// steps. The step cap is the deterministic guard; the time cap is a backstop set well above
/// one-off costs such as the first E.164 parse loading the phone-number metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of evaluation steps (roughly, nodes evaluated and functions called);
    /// `None` for no cap. Exceeding it fails with `U1006`.
    pub max_steps: Option<u64>,
    /// Maximum evaluation depth. Exceeding it fails with `D1011`.
    pub max_depth: usize,
    /// Maximum wall-clock time of one evaluation. Exceeding it fails with `D1012`.
    pub timeout: Duration,
    /// Largest array, range or object an evaluation may build, in items; refused before it is
    /// allocated with `D1014`.
    pub max_items: usize,
    /// Longest string an evaluation may build, in bytes; refused before it is allocated with
    /// `D1015`.
    pub max_string_bytes: usize,
    /// Bytes an evaluation may allocate in all; exceeding it fails with `D1013`.
    pub max_alloc_bytes: usize,
    /// Largest result, as JSON text, in bytes; exceeding it fails with `D1016`.
    pub max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: Some(2_000_000),
            max_depth: 500,
            timeout: Duration::from_secs(1),
            max_items: 10_000,
            max_string_bytes: 4 << 20,
            max_alloc_bytes: 64 << 20,
            max_output_bytes: 64 << 20,
        }
    }
}

/// A JSONata implementation: compiles source text into something [`Compiled`].
///
/// Both methods are required. An engine registers the [`native_functions`] on every
/// evaluation of what it compiles, and reports errors with JSONata's codes.
pub trait Engine: Send + Sync {
    /// Compiles `source`.
    ///
    /// # Errors
    ///
    /// Returns the syntax error with its JSONata code and position.
    fn compile(&self, source: &str) -> Result<Arc<dyn Compiled>, MappingError>;

    /// A short name for logs and benchmarks, such as `jlens`.
    fn name(&self) -> &'static str;
}

/// An expression compiled by an [`Engine`], ready to evaluate many times from any thread.
pub trait Compiled: Send + Sync + fmt::Debug {
    /// Evaluates against `input` (`None`: undefined) with `vars` bound as `$name`, under
    /// `limits`. `Ok(None)` is an undefined result.
    ///
    /// # Errors
    ///
    /// Returns the evaluation's error with its JSONata (or `CW...`) code.
    fn evaluate(
        &self,
        input: Option<&Value>,
        vars: &Vars,
        limits: &Limits,
    ) -> Result<Option<Value>, MappingError>;

    /// As [`Compiled::evaluate`], also returning the steps the evaluation spent, which a
    /// request's [`Budget`] is charged. An engine that does not count steps reports 0 (its
    /// evaluations are then charged their time only).
    fn evaluate_counted(
        &self,
        input: Option<&Value>,
        vars: &Vars,
        limits: &Limits,
    ) -> (Result<Option<Value>, MappingError>, u64) {
        (self.evaluate(input, vars, limits), 0)
    }
}

/// The engines this crate has, by name: `jlens` (jlens-core) and `crosswalk` (our own).
pub fn engine_named(name: &str) -> Option<&'static dyn Engine> {
    match name {
        "jlens" => Some(&jlens_engine::JlensEngine),
        "crosswalk" => Some(&jsonata::OwnEngine),
        _ => None,
    }
}

/// The engine [`Expr::compile`] uses: our own, with our native functions.
pub fn default_engine() -> &'static dyn Engine {
    &jsonata::OwnEngine
}
