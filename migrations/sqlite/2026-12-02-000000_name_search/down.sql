DROP INDEX api_tokens_owner_name;
ALTER TABLE api_tokens DROP COLUMN name_folded;
