//! JSON Schemas of CRM records and write bodies, built once per object and cached (the
//! generation itself is [`crate::schema`]'s).

use std::sync::OnceLock;

use schemars::SchemaGenerator;
use serde_json::Value;

use super::{
    Company, Contact, CrmObject, Engagement, Lead, Note, Opportunity, Pipeline, Task, User,
};
use crate::schema::{build_record_schema, build_write_schema, of};

pub(super) fn record_schema(object: CrmObject) -> Value {
    static CACHE: [OnceLock<Value>; CrmObject::ALL.len()] = [const { OnceLock::new() }; 9];
    CACHE[object as usize]
        .get_or_init(|| build_record_schema(|generator| root_schema(object, generator)))
        .clone()
}

pub(super) fn write_schema(object: CrmObject) -> Value {
    static CACHE: [OnceLock<Value>; CrmObject::ALL.len()] = [const { OnceLock::new() }; 9];
    CACHE[object as usize]
        .get_or_init(|| {
            build_write_schema(
                &format!("crm.{}", object.slug()),
                object.record_name(),
                object.supports_writes(),
                |generator| root_schema(object, generator),
            )
        })
        .clone()
}

fn root_schema(object: CrmObject, generator: SchemaGenerator) -> Value {
    match object {
        CrmObject::Contacts => of::<Contact>(generator),
        CrmObject::Companies => of::<Company>(generator),
        CrmObject::Opportunities => of::<Opportunity>(generator),
        CrmObject::Leads => of::<Lead>(generator),
        CrmObject::Notes => of::<Note>(generator),
        CrmObject::Tasks => of::<Task>(generator),
        CrmObject::Engagements => of::<Engagement>(generator),
        CrmObject::Users => of::<User>(generator),
        CrmObject::Pipelines => of::<Pipeline>(generator),
    }
}
