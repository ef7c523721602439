-- Versioned connector overrides: per environment and provider (the environment layer, NULL
-- connection_id) and per connection (the connection layer). Every write appends a version;
-- nothing is updated in place, so any earlier version can be written again.
-- Same conventions as before: INTEGER microseconds, JSON as TEXT, STRICT tables.

-- The parent key of the (connection_id, environment_id, provider) reference below, which makes a
-- connection-layer override name only a connection of its own environment and provider.
CREATE UNIQUE INDEX connections_id_environment_provider
    ON connections (id, environment_id, provider);

CREATE TABLE connector_overrides (
    environment_id TEXT NOT NULL REFERENCES environments (id),
    provider TEXT NOT NULL,
    -- NULL for the environment layer.
    connection_id TEXT,
    -- 1, 2, 3… within one (environment_id, provider, connection_id) scope.
    version INTEGER NOT NULL,
    -- The override document as JSON text; NULL marks a removal (a tombstone version).
    document TEXT,
    -- The connector revision the document was written against.
    revision TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    FOREIGN KEY (connection_id, environment_id, provider)
        REFERENCES connections (id, environment_id, provider) ON DELETE CASCADE
) STRICT;

-- One row per version of a scope; '' stands for the environment layer, since NULLs never collide
-- in a unique index. Queries name the same expression so they use this index.
CREATE UNIQUE INDEX connector_overrides_scope_version
    ON connector_overrides (environment_id, provider, COALESCE(connection_id, ''), version);

CREATE INDEX connector_overrides_connection
    ON connector_overrides (connection_id, environment_id, provider)
    WHERE connection_id IS NOT NULL;
