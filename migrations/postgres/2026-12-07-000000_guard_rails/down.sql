ALTER TABLE organisations DROP COLUMN lifetime_applies_to_existing;
ALTER TABLE organisations DROP COLUMN inactive_after_days;
ALTER TABLE organisations DROP COLUMN tokens_valid_after;
ALTER TABLE members DROP COLUMN tokens_valid_after;
