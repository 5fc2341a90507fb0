-- Schema 3: the audit trail of erasure requests (the same table as SQLite's schema 8): who asked, what, when
-- and how much; never the content, never a redacted user's id (a keyed hash instead).
CREATE TABLE erasure_audit (
    seq      bigserial PRIMARY KEY,
    at_us    bigint NOT NULL,
    actor    text   NOT NULL,
    action   text   NOT NULL,               -- purge | redact
    tenant   text,                          -- NULL: every tenant
    subject  text   NOT NULL,               -- the record id (purge), user:<keyed hash> (redact)
    versions bigint NOT NULL,
    log_rows bigint NOT NULL,
    records  bigint NOT NULL
);
