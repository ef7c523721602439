-- Single-use Connect links: when a link made or re-authorised its connection (NULL while
-- unused), and how many OAuth sign-ins it has started (capped per link). Expiry indexes for the
-- purge of expired sessions and states.
ALTER TABLE connect_sessions ADD COLUMN consumed_at TIMESTAMPTZ;
ALTER TABLE connect_sessions ADD COLUMN oauth_starts BIGINT NOT NULL DEFAULT 0;

CREATE INDEX connect_sessions_expires_at ON connect_sessions (expires_at);
CREATE INDEX oauth_states_expires_at ON oauth_states (expires_at);
CREATE INDEX oauth_states_session ON oauth_states (session_token_hash);
