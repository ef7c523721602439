//! Keeps the published schemas and the model reference in step with the types.
//!
//! The JSON Schemas in `schemas/unified/<category>/` and the field reference in
//! `docs/unified-model.md` are generated from `unified-model` and checked in, so API clients can
//! read them without Rust. This test regenerates them in memory and fails when a checked-in file
//! differs; with `UPDATE_SCHEMAS=1` it rewrites them instead. The reference's hand-written tail
//! (below its marker line: where each field comes from per vendor) is kept as it is.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;
use unified_model::{CATEGORIES, UnifiedObject};

const UPDATE_HINT: &str = "UPDATE_SCHEMAS=1 cargo test -p unified-model --test schemas";

#[test]
fn checked_in_schemas_and_docs_are_up_to_date() -> anyhow::Result<()> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut expected: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut schema_dirs = Vec::new();
    for category in CATEGORIES {
        let schema_dir = workspace.join(format!("schemas/unified/{category}"));
        for object in UnifiedObject::of_category(category) {
            let record_path = schema_dir.join(format!("{}.json", object.slug()));
            expected.insert(record_path, pretty(&object.schema())?);
            if object.supports_writes() {
                let write_path = schema_dir.join(format!("{}.write.json", object.slug()));
                expected.insert(write_path, pretty(&object.write_schema())?);
            }
        }
        schema_dirs.push(schema_dir);
    }
    let reference_path = workspace.join("docs/unified-model.md");
    let hand_written = fs::read_to_string(&reference_path)
        .ok()
        .and_then(|text| {
            text.find(reference::HAND_WRITTEN_MARKER)
                .map(|at| text[at..].to_owned())
        })
        .unwrap_or_else(|| format!("{}\n", reference::HAND_WRITTEN_MARKER));
    expected.insert(reference_path, reference::markdown() + "\n" + &hand_written);

    // Files left over from a renamed or removed object are stale too.
    let mut leftovers = Vec::new();
    for schema_dir in &schema_dirs {
        if schema_dir.is_dir() {
            for entry in fs::read_dir(schema_dir).context("listing schemas/unified")? {
                let path = entry.context("listing schemas/unified")?.path();
                if !expected.contains_key(&path) {
                    leftovers.push(path);
                }
            }
        }
    }

    let update = std::env::var_os("UPDATE_SCHEMAS").is_some_and(|value| value == "1");
    let mut stale = Vec::new();
    for (path, text) in &expected {
        let current = fs::read_to_string(path).ok();
        if current.as_deref() == Some(text.as_str()) {
            continue;
        }
        if update {
            fs::create_dir_all(path.parent().context("generated paths have a parent")?)
                .with_context(|| format!("creating the folder of {}", path.display()))?;
            fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        } else {
            stale.push(display(&workspace, path));
        }
    }
    for path in &leftovers {
        if update {
            fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
        } else {
            stale.push(format!(
                "{} (no longer generated)",
                display(&workspace, path)
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "generated files are stale: {}\nthe unified-model types changed; if that was meant (it is \
         an API change), regenerate with `{UPDATE_HINT}` and commit the result",
        stale.join(", "),
    );
    Ok(())
}

/// Issue 18: the hand-written part of `docs/unified-model.md` says where every HRIS field comes
/// from in each vendor: each field of each HRIS record (the envelope aside) is named there.
#[test]
fn every_hris_field_has_its_vendor_sources_in_the_docs() -> anyhow::Result<()> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = fs::read_to_string(workspace.join("docs/unified-model.md"))
        .context("reading docs/unified-model.md")?;
    let sources = text
        .find("## Where HRIS fields come from")
        .map(|at| &text[at..])
        .context("docs/unified-model.md has no `## Where HRIS fields come from` section")?;
    let mut missing = Vec::new();
    for object in UnifiedObject::of_category("hris") {
        let schema = object.schema();
        let fields = schema["properties"]
            .as_object()
            .context("a record schema has properties")?;
        for field in fields.keys() {
            if !reference::ENVELOPE.contains(&field.as_str())
                && !sources.contains(&format!("`{field}`"))
            {
                missing.push(format!("{}.{field}", object.slug()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "HRIS fields without a row saying where each vendor's value comes from: {missing:?}"
    );
    Ok(())
}

fn pretty(schema: &Value) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(schema).context("printing a schema")? + "\n")
}

fn display(workspace: &Path, path: &Path) -> String {
    path.strip_prefix(workspace)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Renders the human-readable field reference from the record schemas.
mod reference {
    use std::fmt::Write;

    use serde_json::Value;
    use unified_model::{CrmObject, UnifiedObject};

    /// The line after which `docs/unified-model.md` is hand-written and kept as is.
    pub(super) const HAND_WRITTEN_MARKER: &str =
        "<!-- Hand-written below this line; the generator keeps it as it is. -->";

    /// Envelope fields, listed once at the top instead of in every object's table.
    pub(super) const ENVELOPE: [&str; 7] = [
        "id",
        "remote_id",
        "created_at",
        "updated_at",
        "remote_deleted",
        "custom_fields",
        "remote_data",
    ];

    pub(super) fn markdown() -> String {
        let mut out = String::new();
        out.push_str(INTRO);
        let contacts = CrmObject::Contacts.schema();

        out.push_str("\n## Envelope\n\nEvery object has these fields.\n\n");
        field_table(&mut out, &contacts, &contacts, |name| {
            ENVELOPE.contains(&name)
        });

        for category in unified_model::CATEGORIES {
            if let Some(intro) = category_intro(category) {
                out.push_str(intro);
            }
            for object in UnifiedObject::of_category(category) {
                object_section(&mut out, object);
            }
        }

        out.push_str("\n## Shared types\n");
        let mut seen = Vec::new();
        for object in UnifiedObject::all() {
            let schema = object.schema();
            let Some(definitions) = schema.get("$defs").and_then(Value::as_object) else {
                continue;
            };
            for (name, definition) in definitions {
                if seen.contains(name) {
                    continue;
                }
                seen.push(name.clone());
                let _ = write!(out, "\n### {name}\n\n");
                if let Some(description) = definition.get("description").and_then(Value::as_str) {
                    let _ = writeln!(out, "{}\n", one_line(description));
                }
                if definition.get("properties").is_some() {
                    field_table(&mut out, definition, &schema, |_| true);
                } else if let Some(values) = enum_values(definition) {
                    let _ = writeln!(out, "| Value | Meaning |\n|---|---|");
                    for (value, meaning) in values {
                        let _ = writeln!(out, "| `{value}` | {} |", one_line(&meaning));
                    }
                }
            }
        }
        out
    }

    /// One object's heading, description, schema files, sensitive fields and field table.
    fn object_section(out: &mut String, object: UnifiedObject) {
        let schema = object.schema();
        let category = object.category();
        let _ = write!(
            out,
            "\n## {} (`{}`)\n\n",
            object.record_name(),
            object.slug()
        );
        if let Some(description) = schema.get("description").and_then(Value::as_str) {
            let _ = writeln!(out, "{}\n", one_line(description));
        }
        if object.supports_writes() {
            let _ = writeln!(
                out,
                "Writable: record schema `schemas/unified/{category}/{0}.json`, write body schema \
                 `schemas/unified/{category}/{0}.write.json`.\n",
                object.slug()
            );
        } else {
            let _ = writeln!(
                out,
                "Read-only in v1: record schema `schemas/unified/{category}/{}.json`.\n",
                object.slug()
            );
        }
        let sensitive = object.sensitive_fields();
        if !sensitive.is_empty() {
            let names: Vec<String> = sensitive.iter().map(|name| format!("`{name}`")).collect();
            let _ = writeln!(
                out,
                "Sensitive, withheld unless asked for and allowed: {}.\n",
                names.join(", ")
            );
        }
        field_table(out, &schema, &schema, |name| !ENVELOPE.contains(&name));
    }

    /// The text opening a category's objects, after the first category's.
    fn category_intro(category: &str) -> Option<&'static str> {
        match category {
            "hris" => Some(HRIS_INTRO),
            _ => None,
        }
    }

    const HRIS_INTRO: &str = "
# Unified HRIS model (v1)

The objects of `/unified/hris/*`, with the same envelope and conventions as the CRM objects;
their JSON Schemas are in `schemas/unified/hris/`.

- Two questions never share a field: `employment_status` says whether the person works there
  (`ACTIVE`, `PENDING`, `ON_LEAVE`, `TERMINATED`, `INACTIVE`, with the vendor's own value in
  `employment_status_raw`), `remote_deleted` whether the record is gone from the vendor.
  Terminated employees are never dropped: lists return them unless the connector's
  `employment_status` filter chooses.
- Pay and job history are separate objects: a compensation (base pay, a bonus...) has its own
  effective and end dates, its money as a decimal string with a currency, its pay period and
  pay frequency.
- Sensitive fields (national ids, date of birth, bank data, pay amounts and the fields listed
  per object below) are withheld (null, or `[]` for a list) unless the caller passes
  `include=sensitive_fields` and the connection allows it (its account field
  `sensitive_fields` is `allowed`); asking on a connection that does not allow it is a `400`
  naming `include`, and so is `include=remote_data` without `sensitive_fields` on an object that
  has sensitive fields (the raw record carries them).
  Syncs store records with sensitive fields withheld.
";

    const INTRO: &str = "# Unified model (v1): CRM and HRIS

<!-- Generated from crates/unified-model by its `schemas` test; edit the doc comments there and run
`UPDATE_SCHEMAS=1 cargo test -p unified-model --test schemas`. -->

The objects of `/unified/crm/*` and `/unified/hris/*`, with their fields.
The JSON Schemas (draft 2020-12) in `schemas/unified/crm/` and `schemas/unified/hris/` are the
contract; this page is a readable digest of them.

Conventions:

- Every record has every field listed here, in this order: `null` when the vendor has no value,
  `[]` for an empty list, `{}` for no custom fields.
  Only `remote_data` is left out unless requested.
  Records may gain fields in later versions, so clients should ignore fields they do not know.
- Ids are strings. References to other records are `*_id` and `*_ids` fields.
- Timestamps are RFC 3339 in UTC (`2024-01-31T09:30:00Z`); dates are `YYYY-MM-DD`.
- Money is `{\"amount\": \"1500.50\", \"currency\": \"USD\"}`: the amount is a decimal string,
  the currency an ISO 4217 code or `null`.
- Enum values are UPPER_SNAKE and limited to the values listed; connectors map vendor values they do
  not recognise to `OTHER` or `null`.
- Write bodies (create and update) hold only the fields to set; `null` clears a field, except
  a field the connection needs to create the record (its `/meta` create schema's `required`),
  which an update cannot clear: `null` or blank text there is a `400` naming the field.
  A list or object field is written whole: `null` or `[]` clears it, and a list given replaces
  the one held (a phone list without a mobile number clears the mobile number), including at a
  vendor that keeps it in several fields of its own.
  What a vendor cannot hold is refused with a `400` naming the field before any vendor call, as
  the connection's `/meta` states it: more items than it keeps (`maxItems`: a Zoho CRM task's
  one contact), or values in two fields it keeps in one (a note's one parent record); an update
  writing such a field names the others kept with it.
  A write naming a record the vendor does not have (a deleted company) is a `409`
  `reference_not_found`.
  Write bodies may not set `id`, `remote_id`, `created_at`, `updated_at` or `remote_deleted`, and unknown
  fields are refused.
  `remote_data` in a write body is an object of vendor fields merged into the vendor request.
- A write answers with the record as the vendor stored it (`201` for a create, `200` for an update).
  Once the vendor has accepted a write the answer is never an error: when the record cannot be read
  back, or one of its fields cannot be (a value outside the unified types), the answer is still a
  success carrying the vendor's id (the unreadable fields `null`, or only `id` and `remote_id` when
  nothing could be read) and a `warnings` array of strings saying what could not be read back.
  `warnings` is present only on answers that have some.
- A read (a get, each record of a list page) serves a record holding a value outside the unified
  types (an integer beyond the field's range, a date past 9999 or one that does not exist, a
  currency that is not an ISO 4217 code) with that field `null` and a `warnings` entry naming the
  field and why, never an error of ours.
  A record that cannot be read even so (its id is what fails) is a `502` `invalid_record` from a
  get (origin `provider`) and an entry of the page's `errors` from a list.
- Creates and updates accept an `Idempotency-Key` header (1 to 255 visible ASCII characters).
  The first answer to a successful write made with a key is kept for 24 hours, scoped to the
  environment, the connection, the method and the path: a retry with the same key and the same
  request (query and body) gets that answer again, with `Idempotent-Replayed: true`, and the
  vendor is not called. The same key with another request is a `422` naming the header, a retry
  while the first request still runs is a `409`, and a write that failed keeps nothing, so its
  retry runs again.
  The proxy's writes (`POST`, `PUT`, `PATCH`, `DELETE` on `/proxy/…`) take the header too: the
  vendor's success answer (2xx: status, content type and bytes) is kept and replayed the same way,
  the request's fingerprint being its query, content type and body bytes; any other vendor answer
  keeps nothing.
";

    /// Writes a table of the properties of `schema` that `keep` selects.
    fn field_table(out: &mut String, schema: &Value, root: &Value, keep: impl Fn(&str) -> bool) {
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            return;
        };
        out.push_str("| Field | Type | Description |\n|---|---|---|\n");
        for (name, property) in properties {
            if !keep(name) {
                continue;
            }
            let description = property
                .get("description")
                .and_then(Value::as_str)
                .map(one_line)
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| `{name}` | {} | {description} |",
                type_name(property, root)
            );
        }
    }

    /// Describes a property's type in a few words: `string or null`, `list of EmailAddress`.
    fn type_name(schema: &Value, root: &Value) -> String {
        let Some(object) = schema.as_object() else {
            return "any".to_owned();
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            let name = reference.rsplit('/').next().unwrap_or(reference);
            let definition = root.pointer(&format!("/$defs/{name}"));
            return match definition.and_then(enum_values) {
                Some(values) => one_of(&values),
                None => format!("[{name}](#{})", name.to_lowercase()),
            };
        }
        if let Some(any_of) = object.get("anyOf").and_then(Value::as_array) {
            let names: Vec<String> = any_of
                .iter()
                .map(|branch| type_name(branch, root))
                .collect();
            return names.join(" or ");
        }
        if object.get("enum").is_some() {
            return enum_values(schema)
                .map(|values| one_of(&values))
                .unwrap_or_default();
        }
        let types: Vec<&str> = match object.get("type") {
            Some(Value::String(single)) => vec![single.as_str()],
            Some(Value::Array(several)) => several.iter().filter_map(Value::as_str).collect(),
            _ => return "any".to_owned(),
        };
        let names: Vec<String> = types
            .iter()
            .map(|json_type| match *json_type {
                "array" => {
                    let items = object.get("items").unwrap_or(&Value::Bool(true));
                    format!("list of {}", type_name(items, root))
                }
                "string" => match object.get("format").and_then(Value::as_str) {
                    Some(format) => format!("string ({format})"),
                    None => match object.get("pattern").and_then(Value::as_str) {
                        Some(pattern) => format!("string (`{pattern}`)"),
                        None => "string".to_owned(),
                    },
                },
                "number" => match (object.get("minimum"), object.get("maximum")) {
                    (Some(minimum), Some(maximum)) => format!("number ({minimum}–{maximum})"),
                    _ => "number".to_owned(),
                },
                other => other.to_owned(),
            })
            .collect();
        names.join(" or ")
    }

    /// Lists an enum's values with their descriptions (from `oneOf` of `const`s or `enum`).
    fn enum_values(definition: &Value) -> Option<Vec<(String, String)>> {
        if let Some(one_of) = definition.get("oneOf").and_then(Value::as_array) {
            return one_of
                .iter()
                .map(|variant| {
                    let value = variant.get("const")?.as_str()?.to_owned();
                    let meaning = variant
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    Some((value, meaning))
                })
                .collect();
        }
        let values = definition.get("enum")?.as_array()?;
        Some(
            values
                .iter()
                .filter_map(Value::as_str)
                .map(|value| (value.to_owned(), String::new()))
                .collect(),
        )
    }

    fn one_of(values: &[(String, String)]) -> String {
        let names: Vec<String> = values
            .iter()
            .map(|(value, _)| format!("`{value}`"))
            .collect();
        names.join(" \\| ")
    }

    fn one_line(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}
