//! JSONata mappings behind a small trait of ours, with the native helper functions connectors use.
