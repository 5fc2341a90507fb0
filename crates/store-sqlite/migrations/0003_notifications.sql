-- Schema 3: durable change-feed cursors of the consumers, change-notification subscriptions, and the outbox of
-- notifications with their delivery state (a claim lease lets several processes share the work).

CREATE TABLE consumer_cursors (
    consumer TEXT PRIMARY KEY,
    cursor   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE subscriptions (
    id            TEXT PRIMARY KEY,
    tenant        TEXT    NOT NULL,
    app_id        TEXT    NOT NULL,
    resource      TEXT    NOT NULL,
    change_types  TEXT    NOT NULL,
    expiration_us INTEGER NOT NULL,
    json          TEXT    NOT NULL,
    secret        TEXT,
    start_cursor  INTEGER NOT NULL
);
CREATE INDEX subscriptions_by_tenant ON subscriptions (tenant, id);

CREATE TABLE notifications (
    seq             INTEGER PRIMARY KEY,
    notification_id TEXT    NOT NULL UNIQUE,
    subscription_id TEXT    NOT NULL,
    tenant          TEXT    NOT NULL,
    target_url      TEXT    NOT NULL,
    kind            TEXT    NOT NULL,           -- change | lifecycle
    change_type     TEXT,                       -- created | updated (change), the event (lifecycle)
    record_id       TEXT,
    change_cursor   INTEGER,
    state           TEXT    NOT NULL,           -- pending | delivered | dropped
    due_us          INTEGER NOT NULL,
    lease_until_us  INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_attempt_us INTEGER,
    last_result     TEXT,
    enqueued_us     INTEGER NOT NULL,
    finished_us     INTEGER,
    drop_reason     TEXT
);
CREATE INDEX notifications_due ON notifications (state, due_us);
CREATE INDEX notifications_by_subscription ON notifications (subscription_id, seq);
