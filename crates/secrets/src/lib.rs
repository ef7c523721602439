//! Encryption at rest: keys, sealing and opening credentials, rotation.
