//! Writing records: each incoming copy is prepared off the writer (index columns, content hash, split rows,
//! compression), then the writer applies [`callrecords_store::rules::decide`] to it inside one
//! `BEGIN IMMEDIATE` transaction per batch.

use callrecords_store::extract::{
    RecordIndex, SplitRecord, content_hash_in, index_record, split_record_raw,
};
use callrecords_store::quality::{InlineQuality, QUALITY_CONSUMER};
use callrecords_store::rules::{self, Decision, IncomingCopy, Serve, ServedCopy};
use callrecords_store::{ChangeKind, IncomingRecord, PutOutcome, StoreError};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::encoding::{encode_raw_with, new_deflate};
use crate::{Inner, SqlResult, lock, now_us, to_i64};

/// A record with everything computed that needs no database: done on a helper thread while the writer
/// inserts the previous records of the batch, so hashing, splitting and compressing overlap the SQLite
/// work (and concurrent writers overlap their CPU work too). The parsed value is dropped once prepared.
pub(crate) struct Prepared {
    partial: bool,
    ix: RecordIndex,
    hash: Vec<u8>,
    raw_encoding: i64,
    raw: Vec<u8>,
    split: SplitRecord,
}

pub(crate) fn prepare_one(
    i: usize,
    rec: IncomingRecord,
    compress: bool,
    scratch: &mut Vec<u8>,
    deflate: &mut flate2::Compress,
) -> Result<Prepared, StoreError> {
    let ix = index_record(&rec.value).ok_or_else(|| {
        StoreError::InvalidInput(format!(
            "record #{i} is not an object with a string id and an integer version"
        ))
    })?;
    let hash = content_hash_in(&rec.value, scratch).to_vec();
    let split = split_record_raw(&rec.raw, &rec.value);
    let partial = rec.partial;
    // Free the parsed value here, off the writer thread.
    drop(rec.value);
    let (raw_encoding, raw) = encode_raw_with(&rec.raw, compress, deflate)?;
    Ok(Prepared {
        partial,
        ix,
        hash,
        raw_encoding,
        raw,
        split,
    })
}

/// Below this many records a batch is prepared inline rather than on a helper thread.
const PIPELINE_MIN: usize = 16;

type PrepareJob = Box<dyn FnOnce(&mut Vec<u8>, &mut flate2::Compress) + Send>;

/// Runs `job` on the long-lived preparer thread (started on first use; a fresh thread per batch made the
/// allocator fault in new pages every time). Falls back to running it here.
fn submit_prepare(job: PrepareJob) {
    static PREPARER: std::sync::OnceLock<std::sync::mpsc::Sender<PrepareJob>> =
        std::sync::OnceLock::new();
    let tx = PREPARER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<PrepareJob>();
        let _ = std::thread::Builder::new()
            .name("store-prepare".into())
            .spawn(move || {
                let mut scratch = Vec::with_capacity(64 * 1024);
                let mut deflate = new_deflate();
                for job in rx {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        job(&mut scratch, &mut deflate)
                    }));
                }
            });
        tx
    });
    if let Err(std::sync::mpsc::SendError(job)) = tx.send(job) {
        job(&mut Vec::new(), &mut new_deflate());
    }
}

/// Prepares `batch` on the preparer thread and writes it in one transaction as the records come in.
/// The writer lock is taken first, so the preparer only ever works for the lock holder (no deadlock
/// between concurrent batches).
///
/// With `inline` (what the ingest derived), the derived rows are written in the same transaction when the
/// quality deriver is caught up (see [`callrecords_store::Store::put_records_deriving`]); the `bool` says
/// whether they were.
pub(crate) fn put_pipelined(
    inner: &Inner,
    tenant: &str,
    batch: Vec<IncomingRecord>,
    inline: Option<InlineQuality>,
) -> Result<(Vec<PutOutcome>, bool), StoreError> {
    let compress = inner.compress;
    let n = batch.len();
    if n < PIPELINE_MIN {
        let mut scratch = Vec::new();
        let mut deflate = new_deflate();
        let prepared = batch
            .into_iter()
            .enumerate()
            .map(|(i, rec)| prepare_one(i, rec, compress, &mut scratch, &mut deflate))
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = lock(&inner.writer);
        return put_batch(&mut conn, tenant, n, prepared.into_iter().map(Ok), inline);
    }
    let mut conn = lock(&inner.writer);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Prepared, StoreError>>(64);
    submit_prepare(Box::new(move |scratch, deflate| {
        for (i, rec) in batch.into_iter().enumerate() {
            let p = prepare_one(i, rec, compress, scratch, deflate);
            let failed = p.is_err();
            // The writer only hangs up after an error of its own.
            if tx.send(p).is_err() || failed {
                break;
            }
        }
    }));
    // A panic on the preparer ends `rx` early: put_batch then refuses to commit a partial batch.
    put_batch(&mut conn, tenant, n, rx.into_iter(), inline)
}

struct Served {
    rk: i64,
    version: i64,
    partial: bool,
    hash: Vec<u8>,
}

fn put_batch(
    conn: &mut Connection,
    tenant: &str,
    n: usize,
    prepared: impl Iterator<Item = Result<Prepared, StoreError>>,
    inline: Option<InlineQuality>,
) -> Result<(Vec<PutOutcome>, bool), StoreError> {
    let received_us = now_us();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    // The derived rows ride along only when the deriver is caught up (checked under the write lock).
    let mut inline = match inline {
        Some(q) if q.updates.len() == n && crate::quality::caught_up(&tx, q.epoch)? => {
            Some(q.updates.into_iter())
        }
        _ => None,
    };
    let mut derived = Vec::new();
    let mut outcomes = Vec::with_capacity(n);
    for p in prepared {
        let p = p?;
        let ix = &p.ix;
        let update = inline.as_mut().and_then(Iterator::next).flatten();
        let served: Option<Served> = tx
            .prepare_cached(
                "SELECT rk, version, partial, content_hash FROM records WHERE tenant = ?1 AND id = ?2",
            )
            .db()?
            .query_row(params![tenant, ix.id], |r| {
                Ok(Served {
                    rk: r.get(0)?,
                    version: r.get(1)?,
                    partial: r.get(2)?,
                    hash: r.get(3)?,
                })
            })
            .optional()
            .db()?;
        let seen: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM record_versions \
                 WHERE tenant = ?1 AND record_id = ?2 AND version = ?3 AND content_hash = ?4)",
            )
            .db()?
            .query_row(params![tenant, ix.id, ix.version, p.hash], |r| r.get(0))
            .db()?;
        let decision = rules::decide(
            served
                .as_ref()
                .map(|s| ServedCopy {
                    version: s.version,
                    partial: s.partial,
                    hash: &s.hash,
                })
                .as_ref(),
            &IncomingCopy {
                version: ix.version,
                partial: p.partial,
                hash: &p.hash,
                seen,
            },
        );
        let (outcome, kind, serve) = match decision {
            Decision::Duplicate => {
                outcomes.push(PutOutcome::Duplicate);
                continue;
            }
            Decision::Append {
                outcome,
                kind,
                serve,
            } => (outcome, kind, serve),
        };
        if inline.is_some() && kind.served() {
            match update {
                Some(mut u) => {
                    u.tenant = tenant.to_owned();
                    u.record_id.clone_from(&ix.id);
                    u.version = ix.version;
                    u.start_us = ix.start_us;
                    derived.push(u);
                }
                // A served copy the ingest could not derive: the whole batch is left to the deriver.
                None => inline = None,
            }
        }
        let seq = insert_version(&tx, tenant, &p, received_us, outcome, kind)?;
        match (serve, &served) {
            (Serve::Keep, _) => {}
            (Serve::Repoint, Some(s)) => {
                tx.prepare_cached(
                    "UPDATE records SET partial = ?2, version_seq = ?3, received_us = ?4 WHERE rk = ?1",
                )
                .db()?
                .execute(params![s.rk, p.partial, seq, received_us])
                .db()?;
            }
            (Serve::Replace | Serve::Repoint, existing) => {
                serve_version(
                    &tx,
                    tenant,
                    &p,
                    seq,
                    received_us,
                    existing.as_ref().map(|s| s.rk),
                )?;
            }
        }
        outcomes.push(outcome);
    }
    if outcomes.len() != n {
        return Err(StoreError::Backend(
            "preparing the batch failed part-way; nothing was stored".into(),
        ));
    }
    let wrote = inline.is_some();
    if wrote {
        crate::quality::apply_updates(&tx, derived)?;
        let head: i64 = tx
            .prepare_cached("SELECT coalesce(max(seq), 0) FROM record_versions")
            .db()?
            .query_row([], |r| r.get(0))
            .db()?;
        crate::quality::save_cursor(&tx, QUALITY_CONSUMER, head)?;
    }
    tx.commit().db()?;
    Ok((outcomes, wrote))
}

fn insert_version(
    tx: &rusqlite::Transaction<'_>,
    tenant: &str,
    p: &Prepared,
    received_us: i64,
    outcome: PutOutcome,
    kind: ChangeKind,
) -> Result<i64, StoreError> {
    let ix = &p.ix;
    tx.prepare_cached(
        "INSERT INTO record_versions (tenant, record_id, version, last_modified, received_us, outcome, \
         change_kind, partial, content_hash, raw_encoding, raw) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .db()?
    .execute(params![
        tenant,
        ix.id,
        ix.version,
        ix.last_modified,
        received_us,
        outcome.as_str(),
        kind.as_str(),
        p.partial,
        p.hash,
        p.raw_encoding,
        p.raw
    ])
    .db()?;
    Ok(tx.last_insert_rowid())
}

pub(crate) fn serve_version(
    tx: &rusqlite::Transaction<'_>,
    tenant: &str,
    p: &Prepared,
    seq: i64,
    received_us: i64,
    existing: Option<i64>,
) -> Result<(), StoreError> {
    let (ix, hash, split) = (&p.ix, &p.hash, &p.split);
    let start_key = ix.start_us.unwrap_or(i64::MIN);
    let retention_key = ix.end_us.or(ix.start_us).unwrap_or(i64::MIN);
    let modalities = serde_json::to_string(&ix.modalities).unwrap_or_default();
    let tenant_ids = serde_json::to_string(&ix.tenant_ids).unwrap_or_default();
    let session_count = to_i64(split.sessions.len() as u64);
    let participant_count = to_i64(split.participants.len() as u64);
    if let Some(rk) = existing {
        for sql in [
            "DELETE FROM sessions WHERE rk = ?1",
            "DELETE FROM participants WHERE rk = ?1",
            "DELETE FROM record_participant_ids WHERE rk = ?1",
        ] {
            tx.prepare_cached(sql).db()?.execute([rk]).db()?;
        }
    }
    // One statement for a new record and for a newly served version of a known one (`rk` stays the same).
    let rk: i64 = tx
        .prepare_cached(
            "INSERT INTO records (tenant, id, version, version_seq, partial, content_hash, received_us, \
             last_modified, start_key, end_us, retention_key, call_type, modalities, \
             organizer_id, tenant_ids, session_count, participant_count, head_json) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) \
             ON CONFLICT (tenant, id) DO UPDATE SET version = excluded.version, \
             version_seq = excluded.version_seq, partial = excluded.partial, \
             content_hash = excluded.content_hash, received_us = excluded.received_us, \
             last_modified = excluded.last_modified, start_key = excluded.start_key, \
             end_us = excluded.end_us, retention_key = excluded.retention_key, \
             call_type = excluded.call_type, modalities = excluded.modalities, \
             organizer_id = excluded.organizer_id, tenant_ids = excluded.tenant_ids, \
             session_count = excluded.session_count, \
             participant_count = excluded.participant_count, head_json = excluded.head_json \
             RETURNING rk",
        )
        .db()?
        .query_row(
            params![
                tenant,
                ix.id,
                ix.version,
                seq,
                p.partial,
                hash,
                received_us,
                ix.last_modified,
                start_key,
                ix.end_us,
                retention_key,
                ix.call_type,
                modalities,
                ix.organizer_id,
                tenant_ids,
                session_count,
                participant_count,
                split.head
            ],
            |row| row.get(0),
        )
        .db()?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO sessions (rk, ordinal, session_id, json, segments_at, segments) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .db()?;
        for (i, s) in split.sessions.iter().enumerate() {
            stmt.execute(params![
                rk,
                to_i64(i as u64),
                s.id,
                s.json,
                s.segments_at.map(|a| to_i64(a as u64)),
                s.segments
            ])
            .db()?;
        }
    }
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO participants (rk, ordinal, participant_id, json) VALUES (?1, ?2, ?3, ?4)",
            )
            .db()?;
        for (i, p) in split.participants.iter().enumerate() {
            stmt.execute(params![rk, to_i64(i as u64), p.id, p.json])
                .db()?;
        }
    }
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO record_participant_ids (participant_id, rk) VALUES (?1, ?2)",
            )
            .db()?;
        for pid in &ix.participant_ids {
            stmt.execute(params![pid, rk]).db()?;
        }
    }
    Ok(())
}
