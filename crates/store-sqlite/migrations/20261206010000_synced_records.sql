-- The record store and change feed of syncs (store::SyncPage).
-- The last sequence number handed out in each environment's change feed.
ALTER TABLE environments ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE synced_records (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    object TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    record TEXT NOT NULL,
    hash TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (connection_id, object, remote_id)
) STRICT;

-- A change outlives its connection: a feed reader still sees what happened before the delete.
CREATE TABLE changes (
    environment_id TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    connection_id TEXT NOT NULL,
    object TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    record TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (environment_id, seq)
) STRICT;

CREATE INDEX changes_connection ON changes (environment_id, connection_id, seq);
CREATE INDEX changes_created ON changes (created_at);

CREATE TABLE sync_progress (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    object TEXT NOT NULL,
    checkpoint TEXT,
    pages INTEGER NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (connection_id, object)
) STRICT;
