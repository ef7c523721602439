-- The first answer to a write made with an `Idempotency-Key`, kept for a day so a retry gets it
-- instead of writing again. `status` and `body` are NULL while the first request is in flight;
-- `expires_at` ends the in-flight lease, then the kept answer.
CREATE TABLE idempotency_keys (
    environment_id TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status BIGINT,
    body JSON,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (environment_id, connection_id, method, path, idempotency_key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (environment_id, expires_at);
