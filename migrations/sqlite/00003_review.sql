-- Review and triggers: who edited each version, every approval of every
-- submission, the trail of every review transition, and the storage of
-- schedules and webhooks with their replay guards. Same tables as the
-- PostgreSQL file; types as in 00001 (DATETIME text in UTC, JSON text
-- checked by json_valid, booleans as 0/1).
--
-- A submitted version's definition can never change: the store refuses it,
-- and the triggers below refuse it for any UPDATE, so even a hand-written
-- statement cannot rewrite what reviewers approved.

-- +goose Up

-- review_round numbers the submissions of a version (0: never submitted).
-- A withdrawal ends a round; only approvals of the current round count.
ALTER TABLE template_versions ADD COLUMN review_round INTEGER NOT NULL DEFAULT 0;
CREATE TABLE version_editors (
    id         INTEGER  PRIMARY KEY AUTOINCREMENT,
    version_id INTEGER  NOT NULL REFERENCES template_versions (id) ON DELETE CASCADE,
    user_name  TEXT     NOT NULL,
    first_at   DATETIME NOT NULL,
    CONSTRAINT version_editors_version_user_key UNIQUE (version_id, user_name)
);

CREATE TABLE version_approvals (
    id         INTEGER  PRIMARY KEY AUTOINCREMENT,
    version_id INTEGER  NOT NULL REFERENCES template_versions (id) ON DELETE CASCADE,
    round      INTEGER  NOT NULL CHECK (round >= 1),
    approver   TEXT     NOT NULL,
    at         DATETIME NOT NULL,
    comment    TEXT     NOT NULL DEFAULT '',
    CONSTRAINT version_approvals_version_round_approver_key UNIQUE (version_id, round, approver)
);

CREATE TABLE version_events (
    id           INTEGER  PRIMARY KEY AUTOINCREMENT,
    version_id   INTEGER  NOT NULL REFERENCES template_versions (id) ON DELETE CASCADE,
    action       TEXT     NOT NULL,
    actor        TEXT     NOT NULL,
    at           DATETIME NOT NULL,
    comment      TEXT     NOT NULL DEFAULT '',
    round        INTEGER  NOT NULL DEFAULT 0,
    from_version INTEGER  NOT NULL DEFAULT 0
);
CREATE INDEX version_events_version ON version_events (version_id, id);

CREATE UNIQUE INDEX template_versions_one_draft ON template_versions (template_id) WHERE status = 'draft';

-- +goose StatementBegin
CREATE TRIGGER template_versions_frozen BEFORE UPDATE ON template_versions
FOR EACH ROW WHEN OLD.status <> 'draft' AND (NEW.definition IS NOT OLD.definition
    OR NEW.template_id IS NOT OLD.template_id OR NEW.number IS NOT OLD.number
    OR NEW.author IS NOT OLD.author)
BEGIN
    SELECT RAISE(ABORT, 'a submitted version''s definition can never change');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER template_versions_final BEFORE UPDATE OF status ON template_versions
FOR EACH ROW WHEN OLD.status IN ('approved', 'rejected') AND NEW.status IS NOT OLD.status
BEGIN
    SELECT RAISE(ABORT, 'an approved or rejected version''s status is final');
END;
-- +goose StatementEnd

CREATE TABLE schedules (
    id           INTEGER  PRIMARY KEY AUTOINCREMENT,
    template_id  INTEGER  NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    cron         TEXT     NOT NULL,
    time_zone    TEXT     NOT NULL DEFAULT 'UTC',
    enabled      INTEGER  NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    overlap      TEXT     NOT NULL DEFAULT 'skip' CHECK (overlap IN ('skip', 'allow')),
    inputs       TEXT     NOT NULL DEFAULT '{}' CHECK (json_valid(inputs)),
    created_by   TEXT     NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    updated_at   DATETIME NOT NULL,
    last_fire_at DATETIME
);
CREATE INDEX schedules_template ON schedules (template_id, id);

CREATE TABLE schedule_fires (
    schedule_id INTEGER  NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    fire_at     DATETIME NOT NULL,
    claimed_at  DATETIME NOT NULL,
    run_id      TEXT     NOT NULL DEFAULT '',
    PRIMARY KEY (schedule_id, fire_at)
) WITHOUT ROWID;
CREATE INDEX schedule_fires_claimed_at ON schedule_fires (claimed_at);

CREATE TABLE webhooks (
    id          INTEGER  PRIMARY KEY AUTOINCREMENT,
    template_id INTEGER  NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    key         TEXT     NOT NULL,
    secret      TEXT     NOT NULL,
    mode        TEXT     NOT NULL CHECK (mode IN ('hmac', 'token')),
    enabled     INTEGER  NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_by  TEXT     NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL,
    CONSTRAINT webhooks_key_key UNIQUE (key),
    CONSTRAINT webhooks_template_key UNIQUE (template_id)
);

CREATE TABLE webhook_deliveries (
    webhook_id  INTEGER  NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    delivery_id TEXT     NOT NULL,
    received_at DATETIME NOT NULL,
    run_id      TEXT     NOT NULL DEFAULT '',
    PRIMARY KEY (webhook_id, delivery_id)
) WITHOUT ROWID;
CREATE INDEX webhook_deliveries_received_at ON webhook_deliveries (received_at);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DROP TABLE schedule_fires;
DROP TABLE schedules;
DROP TRIGGER template_versions_final;
DROP TRIGGER template_versions_frozen;
DROP INDEX template_versions_one_draft;
DROP TABLE version_events;
DROP TABLE version_approvals;
DROP TABLE version_editors;
ALTER TABLE template_versions DROP COLUMN review_round;
