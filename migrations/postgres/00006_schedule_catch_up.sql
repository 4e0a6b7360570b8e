-- Schedules choose what happens to fire times missed while no instance was
-- running (catch_up), and a fire time skipped by the overlap policy is
-- claimed too (skipped), so that a later start does not take it for a
-- missed time and fire it after all. Existing schedules get 'none': they
-- keep the behaviour they were created with. Adding a column with a
-- constant default rewrites no rows.

-- +goose Up
ALTER TABLE schedules ADD COLUMN catch_up text NOT NULL DEFAULT 'none' CHECK (catch_up IN ('none', 'latest', 'all'));
ALTER TABLE schedule_fires ADD COLUMN skipped boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE schedule_fires DROP COLUMN skipped;
ALTER TABLE schedules DROP COLUMN catch_up;
