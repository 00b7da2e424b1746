-- "Revoke every token issued before now": a token created before its
-- owner's or its organisation's watermark stops, checked at use time.
ALTER TABLE members ADD COLUMN tokens_valid_after TIMESTAMP;
ALTER TABLE organisations ADD COLUMN tokens_valid_after TIMESTAMP;
-- Tokens unused this many days are revoked (NULL: never).
ALTER TABLE organisations ADD COLUMN inactive_after_days BIGINT;
-- The maximum lifetime also stops existing tokens that exceed it.
ALTER TABLE organisations ADD COLUMN lifetime_applies_to_existing BOOLEAN NOT NULL DEFAULT FALSE;
