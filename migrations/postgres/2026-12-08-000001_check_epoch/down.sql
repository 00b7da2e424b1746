DROP TRIGGER check_changed ON scopes;
DROP TRIGGER check_changed ON organisations;
DROP TRIGGER check_changed ON members;
DROP TRIGGER check_changed ON api_tokens;
DROP FUNCTION latchkey_check_changed();
DROP TABLE check_epoch;
