-- Schema 8: the audit trail of erasure requests (`callrecords purge --record`, `callrecords redact --user`):
-- who asked, what, when and how much; never the content, never a redacted user's id (a keyed hash instead).

CREATE TABLE erasure_audit (
    seq       INTEGER PRIMARY KEY,
    at_us     INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,             -- purge | redact
    tenant    TEXT,                         -- NULL: every tenant
    subject   TEXT    NOT NULL,             -- the record id (purge), user:<keyed hash> (redact)
    versions  INTEGER NOT NULL,
    log_rows  INTEGER NOT NULL,
    records   INTEGER NOT NULL
);
