-- Per-token IP allow-list: CIDR ranges, comma-separated; empty allows any.
ALTER TABLE api_tokens ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';

-- Successful requests per token per UTC day, added to once a minute by each
-- instance from what it counted in memory.
CREATE TABLE token_usage (
    token_id BIGINT NOT NULL REFERENCES api_tokens (id),
    day DATE NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (token_id, day)
);
