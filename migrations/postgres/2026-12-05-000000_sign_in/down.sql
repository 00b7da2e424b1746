DROP TABLE recovery_codes;
ALTER TABLE organisations DROP COLUMN sso_only;
ALTER TABLE organisations DROP COLUMN require_two_factor;
ALTER TABLE members DROP COLUMN totp_last_step;
ALTER TABLE members DROP COLUMN totp_pending;
ALTER TABLE members DROP COLUMN totp_secret;
ALTER TABLE members DROP COLUMN password_must_change;
