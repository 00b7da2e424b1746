ALTER TABLE api_tokens DROP COLUMN suspended_at;
