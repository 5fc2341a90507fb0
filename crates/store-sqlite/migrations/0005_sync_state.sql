-- Schema 5: per-tenant bookkeeping of `callrecords sync` (cursor, pending ids, counts; JSON owned by the sync crate).

CREATE TABLE sync_state (
    tenant     TEXT PRIMARY KEY,
    state      TEXT    NOT NULL,
    updated_us INTEGER NOT NULL
) WITHOUT ROWID;
