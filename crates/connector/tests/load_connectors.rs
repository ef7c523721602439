//! Every connector file in `connectors/` loads: YAML, types, templates, JSONata and
//! cross-references all check out (what `crosswalk connectors check` runs).

use std::path::Path;

use connector::{connector_files, load_connector_from_file};

#[test]
fn every_connector_file_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../connectors");
    let files = connector_files(&dir).expect("connectors/ is listable");
    assert!(
        !files.is_empty(),
        "no connector files under {}",
        dir.display()
    );
    let errors: Vec<String> = files
        .iter()
        .filter_map(|file| load_connector_from_file(file, None).err())
        .map(|error| error.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "connector files failed to load:\n{}",
        errors.join("\n")
    );
}

#[test]
fn every_connector_declares_a_default_scheme_and_objects() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../connectors");
    for file in connector_files(&dir).expect("connectors/ is listable") {
        let connector = load_connector_from_file(&file, None).expect("loads");
        assert!(
            connector.scheme_name(None).is_some(),
            "{}: no default auth scheme",
            file.display()
        );
        assert!(
            connector.objects().next().is_some(),
            "{}: no unified objects",
            file.display()
        );
    }
}

/// Each write's `fields` (what `/meta` offers and what a body may name) are exactly the unified
/// fields its body mappings and route conditions read (`body.<field>`), so a field is neither
/// dropped silently nor refused while the mapping writes it (issue 15).
#[test]
fn every_write_declares_exactly_the_fields_its_mappings_read() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../connectors");
    let reads = regex::Regex::new(r"\bbody\.([a-z_]+)").expect("a valid pattern");
    let mut problems = Vec::new();
    for file in connector_files(&dir).expect("connectors/ is listable") {
        let connector = load_connector_from_file(&file, None).expect("loads");
        for (object, ops) in &connector.file().unified {
            for (name, write) in [("create", &ops.create), ("update", &ops.update)] {
                let Some(write) = write else { continue };
                let mut read: Vec<String> = write
                    .routes
                    .iter()
                    .flat_map(|route| [route.body_mapping.as_deref(), route.when.as_deref()])
                    .flatten()
                    .flat_map(|text| {
                        reads
                            .captures_iter(text)
                            .map(|c| c[1].to_owned())
                            .collect::<Vec<_>>()
                    })
                    .filter(|field| field != "custom_fields" && field != "remote_data")
                    .collect();
                // The field naming a record's type is checked against the record's, whether or
                // not a mapping reads it (`types`).
                read.extend(write.types.iter().map(|types| types.field.clone()));
                read.sort();
                read.dedup();
                let mut declared = write.fields.clone().unwrap_or_default();
                declared.sort();
                if read != declared {
                    problems.push(format!(
                        "{}: unified.{object}.{name}.fields is {declared:?}, the mappings read {read:?}",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A write's `fields` and `required` name fields of the object's write schema; only creates
/// require, and what they require they carry.
#[test]
fn write_fields_name_writable_unified_fields() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../connectors/salesforce/connector.yaml");
    let text = std::fs::read_to_string(&path).expect("readable");
    let original = "      required: [last_name]\n";
    assert!(
        text.contains(original),
        "the Salesforce contact create requires last_name"
    );
    for (replacement, expected) in [
        (
            "      required: [nickname]\n",
            "`nickname` is not a writable field of `crm.contacts`",
        ),
        (
            "      required: [last_name, last_name]\n",
            "`last_name` is listed twice",
        ),
        (
            "      required: [name]\n",
            "`name` is required but not in `fields`",
        ),
    ] {
        let changed = text.replacen(original, replacement, 1);
        let error = connector::load_connector_from_str("salesforce.yaml", &changed, None)
            .expect_err("refused")
            .to_string();
        assert!(error.contains(expected), "{error}");
        assert!(
            error.contains("unified.crm.contacts.create.required"),
            "{error}"
        );
    }
    let update = text.replacen(
        "\n    update:\n",
        "\n    update:\n      required: [last_name]\n",
        1,
    );
    let error = connector::load_connector_from_str("salesforce.yaml", &update, None)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("only creates require fields"), "{error}");
}

/// A write's `required_any`, `values`, `ranges`, `patterns`, `max_items` and `exclusive` name
/// carried fields (or, by a path, fields of carried object fields); groups are not empty, an
/// `exclusive` group has two fields and no field is in two, `max_items` bounds a list
/// and only creates have them, values are listed, patterns compile; each error names its place
/// in the file.
#[test]
fn write_rules_name_carried_fields_and_hold_together() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../connectors/salesforce/connector.yaml");
    // The file's own patterns and list rules are left out, so that each case below states
    // the contact's.
    let text: String = std::fs::read_to_string(&path)
        .expect("readable")
        .lines()
        .filter(|line| {
            ["patterns", "max_items", "one_per", "values"]
                .iter()
                .all(|rule| !line.starts_with(&format!("      {rule}: ")))
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let original = "      required: [last_name]\n";
    assert!(text.contains(original));
    let accepted = text.replacen(
        original,
        "      required: [last_name]\n      required_any: [[email_addresses, phone_numbers]]\n      values: {title: [CEO, CTO], owner_id: {options_of: OwnerId}}\n      patterns: {owner_id: \"^005\"}\n      max_items: {phone_numbers: 2}\n      exclusive: [[email_addresses, phone_numbers]]\n",
        1,
    );
    connector::load_connector_from_str("salesforce.yaml", &accepted, None).expect("loads");
    for (replacement, place, expected) in [
        (
            "      required_any: [[nickname]]\n",
            "create.required_any[0][0]",
            "`nickname` is not a writable field",
        ),
        (
            "      required_any: [[]]\n",
            "create.required_any[0]",
            "a group names at least one field",
        ),
        (
            "      required_any: [[name]]\n",
            "create.required_any[0][0]",
            "`name` is required but not in `fields`",
        ),
        (
            "      values: {title: []}\n",
            "create.values.title",
            "lists at least one value",
        ),
        (
            "      values: {title: {options_of: \" \"}}\n",
            "create.values.title.options_of",
            "names the vendor key of a discovered field",
        ),
        (
            "      values: {name: [A]}\n",
            "create.values.name",
            "`name` is not in `fields`",
        ),
        (
            "      patterns: {owner_id: \"(\"}\n",
            "create.patterns.owner_id",
            "invalid regular expression",
        ),
        (
            "      ranges: {title.length: {maximum: 1}}\n",
            "create.ranges.title.length",
            "`title.length` is not a field of",
        ),
        (
            "      patterns: {owner_id.id: \"^005\"}\n",
            "create.patterns.owner_id.id",
            "`owner_id.id` is not a field of",
        ),
        (
            "      max_items: {title: 1}\n",
            "create.max_items.title",
            "bounds a list field",
        ),
        (
            "      max_items: {phone_numbers: 0}\n",
            "create.max_items.phone_numbers",
            "with at least one item",
        ),
        (
            "      max_items: {domains: 1}\n",
            "create.max_items.domains",
            "`domains` is not a writable field",
        ),
        (
            "      exclusive: [[phone_numbers]]\n",
            "create.exclusive[0]",
            "a group names at least two fields",
        ),
        (
            "      exclusive: [[phone_numbers, name]]\n",
            "create.exclusive[0][1]",
            "`name` is not in `fields`",
        ),
        (
            "      exclusive: [[phone_numbers, email_addresses], [email_addresses, addresses]]\n",
            "create.exclusive[1]",
            "`email_addresses` is in an earlier group too",
        ),
        (
            "      not_clearable: [title]\n",
            "create.not_clearable",
            "only updates clear fields",
        ),
        (
            "      step_seconds: {title: 60}\n",
            "create.step_seconds.title",
            "`title` is not a date-time field",
        ),
        (
            "      types: {field: title, ids: {CEO: \"^x\"}, only: {first_name: [CEO]}}\n",
            "create.types.ids",
            "only updates tell the record's type by its id",
        ),
        (
            "      types: {field: title, only: {nickname: [CEO]}}\n",
            "create.types.only.nickname",
            "`nickname` is not a writable field",
        ),
        (
            "      types: {field: title, only: {first_name: []}}\n",
            "create.types.only.first_name",
            "names the types holding another field",
        ),
        (
            "      types: {field: title, only: {first_name: [CEO]}, requires: {CEO: {first_name: [first_name]}}}\n",
            "create.types.requires.CEO.first_name",
            "names at least one other field",
        ),
    ] {
        let changed = text.replacen(original, &format!("{original}{replacement}"), 1);
        let error = connector::load_connector_from_str("salesforce.yaml", &changed, None)
            .expect_err("refused")
            .to_string();
        assert!(error.contains(expected), "{replacement}: {error}");
        assert!(
            error.contains(&format!("unified.crm.contacts.{place}")),
            "{replacement}: {error}"
        );
    }
    let update = text.replacen(
        "\n    update:\n",
        "\n    update:\n      required_any: [[last_name]]\n",
        1,
    );
    let error = connector::load_connector_from_str("salesforce.yaml", &update, None)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("only creates require fields"), "{error}");
    // An update's `not_clearable` names carried fields.
    let kept = text.replacen(
        "\n    update:\n",
        "\n    update:\n      not_clearable: [owner_id]\n",
        1,
    );
    connector::load_connector_from_str("salesforce.yaml", &kept, None).expect("loads");
    for (listed, expected) in [
        ("[nickname]", "`nickname` is not a writable field"),
        ("[owner_id, owner_id]", "`owner_id` is listed twice"),
        ("[name]", "`name` is not in `fields`"),
    ] {
        let changed = text.replacen(
            "\n    update:\n",
            &format!("\n    update:\n      not_clearable: {listed}\n"),
            1,
        );
        let error = connector::load_connector_from_str("salesforce.yaml", &changed, None)
            .expect_err("refused")
            .to_string();
        assert!(error.contains(expected), "{listed}: {error}");
        assert!(
            error.contains("unified.crm.contacts.update.not_clearable"),
            "{listed}: {error}"
        );
    }
}
