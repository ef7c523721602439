-- The API key lifecycle: an optional label, an optional expiry (set at creation or shortened by
-- a rotation), revocation, and when the key was last used (written at most about once a minute
-- per key).
ALTER TABLE api_keys ADD COLUMN name TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE api_keys ADD COLUMN revoked_at TIMESTAMPTZ;
ALTER TABLE api_keys ADD COLUMN last_used_at TIMESTAMPTZ;
