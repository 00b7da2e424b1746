-- Your own platform: a token may carry a description (set through the
-- management API), and a member is a person or a service account (a
-- name in `email`, no password, never signs in).
ALTER TABLE api_tokens ADD COLUMN description TEXT;
ALTER TABLE members ADD COLUMN kind TEXT NOT NULL DEFAULT 'person';

-- Scopes are data: the catalogue a deployment offers (seeded by Latchkey
-- on first start with the built-in scopes). A retired scope is offered to
-- no one and works in no token, but its name stays in history.
CREATE TABLE scopes (
    name TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL,
    group_name TEXT NOT NULL DEFAULT '',
    min_role TEXT NOT NULL,
    system BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP
);

-- Service accounts' tokens may have their own maximum lifetime.
ALTER TABLE organisations ADD COLUMN service_max_lifetime_days BIGINT;
