ALTER TABLE organisations DROP COLUMN service_max_lifetime_days;
DROP TABLE scopes;
ALTER TABLE members DROP COLUMN kind;
ALTER TABLE api_tokens DROP COLUMN description;
