//! No connector field is parsed but never used: every field of the connector file's types
//! (`crates/connector/src/file.rs`, the serde types marked `deny_unknown_fields`) is read by the
//! runtime somewhere outside its declaration. A field the runtime never reads is a promise to
//! connector authors that nothing keeps.
//!
//! Without type information the check is a heuristic, built to err towards reporting:
//!
//! - A *read* is a field access `value.field` (not a method call `value.field(…)`), a struct
//!   pattern naming the field (`Type { field, .. }`, `Enum::Variant { field: x }`) with a
//!   binding other than `_` or `_name`, or a lookup by name in the raw document
//!   (`document.get("schema_version")`). Struct literals build values and do not count. Macro
//!   bodies are read as expressions when they parse so, else token by token.
//! - Reads are searched in the code of the runtime sources (see [`super::sources`]) of the
//!   crates that can see connector values (`connector` and the crates depending on it, directly
//!   or not, by their `Cargo.toml`), including `file.rs` outside the type declarations (an
//!   accessor such as `Bucket::refill` counts).
//! - A name several connector structs declare (`cost` on `Bucket` and `Method`) is credited
//!   only to the structs the receiver names, when it names any: its last identifier
//!   (`bucket.cost`, `limits.buckets[0].cost`, `size.default` for `PageSize`, `self.cost` in
//!   `impl Bucket`) ends like the struct's snake-case name at a word boundary, or is (the
//!   singular of) a field that holds the struct. A receiver naming none of them (`op.routes`)
//!   credits them all. Patterns name their type and are always exact. Any read of a name is
//!   credited to the connector structs declaring it, so a non-connector type with a field of
//!   the same name can hide an unused field: a pass is no proof, a failure is a lead.
//! - A read inside a function nothing in the runtime mentions (by name, or in a string such as
//!   `#[serde(default = "…")]`) does not count, nor does a read inside a call whose `Result` is
//!   checked and dropped (`compiler.opt_expr(…, limits.parse_expr.as_ref())?;`): validating a
//!   value is not using it. Trait methods count as mentioned.
//!
//! Fields the runtime does not use yet are listed in [`KNOWN`], a list that may only shrink.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context as _;
use proc_macro2::{TokenStream, TokenTree};
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Expr, Fields, Item, Member, Pat, Token};

use super::known::{self, Counts};
use super::sources::{Source, code_words, parse_code};

/// The connector file types, from the workspace root.
pub const FILE_TYPES: &str = "crates/connector/src/file.rs";

/// The known violations, from the workspace root.
pub const KNOWN: &str = "xtask/tidy/unused-connector-fields-known.txt";

/// The fields of the connector file's types.
#[derive(Debug, Default)]
struct Declarations {
    /// Struct name → its field names.
    structs: BTreeMap<String, BTreeSet<String>>,
    /// Enum name → variant name → its field names.
    enums: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// Type name → names of the fields holding it (in an `Option`, `Vec`, map, …).
    holders: BTreeMap<String, BTreeSet<String>>,
}

impl Declarations {
    fn read(file: &syn::File) -> Self {
        let mut declarations = Declarations::default();
        let mut fields: Vec<&syn::Field> = Vec::new();
        for item in &file.items {
            match item {
                Item::Struct(item) if denies_unknown_fields(&item.attrs) => {
                    if let Fields::Named(named) = &item.fields {
                        declarations.structs.insert(
                            item.ident.to_string(),
                            named.named.iter().filter_map(field_name).collect(),
                        );
                        fields.extend(&named.named);
                    }
                }
                Item::Enum(item) if denies_unknown_fields(&item.attrs) => {
                    let variants = declarations
                        .enums
                        .entry(item.ident.to_string())
                        .or_default();
                    for variant in &item.variants {
                        if let Fields::Named(named) = &variant.fields {
                            variants.insert(
                                variant.ident.to_string(),
                                named.named.iter().filter_map(field_name).collect(),
                            );
                            fields.extend(&named.named);
                        }
                    }
                }
                _ => {}
            }
        }
        let types: BTreeSet<String> = declarations.structs.keys().cloned().collect();
        for field in fields {
            let Some(name) = field_name(field) else {
                continue;
            };
            for held in mentioned_types(&field.ty, &types) {
                declarations
                    .holders
                    .entry(held)
                    .or_default()
                    .insert(name.clone());
            }
        }
        declarations
    }

    /// Every field, as reported (`Struct.field`, `Enum::Variant.field`).
    fn all(&self) -> BTreeSet<String> {
        let mut all = BTreeSet::new();
        for (owner, fields) in &self.structs {
            all.extend(fields.iter().map(|field| format!("{owner}.{field}")));
        }
        for (owner, variants) in &self.enums {
            for (variant, fields) in variants {
                all.extend(
                    fields
                        .iter()
                        .map(|field| format!("{owner}::{variant}.{field}")),
                );
            }
        }
        all
    }

    /// The structs declaring `field`.
    fn structs_with(&self, field: &str) -> Vec<&str> {
        self.structs
            .iter()
            .filter(|(_, fields)| fields.contains(field))
            .map(|(owner, _)| owner.as_str())
            .collect()
    }

    /// Whether a receiver whose last identifier is `hint` names `owner`: the hint and the
    /// owner's snake-case name end alike at a word boundary (`bucket`, `size` for `PageSize`,
    /// `first_bucket`), or the hint is (the singular of) a field holding the owner.
    fn hint_names(&self, hint: &str, owner: &str) -> bool {
        let snake = snake_case(owner);
        let hint = hint.to_lowercase();
        let holders = self.holders.get(owner);
        hint == snake
            || snake.ends_with(&format!("_{hint}"))
            || hint.ends_with(&format!("_{snake}"))
            || holders.is_some_and(|holders| {
                holders.contains(&hint) || holders.contains(&format!("{hint}s"))
            })
    }
}

fn field_name(field: &syn::Field) -> Option<String> {
    field.ident.as_ref().map(ToString::to_string)
}

fn denies_unknown_fields(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("serde")
            && matches!(&attr.meta, syn::Meta::List(list)
                if list.tokens.to_string().contains("deny_unknown_fields"))
    })
}

/// The names in `types` that `ty` mentions (`Option<Vec<Bucket>>` mentions `Bucket`).
fn mentioned_types(ty: &syn::Type, types: &BTreeSet<String>) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack: Vec<TokenTree> = quote::ToTokens::to_token_stream(ty).into_iter().collect();
    while let Some(token) = stack.pop() {
        match token {
            TokenTree::Ident(ident) if types.contains(&ident.to_string()) => {
                found.push(ident.to_string());
            }
            TokenTree::Group(group) => stack.extend(group.stream()),
            _ => {}
        }
    }
    found
}

fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (idx, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if idx > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// One read found in the code.
#[derive(Debug)]
struct Read {
    /// Fields it may read (`Struct.field`); empty when the receiver names none.
    fields: Vec<String>,
    /// The enclosing function, unless it is a trait method (always mentioned).
    function: Option<String>,
    /// Inside a `call(…)?;` statement.
    checked_only: bool,
}

struct Reads<'a> {
    declarations: &'a Declarations,
    /// The type of the enclosing `impl` block, for `self`.
    self_type: Option<String>,
    in_trait_impl: bool,
    function: Vec<Option<String>>,
    checked_only: usize,
    out: Vec<Read>,
}

impl Reads<'_> {
    fn push(&mut self, fields: Vec<String>) {
        self.out.push(Read {
            fields,
            function: self.function.last().cloned().flatten(),
            checked_only: self.checked_only > 0,
        });
    }

    /// A field access `<receiver whose last identifier is hint>.name`.
    fn access(&mut self, name: &str, hint: Option<String>) {
        let owners = self.declarations.structs_with(name);
        if owners.is_empty() {
            return;
        }
        let hint = match hint.as_deref() {
            Some("self" | "Self") => self.self_type.clone(),
            _ => hint,
        };
        // Several structs declare the name: the receiver decides, when it names any of them.
        let named: Vec<&str> = owners
            .iter()
            .copied()
            .filter(|owner| {
                hint.as_deref()
                    .is_some_and(|hint| self.declarations.hint_names(hint, owner))
            })
            .collect();
        let fields = if named.is_empty() { owners } else { named };
        let fields = fields
            .into_iter()
            .map(|owner| format!("{owner}.{name}"))
            .collect();
        self.push(fields);
    }

    /// Field accesses among the tokens of a macro that is no list of expressions.
    fn tokens(&mut self, stream: TokenStream) {
        let tokens: Vec<TokenTree> = stream.into_iter().collect();
        for (idx, token) in tokens.iter().enumerate() {
            match token {
                TokenTree::Group(group) => self.tokens(group.stream()),
                TokenTree::Punct(dot) if dot.as_char() == '.' => {
                    let Some(TokenTree::Ident(name)) = tokens.get(idx + 1) else {
                        continue;
                    };
                    let called = matches!(tokens.get(idx + 2),
                        Some(TokenTree::Group(group)) if group.delimiter() == proc_macro2::Delimiter::Parenthesis);
                    let after_dot = idx > 0
                        && matches!(&tokens[idx - 1], TokenTree::Punct(p) if p.as_char() == '.');
                    if called || after_dot {
                        continue;
                    }
                    let hint = match idx.checked_sub(1).map(|prev| &tokens[prev]) {
                        Some(TokenTree::Ident(prev)) => Some(prev.to_string()),
                        _ => None,
                    };
                    self.access(&name.to_string(), hint);
                }
                _ => {}
            }
        }
    }
}

/// The last identifier of a receiver: `limits.buckets[0]` → `buckets`, `x.as_ref()?` → `x`.
fn hint_of(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Path(path) => path.path.segments.last().map(|seg| seg.ident.to_string()),
        Expr::Field(field) => match &field.member {
            Member::Named(ident) => Some(ident.to_string()),
            Member::Unnamed(_) => hint_of(&field.base),
        },
        Expr::MethodCall(call) => hint_of(&call.receiver),
        Expr::Try(inner) => hint_of(&inner.expr),
        Expr::Reference(inner) => hint_of(&inner.expr),
        Expr::Paren(inner) => hint_of(&inner.expr),
        Expr::Unary(inner) => hint_of(&inner.expr),
        Expr::Index(inner) => hint_of(&inner.expr),
        _ => None,
    }
}

impl<'ast> Visit<'ast> for Reads<'_> {
    fn visit_item_impl(&mut self, node: &'ast syn::ItemImpl) {
        let saved = (self.self_type.take(), self.in_trait_impl);
        if let syn::Type::Path(path) = &*node.self_ty {
            self.self_type = path.path.segments.last().map(|seg| seg.ident.to_string());
        }
        self.in_trait_impl = node.trait_.is_some();
        visit::visit_item_impl(self, node);
        (self.self_type, self.in_trait_impl) = saved;
    }

    fn visit_item_fn(&mut self, node: &'ast syn::ItemFn) {
        self.function.push(Some(node.sig.ident.to_string()));
        visit::visit_item_fn(self, node);
        self.function.pop();
    }

    fn visit_impl_item_fn(&mut self, node: &'ast syn::ImplItemFn) {
        let name = (!self.in_trait_impl).then(|| node.sig.ident.to_string());
        self.function.push(name);
        visit::visit_impl_item_fn(self, node);
        self.function.pop();
    }

    fn visit_trait_item_fn(&mut self, node: &'ast syn::TraitItemFn) {
        self.function.push(None);
        visit::visit_trait_item_fn(self, node);
        self.function.pop();
    }

    fn visit_stmt(&mut self, node: &'ast syn::Stmt) {
        let checked = matches!(node, syn::Stmt::Expr(Expr::Try(inner), Some(_))
            if matches!(&*inner.expr, Expr::Call(_) | Expr::MethodCall(_)));
        self.checked_only += usize::from(checked);
        visit::visit_stmt(self, node);
        self.checked_only -= usize::from(checked);
    }

    fn visit_expr_method_call(&mut self, node: &'ast syn::ExprMethodCall) {
        // A lookup by name in the raw document: `document.get("schema_version")`.
        if node.method == "get"
            && let Some(Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(name),
                ..
            })) = node.args.first()
        {
            let name = name.value();
            let fields: Vec<String> = self
                .declarations
                .all()
                .into_iter()
                .filter(|field| field.rsplit('.').next() == Some(name.as_str()))
                .collect();
            if !fields.is_empty() {
                self.push(fields);
            }
        }
        visit::visit_expr_method_call(self, node);
    }

    fn visit_expr_field(&mut self, node: &'ast syn::ExprField) {
        if let Member::Named(name) = &node.member {
            self.access(&name.to_string(), hint_of(&node.base));
        }
        visit::visit_expr_field(self, node);
    }

    fn visit_pat_struct(&mut self, node: &'ast syn::PatStruct) {
        let segments: Vec<String> = node
            .path
            .segments
            .iter()
            .map(|seg| seg.ident.to_string())
            .collect();
        let last = segments.last().cloned().unwrap_or_default();
        let parent = segments
            .len()
            .checked_sub(2)
            .map(|idx| segments[idx].clone());
        let parent = match parent.as_deref() {
            Some("Self") => self.self_type.clone(),
            _ => parent,
        };
        let declarations = self.declarations;
        let owner = if declarations.structs.contains_key(&last) {
            Some(last)
        } else {
            let enums: Vec<&String> = declarations
                .enums
                .iter()
                .filter(|(name, variants)| {
                    variants.contains_key(&last)
                        && parent.as_ref().is_none_or(|parent| parent == *name)
                })
                .map(|(name, _)| name)
                .collect();
            match enums.as_slice() {
                [one] => Some(format!("{one}::{last}")),
                _ => None,
            }
        };
        if let Some(owner) = owner {
            for field in &node.fields {
                let Member::Named(name) = &field.member else {
                    continue;
                };
                let ignored = match &*field.pat {
                    Pat::Wild(_) => true,
                    Pat::Ident(binding) => binding.ident.to_string().starts_with('_'),
                    _ => false,
                };
                if !ignored {
                    self.push(vec![format!("{owner}.{name}")]);
                }
            }
        }
        visit::visit_pat_struct(self, node);
    }

    fn visit_macro(&mut self, node: &'ast syn::Macro) {
        match node.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
            Ok(exprs) => {
                for expr in &exprs {
                    self.visit_expr(expr);
                }
            }
            Err(_) => self.tokens(node.tokens.clone()),
        }
    }
}

/// The folder names of the crates under `root/crates` that are `connector` or depend on it,
/// directly or through other workspace crates (read from each `Cargo.toml`'s `[dependencies]`).
fn connector_crates(root: &Path) -> anyhow::Result<BTreeSet<String>> {
    // Package name → (folder, names of its dependencies).
    let mut packages: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    let crates = root.join("crates");
    for entry in
        std::fs::read_dir(&crates).with_context(|| format!("listing {}", crates.display()))?
    {
        let dir = entry?.path();
        let manifest = dir.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let folder = dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut name = folder.clone();
        let mut section = String::new();
        let mut dependencies = BTreeSet::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.to_owned();
                continue;
            }
            let key: String = line
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if key.is_empty() {
                continue;
            }
            if section == "[package]" && key == "name" {
                name = line
                    .split('"')
                    .nth(1)
                    .map_or_else(|| folder.clone(), str::to_owned);
            } else if section == "[dependencies]" {
                dependencies.insert(key);
            }
        }
        packages.insert(name, (folder, dependencies));
    }
    let mut reaching: BTreeSet<String> = BTreeSet::from(["connector".to_owned()]);
    loop {
        let before = reaching.len();
        for (name, (_, dependencies)) in &packages {
            if dependencies.iter().any(|dep| reaching.contains(dep)) {
                reaching.insert(name.clone());
            }
        }
        if reaching.len() == before {
            break;
        }
    }
    Ok(packages
        .into_iter()
        .filter(|(name, _)| reaching.contains(name))
        .map(|(_, (folder, _))| folder)
        .collect())
}

/// Fields of the connector file no runtime code reads.
fn unused(root: &Path, sources: &[Source]) -> anyhow::Result<BTreeSet<String>> {
    let readers = connector_crates(root)?;
    let declaring = sources
        .iter()
        .find(|source| source.path == FILE_TYPES)
        .with_context(|| format!("{FILE_TYPES} is no runtime source"))?;
    let declarations = Declarations::read(&parse_code(declaring)?);
    let mut reads = Vec::new();
    // Function name → how often runtime code mentions it, and how often it is defined.
    let mut mentions: BTreeMap<String, usize> = BTreeMap::new();
    let mut definitions: BTreeMap<String, usize> = BTreeMap::new();
    for source in sources {
        let mut file = parse_code(source)?;
        for word in code_words(&file) {
            let text = if word.is_literal {
                let inner = word.text.trim_matches('"');
                inner.rsplit("::").next().unwrap_or(inner).to_owned()
            } else {
                word.text
            };
            *mentions.entry(text).or_default() += 1;
        }
        Definitions(&mut definitions).visit_file(&file);
        if !readers.contains(&source.crate_name) {
            continue;
        }
        if source.path == FILE_TYPES {
            // The declarations themselves are not reads.
            file.items
                .retain(|item| !matches!(item, Item::Struct(_) | Item::Enum(_)));
        }
        let mut visitor = Reads {
            declarations: &declarations,
            self_type: None,
            in_trait_impl: false,
            function: Vec::new(),
            checked_only: 0,
            out: Vec::new(),
        };
        visitor.visit_file(&file);
        reads.extend(visitor.out);
    }
    let live = |function: &Option<String>| {
        function.as_ref().is_none_or(|name| {
            name == "main"
                || mentions.get(name).copied().unwrap_or(0)
                    > definitions.get(name).copied().unwrap_or(0)
        })
    };
    let mut unused = declarations.all();
    for read in reads {
        if !read.checked_only && live(&read.function) {
            for field in &read.fields {
                unused.remove(field);
            }
        }
    }
    Ok(unused)
}

/// Counts the definitions of each function name.
struct Definitions<'a>(&'a mut BTreeMap<String, usize>);

impl<'ast> Visit<'ast> for Definitions<'_> {
    fn visit_item_fn(&mut self, node: &'ast syn::ItemFn) {
        *self.0.entry(node.sig.ident.to_string()).or_default() += 1;
        visit::visit_item_fn(self, node);
    }

    fn visit_impl_item_fn(&mut self, node: &'ast syn::ImplItemFn) {
        *self.0.entry(node.sig.ident.to_string()).or_default() += 1;
        visit::visit_impl_item_fn(self, node);
    }
}

/// The unused fields, as a known-list count.
pub fn counts(root: &Path, sources: &[Source]) -> anyhow::Result<Counts> {
    Ok(unused(root, sources)?
        .into_iter()
        .map(|field| (field, 1))
        .collect())
}

/// Differences between the unused fields and the known list.
pub fn problems(root: &Path, sources: &[Source]) -> anyhow::Result<Vec<String>> {
    let found = counts(root, sources)?;
    let known = known::read(&root.join(KNOWN))?;
    Ok(known::compare(
        &found,
        &known,
        KNOWN,
        "a connector file field the runtime never reads; use it or remove it from the format",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tidy::sources::runtime_sources;
    use crate::tidy::testing::{tree, write};

    const FILE: &str = r#"//! File types.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub buckets: Vec<Bucket>,
    pub throttled_when: Option<String>,
    pub cost: u32,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub cost: u32,
    #[serde(default = "one")]
    pub capacity: u32,
    pub refill: Option<u32>,
}
#[derive(Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum Paging {
    Cursor { token_expr: String, page_size: u64 },
    Offset { page_size: u64 },
}
impl Bucket {
    pub fn refill(&self) -> u32 { self.refill.unwrap_or(self.capacity) }
}
fn one() -> u32 { 1 }
"#;

    /// The synthetic tree with the file types in `connector` and `engine` depending on it
    /// through `middle`.
    fn connector_tree() -> tempfile::TempDir {
        let dir = tree();
        let root = dir.path();
        write(root, FILE_TYPES, FILE);
        write(
            root,
            "crates/connector/Cargo.toml",
            "[package]\nname = \"connector\"\n",
        );
        write(
            root,
            "crates/middle/Cargo.toml",
            "[package]\nname = \"middle\"\n[dependencies]\nconnector.workspace = true\n",
        );
        write(
            root,
            "crates/engine/Cargo.toml",
            "[package]\nname = \"engine\"\n[dependencies]\nmiddle = { path = \"../middle\" }\n",
        );
        dir
    }

    fn unused_in(engine: &str) -> Vec<String> {
        let dir = connector_tree();
        let root = dir.path();
        write(root, "crates/engine/src/lib.rs", engine);
        // A crate that cannot see connector values reads nothing of theirs.
        write(
            root,
            "crates/other/src/lib.rs",
            "//! Other.\nfn main() { let _ = take.cost + take.throttled_when; }\n",
        );
        write(
            root,
            "crates/other/Cargo.toml",
            "[package]\nname = \"other\"\n",
        );
        unused(root, &runtime_sources(root).unwrap())
            .unwrap()
            .into_iter()
            .collect()
    }

    #[test]
    fn a_field_nothing_reads_is_reported() {
        let engine = r#"//! Engine.
fn main() { run(&LIMITS, &PAGING); }
fn run(limits: &Limits, paging: &Paging) -> u64 {
    let total: u32 = limits.buckets.iter().map(|bucket| bucket.cost).sum();
    let _ = limits.buckets[0].refill();
    compiler.expr("throttled_when", limits.throttled_when.as_ref())?;
    match paging {
        Paging::Cursor { token_expr: _, page_size } => *page_size + u64::from(total),
        Paging::Offset { page_size } => *page_size,
    }
}
"#;
        // `Limits.cost` is never read (`bucket.cost` is `Bucket`'s), `throttled_when` is only
        // checked, `token_expr` is bound to `_`; `Bucket.refill` is read by the accessor.
        assert_eq!(
            unused_in(engine),
            [
                "Limits.cost",
                "Limits.throttled_when",
                "Paging::Cursor.token_expr"
            ]
        );
    }

    #[test]
    fn reads_in_macros_count_and_reads_in_unmentioned_functions_do_not() {
        let engine = r#"//! Engine.
fn main() { run(&LIMITS, &PAGING); }
fn run(limits: &Limits, paging: &Paging) {
    tracing::info!(cost = %limits.cost, "starting");
    let _ = format!("{}", limits.throttled_when.is_some());
    if let Paging::Cursor { token_expr, page_size } | Paging::Offset { page_size } = paging {}
    let _ = buckets(limits);
}
fn buckets(limits: &Limits) -> u32 { limits.buckets.len() as u32 }
fn forgotten(bucket: &Bucket) -> u32 { bucket.cost }
"#;
        assert_eq!(unused_in(engine), ["Bucket.cost"]);
    }

    #[test]
    fn the_known_list_holds_exactly_the_unused_fields() {
        let dir = connector_tree();
        let root = dir.path();
        write(root, "crates/engine/src/lib.rs", "//! Engine.\n");
        let found = problems(root, &runtime_sources(root).unwrap()).unwrap();
        assert_eq!(found.len(), 7, "{found:#?}");
        write(
            root,
            KNOWN,
            "Bucket.cost\nBucket.capacity\nBucket.refill\nLimits.buckets\nLimits.cost\n\
             Limits.throttled_when\nPaging::Cursor.token_expr\nPaging::Cursor.page_size\n\
             Paging::Offset.page_size\n",
        );
        let found = problems(root, &runtime_sources(root).unwrap()).unwrap();
        assert_eq!(found.len(), 2, "{found:#?}");
    }
}
