//! The picture-string functions (`$formatNumber`, `$formatInteger`, `$parseInteger`, and
//! `$fromMillis`/`$toMillis` with a picture or time zone), for now evaluated by jlens-core.
//!
//! These XPath picture formats are a large, self-contained part of JSONata that CRM mappings
//! rarely use (our `$parseDate`/`$formatDate` serve dates); until they are written here, each
//! call builds the same call as a jlens expression over bound arguments. The arguments are
//! already checked against the function's signature, so only the formatting is delegated.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use jlens_core::{Bindings, Expression, Options};

use super::eval::{Ctx, R};
use super::value::{self, V};
use crate::MappingError;

/// The jlens expressions already built, by function name and number of arguments.
type Calls = HashMap<(String, usize), Arc<Expression>>;

static CALLS: LazyLock<Mutex<Calls>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn expression(name: &str, arity: usize) -> Arc<Expression> {
    let mut calls = CALLS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    calls
        .entry((name.to_owned(), arity))
        .or_insert_with(|| {
            let params: Vec<String> = (0..arity).map(|index| format!("$a{index}")).collect();
            let source = format!("${name}({})", params.join(", "));
            Arc::new(Expression::compile(&source).expect("the delegated call is valid JSONata"))
        })
        .clone()
}

/// Calls `$name` with `args` through jlens-core.
pub(crate) fn call<'a>(
    ctx: &Ctx<'a>,
    name: &str,
    args: Vec<Option<V<'a>>>,
    pos: usize,
) -> R<Option<V<'a>>> {
    ctx.meter.spend(16)?;
    let arity = args
        .iter()
        .rposition(Option::is_some)
        .map_or(0, |last| last + 1);
    let mut bindings = Bindings::new();
    for (index, arg) in args.iter().enumerate().take(arity) {
        if let Some(json) = arg.as_ref().and_then(value::to_json) {
            bindings = bindings.var(format!("a{index}"), json);
        }
    }
    let options = Options::new()
        .timeout(Duration::from_secs(1))
        .max_depth(100);
    let result = expression(name, arity)
        .evaluate_with(None, &bindings, &options)
        .map_err(|error| {
            Box::new(MappingError {
                code: error.code().to_owned(),
                message: error.message(),
                position: Some(pos),
            })
        })?;
    Ok(result.map(|json| value::from_owned_json(&json)))
}
