-- Outbound webhooks (store::WebhookEndpoint): endpoints, the outbox written with each change or
-- event, the messages fanned out to endpoints, and every delivery attempt.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    environment_id TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    description TEXT,
    event_types JSON NOT NULL,
    connection_ids JSON NOT NULL,
    include_record BIGINT NOT NULL,
    enabled BIGINT NOT NULL,
    disabled_reason TEXT,
    -- secrets::Sealed envelopes; the plaintext secret is never written.
    secret BYTEA NOT NULL,
    previous_secret BYTEA,
    previous_secret_until TIMESTAMPTZ,
    failing_since TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX webhook_endpoints_environment ON webhook_endpoints (environment_id, created_at, id);

-- Written in the transaction of the change or event it announces, only while the environment
-- has an endpoint; moved to webhook_messages by the delivery jobs.
CREATE TABLE webhook_outbox (
    id BIGSERIAL PRIMARY KEY,
    environment_id TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    connection_id TEXT,
    event_type TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    change_seq BIGINT,
    data JSON NOT NULL,
    record JSON,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX webhook_outbox_environment ON webhook_outbox (environment_id, id);

CREATE TABLE webhook_messages (
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    environment_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    seq BIGINT NOT NULL,
    change_seq BIGINT,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- What a delivery run scans: an endpoint's pending messages, due first; and each key's head.
CREATE INDEX webhook_messages_pending ON webhook_messages (endpoint_id, next_attempt_at, seq)
    WHERE status = 'pending';
CREATE INDEX webhook_messages_key ON webhook_messages (endpoint_id, ordering_key, seq)
    WHERE status = 'pending';
CREATE INDEX webhook_messages_status ON webhook_messages (endpoint_id, status, created_at);

CREATE TABLE webhook_attempts (
    id BIGSERIAL PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    message_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    status_code BIGINT,
    error TEXT,
    duration_ms BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
