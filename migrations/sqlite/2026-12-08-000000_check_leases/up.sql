-- PostgreSQL instances' leases (see the PostgreSQL migration). SQLite
-- needs none: each token check reads the file's header. The table exists
-- so that both backends have the same tables; it stays empty here.
CREATE TABLE check_leases (
    id BIGINT PRIMARY KEY NOT NULL,
    lease_until BIGINT NOT NULL,
    applied_at BIGINT NOT NULL
);
