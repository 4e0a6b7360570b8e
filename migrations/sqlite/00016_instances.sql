-- Several `baton serve` on one database (issue 17). SQLite serves one
-- instance only (`baton serve` holds a file lock on the database), so the
-- lease never changes hands there; the tables exist so that both dialects
-- have the same schema and the store's lease queries run on both. The
-- fencing check is a plain SELECT inside the commit's transaction (see
-- models/store/lease.go).

-- +goose Up
CREATE TABLE instances (
    id          TEXT     PRIMARY KEY,
    host        TEXT     NOT NULL DEFAULT '',
    pid         INTEGER  NOT NULL DEFAULT 0,
    started_at  DATETIME NOT NULL,
    lease_until DATETIME NOT NULL,
    draining    BOOLEAN  NOT NULL DEFAULT 0
);

ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX runs_owner_unfinished ON runs (owner)
    WHERE status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back');

-- +goose Down
DROP INDEX runs_owner_unfinished;
ALTER TABLE runs DROP COLUMN owner;
DROP TABLE instances;
