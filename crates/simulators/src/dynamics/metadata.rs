//! Metadata endpoints: `EntityDefinitions`, their `Attributes` (with option sets through the
//! `Microsoft.Dynamics.CRM.PicklistAttributeMetadata` cast and `$expand=OptionSet`), and a
//! small hand-made `$metadata` CSDL document listing the served entity types.
//!
//! Shapes follow the Dataverse metadata Web API: labels as `DisplayName.UserLocalizedLabel
//! .Label` (language 1033), `RequiredLevel.Value`, `IsCustomAttribute`, `AttributeType`.
//! `MetadataId`s are derived from names, so they are stable across runs. `$select` and
//! `$filter` work on metadata collections (`$filter` without type checks); other options and
//! other metadata (relationships, keys, global option sets) are not simulated.

use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::filter;
use super::schema::{AttrType, Attribute, Entity};

/// A stable GUID for a metadata item.
fn metadata_id(parts: &[&str]) -> String {
    let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for byte in parts.join("/").bytes() {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B);
    }
    uuid::Builder::from_random_bytes(hash.to_be_bytes())
        .into_uuid()
        .to_string()
}

fn label(text: &str) -> Value {
    let localized = json!({ "Label": text, "LanguageCode": 1033, "IsManaged": true });
    json!({ "LocalizedLabels": [localized.clone()], "UserLocalizedLabel": localized })
}

fn schema_name(logical_name: &str) -> String {
    let mut chars = logical_name.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().collect::<String>() + chars.as_str()
    })
}

/// The `EntityMetadata` of a table.
pub(crate) fn entity_json(entity: &Entity) -> Map<String, Value> {
    let value = json!({
        "MetadataId": metadata_id(&[entity.logical_name]),
        "LogicalName": entity.logical_name,
        "SchemaName": schema_name(entity.logical_name),
        "EntitySetName": entity.entity_set,
        "LogicalCollectionName": entity.entity_set,
        "PrimaryIdAttribute": entity.primary_id,
        "PrimaryNameAttribute": entity.primary_name,
        "ObjectTypeCode": entity.object_type_code,
        "IsActivity": entity.is_activity,
        "IsCustomEntity": false,
        "ChangeTrackingEnabled": true,
        "DisplayName": label(entity.display_name),
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn option_set(entity: &Entity, attribute: &Attribute, select: Option<&[String]>) -> Value {
    let options: Vec<Value> = attribute
        .options
        .iter()
        .map(|(value, text)| json!({ "Value": value, "Label": label(text), "Color": null }))
        .collect();
    let mut out = Map::new();
    out.insert(
        "MetadataId".into(),
        json!(metadata_id(&[
            entity.logical_name,
            &attribute.logical_name,
            "optionset"
        ])),
    );
    let all = [
        (
            "Name",
            json!(format!(
                "{}_{}",
                entity.logical_name, attribute.logical_name
            )),
        ),
        ("IsGlobal", json!(false)),
        ("OptionSetType", json!(attribute.attr_type.name())),
        ("Options", json!(options)),
    ];
    for (key, value) in all {
        if select.is_none_or(|names| names.iter().any(|name| name == key)) {
            out.insert(key.into(), value);
        }
    }
    Value::Object(out)
}

/// The `AttributeMetadata` of a column.
pub(crate) fn attribute_json(entity: &Entity, attribute: &Attribute) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert(
        "@odata.type".into(),
        json!(format!(
            "#Microsoft.Dynamics.CRM.{}",
            attribute.attr_type.metadata_type()
        )),
    );
    out.insert(
        "MetadataId".into(),
        json!(metadata_id(&[entity.logical_name, &attribute.logical_name])),
    );
    out.insert("LogicalName".into(), json!(attribute.logical_name));
    out.insert(
        "SchemaName".into(),
        json!(schema_name(&attribute.logical_name)),
    );
    out.insert("EntityLogicalName".into(), json!(entity.logical_name));
    out.insert("AttributeType".into(), json!(attribute.attr_type.name()));
    out.insert(
        "AttributeTypeName".into(),
        json!({ "Value": format!("{}Type", attribute.attr_type.name()) }),
    );
    out.insert("IsCustomAttribute".into(), json!(attribute.custom));
    out.insert(
        "IsPrimaryId".into(),
        json!(attribute.logical_name == entity.primary_id),
    );
    out.insert(
        "IsPrimaryName".into(),
        json!(attribute.logical_name == entity.primary_name),
    );
    out.insert("IsValidForCreate".into(), json!(attribute.valid_for_create));
    out.insert("IsValidForUpdate".into(), json!(attribute.valid_for_update));
    out.insert("IsValidForRead".into(), json!(true));
    out.insert("DisplayName".into(), label(&attribute.display_name));
    out.insert(
        "RequiredLevel".into(),
        json!({
            "Value": attribute.required,
            "CanBeChanged": attribute.required != "SystemRequired",
            "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
        }),
    );
    if attribute.attr_type.is_lookup() {
        out.insert("Targets".into(), json!(attribute.targets));
    }
    if attribute.max_length > 0 {
        out.insert("MaxLength".into(), json!(attribute.max_length));
    }
    if attribute.attr_type == AttrType::Money {
        out.insert("Precision".into(), json!(super::store::MONEY_PRECISION));
        out.insert("PrecisionSource".into(), json!(2));
        out.insert("MinValue".into(), json!(-super::store::MONEY_MAX));
        out.insert("MaxValue".into(), json!(super::store::MONEY_MAX));
    }
    if let Some((min, max)) = attribute.range {
        out.insert("MinValue".into(), json!(min));
        out.insert("MaxValue".into(), json!(max));
    }
    if attribute.attr_type == AttrType::DateOnly {
        out.insert("Format".into(), json!("DateOnly"));
    } else if attribute.attr_type == AttrType::DateTime {
        out.insert("Format".into(), json!("DateAndTime"));
    }
    out
}

/// Keeps the `$select`ed properties (and the always-present `@odata.type` and `MetadataId`).
fn project(
    mut item: Map<String, Value>,
    select: Option<&[String]>,
    type_name: &str,
) -> Result<Map<String, Value>, ApiError> {
    let Some(names) = select else {
        return Ok(item);
    };
    for name in names {
        if !item.contains_key(name) && name != "OptionSet" {
            return Err(ApiError::UnknownProperty {
                property: name.clone(),
                entity: type_name.to_owned(),
            });
        }
    }
    item.retain(|key, _| {
        key == "@odata.type" || key == "MetadataId" || names.iter().any(|name| name == key)
    });
    Ok(item)
}

/// Metadata query options.
#[derive(Debug, Default)]
pub(crate) struct MetadataQuery {
    pub select: Option<Vec<String>>,
    pub filter: Option<filter::Expr>,
    /// `Some(inner $select)` when `$expand=OptionSet(...)` was asked for.
    pub expand_option_set: Option<Option<Vec<String>>>,
}

impl MetadataQuery {
    pub(crate) fn parse(pairs: &[(String, String)]) -> Result<MetadataQuery, ApiError> {
        let mut query = MetadataQuery::default();
        for (name, value) in pairs {
            match name.as_str() {
                "$select" => {
                    query.select = Some(
                        value
                            .split(',')
                            .map(|part| part.trim().to_owned())
                            .filter(|part| !part.is_empty())
                            .collect(),
                    );
                }
                "$filter" => query.filter = Some(filter::parse(value)?),
                "$expand" => {
                    let value = value.trim();
                    let Some(rest) = value.strip_prefix("OptionSet") else {
                        return Err(ApiError::UnknownProperty {
                            property: value.to_owned(),
                            entity: "AttributeMetadata".to_owned(),
                        });
                    };
                    let inner = rest
                        .trim()
                        .strip_prefix('(')
                        .and_then(|inner| inner.strip_suffix(')'))
                        .and_then(|inner| inner.trim().strip_prefix("$select="))
                        .map(|names| {
                            names
                                .split(',')
                                .map(|part| part.trim().to_owned())
                                .collect::<Vec<_>>()
                        });
                    query.expand_option_set = Some(inner);
                }
                other if other.starts_with('$') => {
                    return Err(ApiError::UnsupportedOption(other.to_owned()));
                }
                _ => {}
            }
        }
        Ok(query)
    }

    fn keep(&self, item: &Map<String, Value>) -> bool {
        let Some(expr) = &self.filter else {
            return true;
        };
        let untyped = Entity {
            logical_name: "metadata",
            entity_set: "metadata",
            display_name: "",
            primary_id: "",
            primary_name: "",
            object_type_code: 0,
            is_activity: false,
            attributes: Vec::new(),
        };
        filter::matches(expr, &untyped, item)
    }
}

/// `GET EntityDefinitions`.
pub(crate) fn entity_list(
    entities: &[&Entity],
    query: &MetadataQuery,
) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for entity in entities {
        let item = entity_json(entity);
        if query.keep(&item) {
            out.push(Value::Object(project(
                item,
                query.select.as_deref(),
                "EntityMetadata",
            )?));
        }
    }
    Ok(out)
}

/// `GET EntityDefinitions(LogicalName='x')/Attributes[/Microsoft.Dynamics.CRM.TypeName]`.
pub(crate) fn attribute_list(
    entity: &Entity,
    cast: Option<&str>,
    query: &MetadataQuery,
) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for attribute in &entity.attributes {
        if cast.is_some_and(|cast| cast != attribute.attr_type.metadata_type()) {
            continue;
        }
        let item = attribute_json(entity, attribute);
        if !query.keep(&item) {
            continue;
        }
        let mut item = project(item, query.select.as_deref(), "AttributeMetadata")?;
        if let Some(inner) = &query.expand_option_set {
            if !(attribute.attr_type.is_option_set() || attribute.attr_type == AttrType::Boolean) {
                return Err(ApiError::UnknownProperty {
                    property: "OptionSet".to_owned(),
                    entity: "AttributeMetadata".to_owned(),
                });
            }
            item.insert(
                "OptionSet".into(),
                option_set(entity, attribute, inner.as_deref()),
            );
        }
        out.push(Value::Object(item));
    }
    Ok(out)
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The `$metadata` CSDL document.
pub(crate) fn csdl(entities: &[&Entity]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\n<edmx:DataServices>\n<Schema Namespace=\"Microsoft.Dynamics.CRM\" Alias=\"mscrm\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">\n<EntityType Name=\"crmbaseentity\" Abstract=\"true\"/>\n",
    );
    for entity in entities {
        xml.push_str(&format!(
            "<EntityType Name=\"{}\" BaseType=\"mscrm.crmbaseentity\">\n<Key><PropertyRef Name=\"{}\"/></Key>\n",
            entity.logical_name, entity.primary_id
        ));
        for attribute in &entity.attributes {
            xml.push_str(&format!(
                "<Property Name=\"{}\" Type=\"{}\"/>\n",
                xml_escape(&attribute.data_name()),
                attribute.attr_type.edm()
            ));
        }
        for attribute in entity.attributes.iter().filter(|a| a.attr_type.is_lookup()) {
            for target in &attribute.targets {
                let name = if attribute.targets.len() > 1 {
                    format!("{}_{target}", attribute.logical_name)
                } else {
                    attribute.logical_name.clone()
                };
                xml.push_str(&format!(
                    "<NavigationProperty Name=\"{}\" Type=\"mscrm.{target}\"><ReferentialConstraint Property=\"{}\" ReferencedProperty=\"{target}id\"/></NavigationProperty>\n",
                    xml_escape(&name),
                    xml_escape(&attribute.data_name())
                ));
            }
        }
        xml.push_str("</EntityType>\n");
    }
    xml.push_str("<EntityContainer Name=\"System\">\n");
    for entity in entities {
        xml.push_str(&format!(
            "<EntitySet Name=\"{}\" EntityType=\"Microsoft.Dynamics.CRM.{}\"/>\n",
            entity.entity_set, entity.logical_name
        ));
    }
    xml.push_str("</EntityContainer>\n</Schema>\n</edmx:DataServices>\n</edmx:Edmx>\n");
    xml
}
