-- Sign-in a security review accepts. A password Latchkey generated (the
-- first admin's, a console-added member's) must be replaced at the next
-- sign-in. Two-factor: the confirmed TOTP secret (base32), one being
-- enrolled, and the last time step accepted (a code works once).
ALTER TABLE members ADD COLUMN password_must_change BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE members ADD COLUMN totp_secret TEXT;
ALTER TABLE members ADD COLUMN totp_pending TEXT;
ALTER TABLE members ADD COLUMN totp_last_step BIGINT;

-- Admins may require two-factor for everyone in the organisation, and,
-- once single sign-on works, turn password sign-in off.
ALTER TABLE organisations ADD COLUMN require_two_factor BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE organisations ADD COLUMN sso_only BOOLEAN NOT NULL DEFAULT FALSE;

-- One-time recovery codes, kept as SHA-256 digests; a used one stays,
-- marked, so the account page can say how many are left.
CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    member_id BIGINT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    code_hash BLOB NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX recovery_codes_member ON recovery_codes (member_id);
