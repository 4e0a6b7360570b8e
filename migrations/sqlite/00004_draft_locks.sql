-- Draft locks: who is editing a template's draft right now. A lock is a
-- lease: the designer renews it with a heartbeat, and a lock left by a
-- closed tab simply expires (expires_at), so nobody has to release it.
-- Same table as the PostgreSQL file; DATETIME text in UTC as in 00001.

-- +goose Up
CREATE TABLE draft_locks (
    lock_key    TEXT     PRIMARY KEY,
    holder      TEXT     NOT NULL,
    token       TEXT     NOT NULL,
    acquired_at DATETIME NOT NULL,
    expires_at  DATETIME NOT NULL,
    CONSTRAINT draft_locks_expiry_check CHECK (expires_at > acquired_at)
);

-- +goose Down
DROP TABLE draft_locks;
