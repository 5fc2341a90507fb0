-- Schema 6: the sync inbox: record ids (and lifecycle events) that change notifications asked `callrecords sync`
-- to fetch, queued by the webhook receiver of `serve`, drained by `sync`.

CREATE TABLE sync_inbox (
    tenant          TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    subscription_id TEXT    NOT NULL,
    received_us     INTEGER NOT NULL,
    due_us          INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, kind, id)
) WITHOUT ROWID;

CREATE INDEX sync_inbox_due ON sync_inbox (tenant, due_us);
