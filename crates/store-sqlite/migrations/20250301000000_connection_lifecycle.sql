-- The account-connection lifecycle: token expiry and refresh leases on connections, branding on
-- environments, OAuth apps, Connect sessions, single-use OAuth states and events.
-- Same conventions as the initial schema: INTEGER microseconds, JSON as TEXT, sealed BLOBs.

-- When the access token expires (NULL: unknown or never), and the refresh lease: who holds it,
-- until when, and the fencing token, which only ever grows.
ALTER TABLE connections ADD COLUMN credentials_expires_at INTEGER;
ALTER TABLE connections ADD COLUMN refresh_lease_holder TEXT;
ALTER TABLE connections ADD COLUMN refresh_lease_until INTEGER;
ALTER TABLE connections ADD COLUMN refresh_fence INTEGER NOT NULL DEFAULT 0;

CREATE INDEX connections_credentials_expires_at ON connections (credentials_expires_at, id)
    WHERE credentials_expires_at IS NOT NULL;

-- The parent key of the (connection_id, environment_id) references below, which make a session
-- or state name only a connection of its own environment.
CREATE UNIQUE INDEX connections_id_environment ON connections (id, environment_id);

ALTER TABLE environments ADD COLUMN branding_display_name TEXT;
ALTER TABLE environments ADD COLUMN branding_logo_url TEXT;
ALTER TABLE environments ADD COLUMN branding_primary_color TEXT;

CREATE TABLE oauth_apps (
    environment_id TEXT NOT NULL REFERENCES environments (id),
    provider TEXT NOT NULL,
    client_id TEXT NOT NULL,
    -- A secrets::Sealed envelope of the client secret.
    client_secret BLOB NOT NULL,
    -- JSON array of strings.
    redirect_uris TEXT NOT NULL,
    -- JSON array of strings, or NULL for the connector's default scopes.
    scopes TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (environment_id, provider)
) STRICT;

CREATE TABLE connect_sessions (
    -- SHA-256 of the link token, lowercase hex; the token itself is never stored.
    token_hash TEXT PRIMARY KEY NOT NULL,
    environment_id TEXT NOT NULL REFERENCES environments (id),
    end_user_id TEXT NOT NULL,
    provider TEXT,
    redirect_url TEXT NOT NULL,
    connection_id TEXT,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    FOREIGN KEY (connection_id, environment_id)
        REFERENCES connections (id, environment_id) ON DELETE CASCADE
) STRICT;

CREATE INDEX connect_sessions_connection ON connect_sessions (connection_id, environment_id);

CREATE TABLE oauth_states (
    -- SHA-256 of the OAuth `state` parameter, lowercase hex.
    state_hash TEXT PRIMARY KEY NOT NULL,
    environment_id TEXT NOT NULL REFERENCES environments (id),
    provider TEXT NOT NULL,
    scheme TEXT NOT NULL,
    session_token_hash TEXT NOT NULL,
    -- A secrets::Sealed envelope of the PKCE code verifier, or NULL without PKCE.
    code_verifier BLOB,
    redirect_uri TEXT NOT NULL,
    connection_id TEXT,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    FOREIGN KEY (connection_id, environment_id)
        REFERENCES connections (id, environment_id) ON DELETE CASCADE
) STRICT;

CREATE INDEX oauth_states_connection ON oauth_states (connection_id, environment_id);

-- No reference to connections: the audit trail outlives the connections it is about.
CREATE TABLE events (
    id TEXT PRIMARY KEY NOT NULL,
    environment_id TEXT NOT NULL REFERENCES environments (id),
    connection_id TEXT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX events_environment_created ON events (environment_id, created_at, id);
CREATE INDEX events_connection_created ON events (connection_id, created_at, id)
    WHERE connection_id IS NOT NULL;
