-- Devices and their command queue (issue 15). A device's token is stored as
-- its SHA-256 only. device_commands holds one row per delivery of a device
-- step's attempt, written before the command is sent, so the queue
-- survives a restart.

-- +goose Up
CREATE TABLE devices (
    id           bigserial   PRIMARY KEY,
    name         text        NOT NULL UNIQUE,
    token_hash   text        NOT NULL UNIQUE,
    capabilities jsonb       NOT NULL DEFAULT '[]',
    labels       jsonb       NOT NULL DEFAULT '{}',
    draining     boolean     NOT NULL DEFAULT FALSE,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE device_commands (
    id              text        PRIMARY KEY,
    run_id          text        NOT NULL,
    step_id         text        NOT NULL,
    attempt         integer     NOT NULL,
    delivery        integer     NOT NULL,
    idempotency_key text        NOT NULL,
    device          text        NOT NULL DEFAULT '',
    command         text        NOT NULL,
    args            jsonb       NOT NULL DEFAULT '[]',
    status          text        NOT NULL,
    exit_code       integer,
    duration_ms     bigint      NOT NULL DEFAULT 0,
    error           text        NOT NULL DEFAULT '',
    late            boolean     NOT NULL DEFAULT FALSE,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    finished_at     timestamptz
);
CREATE INDEX device_commands_device ON device_commands (device, created_at);
CREATE INDEX device_commands_run ON device_commands (run_id, step_id);
CREATE INDEX device_commands_key ON device_commands (idempotency_key);
CREATE INDEX device_commands_unfinished ON device_commands (status) WHERE status IN ('queued', 'sent');

-- +goose Down
DROP TABLE device_commands;
DROP TABLE devices;
