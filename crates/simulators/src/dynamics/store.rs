//! The simulated organisation's data: one table per entity, records keyed by GUID.
//!
//! Records hold their column values under the names the Web API shows (`_x_value` for
//! lookups), the entity each lookup points at, and a row version that backs `@odata.etag`
//! (one counter for the whole organisation, bumped by every write). Rows sit in a `BTreeMap`
//! so they iterate in ascending GUID order, the default order of a query. Deletes are hard,
//! as in Dataverse. This module also turns write bodies (including `@odata.bind` lookups) into
//! column changes and renders records with the annotations a caller asked for.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::filter::stored_instant;
use super::schema::{AttrType, Attribute, CURRENCY_ID, CURRENCY_NAME, Entity};

/// One stored record.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub values: Map<String, Value>,
    /// Entity logical name each lookup column (by data name) points at.
    pub lookup_types: BTreeMap<String, String>,
    pub version: u64,
}

/// One table and its records.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub entity: Entity,
    pub rows: BTreeMap<String, Row>,
}

/// Everything the organisation holds.
#[derive(Debug)]
pub(crate) struct Db {
    pub tables: Vec<Table>,
    last_version: u64,
    /// The systemuser the API caller acts as: the default owner of what it creates.
    pub caller_id: String,
}

/// Formats an instant as Dataverse does: seconds precision, `Z`.
pub(crate) fn format_instant(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The current time as a stored value.
pub(crate) fn now_text() -> String {
    format_instant(Utc::now())
}

/// Which annotations a caller asked for in `Prefer: odata.include-annotations`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Annotations {
    patterns: Vec<String>,
}

impl Annotations {
    pub(crate) fn parse(value: &str) -> Annotations {
        Annotations {
            patterns: value
                .split(',')
                .map(|pattern| pattern.trim().to_owned())
                .filter(|pattern| !pattern.is_empty())
                .collect(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether the annotation `name` (without `@`) was asked for.
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.patterns.iter().any(|pattern| {
            pattern == "*"
                || pattern == name
                || pattern
                    .strip_suffix('*')
                    .is_some_and(|prefix| name.starts_with(prefix))
        })
    }
}

const FORMATTED: &str = "OData.Community.Display.V1.FormattedValue";
const LOOKUP_NAME: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";
const NAVIGATION: &str = "Microsoft.Dynamics.CRM.associatednavigationproperty";

/// Column changes from a write body: values by data name and lookup targets.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub values: Map<String, Value>,
    pub lookup_types: BTreeMap<String, Option<String>>,
    /// A primary id given in a create body.
    pub id: Option<String>,
}

impl Db {
    pub(crate) fn new(tables: Vec<Table>) -> Db {
        Db {
            tables,
            last_version: 1_000_000,
            caller_id: String::new(),
        }
    }

    pub(crate) fn next_version(&mut self) -> u64 {
        self.last_version += 1;
        self.last_version
    }

    pub(crate) fn table_by_set(&self, entity_set: &str) -> Option<usize> {
        self.tables
            .iter()
            .position(|table| table.entity.entity_set == entity_set)
    }

    pub(crate) fn table_by_logical(&self, logical_name: &str) -> Option<usize> {
        self.tables
            .iter()
            .position(|table| table.entity.logical_name == logical_name)
    }

    /// The primary name of the record `id` of the entity `logical_name`.
    fn primary_name(&self, logical_name: &str, id: &str) -> Option<String> {
        if logical_name == "transactioncurrency" {
            return (id == CURRENCY_ID).then(|| CURRENCY_NAME.to_owned());
        }
        let table = &self.tables[self.table_by_logical(logical_name)?];
        let row = table.rows.get(id)?;
        row.values
            .get(table.entity.primary_name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    /// Renders a record as the Web API returns it: etag, the selected columns (all when
    /// `select` is `None`; the primary id always) and the asked-for annotations.
    pub(crate) fn render(
        &self,
        table_idx: usize,
        id: &str,
        select: Option<&[String]>,
        annotations: &Annotations,
    ) -> Option<Map<String, Value>> {
        let table = &self.tables[table_idx];
        let entity = &table.entity;
        let row = table.rows.get(id)?;
        let mut out = Map::new();
        out.insert(
            "@odata.etag".into(),
            json!(format!("W/\"{}\"", row.version)),
        );
        let formatted = annotations.wants(FORMATTED);
        let lookup_meta = annotations.wants(LOOKUP_NAME);
        let navigation = annotations.wants(NAVIGATION);
        let mut columns: Vec<&Attribute> = match select {
            Some(names) => names
                .iter()
                .filter_map(|name| entity.by_data_name(name))
                .collect(),
            None => entity.attributes.iter().collect(),
        };
        if !columns
            .iter()
            .any(|attribute| attribute.logical_name == entity.primary_id)
            && let Some(primary) = entity.by_logical_name(entity.primary_id)
        {
            columns.push(primary);
        }
        for attribute in columns {
            let name = attribute.data_name();
            let value = row.values.get(&name).cloned().unwrap_or(Value::Null);
            if !value.is_null() {
                let target = row.lookup_types.get(&name);
                if formatted && let Some(text) = self.formatted(attribute, &value, target) {
                    out.insert(format!("{name}@{FORMATTED}"), json!(text));
                }
                if let Some(target) = target {
                    if navigation {
                        out.insert(
                            format!("{name}@{NAVIGATION}"),
                            json!(navigation_property(entity, attribute, target)),
                        );
                    }
                    if lookup_meta {
                        out.insert(format!("{name}@{LOOKUP_NAME}"), json!(target));
                    }
                }
            }
            out.insert(name, value);
        }
        Some(out)
    }

    fn formatted(
        &self,
        attribute: &Attribute,
        value: &Value,
        target: Option<&String>,
    ) -> Option<String> {
        match attribute.attr_type {
            AttrType::Picklist | AttrType::State | AttrType::Status => {
                attribute.label(value.as_i64()?).map(str::to_owned)
            }
            AttrType::Boolean => {
                let flag = i64::from(value.as_bool()?);
                Some(
                    attribute
                        .label(flag)
                        .map_or_else(|| value.to_string(), str::to_owned),
                )
            }
            AttrType::Lookup | AttrType::Customer | AttrType::Owner => {
                self.primary_name(target?, value.as_str()?)
            }
            AttrType::Money => Some(format!("${}", group_thousands(value.as_f64()?, 2))),
            AttrType::Integer => Some(group_thousands(value.as_f64()?, 0)),
            AttrType::DateTime => {
                let instant = stored_instant(value.as_str()?)?;
                Some(instant.format("%-m/%-d/%Y %-I:%M %p").to_string())
            }
            AttrType::DateOnly => {
                let instant = stored_instant(value.as_str()?)?;
                Some(instant.format("%-m/%-d/%Y").to_string())
            }
            _ => None,
        }
    }

    /// Turns a POST or PATCH body into column changes.
    ///
    /// Read-only columns (`fullname`, `createdon`, …) are ignored, as Dataverse ignores them;
    /// unknown properties, wrong JSON types, out-of-range option values, over-long text and
    /// bindings to missing records are rejected.
    pub(crate) fn changes(
        &self,
        table_idx: usize,
        body: &Map<String, Value>,
        create: bool,
    ) -> Result<Changes, ApiError> {
        let entity = &self.tables[table_idx].entity;
        let mut changes = Changes::default();
        for (key, value) in body {
            if let Some(navigation) = key.strip_suffix("@odata.bind") {
                self.bind(entity, navigation, value, &mut changes)?;
                continue;
            }
            if key.contains('@') {
                continue;
            }
            let unknown = || ApiError::UnknownWriteProperty {
                property: key.clone(),
                entity: entity.logical_name.to_owned(),
            };
            let attribute = entity.by_logical_name(key).ok_or_else(unknown)?;
            if attribute.attr_type.is_lookup() {
                return Err(ApiError::Payload {
                    entity_set: entity.entity_set.to_owned(),
                    detail: "Does not support untyped value in non-open type.".to_owned(),
                });
            }
            if attribute.logical_name == entity.primary_id {
                if create {
                    let id = value
                        .as_str()
                        .and_then(|text| uuid::Uuid::parse_str(text).ok())
                        .ok_or_else(|| payload_error(entity, value, "Edm.Guid"))?;
                    changes.id = Some(id.to_string());
                }
                continue;
            }
            let writable = if create {
                attribute.valid_for_create
            } else {
                attribute.valid_for_update
            };
            if !writable {
                continue;
            }
            let converted = convert(entity, attribute, value)?;
            changes.values.insert(attribute.data_name(), converted);
        }
        Ok(changes)
    }

    fn bind(
        &self,
        entity: &Entity,
        navigation: &str,
        value: &Value,
        changes: &mut Changes,
    ) -> Result<(), ApiError> {
        let undeclared = || ApiError::UnknownWriteProperty {
            property: navigation.to_owned(),
            entity: entity.logical_name.to_owned(),
        };
        let attribute = entity
            .attributes
            .iter()
            .filter(|attribute| attribute.attr_type.is_lookup())
            .find(|attribute| {
                navigation == attribute.logical_name
                    || navigation.starts_with(&format!("{}_", attribute.logical_name))
            })
            .ok_or_else(undeclared)?;
        let data_name = attribute.data_name();
        if value.is_null() {
            changes.values.insert(data_name.clone(), Value::Null);
            changes.lookup_types.insert(data_name, None);
            return Ok(());
        }
        let reference = value.as_str().ok_or_else(undeclared)?;
        let (target, id) = self.resolve_reference(reference).ok_or_else(|| {
            ApiError::Payload {
                entity_set: entity.entity_set.to_owned(),
                detail: format!(
                    "An error occurred while processing the @odata.bind value '{reference}': the URI is not a valid entity reference."
                ),
            }
        })?;
        let suffix = navigation
            .strip_prefix(&attribute.logical_name)
            .and_then(|rest| rest.strip_prefix('_'));
        let named_target = suffix.is_none_or(|suffix| {
            suffix == target || suffix == format!("{target}_{}", entity.logical_name)
        });
        if !attribute.targets.contains(&target.as_str()) || !named_target {
            return Err(undeclared());
        }
        if self.primary_name(&target, &id).is_none() && !self.exists(&target, &id) {
            return Err(ApiError::RecordNotFound { entity: target, id });
        }
        if attribute.logical_name == "objectid" {
            changes
                .values
                .insert("objecttypecode".into(), json!(target.clone()));
        }
        changes.values.insert(data_name.clone(), json!(id));
        changes.lookup_types.insert(data_name, Some(target));
        Ok(())
    }

    fn exists(&self, logical_name: &str, id: &str) -> bool {
        self.table_by_logical(logical_name)
            .is_some_and(|idx| self.tables[idx].rows.contains_key(id))
    }

    /// Reads `/accounts(guid)`, `accounts(guid)` or an absolute URL ending so.
    fn resolve_reference(&self, reference: &str) -> Option<(String, String)> {
        let tail = reference
            .rsplit_once("/api/data/v9.2/")
            .map_or(reference, |(_, tail)| tail)
            .trim_start_matches('/');
        let (set, rest) = tail.split_once('(')?;
        let id = rest.strip_suffix(')')?;
        let id = uuid::Uuid::parse_str(id).ok()?.to_string();
        if set == "transactioncurrencies" {
            return Some(("transactioncurrency".to_owned(), id));
        }
        let table = self.table_by_set(set)?;
        Some((self.tables[table].entity.logical_name.to_owned(), id))
    }

    /// Inserts a record built from `changes`, filling Dataverse's defaults; returns its id.
    pub(crate) fn create(&mut self, table_idx: usize, changes: Changes, id: String) -> String {
        let now = now_text();
        let version = self.next_version();
        let caller = self.caller_id.clone();
        let table = &mut self.tables[table_idx];
        let entity = &table.entity;
        let mut row = Row {
            values: Map::new(),
            lookup_types: BTreeMap::new(),
            version,
        };
        for attribute in &entity.attributes {
            row.values.insert(attribute.data_name(), Value::Null);
        }
        row.values.insert(entity.primary_id.to_owned(), json!(id));
        row.values.insert("createdon".into(), json!(now));
        if let Some(state) = entity.by_logical_name("statecode") {
            row.values
                .insert("statecode".into(), json!(state.options[0].0));
        }
        if let Some(status) = entity.by_logical_name("statuscode") {
            row.values
                .insert("statuscode".into(), json!(status.options[0].0));
        }
        if entity.by_logical_name("prioritycode").is_some() {
            row.values.insert("prioritycode".into(), json!(1));
        }
        if entity.by_logical_name("ownerid").is_some() {
            row.values.insert("_ownerid_value".into(), json!(caller));
            row.lookup_types
                .insert("_ownerid_value".into(), "systemuser".into());
        }
        if entity.by_logical_name("transactioncurrencyid").is_some() {
            row.values
                .insert("_transactioncurrencyid_value".into(), json!(CURRENCY_ID));
            row.lookup_types.insert(
                "_transactioncurrencyid_value".into(),
                "transactioncurrency".into(),
            );
        }
        apply(entity, &mut row, changes, &now);
        table.rows.insert(id.clone(), row);
        id
    }

    /// Applies `changes` to an existing record and bumps its version.
    pub(crate) fn update(&mut self, table_idx: usize, id: &str, changes: Changes) {
        let version = self.next_version();
        let table = &mut self.tables[table_idx];
        if let Some(row) = table.rows.get_mut(id) {
            row.version = version;
            apply(&table.entity, row, changes, &now_text());
        }
    }
}

fn apply(entity: &Entity, row: &mut Row, changes: Changes, now: &str) {
    for (name, value) in changes.values {
        row.values.insert(name, value);
    }
    for (name, target) in changes.lookup_types {
        match target {
            Some(target) => row.lookup_types.insert(name, target),
            None => row.lookup_types.remove(&name),
        };
    }
    row.values.insert("modifiedon".into(), json!(now));
    derive(entity, row);
}

/// Recomputes `fullname` from the first and last names.
pub(crate) fn derive(entity: &Entity, row: &mut Row) {
    if entity.by_logical_name("fullname").is_none() {
        return;
    }
    let part = |name: &str| {
        row.values
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    let full = [part("firstname"), part("lastname")]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    row.values.insert("fullname".into(), json!(full));
}

fn payload_error(entity: &Entity, value: &Value, edm: &str) -> ApiError {
    let shown = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    ApiError::Payload {
        entity_set: entity.entity_set.to_owned(),
        detail: format!("Cannot convert the literal '{shown}' to the expected type '{edm}'."),
    }
}

/// The decimal places Dataverse keeps of a money column (its `Precision`, from the
/// organisation's currency precision): more are rounded half away from zero.
pub(crate) const MONEY_PRECISION: u32 = 2;
/// The largest magnitude of a money column (`MaxValue`; `MinValue` is its negation): a value
/// beyond it is refused.
pub(crate) const MONEY_MAX: i64 = 922_337_203_685_477;

/// Converts one JSON input value for `attribute`; a money value is kept exactly, rounded to
/// [`MONEY_PRECISION`] as Dataverse stores it.
fn convert(entity: &Entity, attribute: &Attribute, value: &Value) -> Result<Value, ApiError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let attr_type = attribute.attr_type;
    let bad = || payload_error(entity, value, attr_type.edm());
    match attr_type {
        AttrType::String | AttrType::Memo => {
            let text = value.as_str().ok_or_else(bad)?;
            if attribute.max_length > 0 && text.chars().count() > attribute.max_length {
                return Err(ApiError::TooLong {
                    attribute: attribute.logical_name.clone(),
                    entity: entity.logical_name.to_owned(),
                    max: attribute.max_length,
                });
            }
            Ok(json!(text))
        }
        AttrType::Integer | AttrType::Picklist | AttrType::State | AttrType::Status => {
            let number = value
                .as_f64()
                .filter(|number| number.fract() == 0.0)
                .ok_or_else(bad)? as i64;
            // An integer column holds an Int32 (another number is not its type), within the
            // column's own MinValue and MaxValue.
            if attr_type == AttrType::Integer
                && let Some((min, max)) = attribute.range
            {
                if i32::try_from(number).is_err() {
                    return Err(bad());
                }
                if !(min..=max).contains(&number) {
                    return Err(ApiError::OutOfRange {
                        value: number.to_string(),
                        attribute: attribute.logical_name.clone(),
                        entity: entity.logical_name.to_owned(),
                        min,
                        max,
                    });
                }
            }
            if attr_type != AttrType::Integer && attribute.label(number).is_none() {
                return Err(ApiError::OptionOutOfRange {
                    value: number,
                    attribute: attribute.logical_name.clone(),
                    entity: entity.logical_name.to_owned(),
                    accepted: attribute
                        .options
                        .iter()
                        .map(|(option, _)| option.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                });
            }
            Ok(json!(number))
        }
        AttrType::Money => {
            let Value::Number(number) = value else {
                return Err(bad());
            };
            let amount = crate::decimal::parse(number)
                .ok_or_else(bad)?
                .round_dp_with_strategy(MONEY_PRECISION, RoundingStrategy::MidpointAwayFromZero);
            if amount.abs() > Decimal::from(MONEY_MAX) {
                return Err(ApiError::OutOfRange {
                    value: number.to_string(),
                    attribute: attribute.logical_name.clone(),
                    entity: entity.logical_name.to_owned(),
                    min: -MONEY_MAX,
                    max: MONEY_MAX,
                });
            }
            Ok(crate::decimal::json(amount))
        }
        AttrType::Decimal | AttrType::Double => {
            let number = value.as_f64().ok_or_else(bad)?;
            Ok(json!(number))
        }
        AttrType::Boolean => Ok(json!(value.as_bool().ok_or_else(bad)?)),
        AttrType::DateTime => {
            let instant = value.as_str().and_then(stored_instant).ok_or_else(bad)?;
            Ok(json!(format_instant(instant)))
        }
        AttrType::DateOnly => {
            let text = value.as_str().ok_or_else(bad)?;
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .or_else(|| stored_instant(text).map(|instant| instant.date_naive()))
                .ok_or_else(bad)?;
            Ok(json!(date.format("%Y-%m-%d").to_string()))
        }
        AttrType::Uniqueidentifier
        | AttrType::Lookup
        | AttrType::Customer
        | AttrType::Owner
        | AttrType::EntityName => Err(bad()),
    }
}

/// The single-valued navigation property a lookup value was set through.
fn navigation_property(entity: &Entity, attribute: &Attribute, target: &str) -> String {
    match attribute.attr_type {
        AttrType::Customer => format!("{}_{target}", attribute.logical_name),
        AttrType::Lookup if attribute.targets.len() > 1 => {
            if entity.is_activity {
                format!(
                    "{}_{target}_{}",
                    attribute.logical_name, entity.logical_name
                )
            } else {
                format!("{}_{target}", attribute.logical_name)
            }
        }
        _ => attribute.logical_name.clone(),
    }
}

/// `1234567.5` → `1,234,567.50` with `decimals` places.
fn group_thousands(number: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, number.abs());
    let (whole, fraction) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (idx, ch) in whole.chars().enumerate() {
        if idx > 0 && (whole.len() - idx) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let sign = if number < 0.0 { "-" } else { "" };
    match fraction {
        Some(fraction) => format!("{sign}{grouped}.{fraction}"),
        None => format!("{sign}{grouped}"),
    }
}
