-- Schedules choose what happens to fire times missed while no instance was
-- running (catch_up), and a fire time skipped by the overlap policy is
-- claimed too (skipped), so that a later start does not take it for a
-- missed time and fire it after all. Existing schedules get 'none': they
-- keep the behaviour they were created with.

-- +goose Up
ALTER TABLE schedules ADD COLUMN catch_up TEXT NOT NULL DEFAULT 'none' CHECK (catch_up IN ('none', 'latest', 'all'));
ALTER TABLE schedule_fires ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0 CHECK (skipped IN (0, 1));

-- +goose Down
ALTER TABLE schedule_fires DROP COLUMN skipped;
ALTER TABLE schedules DROP COLUMN catch_up;
