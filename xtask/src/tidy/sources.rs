//! Which Rust files the tidy rules read, and how they read them: the runtime sources (what ships
//! in the binary), a file's code with its tests removed, and the tokens of that code.
//!
//! A runtime source is a Rust file under `crates/<crate>/src/`, except in the `simulators` crate
//! and except test files there (`tests.rs`, anything under a `tests/` folder, and the files of
//! modules declared `#[cfg(test)] mod name;`). Items marked `#[cfg(test)]` inside a runtime
//! source are tests too: [`parse_code`] drops them. The runtime
//! texts add the other text files shipped with those crates: under `src/` (pages, scripts) and
//! `migrations/`.

use std::path::{Component, Path, PathBuf};

use anyhow::Context as _;
use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::ToTokens as _;
use syn::{ImplItem, Item};

/// Every `.rs` file under `dir`, skipping build output, sorted.
pub fn rust_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    files(dir, true)
}

/// Every file (or every `.rs` file) under `dir`, skipping build output, sorted.
fn files(dir: &Path, rust_only: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    collect(dir, rust_only, &mut out)?;
    out.sort();
    Ok(out)
}

fn collect(dir: &Path, rust_only: bool, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|name| name == "target" || name == "node_modules")
            {
                continue;
            }
            collect(&path, rust_only, out)?;
        } else if !rust_only || path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// One runtime source file.
#[derive(Debug)]
pub struct Source {
    /// Path from the workspace root, with `/` separators (`crates/server/src/lib.rs`).
    pub path: String,
    /// The crate's folder name (`server`).
    pub crate_name: String,
    /// Path inside the crate's `src/` (`routes/unified.rs`) or `migrations/`.
    pub in_src: String,
    pub text: String,
}

/// The runtime sources of the workspace at `root`, sorted by path.
pub fn runtime_sources(root: &Path) -> anyhow::Result<Vec<Source>> {
    runtime_files(root, true)
}

/// The runtime sources and the other runtime texts, sorted by path.
pub fn runtime_texts(root: &Path) -> anyhow::Result<Vec<Source>> {
    runtime_files(root, false)
}

fn runtime_files(root: &Path, rust_only: bool) -> anyhow::Result<Vec<Source>> {
    let crates = root.join("crates");
    let mut sources = Vec::new();
    for file in files(&crates, rust_only)? {
        let relative = file.strip_prefix(root).unwrap_or(&file);
        let parts: Vec<String> = relative
            .components()
            .filter_map(|part| match part {
                Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        // crates/<crate>/src/<…>
        let [_crates, crate_name, src, rest @ ..] = parts.as_slice() else {
            continue;
        };
        let shipped = src == "src" || (!rust_only && src == "migrations");
        if !shipped || crate_name == "simulators" || rest.is_empty() {
            continue;
        }
        let is_test = rest.last().is_some_and(|name| name == "tests.rs")
            || rest[..rest.len() - 1].iter().any(|dir| dir == "tests");
        if is_test {
            continue;
        }
        let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        // Images and other binary files say nothing a scan could read.
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        sources.push(Source {
            path: parts.join("/"),
            crate_name: crate_name.clone(),
            in_src: rest.join("/"),
            text,
        });
    }
    let tests = test_module_files(&sources);
    sources.retain(|source| {
        !tests.iter().any(|test| {
            source.path == format!("{test}.rs") || source.path.starts_with(&format!("{test}/"))
        })
    });
    Ok(sources)
}

/// The module paths (`crates/x/src/a/b`, standing for `b.rs` and `b/`) that Rust sources declare
/// as test modules: `#[cfg(test)] mod b;` at the top of a file.
fn test_module_files(sources: &[Source]) -> Vec<String> {
    let mut tests = Vec::new();
    for source in sources.iter().filter(|source| source.path.ends_with(".rs")) {
        let Ok(file) = syn::parse_file(&source.text) else {
            continue;
        };
        let stem = source.path.trim_end_matches(".rs");
        // `lib.rs`, `main.rs` and `mod.rs` declare modules beside them; `a.rs` under `a/`.
        let dir = match stem.rsplit_once('/') {
            Some((dir, "lib" | "main" | "mod")) => dir.to_owned(),
            _ => stem.to_owned(),
        };
        for item in &file.items {
            if let Item::Mod(module) = item
                && module.content.is_none()
                && is_cfg_test(&module.attrs)
            {
                tests.push(format!("{dir}/{}", module.ident));
            }
        }
    }
    tests
}

/// The file's syntax tree without the items marked `#[cfg(test)]` (at any depth of inline
/// modules and impl blocks).
pub fn parse_code(source: &Source) -> anyhow::Result<syn::File> {
    let mut file = syn::parse_file(&source.text)
        .with_context(|| format!("{}: does not parse as Rust", source.path))?;
    strip_tests(&mut file.items);
    Ok(file)
}

fn strip_tests(items: &mut Vec<Item>) {
    items.retain(|item| !is_cfg_test(item_attrs(item)));
    for item in items {
        match item {
            Item::Mod(module) => {
                if let Some((_, inner)) = &mut module.content {
                    strip_tests(inner);
                }
            }
            Item::Impl(block) => block
                .items
                .retain(|inner| !is_cfg_test(impl_item_attrs(inner))),
            _ => {}
        }
    }
}

fn item_attrs(item: &Item) -> &[syn::Attribute] {
    match item {
        Item::Const(item) => &item.attrs,
        Item::Enum(item) => &item.attrs,
        Item::ExternCrate(item) => &item.attrs,
        Item::Fn(item) => &item.attrs,
        Item::ForeignMod(item) => &item.attrs,
        Item::Impl(item) => &item.attrs,
        Item::Macro(item) => &item.attrs,
        Item::Mod(item) => &item.attrs,
        Item::Static(item) => &item.attrs,
        Item::Struct(item) => &item.attrs,
        Item::Trait(item) => &item.attrs,
        Item::TraitAlias(item) => &item.attrs,
        Item::Type(item) => &item.attrs,
        Item::Union(item) => &item.attrs,
        Item::Use(item) => &item.attrs,
        _ => &[],
    }
}

fn impl_item_attrs(item: &ImplItem) -> &[syn::Attribute] {
    match item {
        ImplItem::Const(item) => &item.attrs,
        ImplItem::Fn(item) => &item.attrs,
        ImplItem::Type(item) => &item.attrs,
        ImplItem::Macro(item) => &item.attrs,
        _ => &[],
    }
}

/// `#[cfg(test)]`, also inside `all(…)`; never `not(test)`.
fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        let syn::Meta::List(list) = &attr.meta else {
            return false;
        };
        if !list.path.is_ident("cfg") {
            return false;
        }
        let words = list.tokens.to_string();
        let mut words = words
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|word| !word.is_empty());
        let words: Vec<&str> = words.by_ref().collect();
        words.contains(&"test") && !words.contains(&"not") && !words.contains(&"any")
    })
}

/// A word of code: an identifier or a literal as written, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub line: usize,
    pub text: String,
    pub is_literal: bool,
}

/// The identifiers and literals of `file`, in order, leaving out comments and doc comments
/// (`///` and `//!` become `#[doc = "…"]` attributes, which are skipped whole).
pub fn code_words(file: &syn::File) -> Vec<Word> {
    let mut out = Vec::new();
    walk(file.to_token_stream(), &mut out);
    out
}

fn walk(stream: TokenStream, out: &mut Vec<Word>) {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    let mut idx = 0;
    while idx < tokens.len() {
        if let Some(skip) = doc_attribute_len(&tokens[idx..]) {
            idx += skip;
            continue;
        }
        match &tokens[idx] {
            TokenTree::Group(group) => walk(group.stream(), out),
            TokenTree::Ident(ident) => out.push(Word {
                line: ident.span().start().line,
                text: ident.to_string(),
                is_literal: false,
            }),
            TokenTree::Literal(literal) => out.push(Word {
                line: literal.span().start().line,
                text: literal.to_string(),
                is_literal: true,
            }),
            TokenTree::Punct(_) => {}
        }
        idx += 1;
    }
}

/// How many tokens a `#[doc …]` or `#![doc …]` attribute starting here spans.
fn doc_attribute_len(tokens: &[TokenTree]) -> Option<usize> {
    let TokenTree::Punct(hash) = tokens.first()? else {
        return None;
    };
    if hash.as_char() != '#' {
        return None;
    }
    let (bang, group) = match tokens.get(1)? {
        TokenTree::Punct(bang) if bang.as_char() == '!' => (1, tokens.get(2)?),
        other => (0, other),
    };
    let TokenTree::Group(group) = group else {
        return None;
    };
    let first = group.stream().into_iter().next();
    let is_doc = group.delimiter() == Delimiter::Bracket
        && matches!(first, Some(TokenTree::Ident(ident)) if ident == "doc");
    is_doc.then_some(2 + bang)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source {
        Source {
            path: "crates/x/src/lib.rs".into(),
            crate_name: "x".into(),
            in_src: "lib.rs".into(),
            text: text.into(),
        }
    }

    #[test]
    fn code_words_leave_out_comments_docs_and_tests() {
        let file = parse_code(&source(
            "//! About alpha.\n/// Beta here.\nfn gamma() { let delta = \"epsilon\"; } // zeta\n\
             #[cfg(test)]\nmod tests { fn eta() {} }\nstruct S;\nimpl S {\n#[cfg(test)]\nfn theta() {}\n}\n",
        ))
        .unwrap();
        let words: Vec<String> = code_words(&file).into_iter().map(|w| w.text).collect();
        assert_eq!(
            words,
            [
                "fn",
                "gamma",
                "let",
                "delta",
                "\"epsilon\"",
                "struct",
                "S",
                "impl",
                "S"
            ]
        );
    }

    #[test]
    fn modules_declared_for_tests_are_no_runtime_sources() {
        let dir = crate::tidy::testing::tree();
        let root = dir.path();
        let write = |path: &str, text: &str| crate::tidy::testing::write(root, path, text);
        write(
            "crates/engine/src/lib.rs",
            "//! Engine.\npub mod store;\n#[cfg(test)]\nmod support;\n",
        );
        write(
            "crates/engine/src/store.rs",
            "//! Store.\n#[cfg(test)]\nmod checks;\n",
        );
        write("crates/engine/src/store/checks.rs", "//! Checks.\n");
        write(
            "crates/engine/src/support.rs",
            "//! Support.\nmod deeper;\n",
        );
        write("crates/engine/src/support/deeper.rs", "//! Deeper.\n");
        let paths: Vec<String> = runtime_sources(root)
            .unwrap()
            .into_iter()
            .map(|source| source.path)
            .collect();
        assert_eq!(
            paths,
            ["crates/engine/src/lib.rs", "crates/engine/src/store.rs"]
        );
    }

    #[test]
    fn code_words_carry_their_line() {
        let file = parse_code(&source("fn a() {}\n\nconst B: &str = \"c\";\n")).unwrap();
        let literal = code_words(&file)
            .into_iter()
            .find(|word| word.is_literal)
            .unwrap();
        assert_eq!(literal.line, 3);
    }
}
