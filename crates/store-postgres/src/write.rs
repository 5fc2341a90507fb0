//! Writing record batches. Each incoming copy is prepared without the database (index columns, content hash,
//! split rows — on a blocking thread for big batches); then one transaction per batch:
//!
//! 1. lock row 1 of `store_heads` (`FOR UPDATE`): one record batch at a time across every node, so the feed
//!    positions handed out below are in commit order, and the version rules see every earlier batch;
//! 2. read the served rows and the history hashes of the batch's ids (two statements);
//! 3. apply [`rules::decide`] to each copy in order, in memory (later copies of the batch see earlier ones);
//! 4. write everything with a handful of set-based statements (`unnest` of arrays), whatever the batch size;
//! 5. move the head to the last position used, and commit.

use std::collections::{HashMap, HashSet};

use callrecords_store::extract::{
    RecordIndex, SplitRecord, content_hash_in, index_record, split_record_raw,
};
use callrecords_store::rules::{self, Decision, IncomingCopy, Serve, ServedCopy};
use callrecords_store::{IncomingRecord, PutOutcome, StoreError};

use crate::read::{execute, query};
use crate::{SqlResult, now_us, to_i64};

/// A record with everything computed that needs no database.
pub(crate) struct Prepared {
    partial: bool,
    ix: RecordIndex,
    hash: Vec<u8>,
    raw: String,
    split: SplitRecord,
}

fn prepare_one(
    i: usize,
    rec: IncomingRecord,
    scratch: &mut Vec<u8>,
) -> Result<Prepared, StoreError> {
    let ix = index_record(&rec.value).ok_or_else(|| {
        StoreError::InvalidInput(format!(
            "record #{i} is not an object with a string id and an integer version"
        ))
    })?;
    let hash = content_hash_in(&rec.value, scratch).to_vec();
    let split = split_record_raw(&rec.raw, &rec.value);
    Ok(Prepared {
        partial: rec.partial,
        ix,
        hash,
        raw: rec.raw,
        split,
    })
}

/// Below this many records a batch is prepared inline rather than on a blocking thread.
const BLOCKING_MIN: usize = 16;

pub(crate) async fn prepare(batch: Vec<IncomingRecord>) -> Result<Vec<Prepared>, StoreError> {
    let run = |batch: Vec<IncomingRecord>| {
        let mut scratch = Vec::with_capacity(64 * 1024);
        batch
            .into_iter()
            .enumerate()
            .map(|(i, rec)| prepare_one(i, rec, &mut scratch))
            .collect::<Result<Vec<_>, _>>()
    };
    if batch.len() < BLOCKING_MIN {
        return run(batch);
    }
    tokio::task::spawn_blocking(move || run(batch))
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
}

/// The served state of a record while the batch is decided.
struct Served {
    /// Its key (the seq of its first copy).
    rk: i64,
    /// Its rows are in the database (it was served before this batch).
    in_db: bool,
    version: i64,
    partial: bool,
    hash: Vec<u8>,
}

/// What the batch does to one record's served rows.
struct Final {
    rk: i64,
    /// The prepared copy whose rows replace the served ones (`None`: only the pointer moves).
    content: Option<usize>,
    version_seq: i64,
    partial: bool,
}

/// Store `prepared` for `tenant`: the outcomes in order, and whether anything was written.
pub(crate) async fn put_batch(
    c: &mut deadpool_postgres::Object,
    tenant: &str,
    prepared: Vec<Prepared>,
) -> Result<(Vec<PutOutcome>, bool), StoreError> {
    let received_us = now_us();
    let tx = c.transaction().await.db()?;
    let head: i64 = query(
        &tx,
        "SELECT feed_seq FROM store_heads WHERE id = 1 FOR UPDATE",
        &[],
    )
    .await?
    .first()
    .map(|r| r.get(0))
    .ok_or_else(|| StoreError::Backend("store_heads row 1 is missing".into()))?;

    let ids: Vec<&str> = {
        let mut seen = HashSet::new();
        prepared
            .iter()
            .map(|p| p.ix.id.as_str())
            .filter(|id| seen.insert(*id))
            .collect()
    };
    let id_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&tenant, &ids];
    let served_rows = query(
        &tx,
        "SELECT id, rk, version, partial, content_hash FROM records \
         WHERE tenant = $1 AND id = ANY($2::text[])",
        &id_params,
    );
    let seen_rows = query(
        &tx,
        "SELECT record_id, version, content_hash FROM record_versions \
         WHERE tenant = $1 AND record_id = ANY($2::text[])",
        &id_params,
    );
    let (served_rows, seen_rows) = match tokio::join!(served_rows, seen_rows) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => return Err(crate::first_cause([a.err(), b.err()])),
    };
    let mut served: HashMap<String, Served> = served_rows
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                Served {
                    rk: r.get(1),
                    in_db: true,
                    version: r.get(2),
                    partial: r.get(3),
                    hash: r.get(4),
                },
            )
        })
        .collect();
    let mut seen: HashSet<(String, i64, Vec<u8>)> = seen_rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();

    // Decide, in order.
    let mut outcomes = Vec::with_capacity(prepared.len());
    let mut next = head;
    // The new record_versions rows: (index into prepared, seq, outcome, kind).
    let mut appended: Vec<(usize, i64, PutOutcome, &'static str)> = Vec::new();
    let mut finals: HashMap<String, Final> = HashMap::new();
    for (i, p) in prepared.iter().enumerate() {
        let id = &p.ix.id;
        let decision = rules::decide(
            served
                .get(id)
                .map(|s| ServedCopy {
                    version: s.version,
                    partial: s.partial,
                    hash: &s.hash,
                })
                .as_ref(),
            &IncomingCopy {
                version: p.ix.version,
                partial: p.partial,
                hash: &p.hash,
                seen: seen.contains(&(id.clone(), p.ix.version, p.hash.clone())),
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
        next += 1;
        let seq = next;
        appended.push((i, seq, outcome, kind.as_str()));
        seen.insert((id.clone(), p.ix.version, p.hash.clone()));
        match serve {
            Serve::Keep => {}
            Serve::Replace => {
                let s = served.entry(id.clone()).or_insert(Served {
                    rk: seq,
                    in_db: false,
                    version: p.ix.version,
                    partial: p.partial,
                    hash: p.hash.clone(),
                });
                s.version = p.ix.version;
                s.partial = p.partial;
                s.hash = p.hash.clone();
                finals.insert(
                    id.clone(),
                    Final {
                        rk: s.rk,
                        content: Some(i),
                        version_seq: seq,
                        partial: p.partial,
                    },
                );
            }
            Serve::Repoint => {
                let Some(s) = served.get_mut(id) else {
                    return Err(StoreError::Backend(format!(
                        "repoint of {id} without a served copy"
                    )));
                };
                s.partial = p.partial;
                let f = finals.entry(id.clone()).or_insert(Final {
                    rk: s.rk,
                    content: None,
                    version_seq: seq,
                    partial: p.partial,
                });
                f.version_seq = seq;
                f.partial = p.partial;
            }
        }
        outcomes.push(outcome);
    }
    if appended.is_empty() {
        tx.commit().await.db()?;
        return Ok((outcomes, false));
    }

    // 4a. the history.
    {
        let mut seqs = Vec::new();
        let (mut rids, mut versions, mut lms, mut outs, mut kinds) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut partials, mut hashes, mut raws) = (Vec::new(), Vec::new(), Vec::new());
        for (i, seq, outcome, kind) in &appended {
            let p = &prepared[*i];
            seqs.push(*seq);
            rids.push(p.ix.id.as_str());
            versions.push(p.ix.version);
            lms.push(p.ix.last_modified.as_deref());
            outs.push(outcome.as_str());
            kinds.push(*kind);
            partials.push(p.partial);
            hashes.push(p.hash.as_slice());
            raws.push(p.raw.as_bytes());
        }
        execute(
            &tx,
            "INSERT INTO record_versions (seq, tenant, record_id, version, last_modified, received_us, \
             outcome, change_kind, partial, content_hash, raw) \
             SELECT u.seq, $1, u.rid, u.version, u.lm, $2, u.outcome, u.kind, u.partial, u.hash, u.raw \
             FROM unnest($3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], \
             $9::bool[], $10::bytea[], $11::bytea[]) \
             AS u(seq, rid, version, lm, outcome, kind, partial, hash, raw)",
            &[
                &tenant,
                &received_us,
                &seqs,
                &rids,
                &versions,
                &lms,
                &outs,
                &kinds,
                &partials,
                &hashes,
                &raws,
            ],
        )
        .await?;
    }

    // 4b. the served rows.
    let mut finals: Vec<(String, Final)> = finals.into_iter().collect();
    finals.sort_by_key(|(_, f)| f.rk);
    let replaced_in_db: Vec<i64> = finals
        .iter()
        .filter(|(id, f)| f.content.is_some() && served.get(id).is_some_and(|s| s.in_db))
        .map(|(_, f)| f.rk)
        .collect();
    if !replaced_in_db.is_empty() {
        for sql in [
            "DELETE FROM sessions WHERE rk = ANY($1::bigint[])",
            "DELETE FROM participants WHERE rk = ANY($1::bigint[])",
            "DELETE FROM record_participant_ids WHERE rk = ANY($1::bigint[])",
        ] {
            execute(&tx, sql, &[&replaced_in_db]).await?;
        }
    }
    let repointed: Vec<&Final> = finals
        .iter()
        .filter(|(_, f)| f.content.is_none())
        .map(|(_, f)| f)
        .collect();
    if !repointed.is_empty() {
        let rks: Vec<i64> = repointed.iter().map(|f| f.rk).collect();
        let vs: Vec<i64> = repointed.iter().map(|f| f.version_seq).collect();
        let ps: Vec<bool> = repointed.iter().map(|f| f.partial).collect();
        execute(
            &tx,
            "UPDATE records r SET partial = u.partial, version_seq = u.vs, received_us = $4 \
             FROM unnest($1::bigint[], $2::bigint[], $3::bool[]) AS u(rk, vs, partial) \
             WHERE r.rk = u.rk",
            &[&rks, &vs, &ps, &received_us],
        )
        .await?;
    }
    let replaced: Vec<(&Final, &Prepared)> = finals
        .iter()
        .filter_map(|(_, f)| f.content.map(|i| (f, &prepared[i])))
        .collect();
    if !replaced.is_empty() {
        write_served(&tx, tenant, received_us, &replaced).await?;
    }

    execute(
        &tx,
        "UPDATE store_heads SET feed_seq = $1, writes = writes + 1 WHERE id = 1",
        &[&next],
    )
    .await?;
    tx.commit().await.db()?;
    Ok((outcomes, true))
}

/// Upsert the records rows of `replaced` and insert their sessions, participants and filter ids.
async fn write_served(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    received_us: i64,
    replaced: &[(&Final, &Prepared)],
) -> Result<(), StoreError> {
    let n = replaced.len();
    let mut rk = Vec::with_capacity(n);
    let mut id = Vec::with_capacity(n);
    let mut version = Vec::with_capacity(n);
    let mut vseq = Vec::with_capacity(n);
    let mut partial = Vec::with_capacity(n);
    let mut hash = Vec::with_capacity(n);
    let mut lm = Vec::with_capacity(n);
    let mut start_key = Vec::with_capacity(n);
    let mut end_us = Vec::with_capacity(n);
    let mut retention = Vec::with_capacity(n);
    let mut call_type = Vec::with_capacity(n);
    let mut modalities = Vec::with_capacity(n);
    let mut organizer = Vec::with_capacity(n);
    let mut tenant_ids = Vec::with_capacity(n);
    let mut sc = Vec::with_capacity(n);
    let mut pc = Vec::with_capacity(n);
    let mut head = Vec::with_capacity(n);
    // Children.
    let (mut s_rk, mut s_ord, mut s_id, mut s_json, mut s_at, mut s_seg) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let (mut p_rk, mut p_ord, mut p_id, mut p_json) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut x_pid, mut x_rk) = (Vec::new(), Vec::new());
    for (f, p) in replaced {
        let ix = &p.ix;
        rk.push(f.rk);
        id.push(ix.id.as_str());
        version.push(ix.version);
        vseq.push(f.version_seq);
        partial.push(f.partial);
        hash.push(p.hash.as_slice());
        lm.push(ix.last_modified.as_deref());
        start_key.push(ix.start_us.unwrap_or(i64::MIN));
        end_us.push(ix.end_us);
        retention.push(ix.end_us.or(ix.start_us).unwrap_or(i64::MIN));
        call_type.push(ix.call_type.as_deref());
        modalities.push(serde_json::to_string(&ix.modalities).unwrap_or_default());
        organizer.push(ix.organizer_id.as_deref());
        tenant_ids.push(serde_json::to_string(&ix.tenant_ids).unwrap_or_default());
        sc.push(to_i64(p.split.sessions.len() as u64));
        pc.push(to_i64(p.split.participants.len() as u64));
        head.push(p.split.head.as_str());
        for (i, s) in p.split.sessions.iter().enumerate() {
            s_rk.push(f.rk);
            s_ord.push(to_i64(i as u64));
            s_id.push(s.id.as_deref());
            s_json.push(s.json.as_str());
            s_at.push(s.segments_at.map(|a| to_i64(a as u64)));
            s_seg.push(s.segments.as_deref());
        }
        for (i, pt) in p.split.participants.iter().enumerate() {
            p_rk.push(f.rk);
            p_ord.push(to_i64(i as u64));
            p_id.push(pt.id.as_deref());
            p_json.push(pt.json.as_str());
        }
        let mut pids: Vec<&str> = ix.participant_ids.iter().map(String::as_str).collect();
        pids.sort_unstable();
        pids.dedup();
        for pid in pids {
            x_pid.push(pid);
            x_rk.push(f.rk);
        }
    }
    let record_params: [&(dyn tokio_postgres::types::ToSql + Sync); 19] = [
        &tenant,
        &received_us,
        &rk,
        &id,
        &version,
        &vseq,
        &partial,
        &hash,
        &lm,
        &start_key,
        &end_us,
        &retention,
        &call_type,
        &modalities,
        &organizer,
        &tenant_ids,
        &sc,
        &pc,
        &head,
    ];
    let records = execute(
        tx,
        "INSERT INTO records (rk, tenant, id, version, version_seq, partial, content_hash, received_us, \
         last_modified, start_key, end_us, retention_key, call_type, modalities, organizer_id, \
         tenant_ids, session_count, participant_count, head_json) \
         SELECT u.rk, $1, u.id, u.version, u.vseq, u.partial, u.hash, $2, u.lm, u.start_key, u.end_us, \
         u.retention, u.call_type, u.modalities, u.organizer, u.tenant_ids, u.sc, u.pc, u.head \
         FROM unnest($3::bigint[], $4::text[], $5::bigint[], $6::bigint[], $7::bool[], $8::bytea[], \
         $9::text[], $10::bigint[], $11::bigint[], $12::bigint[], $13::text[], $14::text[], $15::text[], \
         $16::text[], $17::bigint[], $18::bigint[], $19::text[]) \
         AS u(rk, id, version, vseq, partial, hash, lm, start_key, end_us, retention, call_type, \
         modalities, organizer, tenant_ids, sc, pc, head) \
         ON CONFLICT (tenant, id) DO UPDATE SET version = excluded.version, \
         version_seq = excluded.version_seq, partial = excluded.partial, \
         content_hash = excluded.content_hash, received_us = excluded.received_us, \
         last_modified = excluded.last_modified, start_key = excluded.start_key, \
         end_us = excluded.end_us, retention_key = excluded.retention_key, \
         call_type = excluded.call_type, modalities = excluded.modalities, \
         organizer_id = excluded.organizer_id, tenant_ids = excluded.tenant_ids, \
         session_count = excluded.session_count, participant_count = excluded.participant_count, \
         head_json = excluded.head_json",
        &record_params,
    );
    let sessions = async {
        if s_rk.is_empty() {
            return Ok(0);
        }
        execute(
            tx,
            "INSERT INTO sessions (rk, ordinal, session_id, json, segments_at, segments) \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], \
             $6::text[])",
            &[&s_rk, &s_ord, &s_id, &s_json, &s_at, &s_seg],
        )
        .await
    };
    let participants = async {
        if p_rk.is_empty() {
            return Ok(0);
        }
        execute(
            tx,
            "INSERT INTO participants (rk, ordinal, participant_id, json) \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])",
            &[&p_rk, &p_ord, &p_id, &p_json],
        )
        .await
    };
    let filter_ids = async {
        if x_rk.is_empty() {
            return Ok(0);
        }
        execute(
            tx,
            "INSERT INTO record_participant_ids (participant_id, rk) \
             SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT DO NOTHING",
            &[&x_pid, &x_rk],
        )
        .await
    };
    // Sent together (pipelined): none depends on another's answer.
    match tokio::join!(records, sessions, participants, filter_ids) {
        (Ok(_), Ok(_), Ok(_), Ok(_)) => Ok(()),
        (a, b, c, d) => Err(crate::first_cause([a.err(), b.err(), c.err(), d.err()])),
    }
}

/// Rebuild the served rows of record `rk` from `rec` (a rewritten copy of the served version, `version_seq`),
/// keeping its key and receipt time: the redaction of a user (see `crate::erasure`).
pub(crate) async fn reserve(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    rk: i64,
    version_seq: i64,
    received_us: i64,
    rec: IncomingRecord,
) -> Result<(), StoreError> {
    let partial = rec.partial;
    let p = prepare_one(0, rec, &mut Vec::new())?;
    for sql in [
        "DELETE FROM sessions WHERE rk = $1",
        "DELETE FROM participants WHERE rk = $1",
        "DELETE FROM record_participant_ids WHERE rk = $1",
    ] {
        execute(tx, sql, &[&rk]).await?;
    }
    let f = Final {
        rk,
        content: Some(0),
        version_seq,
        partial,
    };
    write_served(tx, tenant, received_us, &[(&f, &p)]).await
}
