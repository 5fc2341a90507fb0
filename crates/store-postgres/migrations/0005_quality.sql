-- Derived call-quality data (the `quality` change-feed consumer), as the SQLite backend keeps it (its
-- schemas 4 and 7) but plainly: per record its CQD stream rows (JSON text beside the columns reads filter
-- on), its session rows, its per-record counts for the call list, and its contributions (counter arrays,
-- overall under group_key '' and per group); plus the building file and the derivation epoch. Summaries
-- sum the contributions of the records in the window in SQL (no per-day pre-aggregation yet).

CREATE TABLE quality_meta (
    id        integer PRIMARY KEY CHECK (id = 1),
    epoch     bigint  NOT NULL,
    buildings text
);
INSERT INTO quality_meta (id, epoch, buildings) VALUES (1, 0, NULL);

CREATE TABLE quality_records (
    tenant          text   COLLATE "C" NOT NULL,
    record_id       text   COLLATE "C" NOT NULL,
    version         bigint NOT NULL,
    start_us        bigint,
    stream_count    bigint NOT NULL,
    poor_streams    bigint NOT NULL,
    failed_sessions bigint NOT NULL,
    PRIMARY KEY (tenant, record_id)
);
CREATE INDEX quality_records_by_start ON quality_records (start_us, record_id, tenant);

CREATE TABLE quality_streams (
    seq          bigserial PRIMARY KEY,
    tenant       text    COLLATE "C" NOT NULL,
    record_id    text    COLLATE "C" NOT NULL,
    start_us     bigint,
    kind         text    NOT NULL,
    class        text    NOT NULL,
    subnet       text    COLLATE "C",
    has_building boolean NOT NULL,
    json         text    NOT NULL
);
CREATE INDEX quality_streams_by_record ON quality_streams (tenant, record_id);
CREATE INDEX quality_streams_by_start ON quality_streams (start_us);

CREATE TABLE quality_sessions (
    tenant    text   COLLATE "C" NOT NULL,
    record_id text   COLLATE "C" NOT NULL,
    ordinal   bigint NOT NULL,
    json      text   NOT NULL,
    PRIMARY KEY (tenant, record_id, ordinal)
);

-- counts: the counters in the quality crate's Counts::FIELDS order.
CREATE TABLE quality_contributions (
    tenant      text     COLLATE "C" NOT NULL,
    record_id   text     COLLATE "C" NOT NULL,
    start_us    bigint,
    group_key   text     COLLATE "C" NOT NULL,
    group_value text     COLLATE "C",
    counts      bigint[] NOT NULL
);
CREATE INDEX quality_contributions_by_key ON quality_contributions (group_key, start_us);
CREATE INDEX quality_contributions_by_record ON quality_contributions (tenant, record_id);
