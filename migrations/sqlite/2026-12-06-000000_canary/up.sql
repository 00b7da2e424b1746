-- Canary tokens: made to be found, never to work. Any use is answered
-- like an unknown token and reported (audit, webhook).
ALTER TABLE api_tokens ADD COLUMN canary BOOLEAN NOT NULL DEFAULT FALSE;
