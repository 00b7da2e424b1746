DROP TABLE token_usage;
ALTER TABLE api_tokens DROP COLUMN allowed_ips;
