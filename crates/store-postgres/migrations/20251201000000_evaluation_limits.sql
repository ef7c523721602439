-- An environment's limits on the evaluation of its mappings, as a JSON object of the limits it
-- sets ({}: every limit at its default). Validated by the operations before it is stored.
ALTER TABLE environments ADD COLUMN evaluation_limits JSON NOT NULL DEFAULT '{}';
