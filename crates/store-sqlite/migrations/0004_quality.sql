-- Schema 4: derived call-quality data (the `quality` change-feed consumer): per record its CQD stream and
-- session rows and its pre-aggregated counters, plus the building file and the derivation epoch.

CREATE TABLE quality_meta (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    epoch     INTEGER NOT NULL,
    buildings TEXT
);
INSERT INTO quality_meta (id, epoch, buildings) VALUES (1, 0, NULL);

CREATE TABLE quality_records (
    tenant    TEXT    NOT NULL,
    record_id TEXT    NOT NULL,
    version   INTEGER NOT NULL,
    start_us  INTEGER,
    PRIMARY KEY (tenant, record_id)
) WITHOUT ROWID;

CREATE TABLE quality_streams (
    seq          INTEGER PRIMARY KEY,
    tenant       TEXT    NOT NULL,
    record_id    TEXT    NOT NULL,
    start_us     INTEGER,
    kind         TEXT    NOT NULL,
    class        TEXT    NOT NULL,
    subnet       TEXT,
    has_building INTEGER NOT NULL,
    json         TEXT    NOT NULL
);
CREATE INDEX quality_streams_by_record ON quality_streams (tenant, record_id);
CREATE INDEX quality_streams_by_start ON quality_streams (start_us);

CREATE TABLE quality_sessions (
    seq       INTEGER PRIMARY KEY,
    tenant    TEXT    NOT NULL,
    record_id TEXT    NOT NULL,
    start_us  INTEGER,
    json      TEXT    NOT NULL
);
CREATE INDEX quality_sessions_by_record ON quality_sessions (tenant, record_id);

-- counts: the counters as little-endian u64s, in Counts::FIELDS order. group_key '' is the overall total.
CREATE TABLE quality_contributions (
    group_key   TEXT    NOT NULL,
    start_us    INTEGER,
    tenant      TEXT    NOT NULL,
    record_id   TEXT    NOT NULL,
    group_value TEXT,
    counts      BLOB    NOT NULL
);
CREATE INDEX quality_contributions_by_key ON quality_contributions (group_key, start_us);
CREATE INDEX quality_contributions_by_record ON quality_contributions (tenant, record_id);
