//! The `crosswalk` binary's library: settings, startup and the demo, shared by `main.rs` and
//! the black-box tests.

pub mod api_keys;
pub mod demo;
pub mod keys;
pub mod settings;
pub mod startup;
pub mod sync;
