-- Environments, API keys, connections and the discovered-field cache.
-- JSON columns are `json`, not `jsonb`: `json` keeps the text as written, so object key order
-- survives a round trip exactly as it does on SQLite. Nothing queries inside them.

CREATE TABLE environments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    environment_id TEXT NOT NULL REFERENCES environments (id),
    -- SHA-256 of the full key, lowercase hex; the key itself is never stored.
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX api_keys_environment_id ON api_keys (environment_id);

CREATE TABLE connections (
    id TEXT PRIMARY KEY,
    environment_id TEXT NOT NULL REFERENCES environments (id),
    provider TEXT NOT NULL,
    status TEXT NOT NULL,
    account JSON NOT NULL,
    -- A secrets::Sealed envelope (AES-256-GCM); plaintext credentials are never written.
    credentials BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX connections_environment_created ON connections (environment_id, created_at, id);

CREATE TABLE discovered_fields (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    resource TEXT NOT NULL,
    fields JSON NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (connection_id, resource)
);
