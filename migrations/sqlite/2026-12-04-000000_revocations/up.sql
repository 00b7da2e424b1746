-- The revocation feed: the SHA-256 (hex) of every token that stopped
-- working or changed what it may do, written in the same transaction as
-- the change; resource servers' caches drop it. Kept for a while so that
-- a client reconnecting with Last-Event-ID gets what it missed.
CREATE TABLE revocation_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    token_hash TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX revocation_events_created ON revocation_events (created_at);
