CREATE TABLE organisations (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    max_lifetime_days BIGINT NOT NULL DEFAULT 365,
    allow_no_expiry BOOLEAN NOT NULL DEFAULT 0,
    default_expiry_days BIGINT NOT NULL DEFAULT 30,
    max_active_tokens BIGINT NOT NULL DEFAULT 200,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE members (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX members_org ON members (org_id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    owner_id BIGINT NOT NULL REFERENCES members (id),
    name TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    scopes TEXT NOT NULL,
    expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    created_by BIGINT REFERENCES members (id),
    last_used_at TIMESTAMP,
    last_used_ip TEXT,
    revoked_at TIMESTAMP,
    revoked_by BIGINT REFERENCES members (id)
);
CREATE INDEX api_tokens_owner ON api_tokens (owner_id, created_at);
CREATE INDEX api_tokens_org ON api_tokens (org_id, created_at);

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    actor_id BIGINT REFERENCES members (id),
    action TEXT NOT NULL,
    token_id BIGINT REFERENCES api_tokens (id),
    member_id BIGINT REFERENCES members (id),
    ip TEXT,
    detail TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_org ON audit_events (org_id, id);

CREATE TABLE settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE login_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    email TEXT NOT NULL,
    ip TEXT,
    succeeded BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX login_attempts_email ON login_attempts (email, created_at);

CREATE TABLE form_nonces (
    nonce TEXT PRIMARY KEY NOT NULL,
    member_id BIGINT NOT NULL REFERENCES members (id),
    token_id BIGINT REFERENCES api_tokens (id),
    created_at TIMESTAMP NOT NULL
);
