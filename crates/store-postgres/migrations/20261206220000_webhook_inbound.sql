-- Inbound webhooks (store::WebhookIngress, issue 17): each connection's ingress (the hash of the
-- token in its URL, never the token; the verification secret sealed), the inbox of accepted
-- deliveries, the vendor event ids seen (7 days), and sampled verification failures.
CREATE TABLE webhook_ingresses (
    connection_id TEXT PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    environment_id TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    secret BYTEA,
    created_at TIMESTAMPTZ NOT NULL,
    last_received_at TIMESTAMPTZ,
    failures BIGINT NOT NULL DEFAULT 0,
    last_failure_at TIMESTAMPTZ,
    last_failure TEXT
);

CREATE TABLE webhook_inbox (
    id BIGSERIAL PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    environment_id TEXT NOT NULL,
    method TEXT NOT NULL,
    uri TEXT NOT NULL,
    headers JSON NOT NULL,
    body BYTEA NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    status TEXT NOT NULL,
    events BIGINT NOT NULL DEFAULT 0,
    duplicates BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    processed_at TIMESTAMPTZ
);

CREATE INDEX webhook_inbox_pending ON webhook_inbox (connection_id, id) WHERE status = 'pending';
CREATE INDEX webhook_inbox_connection ON webhook_inbox (connection_id, id);

CREATE TABLE webhook_event_ids (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    -- The delivery that first named it: processing that delivery again still finds it new.
    inbox_id BIGINT NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (connection_id, event_id)
);

CREATE TABLE webhook_verification_failures (
    id BIGSERIAL PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    at TIMESTAMPTZ NOT NULL,
    code TEXT NOT NULL,
    detail TEXT NOT NULL
);

CREATE INDEX webhook_verification_failures_connection
    ON webhook_verification_failures (connection_id, id);
