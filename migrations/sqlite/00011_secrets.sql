-- Secrets: values that workflows use but people must not read. The value is
-- stored sealed (AES-256-GCM, nonce prepended) with the server's secrets key;
-- the database never sees the plain text. Names are unique. Same columns as
-- the PostgreSQL file.

-- +goose Up
CREATE TABLE secrets (
    id          INTEGER  PRIMARY KEY AUTOINCREMENT,
    name        TEXT     NOT NULL UNIQUE,
    description TEXT     NOT NULL DEFAULT '',
    sealed      BLOB     NOT NULL,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL,
    updated_by  TEXT     NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE secrets;
