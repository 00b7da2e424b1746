DROP TABLE form_nonces;
DROP TABLE login_attempts;
DROP TABLE settings;
DROP TABLE audit_events;
DROP TABLE api_tokens;
DROP TABLE members;
DROP TABLE organisations;
