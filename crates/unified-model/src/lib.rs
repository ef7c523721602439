//! The unified objects of Crosswalk's public API: Rust types and their JSON Schemas.
