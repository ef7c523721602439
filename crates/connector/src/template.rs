//! `{{ … }}` string templates for URLs, paths, headers and static query values.
//!
//! A template is literal text with holes; a hole is a dotted path into the template scope
//! (`account.instance_url`, `credentials.api_key`, `vars.api_version`, `id`) followed by
//! optional filters: `default('x')`, `lookup('table')`, `urlencode`, `before('-')` and
//! `after('-')` (the text before or after the first separator, for ids that join two vendor
//! keys). Templates have no
//! conditionals: anything conditional is JSONata. Parsed once at load time.

use std::fmt::Write as _;

use indexmap::IndexMap;
use serde_json::Value;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Hole {
        path: Vec<String>,
        filters: Vec<Filter>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Default(String),
    Lookup(String),
    UrlEncode,
    /// The text before the first occurrence of the separator (missing when there is none).
    Before(String),
    /// The text after the first occurrence of the separator (missing when there is none).
    After(String),
}

/// How substituted values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Values are inserted as they are (headers, base URLs, query values encoded later).
    None,
    /// Values are percent-encoded as one path segment, so an id can never change the path.
    PathSegment,
}

/// A template that failed to parse or render.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed `{{{{` in template `{0}`")]
    Unclosed(String),
    #[error("empty hole in template `{0}`")]
    EmptyHole(String),
    #[error("unknown template filter `{0}`")]
    UnknownFilter(String),
    #[error("template value `{0}` is not set")]
    Missing(String),
    #[error("template value `{0}` is not a string, number or boolean")]
    NotScalar(String),
    #[error("lookup table `{0}` does not exist")]
    UnknownTable(String),
    #[error("lookup table `{table}` has no entry `{key}`")]
    MissingEntry { table: String, key: String },
    /// A path segment's value is empty, `.` or `..`: inserted, it would name another resource
    /// (`/contacts/..` is the collection's parent for every URL parser).
    #[error("`{0}` cannot be empty, `.` or `..`")]
    UnsafeSegment(String),
}

impl Template {
    /// Parses a template.
    ///
    /// # Errors
    /// Fails on an unclosed or empty hole or an unknown filter.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| TemplateError::Unclosed(source.to_owned()))?;
            parts.push(parse_hole(source, &after[..end])?);
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Template {
            source: source.to_owned(),
            parts,
        })
    }

    /// The template's source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Top-level names the template reads (`account`, `credentials`, …).
    pub fn roots(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Hole { path, .. } => path.first().map(String::as_str),
            Part::Literal(_) => None,
        })
    }

    /// Renders the template against `scope` (an object of roots).
    ///
    /// # Errors
    /// Fails when a value is missing (and has no default) or is not a scalar, or a lookup misses.
    pub fn render(
        &self,
        scope: &Value,
        lookups: &IndexMap<String, IndexMap<String, String>>,
        escape: Escape,
    ) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(self.source.len());
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Hole { path, filters } => {
                    let value = render_hole(path, filters, scope, lookups)?;
                    match escape {
                        Escape::None => out.push_str(&value),
                        Escape::PathSegment => {
                            if matches!(value.as_str(), "" | "." | "..") {
                                return Err(TemplateError::UnsafeSegment(path.join(".")));
                            }
                            out.push_str(&encode_component(&value));
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

fn parse_hole(source: &str, inner: &str) -> Result<Part, TemplateError> {
    let mut pieces = inner.split('|').map(str::trim);
    let path_text = pieces.next().unwrap_or_default();
    if path_text.is_empty() {
        return Err(TemplateError::EmptyHole(source.to_owned()));
    }
    let path = path_text.split('.').map(str::to_owned).collect();
    let filters = pieces.map(parse_filter).collect::<Result<_, _>>()?;
    Ok(Part::Hole { path, filters })
}

fn parse_filter(text: &str) -> Result<Filter, TemplateError> {
    if text == "urlencode" {
        return Ok(Filter::UrlEncode);
    }
    let argument = |name: &str| -> Option<String> {
        let rest = text.strip_prefix(name)?.trim().strip_prefix('(')?;
        let rest = rest.strip_suffix(')')?.trim();
        let unquoted = rest
            .strip_prefix('\'')
            .and_then(|r| r.strip_suffix('\''))
            .or_else(|| rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')))?;
        Some(unquoted.to_owned())
    };
    if let Some(value) = argument("default") {
        return Ok(Filter::Default(value));
    }
    if let Some(table) = argument("lookup") {
        return Ok(Filter::Lookup(table));
    }
    if let Some(separator) = argument("before").filter(|s| !s.is_empty()) {
        return Ok(Filter::Before(separator));
    }
    if let Some(separator) = argument("after").filter(|s| !s.is_empty()) {
        return Ok(Filter::After(separator));
    }
    Err(TemplateError::UnknownFilter(text.to_owned()))
}

fn render_hole(
    path: &[String],
    filters: &[Filter],
    scope: &Value,
    lookups: &IndexMap<String, IndexMap<String, String>>,
) -> Result<String, TemplateError> {
    let dotted = path.join(".");
    let mut current = path
        .iter()
        .try_fold(scope, |value, key| value.get(key))
        .filter(|value| !value.is_null())
        .map(|value| scalar_text(value, &dotted))
        .transpose()?
        .filter(|text| !text.is_empty());
    for filter in filters {
        current = match filter {
            Filter::Default(fallback) => current.or_else(|| Some(fallback.clone())),
            Filter::UrlEncode => current.map(|text| encode_component(&text)),
            Filter::Before(separator) => current.and_then(|text| {
                text.split_once(separator.as_str())
                    .map(|(before, _)| before.to_owned())
                    .filter(|before| !before.is_empty())
            }),
            Filter::After(separator) => current.and_then(|text| {
                text.split_once(separator.as_str())
                    .map(|(_, after)| after.to_owned())
                    .filter(|after| !after.is_empty())
            }),
            Filter::Lookup(table_name) => match current {
                None => None,
                Some(key) => {
                    let table = lookups
                        .get(table_name)
                        .ok_or_else(|| TemplateError::UnknownTable(table_name.clone()))?;
                    let entry = table.get(&key).ok_or_else(|| TemplateError::MissingEntry {
                        table: table_name.clone(),
                        key: key.clone(),
                    })?;
                    Some(entry.clone())
                }
            },
        };
    }
    current.ok_or(TemplateError::Missing(dotted))
}

fn scalar_text(value: &Value, dotted: &str) -> Result<String, TemplateError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        _ => Err(TemplateError::NotScalar(dotted.to_owned())),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, scope: Value, escape: Escape) -> Result<String, TemplateError> {
        let mut lookups = IndexMap::new();
        lookups.insert(
            "host".to_owned(),
            IndexMap::from([("eu".to_owned(), "eu.example.com".to_owned())]),
        );
        Template::parse(template)?.render(&scope, &lookups, escape)
    }

    #[test]
    fn substitutes_paths_and_filters() {
        let scope = json!({"account": {"dc": "eu", "url": "https://x"}, "vars": {"v": 61}});
        assert_eq!(
            render(
                "{{account.url}}/v{{vars.v}}/{{ account.dc | lookup('host') }}",
                scope.clone(),
                Escape::None
            ),
            Ok("https://x/v61/eu.example.com".to_owned())
        );
        assert_eq!(
            render("{{account.missing | default('d')}}", scope, Escape::None),
            Ok("d".to_owned())
        );
    }

    #[test]
    fn path_segments_cannot_escape_their_segment() {
        let scope = json!({"id": "../../admin?x=1"});
        assert_eq!(
            render("/objects/{{id}}", scope, Escape::PathSegment),
            Ok("/objects/..%2F..%2Fadmin%3Fx%3D1".to_owned())
        );
    }

    #[test]
    fn missing_values_and_bad_templates_are_errors() {
        assert_eq!(
            render("{{account.instance_url}}", json!({}), Escape::None),
            Err(TemplateError::Missing("account.instance_url".to_owned()))
        );
        assert!(matches!(
            Template::parse("{{ a | shout }}"),
            Err(TemplateError::UnknownFilter(_))
        ));
        assert!(matches!(
            Template::parse("{{ a "),
            Err(TemplateError::Unclosed(_))
        ));
    }

    #[test]
    fn before_and_after_split_an_id_joining_two_keys() {
        let scope = json!({"id": "3332883911884669725-24587001"});
        assert_eq!(
            render(
                "/employees/{{id | before('-')}}/requests/{{id | after('-')}}",
                scope,
                Escape::PathSegment
            ),
            Ok("/employees/3332883911884669725/requests/24587001".to_owned())
        );
        // No separator: the value is missing, so a path is never built from half an id.
        assert_eq!(
            render(
                "/r/{{id | after('-')}}",
                json!({"id": "plain"}),
                Escape::PathSegment
            ),
            Err(TemplateError::Missing("id".to_owned()))
        );
        assert!(matches!(
            Template::parse("{{ id | before('') }}"),
            Err(TemplateError::UnknownFilter(_))
        ));
    }
}
