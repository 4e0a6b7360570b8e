-- A run started by a schedule records which schedule and which fire time
-- started it, and whether that time was missed and caught up when an
-- instance started: the run page then says "scheduled for 09:00 (caught up
-- at 09:47)". The three columns are NULL for every other run (and for runs
-- stored before this migration), and are written once, with the run's first
-- row: the engine's updates of a run never send them.
--
-- schedule_id has no foreign key: deleting a schedule keeps the id on its
-- past runs, and inserting a run costs no lookup. Adding nullable columns
-- without a default rewrites no rows; the partial index holds scheduled
-- runs only, for listing a schedule's runs.

-- +goose Up
ALTER TABLE runs ADD COLUMN schedule_id bigint;
ALTER TABLE runs ADD COLUMN schedule_fire_at timestamptz;
ALTER TABLE runs ADD COLUMN schedule_caught_up boolean;
CREATE INDEX runs_schedule ON runs (schedule_id, id DESC) WHERE schedule_id IS NOT NULL;

-- +goose Down
DROP INDEX runs_schedule;
ALTER TABLE runs DROP COLUMN schedule_caught_up;
ALTER TABLE runs DROP COLUMN schedule_fire_at;
ALTER TABLE runs DROP COLUMN schedule_id;
