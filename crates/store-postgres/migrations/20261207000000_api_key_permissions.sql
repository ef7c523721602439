-- API key permissions (issue 20): the connections a key reaches (a JSON array of connection
-- ids; NULL for every connection of its environment), whether it may only read, and whether it
-- may delete records and connections. Keys stored before this migration keep every right they
-- had: every connection, reads and writes, deletes.
ALTER TABLE api_keys ADD COLUMN connection_ids JSON;
ALTER TABLE api_keys ADD COLUMN read_only BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN allow_deletes BIGINT NOT NULL DEFAULT 1;
