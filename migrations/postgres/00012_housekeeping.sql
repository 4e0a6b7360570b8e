-- Housekeeping runs once per cluster per interval: the instance that
-- inserts the (job, slot) row does the work; the others skip it. Same
-- table as the SQLite file.

-- +goose Up
CREATE TABLE housekeeping_claims (
    job        TEXT NOT NULL,
    slot       TIMESTAMPTZ NOT NULL,
    claimed_by TEXT NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job, slot)
);

-- +goose Down
DROP TABLE housekeeping_claims;
