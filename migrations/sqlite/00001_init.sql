-- Foundation schema: users and their credentials, the audit log, templates
-- and their versions. Runs, step runs, events and timers arrive in 00002.
--
-- SQLite has no time or JSON types. Times are TEXT in UTC, truncated to
-- microseconds by the store and written by the driver as
-- "2006-01-02 15:04:05.999999999-07:00", which sorts in time order because
-- every value has the same +00:00 offset and '+' sorts before '.' and the
-- digits when one fraction is shorter than another. The columns are declared
-- DATETIME because that declared type is what makes the driver (glebarez/
-- go-sqlite) parse them back into time.Time. JSON is TEXT checked by
-- json_valid. Booleans are 0/1 integers. AUTOINCREMENT keeps ids from being
-- reused after deletes, so an old token or session id never names a new row.

-- +goose Up
CREATE TABLE users (
    id            INTEGER  PRIMARY KEY AUTOINCREMENT,
    name          TEXT     NOT NULL,
    password_hash TEXT     NOT NULL DEFAULT '',
    roles         TEXT     NOT NULL DEFAULT '[]' CHECK (json_valid(roles)),
    disabled      INTEGER  NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    DATETIME NOT NULL,
    CONSTRAINT users_name_key UNIQUE (name)
);

CREATE TABLE api_tokens (
    id           INTEGER  PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT     NOT NULL DEFAULT '',
    hash         TEXT     NOT NULL,
    prefix       TEXT     NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    last_used_at DATETIME,
    revoked_at   DATETIME,
    CONSTRAINT api_tokens_hash_key UNIQUE (hash)
);
-- ListTokens: one user's tokens, newest first.
CREATE INDEX api_tokens_user_created ON api_tokens (user_id, created_at DESC, id DESC);

CREATE TABLE sessions (
    id         INTEGER  PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       TEXT     NOT NULL,
    csrf_token TEXT     NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    last_seen  DATETIME NOT NULL,
    ip         TEXT     NOT NULL DEFAULT '',
    user_agent TEXT     NOT NULL DEFAULT '',
    CONSTRAINT sessions_hash_key UNIQUE (hash)
);
-- DeleteExpiredSessions sweeps by expiry; the foreign key wants its own index
-- so deleting a user does not scan every session.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- login_failures is keyed by the name typed at the login form, not by a user
-- id, so that failures against unknown names are throttled too.
CREATE TABLE login_failures (
    id        INTEGER  PRIMARY KEY AUTOINCREMENT,
    user_name TEXT     NOT NULL,
    ip        TEXT     NOT NULL DEFAULT '',
    at        DATETIME NOT NULL
);
-- CountLoginFailures: (user, ip) equality, then a range on at.
CREATE INDEX login_failures_user_ip_at ON login_failures (user_name, ip, at);

CREATE TABLE audit_log (
    id     INTEGER  PRIMARY KEY AUTOINCREMENT,
    at     DATETIME NOT NULL,
    actor  TEXT     NOT NULL,
    action TEXT     NOT NULL,
    target TEXT     NOT NULL DEFAULT '',
    ip     TEXT     NOT NULL DEFAULT '',
    detail TEXT     CHECK (detail IS NULL OR json_valid(detail))
);
-- ListAudit pages by id (the primary key), so it needs no other index; this
-- one serves "what happened to X".
CREATE INDEX audit_log_target ON audit_log (target, id);

CREATE TABLE templates (
    id                 INTEGER  PRIMARY KEY AUTOINCREMENT,
    key                TEXT     NOT NULL,
    name               TEXT     NOT NULL,
    description        TEXT     NOT NULL DEFAULT '',
    tags               TEXT     NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
    required_approvals INTEGER  NOT NULL DEFAULT 1 CHECK (required_approvals >= 0),
    created_by         TEXT     NOT NULL DEFAULT '',
    created_at         DATETIME NOT NULL,
    updated_at         DATETIME NOT NULL,
    CONSTRAINT templates_key_key UNIQUE (key)
);

CREATE TABLE template_versions (
    id           INTEGER  PRIMARY KEY AUTOINCREMENT,
    template_id  INTEGER  NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    number       INTEGER  NOT NULL CHECK (number >= 1),
    status       TEXT     NOT NULL DEFAULT 'draft',
    definition   TEXT     NOT NULL CHECK (json_valid(definition)),
    author       TEXT     NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    updated_at   DATETIME NOT NULL,
    submitted_at DATETIME,
    reviewer     TEXT     NOT NULL DEFAULT '',
    reviewed_at  DATETIME,
    comment      TEXT     NOT NULL DEFAULT '',
    -- The unique constraint also serves "versions of a template" lookups.
    CONSTRAINT template_versions_template_number_key UNIQUE (template_id, number)
);
-- The review queue: versions by status, oldest submission first.
CREATE INDEX template_versions_status ON template_versions (status, submitted_at);

-- +goose Down
DROP TABLE template_versions;
DROP TABLE templates;
DROP TABLE audit_log;
DROP TABLE login_failures;
DROP TABLE sessions;
DROP TABLE api_tokens;
DROP TABLE users;
