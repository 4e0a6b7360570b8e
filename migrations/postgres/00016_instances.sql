-- Several `baton serve` on one database (issue 17): every unfinished run is
-- owned by one instance (runs.owner), which holds a lease on it through its
-- row in instances, renewed by one write per instance every ttl/3. A
-- survivor claims the runs of an instance whose lease expired; fencing
-- (baton_fence, called first in every commit of run changes) makes a
-- commit for a run this instance no longer owns fail as a whole, with the
-- run ids in the error's detail. owner '' is a run no instance owns (runs
-- written before this migration, or released by a stopping instance).

-- +goose Up
CREATE TABLE instances (
    id          text        PRIMARY KEY,
    host        text        NOT NULL DEFAULT '',
    pid         integer     NOT NULL DEFAULT 0,
    started_at  timestamptz NOT NULL,
    lease_until timestamptz NOT NULL,
    draining    boolean     NOT NULL DEFAULT FALSE
);

ALTER TABLE runs ADD COLUMN owner text NOT NULL DEFAULT '';
-- Takeover reads the unfinished runs of one owner.
CREATE INDEX runs_owner_unfinished ON runs (owner)
    WHERE status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back');

-- baton_fence locks the named run rows (in id order, as every commit does,
-- so that two commits never wait for each other in opposite orders) and
-- raises BF001 when one of them is owned by another instance: a takeover's
-- UPDATE of owner and a commit of the old owner then take turns on the
-- row locks, and whichever comes second sees the other's result.
-- +goose StatementBegin
CREATE FUNCTION baton_fence(ids text[], me text) RETURNS void AS $$
DECLARE
    lost text;
BEGIN
    SELECT string_agg(r.id, ',') INTO lost
      FROM (SELECT id, owner FROM runs WHERE id = ANY(ids) ORDER BY id FOR UPDATE) r
     WHERE r.owner <> me;
    IF lost IS NOT NULL THEN
        RAISE EXCEPTION 'runs owned by another instance: %', lost USING ERRCODE = 'BF001', DETAIL = lost;
    END IF;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION baton_fence(text[], text);
DROP INDEX runs_owner_unfinished;
ALTER TABLE runs DROP COLUMN owner;
DROP TABLE instances;
