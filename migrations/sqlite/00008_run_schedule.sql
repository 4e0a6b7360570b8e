-- A run started by a schedule records which schedule and which fire time
-- started it, and whether that time was missed and caught up when an
-- instance started. NULL for every other run; written once, with the run's
-- first row. No foreign key: a deleted schedule's runs keep its id. Same
-- columns as the PostgreSQL file.

-- +goose Up
ALTER TABLE runs ADD COLUMN schedule_id INTEGER;
ALTER TABLE runs ADD COLUMN schedule_fire_at DATETIME;
ALTER TABLE runs ADD COLUMN schedule_caught_up INTEGER CHECK (schedule_caught_up IN (0, 1));
CREATE INDEX runs_schedule ON runs (schedule_id, id DESC) WHERE schedule_id IS NOT NULL;

-- +goose Down
DROP INDEX runs_schedule;
ALTER TABLE runs DROP COLUMN schedule_caught_up;
ALTER TABLE runs DROP COLUMN schedule_fire_at;
ALTER TABLE runs DROP COLUMN schedule_id;
