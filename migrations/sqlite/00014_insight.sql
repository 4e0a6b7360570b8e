-- Insight (issue 13): rollups of finished runs, so analytics read a few
-- thousand summary rows instead of millions of runs, and keep the figures
-- of runs that retention has deleted. Same tables as the PostgreSQL file.
--
-- runs.rolled is 1 once a finished run has been counted into the rollups.
-- Store.RollUp (every few seconds in `baton serve`, and before every
-- Prune) counts finished runs with rolled = 0 and sets it, in one
-- transaction; the partial index runs_unrolled finds them. Queries add
-- the finished runs not yet counted from the raw rows, so figures are
-- current to the last commit. A run that becomes active again (a retry of
-- a finished run) is counted again when it finishes again.
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
ALTER TABLE runs ADD COLUMN rolled INTEGER NOT NULL DEFAULT 0 CHECK (rolled IN (0, 1));
CREATE INDEX runs_unrolled ON runs (id) WHERE rolled = 0;

-- +goose StatementBegin
CREATE TRIGGER runs_rollup_reopen AFTER UPDATE OF status ON runs
    WHEN OLD.rolled = 1
     AND OLD.status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back')
     AND NEW.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back')
BEGIN
    UPDATE runs SET rolled = 0 WHERE id = NEW.id;
END;
-- +goose StatementEnd

CREATE TABLE rollup_runs (
    hour        INTEGER NOT NULL,
    template    TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    run_trigger TEXT    NOT NULL,
    started_by  TEXT    NOT NULL,
    test        INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    dbucket     INTEGER NOT NULL,
    runs        INTEGER NOT NULL,
    duration_ms REAL    NOT NULL,
    steps       INTEGER NOT NULL,
    retries     INTEGER NOT NULL,
    PRIMARY KEY (hour, template, version, run_trigger, started_by, test, status, dbucket)
) WITHOUT ROWID;
CREATE INDEX rollup_runs_template ON rollup_runs (template, hour);

CREATE TABLE rollup_steps (
    hour        INTEGER NOT NULL,
    template    TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    test        INTEGER NOT NULL,
    step_id     TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    dbucket     INTEGER NOT NULL,
    attempts    INTEGER NOT NULL,
    finals      INTEGER NOT NULL,
    retries     INTEGER NOT NULL,
    duration_ms REAL    NOT NULL,
    PRIMARY KEY (template, hour, version, test, step_id, status, dbucket)
) WITHOUT ROWID;

CREATE TABLE rollup_decisions (
    hour     INTEGER NOT NULL,
    template TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    test     INTEGER NOT NULL,
    step_id  TEXT    NOT NULL,
    outcome  TEXT    NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (template, hour, version, test, step_id, outcome)
) WITHOUT ROWID;

CREATE TABLE rollup_runs_daily (
    day         INTEGER NOT NULL,
    template    TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    run_trigger TEXT    NOT NULL,
    started_by  TEXT    NOT NULL,
    test        INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    dbucket     INTEGER NOT NULL,
    runs        INTEGER NOT NULL,
    duration_ms REAL    NOT NULL,
    steps       INTEGER NOT NULL,
    retries     INTEGER NOT NULL,
    PRIMARY KEY (day, template, version, run_trigger, started_by, test, status, dbucket)
) WITHOUT ROWID;
CREATE INDEX rollup_runs_daily_template ON rollup_runs_daily (template, day);

CREATE TABLE rollup_steps_daily (
    day         INTEGER NOT NULL,
    template    TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    test        INTEGER NOT NULL,
    step_id     TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    dbucket     INTEGER NOT NULL,
    attempts    INTEGER NOT NULL,
    finals      INTEGER NOT NULL,
    retries     INTEGER NOT NULL,
    duration_ms REAL    NOT NULL,
    PRIMARY KEY (template, day, version, test, step_id, status, dbucket)
) WITHOUT ROWID;

CREATE TABLE rollup_decisions_daily (
    day      INTEGER NOT NULL,
    template TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    test     INTEGER NOT NULL,
    step_id  TEXT    NOT NULL,
    outcome  TEXT    NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (template, day, version, test, step_id, outcome)
) WITHOUT ROWID;

CREATE TABLE reports (
    id          INTEGER  PRIMARY KEY AUTOINCREMENT,
    owner       TEXT     NOT NULL,
    name        TEXT     NOT NULL,
    description TEXT     NOT NULL DEFAULT '',
    query       TEXT     NOT NULL CHECK (json_valid(query)),
    chart       TEXT     NOT NULL,
    shared_with TEXT     NOT NULL CHECK (json_valid(shared_with)),
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
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
DROP TRIGGER runs_rollup_reopen;
DROP INDEX runs_unrolled;
ALTER TABLE runs DROP COLUMN rolled;
