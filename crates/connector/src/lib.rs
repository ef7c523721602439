//! Connector files: loading, validation, compilation, request planning and response reading. No IO.
