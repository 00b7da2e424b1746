-- PostgreSQL's check epoch and instances' leases (see the PostgreSQL
-- migration). SQLite needs neither: each token check reads the file's
-- header. The tables exist so that both backends have the same tables;
-- they are never used here.
CREATE TABLE check_epoch (n BIGINT NOT NULL);
CREATE TABLE check_leases (
    id BIGINT PRIMARY KEY NOT NULL,
    lease_until BIGINT NOT NULL,
    applied_at BIGINT NOT NULL
);
