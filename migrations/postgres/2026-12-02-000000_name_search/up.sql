-- Token names case-folded for Unicode (composed, then lower-cased, in the
-- server): SQLite's lower() folds ASCII only, so search reads this column.
-- Rows made before it are filled in by the server at start.
ALTER TABLE api_tokens ADD COLUMN name_folded TEXT NOT NULL DEFAULT '';
CREATE INDEX api_tokens_owner_name ON api_tokens (owner_id, name_folded);
