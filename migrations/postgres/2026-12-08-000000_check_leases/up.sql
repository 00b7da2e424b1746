-- Each serving instance's lease: while it runs, writers wait for the
-- instance to have seen their change (`applied_at`) before they answer.
-- Times are microseconds since the Unix epoch on PostgreSQL's clock.
-- Unlogged: rewritten every fraction of a second, worthless after a crash.
CREATE UNLOGGED TABLE check_leases (
    id BIGINT PRIMARY KEY,
    lease_until BIGINT NOT NULL,
    applied_at BIGINT NOT NULL
);
