-- Schema 1 of the PostgreSQL store: the same storage shape as the SQLite backend (schema 5), with PostgreSQL
-- types. Raw JSON is `bytea` (byte for byte as received; jsonb would reorder keys), every other JSON column is
-- `text` in its original key order. Keys and ordered text columns use COLLATE "C" (byte order, as SQLite
-- compares, whatever the database locale). No foreign keys: a backend only stores, the writer keeps the rows
-- consistent inside one transaction, and every insert would pay for the check.

-- The write heads: one row per kind of write, bumped by every transaction that changes what reads answer.
-- Row 1 is also the change-feed counter: record batches lock it (SELECT … FOR UPDATE) before anything else
-- and assign feed positions from it, so positions are in commit order (see docs/decisions.md).
CREATE TABLE store_heads (
    id       integer PRIMARY KEY,
    feed_seq bigint  NOT NULL,
    writes   bigint  NOT NULL
);
INSERT INTO store_heads (id, feed_seq, writes) VALUES (1, 0, 0), (2, 0, 0), (3, 0, 0);

-- Every copy of every record version that was received (duplicates are not written). seq is the
-- change-feed position (commit order) and the copy's revision.
CREATE TABLE record_versions (
    seq           bigint  PRIMARY KEY,
    tenant        text    COLLATE "C" NOT NULL,
    record_id     text    COLLATE "C" NOT NULL,
    version       bigint  NOT NULL,
    last_modified text,
    received_us   bigint  NOT NULL,
    outcome       text    NOT NULL,             -- stored | conflict | stale | partial
    change_kind   text    NOT NULL,             -- created | updated | completed | stale | conflict
    partial       boolean NOT NULL,
    content_hash  bytea   NOT NULL,             -- tagged XXH3-128 of the canonical value
    raw           bytea   NOT NULL              -- the JSON exactly as received
);
CREATE INDEX record_versions_by_id ON record_versions (tenant, record_id, version, seq);
CREATE INDEX record_versions_by_record ON record_versions (record_id, tenant);

-- The served copy of each record, with its index columns. rk is the seq of the record's first copy.
CREATE TABLE records (
    rk                bigint  PRIMARY KEY,
    tenant            text    COLLATE "C" NOT NULL,
    id                text    COLLATE "C" NOT NULL,
    version           bigint  NOT NULL,
    version_seq       bigint  NOT NULL,
    partial           boolean NOT NULL,
    content_hash      bytea   NOT NULL,
    received_us       bigint  NOT NULL,
    last_modified     text,
    start_key         bigint  NOT NULL,         -- startDateTime µs, i64::MIN when absent
    end_us            bigint,
    retention_key     bigint  NOT NULL,         -- end µs, else start µs, else i64::MIN
    call_type         text,
    modalities        text,                     -- JSON array
    organizer_id      text,
    tenant_ids        text,                     -- JSON array of the tenantIds inside the record
    session_count     bigint  NOT NULL,
    participant_count bigint  NOT NULL,
    head_json         text    NOT NULL,
    UNIQUE (tenant, id)
);
CREATE INDEX records_by_start ON records (start_key, id, tenant);
CREATE INDEX records_by_tenant_start ON records (tenant, start_key, id);
CREATE INDEX records_by_id ON records (id);
CREATE INDEX records_by_retention ON records (retention_key);

-- Sessions of the served copy in call order (index-range paging on (rk, ordinal)).
CREATE TABLE sessions (
    rk          bigint  NOT NULL,
    ordinal     bigint  NOT NULL,
    session_id  text    COLLATE "C",
    json        text    NOT NULL,
    segments_at bigint,
    segments    text,
    PRIMARY KEY (rk, ordinal)
);
CREATE INDEX sessions_by_id ON sessions (rk, session_id, ordinal);

CREATE TABLE participants (
    rk             bigint NOT NULL,
    ordinal        bigint NOT NULL,
    participant_id text   COLLATE "C",
    json           text   NOT NULL,
    PRIMARY KEY (rk, ordinal)
);
CREATE INDEX participants_by_id ON participants (rk, participant_id, ordinal);

-- Filter table: participants_v2 ids and the organizer id of each served record.
CREATE TABLE record_participant_ids (
    participant_id text   COLLATE "C" NOT NULL,
    rk             bigint NOT NULL,
    PRIMARY KEY (participant_id, rk)
);
CREATE INDEX record_participant_ids_by_rk ON record_participant_ids (rk);

-- PSTN / direct routing / SMS / blocked-users / dial-out rows.
CREATE TABLE log_rows (
    seq            bigserial PRIMARY KEY,       -- insertion order (ties of equal time)
    tenant         text   NOT NULL,
    kind           text   NOT NULL,
    time_us        bigint,
    period_from_us bigint,
    period_to_us   bigint,
    content_hash   bytea  NOT NULL,
    received_us    bigint NOT NULL,
    raw            text   NOT NULL
);
CREATE UNIQUE INDEX log_rows_by_content ON log_rows (tenant, kind, content_hash);
CREATE INDEX log_rows_by_time ON log_rows (kind, time_us, seq);
CREATE INDEX log_rows_by_period ON log_rows (kind, period_from_us, seq);

CREATE TABLE consumer_cursors (
    consumer text   PRIMARY KEY,
    cursor   bigint NOT NULL
);

CREATE TABLE subscriptions (
    id            text   COLLATE "C" PRIMARY KEY,
    tenant        text   NOT NULL,
    app_id        text   NOT NULL,
    resource      text   NOT NULL,
    change_types  text   NOT NULL,
    expiration_us bigint NOT NULL,
    json          text   NOT NULL,
    secret        text,
    start_cursor  bigint NOT NULL
);
CREATE INDEX subscriptions_by_tenant ON subscriptions (tenant, id);

CREATE TABLE notifications (
    seq             bigserial PRIMARY KEY,
    notification_id text   NOT NULL UNIQUE,
    subscription_id text   NOT NULL,
    tenant          text   NOT NULL,
    target_url      text   NOT NULL,
    kind            text   NOT NULL,            -- change | lifecycle
    change_type     text,
    record_id       text,
    change_cursor   bigint,
    state           text   NOT NULL,            -- pending | delivered | dropped
    due_us          bigint NOT NULL,
    lease_until_us  bigint NOT NULL DEFAULT 0,
    attempts        integer NOT NULL DEFAULT 0,
    last_attempt_us bigint,
    last_result     text,
    enqueued_us     bigint NOT NULL,
    finished_us     bigint,
    drop_reason     text
);
CREATE INDEX notifications_due ON notifications (state, due_us);
CREATE INDEX notifications_by_subscription ON notifications (subscription_id, seq);

CREATE TABLE sync_state (
    tenant     text   COLLATE "C" PRIMARY KEY,
    state      text   NOT NULL,
    updated_us bigint NOT NULL
);

-- Leases: one holder at a time per name (e.g. the sync worker of a tenant), until the lease expires.
CREATE TABLE leases (
    name     text   PRIMARY KEY,
    holder   text   NOT NULL,
    until_us bigint NOT NULL
);
