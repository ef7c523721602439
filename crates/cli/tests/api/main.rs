//! Black-box tests of the whole product: the API on SQLite against the vendor simulators,
//! started in-process on loopback port 0, driven over HTTP like a customer's backend would.
//! What every vendor must do is checked once per vendor by the cross-vendor suite
//! (`tests/vendors`); these are the tests of one vendor's particulars and of the platform.

mod helpers;
mod keys;

mod call_path;
mod connection_documents;
mod connections;
mod demo;
mod documented_input;
mod errors;
mod evaluation;
mod fields;
mod hibob;
mod hris;
mod hubspot_portals;
mod idempotency;
mod key_permissions;
mod listing;
mod oauth;
mod override_checks;
mod overrides;
mod paging;
mod personio;
mod phones;
mod pipedrive_fields;
mod problems;
mod ratelimit_headers;
mod resilience;
mod security;
mod security_connect;
mod security_keys;
mod shutdown;
mod sync;
mod sync_bulk;
mod sync_control;
mod sync_deletes;
mod sync_faults;
mod vendor_values;
mod writes;
