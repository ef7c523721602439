//! `components/schemas` of the OpenAPI document, built from the unified model's JSON Schemas.
//!
//! A unified schema is a draft 2020-12 document whose subschemas sit under its own `$defs`;
//! inside an OpenAPI document `#/$defs/…` would resolve against the document's root, so each
//! definition moves to `components/schemas` and every reference is rewritten to point there.
//! Definitions shared by several objects (`EmailAddress` of contacts and leads) become one
//! component; a definition whose write variant differs from its record variant (write bodies
//! accept `null` for every optional field) gets its own name with a suffix (`EmailAddressWrite`).
//! Enums that schemars writes as `oneOf` of `const` (to keep each value's doc comment) become a
//! plain `enum` with the comments in `x-enum-descriptions`, which code generators understand.
//! It leaves out everything that is not a schema (paths, parameters, responses).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The named schemas of the document.
#[derive(Debug, Default)]
pub struct Components {
    schemas: Map<String, Value>,
}

impl Components {
    /// A reference to the component `name`.
    pub fn reference(name: &str) -> Value {
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    /// Adds a schema without `$defs` under `name`; returns a reference to it.
    pub fn insert(&mut self, name: &str, schema: Value) -> Value {
        self.schemas.insert(name.to_owned(), schema);
        Components::reference(name)
    }

    /// A reference to the component `name`, made by `schema` the first time.
    pub fn reference_or_insert(&mut self, name: &str, schema: impl FnOnce() -> Value) -> Value {
        if !self.schemas.contains_key(name) {
            self.schemas.insert(name.to_owned(), schema());
        }
        Components::reference(name)
    }

    /// Adds a unified JSON Schema under `name` and its `$defs` beside it; a definition that
    /// clashes with an existing component of another shape is named with `variant_suffix`.
    /// Returns a reference to `name`.
    pub fn insert_json_schema(&mut self, name: &str, schema: Value, variant_suffix: &str) -> Value {
        let Value::Object(mut root) = schema else {
            return self.insert(name, schema);
        };
        // The dialect is OpenAPI 3.1's own (draft 2020-12 with its vocabulary).
        root.shift_remove("$schema");
        let mut definitions = match root.shift_remove("$defs") {
            Some(Value::Object(definitions)) => definitions,
            _ => Map::new(),
        };
        let mut root = Value::Object(root);
        enums_as_enum(&mut root);
        definitions.values_mut().for_each(enums_as_enum);
        let names = self.component_names(&definitions, variant_suffix);
        for (definition_name, mut definition) in definitions {
            rewrite_references(&mut definition, &names);
            self.schemas
                .entry(names[&definition_name].clone())
                .or_insert(definition);
        }
        rewrite_references(&mut root, &names);
        // Code generators name a schema's type after its title: the component's name is the
        // one clients should see (`ContactWrite`, not `Contact write body`).
        root["title"] = json!(name);
        self.insert(name, root)
    }

    /// The component name of each definition: its own name when that component is free or
    /// holds the same schema, else the name with `variant_suffix`. Renaming one definition
    /// changes the references of those that use it, so it runs until no name changes (bounded
    /// by the number of definitions, so no shape of definitions can keep it turning).
    fn component_names(
        &self,
        definitions: &Map<String, Value>,
        variant_suffix: &str,
    ) -> BTreeMap<String, String> {
        let mut names: BTreeMap<String, String> = definitions
            .keys()
            .map(|name| (name.clone(), name.clone()))
            .collect();
        for _ in 0..=definitions.len() {
            let mut changed = false;
            for (definition_name, definition) in definitions {
                let mut rewritten = definition.clone();
                rewrite_references(&mut rewritten, &names);
                let free_or_same = |candidate: &String| {
                    self.schemas
                        .get(candidate)
                        .is_none_or(|taken| *taken == rewritten)
                };
                let chosen = std::iter::once(definition_name.clone())
                    .chain((1..).map(|n_variant| match n_variant {
                        1 => format!("{definition_name}{variant_suffix}"),
                        n => format!("{definition_name}{variant_suffix}{n}"),
                    }))
                    .find(free_or_same)
                    .unwrap_or_else(|| definition_name.clone());
                if names[definition_name] != chosen {
                    names.insert(definition_name.clone(), chosen);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        names
    }

    /// The schemas, by name.
    pub fn into_schemas(self) -> Map<String, Value> {
        self.schemas
    }
}

/// Points every `#/$defs/NAME` reference at `#/components/schemas/{names[NAME]}`.
fn rewrite_references(schema: &mut Value, names: &BTreeMap<String, String>) {
    match schema {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get_mut("$ref")
                && let Some(definition_name) = reference.strip_prefix("#/$defs/")
                && let Some(component_name) = names.get(definition_name)
            {
                *reference = format!("#/components/schemas/{component_name}");
            }
            object
                .values_mut()
                .for_each(|value| rewrite_references(value, names));
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| rewrite_references(item, names)),
        _ => {}
    }
}

/// Rewrites every `oneOf` whose branches are each one documented string constant as an
/// `enum`, keeping the constants' descriptions in `x-enum-descriptions` and in the
/// description's text.
fn enums_as_enum(schema: &mut Value) {
    match schema {
        Value::Object(object) => {
            if let Some(Value::Array(branches)) = object.get("oneOf")
                && let Some(values) = constant_branches(branches)
            {
                let descriptions: Vec<String> = values
                    .iter()
                    .map(|(_, description)| description.clone())
                    .collect();
                let listed: Vec<String> = values
                    .iter()
                    .filter(|(_, description)| !description.is_empty())
                    .map(|(value, description)| format!("- `{value}`: {description}"))
                    .collect();
                object.shift_remove("oneOf");
                object.insert("type".to_owned(), json!("string"));
                object.insert(
                    "enum".to_owned(),
                    values.iter().map(|(value, _)| json!(value)).collect(),
                );
                if !listed.is_empty() {
                    let text = match object.get("description").and_then(Value::as_str) {
                        Some(description) => format!("{description}\n\n{}", listed.join("\n")),
                        None => listed.join("\n"),
                    };
                    object.insert("description".to_owned(), json!(text));
                    object.insert("x-enum-descriptions".to_owned(), json!(descriptions));
                }
            }
            object.values_mut().for_each(enums_as_enum);
        }
        Value::Array(items) => items.iter_mut().for_each(enums_as_enum),
        _ => {}
    }
}

/// The `(value, description)` of each branch when every branch is `{"type": "string",
/// "const": …}` with at most a description; `None` otherwise.
fn constant_branches(branches: &[Value]) -> Option<Vec<(String, String)>> {
    if branches.is_empty() {
        return None;
    }
    branches
        .iter()
        .map(|branch| {
            let branch = branch.as_object()?;
            let value = branch.get("const")?.as_str()?.to_owned();
            let only_known_keys = branch
                .keys()
                .all(|key| matches!(key.as_str(), "const" | "type" | "description"));
            let typed_string = branch.get("type").is_none_or(|kind| kind == "string");
            if !only_known_keys || !typed_string {
                return None;
            }
            let description = branch
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            Some((value, description))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_move_to_components_and_references_follow() {
        let mut components = Components::default();
        let record = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"email": {"$ref": "#/$defs/Email"}},
            "$defs": {
                "Email": {"type": "object", "properties": {"kind": {"$ref": "#/$defs/Kind"}}},
                "Kind": {"oneOf": [
                    {"type": "string", "const": "WORK", "description": "At work."},
                    {"type": "string", "const": "HOME", "description": "At home."}
                ]}
            }
        });
        let write = json!({
            "type": "object",
            "properties": {"email": {"$ref": "#/$defs/Email"}},
            "$defs": {
                "Email": {"type": ["object", "null"], "properties": {"kind": {"$ref": "#/$defs/Kind"}}},
                "Kind": {"oneOf": [
                    {"type": "string", "const": "WORK", "description": "At work."},
                    {"type": "string", "const": "HOME", "description": "At home."}
                ]}
            }
        });
        assert_eq!(
            components.insert_json_schema("Person", record, "Write"),
            json!({"$ref": "#/components/schemas/Person"})
        );
        components.insert_json_schema("PersonWrite", write, "Write");
        let schemas = components.into_schemas();
        let names: Vec<&str> = schemas.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["Email", "Kind", "Person", "EmailWrite", "PersonWrite"]
        );
        assert_eq!(
            schemas["Person"]["properties"]["email"]["$ref"],
            "#/components/schemas/Email"
        );
        assert_eq!(
            schemas["PersonWrite"]["properties"]["email"]["$ref"],
            "#/components/schemas/EmailWrite"
        );
        assert_eq!(
            schemas["EmailWrite"]["properties"]["kind"]["$ref"],
            "#/components/schemas/Kind"
        );
        assert!(schemas["Person"].get("$schema").is_none());
        assert_eq!(schemas["Kind"]["enum"], json!(["WORK", "HOME"]));
        assert_eq!(schemas["Kind"]["type"], "string");
        assert_eq!(
            schemas["Kind"]["x-enum-descriptions"],
            json!(["At work.", "At home."])
        );
        assert!(schemas["Kind"].get("oneOf").is_none());
    }

    #[test]
    fn a_one_of_that_is_not_a_list_of_constants_is_left_alone() {
        let mut schema = json!({"oneOf": [{"const": "A"}, {"type": "integer"}]});
        let before = schema.clone();
        enums_as_enum(&mut schema);
        assert_eq!(schema, before);
    }
}
