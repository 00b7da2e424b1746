-- A suspended token stops working until resumed (revoking stays final).
ALTER TABLE api_tokens ADD COLUMN suspended_at TIMESTAMP;
