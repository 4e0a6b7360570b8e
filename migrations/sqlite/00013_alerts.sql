-- Alerts (issue 14): rules, channels, escalation policies, the alerts that
-- fired, their escalation timers (alerts.next_step_at), the deliveries they
-- owe (pending ones included, so a restart neither loses nor repeats one),
-- every attempt of a delivery, the in-app bell and each user's own
-- notification address. Same columns as the PostgreSQL file.
--
-- alerts.open_key is "<rule>/<subject>" while the alert is open and NULL once
-- it is resolved: its unique index keeps one open alert per rule and subject
-- (NULLs never collide), so a repeat raises count instead of a new alert.
-- alert_deliveries is unique per (alert, channel, step): an escalation step
-- that is taken twice (two instances, a retry after a crash) owes each
-- channel one delivery, sent under one id.

-- +goose Up
CREATE TABLE alert_channels (
    id         INTEGER  PRIMARY KEY AUTOINCREMENT,
    name       TEXT     NOT NULL UNIQUE,
    kind       TEXT     NOT NULL,
    config     TEXT     NOT NULL DEFAULT '{}',
    sealed     BLOB,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);

CREATE TABLE alert_policies (
    id         INTEGER  PRIMARY KEY AUTOINCREMENT,
    name       TEXT     NOT NULL UNIQUE,
    levels     TEXT     NOT NULL DEFAULT '[]',
    repeat     INTEGER  NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);

CREATE TABLE alert_rules (
    id         INTEGER  PRIMARY KEY AUTOINCREMENT,
    name       TEXT     NOT NULL UNIQUE,
    severity   TEXT     NOT NULL,
    policy_id  INTEGER  REFERENCES alert_policies (id) ON DELETE SET NULL,
    enabled    BOOLEAN  NOT NULL DEFAULT TRUE,
    condition  TEXT     NOT NULL DEFAULT '{}',
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);

CREATE TABLE alerts (
    id            INTEGER  PRIMARY KEY AUTOINCREMENT,
    rule_id       INTEGER  NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    open_key      TEXT     UNIQUE,
    subject       TEXT     NOT NULL,
    severity      TEXT     NOT NULL,
    state         TEXT     NOT NULL,
    summary       TEXT     NOT NULL DEFAULT '',
    run_id        TEXT     NOT NULL DEFAULT '',
    template      TEXT     NOT NULL DEFAULT '',
    first_at      DATETIME NOT NULL,
    last_at       DATETIME NOT NULL,
    count         INTEGER  NOT NULL DEFAULT 1,
    level         INTEGER  NOT NULL DEFAULT 0,
    next_step     INTEGER  NOT NULL DEFAULT 0,
    next_step_at  DATETIME,
    acked_by      TEXT     NOT NULL DEFAULT '',
    acked_at      DATETIME,
    resolved_by   TEXT     NOT NULL DEFAULT '',
    resolved_at   DATETIME,
    snoozed_until DATETIME
);
CREATE INDEX alerts_due ON alerts (next_step_at) WHERE next_step_at IS NOT NULL;
CREATE INDEX alerts_state_id ON alerts (state, id);

CREATE TABLE alert_deliveries (
    id          TEXT     PRIMARY KEY,
    alert_id    INTEGER  NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    channel_id  INTEGER  NOT NULL REFERENCES alert_channels (id) ON DELETE CASCADE,
    level       INTEGER  NOT NULL,
    step        INTEGER  NOT NULL,
    status      TEXT     NOT NULL,
    attempts    INTEGER  NOT NULL DEFAULT 0,
    next_at     DATETIME NOT NULL,
    lease_until DATETIME,
    created_at  DATETIME NOT NULL,
    CONSTRAINT alert_deliveries_step_key UNIQUE (alert_id, channel_id, step)
);
CREATE INDEX alert_deliveries_pending ON alert_deliveries (next_at) WHERE status = 'pending';

CREATE TABLE alert_delivery_attempts (
    id          INTEGER  PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT     NOT NULL REFERENCES alert_deliveries (id) ON DELETE CASCADE,
    alert_id    INTEGER  NOT NULL,
    channel_id  INTEGER  NOT NULL,
    level       INTEGER  NOT NULL,
    attempt     INTEGER  NOT NULL,
    status      TEXT     NOT NULL,
    answer      TEXT     NOT NULL DEFAULT '',
    at          DATETIME NOT NULL
);
CREATE INDEX alert_delivery_attempts_alert ON alert_delivery_attempts (alert_id, id);

CREATE TABLE notifications (
    id         INTEGER  PRIMARY KEY AUTOINCREMENT,
    user_name  TEXT     NOT NULL,
    alert_id   INTEGER,
    title      TEXT     NOT NULL,
    body       TEXT     NOT NULL DEFAULT '',
    link       TEXT     NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    read_at    DATETIME
);
CREATE INDEX notifications_user ON notifications (user_name, id);

CREATE TABLE notify_settings (
    user_name  TEXT     PRIMARY KEY,
    email      TEXT     NOT NULL DEFAULT '',
    updated_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE notify_settings;
DROP TABLE notifications;
DROP TABLE alert_delivery_attempts;
DROP TABLE alert_deliveries;
DROP TABLE alerts;
DROP TABLE alert_rules;
DROP TABLE alert_policies;
DROP TABLE alert_channels;
