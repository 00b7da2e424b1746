-- Console sessions: the cookie carries a random id; only its SHA-256 is kept.
CREATE TABLE sessions (
    id_hash BYTEA PRIMARY KEY NOT NULL,
    member_id BIGINT NOT NULL REFERENCES members (id),
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    ip TEXT,
    user_agent TEXT NOT NULL DEFAULT '',
    announce BOOLEAN NOT NULL DEFAULT TRUE,
    flash TEXT
);
CREATE INDEX sessions_member ON sessions (member_id);

-- Sign-in limits are kept per client address (IPv4 /32, IPv6 /64).
ALTER TABLE login_attempts ADD COLUMN ip_prefix TEXT NOT NULL DEFAULT '';
CREATE INDEX login_attempts_prefix ON login_attempts (ip_prefix, created_at);

-- Every token of a rotation chain names the chain's first token, so a chain
-- is revoked with one update however long it is. NULL: the token is first.
ALTER TABLE api_tokens ADD COLUMN chain_id BIGINT REFERENCES api_tokens (id);
CREATE INDEX api_tokens_chain ON api_tokens (chain_id);
-- Why a token stopped: manual, bulk, rotated, reuse, leak, policy, inactivity.
ALTER TABLE api_tokens ADD COLUMN revoked_reason TEXT;

WITH RECURSIVE chain(id, root) AS (
    SELECT id, id FROM api_tokens WHERE rotated_from IS NULL
    UNION ALL
    SELECT t.id, c.root FROM api_tokens t JOIN chain c ON t.rotated_from = c.id
)
UPDATE api_tokens
SET chain_id = chain.root
FROM chain
WHERE chain.id = api_tokens.id AND api_tokens.rotated_from IS NOT NULL;

UPDATE api_tokens SET revoked_reason = 'rotated' WHERE revoked_at IS NOT NULL AND replaced_by IS NOT NULL;
UPDATE api_tokens SET revoked_reason = 'manual' WHERE revoked_at IS NOT NULL AND replaced_by IS NULL;

-- Fixed-window counters shared by every instance (leak reports per address).
CREATE TABLE rate_limits (
    bucket TEXT PRIMARY KEY NOT NULL,
    window_start TIMESTAMP NOT NULL,
    hits BIGINT NOT NULL
);
