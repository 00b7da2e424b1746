DROP TABLE rate_limits;
DROP INDEX api_tokens_chain;
ALTER TABLE api_tokens DROP COLUMN revoked_reason;
ALTER TABLE api_tokens DROP COLUMN chain_id;
DROP INDEX login_attempts_prefix;
ALTER TABLE login_attempts DROP COLUMN ip_prefix;
DROP TABLE sessions;
