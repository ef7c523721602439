-- Environments, API keys, connections and the discovered-field cache.
-- Timestamps are INTEGER microseconds since the Unix epoch, UTC: exact, compact and ordered.
-- JSON columns are TEXT holding the serialized value, kept as written so key order survives.

CREATE TABLE environments (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    environment_id TEXT NOT NULL REFERENCES environments (id),
    -- SHA-256 of the full key, lowercase hex; the key itself is never stored.
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX api_keys_environment_id ON api_keys (environment_id);

CREATE TABLE connections (
    id TEXT PRIMARY KEY NOT NULL,
    environment_id TEXT NOT NULL REFERENCES environments (id),
    provider TEXT NOT NULL,
    status TEXT NOT NULL,
    account TEXT NOT NULL,
    -- A secrets::Sealed envelope (AES-256-GCM); plaintext credentials are never written.
    credentials BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE INDEX connections_environment_created ON connections (environment_id, created_at, id);

CREATE TABLE discovered_fields (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    resource TEXT NOT NULL,
    fields TEXT NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (connection_id, resource)
) STRICT;
