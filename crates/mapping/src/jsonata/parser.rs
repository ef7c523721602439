//! Parses JSONata into the tree the evaluator runs: a Pratt parser over the lexer's tokens,
//! then a pass that turns dotted chains into paths with their steps, predicates into step
//! stages, and `@`/`#` bindings into tuple steps, as JSONata's own parser does.
//!
//! The tree is built once per expression; names of built-in functions are resolved here, and
//! regular expressions are compiled here, so evaluation never parses or compiles anything.

use super::err;
use super::functions::{Builtin, builtin};
use super::lexer::{Lexer, Tok, Token};
use super::signature::Signature;
use crate::MappingError;

type R<T> = Result<T, Box<MappingError>>;

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Concat,
    And,
    Or,
    In,
    Range,
}

/// A predicate or index binding applied to the results of a step.
#[derive(Debug)]
pub(crate) enum Stage {
    Filter(Box<Node>),
    Index(String),
}

#[derive(Debug)]
pub(crate) struct SortTerm {
    pub(crate) expr: Node,
    pub(crate) descending: bool,
}

#[derive(Debug)]
pub(crate) struct LambdaDef {
    pub(crate) params: Vec<String>,
    pub(crate) signature: Option<Signature>,
    pub(crate) body: Node,
    /// Whether the body makes no closure and binds no variable, so that nothing outlives a
    /// call's scope and one scope can be rebound for many calls (`$sift`, `$map`...).
    pub(crate) reusable_scope: bool,
}

/// Whether evaluating `node` may capture its scope or bind in it (a lambda, a transform, `:=`).
fn captures_or_binds(node: &Node) -> bool {
    if matches!(
        node.kind,
        Kind::Lambda(_) | Kind::Transform(..) | Kind::Bind(..)
    ) {
        return true;
    }
    let stages = node.stages.iter().any(|stage| match stage {
        Stage::Filter(filter) => captures_or_binds(filter),
        Stage::Index(_) => false,
    });
    let group = node.group.as_ref().is_some_and(|group| {
        group
            .0
            .iter()
            .any(|(key, value)| captures_or_binds(key) || captures_or_binds(value))
    });
    stages
        || group
        || node.predicate.iter().any(captures_or_binds)
        || match &node.kind {
            Kind::Path(items) | Kind::Array(items) | Kind::Block(items) => {
                items.iter().any(captures_or_binds)
            }
            Kind::Binary(_, a, b)
            | Kind::Elvis(a, b)
            | Kind::Coalesce(a, b)
            | Kind::Apply(a, b) => captures_or_binds(a) || captures_or_binds(b),
            Kind::Neg(a) => captures_or_binds(a),
            Kind::Object(pairs) => pairs
                .iter()
                .any(|(key, value)| captures_or_binds(key) || captures_or_binds(value)),
            Kind::Cond(a, b, c) => {
                captures_or_binds(a)
                    || captures_or_binds(b)
                    || c.as_deref().is_some_and(captures_or_binds)
            }
            Kind::Call(proc, args) | Kind::Partial(proc, args) => {
                captures_or_binds(proc) || args.iter().any(captures_or_binds)
            }
            Kind::Sort(terms) => terms.iter().any(|term| captures_or_binds(&term.expr)),
            _ => false,
        }
}

#[derive(Debug)]
pub(crate) struct RegexLit {
    pub(crate) regex: regress::Regex,
}

#[derive(Debug)]
pub(crate) enum Kind {
    Path(Vec<Node>),
    Name(String),
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Regex(Box<RegexLit>),
    /// A variable, with the built-in function of that name when there is one.
    Var(String, Option<&'static Builtin>),
    Wildcard,
    Descendant,
    /// `%`: the slot, and the label of the variable its ancestor is bound to.
    Parent(usize, String),
    Binary(Op, Box<Node>, Box<Node>),
    Neg(Box<Node>),
    Array(Vec<Node>),
    Object(Vec<(Node, Node)>),
    Block(Vec<Node>),
    Bind(String, Box<Node>),
    Cond(Box<Node>, Box<Node>, Option<Box<Node>>),
    Elvis(Box<Node>, Box<Node>),
    Coalesce(Box<Node>, Box<Node>),
    Call(Box<Node>, Vec<Node>),
    Partial(Box<Node>, Vec<Node>),
    Placeholder,
    Lambda(Box<LambdaDef>),
    Apply(Box<Node>, Box<Node>),
    Sort(Vec<SortTerm>),
    Transform(Box<Node>, Box<Node>, Option<Box<Node>>),
    // Shapes of the raw parse, gone after `process`.
    RawDot(Box<Node>, Box<Node>),
    RawFilter(Box<Node>, Box<Node>),
    RawGroup(Box<Node>, Vec<(Node, Node)>),
    RawFocus(Box<Node>, String),
    RawIndex(Box<Node>, String),
    RawSort(Box<Node>, Vec<SortTerm>),
}

/// A grouping (`expr{key: value}`): its pairs and its position.
pub(crate) type Group = (Vec<(Node, Node)>, usize);

/// A node of the tree, with the annotations JSONata puts on path steps.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) pos: usize,
    /// Filters and index bindings of a path step.
    pub(crate) stages: Vec<Stage>,
    /// Filters of an expression that is not a path.
    pub(crate) predicate: Vec<Node>,
    pub(crate) group: Option<Box<Group>>,
    pub(crate) focus: Option<String>,
    pub(crate) index: Option<String>,
    pub(crate) tuple: bool,
    pub(crate) keep_array: bool,
    pub(crate) cons: bool,
    /// The parent slots (`%`) this node still looks for an ancestor to bind.
    seeking: Vec<usize>,
    /// The slot whose ancestor this step binds, and its label once resolved.
    ancestor: Option<usize>,
    pub(crate) ancestor_label: Option<String>,
    /// For a field name: where the field was found in the last object read, so that records of
    /// one shape find their fields without hashing the name.
    pub(crate) hint: std::sync::atomic::AtomicU32,
    /// For a variable naming a built-in function: whether the expression binds that name
    /// somewhere (`:=`, a parameter, `@`, `#`), so scopes must be searched before the built-in
    /// is taken.
    pub(crate) shadowable: bool,
    /// A literal, field name or variable with nothing applied to it (no predicate, grouping,
    /// `[]` or tuple binding): evaluated without the general machinery.
    pub(crate) leaf: bool,
    /// Inside the body of a lambda whose scope is reused: whether the node's value may differ
    /// between calls (it reads a parameter, or calls something other than a deterministic
    /// built-in).
    pub(crate) dynamic: bool,
    /// For an object constructor: every key is a string literal and no two are the same, so
    /// no key needs checking against the others while the object is built.
    pub(crate) distinct_keys: bool,
    /// For a block: whether it needs a scope of its own, because something in it binds a
    /// variable or makes a closure. A block that does neither (a parenthesised expression)
    /// evaluates in its enclosing scope, as it would read the same variables there.
    pub(crate) scoped: bool,
}

impl Node {
    /// Nothing applied to the node's value: no predicate, grouping, `[]` or tuple binding.
    pub(crate) fn plain(&self) -> bool {
        self.predicate.is_empty()
            && self.stages.is_empty()
            && self.group.is_none()
            && !self.keep_array
            && !self.tuple
            && self.focus.is_none()
            && self.index.is_none()
            && self.ancestor_label.is_none()
    }
}

impl Node {
    pub(crate) fn new(kind: Kind, pos: usize) -> Node {
        Node {
            kind,
            pos,
            stages: Vec::new(),
            predicate: Vec::new(),
            group: None,
            focus: None,
            index: None,
            tuple: false,
            keep_array: false,
            cons: false,
            seeking: Vec::new(),
            ancestor: None,
            ancestor_label: None,
            hint: std::sync::atomic::AtomicU32::new(0),
            shadowable: false,
            leaf: false,
            dynamic: true,
            distinct_keys: false,
            scoped: true,
        }
    }
}

struct Parser {
    lexer: Lexer,
    node: Token,
}

fn lbp(tok: &Tok) -> u8 {
    match tok {
        Tok::Op(op) => match *op {
            "." => 75,
            "[" | "(" | "@" | "#" => 80,
            "{" => 70,
            "*" | "/" | "%" => 60,
            "+" | "-" | "&" => 50,
            "=" | "<" | ">" | "!=" | "<=" | ">=" | "in" | "^" | "~>" | "?:" | "??" => 40,
            "and" => 30,
            "or" => 25,
            "?" => 20,
            ":=" => 10,
            _ => 0,
        },
        _ => 0,
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Op(op) => (*op).to_owned(),
        Tok::Name(name) => name.clone(),
        Tok::Var(name) => format!("${name}"),
        Tok::Str(text) => text.clone(),
        Tok::Num(number) => number.to_string(),
        Tok::Bool(flag) => flag.to_string(),
        Tok::Null => "null".to_owned(),
        Tok::Regex(pattern, _) => format!("/{pattern}/"),
        Tok::End => "(end)".to_owned(),
    }
}

impl Parser {
    fn is(&self, op: &str) -> bool {
        matches!(&self.node.tok, Tok::Op(o) if *o == op)
    }

    fn advance(&mut self, expected: Option<&str>, infix: bool) -> R<()> {
        if let Some(id) = expected
            && !self.is(id)
        {
            let code = if self.node.tok == Tok::End {
                "S0203"
            } else {
                "S0202"
            };
            return Err(err(
                code,
                format!("expected `{id}`, got `{}`", describe(&self.node.tok)),
                Some(self.node.pos),
            ));
        }
        self.node = self.lexer.next(infix)?;
        if let Tok::Op(op @ ("!" | "~")) = self.node.tok {
            return Err(err(
                "S0204",
                format!("unknown operator: `{op}`"),
                Some(self.node.pos),
            ));
        }
        Ok(())
    }

    fn expression(&mut self, rbp: u8) -> R<Node> {
        let token = self.node.clone();
        self.advance(None, true)?;
        let mut left = self.nud(token)?;
        while rbp < lbp(&self.node.tok) {
            let token = self.node.clone();
            self.advance(None, false)?;
            left = self.led(token, left)?;
        }
        Ok(left)
    }

    fn nud(&mut self, token: Token) -> R<Node> {
        let pos = token.pos;
        let kind = match token.tok {
            Tok::Name(name) => Kind::Name(name),
            Tok::Var(name) => Kind::Var(name, None),
            Tok::Str(text) => Kind::Str(text),
            Tok::Num(number) => Kind::Num(number),
            Tok::Bool(flag) => Kind::Bool(flag),
            Tok::Null => Kind::Null,
            Tok::Regex(pattern, flags) => {
                let regex =
                    regress::Regex::with_flags(&pattern, flags.as_str()).map_err(|error| {
                        err(
                            "S0303",
                            format!("invalid regular expression: {error}"),
                            Some(pos),
                        )
                    })?;
                Kind::Regex(Box::new(RegexLit { regex }))
            }
            Tok::End => return Err(err("S0207", "unexpected end of expression", Some(pos))),
            Tok::Op(op) => match op {
                "and" | "or" | "in" => Kind::Name(op.to_owned()),
                "-" => Kind::Neg(Box::new(self.expression(70)?)),
                "*" => Kind::Wildcard,
                "**" => Kind::Descendant,
                "%" => Kind::Parent(0, String::new()),
                "(" => {
                    let mut items = Vec::new();
                    while !self.is(")") {
                        items.push(self.expression(0)?);
                        if !self.is(";") {
                            break;
                        }
                        self.advance(Some(";"), false)?;
                    }
                    self.advance(Some(")"), true)?;
                    Kind::Block(items)
                }
                "[" => {
                    let mut items = Vec::new();
                    if !self.is("]") {
                        loop {
                            let mut item = self.expression(0)?;
                            if self.is("..") {
                                let range_pos = self.node.pos;
                                self.advance(Some(".."), false)?;
                                let rhs = self.expression(0)?;
                                item = Node::new(
                                    Kind::Binary(Op::Range, Box::new(item), Box::new(rhs)),
                                    range_pos,
                                );
                            }
                            items.push(item);
                            if !self.is(",") {
                                break;
                            }
                            self.advance(Some(","), false)?;
                        }
                    }
                    self.advance(Some("]"), true)?;
                    Kind::Array(items)
                }
                "{" => Kind::Object(self.pairs()?),
                "|" => {
                    let pattern = self.expression(0)?;
                    self.advance(Some("|"), false)?;
                    let update = self.expression(0)?;
                    let delete = if self.is(",") {
                        self.advance(Some(","), false)?;
                        Some(Box::new(self.expression(0)?))
                    } else {
                        None
                    };
                    self.advance(Some("|"), true)?;
                    Kind::Transform(Box::new(pattern), Box::new(update), delete)
                }
                other => {
                    return Err(err(
                        "S0211",
                        format!("the symbol `{other}` cannot be used as a unary operator"),
                        Some(pos),
                    ));
                }
            },
        };
        Ok(Node::new(kind, pos))
    }

    fn pairs(&mut self) -> R<Vec<(Node, Node)>> {
        let mut pairs = Vec::new();
        if !self.is("}") {
            loop {
                let key = self.expression(0)?;
                self.advance(Some(":"), false)?;
                let value = self.expression(0)?;
                pairs.push((key, value));
                if !self.is(",") {
                    break;
                }
                self.advance(Some(","), false)?;
            }
        }
        self.advance(Some("}"), true)?;
        Ok(pairs)
    }

    fn led(&mut self, token: Token, left: Node) -> R<Node> {
        let pos = token.pos;
        let Tok::Op(op) = token.tok else {
            return Err(err(
                "S0201",
                format!("syntax error: `{}`", describe(&token.tok)),
                Some(pos),
            ));
        };
        let binary = |op: Op, parser: &mut Parser, bp: u8| -> R<Node> {
            let rhs = parser.expression(bp)?;
            Ok(Node::new(
                Kind::Binary(op, Box::new(left_placeholder()), Box::new(rhs)),
                pos,
            ))
        };
        let simple = match op {
            "+" => Some((Op::Add, 50)),
            "-" => Some((Op::Sub, 50)),
            "*" => Some((Op::Mul, 60)),
            "/" => Some((Op::Div, 60)),
            "%" => Some((Op::Mod, 60)),
            "=" => Some((Op::Eq, 40)),
            "!=" => Some((Op::Ne, 40)),
            "<" => Some((Op::Lt, 40)),
            "<=" => Some((Op::Le, 40)),
            ">" => Some((Op::Gt, 40)),
            ">=" => Some((Op::Ge, 40)),
            "&" => Some((Op::Concat, 50)),
            "and" => Some((Op::And, 30)),
            "or" => Some((Op::Or, 25)),
            "in" => Some((Op::In, 40)),
            _ => None,
        };
        if let Some((op, bp)) = simple {
            let mut node = binary(op, self, bp)?;
            if let Kind::Binary(_, lhs, _) = &mut node.kind {
                **lhs = left;
            }
            return Ok(node);
        }
        let kind = match op {
            "." => Kind::RawDot(Box::new(left), Box::new(self.expression(75)?)),
            ":=" => {
                let Kind::Var(name, _) = left.kind else {
                    return Err(err(
                        "S0212",
                        "the left side of `:=` must be a variable name (start with $)",
                        Some(left.pos),
                    ));
                };
                Kind::Bind(name, Box::new(self.expression(9)?))
            }
            "?" => {
                let then = self.expression(0)?;
                let otherwise = if self.is(":") {
                    self.advance(Some(":"), false)?;
                    Some(Box::new(self.expression(0)?))
                } else {
                    None
                };
                Kind::Cond(Box::new(left), Box::new(then), otherwise)
            }
            "?:" => Kind::Elvis(Box::new(left), Box::new(self.expression(0)?)),
            "??" => Kind::Coalesce(Box::new(left), Box::new(self.expression(0)?)),
            "~>" => Kind::Apply(Box::new(left), Box::new(self.expression(40)?)),
            "@" | "#" => {
                let rhs = self.expression(80)?;
                let Kind::Var(name, _) = rhs.kind else {
                    return Err(err(
                        "S0214",
                        format!("the right side of `{op}` must be a variable name (start with $)"),
                        Some(rhs.pos),
                    ));
                };
                if op == "@" {
                    Kind::RawFocus(Box::new(left), name)
                } else {
                    Kind::RawIndex(Box::new(left), name)
                }
            }
            "[" => {
                if self.is("]") {
                    let mut left = left;
                    let mut step = &mut left;
                    while let Kind::RawFilter(lhs, _) = &mut step.kind {
                        step = lhs;
                    }
                    step.keep_array = true;
                    self.advance(Some("]"), true)?;
                    return Ok(left);
                }
                if self.node.tok == Tok::End {
                    return Err(err(
                        "S0203",
                        "expected `]` before end of expression",
                        Some(self.node.pos),
                    ));
                }
                let rhs = self.expression(0)?;
                self.advance(Some("]"), true)?;
                Kind::RawFilter(Box::new(left), Box::new(rhs))
            }
            "{" => Kind::RawGroup(Box::new(left), self.pairs()?),
            "^" => {
                self.advance(Some("("), false)?;
                let mut terms = Vec::new();
                loop {
                    let mut descending = false;
                    if self.is("<") {
                        self.advance(Some("<"), false)?;
                    } else if self.is(">") {
                        descending = true;
                        self.advance(Some(">"), false)?;
                    }
                    terms.push(SortTerm {
                        expr: self.expression(0)?,
                        descending,
                    });
                    if !self.is(",") {
                        break;
                    }
                    self.advance(Some(","), false)?;
                }
                self.advance(Some(")"), true)?;
                Kind::RawSort(Box::new(left), terms)
            }
            "(" => return self.call(left, pos),
            other => {
                return Err(err("S0201", format!("syntax error: `{other}`"), Some(pos)));
            }
        };
        Ok(Node::new(kind, pos))
    }

    fn call(&mut self, left: Node, pos: usize) -> R<Node> {
        let mut args = Vec::new();
        let mut partial = false;
        if !self.is(")") {
            loop {
                if self.is("?") {
                    partial = true;
                    args.push(Node::new(Kind::Placeholder, self.node.pos));
                    self.advance(Some("?"), false)?;
                } else {
                    args.push(self.expression(0)?);
                }
                if !self.is(",") {
                    break;
                }
                self.advance(Some(","), false)?;
            }
        }
        self.advance(Some(")"), true)?;
        if let Kind::Name(name) = &left.kind
            && (name == "function" || name == "λ")
        {
            let mut params = Vec::new();
            for (index, arg) in args.into_iter().enumerate() {
                match arg.kind {
                    Kind::Var(name, _) => params.push(name),
                    _ => {
                        return Err(err(
                            "S0208",
                            format!(
                                "parameter {} of a function definition must be a variable name (start with $)",
                                index + 1
                            ),
                            Some(arg.pos),
                        ));
                    }
                }
            }
            let mut signature = None;
            if self.is("<") {
                let start = self.node.pos - 1;
                let mut depth = 1;
                let mut at = self.lexer.pos;
                while depth > 0 && at < self.lexer.len() {
                    match self.lexer.slice(at, at + 1).as_str() {
                        "<" => depth += 1,
                        ">" => depth -= 1,
                        "{" => break,
                        _ => {}
                    }
                    at += 1;
                }
                let text = self.lexer.slice(start, at);
                self.lexer.pos = at;
                self.advance(None, false)?;
                signature = Some(Signature::parse(&text).map_err(|mut error| {
                    error.position = Some(start);
                    error
                })?);
            }
            self.advance(Some("{"), false)?;
            let body = self.expression(0)?;
            self.advance(Some("}"), true)?;
            return Ok(Node::new(
                Kind::Lambda(Box::new(LambdaDef {
                    params,
                    signature,
                    body,
                    reusable_scope: false,
                })),
                pos,
            ));
        }
        let kind = if partial {
            Kind::Partial(Box::new(left), args)
        } else {
            Kind::Call(Box::new(left), args)
        };
        Ok(Node::new(kind, pos))
    }
}

fn left_placeholder() -> Node {
    Node::new(Kind::Null, 0)
}

/// Parses `source` into the tree the evaluator runs.
pub(crate) fn parse(source: &str) -> R<Node> {
    let mut lexer = Lexer::new(source);
    let first = lexer.next(false)?;
    let mut parser = Parser { lexer, node: first };
    let tree = parser.expression(0)?;
    if parser.node.tok != Tok::End {
        return Err(err(
            "S0201",
            format!("syntax error: `{}`", describe(&parser.node.tok)),
            Some(parser.node.pos),
        ));
    }
    let mut cx = Cx { slots: Vec::new() };
    let mut tree = process(tree, &mut cx)?;
    if !tree.seeking.is_empty() || matches!(tree.kind, Kind::Parent(..)) {
        return Err(err(
            "S0217",
            "the parent operator `%` cannot derive an ancestor at the top level",
            Some(tree.pos),
        ));
    }
    label(&mut tree, &cx);
    let mut bound = std::collections::HashSet::new();
    bound_names(&mut tree, &mut bound);
    resolve(&mut tree, &bound);
    Ok(tree)
}

fn into_path(node: Node) -> Node {
    if matches!(node.kind, Kind::Path(_)) {
        return node;
    }
    let pos = node.pos;
    let keep = node.keep_array;
    let mut path = Node::new(Kind::Path(vec![node]), pos);
    path.keep_array = keep;
    path
}

fn last_step(path: &mut Node) -> &mut Node {
    if matches!(path.kind, Kind::Path(_)) {
        let Kind::Path(steps) = &mut path.kind else {
            unreachable!()
        };
        return steps.last_mut().expect("a path has steps");
    }
    path
}

/// Turns the raw parse into the evaluator's tree (JSONata's `processAST`).
fn process(node: Node, cx: &mut Cx) -> R<Node> {
    let Node {
        kind,
        pos,
        keep_array,
        ..
    } = node;
    let generic = matches!(
        kind,
        Kind::Binary(..)
            | Kind::Neg(_)
            | Kind::Array(_)
            | Kind::Object(_)
            | Kind::Block(_)
            | Kind::Bind(..)
            | Kind::Cond(..)
            | Kind::Elvis(..)
            | Kind::Coalesce(..)
            | Kind::Call(..)
            | Kind::Partial(..)
            | Kind::Apply(..)
    );
    let mut result = match kind {
        Kind::RawDot(lhs, rhs) => {
            let lstep = process(*lhs, cx)?;
            let seeking = match &lstep.kind {
                Kind::Path(_) | Kind::Parent(..) => lstep.seeking.clone(),
                _ => Vec::new(),
            };
            let mut steps = match lstep.kind {
                Kind::Path(steps) if lstep.group.is_none() => {
                    let keep = lstep.keep_array;
                    let mut steps = steps;
                    if keep && let Some(last) = steps.last_mut() {
                        last.keep_array = true;
                    }
                    steps
                }
                _ => vec![lstep],
            };
            let rest = process(*rhs, cx)?;
            match rest.kind {
                Kind::Path(rest_steps) if rest.group.is_none() => {
                    let keep = rest.keep_array;
                    steps.extend(rest_steps);
                    if keep && let Some(last) = steps.last_mut() {
                        last.keep_array = true;
                    }
                }
                _ => {
                    let mut rest = rest;
                    if !rest.predicate.is_empty() {
                        rest.stages = std::mem::take(&mut rest.predicate)
                            .into_iter()
                            .map(|filter| Stage::Filter(Box::new(filter)))
                            .collect();
                    }
                    steps.push(rest);
                }
            }
            for step in &mut steps {
                match &step.kind {
                    Kind::Num(_) | Kind::Bool(_) | Kind::Null => {
                        return Err(err(
                            "S0213",
                            "the literal value cannot be used as a step within a path expression",
                            Some(step.pos),
                        ));
                    }
                    Kind::Str(text) => step.kind = Kind::Name(text.clone()),
                    _ => {}
                }
            }
            let keep = steps.iter().any(|step| step.keep_array);
            if let Some(first) = steps.first_mut()
                && matches!(first.kind, Kind::Array(_))
            {
                first.cons = true;
            }
            if let Some(last) = steps.last_mut()
                && matches!(last.kind, Kind::Array(_))
            {
                last.cons = true;
            }
            let mut path = Node::new(Kind::Path(steps), pos);
            path.keep_array = keep;
            path.seeking = seeking;
            resolve_ancestry(&mut path, cx)?;
            path
        }
        Kind::RawFilter(lhs, rhs) => {
            let mut result = process(*lhs, cx)?;
            let mut predicate = process(*rhs, cx)?;
            let is_path = matches!(result.kind, Kind::Path(_));
            let step = last_step(&mut result);
            for slot in std::mem::take(&mut predicate.seeking) {
                if cx.slots[slot].level == 1 {
                    seek_parent(step, slot, cx)?;
                } else {
                    cx.slots[slot].level -= 1;
                }
                step.seeking.push(slot);
            }
            if step.group.is_some() {
                return Err(err(
                    "S0209",
                    "a predicate cannot follow a grouping expression in a step",
                    Some(pos),
                ));
            }
            if is_path {
                step.stages.push(Stage::Filter(Box::new(predicate)));
            } else {
                step.predicate.push(predicate);
            }
            result
        }
        Kind::RawGroup(lhs, pairs) => {
            let mut result = process(*lhs, cx)?;
            if result.group.is_some() {
                return Err(err(
                    "S0210",
                    "each step can only have one grouping expression",
                    Some(pos),
                ));
            }
            let pairs = process_pairs(pairs, cx)?;
            result.group = Some(Box::new((pairs, pos)));
            result
        }
        Kind::RawFocus(lhs, name) => {
            let mut result = process(*lhs, cx)?;
            let step = last_step(&mut result);
            if !step.stages.is_empty() || !step.predicate.is_empty() {
                return Err(err(
                    "S0215",
                    "a context variable binding must precede any predicates on a step",
                    Some(pos),
                ));
            }
            if matches!(step.kind, Kind::Sort(_)) {
                return Err(err(
                    "S0216",
                    "a context variable binding must precede the `order-by` clause on a step",
                    Some(pos),
                ));
            }
            step.focus = Some(name);
            step.tuple = true;
            result
        }
        Kind::RawIndex(lhs, name) => {
            let mut result = process(*lhs, cx)?;
            if !matches!(result.kind, Kind::Path(_)) {
                let mut step = result;
                if !step.predicate.is_empty() {
                    step.stages = std::mem::take(&mut step.predicate)
                        .into_iter()
                        .map(|filter| Stage::Filter(Box::new(filter)))
                        .collect();
                }
                result = into_path(step);
            }
            let step = last_step(&mut result);
            if step.stages.is_empty() {
                step.index = Some(name);
            } else {
                step.stages.push(Stage::Index(name));
            }
            step.tuple = true;
            result
        }
        Kind::RawSort(lhs, terms) => {
            let mut result = into_path(process(*lhs, cx)?);
            let terms = terms
                .into_iter()
                .map(|term| {
                    Ok(SortTerm {
                        expr: process(term.expr, cx)?,
                        descending: term.descending,
                    })
                })
                .collect::<R<Vec<_>>>()?;
            let mut sort = Node::new(Kind::Sort(terms), pos);
            if let Kind::Sort(terms) = &sort.kind {
                sort.seeking = terms
                    .iter()
                    .flat_map(|term| term.expr.seeking.clone())
                    .collect();
            }
            if let Kind::Path(steps) = &mut result.kind {
                steps.push(sort);
            }
            resolve_ancestry(&mut result, cx)?;
            result
        }
        Kind::Name(name) => {
            let mut step = Node::new(Kind::Name(name), pos);
            step.keep_array = keep_array;
            into_path(step)
        }
        Kind::Binary(op, lhs, rhs) => Node::new(
            Kind::Binary(
                op,
                Box::new(process(*lhs, cx)?),
                Box::new(process(*rhs, cx)?),
            ),
            pos,
        ),
        Kind::Neg(expr) => {
            let expr = process(*expr, cx)?;
            match expr.kind {
                Kind::Num(number) => Node::new(Kind::Num(-number), pos),
                _ => Node::new(Kind::Neg(Box::new(expr)), pos),
            }
        }
        Kind::Array(items) => Node::new(
            Kind::Array(
                items
                    .into_iter()
                    .map(|item| process(item, cx))
                    .collect::<R<_>>()?,
            ),
            pos,
        ),
        Kind::Object(pairs) => Node::new(Kind::Object(process_pairs(pairs, cx)?), pos),
        Kind::Block(items) => Node::new(
            Kind::Block(
                items
                    .into_iter()
                    .map(|item| process(item, cx))
                    .collect::<R<_>>()?,
            ),
            pos,
        ),
        Kind::Bind(name, value) => Node::new(Kind::Bind(name, Box::new(process(*value, cx)?)), pos),
        Kind::Cond(c, t, e) => Node::new(
            Kind::Cond(
                Box::new(process(*c, cx)?),
                Box::new(process(*t, cx)?),
                e.map(|e| process(*e, cx).map(Box::new)).transpose()?,
            ),
            pos,
        ),
        Kind::Elvis(l, r) => Node::new(
            Kind::Elvis(Box::new(process(*l, cx)?), Box::new(process(*r, cx)?)),
            pos,
        ),
        Kind::Coalesce(l, r) => Node::new(
            Kind::Coalesce(Box::new(process(*l, cx)?), Box::new(process(*r, cx)?)),
            pos,
        ),
        Kind::Call(proc, args) => Node::new(
            Kind::Call(
                Box::new(process(*proc, cx)?),
                args.into_iter()
                    .map(|item| process(item, cx))
                    .collect::<R<_>>()?,
            ),
            pos,
        ),
        Kind::Partial(proc, args) => Node::new(
            Kind::Partial(
                Box::new(process(*proc, cx)?),
                args.into_iter()
                    .map(|item| process(item, cx))
                    .collect::<R<_>>()?,
            ),
            pos,
        ),
        Kind::Lambda(def) => {
            let def = *def;
            Node::new(
                Kind::Lambda(Box::new({
                    let body = process(def.body, cx)?;
                    LambdaDef {
                        params: def.params,
                        signature: def.signature,
                        reusable_scope: !captures_or_binds(&body),
                        body,
                    }
                })),
                pos,
            )
        }
        Kind::Apply(l, r) => Node::new(
            Kind::Apply(Box::new(process(*l, cx)?), Box::new(process(*r, cx)?)),
            pos,
        ),
        Kind::Transform(p, u, d) => Node::new(
            Kind::Transform(
                Box::new(process(*p, cx)?),
                Box::new(process(*u, cx)?),
                d.map(|d| process(*d, cx).map(Box::new)).transpose()?,
            ),
            pos,
        ),
        Kind::Parent(..) => {
            let slot = cx.slots.len();
            cx.slots.push(Slot {
                label: format!("!{slot}"),
                level: 1,
            });
            let mut node = Node::new(Kind::Parent(slot, String::new()), pos);
            node.seeking = vec![slot];
            node
        }
        other => Node::new(other, pos),
    };
    if keep_array {
        result.keep_array = true;
    }
    if generic {
        let mut seeking = Vec::new();
        if let Kind::Call(_, args) | Kind::Partial(_, args) = &result.kind {
            // The function itself seeks no ancestor (JSONata leaves `%()` to fail at run time).
            for arg in args {
                seeking.extend(arg.seeking.iter().copied());
            }
        } else {
            visit_kind_children(&mut result, &mut |child| {
                seeking.extend(child.seeking.iter().copied());
            });
        }
        result.seeking = seeking;
    }
    Ok(result)
}

/// A parent slot: the variable label its ancestor is bound to, and how many steps up it is.
struct Slot {
    label: String,
    level: i32,
}

/// What processing the tree shares: the parent slots.
struct Cx {
    slots: Vec<Slot>,
}

/// Finds, for the parent slots the last step of a path looks for, the step that binds the
/// ancestor (JSONata's `resolveAncestry`).
fn resolve_ancestry(path: &mut Node, cx: &mut Cx) -> R<()> {
    let Kind::Path(steps) = &mut path.kind else {
        return Ok(());
    };
    let Some(last) = steps.last() else {
        return Ok(());
    };
    let slots = last.seeking.clone();
    let count = steps.len();
    for slot in slots {
        let mut index = count as isize - 2;
        while cx.slots[slot].level > 0 {
            if index < 0 {
                path.seeking.push(slot);
                break;
            }
            #[allow(clippy::cast_sign_loss)]
            let mut at = index as usize;
            index -= 1;
            while index >= 0 && steps[at].focus.is_some() && steps[index as usize].focus.is_some() {
                #[allow(clippy::cast_sign_loss)]
                {
                    at = index as usize;
                }
                index -= 1;
            }
            seek_parent(&mut steps[at], slot, cx)?;
        }
    }
    Ok(())
}

/// Marks the step that binds the ancestor a parent slot refers to (JSONata's `seekParent`).
fn seek_parent(node: &mut Node, slot: usize, cx: &mut Cx) -> R<()> {
    match &mut node.kind {
        Kind::Name(_) | Kind::Wildcard => {
            cx.slots[slot].level -= 1;
            if cx.slots[slot].level == 0 {
                if let Some(existing) = node.ancestor {
                    cx.slots[slot].label = cx.slots[existing].label.clone();
                }
                node.ancestor = Some(slot);
                node.tuple = true;
            }
        }
        Kind::Parent(..) => cx.slots[slot].level += 1,
        Kind::Block(items) => {
            if let Some(last) = items.last_mut() {
                node.tuple = true;
                seek_parent(last, slot, cx)?;
            }
        }
        Kind::Path(steps) => {
            node.tuple = true;
            for step in steps.iter_mut().rev() {
                seek_parent(step, slot, cx)?;
                if cx.slots[slot].level <= 0 {
                    break;
                }
            }
        }
        _ => {
            return Err(err(
                "S0217",
                "the parent operator `%` cannot derive an ancestor here",
                Some(node.pos),
            ));
        }
    }
    Ok(())
}

/// Writes the resolved labels of the parent slots into the tree.
fn label(node: &mut Node, cx: &Cx) {
    if let Kind::Parent(slot, label) = &mut node.kind {
        label.clone_from(&cx.slots[*slot].label);
    }
    if let Some(slot) = node.ancestor {
        node.ancestor_label = Some(cx.slots[slot].label.clone());
    }
    visit_children(node, &mut |child| label(child, cx));
}

/// Calls `f` on each child of `node` that its kind holds (not its stages or grouping).
fn visit_kind_children(node: &mut Node, f: &mut dyn FnMut(&mut Node)) {
    let stages = std::mem::take(&mut node.stages);
    let predicate = std::mem::take(&mut node.predicate);
    let group = node.group.take();
    visit_children(node, f);
    node.stages = stages;
    node.predicate = predicate;
    node.group = group;
}

fn process_pairs(pairs: Vec<(Node, Node)>, cx: &mut Cx) -> R<Vec<(Node, Node)>> {
    pairs
        .into_iter()
        .map(|(key, value)| Ok((process(key, cx)?, process(value, cx)?)))
        .collect()
}

/// Resolves the names of built-in functions in the tree.
/// Every name the expression binds: `:=` targets, lambda parameters, `@` and `#` variables.
fn bound_names(node: &mut Node, bound: &mut std::collections::HashSet<String>) {
    match &node.kind {
        Kind::Bind(name, _) => {
            bound.insert(name.clone());
        }
        Kind::Lambda(def) => bound.extend(def.params.iter().cloned()),
        _ => {}
    }
    bound.extend(node.focus.iter().cloned());
    bound.extend(node.index.iter().cloned());
    bound.extend(node.ancestor_label.iter().cloned());
    for stage in &node.stages {
        if let Stage::Index(name) = stage {
            bound.insert(name.clone());
        }
    }
    visit_children(node, &mut |child| bound_names(child, bound));
}

fn resolve(node: &mut Node, bound: &std::collections::HashSet<String>) {
    if let Kind::Var(name, slot) = &mut node.kind {
        *slot = builtin(name);
        node.shadowable = bound.contains(name.as_str());
    }
    node.leaf = node.plain()
        && match &node.kind {
            Kind::Str(_) | Kind::Num(_) | Kind::Bool(_) | Kind::Null | Kind::Name(_) => true,
            Kind::Var(name, _) => !name.is_empty(),
            _ => false,
        };
    if let Kind::Object(pairs) = &node.kind {
        node.distinct_keys = pairs.iter().enumerate().all(|(index, (key, _))| {
            let Kind::Str(name) = &key.kind else {
                return false;
            };
            !pairs[..index]
                .iter()
                .any(|(other, _)| matches!(&other.kind, Kind::Str(other) if other == name))
        });
    }
    if let Kind::Block(items) = &node.kind {
        node.scoped = items.iter().any(captures_or_binds);
    }
    visit_children(node, &mut |child| resolve(child, bound));
    if let Kind::Lambda(def) = &mut node.kind
        && def.reusable_scope
    {
        let params = def.params.clone();
        mark_dynamic(&mut def.body, &params);
    }
}

/// Marks which nodes of a reusable lambda's body depend on the call (see `Node::dynamic`);
/// returns whether `node` does. Runs after `resolve`, which knows the built-ins.
fn mark_dynamic(node: &mut Node, params: &[String]) -> bool {
    let own = match &node.kind {
        Kind::Var(name, _) => params.contains(name),
        Kind::Call(proc, _) => match &proc.kind {
            Kind::Var(name, Some(_)) => {
                proc.shadowable || matches!(name.as_str(), "random" | "shuffle")
            }
            _ => true,
        },
        Kind::Apply(..) | Kind::Partial(..) => true,
        _ => false,
    };
    let mut children = false;
    visit_children(node, &mut |child| {
        children |= mark_dynamic(child, params);
    });
    node.dynamic = own || children;
    node.dynamic
}

/// Calls `f` on each direct child of `node`.
pub(crate) fn visit_children(node: &mut Node, f: &mut dyn FnMut(&mut Node)) {
    for stage in &mut node.stages {
        if let Stage::Filter(filter) = stage {
            f(filter);
        }
    }
    for predicate in &mut node.predicate {
        f(predicate);
    }
    if let Some(group) = &mut node.group {
        for (key, value) in &mut group.0 {
            f(key);
            f(value);
        }
    }
    match &mut node.kind {
        Kind::Path(items) | Kind::Array(items) | Kind::Block(items) => items.iter_mut().for_each(f),
        Kind::Binary(_, a, b) | Kind::Elvis(a, b) | Kind::Coalesce(a, b) | Kind::Apply(a, b) => {
            f(a);
            f(b);
        }
        Kind::Neg(a) | Kind::Bind(_, a) => f(a),
        Kind::Object(pairs) => {
            for (key, value) in pairs {
                f(key);
                f(value);
            }
        }
        Kind::Cond(a, b, c) | Kind::Transform(a, b, c) => {
            f(a);
            f(b);
            if let Some(c) = c {
                f(c);
            }
        }
        Kind::Call(proc, args) | Kind::Partial(proc, args) => {
            f(proc);
            args.iter_mut().for_each(f);
        }
        Kind::Lambda(def) => f(&mut def.body),
        Kind::Sort(terms) => terms.iter_mut().for_each(|term| f(&mut term.expr)),
        _ => {}
    }
}
