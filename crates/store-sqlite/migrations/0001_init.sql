-- Every copy of every record version that was received (duplicates are not written).
CREATE TABLE record_versions (
    seq           INTEGER PRIMARY KEY,          -- receipt order
    record_id     TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    last_modified TEXT,
    received_us   INTEGER NOT NULL,
    outcome       TEXT    NOT NULL,             -- stored | conflict | stale | partial
    partial       INTEGER NOT NULL,
    content_hash  BLOB    NOT NULL,             -- MurmurHash3 x64_128 of the canonical value (sans OData annotations)
    raw_encoding  INTEGER NOT NULL,             -- 0 = UTF-8 text, 1 = raw deflate
    raw           BLOB    NOT NULL              -- the JSON exactly as received
);
CREATE INDEX record_versions_by_id ON record_versions (record_id, version, seq);

-- The served copy of each record, with its index columns.
CREATE TABLE records (
    rk                INTEGER PRIMARY KEY,
    id                TEXT    NOT NULL UNIQUE,
    version           INTEGER NOT NULL,
    version_seq       INTEGER NOT NULL REFERENCES record_versions (seq),
    partial           INTEGER NOT NULL,
    content_hash      BLOB    NOT NULL,
    received_us       INTEGER NOT NULL,
    last_modified     TEXT,
    start_key         INTEGER NOT NULL,         -- startDateTime µs, i64::MIN when absent
    end_us            INTEGER,
    retention_key     INTEGER NOT NULL,         -- end µs, else start µs, else i64::MIN
    call_type         TEXT,
    modalities        TEXT,                     -- JSON array
    organizer_id      TEXT,
    tenant_ids        TEXT,                     -- JSON array
    session_count     INTEGER NOT NULL,
    participant_count INTEGER NOT NULL,
    head_json         TEXT    NOT NULL
);
CREATE INDEX records_by_start ON records (start_key, id);
CREATE INDEX records_by_retention ON records (retention_key);

-- Sessions of the served copy in call order; segments last so a page without them skips them.
CREATE TABLE sessions (
    rk          INTEGER NOT NULL REFERENCES records (rk) ON DELETE CASCADE,
    ordinal     INTEGER NOT NULL,
    session_id  TEXT,
    json        TEXT    NOT NULL,
    segments_at INTEGER,
    segments    TEXT,
    PRIMARY KEY (rk, ordinal)
);
CREATE INDEX sessions_by_id ON sessions (rk, session_id, ordinal);

CREATE TABLE participants (
    rk             INTEGER NOT NULL REFERENCES records (rk) ON DELETE CASCADE,
    ordinal        INTEGER NOT NULL,
    participant_id TEXT,
    json           TEXT    NOT NULL,
    PRIMARY KEY (rk, ordinal)
);
CREATE INDEX participants_by_id ON participants (rk, participant_id, ordinal);

-- Filter table: participants_v2 ids and the organizer id of each served record.
CREATE TABLE record_participant_ids (
    participant_id TEXT    NOT NULL,
    rk             INTEGER NOT NULL REFERENCES records (rk) ON DELETE CASCADE,
    PRIMARY KEY (participant_id, rk)
) WITHOUT ROWID;
CREATE INDEX record_participant_ids_by_rk ON record_participant_ids (rk);

-- PSTN / direct routing / SMS / blocked-users / dial-out rows.
CREATE TABLE log_rows (
    seq            INTEGER PRIMARY KEY,         -- insertion order
    kind           TEXT    NOT NULL,
    time_us        INTEGER,                     -- the kind's time property, µs
    period_from_us INTEGER,                     -- dial-out rows only
    period_to_us   INTEGER,
    content_hash   BLOB    NOT NULL,             -- MurmurHash3 x64_128 of the canonical row (+ period for dial-out)
    received_us    INTEGER NOT NULL,
    raw            TEXT    NOT NULL
);
CREATE UNIQUE INDEX log_rows_by_content ON log_rows (kind, content_hash);
CREATE INDEX log_rows_by_time ON log_rows (kind, time_us, seq);
CREATE INDEX log_rows_by_period ON log_rows (kind, period_from_us, seq);
