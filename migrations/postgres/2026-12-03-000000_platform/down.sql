ALTER TABLE members DROP COLUMN kind;
ALTER TABLE api_tokens DROP COLUMN description;
