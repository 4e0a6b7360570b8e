-- Alerts (issue 14): rules, channels, escalation policies, the alerts that
-- fired, their escalation timers (alerts.next_step_at), the deliveries they
-- owe (pending ones included, so a restart neither loses nor repeats one),
-- every attempt of a delivery, the in-app bell and each user's own
-- notification address. Same columns as the SQLite file.
--
-- alerts.open_key is "<rule>/<subject>" while the alert is open and NULL once
-- it is resolved: its unique index keeps one open alert per rule and subject
-- (NULLs never collide), so a repeat raises count instead of a new alert.
-- alert_deliveries is unique per (alert, channel, step): an escalation step
-- that is taken twice (two instances, a retry after a crash) owes each
-- channel one delivery, sent under one id.

-- +goose Up
CREATE TABLE alert_channels (
    id         bigserial   PRIMARY KEY,
    name       text     NOT NULL UNIQUE,
    kind       text     NOT NULL,
    config     jsonb    NOT NULL DEFAULT '{}',
    sealed     bytea,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE alert_policies (
    id         bigserial   PRIMARY KEY,
    name       text     NOT NULL UNIQUE,
    levels     jsonb    NOT NULL DEFAULT '[]',
    repeat     bigint   NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE alert_rules (
    id         bigserial   PRIMARY KEY,
    name       text     NOT NULL UNIQUE,
    severity   text     NOT NULL,
    policy_id  bigint   REFERENCES alert_policies (id) ON DELETE SET NULL,
    enabled    boolean  NOT NULL DEFAULT TRUE,
    condition  jsonb    NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE alerts (
    id            bigserial   PRIMARY KEY,
    rule_id       bigint   NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    open_key      text     UNIQUE,
    subject       text     NOT NULL,
    severity      text     NOT NULL,
    state         text     NOT NULL,
    summary       text     NOT NULL DEFAULT '',
    run_id        text     NOT NULL DEFAULT '',
    template      text     NOT NULL DEFAULT '',
    first_at      timestamptz NOT NULL,
    last_at       timestamptz NOT NULL,
    count         bigint   NOT NULL DEFAULT 1,
    level         bigint   NOT NULL DEFAULT 0,
    next_step     bigint   NOT NULL DEFAULT 0,
    next_step_at  timestamptz,
    acked_by      text     NOT NULL DEFAULT '',
    acked_at      timestamptz,
    resolved_by   text     NOT NULL DEFAULT '',
    resolved_at   timestamptz,
    snoozed_until timestamptz
);
CREATE INDEX alerts_due ON alerts (next_step_at) WHERE next_step_at IS NOT NULL;
CREATE INDEX alerts_state_id ON alerts (state, id);

CREATE TABLE alert_deliveries (
    id          text     PRIMARY KEY,
    alert_id    bigint   NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    channel_id  bigint   NOT NULL REFERENCES alert_channels (id) ON DELETE CASCADE,
    level       bigint   NOT NULL,
    step        bigint   NOT NULL,
    status      text     NOT NULL,
    attempts    bigint   NOT NULL DEFAULT 0,
    next_at     timestamptz NOT NULL,
    lease_until timestamptz,
    created_at  timestamptz NOT NULL,
    CONSTRAINT alert_deliveries_step_key UNIQUE (alert_id, channel_id, step)
);
CREATE INDEX alert_deliveries_pending ON alert_deliveries (next_at) WHERE status = 'pending';

CREATE TABLE alert_delivery_attempts (
    id          bigserial   PRIMARY KEY,
    delivery_id text     NOT NULL REFERENCES alert_deliveries (id) ON DELETE CASCADE,
    alert_id    bigint   NOT NULL,
    channel_id  bigint   NOT NULL,
    level       bigint   NOT NULL,
    attempt     bigint   NOT NULL,
    status      text     NOT NULL,
    answer      text     NOT NULL DEFAULT '',
    at          timestamptz NOT NULL
);
CREATE INDEX alert_delivery_attempts_alert ON alert_delivery_attempts (alert_id, id);

CREATE TABLE notifications (
    id         bigserial   PRIMARY KEY,
    user_name  text     NOT NULL,
    alert_id   bigint,
    title      text     NOT NULL,
    body       text     NOT NULL DEFAULT '',
    link       text     NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    read_at    timestamptz
);
CREATE INDEX notifications_user ON notifications (user_name, id);

CREATE TABLE notify_settings (
    user_name  text     PRIMARY KEY,
    email      text     NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL
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
