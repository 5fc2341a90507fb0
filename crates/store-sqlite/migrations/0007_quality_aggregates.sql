-- Schema 7: pre-aggregated call-quality counters. Summaries read about one row per (group, UTC day of the
-- records' start) instead of one counter row per record and group key:
--   quality_daily    the SUM of the contributions of the records that start on one UTC day, per group key
--                    and group value (kept by the deriver's transaction: a replaced record's old
--                    contribution is taken away, its new one added);
--   quality_records  is rebuilt with each record's own contributions (one blob: the edges of windows that do not
--                    start or end at midnight, and what to take away when a newer version replaces it),
--                    its stream / poor-stream / failed-session counts (the call list), a start index, and
--                    its stream and session rows' JSON as ONE deflated blob (the rows of a record repeat
--                    the call's slicers: ~8x smaller than a JSON text per row, which was most of the bytes
--                    the deriver wrote);
--   quality_streams  keeps the columns reads filter on and the row's position in that blob;
--   quality_sessions is gone (its JSON is in the blob, its only filter in failed_sessions).
-- Derived data can always be recomputed from the records, so this migration throws the old derived rows
-- away, bumps the epoch and rewinds the deriver's cursor: the next catch-up derives everything again.

DROP TABLE quality_contributions;
DROP TABLE quality_streams;
DROP TABLE quality_sessions;
-- Rebuilt as a rowid table: its rows now carry blobs (a few KB), which a WITHOUT ROWID table keyed by
-- random record ids would keep splitting and moving; rows are appended, the key is a small index.
DROP TABLE quality_records;
CREATE TABLE quality_records (
    tenant          TEXT    NOT NULL,
    record_id       TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    start_us        INTEGER,
    stream_count    INTEGER NOT NULL DEFAULT 0,
    poor_streams    INTEGER NOT NULL DEFAULT 0,
    failed_sessions INTEGER NOT NULL DEFAULT 0,
    -- The record's contributions: see encode_contributions in src/quality.rs.
    contributions   BLOB    NOT NULL DEFAULT x'',
    -- The rows: see encode_rows in src/quality.rs.
    rows            BLOB    NOT NULL DEFAULT x''
);
CREATE UNIQUE INDEX quality_records_by_key ON quality_records (tenant, record_id);
CREATE INDEX quality_records_by_start ON quality_records (start_us, record_id, tenant);

CREATE TABLE quality_streams (
    seq          INTEGER PRIMARY KEY,
    tenant       TEXT    NOT NULL,
    record_id    TEXT    NOT NULL,
    start_us     INTEGER,
    kind         TEXT    NOT NULL,
    class        TEXT    NOT NULL,
    subnet       TEXT,
    has_building INTEGER NOT NULL,
    row          INTEGER NOT NULL      -- position of the row's JSON in quality_records.rows
);
CREATE INDEX quality_streams_by_record ON quality_streams (tenant, record_id);
CREATE INDEX quality_streams_by_start ON quality_streams (start_us);

-- day: days since 1970-01-01 (UTC) of the records' startDateTime; -9223372036854775808 for records
-- without one (they count only in unbounded windows). counts: little-endian u64s, in the order the
-- deriver gives them (the quality crate's Counts::FIELDS).
CREATE TABLE quality_daily (
    group_key   TEXT    NOT NULL,
    day         INTEGER NOT NULL,
    tenant      TEXT    NOT NULL,
    group_value TEXT,
    counts      BLOB    NOT NULL
);
CREATE INDEX quality_daily_by_key ON quality_daily (group_key, day, tenant, group_value);

UPDATE quality_meta SET epoch = epoch + 1 WHERE id = 1;
UPDATE consumer_cursors SET cursor = 0 WHERE consumer = 'quality';
