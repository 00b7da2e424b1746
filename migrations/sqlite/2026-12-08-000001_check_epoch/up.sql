-- PostgreSQL's check epoch (see the PostgreSQL migration). SQLite needs
-- none: each token check reads the file's header. The table exists so
-- that both backends have the same tables; it is never used here.
CREATE TABLE check_epoch (
    id BOOLEAN PRIMARY KEY NOT NULL DEFAULT 1 CHECK (id),
    n BIGINT NOT NULL
);
