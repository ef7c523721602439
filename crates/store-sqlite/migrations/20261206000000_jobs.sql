-- The durable job queue (store::Job): leased to one worker at a time, fenced, retried.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    environment_id TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    connection_id TEXT REFERENCES connections (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    key TEXT,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    run_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    lease_holder TEXT,
    lease_until INTEGER,
    fence INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- At most one live job per key.
CREATE UNIQUE INDEX jobs_live_key ON jobs (key) WHERE status IN ('queued', 'running');
-- What a claim scans: the live jobs of a kind, due first.
CREATE INDEX jobs_due ON jobs (kind, run_at, id) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_environment_created ON jobs (environment_id, created_at, id);
CREATE INDEX jobs_connection ON jobs (connection_id) WHERE connection_id IS NOT NULL;
CREATE INDEX jobs_finished ON jobs (updated_at) WHERE status NOT IN ('queued', 'running');
