//! Runs planned vendor requests: credentials, retries, timeouts.
