//! Pipedrive keys its custom fields by 40-character hashes. The unified API names each by its
//! label in snake case, the same name in `/fields`, `/meta` and records, keeps the hash as
//! the field's `vendor_key`, and writes reach the vendor under the hash.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

fn is_hash(key: &str) -> bool {
    key.len() == 40 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn hashed_custom_fields_have_one_stable_name_in_fields_meta_and_records() {
    let app = spawn_app().await;
    let pipedrive = app.handle::<simulators::pipedrive::Pipedrive>();
    let shoe_size = pipedrive.add_custom_field("person", "Shoe size", "double");
    // A second field of the same name keeps its hash as its unified name.
    let second = pipedrive.add_custom_field("person", "Shoe size", "varchar");
    assert!(is_hash(&shoe_size) && is_hash(&second));
    let connection = app.connection("pipedrive");

    let (status, fields) = app
        .get(&format!(
            "/unified/crm/fields?connection_id={connection}&object=contacts"
        ))
        .await;
    assert_eq!(status, 200, "{fields}");
    let custom: Vec<&Value> = fields["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|field| field["custom"] == true)
        .collect();
    let named = |key: &str| custom.iter().find(|field| field["key"] == key).copied();
    let field = named("shoe_size").expect("`Shoe size` is listed as shoe_size");
    assert_eq!(field["vendor_key"], shoe_size.as_str(), "{field}");
    assert_eq!(field["label"], "Shoe size");
    assert_eq!(field["type"], "number");
    let twin = named(&second).expect("the second `Shoe size` is listed by its hash");
    assert_eq!(twin["vendor_key"], second.as_str());
    let names: BTreeSet<&str> = custom
        .iter()
        .map(|field| field["key"].as_str().expect("key"))
        .collect();
    assert_eq!(names.len(), custom.len(), "names are unique: {names:?}");
    assert!(
        names.iter().filter(|name| is_hash(name)).count() == 1,
        "only the duplicate keeps a hash as its name: {names:?}"
    );

    let (status, meta) = app
        .get(&format!(
            "/unified/crm/contacts/meta?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, 200, "{meta}");
    let schema = meta["record_schema"]["properties"]["custom_fields"]["properties"]
        .as_object()
        .expect("custom field schemas");
    let meta_names: BTreeSet<&str> = schema.keys().map(String::as_str).collect();
    assert_eq!(meta_names, names, "/meta and /fields name the same fields");
    assert!(
        schema["shoe_size"].to_string().contains(&shoe_size),
        "the schema tells the vendor key: {}",
        schema["shoe_size"]
    );

    let (status, created) = app
        .call(
            Method::POST,
            &format!("/unified/crm/contacts?connection_id={connection}"),
            Some(json!({"first_name": "Ada", "last_name": "Lovelace",
                "custom_fields": {"shoe_size": "38.5"}})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["custom_fields"]["shoe_size"], 38.5,
        "converted to a number and read back under its name: {created}"
    );
    let id = created["id"].as_str().expect("id");
    let (status, got) = app
        .get(&format!(
            "/unified/crm/contacts/{id}?connection_id={connection}&include=remote_data"
        ))
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["custom_fields"]["shoe_size"], 38.5, "{got}");
    assert_eq!(
        got["remote_data"]["custom_fields"][&shoe_size], 38.5,
        "the vendor holds the value under the hash: {got}"
    );

    // A write may name the field by its hash too; the record still reads it by name.
    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/unified/crm/contacts/{id}?connection_id={connection}"),
            Some(json!({"custom_fields": {shoe_size.clone(): 40}})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["custom_fields"]["shoe_size"], 40.0, "{updated}");
    let (status, refused) = app
        .call(
            Method::PATCH,
            &format!("/unified/crm/contacts/{id}?connection_id={connection}"),
            Some(json!({"custom_fields": {"shoe_size": 41, shoe_size.clone(): 42}})),
        )
        .await;
    assert_eq!(status, 400, "one field named twice is refused: {refused}");
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|d| d.contains("same field")),
        "{refused}"
    );

    let (status, page) = app
        .get(&format!(
            "/unified/crm/contacts?connection_id={connection}&page_size=100"
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    for record in page["results"].as_array().expect("results") {
        for key in record["custom_fields"]
            .as_object()
            .expect("custom_fields")
            .keys()
        {
            assert!(
                names.contains(key.as_str()),
                "record key `{key}` is a /fields name"
            );
        }
    }
}
