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
-- transaction: the counter row's lock makes concurrent starts, from any
-- number of instances, take turns, so the limit is exact. The key is the
-- run's template text, not a templates row: runs of `baton run` have none.
--
-- runs_template_finished serves retention (a template's finished runs older
-- than a cutoff). templates.retention_seconds overrides the server's
-- --retention for one template: NULL follows the server, 0 keeps every run.

-- +goose Up
CREATE TABLE template_active_runs (
    template text   PRIMARY KEY,
    active   bigint NOT NULL DEFAULT 0
);
INSERT INTO template_active_runs (template, active)
SELECT template, COUNT(*) FROM runs
 WHERE status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back')
 GROUP BY template;

-- +goose StatementBegin
CREATE FUNCTION runs_count_active() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back') THEN
        UPDATE template_active_runs SET active = active - 1 WHERE template = OLD.template;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back') THEN
        INSERT INTO template_active_runs AS c (template, active) VALUES (NEW.template, 1)
            ON CONFLICT (template) DO UPDATE SET active = c.active + 1;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER runs_active_insert AFTER INSERT ON runs FOR EACH ROW
    WHEN (NEW.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back'))
    EXECUTE FUNCTION runs_count_active();
CREATE TRIGGER runs_active_update AFTER UPDATE OF status, template ON runs FOR EACH ROW
    WHEN ((OLD.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back'))
          IS DISTINCT FROM (NEW.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back'))
          OR OLD.template IS DISTINCT FROM NEW.template)
    EXECUTE FUNCTION runs_count_active();
CREATE TRIGGER runs_active_delete AFTER DELETE ON runs FOR EACH ROW
    WHEN (OLD.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back'))
    EXECUTE FUNCTION runs_count_active();

CREATE INDEX runs_template_finished ON runs (template, finished_at);
ALTER TABLE templates ADD COLUMN retention_seconds bigint CHECK (retention_seconds >= 0);

-- +goose Down
ALTER TABLE templates DROP COLUMN retention_seconds;
DROP INDEX runs_template_finished;
DROP TRIGGER runs_active_delete ON runs;
DROP TRIGGER runs_active_update ON runs;
DROP TRIGGER runs_active_insert ON runs;
DROP FUNCTION runs_count_active();
DROP TABLE template_active_runs;
