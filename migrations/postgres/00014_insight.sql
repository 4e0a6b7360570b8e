-- Insight (issue 13): rollups of finished runs, so analytics read a few
-- thousand summary rows instead of millions of runs, and keep the figures
-- of runs that retention has deleted. Same tables as the SQLite file.
--
-- runs.rolled is 1 once a finished run has been counted into the rollups.
-- Store.RollUp (every few seconds in `baton serve`, and before every
-- Prune) counts finished runs with rolled = 0 and sets it, in one
-- transaction (FOR UPDATE SKIP LOCKED, so instances share the work); the
-- partial index runs_unrolled finds them. Queries add the finished runs not
-- yet counted from the raw rows, so figures are current to the last
-- commit. A run that becomes active again (a retry of a finished run) is
-- counted again when it finishes again.
--
-- Rollup keys: hour is the run's finish time as whole hours since the Unix
-- epoch (UTC); the *_daily tables hold the same counts by day (days since
-- the epoch, UTC), which queries that need no hours read, 24 times fewer
-- rows; dbucket is floor(8·log2(duration in ms)), -1000 for a run
-- without a duration: a histogram with buckets 9 % wide, from which
-- percentiles are read.
--
-- reports are saved queries of the report builder.

-- +goose Up
ALTER TABLE runs ADD COLUMN rolled smallint NOT NULL DEFAULT 0 CHECK (rolled IN (0, 1));
CREATE INDEX runs_unrolled ON runs (id) WHERE rolled = 0;

-- +goose StatementBegin
CREATE FUNCTION runs_rollup_reopen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.rolled := 0;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER runs_rollup_reopen BEFORE UPDATE OF status ON runs FOR EACH ROW
    WHEN (OLD.rolled = 1
      AND OLD.status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back')
      AND NEW.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back'))
    EXECUTE FUNCTION runs_rollup_reopen();

CREATE TABLE rollup_runs (
    hour        bigint           NOT NULL,
    template    text             NOT NULL,
    version     integer          NOT NULL,
    run_trigger text             NOT NULL,
    started_by  text             NOT NULL,
    test        boolean          NOT NULL,
    status      text             NOT NULL,
    dbucket     integer          NOT NULL,
    runs        bigint           NOT NULL,
    duration_ms double precision NOT NULL,
    steps       bigint           NOT NULL,
    retries     bigint           NOT NULL,
    PRIMARY KEY (hour, template, version, run_trigger, started_by, test, status, dbucket)
);
CREATE INDEX rollup_runs_template ON rollup_runs (template, hour);

CREATE TABLE rollup_steps (
    hour        bigint           NOT NULL,
    template    text             NOT NULL,
    version     integer          NOT NULL,
    test        boolean          NOT NULL,
    step_id     text             NOT NULL,
    status      text             NOT NULL,
    dbucket     integer          NOT NULL,
    attempts    bigint           NOT NULL,
    finals      bigint           NOT NULL,
    retries     bigint           NOT NULL,
    duration_ms double precision NOT NULL,
    PRIMARY KEY (template, hour, version, test, step_id, status, dbucket)
);

CREATE TABLE rollup_decisions (
    hour     bigint  NOT NULL,
    template text    NOT NULL,
    version  integer NOT NULL,
    test     boolean NOT NULL,
    step_id  text    NOT NULL,
    outcome  text    NOT NULL,
    n        bigint  NOT NULL,
    PRIMARY KEY (template, hour, version, test, step_id, outcome)
);

CREATE TABLE rollup_runs_daily (
    day         bigint           NOT NULL,
    template    text             NOT NULL,
    version     integer          NOT NULL,
    run_trigger text             NOT NULL,
    started_by  text             NOT NULL,
    test        boolean          NOT NULL,
    status      text             NOT NULL,
    dbucket     integer          NOT NULL,
    runs        bigint           NOT NULL,
    duration_ms double precision NOT NULL,
    steps       bigint           NOT NULL,
    retries     bigint           NOT NULL,
    PRIMARY KEY (day, template, version, run_trigger, started_by, test, status, dbucket)
);
CREATE INDEX rollup_runs_daily_template ON rollup_runs_daily (template, day);

CREATE TABLE rollup_steps_daily (
    day         bigint           NOT NULL,
    template    text             NOT NULL,
    version     integer          NOT NULL,
    test        boolean          NOT NULL,
    step_id     text             NOT NULL,
    status      text             NOT NULL,
    dbucket     integer          NOT NULL,
    attempts    bigint           NOT NULL,
    finals      bigint           NOT NULL,
    retries     bigint           NOT NULL,
    duration_ms double precision NOT NULL,
    PRIMARY KEY (template, day, version, test, step_id, status, dbucket)
);

CREATE TABLE rollup_decisions_daily (
    day      bigint  NOT NULL,
    template text    NOT NULL,
    version  integer NOT NULL,
    test     boolean NOT NULL,
    step_id  text    NOT NULL,
    outcome  text    NOT NULL,
    n        bigint  NOT NULL,
    PRIMARY KEY (template, day, version, test, step_id, outcome)
);

CREATE TABLE reports (
    id          bigserial   PRIMARY KEY,
    owner       text        NOT NULL,
    name        text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    query       jsonb       NOT NULL,
    chart       text        NOT NULL,
    shared_with jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX reports_owner ON reports (owner);

-- +goose Down
DROP TABLE reports;
DROP TABLE rollup_decisions_daily;
DROP TABLE rollup_steps_daily;
DROP TABLE rollup_runs_daily;
DROP TABLE rollup_decisions;
DROP TABLE rollup_steps;
DROP TABLE rollup_runs;
DROP TRIGGER runs_rollup_reopen ON runs;
DROP FUNCTION runs_rollup_reopen();
DROP INDEX runs_unrolled;
ALTER TABLE runs DROP COLUMN rolled;
