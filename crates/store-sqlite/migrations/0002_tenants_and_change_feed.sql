-- Schema 2: every record version, served record and log row belongs to a tenant (records are keyed by
-- (tenant, id)); every stored copy says what it did to its record (the change feed); content hashes are
-- tagged with the function that made them (recomputed as XXH3-128 by the Rust step of this migration).
-- Runs with foreign keys off (records is rebuilt; sessions and participants keep pointing at its rk).

ALTER TABLE record_versions ADD COLUMN tenant TEXT NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE record_versions ADD COLUMN change_kind TEXT NOT NULL DEFAULT 'created';
UPDATE record_versions SET change_kind = CASE
    WHEN outcome IN ('stale', 'conflict') THEN outcome
    WHEN EXISTS (SELECT 1 FROM record_versions p
                 WHERE p.record_id = record_versions.record_id AND p.seq < record_versions.seq
                   AND p.outcome IN ('stored', 'partial') AND p.version = record_versions.version)
        THEN 'completed'
    WHEN EXISTS (SELECT 1 FROM record_versions p
                 WHERE p.record_id = record_versions.record_id AND p.seq < record_versions.seq
                   AND p.outcome IN ('stored', 'partial'))
        THEN 'updated'
    ELSE 'created' END;
DROP INDEX record_versions_by_id;
CREATE INDEX record_versions_by_id ON record_versions (tenant, record_id, version, seq);

CREATE TABLE records_v2 (
    rk                INTEGER PRIMARY KEY,
    tenant            TEXT    NOT NULL,
    id                TEXT    NOT NULL,
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
    tenant_ids        TEXT,                     -- JSON array of the tenantIds inside the record
    session_count     INTEGER NOT NULL,
    participant_count INTEGER NOT NULL,
    head_json         TEXT    NOT NULL,
    UNIQUE (tenant, id)
);
INSERT INTO records_v2 (rk, tenant, id, version, version_seq, partial, content_hash, received_us,
    last_modified, start_key, end_us, retention_key, call_type, modalities, organizer_id, tenant_ids,
    session_count, participant_count, head_json)
SELECT rk, '00000000-0000-0000-0000-000000000000', id, version, version_seq, partial, content_hash,
    received_us, last_modified, start_key, end_us, retention_key, call_type, modalities, organizer_id,
    tenant_ids, session_count, participant_count, head_json FROM records;
DROP TABLE records;
ALTER TABLE records_v2 RENAME TO records;
-- List order for every tenant (start, id, tenant), and within one tenant (start, id).
CREATE INDEX records_by_start ON records (start_key, id, tenant);
CREATE INDEX records_by_tenant_start ON records (tenant, start_key, id);
CREATE INDEX records_by_id ON records (id);
CREATE INDEX records_by_retention ON records (retention_key);

ALTER TABLE log_rows ADD COLUMN tenant TEXT NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
DROP INDEX log_rows_by_content;
CREATE UNIQUE INDEX log_rows_by_content ON log_rows (tenant, kind, content_hash);
