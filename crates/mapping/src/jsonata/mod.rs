//! Our own JSONata engine: parsed once into a tree whose names, regular expressions and
//! signatures are resolved up front, evaluated over the caller's `serde_json::Value` without
//! converting it, and metered so that no expression can run past its limits.
//!
//! [`OwnEngine`] implements the crate's [`Engine`] trait; the modules below it are the lexer and
//! parser, the values, the evaluator, the built-in functions and the meter.

mod compile;
mod datetime;
mod eval;
mod functions;
mod lexer;
mod meter;
mod parser;
mod picture;
mod signature;
mod value;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::Value as Json;

use crate::{Compiled, Engine, Limits, MappingError, Vars};
use meter::Meter;
use value::V;

/// A new error without a position (the caller adds the position it knows).
pub(crate) fn err(
    code: &str,
    message: impl Into<String>,
    position: Option<usize>,
) -> Box<MappingError> {
    Box::new(MappingError {
        code: code.to_owned(),
        message: message.into(),
        position,
    })
}

/// JSONata by this crate.
pub(crate) struct OwnEngine;

impl Engine for OwnEngine {
    fn compile(&self, source: &str) -> Result<Arc<dyn Compiled>, MappingError> {
        let tree = stacker::maybe_grow(64 * 1024, 4 * 1024 * 1024, || parser::parse(source))
            .map_err(|error| *error)?;
        let code = stacker::maybe_grow(64 * 1024, 4 * 1024 * 1024, || compile::compile(tree));
        Ok(Arc::new(OwnCompiled {
            code,
            shapes: value::Shapes::default(),
        }))
    }

    fn name(&self) -> &'static str {
        "crosswalk"
    }
}

struct OwnCompiled {
    code: compile::Code,
    /// The shapes of the objects its results had, which the next results are written through.
    shapes: value::Shapes,
}

impl std::fmt::Debug for OwnCompiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OwnCompiled")
    }
}

impl Compiled for OwnCompiled {
    fn evaluate(
        &self,
        input: Option<&Json>,
        vars: &Vars,
        limits: &Limits,
    ) -> Result<Option<Json>, MappingError> {
        let meter = Meter::new(limits);
        evaluate_code(&*self.code, input, vars, &meter, &self.shapes).map_err(|error| *error)
    }

    fn evaluate_counted(
        &self,
        input: Option<&Json>,
        vars: &Vars,
        limits: &Limits,
    ) -> (Result<Option<Json>, MappingError>, u64) {
        let meter = Meter::new(limits);
        let result =
            evaluate_code(&*self.code, input, vars, &meter, &self.shapes).map_err(|error| *error);
        (result, meter.spent())
    }
}

/// Evaluates a parsed tree under `meter` and writes the result as JSON, within the output cap.
pub(crate) fn evaluate_tree(
    tree: &parser::Node,
    input: Option<&Json>,
    vars: &Vars,
    meter: &Meter,
) -> Result<Option<Json>, Box<MappingError>> {
    let result = eval::run(tree, input, vars, meter)?;
    write_result(result, meter, None)
}

/// Evaluates a compiled expression under `meter` and writes the result as JSON, within the
/// output cap.
fn evaluate_code(
    code: &dyn compile::Op,
    input: Option<&Json>,
    vars: &Vars,
    meter: &Meter,
    shapes: &value::Shapes,
) -> Result<Option<Json>, Box<MappingError>> {
    let result = eval::run_code(code, input, vars, meter)?;
    write_result(result, meter, Some(shapes))
}

fn write_result(
    result: Option<V<'_>>,
    meter: &Meter,
    shapes: Option<&value::Shapes>,
) -> Result<Option<Json>, Box<MappingError>> {
    let Some(result) = result else {
        return Ok(None);
    };
    let cap = meter.max_output;
    value::write_result(&result, shapes, &mut value::OutputBudget(cap)).map_err(
        |value::TooLarge| {
            err(
                "D1016",
                format!("the result would be larger than {cap} bytes (limit max_output_bytes)"),
                None,
            )
        },
    )
}
