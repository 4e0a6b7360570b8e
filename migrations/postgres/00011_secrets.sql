-- Secrets: values that workflows use but people must not read. The value is
-- stored sealed (AES-256-GCM, nonce prepended) with the server's secrets key,
-- which every instance sharing this database must share: the database never
-- sees the plain text. Names are unique.

-- +goose Up
CREATE TABLE secrets (
    id          bigserial   PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    description text        NOT NULL DEFAULT '',
    sealed      bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    updated_by  text        NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE secrets;
