//! The default [`Engine`]: JSONata by the `jlens-core` crate, with our native functions.
//!
//! This is the only module that names jlens (besides the prepared bindings [`Vars`] caches).
//! It translates our [`Limits`] into jlens options, our native functions into jlens host
//! functions, and jlens errors into [`MappingError`]s whose positions count characters, where
//! jlens counts UTF-16 code units as jsonata-js does.

use std::sync::{Arc, LazyLock};

use jlens_core::{Bindings, Expression, HostCall, HostFunction, Options};
use serde_json::Value;

use crate::native::{NATIVE_FUNCTIONS, NativeFunction};
use crate::{Compiled, Engine, Limits, MappingError, Vars};

/// JSONata by jlens-core.
pub(crate) struct JlensEngine;

impl Engine for JlensEngine {
    fn compile(&self, source: &str) -> Result<Arc<dyn Compiled>, MappingError> {
        let expression =
            Expression::compile(source).map_err(|error| mapping_error(&error, source))?;
        Ok(Arc::new(JlensCompiled { expression }))
    }

    fn name(&self) -> &'static str {
        "jlens"
    }
}

#[derive(Debug)]
struct JlensCompiled {
    expression: Expression,
}

impl Compiled for JlensCompiled {
    fn evaluate(
        &self,
        input: Option<&Value>,
        vars: &Vars,
        limits: &Limits,
    ) -> Result<Option<Value>, MappingError> {
        let bindings = vars.prepared(bindings_for);
        let mut options = Options::new()
            .timeout(limits.timeout)
            .max_depth(limits.max_depth);
        if let Some(max_steps) = limits.max_steps {
            options = options.max_steps(max_steps);
        }
        self.expression
            .evaluate_with(input, bindings, &options)
            .map_err(|error| mapping_error(&error, self.expression.source()))
    }
}

/// The native functions, built once; binding variables next to them shares them.
static NATIVE_BINDINGS: LazyLock<Bindings> = LazyLock::new(|| {
    NATIVE_FUNCTIONS
        .iter()
        .fold(Bindings::new(), |bindings, function| {
            bindings.function(function.doc.name, host_function(function))
        })
});

/// The jlens bindings for `vars`: the native functions, then the variables, which take the
/// place of a native function of the same name.
fn bindings_for(vars: &Vars) -> Bindings {
    vars.iter()
        .fold(NATIVE_BINDINGS.clone(), |bindings, (name, value)| {
            bindings.var(name, value.clone())
        })
}

fn host_function(function: &NativeFunction) -> HostFunction {
    let implementation = function.implementation;
    let call = move |args: &[Option<Value>], _call: &HostCall<'_>| {
        implementation(args)
            .map_err(|error| jlens_core::Error::new(error.code).with("message", error.message))
    };
    let host = match function.jsonata_signature {
        Some(signature) => HostFunction::with_signature(signature, call)
            .expect("the signatures of the native function table are valid"),
        None => HostFunction::new(function.arity, call),
    };
    host.without_input()
}

fn mapping_error(error: &jlens_core::Error, source: &str) -> MappingError {
    MappingError {
        code: error.code().to_owned(),
        message: error.message(),
        position: error.position().map(|utf16| char_offset(source, utf16)),
    }
}

/// The character offset of a UTF-16 code unit offset in `source`.
fn char_offset(source: &str, utf16: usize) -> usize {
    let mut units = 0;
    for (index, c) in source.chars().enumerate() {
        if units >= utf16 {
            return index;
        }
        units += c.len_utf16();
    }
    source.chars().count()
}

#[cfg(test)]
mod tests;
