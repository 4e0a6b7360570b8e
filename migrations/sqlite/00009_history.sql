-- History at any size (issue 11): a per-template count of active runs kept
-- by triggers, the indexes retention needs, and a per-template retention.
--
-- template_active_runs.active is the number of the template's runs whose
-- status is not final (queued, running, waiting). Triggers on runs keep it
-- in the same transaction as every insert, status change and delete of a
-- run row, whichever path writes it (a start, the engine's group commit, a
-- retry, recovery, a child run, a history fill, pruning), so it always
-- equals a COUNT(*) over runs and never needs a scan. The launcher's
-- admission (Store.AdmitRun) inserts a new run and reads the count in one
-- write transaction, and SQLite has one writer: the limit is exact. The key
-- is the run's template text, not a templates row: runs of `baton run`
-- have none.
--
-- runs_template_finished serves retention (a template's finished runs older
-- than a cutoff). templates.retention_seconds overrides the server's
-- --retention for one template: NULL follows the server, 0 keeps every run.

-- +goose Up
CREATE TABLE template_active_runs (
    template TEXT    PRIMARY KEY,
    active   INTEGER NOT NULL DEFAULT 0
);
INSERT INTO template_active_runs (template, active)
SELECT template, COUNT(*) FROM runs
 WHERE status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back')
 GROUP BY template;

-- +goose StatementBegin
CREATE TRIGGER runs_active_insert AFTER INSERT ON runs
    WHEN NEW.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back')
BEGIN
    INSERT INTO template_active_runs (template, active) VALUES (NEW.template, 1)
        ON CONFLICT (template) DO UPDATE SET active = active + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER runs_active_update AFTER UPDATE OF status, template ON runs
    WHEN (OLD.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back'))
         <> (NEW.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back'))
         OR OLD.template <> NEW.template
BEGIN
    UPDATE template_active_runs SET active = active - 1
     WHERE template = OLD.template
       AND OLD.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back');
    INSERT INTO template_active_runs (template, active)
    SELECT NEW.template, 1
     WHERE NEW.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back')
        ON CONFLICT (template) DO UPDATE SET active = active + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER runs_active_delete AFTER DELETE ON runs
    WHEN OLD.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back')
BEGIN
    UPDATE template_active_runs SET active = active - 1 WHERE template = OLD.template;
END;
-- +goose StatementEnd

CREATE INDEX runs_template_finished ON runs (template, finished_at);
ALTER TABLE templates ADD COLUMN retention_seconds INTEGER CHECK (retention_seconds >= 0);

-- +goose Down
ALTER TABLE templates DROP COLUMN retention_seconds;
DROP INDEX runs_template_finished;
DROP TRIGGER runs_active_delete;
DROP TRIGGER runs_active_update;
DROP TRIGGER runs_active_insert;
DROP TABLE template_active_runs;
