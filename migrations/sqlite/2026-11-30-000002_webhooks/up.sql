-- Outgoing webhook events. `dedupe_key` is unique: however many instances
-- notice the same expiry threshold, one row (so one delivery) results.
CREATE TABLE webhook_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    dedupe_key TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    token_id BIGINT REFERENCES api_tokens (id),
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_until TIMESTAMP,
    delivered_at TIMESTAMP,
    failed_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_events_token ON webhook_events (token_id);
