-- Devices and their command queue (issue 15). A device's token is stored as
-- its SHA-256 only. device_commands holds one row per delivery of a device
-- step's attempt, written before the command is sent, so the queue
-- survives a restart. Same columns as the PostgreSQL file.

-- +goose Up
CREATE TABLE devices (
    id           INTEGER  PRIMARY KEY AUTOINCREMENT,
    name         TEXT     NOT NULL UNIQUE,
    token_hash   TEXT     NOT NULL UNIQUE,
    capabilities TEXT     NOT NULL DEFAULT '[]',
    labels       TEXT     NOT NULL DEFAULT '{}',
    draining     BOOLEAN  NOT NULL DEFAULT FALSE,
    created_at   DATETIME NOT NULL,
    last_seen_at DATETIME,
    revoked_at   DATETIME
);

CREATE TABLE device_commands (
    id              TEXT     PRIMARY KEY,
    run_id          TEXT     NOT NULL,
    step_id         TEXT     NOT NULL,
    attempt         INTEGER  NOT NULL,
    delivery        INTEGER  NOT NULL,
    idempotency_key TEXT     NOT NULL,
    device          TEXT     NOT NULL DEFAULT '',
    command         TEXT     NOT NULL,
    args            TEXT     NOT NULL DEFAULT '[]',
    status          TEXT     NOT NULL,
    exit_code       INTEGER,
    duration_ms     INTEGER  NOT NULL DEFAULT 0,
    error           TEXT     NOT NULL DEFAULT '',
    late            BOOLEAN  NOT NULL DEFAULT FALSE,
    created_at      DATETIME NOT NULL,
    sent_at         DATETIME,
    finished_at     DATETIME
);
CREATE INDEX device_commands_device ON device_commands (device, created_at);
CREATE INDEX device_commands_run ON device_commands (run_id, step_id);
CREATE INDEX device_commands_key ON device_commands (idempotency_key);
CREATE INDEX device_commands_unfinished ON device_commands (status) WHERE status IN ('queued', 'sent');

-- +goose Down
DROP TABLE device_commands;
DROP TABLE devices;
