-- Stored overrides found invalid when re-validated against changed connectors: one row per
-- (scope, override version, connector revision), so each failure is recorded as an event once
-- however often and by however many processes the check runs. The row and its event are
-- written in one transaction.
CREATE TABLE invalid_override_reports (
    environment_id TEXT NOT NULL REFERENCES environments (id),
    provider TEXT NOT NULL,
    -- NULL for the environment layer.
    connection_id TEXT,
    -- The override version that failed.
    version INTEGER NOT NULL,
    -- The connector revision it failed against (`meta.revision`).
    connector_revision TEXT NOT NULL,
    -- The `override.invalid` event recorded for it.
    event_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    FOREIGN KEY (connection_id, environment_id, provider)
        REFERENCES connections (id, environment_id, provider) ON DELETE CASCADE
) STRICT;

CREATE UNIQUE INDEX invalid_override_reports_once
    ON invalid_override_reports
        (environment_id, provider, COALESCE(connection_id, ''), version, connector_revision);

CREATE INDEX invalid_override_reports_connection
    ON invalid_override_reports (connection_id, environment_id, provider)
    WHERE connection_id IS NOT NULL;
