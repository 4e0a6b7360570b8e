-- Runs and everything the engine needs to resume them after a crash: every
-- attempt of every step, the per-run event log, durable timers and signals
-- that arrived before their step waited.
--
-- A run keeps a snapshot of its definition (runs.definition), so editing a
-- template never changes a run in flight, and recovery compiles the snapshot.
-- Run ids are ULIDs: their text order is their creation order, which is what
-- listings and cursors use.

-- +goose Up
CREATE TABLE runs (
    id             text             PRIMARY KEY,
    template       text             NOT NULL DEFAULT '',
    version        integer          NOT NULL DEFAULT 0,
    status         text             NOT NULL,
    run_trigger    text             NOT NULL DEFAULT '',
    started_by     text             NOT NULL DEFAULT '',
    test           boolean          NOT NULL DEFAULT false,
    parent_run_id  text             NOT NULL DEFAULT '',
    parent_step_id text             NOT NULL DEFAULT '',
    inputs         jsonb            NOT NULL,
    outputs        jsonb            NOT NULL,
    error          jsonb            NOT NULL,
    definition     jsonb            NOT NULL,
    generation     integer          NOT NULL DEFAULT 0,
    seq            bigint           NOT NULL DEFAULT 0,
    created_at     timestamptz      NOT NULL,
    started_at     timestamptz,
    finished_at    timestamptz,
    duration_ms    double precision
);
-- Start-up recovery reads the unfinished runs only.
CREATE INDEX runs_unfinished ON runs (id)
    WHERE status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back');
-- Listings: newest first, by template, by status, and a run's children.
CREATE INDEX runs_template_id ON runs (template, id DESC);
CREATE INDEX runs_status_id ON runs (status, id DESC);
CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id <> '';

-- One row per attempt: of a step (item = -1), of one element of a parallel
-- step (item >= 0), or of a step's compensation.
CREATE TABLE step_runs (
    run_id       text             NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id      text             NOT NULL,
    item         integer          NOT NULL DEFAULT -1,
    compensation boolean          NOT NULL DEFAULT false,
    attempt      integer          NOT NULL,
    status       text             NOT NULL,
    input        jsonb            NOT NULL,
    output       jsonb            NOT NULL,
    error        jsonb            NOT NULL,
    reason       text             NOT NULL DEFAULT '',
    generation   integer          NOT NULL DEFAULT 0,
    ord          integer          NOT NULL DEFAULT 0,
    started_at   timestamptz,
    finished_at  timestamptz,
    duration_ms  double precision,
    PRIMARY KEY (run_id, step_id, item, compensation, attempt)
);

CREATE TABLE run_events (
    run_id      text             NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq         bigint           NOT NULL,
    type        text             NOT NULL,
    step_id     text             NOT NULL DEFAULT '',
    status      text             NOT NULL DEFAULT '',
    attempt     integer          NOT NULL DEFAULT 0,
    at          timestamptz      NOT NULL,
    duration_ms double precision,
    error       jsonb            NOT NULL,
    CONSTRAINT run_events_run_seq_key UNIQUE (run_id, seq)
);

-- Durable timers: waits, signal timeouts, backoffs and run timeouts.
CREATE TABLE run_timers (
    run_id  text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id text        NOT NULL DEFAULT '',
    kind    text        NOT NULL,
    due_at  timestamptz NOT NULL,
    PRIMARY KEY (run_id, step_id, kind)
);
CREATE INDEX run_timers_due ON run_timers (due_at);

-- Signals delivered before the step that waits for them started.
CREATE TABLE run_signals (
    run_id      text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name        text        NOT NULL,
    payload     jsonb       NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, name)
);

-- +goose Down
DROP TABLE run_signals;
DROP TABLE run_timers;
DROP TABLE run_events;
DROP TABLE step_runs;
DROP TABLE runs;
