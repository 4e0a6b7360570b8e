-- An API token may carry its own request rate limit (requests per second on
-- average): NULL means the server's default (--rate-limit, off unless set),
-- 0 means unlimited. Same column as the PostgreSQL file.

-- +goose Up
ALTER TABLE api_tokens ADD COLUMN rate_limit REAL CHECK (rate_limit IS NULL OR rate_limit >= 0);

-- +goose Down
ALTER TABLE api_tokens DROP COLUMN rate_limit;
