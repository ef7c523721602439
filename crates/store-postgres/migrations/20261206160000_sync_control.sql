-- Sync controls and visible state (store::JobControl, store::SyncState).
-- A paused job keeps its key, so a sync paused and asked for again is the same sync, and it is
-- not purged as a finished job.
DROP INDEX jobs_live_key;
CREATE UNIQUE INDEX jobs_live_key ON jobs (key) WHERE status IN ('queued', 'running', 'paused');
DROP INDEX jobs_finished;
CREATE INDEX jobs_finished ON jobs (updated_at) WHERE status NOT IN ('queued', 'running', 'paused');

-- How a sync stands, as its runs recorded: status, phase, and the last error (problem+json).
ALTER TABLE sync_progress ADD COLUMN status TEXT;
ALTER TABLE sync_progress ADD COLUMN phase TEXT;
ALTER TABLE sync_progress ADD COLUMN last_error JSON;

-- The syncs an environment starts for each new connection, as a JSON array.
ALTER TABLE environments ADD COLUMN default_syncs JSON NOT NULL DEFAULT '[]';
