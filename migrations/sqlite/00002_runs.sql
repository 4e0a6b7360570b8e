-- Runs and everything the engine needs to resume them after a crash: every
-- attempt of every step, the per-run event log, durable timers and signals
-- that arrived before their step waited. Same tables as the PostgreSQL file;
-- types as in 00001 (DATETIME text in UTC, JSON text checked by json_valid,
-- booleans as 0/1).

-- +goose Up
CREATE TABLE runs (
    id             TEXT     PRIMARY KEY,
    template       TEXT     NOT NULL DEFAULT '',
    version        INTEGER  NOT NULL DEFAULT 0,
    status         TEXT     NOT NULL,
    run_trigger    TEXT     NOT NULL DEFAULT '',
    started_by     TEXT     NOT NULL DEFAULT '',
    test           INTEGER  NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),
    parent_run_id  TEXT     NOT NULL DEFAULT '',
    parent_step_id TEXT     NOT NULL DEFAULT '',
    inputs         TEXT     NOT NULL CHECK (json_valid(inputs)),
    outputs        TEXT     NOT NULL CHECK (json_valid(outputs)),
    error          TEXT     NOT NULL CHECK (json_valid(error)),
    definition     TEXT     NOT NULL CHECK (json_valid(definition)),
    generation     INTEGER  NOT NULL DEFAULT 0,
    seq            INTEGER  NOT NULL DEFAULT 0,
    created_at     DATETIME NOT NULL,
    started_at     DATETIME,
    finished_at    DATETIME,
    duration_ms    REAL
);
CREATE INDEX runs_unfinished ON runs (id)
    WHERE status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back');
CREATE INDEX runs_template_id ON runs (template, id DESC);
CREATE INDEX runs_status_id ON runs (status, id DESC);
CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id <> '';

CREATE TABLE step_runs (
    run_id       TEXT     NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id      TEXT     NOT NULL,
    item         INTEGER  NOT NULL DEFAULT -1,
    compensation INTEGER  NOT NULL DEFAULT 0 CHECK (compensation IN (0, 1)),
    attempt      INTEGER  NOT NULL,
    status       TEXT     NOT NULL,
    input        TEXT     NOT NULL CHECK (json_valid(input)),
    output       TEXT     NOT NULL CHECK (json_valid(output)),
    error        TEXT     NOT NULL CHECK (json_valid(error)),
    reason       TEXT     NOT NULL DEFAULT '',
    generation   INTEGER  NOT NULL DEFAULT 0,
    ord          INTEGER  NOT NULL DEFAULT 0,
    started_at   DATETIME,
    finished_at  DATETIME,
    duration_ms  REAL,
    PRIMARY KEY (run_id, step_id, item, compensation, attempt)
) WITHOUT ROWID;

CREATE TABLE run_events (
    run_id      TEXT     NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq         INTEGER  NOT NULL,
    type        TEXT     NOT NULL,
    step_id     TEXT     NOT NULL DEFAULT '',
    status      TEXT     NOT NULL DEFAULT '',
    attempt     INTEGER  NOT NULL DEFAULT 0,
    at          DATETIME NOT NULL,
    duration_ms REAL,
    error       TEXT     NOT NULL CHECK (json_valid(error)),
    CONSTRAINT run_events_run_seq_key UNIQUE (run_id, seq)
);

CREATE TABLE run_timers (
    run_id  TEXT     NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id TEXT     NOT NULL DEFAULT '',
    kind    TEXT     NOT NULL,
    due_at  DATETIME NOT NULL,
    PRIMARY KEY (run_id, step_id, kind)
) WITHOUT ROWID;
CREATE INDEX run_timers_due ON run_timers (due_at);

CREATE TABLE run_signals (
    run_id      TEXT     NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name        TEXT     NOT NULL,
    payload     TEXT     NOT NULL CHECK (json_valid(payload)),
    received_at DATETIME NOT NULL,
    PRIMARY KEY (run_id, name)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE run_signals;
DROP TABLE run_timers;
DROP TABLE run_events;
DROP TABLE step_runs;
DROP TABLE runs;
