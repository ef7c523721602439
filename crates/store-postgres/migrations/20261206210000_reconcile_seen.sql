-- The reconciliation pass that last saw each stored record (store::SyncPage::seen): a pass's
-- seen set lives in the store, so a pass interrupted part-way goes on after a restart.
ALTER TABLE synced_records ADD COLUMN seen_pass TEXT;
