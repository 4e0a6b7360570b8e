-- An API token may carry its own request rate limit (requests per second on
-- average, bursts of five times as many): NULL means the server's default
-- (--rate-limit, off unless set), 0 means unlimited. A nullable column
-- without a default rewrites no rows.

-- +goose Up
ALTER TABLE api_tokens ADD COLUMN rate_limit double precision CHECK (rate_limit IS NULL OR rate_limit >= 0);

-- +goose Down
ALTER TABLE api_tokens DROP COLUMN rate_limit;
