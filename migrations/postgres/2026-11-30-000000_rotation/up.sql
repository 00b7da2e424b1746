-- Rotation links an old token to the one that replaced it.
ALTER TABLE api_tokens ADD COLUMN rotated_from BIGINT REFERENCES api_tokens (id);
ALTER TABLE api_tokens ADD COLUMN replaced_by BIGINT REFERENCES api_tokens (id);
