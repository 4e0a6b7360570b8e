-- Draft locks: who is editing a template's draft right now. A lock is a
-- lease: the designer renews it with a heartbeat, and a lock left by a
-- closed tab simply expires (expires_at), so nobody has to release it.
-- lock_key names what is locked (e.g. "draft:<template>"); token is the
-- holder's tab, so the same person in two tabs is two holders.

-- +goose Up
CREATE TABLE draft_locks (
    lock_key    text        PRIMARY KEY,
    holder      text        NOT NULL,
    token       text        NOT NULL,
    acquired_at timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    CONSTRAINT draft_locks_expiry_check CHECK (expires_at > acquired_at)
);

-- +goose Down
DROP TABLE draft_locks;
