-- Schema 2: the sync inbox (the same table as SQLite's schema 6): record ids and lifecycle events that
-- change notifications asked `callrecords sync` to fetch, queued by the webhook receiver of `serve`,
-- drained by `sync`.
CREATE TABLE sync_inbox (
    tenant          text   COLLATE "C" NOT NULL,
    kind            text   COLLATE "C" NOT NULL,
    id              text   COLLATE "C" NOT NULL,
    subscription_id text   NOT NULL,
    received_us     bigint NOT NULL,
    due_us          bigint NOT NULL,
    attempts        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, kind, id)
);
CREATE INDEX sync_inbox_due ON sync_inbox (tenant, due_us);
