-- Your own platform: a token may carry a description (set through the
-- management API), and a member is a person or a service account (a
-- name in `email`, no password, never signs in).
ALTER TABLE api_tokens ADD COLUMN description TEXT;
ALTER TABLE members ADD COLUMN kind TEXT NOT NULL DEFAULT 'person';
