//! Evaluates the parsed tree over borrowed input, with JSONata's sequence semantics: paths map
//! over arrays and flatten, singleton sequences collapse, predicates filter or index, `@` and
//! `#` bind per-item variables through tuple streams, and lambdas close over their scope.
//!
//! Every node evaluated spends fuel from the [`Meter`], and so does every iteration inside
//! built-in functions; lambda calls count towards the depth cap, and tail calls (in the
//! branches of conditions and the last expression of blocks) run in a loop, so recursion that
//! JSONata allows in constant stack runs in constant stack here too.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::AtomicU32;

use serde_json::Value as Json;

use super::compile::Op as CodeOp;
use super::err;
use super::functions::{self, Builtin};
use super::meter::Meter;
use super::parser::{Kind, LambdaDef, Node, Op, RegexLit, SortTerm, Stage};
use super::value::{self, Arr, Str, V, collapse, deep_eq, new_obj, seq};
use crate::{MappingError, Vars};

pub(crate) type R<T> = Result<T, Box<MappingError>>;

/// The arguments of a call, inline while there are few (as there are in almost every call).
pub(crate) type Args<'a> = smallvec::SmallVec<[Option<V<'a>>; 4]>;

/// The variables of one scope, inline while there are few (a lambda's parameters).
type Scope<'a> = smallvec::SmallVec<[(&'a str, Option<V<'a>>); 3]>;

/// A scope of variables.
pub(crate) struct Env<'a> {
    vars: RefCell<Scope<'a>>,
    parent: Option<Rc<Env<'a>>>,
}

impl<'a> Env<'a> {
    pub(crate) fn root() -> Rc<Env<'a>> {
        Rc::new(Env {
            vars: RefCell::new(Scope::new()),
            parent: None,
        })
    }

    pub(crate) fn child(parent: &Rc<Env<'a>>) -> Rc<Env<'a>> {
        Rc::new(Env {
            vars: RefCell::new(Scope::new()),
            parent: Some(parent.clone()),
        })
    }

    fn bind(&self, name: &'a str, value: Option<V<'a>>) {
        let mut vars = self.vars.borrow_mut();
        if let Some(slot) = vars.iter_mut().find(|(n, _)| value::name_eq(n, name)) {
            slot.1 = value;
        } else {
            vars.push((name, value));
        }
    }

    /// The value bound to `name` in this scope or an enclosing one: `Some(None)` when it is
    /// bound to undefined, which hides the enclosing scopes' bindings.
    pub(crate) fn lookup(&self, name: &str) -> Option<Option<V<'a>>> {
        let mut env = self;
        loop {
            if let Some((_, value)) = env
                .vars
                .borrow()
                .iter()
                .rev()
                .find(|(n, _)| value::name_eq(n, name))
            {
                return Some(value.clone());
            }
            env = env.parent.as_deref()?;
        }
    }
}

impl<'a> Env<'a> {
    /// The value at `index` of the scope `hops` scopes out, when the variable there is called
    /// `name` (a slot decided when the expression was compiled, checked as it is read).
    #[inline]
    pub(crate) fn slot(&self, hops: usize, index: usize, name: &str) -> Option<Option<V<'a>>> {
        let mut env = self;
        for _ in 0..hops {
            env = env.parent.as_deref()?;
        }
        let vars = env.vars.borrow();
        let (bound, value) = vars.get(index)?;
        value::name_eq(bound, name).then(|| value.clone())
    }
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Env")
    }
}

/// A function value.
#[derive(Debug)]
pub(crate) enum Func<'a> {
    Lambda {
        def: &'a LambdaDef,
        env: Rc<Env<'a>>,
        input: Option<V<'a>>,
        /// The compiled body, which runs instead of `def.body` when there is one.
        code: Option<&'a dyn CodeOp>,
    },
    Builtin(&'static Builtin),
    /// A partial application: `None` marks a placeholder.
    Partial {
        func: V<'a>,
        args: Vec<Option<Option<V<'a>>>>,
    },
    /// `f ~> g`: `g(f(x))`.
    Chain(V<'a>, V<'a>),
    Regex(&'a RegexLit),
    Transform {
        node: &'a Node,
        env: Rc<Env<'a>>,
    },
}

impl Func<'_> {
    pub(crate) fn arity(&self) -> usize {
        match self {
            Func::Lambda { def, .. } => def.params.len(),
            Func::Builtin(builtin) => builtin.arity,
            Func::Partial { args, .. } => args.iter().filter(|arg| arg.is_none()).count(),
            Func::Chain(..) | Func::Regex(_) | Func::Transform { .. } => 1,
        }
    }
}

/// A reused lambda's definition, scope, input and compiled body (see [`Ctx::caller`]).
type Reuse<'a> = (
    &'a LambdaDef,
    Rc<Env<'a>>,
    Option<V<'a>>,
    Option<&'a dyn CodeOp>,
);

/// A function prepared for many calls (see [`Ctx::caller`]).
pub(crate) struct Caller<'a> {
    func: V<'a>,
    /// How many arguments the function takes.
    pub(crate) arity: usize,
    reuse: Option<Reuse<'a>>,
    /// The values of the body's parts that are the same for every call, once evaluated.
    invariants: RefCell<Vec<(*const Node, Option<V<'a>>)>>,
}

fn arity_of(func: &V<'_>) -> usize {
    match func {
        V::Func(f) => f.arity(),
        _ => 0,
    }
}

/// A tuple of a tuple stream: the context item and the variables bound along the path.
#[derive(Clone, Debug)]
struct Tuple<'a> {
    at: V<'a>,
    binds: Vec<(&'a str, V<'a>)>,
}

/// What one evaluation shares.
pub(crate) struct Ctx<'a> {
    pub(crate) meter: &'a Meter,
    vars: &'a Vars,
    root: Option<V<'a>>,
    /// Scopes that got a function bound, whose bindings are cleared when the evaluation ends so
    /// that closures referring to their own scope do not keep it alive.
    bound_funcs: RefCell<Vec<Rc<Env<'a>>>>,
    /// Scopes that lambda calls and blocks are done with and nothing else holds, emptied, for
    /// the next call or block to take instead of allocating one.
    spare_envs: RefCell<Vec<Rc<Env<'a>>>>,
}

/// How many emptied scopes an evaluation keeps for reuse.
const SPARE_ENVS: usize = 8;

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        for env in self.bound_funcs.borrow().iter() {
            env.vars.borrow_mut().clear();
        }
    }
}

pub(crate) enum Tail<'a> {
    Done(Option<V<'a>>),
    Call(V<'a>, Args<'a>),
}

pub(crate) fn pos_err(mut error: Box<MappingError>, pos: usize) -> Box<MappingError> {
    if error.position.is_none() {
        error.position = Some(pos);
    }
    error
}

/// JSONata's truthiness.
pub(crate) fn truthy(value: Option<&V<'_>>) -> bool {
    match value {
        None | Some(V::Null | V::Func(_)) => false,
        Some(V::Bool(flag)) => *flag,
        Some(V::Num(number)) => *number != 0.0,
        Some(V::Dec(dec)) => dec.value != 0.0,
        Some(V::Str(text)) => !text.is_empty(),
        Some(V::JObj(fields)) => !fields.is_empty(),
        Some(V::Obj(fields)) => !fields.is_empty(),
        Some(array) => match array.len_items() {
            0 => false,
            1 => truthy(array.item(0).as_ref()),
            _ => array.items().any(|item| truthy(Some(&item))),
        },
    }
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(meter: &'a Meter, vars: &'a Vars, root: Option<V<'a>>) -> Ctx<'a> {
        Ctx {
            meter,
            vars,
            root,
            bound_funcs: RefCell::new(Vec::new()),
            spare_envs: RefCell::new(Vec::new()),
        }
    }

    /// Whether the caller's bindings have a variable called `name`, which hides the built-in
    /// function of that name.
    #[inline]
    pub(crate) fn var_shadows(&self, name: &str) -> bool {
        // Whether a binding of the caller's has the name of a built-in function is asked once
        // per set of bindings (a page's records share theirs): when none has, a built-in called
        // by its name needs no search of the bindings.
        self.vars.names_builtin(|vars| {
            vars.iter()
                .any(|(var, _)| functions::builtin(var).is_some())
        }) && self.vars.get(name).is_some()
    }

    pub(crate) fn vars(&self) -> &'a Vars {
        self.vars
    }

    /// The time the evaluation started, in milliseconds since the Unix epoch.
    pub(crate) fn started_millis(&self) -> i64 {
        self.meter.started_millis
    }

    /// A new, empty scope inside `parent`: a spare one when there is one.
    #[inline]
    pub(crate) fn child_env(&self, parent: &Rc<Env<'a>>) -> Rc<Env<'a>> {
        let spare = self.spare_envs.borrow_mut().pop();
        if let Some(mut env) = spare
            && let Some(fresh) = Rc::get_mut(&mut env)
        {
            fresh.parent = Some(parent.clone());
            return env;
        }
        Env::child(parent)
    }

    /// Takes back a scope a call or block is done with: when nothing else holds it (no
    /// closure made in it, no function bound in it), it is emptied and kept for reuse.
    #[inline]
    pub(crate) fn recycle_env(&self, mut env: Rc<Env<'a>>) {
        if let Some(done) = Rc::get_mut(&mut env) {
            done.vars.get_mut().clear();
            done.parent = None;
            let mut spare = self.spare_envs.borrow_mut();
            if spare.len() < SPARE_ENVS {
                spare.push(env);
            }
        }
    }

    pub(crate) fn bind(&self, env: &Rc<Env<'a>>, name: &'a str, value: Option<V<'a>>) {
        match value {
            Some(value) => {
                if value.is_func() {
                    self.bound_funcs.borrow_mut().push(env.clone());
                }
                env.bind(name, Some(value));
            }
            None => env.bind(name, None),
        }
    }

    pub(crate) fn lookup(
        &self,
        name: &str,
        env: &Env<'a>,
        builtin: Option<&'static Builtin>,
    ) -> Option<V<'a>> {
        if name == "$" {
            return self.root.clone();
        }
        if let Some(value) = env.lookup(name) {
            return value;
        }
        if let Some(value) = self.vars.get(name) {
            return Some(V::from_json(value));
        }
        builtin.map(|builtin| V::Func(Rc::new(Func::Builtin(builtin))))
    }

    /// A variable that nothing in the expression binds: the caller's binding of that name,
    /// else the built-in function of that name.
    #[inline]
    pub(crate) fn global(&self, name: &str, builtin: Option<&'static Builtin>) -> Option<V<'a>> {
        if let Some(value) = self.vars.get(name) {
            return Some(V::from_json(value));
        }
        builtin.map(|builtin| V::Func(Rc::new(Func::Builtin(builtin))))
    }

    /// Evaluates `node` against `input` in `env`.
    pub(crate) fn eval(
        &self,
        node: &'a Node,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        self.meter.tick()?;
        if node.leaf {
            return Ok(match &node.kind {
                Kind::Str(text) => Some(V::Str(Str::B(text))),
                Kind::Num(number) => Some(V::Num(*number)),
                Kind::Name(name) => {
                    collapse(input.and_then(|input| lookup_field(input, name, &node.hint)))
                }
                Kind::Var(name, builtin) => collapse(self.lookup(name, env, *builtin)),
                _ => self.eval_inner(node, input, env)?,
            });
        }
        self.meter.enter()?;
        let result = self.eval_inner(node, input, env);
        self.meter.leave();
        let result = result?;
        if node.predicate.is_empty()
            && node.group.is_none()
            && !matches!(&result, Some(V::Arr(arr)) if arr.seq)
        {
            return Ok(result);
        }
        self.finish(node, result, env)
    }

    fn eval_inner(
        &self,
        node: &'a Node,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        Ok(match &node.kind {
            Kind::Path(steps) => self.eval_path(node, steps, input, env)?,
            Kind::Name(name) => input.and_then(|input| lookup_field(input, name, &node.hint)),
            Kind::Str(text) => Some(V::Str(Str::B(text))),
            Kind::Num(number) => Some(V::Num(*number)),
            Kind::Bool(flag) => Some(V::Bool(*flag)),
            Kind::Null => Some(V::Null),
            Kind::Regex(regex) => Some(V::Func(Rc::new(Func::Regex(regex)))),
            Kind::Var(name, builtin) => {
                if name.is_empty() {
                    match input {
                        Some(V::Arr(arr)) if arr.outer && !arr.items.is_empty() => {
                            Some(arr.items[0].clone())
                        }
                        other => other.cloned(),
                    }
                } else {
                    self.lookup(name, env, *builtin)
                }
            }
            Kind::Wildcard => self.wildcard(input)?,
            Kind::Descendant => self.descendants(input)?,
            Kind::Parent(_, label) => self.lookup(label, env, None),
            Kind::Binary(op, lhs, rhs) => self.binary(*op, lhs, rhs, input, env, node.pos)?,
            Kind::Neg(expr) => match self.eval(expr, input, env)?.map(V::demoted) {
                None => None,
                Some(V::Num(number)) => Some(V::Num(-number)),
                Some(_) => {
                    return Err(err(
                        "D1002",
                        "cannot negate a non-numeric value",
                        Some(node.pos),
                    ));
                }
            },
            Kind::Array(items) => self.array(node, items, input, env)?,
            Kind::Object(pairs) if node.distinct_keys && !input.is_some_and(V::is_array) => {
                Some(self.object(pairs, input, env)?)
            }
            Kind::Object(pairs) => Some(self.group(pairs, Grouping::Value(input.cloned()), env)?),
            Kind::Block(items) => {
                let child;
                let scope = if node.scoped {
                    child = Env::child(env);
                    &child
                } else {
                    env
                };
                let mut last = None;
                for item in items {
                    last = self.eval(item, input, scope)?;
                }
                last
            }
            Kind::Bind(name, value) => {
                let value = self.eval(value, input, env)?;
                self.bind(env, name, value.clone());
                value
            }
            Kind::Cond(condition, then, otherwise) => {
                let condition = self.eval(condition, input, env)?;
                if truthy(condition.as_ref()) {
                    self.eval(then, input, env)?
                } else if let Some(otherwise) = otherwise {
                    self.eval(otherwise, input, env)?
                } else {
                    None
                }
            }
            Kind::Elvis(lhs, rhs) => {
                let value = self.eval(lhs, input, env)?;
                if truthy(value.as_ref()) {
                    value
                } else {
                    self.eval(rhs, input, env)?
                }
            }
            Kind::Coalesce(lhs, rhs) => match self.eval(lhs, input, env)? {
                Some(value) => Some(value),
                None => self.eval(rhs, input, env)?,
            },
            Kind::Call(proc, args) => self.call(node, proc, args, input, env, None)?,
            Kind::Partial(proc, args) => self.partial(node, proc, args, input, env)?,
            Kind::Placeholder => None,
            Kind::Lambda(def) => Some(V::Func(Rc::new(Func::Lambda {
                def,
                env: env.clone(),
                input: input.cloned(),
                code: None,
            }))),
            Kind::Apply(lhs, rhs) => self.apply_op(lhs, rhs, input, env, node.pos)?,
            Kind::Sort(terms) => {
                let items = input.map(|v| v.items().collect()).unwrap_or_default();
                Some(seq(self.sort_items(terms, items, env)?))
            }
            Kind::Transform(..) => Some(V::Func(Rc::new(Func::Transform {
                node,
                env: env.clone(),
            }))),
            Kind::RawDot(..)
            | Kind::RawFilter(..)
            | Kind::RawGroup(..)
            | Kind::RawFocus(..)
            | Kind::RawIndex(..)
            | Kind::RawSort(..) => unreachable!("raw nodes are processed away"),
        })
    }

    /// What JSONata does after evaluating any node: predicates, grouping, and the collapse of
    /// singleton sequences.
    fn finish(
        &self,
        node: &'a Node,
        mut result: Option<V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        for predicate in &node.predicate {
            result = self.filter(predicate, result, env)?;
        }
        if let Some(group) = &node.group
            && !matches!(node.kind, Kind::Path(_))
        {
            result = Some(self.group(&group.0, Grouping::Value(result), env)?);
        }
        if let Some(V::Arr(arr)) = &mut result
            && arr.seq
        {
            if node.keep_array && !arr.keep {
                Rc::make_mut(arr).keep = true;
            }
            return Ok(collapse(result));
        }
        Ok(result)
    }

    fn array(
        &self,
        node: &'a Node,
        items: &'a [Node],
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let Some(value) = self.eval(item, input, env)? else {
                continue;
            };
            if matches!(item.kind, Kind::Array(_)) {
                out.push(value);
            } else if value.is_array() {
                self.meter
                    .items(out.len() + value.len_items(), "an array")?;
                out.extend(value.items());
            } else {
                out.push(value);
            }
        }
        Ok(Some(V::Arr(Rc::new(Arr {
            items: out,
            cons: node.cons,
            ..Arr::default()
        }))))
    }

    fn wildcard(&self, input: Option<&V<'a>>) -> R<Option<V<'a>>> {
        let mut input = input.cloned();
        if let Some(V::Arr(arr)) = &input
            && arr.outer
            && !arr.items.is_empty()
        {
            input = Some(arr.items[0].clone());
        }
        let mut out = Vec::new();
        match &input {
            Some(object) if object.is_object() => {
                for (_, value) in object.entries() {
                    self.meter.tick()?;
                    if value.is_array() {
                        flatten_into(&value, &mut out);
                    } else {
                        out.push(value);
                    }
                }
            }
            Some(array) if array.is_array() => {
                for value in array.items() {
                    if value.is_array() {
                        flatten_into(&value, &mut out);
                    } else {
                        out.push(value);
                    }
                }
            }
            _ => {}
        }
        Ok(Some(seq(out)))
    }

    fn descendants(&self, input: Option<&V<'a>>) -> R<Option<V<'a>>> {
        let Some(input) = input else { return Ok(None) };
        let mut out = Vec::new();
        self.recurse(input, &mut out)?;
        Ok(if out.len() == 1 {
            out.pop()
        } else {
            Some(seq(out))
        })
    }

    fn recurse(&self, value: &V<'a>, out: &mut Vec<V<'a>>) -> R<()> {
        self.meter.tick()?;
        if !value.is_array() {
            out.push(value.clone());
        }
        if value.is_array() {
            for item in value.items() {
                self.recurse(&item, out)?;
            }
        } else if value.is_object() {
            for (_, item) in value.entries() {
                self.recurse(&item, out)?;
            }
        }
        Ok(())
    }

    // ---- paths ----

    pub(crate) fn eval_path(
        &self,
        node: &'a Node,
        steps: &'a [Node],
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        let plain = |step: &Node| {
            step.stages.is_empty()
                && !step.keep_array
                && step.group.is_none()
                && step.predicate.is_empty()
                && !step.tuple
        };
        if node.group.is_some() || node.keep_array || !steps.iter().all(plain) {
            return self.path_general(node, steps, input, env, true);
        }
        // The common case: names navigated from one object, or from a variable.
        let (mut current, start) = match &steps[0].kind {
            Kind::Var(..) if steps.len() > 1 => match self.eval(&steps[0], input, env)? {
                None => return Ok(None),
                Some(first) if first.is_array() => {
                    return self.path_general(node, &steps[1..], Some(&first), env, false);
                }
                Some(first) => (first, 1),
            },
            Kind::Name(_) => match input {
                Some(current) if !current.is_array() => (current.clone(), 0),
                _ => return self.path_general(node, steps, input, env, true),
            },
            _ => return self.path_general(node, steps, input, env, true),
        };
        for (index, step) in steps.iter().enumerate().skip(start) {
            let Kind::Name(name) = &step.kind else {
                return self.path_general(node, &steps[index..], Some(&current), env, false);
            };
            self.meter.tick()?;
            match current.field_hinted(name, &step.hint) {
                None => return Ok(None),
                Some(next) if next.is_array() => {
                    if index + 1 == steps.len() {
                        return Ok(Some(next));
                    }
                    return self.path_general(node, &steps[index + 1..], Some(&next), env, false);
                }
                Some(next) => current = next,
            }
        }
        Ok(Some(current))
    }

    pub(crate) fn path_general(
        &self,
        node: &'a Node,
        steps: &'a [Node],
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
        first_is_first: bool,
    ) -> R<Option<V<'a>>> {
        self.path_general_ex(node, steps, input, env, first_is_first, None)
    }

    /// As `path_general`; when `tuples_out` is given and the path ends as a tuple stream,
    /// the tuples go there instead of becoming the result.
    fn path_general_ex(
        &self,
        node: &'a Node,
        steps: &'a [Node],
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
        first_is_first: bool,
        tuples_out: Option<&mut Option<Vec<Tuple<'a>>>>,
    ) -> R<Option<V<'a>>> {
        let first_var = first_is_first && matches!(steps[0].kind, Kind::Var(..));
        let mut sequence: smallvec::SmallVec<[Option<V<'a>>; 2]> = match input {
            Some(array) if array.is_array() && !first_var => array.items().map(Some).collect(),
            other => smallvec::smallvec![other.cloned()],
        };
        let mut tuples: Option<Vec<Tuple<'a>>> = None;
        let mut result: Option<V<'a>> = None;
        let last = steps.len() - 1;
        for (index, step) in steps.iter().enumerate() {
            if step.tuple && tuples.is_none() {
                tuples = Some(match &result {
                    Some(_) | None if index > 0 => sequence
                        .iter()
                        .flatten()
                        .map(|at| Tuple {
                            at: at.clone(),
                            binds: Vec::new(),
                        })
                        .collect(),
                    _ => sequence
                        .iter()
                        .flatten()
                        .map(|at| Tuple {
                            at: at.clone(),
                            binds: Vec::new(),
                        })
                        .collect(),
                });
            }
            if let Some(current) = tuples.take() {
                tuples = Some(self.tuple_step(step, current, env)?);
                continue;
            }
            let step_result = if index == 0 && first_is_first && step.cons {
                self.eval(step, input, env)?
            } else {
                Some(self.step(step, &sequence, env, index == last)?)
            };
            match step_result {
                None => {
                    result = None;
                    break;
                }
                Some(value) => {
                    if value.is_array() && value.len_items() == 0 {
                        result = Some(value);
                        break;
                    }
                    if index < last {
                        sequence = value.items().map(Some).collect();
                    }
                    result = Some(value);
                }
            }
        }
        if let Some(tuples) = tuples {
            if node.group.is_none()
                && let Some(out) = tuples_out
            {
                *out = Some(tuples);
                return Ok(None);
            }
            if let Some(group) = &node.group {
                return Ok(Some(self.group(&group.0, Grouping::Tuples(tuples), env)?));
            }
            let items: Vec<V<'a>> = tuples.into_iter().map(|tuple| tuple.at).collect();
            let mut out = Arr {
                items,
                seq: true,
                ..Arr::default()
            };
            out.keep = node.keep_array;
            return Ok(Some(V::Arr(Rc::new(out))));
        }
        if node.keep_array
            && let Some(value) = &mut result
        {
            match value {
                V::Arr(arr) if arr.cons && !arr.seq => {
                    *value = V::Arr(Rc::new(Arr {
                        items: vec![value.clone()],
                        seq: true,
                        keep: true,
                        ..Arr::default()
                    }));
                }
                V::Arr(arr) => Rc::make_mut(arr).keep = true,
                _ => {}
            }
        }
        if let Some(group) = &node.group {
            return Ok(Some(self.group(&group.0, Grouping::Value(result), env)?));
        }
        Ok(result)
    }

    /// One step over a sequence (JSONata's `evaluateStep`).
    fn step(
        &self,
        step: &'a Node,
        sequence: &[Option<V<'a>>],
        env: &Rc<Env<'a>>,
        last: bool,
    ) -> R<V<'a>> {
        if let Kind::Sort(terms) = &step.kind {
            let items = sequence.iter().flatten().cloned().collect();
            let mut result = Some(seq(self.sort_items(terms, items, env)?));
            for stage in &step.stages {
                if let Stage::Filter(predicate) = stage {
                    result = self.filter(predicate, result, env)?;
                }
            }
            return Ok(result.unwrap_or_else(|| seq(Vec::new())));
        }
        let mut results: smallvec::SmallVec<[V<'a>; 2]> = smallvec::SmallVec::new();
        for item in sequence {
            let mut value = self.eval(step, item.as_ref(), env)?;
            for stage in &step.stages {
                if let Stage::Filter(predicate) = stage {
                    value = self.filter(predicate, value, env)?;
                }
            }
            if let Some(value) = value {
                results.push(value);
            }
        }
        if last && results.len() == 1 && results[0].is_array() && !results[0].is_seq() {
            return Ok(results.pop().expect("one result"));
        }
        let mut out = Vec::with_capacity(results.len());
        for value in results {
            if !value.is_array() || value.is_cons() {
                out.push(value);
            } else {
                self.meter.gather(value.len_items())?;
                out.extend(value.items());
            }
        }
        Ok(seq(out))
    }

    fn tuple_env(&self, env: &Rc<Env<'a>>, tuple: &Tuple<'a>) -> Rc<Env<'a>> {
        let scope = Env::child(env);
        for (name, value) in &tuple.binds {
            self.bind(&scope, name, Some(value.clone()));
        }
        scope
    }

    fn tuple_step(
        &self,
        step: &'a Node,
        input: Vec<Tuple<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Vec<Tuple<'a>>> {
        if let Kind::Sort(terms) = &step.kind {
            let mut result = self.sort_tuples(terms, input, env)?;
            if let Some(index) = &step.index {
                for (position, tuple) in result.iter_mut().enumerate() {
                    tuple.binds.push((index, V::Num(position as f64)));
                }
            }
            return self.tuple_stages(step, result, env);
        }
        let mut result = Vec::new();
        for tuple in input {
            let scope = self.tuple_env(env, &tuple);
            if step.tuple && matches!(step.kind, Kind::Path(_) | Kind::Block(_)) {
                // A path (or block ending in one) carrying ancestry: merge the tuples it
                // produces.
                let (value, nested) = self.eval_tuples(step, Some(&tuple.at), &scope)?;
                if let Some(nested) = nested {
                    for inner in nested {
                        self.meter.tick()?;
                        let mut next = tuple.clone();
                        next.at = inner.at;
                        next.binds.extend(inner.binds);
                        result.push(next);
                    }
                    continue;
                }
                let Some(value) = value else { continue };
                let items: Vec<V<'a>> = if value.is_array() {
                    value.items().collect()
                } else {
                    vec![value]
                };
                for item in items {
                    let mut next = tuple.clone();
                    next.at = item;
                    result.push(next);
                }
                continue;
            }
            let Some(value) = self.eval(step, Some(&tuple.at), &scope)? else {
                continue;
            };
            let items: Vec<V<'a>> = if value.is_array() {
                value.items().collect()
            } else {
                vec![value]
            };
            for (position, item) in items.into_iter().enumerate() {
                self.meter.tick()?;
                let mut next = tuple.clone();
                if let Some(focus) = &step.focus {
                    next.binds.push((focus, item));
                } else {
                    next.at = item;
                }
                if let Some(index) = &step.index {
                    next.binds.push((index, V::Num(position as f64)));
                }
                if let Some(label) = &step.ancestor_label {
                    next.binds.push((label, tuple.at.clone()));
                }
                result.push(next);
            }
        }
        self.tuple_stages(step, result, env)
    }

    /// Evaluates a step that carries ancestry, returning its tuples when it produces them.
    #[allow(clippy::type_complexity)]
    fn eval_tuples(
        &self,
        step: &'a Node,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<(Option<V<'a>>, Option<Vec<Tuple<'a>>>)> {
        let (value, nested) = self.eval_tuples_inner(step, input, env)?;
        match nested {
            Some(mut tuples) if !step.predicate.is_empty() => {
                for predicate in &step.predicate {
                    tuples = self.filter_tuples(predicate, tuples, env)?;
                }
                Ok((value, Some(tuples)))
            }
            nested => Ok((value, nested)),
        }
    }

    #[allow(clippy::type_complexity)]
    fn eval_tuples_inner(
        &self,
        step: &'a Node,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<(Option<V<'a>>, Option<Vec<Tuple<'a>>>)> {
        match &step.kind {
            Kind::Path(steps) if step.tuple => {
                let mut nested = None;
                let value =
                    self.path_general_ex(step, steps, input, env, true, Some(&mut nested))?;
                Ok((value, nested))
            }
            Kind::Block(items) if step.tuple && !items.is_empty() => {
                let scope = Env::child(env);
                for item in &items[..items.len() - 1] {
                    self.eval(item, input, &scope)?;
                }
                self.eval_tuples(&items[items.len() - 1], input, &scope)
            }
            _ => Ok((self.eval(step, input, env)?, None)),
        }
    }

    fn tuple_stages(
        &self,
        step: &'a Node,
        mut tuples: Vec<Tuple<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Vec<Tuple<'a>>> {
        for stage in &step.stages {
            match stage {
                Stage::Filter(predicate) => tuples = self.filter_tuples(predicate, tuples, env)?,
                Stage::Index(name) => {
                    for (position, tuple) in tuples.iter_mut().enumerate() {
                        tuple.binds.push((name, V::Num(position as f64)));
                    }
                }
            }
        }
        Ok(tuples)
    }

    fn filter_tuples(
        &self,
        predicate: &'a Node,
        tuples: Vec<Tuple<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Vec<Tuple<'a>>> {
        if let Kind::Num(number) = predicate.kind {
            let index = resolve_index(number, tuples.len());
            return Ok(index
                .and_then(|index| tuples.get(index).cloned())
                .into_iter()
                .collect());
        }
        let count = tuples.len();
        let mut out = Vec::new();
        for (index, tuple) in tuples.into_iter().enumerate() {
            let scope = self.tuple_env(env, &tuple);
            let value = self.eval(predicate, Some(&tuple.at), &scope)?;
            if keep_item(value.as_ref(), index, count) {
                out.push(tuple);
            }
        }
        Ok(out)
    }

    /// Applies a predicate to a value (JSONata's `evaluateFilter`); the result is a sequence.
    pub(crate) fn filter(
        &self,
        predicate: &'a Node,
        input: Option<V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        let Some(input) = input else {
            return Ok(Some(seq(Vec::new())));
        };
        let count = input.len_items();
        let mut out = Vec::new();
        if let Kind::Num(number) = predicate.kind {
            if let Some(item) = resolve_index(number, count).and_then(|index| input.item(index)) {
                if item.is_array() {
                    return Ok(Some(item));
                }
                out.push(item);
            }
            return Ok(Some(seq(out)));
        }
        for (index, item) in input.items().enumerate() {
            let value = self.eval(predicate, Some(&item), env)?;
            if keep_item(value.as_ref(), index, count) {
                out.push(item);
            }
        }
        Ok(Some(seq(out)))
    }

    // ---- grouping and object constructors ----

    /// An object constructor whose keys are distinct string literals, over one input: each
    /// value evaluated once, in order, with no check of one key against the others.
    fn object(
        &self,
        pairs: &'a [(Node, Node)],
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<V<'a>> {
        let mut obj = new_obj(pairs.len());
        self.meter.alloc(pairs.len() * 48)?;
        for (key, value_node) in pairs {
            let Kind::Str(name) = &key.kind else {
                unreachable!("distinct keys are string literals")
            };
            if let Some(item) = self.eval(value_node, input, env)? {
                obj.insert(Str::B(name), item);
            }
        }
        Ok(V::Obj(Rc::new(obj)))
    }

    fn group(&self, pairs: &'a [(Node, Node)], input: Grouping<'a>, env: &Rc<Env<'a>>) -> R<V<'a>> {
        // One input and literal keys: evaluate each value once, in order.
        if let Grouping::Value(value) = &input
            && !value.as_ref().is_some_and(V::is_array)
            && pairs
                .iter()
                .all(|(key, _)| matches!(key.kind, Kind::Str(_)))
        {
            let mut obj = new_obj(pairs.len());
            self.meter.alloc(pairs.len() * 48)?;
            for (key, value_node) in pairs {
                let Kind::Str(name) = &key.kind else {
                    unreachable!()
                };
                if obj.contains_key(name.as_str()) {
                    return Err(err(
                        "D1009",
                        format!("multiple key definitions evaluate to same key: `{name}`"),
                        Some(key.pos),
                    ));
                }
                if let Some(item) = self.eval(value_node, value.as_ref(), env)? {
                    obj.insert(Str::B(name), item);
                } else {
                    // Remember the key, so a second definition is still refused.
                    obj.insert(Str::B(name), V::Null);
                    obj.shift_remove(name.as_str());
                }
            }
            return Ok(V::Obj(Rc::new(obj)));
        }
        let (items, tuples): (Vec<Option<V<'a>>>, Option<Vec<Tuple<'a>>>) = match input {
            Grouping::Value(None) => (vec![None], None),
            Grouping::Value(Some(value)) if value.is_array() => {
                let items: Vec<Option<V<'a>>> = value.items().map(Some).collect();
                if items.is_empty() {
                    (vec![None], None)
                } else {
                    (items, None)
                }
            }
            Grouping::Value(Some(value)) => (vec![Some(value)], None),
            Grouping::Tuples(tuples) => {
                let items = tuples.iter().map(|tuple| Some(tuple.at.clone())).collect();
                (items, Some(tuples))
            }
        };
        // key -> (pair index, items)
        let mut groups: indexmap::IndexMap<Str<'a>, (usize, Vec<usize>), value::Hasher_> =
            indexmap::IndexMap::with_hasher(value::Hasher_::default());
        for (item_index, item) in items.iter().enumerate() {
            let scope = match &tuples {
                Some(tuples) => self.tuple_env(env, &tuples[item_index]),
                None => env.clone(),
            };
            for (pair_index, (key_node, _)) in pairs.iter().enumerate() {
                self.meter.tick()?;
                let key = self.eval(key_node, item.as_ref(), &scope)?;
                let key = match key {
                    None => continue,
                    Some(V::Str(key)) => key,
                    Some(other) => {
                        return Err(err(
                            "T1003",
                            format!(
                                "key in object structure must evaluate to a string; got: {}",
                                short(&other)
                            ),
                            Some(key_node.pos),
                        ));
                    }
                };
                match groups.get_mut(&key) {
                    Some((existing, members)) => {
                        if *existing != pair_index {
                            return Err(err(
                                "D1009",
                                format!(
                                    "multiple key definitions evaluate to same key: `{}`",
                                    &*key
                                ),
                                Some(key_node.pos),
                            ));
                        }
                        members.push(item_index);
                    }
                    None => {
                        groups.insert(key, (pair_index, vec![item_index]));
                    }
                }
            }
        }
        self.meter.items(groups.len(), "an object")?;
        let mut obj = new_obj(groups.len());
        for (key, (pair_index, members)) in groups {
            let (context, scope) = match &tuples {
                Some(tuples) => {
                    // Reduce the tuples of the group: `@` becomes the items, each variable
                    // the values bound across the group.
                    let mut merged: Vec<(&'a str, Vec<V<'a>>)> = Vec::new();
                    let mut ats = Vec::new();
                    for &member in &members {
                        let tuple = &tuples[member];
                        ats.push(tuple.at.clone());
                        for (name, value) in &tuple.binds {
                            match merged.iter_mut().find(|(n, _)| n == name) {
                                Some((_, values)) => values.push(value.clone()),
                                None => merged.push((name, vec![value.clone()])),
                            }
                        }
                    }
                    let scope = Env::child(env);
                    for (name, values) in merged {
                        let value = if values.len() == 1 {
                            values.into_iter().next()
                        } else {
                            Some(seq(values))
                        };
                        self.bind(&scope, name, value);
                    }
                    (append_all(ats), scope)
                }
                None => {
                    let values: Vec<V<'a>> =
                        members.iter().filter_map(|&m| items[m].clone()).collect();
                    (append_all(values), env.clone())
                }
            };
            if let Some(value) = self.eval(&pairs[pair_index].1, context.as_ref(), &scope)? {
                obj.insert(key, value);
            }
        }
        Ok(V::Obj(Rc::new(obj)))
    }

    // ---- operators ----

    fn binary(
        &self,
        op: Op,
        lhs: &'a Node,
        rhs: &'a Node,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
        pos: usize,
    ) -> R<Option<V<'a>>> {
        match op {
            Op::And => {
                let left = self.eval(lhs, input, env)?;
                if !truthy(left.as_ref()) {
                    return Ok(Some(V::Bool(false)));
                }
                let right = self.eval(rhs, input, env)?;
                return Ok(Some(V::Bool(truthy(right.as_ref()))));
            }
            Op::Or => {
                let left = self.eval(lhs, input, env)?;
                if truthy(left.as_ref()) {
                    return Ok(Some(V::Bool(true)));
                }
                let right = self.eval(rhs, input, env)?;
                return Ok(Some(V::Bool(truthy(right.as_ref()))));
            }
            _ => {}
        }
        let left = self.eval(lhs, input, env)?;
        let right = self.eval(rhs, input, env)?;
        self.binary_values(op, left, right, pos)
    }

    /// A binary operator other than `and` and `or` over its evaluated operands.
    pub(crate) fn binary_values(
        &self,
        op: Op,
        left: Option<V<'a>>,
        right: Option<V<'a>>,
        pos: usize,
    ) -> R<Option<V<'a>>> {
        let at = |error: Box<MappingError>| pos_err(error, pos);
        let (left, right) = (left.map(V::demoted), right.map(V::demoted));
        match op {
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod => {
                let l = match &left {
                    None => None,
                    Some(V::Num(n)) => Some(*n),
                    Some(other) => {
                        return Err(at(err(
                            "T2001",
                            format!(
                                "the left side of the `{}` operator must evaluate to a number; got {}",
                                op_text(op),
                                short(other)
                            ),
                            None,
                        )));
                    }
                };
                let r = match &right {
                    None => None,
                    Some(V::Num(n)) => Some(*n),
                    Some(other) => {
                        return Err(at(err(
                            "T2002",
                            format!(
                                "the right side of the `{}` operator must evaluate to a number; got {}",
                                op_text(op),
                                short(other)
                            ),
                            None,
                        )));
                    }
                };
                let (Some(l), Some(r)) = (l, r) else {
                    return Ok(None);
                };
                let value = match op {
                    Op::Add => l + r,
                    Op::Sub => l - r,
                    Op::Mul => l * r,
                    Op::Div => l / r,
                    _ => l % r,
                };
                if !value.is_finite() {
                    return Err(at(err(
                        "D1001",
                        format!("number out of range: `{value}`"),
                        None,
                    )));
                }
                Ok(Some(V::Num(value)))
            }
            Op::Eq | Op::Ne => {
                let (Some(l), Some(r)) = (&left, &right) else {
                    return Ok(Some(V::Bool(false)));
                };
                let equal = deep_eq(l, r);
                Ok(Some(V::Bool(if op == Op::Eq { equal } else { !equal })))
            }
            Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                let comparable =
                    |v: &Option<V<'a>>| matches!(v, None | Some(V::Num(_) | V::Str(_)));
                if !comparable(&left) || !comparable(&right) {
                    let bad = if comparable(&left) { &right } else { &left };
                    return Err(at(err(
                        "T2010",
                        format!(
                            "the expressions either side of operator `{}` must evaluate to numeric or string values; got {}",
                            op_text(op),
                            bad.as_ref().map_or("undefined".into(), short)
                        ),
                        None,
                    )));
                }
                let (Some(l), Some(r)) = (&left, &right) else {
                    return Ok(None);
                };
                let ordering = match (l, r) {
                    (V::Num(a), V::Num(b)) => a.partial_cmp(b),
                    (V::Str(a), V::Str(b)) => Some(a.cmp(b)),
                    _ => {
                        return Err(at(err(
                            "T2009",
                            format!(
                                "the values {} and {} either side of operator `{}` must be of the same data type",
                                short(l),
                                short(r),
                                op_text(op)
                            ),
                            None,
                        )));
                    }
                };
                let Some(ordering) = ordering else {
                    return Ok(Some(V::Bool(false)));
                };
                Ok(Some(V::Bool(match op {
                    Op::Lt => ordering.is_lt(),
                    Op::Le => ordering.is_le(),
                    Op::Gt => ordering.is_gt(),
                    _ => ordering.is_ge(),
                })))
            }
            Op::Concat => {
                let mut text = String::new();
                for value in [&left, &right].into_iter().flatten() {
                    functions::string_of(self, value, false, &mut text).map_err(at)?;
                }
                self.meter.string(text.len())?;
                Ok(Some(V::str_owned(text)))
            }
            Op::In => {
                let (Some(l), Some(r)) = (&left, &right) else {
                    return Ok(Some(V::Bool(false)));
                };
                if let V::JArr(items) = r {
                    // Against JSON (a bound list): compared without making values.
                    self.meter.spend(items.len() as u64 / 8)?;
                    return Ok(Some(V::Bool(items.iter().any(|item| match (l, item) {
                        (V::Num(a), Json::Number(b)) => b.as_f64() == Some(*a),
                        (V::Str(a), Json::String(b)) => **a == **b,
                        (V::Bool(a), Json::Bool(b)) => a == b,
                        (V::Null, Json::Null) => true,
                        _ => false,
                    }))));
                }
                let found = r.items().any(|item| match (l, &item) {
                    (V::Num(a), V::Num(b)) => a == b,
                    (V::Str(a), V::Str(b)) => **a == **b,
                    (V::Bool(a), V::Bool(b)) => a == b,
                    (V::Null, V::Null) => true,
                    _ => false,
                });
                self.meter.spend(r.len_items() as u64 / 8)?;
                Ok(Some(V::Bool(found)))
            }
            Op::Range => {
                let bound = |value: &Option<V<'a>>, code: &str, side: &str| -> R<Option<f64>> {
                    match value {
                        None => Ok(None),
                        Some(V::Num(n)) if n.fract() == 0.0 => Ok(Some(*n)),
                        Some(other) => Err(at(err(
                            code,
                            format!(
                                "the {side} side of the range operator (..) must evaluate to an integer; got {}",
                                short(other)
                            ),
                            None,
                        ))),
                    }
                };
                let l = bound(&left, "T2003", "left")?;
                let r = bound(&right, "T2004", "right")?;
                let (Some(l), Some(r)) = (l, r) else {
                    return Ok(None);
                };
                if l > r {
                    return Ok(None);
                }
                let size = r - l + 1.0;
                if size > 1e7 {
                    return Err(at(err(
                        "D2014",
                        format!(
                            "the size of the sequence allocated by the range operator (..) must not exceed 1e7; attempted to allocate {size}"
                        ),
                        None,
                    )));
                }
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let size = size as usize;
                self.meter
                    .items(size, &format!("the range `[{l}..{r}]`"))
                    .map_err(at)?;
                let items = (0..size).map(|i| V::Num(l + i as f64)).collect();
                Ok(Some(value::array(items)))
            }
            Op::And | Op::Or => unreachable!("handled above"),
        }
    }

    fn apply_op(
        &self,
        lhs: &'a Node,
        rhs: &'a Node,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
        pos: usize,
    ) -> R<Option<V<'a>>> {
        let left = self.eval(lhs, input, env)?;
        if let Kind::Call(proc, args) = &rhs.kind {
            let result = self.call(rhs, proc, args, input, env, Some(left))?;
            return self.finish(rhs, result, env);
        }
        let func = self.eval(rhs, input, env)?;
        let Some(func @ V::Func(_)) = func else {
            return Err(err(
                "T2006",
                "the right side of the function application operator ~> must be a function",
                Some(pos),
            ));
        };
        if let Some(left @ V::Func(_)) = left {
            return Ok(Some(V::Func(Rc::new(Func::Chain(left, func)))));
        }
        self.apply(&func, smallvec::smallvec![left], input, pos)
    }

    // ---- calls ----

    fn call(
        &self,
        node: &'a Node,
        proc: &'a Node,
        arg_nodes: &'a [Node],
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
        applied: Option<Option<V<'a>>>,
    ) -> R<Option<V<'a>>> {
        if let Some(builtin) = self.builtin_callee(proc, env) {
            if applied.is_none()
                && let [arg] = arg_nodes
                && let Some(inline) = Inline::of(builtin)
            {
                return Ok(inline.apply(self.eval(arg, input, env)?));
            }
            // A built-in function called by its name: no function value is made.
            let mut args = Args::with_capacity(arg_nodes.len() + 1);
            if let Some(applied) = applied {
                args.push(applied);
            }
            for arg in arg_nodes {
                args.push(self.eval(arg, input, env)?);
            }
            let args = match builtin.signature() {
                Some(signature) => signature
                    .validate(args, input)
                    .map_err(|e| pos_err(e, node.pos))?,
                None => args,
            };
            return functions::dispatch(self, builtin, args, input, node.pos)
                .map_err(|e| pos_err(e, node.pos));
        }
        let (func, args) = self.callee_and_args(node, proc, arg_nodes, input, env, applied)?;
        self.apply(&func, args, input, node.pos)
    }

    /// The built-in function `proc` names, when it is one called by its name that no binding
    /// hides: it is called without making a function value.
    #[inline]
    fn builtin_callee(&self, proc: &'a Node, env: &Rc<Env<'a>>) -> Option<&'static Builtin> {
        if let Kind::Var(name, Some(builtin)) = &proc.kind
            && proc.predicate.is_empty()
            && proc.group.is_none()
            && (!proc.shadowable || env.lookup(name).is_none())
            && !self.var_shadows(name)
        {
            return Some(builtin);
        }
        None
    }

    fn callee_and_args(
        &self,
        node: &'a Node,
        proc: &'a Node,
        arg_nodes: &'a [Node],
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
        applied: Option<Option<V<'a>>>,
    ) -> R<(V<'a>, Args<'a>)> {
        let func = self.eval(proc, input, env)?;
        let Some(func) = func else {
            if let Kind::Path(steps) = &proc.kind
                && let Some(Kind::Name(name)) = steps.first().map(|s| &s.kind)
                && self
                    .lookup(name, env, super::functions::builtin(name))
                    .is_some()
            {
                return Err(err(
                    "T1005",
                    format!("attempted to invoke a non-function; did you mean `${name}`?"),
                    Some(node.pos),
                ));
            }
            return Err(err(
                "T1006",
                "attempted to invoke a non-function",
                Some(node.pos),
            ));
        };
        let mut args = Args::with_capacity(arg_nodes.len() + 1);
        if let Some(applied) = applied {
            args.push(applied);
        }
        for arg in arg_nodes {
            args.push(self.eval(arg, input, env)?);
        }
        Ok((func, args))
    }

    fn partial(
        &self,
        node: &'a Node,
        proc: &'a Node,
        arg_nodes: &'a [Node],
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        let mut args = Vec::with_capacity(arg_nodes.len());
        for arg in arg_nodes {
            if matches!(arg.kind, Kind::Placeholder) {
                args.push(None);
            } else {
                args.push(Some(self.eval(arg, input, env)?));
            }
        }
        let func = self.eval(proc, input, env)?;
        match func {
            Some(func @ V::Func(_)) => Ok(Some(V::Func(Rc::new(Func::Partial { func, args })))),
            None if matches!(&proc.kind, Kind::Path(steps) if matches!(steps.first().map(|s| &s.kind), Some(Kind::Name(name)) if self.lookup(name, env, super::functions::builtin(name)).is_some())) => {
                Err(err(
                    "T1007",
                    "attempted to partially apply a non-function; did you mean to use a variable?",
                    Some(node.pos),
                ))
            }
            _ => Err(err(
                "T1008",
                "attempted to partially apply a non-function",
                Some(node.pos),
            )),
        }
    }

    /// Calls a function value with evaluated arguments.
    pub(crate) fn apply(
        &self,
        func: &V<'a>,
        args: Args<'a>,
        input: Option<&V<'a>>,
        pos: usize,
    ) -> R<Option<V<'a>>> {
        let V::Func(f) = func else {
            return Err(err(
                "T1006",
                "attempted to invoke a non-function",
                Some(pos),
            ));
        };
        let result = match &**f {
            Func::Lambda { .. } => self.apply_lambda(func.clone(), args, pos),
            Func::Builtin(builtin) => {
                let args = match builtin.signature() {
                    Some(signature) => signature
                        .validate(args, input)
                        .map_err(|e| pos_err(e, pos))?,
                    None => args,
                };
                functions::dispatch(self, builtin, args, input, pos)
            }
            Func::Partial { func, args: bound } => {
                let mut given = args.into_iter();
                let full = bound
                    .iter()
                    .map(|arg| match arg {
                        Some(value) => value.clone(),
                        None => given.next().flatten(),
                    })
                    .collect();
                self.apply(func, full, input, pos)
            }
            Func::Chain(first, second) => {
                let middle = self.apply(first, args, input, pos)?;
                self.apply(second, smallvec::smallvec![middle], input, pos)
            }
            Func::Regex(regex) => {
                let text = match args.into_iter().next().flatten() {
                    Some(V::Str(text)) => text,
                    _ => return Ok(None),
                };
                functions::regex_match_object(self, &regex.regex, &text, 0)
            }
            Func::Transform { node, env } => {
                self.transform(node, env, args.into_iter().next().flatten(), pos)
            }
        };
        result.map_err(|e| pos_err(e, pos))
    }

    /// Prepares calling `func` many times, as the higher-order built-ins do: a lambda without
    /// a signature whose body makes no closure and binds no variable gets one scope, rebound
    /// for each call, instead of a new scope and argument vector per call.
    pub(crate) fn caller(&self, func: &V<'a>) -> Caller<'a> {
        if let V::Func(f) = func
            && let Func::Lambda {
                def,
                env,
                input,
                code,
            } = &**f
            && def.reusable_scope
            && def.signature.is_none()
        {
            return Caller {
                func: func.clone(),
                arity: def.params.len(),
                reuse: Some((def, self.child_env(env), input.clone(), *code)),
                invariants: RefCell::new(Vec::new()),
            };
        }
        Caller {
            func: func.clone(),
            arity: arity_of(func),
            reuse: None,
            invariants: RefCell::new(Vec::new()),
        }
    }

    /// Takes back the scope of a caller the loop is done with (see [`Ctx::recycle_env`]).
    pub(crate) fn release(&self, caller: Caller<'a>) {
        if let Some((_, scope, _, _)) = caller.reuse {
            self.recycle_env(scope);
        }
    }

    /// Calls what `caller` prepared with `args` (only the first `caller.arity` are passed).
    pub(crate) fn call_with(
        &self,
        caller: &Caller<'a>,
        args: &[V<'a>],
        pos: usize,
    ) -> R<Option<V<'a>>> {
        let Some((def, scope, input, code)) = &caller.reuse else {
            let count = caller.arity.min(args.len()).max(1).min(args.len());
            return self.apply(
                &caller.func,
                args[..count].iter().cloned().map(Some).collect(),
                None,
                pos,
            );
        };
        {
            // The scope holds the parameters only, in order, once the first call bound them.
            let mut vars = scope.vars.borrow_mut();
            if vars.len() == def.params.len() {
                for (index, slot) in vars.iter_mut().enumerate() {
                    slot.1 = args.get(index).cloned();
                }
            } else {
                drop(vars);
                for (index, name) in def.params.iter().enumerate() {
                    scope.bind(name, args.get(index).cloned());
                }
            }
        }
        let result = if let Some(code) = code {
            match code.run_tail(self, input.as_ref(), scope) {
                Ok(Tail::Done(value)) => Ok(value),
                Ok(Tail::Call(next, next_args)) => self
                    .meter
                    .tick()
                    .and_then(|()| self.apply_lambda(next, next_args, pos)),
                Err(error) => Err(error),
            }
        } else if def.body.dynamic {
            self.body(caller, &def.body, input.as_ref(), scope)
        } else {
            match self.eval_tail(&def.body, input.as_ref(), scope) {
                Ok(Tail::Done(value)) => Ok(value),
                Ok(Tail::Call(next, next_args)) => self
                    .meter
                    .tick()
                    .and_then(|()| self.apply_lambda(next, next_args, pos)),
                Err(error) => Err(error),
            }
        };
        result.map_err(|e| pos_err(e, pos))
    }

    /// Evaluates a reusable lambda's body for one call: the parts that do not depend on the
    /// parameters (nor call anything but a deterministic built-in) are evaluated once per loop
    /// and remembered; parameters, operators, conditions and built-in calls are evaluated
    /// directly; anything else goes through [`Ctx::eval`] in the call's scope.
    fn body(
        &self,
        caller: &Caller<'a>,
        node: &'a Node,
        input: Option<&V<'a>>,
        scope: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        if !node.dynamic {
            if node.leaf && matches!(node.kind, Kind::Str(_) | Kind::Num(_)) {
                // A literal costs less to read again than to find among the remembered values.
                return self.eval(node, input, scope);
            }
            let key = std::ptr::from_ref(node);
            if let Some((_, value)) = caller.invariants.borrow().iter().find(|(k, _)| *k == key) {
                self.meter.tick()?;
                return Ok(value.clone());
            }
            let value = self.eval(node, input, scope)?;
            caller.invariants.borrow_mut().push((key, value.clone()));
            return Ok(value);
        }
        if !node.plain() {
            return self.eval(node, input, scope);
        }
        self.meter.tick()?;
        match &node.kind {
            Kind::Var(name, _) => {
                // A parameter: read from its slot in the call's scope.
                if let Some((def, _, _, _)) = &caller.reuse
                    && let Some(index) = def.params.iter().position(|param| param == name)
                    && let Some((_, value)) = scope.vars.borrow().get(index)
                {
                    return Ok(collapse(value.clone()));
                }
                self.eval(node, input, scope)
            }
            Kind::Binary(Op::And, lhs, rhs) => {
                let left = self.body(caller, lhs, input, scope)?;
                if !truthy(left.as_ref()) {
                    return Ok(Some(V::Bool(false)));
                }
                let right = self.body(caller, rhs, input, scope)?;
                Ok(Some(V::Bool(truthy(right.as_ref()))))
            }
            Kind::Binary(Op::Or, lhs, rhs) => {
                let left = self.body(caller, lhs, input, scope)?;
                if truthy(left.as_ref()) {
                    return Ok(Some(V::Bool(true)));
                }
                let right = self.body(caller, rhs, input, scope)?;
                Ok(Some(V::Bool(truthy(right.as_ref()))))
            }
            Kind::Binary(op, lhs, rhs) => {
                let left = self.body(caller, lhs, input, scope)?;
                let right = self.body(caller, rhs, input, scope)?;
                self.binary_values(*op, left, right, node.pos)
            }
            Kind::Cond(condition, then, otherwise) => {
                let condition = self.body(caller, condition, input, scope)?;
                if truthy(condition.as_ref()) {
                    self.body(caller, then, input, scope)
                } else if let Some(otherwise) = otherwise {
                    self.body(caller, otherwise, input, scope)
                } else {
                    Ok(None)
                }
            }
            Kind::Call(proc, arg_nodes)
                if matches!(&proc.kind, Kind::Var(_, Some(_)))
                    && proc.plain()
                    && !proc.shadowable =>
            {
                let Kind::Var(name, Some(builtin)) = &proc.kind else {
                    unreachable!("matched above")
                };
                if self.var_shadows(name) {
                    return self.eval(node, input, scope);
                }
                if let [arg] = arg_nodes.as_slice()
                    && let Some(inline) = Inline::of(builtin)
                {
                    return Ok(inline.apply(self.body(caller, arg, input, scope)?));
                }
                let mut args = Args::with_capacity(arg_nodes.len());
                for arg in arg_nodes {
                    args.push(self.body(caller, arg, input, scope)?);
                }
                let args = match builtin.signature() {
                    Some(signature) => signature
                        .validate(args, input)
                        .map_err(|e| pos_err(e, node.pos))?,
                    None => args,
                };
                let result = functions::dispatch(self, builtin, args, input, node.pos)
                    .map_err(|e| pos_err(e, node.pos))?;
                Ok(collapse(result))
            }
            _ => self.eval(node, input, scope),
        }
    }

    pub(crate) fn apply_lambda(
        &self,
        mut func: V<'a>,
        mut args: Args<'a>,
        pos: usize,
    ) -> R<Option<V<'a>>> {
        stacker::maybe_grow(64 * 1024, 4 * 1024 * 1024, || {
            loop {
                let V::Func(f) = &func else { unreachable!() };
                let Func::Lambda {
                    def,
                    env,
                    input,
                    code,
                } = &**f
                else {
                    return self.apply(&func, args, None, pos);
                };
                if let Some(signature) = &def.signature {
                    args = signature.validate(args, input.as_ref())?;
                }
                let scope = self.child_env(env);
                for (name, value) in def
                    .params
                    .iter()
                    .zip(args.drain(..).chain(std::iter::repeat(None)))
                {
                    self.bind(&scope, name, value);
                }
                let tail = match code {
                    Some(code) => code.run_tail(self, input.as_ref(), &scope)?,
                    None => self.eval_tail(&def.body, input.as_ref(), &scope)?,
                };
                self.recycle_env(scope);
                match tail {
                    Tail::Done(value) => return Ok(value),
                    Tail::Call(next, next_args) => {
                        self.meter.tick()?;
                        func = next;
                        args = next_args;
                    }
                }
            }
        })
    }

    /// Evaluates a lambda's body, returning a call in tail position instead of making it.
    pub(crate) fn eval_tail(
        &self,
        node: &'a Node,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Tail<'a>> {
        let plain = node.predicate.is_empty() && node.group.is_none() && !node.keep_array;
        if plain && matches!(node.kind, Kind::Call(..) | Kind::Cond(..) | Kind::Block(_)) {
            self.meter.enter()?;
            let result = self.eval_tail_inner(node, input, env);
            self.meter.leave();
            return result;
        }
        Ok(Tail::Done(self.eval(node, input, env)?))
    }

    fn eval_tail_inner(
        &self,
        node: &'a Node,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Tail<'a>> {
        {
            match &node.kind {
                Kind::Call(proc, arg_nodes) => {
                    self.meter.tick()?;
                    if self.builtin_callee(proc, env).is_some() {
                        // A built-in in tail position: called in place, as anywhere else.
                        return Ok(Tail::Done(collapse(
                            self.call(node, proc, arg_nodes, input, env, None)?,
                        )));
                    }
                    let (func, args) =
                        self.callee_and_args(node, proc, arg_nodes, input, env, None)?;
                    if let V::Func(f) = &func
                        && matches!(**f, Func::Lambda { .. })
                    {
                        return Ok(Tail::Call(func, args));
                    }
                    return Ok(Tail::Done(collapse(
                        self.apply(&func, args, input, node.pos)?,
                    )));
                }
                Kind::Cond(condition, then, otherwise) => {
                    self.meter.tick()?;
                    let condition = self.eval(condition, input, env)?;
                    if truthy(condition.as_ref()) {
                        return self.eval_tail(then, input, env);
                    }
                    return match otherwise {
                        Some(otherwise) => self.eval_tail(otherwise, input, env),
                        None => Ok(Tail::Done(None)),
                    };
                }
                Kind::Block(items) if !items.is_empty() => {
                    self.meter.tick()?;
                    let child;
                    let scope = if node.scoped {
                        child = Env::child(env);
                        &child
                    } else {
                        env
                    };
                    for item in &items[..items.len() - 1] {
                        self.eval(item, input, scope)?;
                    }
                    return self.eval_tail(&items[items.len() - 1], input, scope);
                }
                _ => {}
            }
        }
        Ok(Tail::Done(self.eval(node, input, env)?))
    }

    // ---- sorting ----

    fn sort_keys(
        &self,
        terms: &'a [SortTerm],
        context: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Vec<Option<V<'a>>>> {
        terms
            .iter()
            .map(|term| self.eval(&term.expr, context, env))
            .collect()
    }

    fn sort_items(
        &self,
        terms: &'a [SortTerm],
        items: Vec<V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Vec<V<'a>>> {
        let mut keyed = Vec::with_capacity(items.len());
        for item in items {
            let keys = self.sort_keys(terms, Some(&item), env)?;
            keyed.push((keys, item));
        }
        let sorted = self.merge_sort(keyed, terms)?;
        Ok(sorted.into_iter().map(|(_, item)| item).collect())
    }

    fn sort_tuples(
        &self,
        terms: &'a [SortTerm],
        tuples: Vec<Tuple<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Vec<Tuple<'a>>> {
        let mut keyed = Vec::with_capacity(tuples.len());
        for tuple in tuples {
            let scope = self.tuple_env(env, &tuple);
            let keys = self.sort_keys(terms, Some(&tuple.at), &scope)?;
            keyed.push((keys, tuple));
        }
        let sorted = self.merge_sort(keyed, terms)?;
        Ok(sorted.into_iter().map(|(_, tuple)| tuple).collect())
    }

    fn merge_sort<T>(
        &self,
        items: Vec<(Vec<Option<V<'a>>>, T)>,
        terms: &[SortTerm],
    ) -> R<Vec<(Vec<Option<V<'a>>>, T)>> {
        functions::merge_sort(self, items, &mut |a, b| {
            for (index, term) in terms.iter().enumerate() {
                let ordering = match (&a.0[index], &b.0[index]) {
                    (None, None) => std::cmp::Ordering::Equal,
                    (None, _) => std::cmp::Ordering::Greater,
                    (_, None) => std::cmp::Ordering::Less,
                    (Some(x), Some(y)) => {
                        let ordering = match (x, y) {
                            (V::Num(_) | V::Dec(_), V::Num(_) | V::Dec(_)) => x
                                .as_num()
                                .partial_cmp(&y.as_num())
                                .unwrap_or(std::cmp::Ordering::Equal),
                            (V::Str(p), V::Str(q)) => p.cmp(q),
                            (
                                V::Num(_) | V::Dec(_) | V::Str(_),
                                V::Num(_) | V::Dec(_) | V::Str(_),
                            ) => {
                                return Err(err(
                                    "T2007",
                                    format!(
                                        "type mismatch when comparing values {} and {} in order-by clause",
                                        short(x),
                                        short(y)
                                    ),
                                    None,
                                ));
                            }
                            _ => {
                                let bad = if matches!(x, V::Num(_) | V::Dec(_) | V::Str(_)) {
                                    y
                                } else {
                                    x
                                };
                                return Err(err(
                                    "T2008",
                                    format!(
                                        "the expressions within an order-by clause must evaluate to numeric or string values; got {}",
                                        short(bad)
                                    ),
                                    None,
                                ));
                            }
                        };
                        if term.descending {
                            ordering.reverse()
                        } else {
                            ordering
                        }
                    }
                };
                if ordering.is_ne() {
                    return Ok(ordering.is_gt());
                }
            }
            Ok(false)
        })
    }

    // ---- transforms ----

    fn transform(
        &self,
        node: &'a Node,
        env: &Rc<Env<'a>>,
        arg: Option<V<'a>>,
        pos: usize,
    ) -> R<Option<V<'a>>> {
        let Kind::Transform(pattern, update, delete) = &node.kind else {
            unreachable!()
        };
        let Some(target) = arg else { return Ok(None) };
        if !target.is_object() && !target.is_array() {
            return Err(err(
                "T0410",
                "argument 1 of function does not match function signature",
                Some(pos),
            ));
        }
        let matches = self.eval(pattern, Some(&target), env)?;
        let mut changes: Vec<Change<'a>> = Vec::new();
        if let Some(matches) = matches {
            let matches: Vec<V<'a>> = if matches.is_array() {
                matches.items().collect()
            } else {
                vec![matches]
            };
            for item in matches {
                let Some(id) = identity(&item) else { continue };
                let mut sets = Vec::new();
                if let Some(value) = self.eval(update, Some(&item), env)? {
                    if !value.is_object() {
                        return Err(err(
                            "T2011",
                            format!(
                                "the insert/update clause of the transform expression must evaluate to an object: {}",
                                short(&value)
                            ),
                            Some(update.pos),
                        ));
                    }
                    sets = value.entries();
                }
                let mut deletes = Vec::new();
                if let Some(delete) = delete
                    && let Some(value) = self.eval(delete, Some(&item), env)?
                {
                    for name in value.items() {
                        match name {
                            V::Str(name) => deletes.push(name.to_string()),
                            _ => {
                                return Err(err(
                                    "T2012",
                                    format!(
                                        "the delete clause of the transform expression must evaluate to a string or array of strings: {}",
                                        short(&value)
                                    ),
                                    Some(delete.pos),
                                ));
                            }
                        }
                    }
                }
                changes.push((id, sets, deletes));
            }
        }
        Ok(Some(self.rebuild(&target, &changes)?))
    }

    fn rebuild(&self, value: &V<'a>, changes: &[Change<'a>]) -> R<V<'a>> {
        self.meter.tick()?;
        if value.is_array() {
            let items = value
                .items()
                .map(|item| self.rebuild(&item, changes))
                .collect::<R<Vec<_>>>()?;
            return Ok(value::array(items));
        }
        if !value.is_object() {
            return Ok(value.clone());
        }
        let entries = value.entries();
        self.meter.alloc(entries.len() * 48)?;
        let mut obj = new_obj(entries.len());
        for (key, item) in entries {
            obj.insert(key, self.rebuild(&item, changes)?);
        }
        if let Some(id) = identity(value) {
            for (_, sets, deletes) in changes.iter().filter(|(changed, _, _)| *changed == id) {
                for (key, item) in sets {
                    obj.insert(key.clone(), item.clone());
                }
                for key in deletes {
                    obj.shift_remove(key.as_str());
                }
            }
        }
        Ok(V::Obj(Rc::new(obj)))
    }
}

/// What a transform does to one matched object: which (by address), the fields it sets and
/// the fields it deletes.
type Change<'a> = (usize, Vec<(Str<'a>, V<'a>)>, Vec<String>);

/// The address of an object, to recognise it again after a transform's pattern matched it.
fn identity(value: &V<'_>) -> Option<usize> {
    match value {
        V::JObj(fields) => Some(std::ptr::from_ref(*fields) as usize),
        V::Obj(fields) => Some(Rc::as_ptr(fields) as usize),
        _ => None,
    }
}

/// A built-in whose one-argument call is answered in place: no argument vector, signature
/// check or dispatch (their signatures accept any value, undefined included).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Inline {
    Type,
    Exists,
}

impl Inline {
    #[inline]
    pub(crate) fn of(builtin: &Builtin) -> Option<Inline> {
        match builtin.name {
            "type" => Some(Inline::Type),
            "exists" => Some(Inline::Exists),
            _ => None,
        }
    }

    #[inline]
    pub(crate) fn apply<'a>(self, value: Option<V<'a>>) -> Option<V<'a>> {
        match self {
            Inline::Type => value.map(|value| V::Str(Str::B(value.type_name()))),
            Inline::Exists => Some(V::Bool(value.is_some())),
        }
    }
}

enum Grouping<'a> {
    Value(Option<V<'a>>),
    Tuples(Vec<Tuple<'a>>),
}

/// `fn.append` over several values: one stays itself, more make a sequence.
pub(crate) fn append_all<'a>(values: Vec<V<'a>>) -> Option<V<'a>> {
    match values.len() {
        0 => None,
        1 => values.into_iter().next(),
        _ => {
            let mut out = Vec::new();
            for value in values {
                if value.is_array() {
                    out.extend(value.items());
                } else {
                    out.push(value);
                }
            }
            Some(seq(out))
        }
    }
}

fn flatten_into<'a>(value: &V<'a>, out: &mut Vec<V<'a>>) {
    for item in value.items() {
        if item.is_array() {
            flatten_into(&item, out);
        } else {
            out.push(item);
        }
    }
}

/// JSONata's `lookup` of a field over a value (mapping over arrays).
#[inline]
pub(crate) fn lookup_field<'a>(input: &V<'a>, name: &str, hint: &AtomicU32) -> Option<V<'a>> {
    match input {
        V::JObj(_) | V::Obj(_) => input.field_hinted(name, hint),
        V::JArr(_) | V::Arr(_) => {
            let mut out = Vec::new();
            for item in input.items() {
                if let Some(value) = lookup_field(&item, name, hint) {
                    if value.is_array() {
                        out.extend(value.items());
                    } else {
                        out.push(value);
                    }
                }
            }
            Some(seq(out))
        }
        _ => None,
    }
}

pub(crate) fn resolve_index(number: f64, len: usize) -> Option<usize> {
    let mut index = number.floor();
    if index < 0.0 {
        index += len as f64;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (index >= 0.0).then_some(index as usize)
}

/// Whether a predicate's value keeps the item at `index` of `count`.
pub(crate) fn keep_item(value: Option<&V<'_>>, index: usize, count: usize) -> bool {
    match value {
        Some(V::Num(number)) => resolve_index(*number, count) == Some(index),
        Some(V::Dec(dec)) => resolve_index(dec.value, count) == Some(index),
        Some(array)
            if array.is_array()
                && array.len_items() > 0
                && array
                    .items()
                    .all(|item| matches!(item, V::Num(_) | V::Dec(_))) =>
        {
            array
                .items()
                .any(|item| resolve_index(item.as_num().unwrap_or(f64::NAN), count) == Some(index))
        }
        other => truthy(other),
    }
}

fn op_text(op: Op) -> &'static str {
    match op {
        Op::Add => "+",
        Op::Sub => "-",
        Op::Mul => "*",
        Op::Div => "/",
        Op::Mod => "%",
        Op::Eq => "=",
        Op::Ne => "!=",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Concat => "&",
        Op::And => "and",
        Op::Or => "or",
        Op::In => "in",
        Op::Range => "..",
    }
}

/// A short rendering of a value for error messages.
pub(crate) fn short(value: &V<'_>) -> String {
    let mut text = String::new();
    match value {
        V::Func(_) => text.push_str("a function"),
        other => value::stringify(other, false, &mut text),
    }
    if text.len() > 60 {
        let mut cut = 60;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    format!("`{text}`")
}

/// Evaluates the whole expression: an array input is wrapped as JSONata does, so that `$`
/// and paths see it as one value.
pub(crate) fn run<'a>(
    tree: &'a Node,
    input: Option<&'a Json>,
    vars: &'a Vars,
    meter: &'a Meter,
) -> R<Option<V<'a>>> {
    let input = input.map(|json| match json {
        Json::Array(_) => V::Arr(Rc::new(Arr {
            items: vec![V::from_json(json)],
            seq: true,
            outer: true,
            ..Arr::default()
        })),
        other => V::from_json(other),
    });
    let ctx = Ctx::new(meter, vars, input.clone());
    let env = Env::root();
    let result = ctx.eval(tree, input.as_ref(), &env)?;
    Ok(collapse(result))
}

/// As [`run`], for an expression compiled by [`super::compile`].
pub(crate) fn run_code<'a>(
    code: &'a dyn CodeOp,
    input: Option<&'a Json>,
    vars: &'a Vars,
    meter: &'a Meter,
) -> R<Option<V<'a>>> {
    let input = input.map(|json| match json {
        Json::Array(_) => V::Arr(Rc::new(Arr {
            items: vec![V::from_json(json)],
            seq: true,
            outer: true,
            ..Arr::default()
        })),
        other => V::from_json(other),
    });
    let ctx = Ctx::new(meter, vars, input.clone());
    let env = Env::root();
    let result = code.run(&ctx, input.as_ref(), &env)?;
    Ok(collapse(result))
}
