//! Compiles the parsed tree once into operations that run without re-reading it: each node of
//! the kinds that mappings spend their time in (literals, field names, variables, paths of
//! names, object and array constructors, blocks, bindings, conditions, operators, calls of
//! built-in functions and lambdas, lambdas themselves) becomes an [`Op`] whose kind, flags and
//! children were decided here, and whose variables are read from the slot they were resolved
//! to (checked as they are read) rather than searched for by name along the scopes.
//!
//! Every other node (and any node with a predicate, grouping, `[]`, `@`, `#` or `%`) stays a
//! tree node, evaluated by the interpreter ([`Ctx::eval`]) as before; its subtree is not
//! compiled. The operations spend fuel, enter and leave depth, and check allocation and size
//! caps exactly where the interpreter does for the same node, so metering cannot be bypassed
//! and the fuel spent is the same.

use std::collections::HashSet;
use std::rc::Rc;
use std::sync::atomic::AtomicU32;

use serde_json::Value as Json;

use super::eval::{Ctx, Env, Func, Inline, R, Tail, append_all, lookup_field, pos_err, truthy};
use super::functions::{self, Builtin};
use super::parser::{Kind, LambdaDef, Node, Op as BinOp, visit_children};
use super::value::{Arr, Str, V, collapse, new_obj, seq};
use super::{err, eval};

/// A compiled node.
pub(crate) trait Op: Send + Sync + std::fmt::Debug {
    /// The node's value, as [`Ctx::eval`] gives it for the node.
    fn run<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>>;

    /// As [`Ctx::eval_tail`]: in a lambda's body, a call in tail position is returned to be
    /// made by the caller's loop instead of being made here.
    fn run_tail<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Tail<'a>> {
        Ok(Tail::Done(self.run(cx, input, env)?))
    }
}

pub(crate) type Code = Box<dyn Op>;

/// What `finish` does for a node with no predicate, grouping or `[]`: a sequence collapses.
#[inline]
fn fin(result: Option<V<'_>>) -> Option<V<'_>> {
    if matches!(&result, Some(V::Arr(arr)) if arr.seq) {
        collapse(result)
    } else {
        result
    }
}

// ---- compilation ----

/// A scope the compiled code runs in: the names it may hold, and those whose position in it
/// is known.
struct Frame {
    /// Every name something may bind in this scope.
    may: HashSet<String>,
    /// Names at a known position (a lambda's parameters, a block's leading bindings).
    slots: Vec<String>,
}

/// Where a variable is read from.
#[derive(Debug)]
enum Place {
    /// At this position of the scope this many scopes out, when the name there matches;
    /// otherwise searched for.
    Slot(usize, usize),
    /// Nothing in the expression can bind it: the caller's bindings, then the built-in.
    Global,
    /// Searched for along the scopes.
    Search,
}

fn place(name: &str, frames: &[Frame]) -> Place {
    if name == "$" {
        return Place::Search;
    }
    for (hops, frame) in frames.iter().rev().enumerate() {
        if frame.may.contains(name) {
            return match frame.slots.iter().position(|slot| slot == name) {
                Some(index) => Place::Slot(hops, index),
                None => Place::Search,
            };
        }
    }
    Place::Global
}

/// The names that evaluating `node` may bind in the scope it is evaluated in (not in the
/// scopes of lambda calls, scoped blocks or tuple streams it makes).
fn binds_here(node: &mut Node, out: &mut HashSet<String>) {
    stacker::maybe_grow(64 * 1024, 4 * 1024 * 1024, || binds_here_inner(node, out));
}

fn binds_here_inner(node: &mut Node, out: &mut HashSet<String>) {
    let own_scope = match &node.kind {
        Kind::Bind(name, _) => {
            out.insert(name.clone());
            false
        }
        Kind::Lambda(_) => true,
        Kind::Block(_) => node.scoped || node.tuple,
        _ => false,
    };
    if own_scope {
        // Only the node's predicates, stages and grouping run in this scope.
        let kind = std::mem::replace(&mut node.kind, Kind::Null);
        visit_children(node, &mut |child| binds_here(child, out));
        node.kind = kind;
        return;
    }
    visit_children(node, &mut |child| binds_here(child, out));
}

/// A block's frame: the names its items may bind, and their positions when every binding in
/// it is one of its own items (so they are bound in order, each once).
fn block_frame(items: &mut [Node]) -> Frame {
    let mut may = HashSet::new();
    let mut slots = Vec::new();
    let mut ordered = true;
    for item in items.iter_mut() {
        let mut here = HashSet::new();
        let plain = item.plain();
        if let Kind::Bind(name, value) = &mut item.kind {
            binds_here(value, &mut here);
            if !here.is_empty() || !plain {
                ordered = false;
            }
            let name = name.clone();
            if !slots.contains(&name) {
                slots.push(name.clone());
            }
            may.insert(name);
            let mut all = HashSet::new();
            binds_here(item, &mut all);
            may.extend(all);
        } else {
            binds_here(item, &mut here);
            if !here.is_empty() {
                ordered = false;
            }
            may.extend(here);
        }
    }
    if !ordered {
        slots.clear();
    }
    Frame { may, slots }
}

/// Compiles a whole expression.
pub(crate) fn compile(mut tree: Node) -> Code {
    let mut may = HashSet::new();
    binds_here(&mut tree, &mut may);
    let mut frames = vec![Frame {
        may,
        slots: Vec::new(),
    }];
    stacker::maybe_grow(64 * 1024, 4 * 1024 * 1024, || {
        compile_node(tree, &mut frames)
    })
}

fn interp(node: Node) -> Code {
    Box::new(Interp(node))
}

fn var_op(name: &str, builtin: Option<&'static Builtin>, frames: &[Frame]) -> VarOp {
    VarOp {
        name: name.to_owned(),
        builtin,
        place: place(name, frames),
    }
}

fn compile_node(mut node: Node, frames: &mut Vec<Frame>) -> Code {
    stacker::maybe_grow(64 * 1024, 4 * 1024 * 1024, || -> Code {
        if matches!(node.kind, Kind::Array(_)) && !node.predicate.is_empty() {
            // An array constructor with predicates (`[a, b][$ != ""]`): its value is never a
            // sequence, so it is filtered as built.
            let predicates = std::mem::take(&mut node.predicate);
            if node.plain() {
                let predicates = predicates
                    .into_iter()
                    .map(|predicate| match predicate.kind {
                        Kind::Num(number) => Predicate::Index(number),
                        _ => Predicate::Test(compile_node(predicate, frames)),
                    })
                    .collect();
                return Box::new(FilterOp {
                    array: compile_node(node, frames),
                    predicates,
                });
            }
            node.predicate = predicates;
        }
        if !node.plain() {
            return interp(node);
        }
        if node.leaf {
            return match node.kind {
                Kind::Str(text) => Box::new(StrOp(text)),
                Kind::Num(number) => Box::new(Lit(LitKind::Num(number))),
                Kind::Bool(flag) => Box::new(Lit(LitKind::Bool(flag))),
                Kind::Null => Box::new(Lit(LitKind::Null)),
                Kind::Name(name) => Box::new(FieldOp {
                    name,
                    hint: node.hint,
                }),
                Kind::Var(ref name, builtin) => Box::new(var_op(name, builtin, frames)),
                _ => interp(node),
            };
        }
        match &node.kind {
            Kind::Var(name, _) if name.is_empty() => return Box::new(ContextOp),
            _ => {}
        }
        if let Kind::Path(steps) = &node.kind
            && path_compiles(steps)
        {
            let Kind::Path(steps) = node.kind else {
                unreachable!("a path")
            };
            let steps = steps
                .into_iter()
                .map(|mut step| {
                    let var = matches!(step.kind, Kind::Var(..));
                    let cons = step.cons;
                    let step = match step.kind {
                        Kind::Name(name) if step.leaf => Step::Field(FieldOp {
                            name,
                            hint: step.hint,
                        }),
                        kind => {
                            step.kind = kind;
                            Step::Other(compile_node(step, frames))
                        }
                    };
                    PathStep { step, var, cons }
                })
                .collect();
            return Box::new(PathOp { steps });
        }
        let pos = node.pos;
        match node.kind {
            Kind::Object(pairs) if node.distinct_keys => {
                // An object of literals is the same object every time: it is kept as JSON and
                // lent out, where building it would allocate a map per evaluation.
                let constant: Option<serde_json::Map<String, Json>> = pairs
                    .iter()
                    .map(|(key, value)| match &key.kind {
                        Kind::Str(key) => Some((key.clone(), literal_json(value)?)),
                        _ => None,
                    })
                    .collect();
                let mut keys = Vec::with_capacity(pairs.len());
                let mut values = Vec::with_capacity(pairs.len());
                for (key, value) in pairs {
                    let Kind::Str(key) = key.kind else {
                        unreachable!("distinct keys are string literals")
                    };
                    keys.push(key);
                    values.push(compile_node(value, frames));
                }
                let general = ObjectOp { keys, values };
                match constant {
                    Some(json) => Box::new(ConstObjectOp { json, general }),
                    None => Box::new(general),
                }
            }
            Kind::Array(items)
                if !node.cons && items.iter().all(|item| literal_json(item).is_some()) =>
            {
                // An array constructor of literals, not a path's step: the same array every
                // time, kept as JSON and lent out.
                let json: Vec<Json> = items.iter().filter_map(literal_json).collect();
                Box::new(ConstArrayOp { json })
            }
            Kind::Array(items) => {
                let items = items
                    .into_iter()
                    .map(|item| {
                        let nested = matches!(item.kind, Kind::Array(_));
                        (compile_node(item, frames), nested)
                    })
                    .collect();
                Box::new(ArrayOp {
                    items,
                    cons: node.cons,
                })
            }
            Kind::Block(mut items) if !items.is_empty() && !node.tuple => {
                let scoped = node.scoped;
                if scoped {
                    frames.push(block_frame(&mut items));
                }
                let items = items
                    .into_iter()
                    .map(|item| compile_node(item, frames))
                    .collect();
                if scoped {
                    frames.pop();
                }
                Box::new(BlockOp { items, scoped })
            }
            Kind::Bind(name, value) => Box::new(BindOp {
                name,
                value: compile_node(*value, frames),
            }),
            Kind::Cond(condition, then, otherwise) => Box::new(CondOp {
                condition: compile_node(*condition, frames),
                then: compile_node(*then, frames),
                otherwise: otherwise.map(|otherwise| compile_node(*otherwise, frames)),
            }),
            Kind::Elvis(lhs, rhs) => Box::new(ElvisOp {
                lhs: compile_node(*lhs, frames),
                rhs: compile_node(*rhs, frames),
                coalesce: false,
            }),
            Kind::Coalesce(lhs, rhs) => Box::new(ElvisOp {
                lhs: compile_node(*lhs, frames),
                rhs: compile_node(*rhs, frames),
                coalesce: true,
            }),
            Kind::Binary(op, lhs, rhs) => Box::new(BinaryOp {
                op,
                lhs: compile_node(*lhs, frames),
                rhs: compile_node(*rhs, frames),
                pos,
            }),
            Kind::Neg(expr) => Box::new(NegOp {
                expr: compile_node(*expr, frames),
                pos,
            }),
            Kind::Call(proc, args)
                if matches!(proc.kind, Kind::Var(ref name, _) if !name.is_empty())
                    && proc.plain() =>
            {
                let Kind::Var(name, builtin) = &proc.kind else {
                    unreachable!("matched above")
                };
                let var = var_op(name, *builtin, frames);
                let builtin = builtin.map(|builtin| BuiltinCallee {
                    builtin,
                    // A name that no scope around can bind is hidden only by the caller's
                    // bindings.
                    shadowable: proc.shadowable && !matches!(var.place, Place::Global),
                    inline: Inline::of(builtin),
                });
                let args = args
                    .into_iter()
                    .map(|arg| compile_node(arg, frames))
                    .collect();
                Box::new(CallOp {
                    var,
                    builtin,
                    args,
                    pos,
                })
            }
            Kind::Lambda(def) => {
                let LambdaDef {
                    params,
                    signature,
                    mut body,
                    reusable_scope,
                } = *def;
                let mut may: HashSet<String> = params.iter().cloned().collect();
                let unique = may.len() == params.len();
                binds_here(&mut body, &mut may);
                frames.push(Frame {
                    may,
                    slots: if unique { params.clone() } else { Vec::new() },
                });
                let code = compile_node(body, frames);
                frames.pop();
                Box::new(LambdaOp {
                    def: LambdaDef {
                        params,
                        signature,
                        // The compiled body runs instead (see `Func::Lambda`).
                        body: Node::new(Kind::Null, pos),
                        reusable_scope,
                    },
                    body: code,
                })
            }
            kind => {
                node.kind = kind;
                interp(node)
            }
        }
    })
}

/// A literal's value as JSON, when it reads back as the same value (strings, booleans, null,
/// and whole numbers well within a float's digits).
fn literal_json(node: &Node) -> Option<Json> {
    if !node.leaf || !node.plain() {
        return None;
    }
    match &node.kind {
        Kind::Str(text) => Some(Json::String(text.clone())),
        Kind::Bool(flag) => Some(Json::Bool(*flag)),
        Kind::Null => Some(Json::Null),
        Kind::Num(number)
            if number.fract() == 0.0 && number.abs() < 1e15 && number.is_sign_positive() =>
        {
            #[allow(clippy::cast_possible_truncation)] // whole and below 2^53, so exact
            Some(Json::from(*number as i64))
        }
        _ => None,
    }
}

/// Whether a plain path's steps have nothing applied to them, no tuple binding and no sort.
fn path_compiles(steps: &[Node]) -> bool {
    steps
        .iter()
        .all(|step| step.plain() && !matches!(step.kind, Kind::Sort(_)))
}

// ---- the operations ----

/// A node the interpreter evaluates.
#[derive(Debug)]
struct Interp(Node);

impl Op for Interp {
    fn run<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        cx.eval(&self.0, input, env)
    }

    fn run_tail<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Tail<'a>> {
        cx.eval_tail(&self.0, input, env)
    }
}

#[derive(Debug)]
struct StrOp(String);

impl Op for StrOp {
    #[inline]
    fn run<'a>(&'a self, cx: &Ctx<'a>, _: Option<&V<'a>>, _: &Rc<Env<'a>>) -> R<Option<V<'a>>> {
        cx.meter.tick()?;
        Ok(Some(V::Str(Str::B(&self.0))))
    }
}

#[derive(Debug)]
enum LitKind {
    Num(f64),
    Bool(bool),
    Null,
}

#[derive(Debug)]
struct Lit(LitKind);

impl Op for Lit {
    #[inline]
    fn run<'a>(&'a self, cx: &Ctx<'a>, _: Option<&V<'a>>, _: &Rc<Env<'a>>) -> R<Option<V<'a>>> {
        cx.meter.tick()?;
        Ok(Some(match self.0 {
            LitKind::Num(number) => V::Num(number),
            LitKind::Bool(flag) => V::Bool(flag),
            LitKind::Null => V::Null,
        }))
    }
}

#[derive(Debug)]
struct FieldOp {
    name: String,
    hint: AtomicU32,
}

impl Op for FieldOp {
    #[inline]
    fn run<'a>(&'a self, cx: &Ctx<'a>, input: Option<&V<'a>>, _: &Rc<Env<'a>>) -> R<Option<V<'a>>> {
        cx.meter.tick()?;
        Ok(fin(input.and_then(|input| {
            lookup_field(input, &self.name, &self.hint)
        })))
    }
}

#[derive(Debug)]
struct VarOp {
    name: String,
    builtin: Option<&'static Builtin>,
    place: Place,
}

impl VarOp {
    /// The variable's value (not collapsed).
    #[inline]
    fn read<'a>(&'a self, cx: &Ctx<'a>, env: &Rc<Env<'a>>) -> Option<V<'a>> {
        match self.place {
            Place::Slot(hops, index) => match env.slot(hops, index, &self.name) {
                Some(value) => value,
                None => cx.lookup(&self.name, env, self.builtin),
            },
            Place::Global => cx.global(&self.name, self.builtin),
            Place::Search => cx.lookup(&self.name, env, self.builtin),
        }
    }
}

impl Op for VarOp {
    #[inline]
    fn run<'a>(&'a self, cx: &Ctx<'a>, _: Option<&V<'a>>, env: &Rc<Env<'a>>) -> R<Option<V<'a>>> {
        cx.meter.tick()?;
        Ok(fin(self.read(cx, env)))
    }
}

/// `$`: the context.
#[derive(Debug)]
struct ContextOp;

impl Op for ContextOp {
    fn run<'a>(&'a self, cx: &Ctx<'a>, input: Option<&V<'a>>, _: &Rc<Env<'a>>) -> R<Option<V<'a>>> {
        let result = cx.meter.nested(|| {
            Ok(match input {
                Some(V::Arr(arr)) if arr.outer && !arr.items.is_empty() => {
                    Some(arr.items[0].clone())
                }
                other => other.cloned(),
            })
        })?;
        Ok(fin(result))
    }
}

/// A step of a path.
#[derive(Debug)]
enum Step {
    /// A field name, which a walk from one object reads directly.
    Field(FieldOp),
    Other(Code),
}

#[derive(Debug)]
struct PathStep {
    step: Step,
    /// Whether the step is a variable (a path's first step then reads it once, not per item).
    var: bool,
    /// Whether the step is an array constructor.
    cons: bool,
}

impl PathStep {
    #[inline]
    fn run<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        match &self.step {
            Step::Field(field) => field.run(cx, input, env),
            Step::Other(code) => code.run(cx, input, env),
        }
    }
}

/// A path whose steps have nothing applied to them (no predicate, grouping, `[]`, `@`, `#`
/// or sort): `Ctx::eval_path` and `Ctx::path_general` over compiled steps.
#[derive(Debug)]
struct PathOp {
    steps: Vec<PathStep>,
}

impl PathOp {
    fn walk<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        let steps = &self.steps;
        // The common case: names navigated from one object, or from a variable.
        let (mut current, start) = match &steps[0] {
            first if first.var && steps.len() > 1 => match first.run(cx, input, env)? {
                None => return Ok(None),
                Some(value) if value.is_array() => {
                    return Self::general(cx, &steps[1..], Some(&value), env, false);
                }
                Some(value) => (value, 1),
            },
            PathStep {
                step: Step::Field(_),
                ..
            } => match input {
                Some(current) if !current.is_array() => (current.clone(), 0),
                _ => return Self::general(cx, steps, input, env, true),
            },
            _ => return Self::general(cx, steps, input, env, true),
        };
        for (index, step) in steps.iter().enumerate().skip(start) {
            let Step::Field(field) = &step.step else {
                return Self::general(cx, &steps[index..], Some(&current), env, false);
            };
            cx.meter.tick()?;
            match current.field_hinted(&field.name, &field.hint) {
                None => return Ok(None),
                Some(next) if next.is_array() => {
                    if index + 1 == steps.len() {
                        return Ok(Some(next));
                    }
                    return Self::general(cx, &steps[index + 1..], Some(&next), env, false);
                }
                Some(next) => current = next,
            }
        }
        Ok(Some(current))
    }

    /// `Ctx::path_general` for steps without tuples, stages or grouping.
    fn general<'a>(
        cx: &Ctx<'a>,
        steps: &'a [PathStep],
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
        first_is_first: bool,
    ) -> R<Option<V<'a>>> {
        let first_var = first_is_first && steps[0].var;
        let mut sequence: smallvec::SmallVec<[Option<V<'a>>; 2]> = match input {
            Some(array) if array.is_array() && !first_var => array.items().map(Some).collect(),
            other => smallvec::smallvec![other.cloned()],
        };
        let mut result: Option<V<'a>> = None;
        let last = steps.len() - 1;
        for (index, step) in steps.iter().enumerate() {
            let step_result = if index == 0 && first_is_first && step.cons {
                step.run(cx, input, env)?
            } else {
                Some(Self::step(cx, step, &sequence, env, index == last)?)
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
        Ok(result)
    }

    /// One step over a sequence (`Ctx::step` without stages).
    fn step<'a>(
        cx: &Ctx<'a>,
        step: &'a PathStep,
        sequence: &[Option<V<'a>>],
        env: &Rc<Env<'a>>,
        last: bool,
    ) -> R<V<'a>> {
        let mut results: smallvec::SmallVec<[V<'a>; 2]> = smallvec::SmallVec::new();
        for item in sequence {
            if let Some(value) = step.run(cx, item.as_ref(), env)? {
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
                cx.meter.gather(value.len_items())?;
                out.extend(value.items());
            }
        }
        Ok(seq(out))
    }
}

impl Op for PathOp {
    fn run<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        Ok(fin(cx.meter.nested(|| self.walk(cx, input, env))?))
    }
}

/// An object constructor whose keys are distinct string literals.
#[derive(Debug)]
struct ObjectOp {
    keys: Vec<String>,
    values: Vec<Code>,
}

impl ObjectOp {
    fn build<'a>(&'a self, cx: &Ctx<'a>, input: Option<&V<'a>>, env: &Rc<Env<'a>>) -> R<V<'a>> {
        let Some(array) = input.filter(|input| input.is_array()) else {
            let mut obj = new_obj(self.keys.len());
            cx.meter.alloc(self.keys.len() * 48)?;
            for (key, value) in self.keys.iter().zip(&self.values) {
                if let Some(item) = value.run(cx, input, env)? {
                    obj.insert(Str::B(key), item);
                }
            }
            return Ok(V::Obj(Rc::new(obj)));
        };
        // Over an array: JSONata groups the items by key. Every key is a literal, so each
        // groups all the items, and its value is evaluated once over all of them (as
        // `Ctx::group` does, with the same fuel: a tick per key per item, and the key's own).
        let items: Vec<V<'a>> = array.items().collect();
        for _ in 0..items.len().max(1) {
            for _ in &self.keys {
                cx.meter.tick()?;
                cx.meter.tick()?;
            }
        }
        cx.meter.items(self.keys.len(), "an object")?;
        let context = append_all(items);
        let mut obj = new_obj(self.keys.len());
        for (key, value) in self.keys.iter().zip(&self.values) {
            if let Some(item) = value.run(cx, context.as_ref(), env)? {
                obj.insert(Str::B(key), item);
            }
        }
        Ok(V::Obj(Rc::new(obj)))
    }
}

impl Op for ObjectOp {
    fn run<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        Ok(Some(cx.meter.nested(|| self.build(cx, input, env))?))
    }
}

/// An object constructor whose values are literals: its object, lent out as JSON, with the
/// fuel and allocation charges of building it.
#[derive(Debug)]
struct ConstObjectOp {
    json: serde_json::Map<String, Json>,
    /// Over an array input the object is built as JSONata groups it (the charges differ).
    general: ObjectOp,
}

impl Op for ConstObjectOp {
    fn run<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        if input.is_some_and(V::is_array) {
            return self.general.run(cx, input, env);
        }
        cx.meter.nested(|| {
            let count = self.json.len();
            cx.meter.alloc(count * 48)?;
            // A unit per value, as evaluating each literal spends.
            if count > 0 {
                cx.meter.spend(count as u64)?;
            }
            Ok(Some(V::JObj(&self.json)))
        })
    }
}

/// An array constructor of literals: its array, lent out as JSON, with the fuel of building it.
#[derive(Debug)]
struct ConstArrayOp {
    json: Vec<Json>,
}

impl Op for ConstArrayOp {
    fn run<'a>(&'a self, cx: &Ctx<'a>, _: Option<&V<'a>>, _: &Rc<Env<'a>>) -> R<Option<V<'a>>> {
        cx.meter.nested(|| {
            // A unit per item, as evaluating each literal spends.
            if !self.json.is_empty() {
                cx.meter.spend(self.json.len() as u64)?;
            }
            Ok(Some(V::JArr(&self.json)))
        })
    }
}

#[derive(Debug)]
struct ArrayOp {
    /// Each item, and whether it is an array constructor (kept as one item).
    items: Vec<(Code, bool)>,
    cons: bool,
}

impl ArrayOp {
    fn build<'a>(&'a self, cx: &Ctx<'a>, input: Option<&V<'a>>, env: &Rc<Env<'a>>) -> R<V<'a>> {
        let mut out = Vec::with_capacity(self.items.len());
        for (item, nested) in &self.items {
            let Some(value) = item.run(cx, input, env)? else {
                continue;
            };
            if *nested {
                out.push(value);
            } else if value.is_array() {
                cx.meter.items(out.len() + value.len_items(), "an array")?;
                out.extend(value.items());
            } else {
                out.push(value);
            }
        }
        Ok(V::Arr(Rc::new(Arr {
            items: out,
            cons: self.cons,
            ..Arr::default()
        })))
    }
}

impl Op for ArrayOp {
    fn run<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        Ok(fin(Some(cx.meter.nested(|| self.build(cx, input, env))?)))
    }
}

#[derive(Debug)]
enum Predicate {
    Index(f64),
    Test(Code),
}

/// An array constructor with predicates: `Ctx::finish` over a compiled array and predicates.
#[derive(Debug)]
struct FilterOp {
    array: Code,
    predicates: Vec<Predicate>,
}

impl FilterOp {
    /// `Ctx::filter` with a compiled predicate.
    fn filter<'a>(
        cx: &Ctx<'a>,
        predicate: &'a Predicate,
        input: Option<V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        let Some(input) = input else {
            return Ok(Some(seq(Vec::new())));
        };
        let count = input.len_items();
        let mut out = Vec::new();
        match predicate {
            Predicate::Index(number) => {
                if let Some(item) =
                    eval::resolve_index(*number, count).and_then(|index| input.item(index))
                {
                    if item.is_array() {
                        return Ok(Some(item));
                    }
                    out.push(item);
                }
            }
            Predicate::Test(code) => {
                for (index, item) in input.items().enumerate() {
                    let value = code.run(cx, Some(&item), env)?;
                    if eval::keep_item(value.as_ref(), index, count) {
                        out.push(item);
                    }
                }
            }
        }
        Ok(Some(seq(out)))
    }
}

impl Op for FilterOp {
    fn run<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        let mut result = self.array.run(cx, input, env)?;
        for predicate in &self.predicates {
            result = Self::filter(cx, predicate, result, env)?;
        }
        Ok(fin(result))
    }
}

#[derive(Debug)]
struct BlockOp {
    items: Vec<Code>,
    scoped: bool,
}

impl Op for BlockOp {
    fn run<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        let last = cx.meter.nested(|| {
            if !self.scoped {
                let mut last = None;
                for item in &self.items {
                    last = item.run(cx, input, env)?;
                }
                return Ok(last);
            }
            let scope = cx.child_env(env);
            let mut last = None;
            for item in &self.items {
                last = item.run(cx, input, &scope)?;
            }
            cx.recycle_env(scope);
            Ok(last)
        })?;
        Ok(fin(last))
    }

    fn run_tail<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Tail<'a>> {
        cx.meter.within(|| {
            cx.meter.tick()?;
            let child;
            let scope = if self.scoped {
                child = Env::child(env);
                &child
            } else {
                env
            };
            let (last, rest) = self.items.split_last().expect("a block has items");
            for item in rest {
                item.run(cx, input, scope)?;
            }
            last.run_tail(cx, input, scope)
        })
    }
}

#[derive(Debug)]
struct BindOp {
    name: String,
    value: Code,
}

impl Op for BindOp {
    fn run<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        let value = cx.meter.nested(|| self.value.run(cx, input, env))?;
        cx.bind(env, &self.name, value.clone());
        Ok(fin(value))
    }
}

#[derive(Debug)]
struct CondOp {
    condition: Code,
    then: Code,
    otherwise: Option<Code>,
}

impl Op for CondOp {
    fn run<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        let result = cx.meter.nested(|| {
            let condition = self.condition.run(cx, input, env)?;
            if truthy(condition.as_ref()) {
                self.then.run(cx, input, env)
            } else if let Some(otherwise) = &self.otherwise {
                otherwise.run(cx, input, env)
            } else {
                Ok(None)
            }
        })?;
        Ok(fin(result))
    }

    fn run_tail<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Tail<'a>> {
        cx.meter.within(|| {
            cx.meter.tick()?;
            let condition = self.condition.run(cx, input, env)?;
            if truthy(condition.as_ref()) {
                return self.then.run_tail(cx, input, env);
            }
            match &self.otherwise {
                Some(otherwise) => otherwise.run_tail(cx, input, env),
                None => Ok(Tail::Done(None)),
            }
        })
    }
}

/// `?:` (or `??` when `coalesce`).
#[derive(Debug)]
struct ElvisOp {
    lhs: Code,
    rhs: Code,
    coalesce: bool,
}

impl Op for ElvisOp {
    fn run<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        let result = cx.meter.nested(|| {
            let value = self.lhs.run(cx, input, env)?;
            let keep = if self.coalesce {
                value.is_some()
            } else {
                truthy(value.as_ref())
            };
            if keep {
                Ok(value)
            } else {
                self.rhs.run(cx, input, env)
            }
        })?;
        Ok(fin(result))
    }
}

#[derive(Debug)]
struct BinaryOp {
    op: BinOp,
    lhs: Code,
    rhs: Code,
    pos: usize,
}

impl Op for BinaryOp {
    fn run<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        let result = cx.meter.nested(|| match self.op {
            BinOp::And => {
                let left = self.lhs.run(cx, input, env)?;
                if !truthy(left.as_ref()) {
                    return Ok(Some(V::Bool(false)));
                }
                let right = self.rhs.run(cx, input, env)?;
                Ok(Some(V::Bool(truthy(right.as_ref()))))
            }
            BinOp::Or => {
                let left = self.lhs.run(cx, input, env)?;
                if truthy(left.as_ref()) {
                    return Ok(Some(V::Bool(true)));
                }
                let right = self.rhs.run(cx, input, env)?;
                Ok(Some(V::Bool(truthy(right.as_ref()))))
            }
            op => {
                let left = self.lhs.run(cx, input, env)?;
                let right = self.rhs.run(cx, input, env)?;
                cx.binary_values(op, left, right, self.pos)
            }
        })?;
        Ok(fin(result))
    }
}

#[derive(Debug)]
struct NegOp {
    expr: Code,
    pos: usize,
}

impl Op for NegOp {
    fn run<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        let result = cx
            .meter
            .nested(|| match self.expr.run(cx, input, env)?.map(V::demoted) {
                None => Ok(None),
                Some(V::Num(number)) => Ok(Some(V::Num(-number))),
                Some(_) => Err(err(
                    "D1002",
                    "cannot negate a non-numeric value",
                    Some(self.pos),
                )),
            })?;
        Ok(fin(result))
    }
}

#[derive(Debug)]
struct BuiltinCallee {
    builtin: &'static Builtin,
    /// Whether a scope around may bind the name (then it is looked for before the built-in
    /// is taken).
    shadowable: bool,
    inline: Option<Inline>,
}

/// A call of a function named by a variable: a built-in called in place, or the variable's
/// function value applied.
#[derive(Debug)]
struct CallOp {
    var: VarOp,
    builtin: Option<BuiltinCallee>,
    args: Vec<Code>,
    pos: usize,
}

impl CallOp {
    /// The built-in to call in place, when no binding hides it (as `Ctx::builtin_callee`).
    #[inline]
    fn builtin<'a>(&'a self, cx: &Ctx<'a>, env: &Rc<Env<'a>>) -> Option<&'a BuiltinCallee> {
        let callee = self.builtin.as_ref()?;
        if (callee.shadowable && env.lookup(&self.var.name).is_some())
            || cx.var_shadows(&self.var.name)
        {
            return None;
        }
        Some(callee)
    }

    fn call_builtin<'a>(
        &'a self,
        callee: &'a BuiltinCallee,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        if let (Some(inline), [arg]) = (callee.inline, self.args.as_slice()) {
            return Ok(inline.apply(arg.run(cx, input, env)?));
        }
        let mut args = eval::Args::with_capacity(self.args.len());
        for arg in &self.args {
            args.push(arg.run(cx, input, env)?);
        }
        let builtin = callee.builtin;
        let args = match builtin.signature() {
            Some(signature) => signature
                .validate(args, input)
                .map_err(|e| pos_err(e, self.pos))?,
            None => args,
        };
        functions::dispatch(cx, builtin, args, input, self.pos).map_err(|e| pos_err(e, self.pos))
    }

    /// The function value and the arguments (as `Ctx::callee_and_args`).
    fn callee_and_args<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<(V<'a>, eval::Args<'a>)> {
        let func = self.var.run(cx, input, env)?;
        let Some(func) = func else {
            return Err(err(
                "T1006",
                "attempted to invoke a non-function",
                Some(self.pos),
            ));
        };
        let mut args = eval::Args::with_capacity(self.args.len());
        for arg in &self.args {
            args.push(arg.run(cx, input, env)?);
        }
        Ok((func, args))
    }

    fn call<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        if let Some(callee) = self.builtin(cx, env) {
            return self.call_builtin(callee, cx, input, env);
        }
        let (func, args) = self.callee_and_args(cx, input, env)?;
        cx.apply(&func, args, input, self.pos)
    }
}

impl Op for CallOp {
    fn run<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        Ok(fin(cx.meter.nested(|| self.call(cx, input, env))?))
    }

    fn run_tail<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Tail<'a>> {
        cx.meter.within(|| {
            cx.meter.tick()?;
            if let Some(callee) = self.builtin(cx, env) {
                return Ok(Tail::Done(collapse(
                    self.call_builtin(callee, cx, input, env)?,
                )));
            }
            let (func, args) = self.callee_and_args(cx, input, env)?;
            if let V::Func(f) = &func
                && matches!(**f, Func::Lambda { .. })
            {
                return Ok(Tail::Call(func, args));
            }
            Ok(Tail::Done(collapse(
                cx.apply(&func, args, input, self.pos)?,
            )))
        })
    }
}

/// A lambda: its parameters and signature, and its compiled body.
#[derive(Debug)]
struct LambdaOp {
    def: LambdaDef,
    body: Code,
}

impl Op for LambdaOp {
    fn run<'a>(
        &'a self,
        cx: &Ctx<'a>,
        input: Option<&V<'a>>,
        env: &Rc<Env<'a>>,
    ) -> R<Option<V<'a>>> {
        cx.meter.nested(|| {
            Ok(Some(V::Func(Rc::new(Func::Lambda {
                def: &self.def,
                env: env.clone(),
                input: input.cloned(),
                code: Some(&*self.body),
            }))))
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::meter::Meter;
    use super::super::value::Shapes;
    use super::super::{evaluate_code, evaluate_tree, parser};
    use crate::{Limits, MappingError, Vars};

    type Outcome = (Result<Option<Value>, Box<MappingError>>, u64);

    /// The expression evaluated by the interpreter and compiled: result and fuel spent.
    fn both(source: &str, input: &Value, vars: &Vars, limits: &Limits) -> (Outcome, Outcome) {
        let tree = parser::parse(source).expect("parses");
        let meter = Meter::new(limits);
        let interpreted = evaluate_tree(&tree, Some(input), vars, &meter);
        let interpreted = (interpreted, meter.spent());
        let code = super::compile(parser::parse(source).expect("parses"));
        let shapes = Shapes::default();
        let meter = Meter::new(limits);
        let compiled = evaluate_code(&*code, Some(input), vars, &meter, &shapes);
        // Again, its result written through the shapes the first one left.
        let again = evaluate_code(&*code, Some(input), vars, &Meter::new(limits), &shapes);
        assert_eq!(
            again.as_ref().map_err(|error| &error.code),
            compiled.as_ref().map_err(|error| &error.code),
            "{source}, written through its shapes"
        );
        (interpreted, (compiled, meter.spent()))
    }

    fn same(source: &str, input: &Value, vars: &Vars, limits: &Limits) {
        let (interpreted, compiled) = both(source, input, vars, limits);
        assert_eq!(
            interpreted
                .0
                .as_ref()
                .map_err(|error| (&error.code, error.position)),
            compiled
                .0
                .as_ref()
                .map_err(|error| (&error.code, error.position)),
            "{source}"
        );
        if source.contains("$map(") || source.contains("$filter(") {
            // The interpreter runs a reused lambda's body through a path of its own that
            // spends a unit more on some nodes; the compiled body spends what any other
            // evaluation of those nodes does.
            assert!(
                compiled.1 <= interpreted.1 && compiled.1 + 8 >= interpreted.1,
                "fuel of {source}: {} interpreted, {} compiled",
                interpreted.1,
                compiled.1
            );
        } else {
            assert_eq!(interpreted.1, compiled.1, "fuel of {source}");
        }
    }

    /// Compiled expressions give the interpreter's results and errors, and spend the same fuel,
    /// on the shapes variables are resolved for (slots of parameters and of a block's
    /// bindings, bindings made later, conditionally, by predicates or by closures) and on the
    /// node kinds that are compiled.
    #[test]
    fn compiled_expressions_agree_with_the_interpreter() {
        let input = json!({
            "id": 7, "name": "Ada", "tags": ["a", "b"], "n": [1, 2, 3],
            "org": {"id": 3, "value": "x"}, "items": [{"k": "a", "v": 1}, {"k": "b", "v": 2}],
            "emails": [{"value": "a@x", "primary": true}, "b@y"], "empty": []
        });
        let vars = Vars::new().with("account", json!({"region": "GB"})).with(
            "fields",
            json!({"custom": [{"key": "a", "vendor_key": "id"}]}),
        );
        let limits = Limits::default();
        let sources = [
            "id",
            "org.id",
            "org.value & '-' & name",
            "$account.region",
            "$fields.custom.key",
            "[n, 4]",
            "[[n], [], empty]",
            "{'a': id, 'b': org.nothing, 'c': [name]}",
            "items.{'k': k, 'v': v}",
            "n.{'x': $}",
            "empty.{'x': $}",
            "{'a': $}.a.id",
            "($x := 1; $y := $x + 1; [$x, $y])",
            "($x := 1; $f := function() { $x + $y }; $y := 10; $f())",
            "($f := function($v) { $v * 2 }; $g := function($v) { $f($v) + 1 }; $g(3))",
            "($x := 1; ($x := 2; $x) + $x)",
            "($x := 1; id > 3 ? ($y := 2) : ($x := 5); [$x, $y])",
            "($x := 1; n[($x := $ ; true)]; $x)",
            "($x := 1; $f := function($x) { $x }; [$f(5), $x])",
            "($f := function($a, $a) { $a }; $f(1, 2))",
            "($fact := function($n) { $n <= 1 ? 1 : $n * $fact($n - 1) }; $fact(10))",
            "($loop := function($n, $acc) { $n = 0 ? $acc : $loop($n - 1, $acc + $n) }; $loop(1000, 0))",
            "$map(n, function($v, $i) { $v * $i })",
            "$filter(emails, function($e) { $type($e) = 'object' and $e.primary })",
            "$map([emails], function($v, $i) { $type($v) = 'string' ? {'value': $v, 'primary': $i = 0} : $v })",
            "($string := function($v) { 'mine' }; $string(1))",
            "($s := $string; $s(12))",
            "$string(id) & $lookup(org, 'value')",
            "$exists(nothing) or $type(org) = 'object'",
            "-(id)",
            "-name",
            "nothing ?: name",
            "nothing ?? 'd'",
            "id + name",
            "$nothing()",
            "$undefinedfn(1)",
            "id ~> $string()",
            "$$.org.id",
            "$.org",
            "($ref := function($v) { $type($v) = 'object' ? $string($v.id) : $string($v) }; [$ref(org), $ref(id)])",
            "items[v > 1].k",
            "($a := items; $a.k)",
            "(1; 2; 3)",
            "()",
            "function($x) { $x }(4)",
            "$fields.custom.($f := $; {$f.key: $lookup($$, $f.vendor_key)})",
            "$merge([{}, $fields.custom.($f := $; $v := $lookup($$, $f.vendor_key); $v != null ? {$f.key: $v})])",
            "[name, org.value, nothing][$ != 'x']",
            "[n, 9][1]",
            "[n][-1]",
            "[[n]][0]",
            "[][0]",
            "items.(v * 2)",
            "n.($ + 1)",
            "items.k.$uppercase($)",
            "$.items.{'k': k}",
            "[1, 2, 3].($)",
            "org.[id, value]",
            "items.[k]",
            "items[0].k",
            "$account.region.$lowercase($)",
            "emails.value",
            "($e := emails; [$e.{'a': value}])",
            "tags.$",
            "empty.x",
            "$string.x",
            "n.(n)",
            // Constructors of literals, lent out as JSON.
            "['a', 'b', null, true, 5]",
            "[]",
            "{}",
            "{'work': 'WORK', 'n': 3, 'x': null, 'f': false}",
            "items.{'a': 'x'}",
            "empty.{'a': 'x'}",
            "name in ['Ada', 'Bob']",
            "['a', 'b'][1]",
            "['a', 'b'][$ = 'b']",
            "[['a'], ['b', 'c']]",
            "[1.5, -2, 1e20]",
            "$mapValue('work', {'work': 'WORK', 'home': 'PERSONAL'}, 'OTHER')",
            "$mapValue(id, {'7': 'seven'})",
            "$lookup({'a': 1, 'b': [1, 2]}, 'b')",
            "$merge([{}, {'a': 1}, org])",
            "$count(['a', 'b'])",
            "$append(['a'], ['b'])",
            "['a', 'b'].$uppercase($)",
            "{'a': 'x'}.a",
            "$string(['a', {'b': 'c'}])",
            // Scopes taken back after a call or block, and closures that keep theirs.
            "($mk := function($x) { function() { $x } }; $a := $mk(1); $b := $mk(2); [$a(), $b()])",
            "($f := function($x) { ($y := $x * 2; $y + 1) }; [$f(1), $f(2), $f(3)])",
            "($f := function($x) { $x }; $g := function($x) { $f($x) & $f($x + 1) }; $map(n, $g))",
            "$map(n, function($v) { $map(n, function($w) { $v * $w }) })",
            "$filter(n, function($v) { $v > 1 }).($x := $; $x * 10)",
            // Whole numbers written by `$string`.
            "[$string(0), $string(-0), $string(-5), $string(id), $string(12345678901234)]",
            "[$string(9007199254740991), $string(9007199254740992), $string(1e21), $string(-1.5)]",
        ];
        for source in sources {
            same(source, &input, &vars, &limits);
        }
        // The limits bite at the same point.
        let tight = Limits {
            max_steps: Some(40),
            max_depth: 6,
            ..Limits::default()
        };
        for source in sources {
            same(source, &input, &vars, &tight);
        }
    }

    /// A binding of the caller's with a built-in function's name hides the built-in in
    /// compiled calls too.
    #[test]
    fn a_callers_binding_hides_a_built_in_in_compiled_code() {
        let vars = Vars::new().with("string", json!(5));
        same("$string(1)", &json!({}), &vars, &Limits::default());
        same(
            "($f := function() { $string }; $f())",
            &json!({}),
            &vars,
            &Limits::default(),
        );
    }
}
