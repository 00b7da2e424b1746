ALTER TABLE api_tokens DROP COLUMN replaced_by;
ALTER TABLE api_tokens DROP COLUMN rotated_from;
