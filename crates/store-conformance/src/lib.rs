#![forbid(unsafe_code)]
//! The conformance suite every [`Store`] backend passes: one list of cases, in [`conformance_tests!`].
//!
//! Each case is a `pub async fn` that panics on failure, given a fresh, empty store (or, for the cases that
//! need two handles on the same data — two processes, two nodes — two handles). In a backend's test file:
//!
//! ```text
//! async fn fresh() -> (Arc<dyn Store>, tempfile::TempDir) { … }
//! async fn reopen(dir: &tempfile::TempDir) -> Arc<dyn Store> { … }   // another handle on the same data
//! callrecords_store_conformance::conformance_tests!(fresh, reopen);
//! ```
//!
//! The second element of `fresh`'s tuple (a temp dir, a throw-away database) lives until the case ends.
//! A backend that needs a server (PostgreSQL) writes `conformance_tests!(optional fresh, reopen)` with a
//! `fresh` returning `Option<(…)>`: `None` skips the case (and `fresh` prints why).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use callrecords_store::extract::parse_timestamp_us;
use callrecords_store::{
    Bound, Change, ChangeKind, DEFAULT_TENANT, IncomingLogRow, IncomingRecord, ListCursor, LogKind,
    LogOutcome, LogQuery, ParticipantRow, PutOutcome, ReadScope, RecordHead, RecordQuery,
    RecordRead, SessionRow, Store, StoreError, VersionInfo, Window,
};

mod calls;
mod changes;
mod concurrency;
mod erasure;
mod outbox;
mod quality;
mod retention;
mod scope;

pub use calls::*;
pub use changes::*;
pub use concurrency::*;
pub use erasure::*;
pub use outbox::*;
pub use quality::*;
pub use retention::*;
pub use scope::*;

/// Expand every conformance case into a `#[tokio::test]` for a backend: THE list of cases.
/// `$make` is an async fn returning `(Arc<dyn Store>, G)`; `G` (e.g. a temp dir) lives until the case ends.
/// `$reopen` is an async fn taking `&G` and returning another handle on the same data.
#[macro_export]
macro_rules! conformance_tests {
    (optional $make:path, $reopen:path) => {
        $crate::conformance_tests!(@cases optional $make, $reopen);
    };
    ($make:path, $reopen:path) => {
        $crate::conformance_tests!(@cases required $make, $reopen);
    };
    (@cases $mode:ident $make:path, $reopen:path) => {
        $crate::conformance_tests!(@one $mode $make;
            round_trip_is_value_identical,
            unknown_record_is_absent,
            wrongly_typed_fields_are_absent,
            newer_version_wins,
            stale_version_kept_not_served,
            duplicate_and_conflict,
            partial_then_complete,
            partial_then_identical_complete,
            complete_copy_of_conflicting_partial,
            duplicates_inside_one_batch,
            newer_version_replaces_children,
            repeated_session_ids,
            paging_5000_sessions,
            participants_paging_past_130,
            list_start_bounds,
            list_participant_filter,
            list_retention_cutoff,
            keyset_paging_stable_under_inserts,
            count_matches_list,
            list_with_count_is_one_snapshot,
            version_history_raw_bytes,
            log_rows_each_kind,
            log_rows_dial_out_period,
            log_rows_reject_dial_out_without_period,
            health_ok,
            generation_changes_after_writes,
            change_feed_reports_every_stored_copy_in_order,
            change_feed_pages_with_its_cursor,
            change_feed_matches_served_versions,
            pinned_read_returns_the_version_it_was_issued_for,
            pinned_read_of_another_record_is_absent,
            read_record_is_one_snapshot_under_writes,
            scope_isolates_tenants_on_every_read,
            same_id_in_two_tenants_are_two_records,
            scope_limits_log_rows,
            concurrent_batches_store_each_version_once,
            consumer_cursors_are_durable_and_monotonic,
            subscriptions_lifecycle,
            quality_newer_version_replaces_rows,
            quality_totals_windows_groups_and_paging,
            quality_cursor_moves_only_with_rows,
            quality_calls_filter_sort_and_page,
            quality_totals_equal_the_sum_of_contributions,
            quality_rows_ride_with_the_records_when_caught_up,
            storage_size_counts_the_scope,
            outbox_enqueue_claim_and_attempts,
            purge_removes_every_trace_of_one_record,
            redact_replaces_the_user_everywhere,
            retention_purges_what_is_older_than_the_cutoff,
            schema_is_current
        );
        $crate::conformance_tests!(@two $mode $make, $reopen;
            two_handles_both_write_and_read,
            two_handles_race_on_the_same_ids,
            another_handle_sees_commits_and_generation,
            two_handles_claim_each_notification_once,
            feed_reader_never_skips_concurrent_commits,
            sync_states_are_per_tenant_and_replaced,
            sync_inbox_dedupes_retries_and_drains
        );
    };
    (@one required $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = $make().await;
                $crate::$case(store).await;
            }
        )*
    };
    (@two required $make:path, $reopen:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (store, guard) = $make().await;
                let other = $reopen(&guard).await;
                $crate::$case(store, other).await;
            }
        )*
    };
    // `$make` returns an `Option`: `None` (no database configured) skips the case; `$make` says why.
    (@one optional $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some((store, _guard)) = $make().await else { return };
                $crate::$case(store).await;
            }
        )*
    };
    (@two optional $make:path, $reopen:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some((store, guard)) = $make().await else { return };
                let other = $reopen(&guard).await;
                $crate::$case(store, other).await;
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// The trait's methods as the cases use them: every tenant, the default tenant for writes.

/// Every tenant.
pub(crate) const ALL: ReadScope = ReadScope::All;

pub(crate) async fn put_records(
    store: &Arc<dyn Store>,
    batch: Vec<IncomingRecord>,
) -> Result<Vec<PutOutcome>, StoreError> {
    store.put_records(DEFAULT_TENANT, batch).await
}

pub(crate) async fn get_record(
    store: &Arc<dyn Store>,
    id: &str,
) -> Result<Option<RecordHead>, StoreError> {
    Ok(store
        .read_record(&ALL, id, &RecordRead::default())
        .await?
        .map(|v| v.head))
}

pub(crate) async fn page_sessions(
    store: &Arc<dyn Store>,
    id: &str,
    after: Option<u64>,
    limit: usize,
    with_segments: bool,
) -> Result<Vec<SessionRow>, StoreError> {
    let read = RecordRead {
        sessions: Some(Window { after, limit }),
        with_segments,
        ..RecordRead::default()
    };
    Ok(store
        .read_record(&ALL, id, &read)
        .await?
        .map(|v| v.sessions)
        .unwrap_or_default())
}

pub(crate) async fn page_participants(
    store: &Arc<dyn Store>,
    id: &str,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<ParticipantRow>, StoreError> {
    let read = RecordRead {
        participants: Some(Window { after, limit }),
        ..RecordRead::default()
    };
    Ok(store
        .read_record(&ALL, id, &read)
        .await?
        .map(|v| v.participants)
        .unwrap_or_default())
}

pub(crate) async fn get_session(
    store: &Arc<dyn Store>,
    id: &str,
    session_id: &str,
    with_segments: bool,
) -> Result<Option<SessionRow>, StoreError> {
    store.get_session(&ALL, id, session_id, with_segments).await
}

pub(crate) async fn get_participant(
    store: &Arc<dyn Store>,
    id: &str,
    participant_id: &str,
) -> Result<Option<ParticipantRow>, StoreError> {
    store.get_participant(&ALL, id, participant_id).await
}

pub(crate) async fn list_records(
    store: &Arc<dyn Store>,
    q: &RecordQuery,
) -> Result<Vec<RecordHead>, StoreError> {
    Ok(store.list_records(&ALL, q, false).await?.heads)
}

pub(crate) async fn count_records(
    store: &Arc<dyn Store>,
    q: &RecordQuery,
) -> Result<u64, StoreError> {
    store.count_records(&ALL, q).await
}

pub(crate) async fn list_versions(
    store: &Arc<dyn Store>,
    id: &str,
) -> Result<Vec<VersionInfo>, StoreError> {
    store.list_versions(&ALL, id).await
}

pub(crate) async fn get_version(
    store: &Arc<dyn Store>,
    id: &str,
    version: i64,
) -> Result<Option<String>, StoreError> {
    store.get_version(&ALL, id, version).await
}

pub(crate) async fn put_log_rows(
    store: &Arc<dyn Store>,
    kind: LogKind,
    rows: Vec<IncomingLogRow>,
    period: Option<(i64, i64)>,
) -> Result<Vec<LogOutcome>, StoreError> {
    store.put_log_rows(DEFAULT_TENANT, kind, rows, period).await
}

pub(crate) async fn query_log_rows(
    store: &Arc<dyn Store>,
    kind: LogKind,
    q: &LogQuery,
) -> Result<Vec<String>, StoreError> {
    store.query_log_rows(&ALL, kind, q).await
}

/// How many rows match `q`, ignoring its `skip` and `limit`.
pub(crate) async fn count_log_rows(
    store: &Arc<dyn Store>,
    kind: LogKind,
    q: &LogQuery,
) -> Result<u64, StoreError> {
    let all = LogQuery {
        skip: 0,
        limit: usize::MAX / 2,
        ..*q
    };
    Ok(store.query_log_rows(&ALL, kind, &all).await?.len() as u64)
}

/// Every change after `cursor`, read in pages of 7 (so the cursor is exercised).
pub(crate) async fn all_changes(store: &Arc<dyn Store>, mut cursor: i64) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    loop {
        let page = store.changes_after(cursor, 7).await.unwrap();
        let Some(last) = page.last() else {
            return out;
        };
        cursor = last.cursor;
        out.extend(page);
        assert!(out.len() < 1_000_000, "the change feed does not end");
    }
}

// ---------------------------------------------------------------------------------------------
// Builders

pub(crate) fn us(s: &str) -> i64 {
    parse_timestamp_us(s).unwrap()
}

/// A minute offset from 2024-03-01T00:00:00Z as an RFC 3339 string.
pub(crate) fn at(minute: i64) -> String {
    let base = us("2024-03-01T00:00:00Z");
    callrecords_store::extract::format_timestamp_us(base + minute * 60_000_000)
}

pub(crate) fn session(id: &str, n: usize) -> Value {
    json!({
        "modalities": ["audio"],
        "startDateTime": "2024-03-01T00:00:00.1234567Z",
        "endDateTime": "2024-03-01T00:05:00Z",
        "id": id,
        "isTest": false,
        "segments": [{
            "startDateTime": "2024-03-01T00:00:00Z",
            "id": format!("{id}-seg-{n}"),
            "media": [{"label": "main-audio", "streams": [{"averageJitter": "PT0.015S", "packetUtilization": 4294967295u64}]}],
            "failureInfo": null
        }],
        "failureInfo": null
    })
}

pub(crate) fn participant(id: &str) -> Value {
    json!({
        "id": id,
        "identity": {"user": {"id": id, "displayName": null, "tenantId": "tenant-1", "userPrincipalName": format!("{id}@contoso.com")}},
        "administrativeUnitInfos": []
    })
}

/// A record: start/end minutes from the base time, participant ids, organizer id, session count.
pub(crate) fn record(
    id: &str,
    version: i64,
    start_min: Option<i64>,
    end_min: Option<i64>,
    participants: &[&str],
    organizer: &str,
    sessions: usize,
) -> Value {
    let mut m = Map::new();
    m.insert("version".into(), json!(version));
    m.insert("type".into(), json!("groupCall"));
    m.insert("modalities".into(), json!(["audio", "video"]));
    m.insert(
        "lastModifiedDateTime".into(),
        json!(format!("2024-03-02T00:00:{:02}Z", version % 60)),
    );
    if let Some(s) = start_min {
        m.insert("startDateTime".into(), json!(at(s)));
    }
    if let Some(e) = end_min {
        m.insert("endDateTime".into(), json!(at(e)));
    }
    m.insert("id".into(), json!(id));
    m.insert("joinWebUrl".into(), Value::Null);
    m.insert(
        "organizer_v2".into(),
        json!({"id": organizer, "identity": {"user": {"id": organizer, "tenantId": "tenant-org"}}}),
    );
    m.insert(
        "participants_v2".into(),
        Value::Array(participants.iter().map(|p| participant(p)).collect()),
    );
    m.insert(
        "sessions".into(),
        Value::Array(
            (0..sessions)
                .map(|i| session(&format!("{id}-s{i}"), i))
                .collect(),
        ),
    );
    Value::Object(m)
}

/// An incoming record whose raw text is pretty-printed with an `@odata.context` (so it differs
/// byte-wise from any re-serialization of `value`).
pub(crate) fn incoming(value: &Value, partial: bool) -> IncomingRecord {
    let mut raw_obj = Map::new();
    raw_obj.insert(
        "@odata.context".into(),
        json!("https://graph.microsoft.com/v1.0/$metadata#communications/callRecords/$entity"),
    );
    if let Value::Object(m) = value {
        for (k, v) in m {
            raw_obj.insert(k.clone(), v.clone());
            if partial && k == "sessions" {
                raw_obj.insert(
                    "sessions@odata.nextLink".into(),
                    json!("https://graph.microsoft.com/v1.0/communications/callRecords/x/sessions?$skiptoken=abc"),
                );
            }
        }
    }
    IncomingRecord {
        raw: serde_json::to_string_pretty(&Value::Object(raw_obj)).unwrap(),
        value: value.clone(),
        partial,
    }
}

pub(crate) async fn put1(store: &Arc<dyn Store>, value: &Value, partial: bool) -> PutOutcome {
    let out = put_records(store, vec![incoming(value, partial)])
        .await
        .unwrap();
    assert_eq!(out.len(), 1);
    out[0]
}

pub(crate) async fn served_version(store: &Arc<dyn Store>, id: &str) -> i64 {
    get_record(store, id).await.unwrap().unwrap().version
}

/// The served record rebuilt from head + sessions (with segments) + participants.
pub(crate) async fn rebuild(store: &Arc<dyn Store>, id: &str) -> Value {
    let head = get_record(store, id).await.unwrap().unwrap();
    let mut m: Map<String, Value> = serde_json::from_str(&head.json).unwrap();
    let sessions = page_sessions(store, id, None, usize::MAX / 2, true)
        .await
        .unwrap();
    assert_eq!(sessions.len() as u64, head.session_count);
    let participants = page_participants(store, id, None, usize::MAX / 2)
        .await
        .unwrap();
    assert_eq!(participants.len() as u64, head.participant_count);
    m.insert(
        "sessions".into(),
        Value::Array(
            sessions
                .iter()
                .map(|s| serde_json::from_str(&s.json).unwrap())
                .collect(),
        ),
    );
    m.insert(
        "participants_v2".into(),
        Value::Array(
            participants
                .iter()
                .map(|p| serde_json::from_str(&p.json).unwrap())
                .collect(),
        ),
    );
    Value::Object(m)
}

pub(crate) fn query() -> RecordQuery {
    RecordQuery {
        limit: 1000,
        ..RecordQuery::default()
    }
}

pub(crate) async fn list_ids(store: &Arc<dyn Store>, q: &RecordQuery) -> Vec<String> {
    list_records(store, q)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Records

/// Put then get returns the same value: unknown properties at depth, explicit nulls, big ints,
/// original key order in the head and in each session.
pub async fn round_trip_is_value_identical(store: Arc<dyn Store>) {
    let mut v = record("rt-1", 7, Some(0), Some(30), &["p1", "p2"], "org", 3);
    let m = v.as_object_mut().unwrap();
    m.insert(
        "futureProperty".into(),
        json!({"nested": {"deeper": [1, null, {"x": "y", "z": null}], "n": 1.5e-7}, "emptyObj": {}}),
    );
    m.insert("nullProp".into(), Value::Null);
    m.insert(
        "organizer".into(),
        json!({"user": {"id": "org", "displayName": "Ünïcødé \"quoted\" \\ \u{1F600}"}, "acsUser": null}),
    );
    m["sessions"][1]["segments"][0]["unknownSegmentProp"] = json!({"a": [true, false]});
    m["sessions"][2]
        .as_object_mut()
        .unwrap()
        .insert("zzzLast".into(), json!(null));
    assert_eq!(put1(&store, &v, false).await, PutOutcome::Stored);

    let head = get_record(&store, "rt-1").await.unwrap().unwrap();
    assert_eq!(head.id, "rt-1");
    assert_eq!(head.version, 7);
    assert_eq!(head.session_count, 3);
    assert_eq!(head.participant_count, 2);
    assert_eq!(head.start_us, Some(us(&at(0))));
    assert_eq!(head.end_us, Some(us(&at(30))));
    assert!(!head.partial);
    // Head: everything but the two collections, in the original order.
    let mut expected_head = v.as_object().unwrap().clone();
    expected_head.shift_remove("sessions");
    expected_head.shift_remove("participants_v2");
    assert_eq!(head.json, serde_json::to_string(&expected_head).unwrap());
    // Sessions with segments: exactly the input text of each session.
    let sessions = page_sessions(&store, "rt-1", None, 60, true).await.unwrap();
    for (i, s) in sessions.iter().enumerate() {
        assert_eq!(s.ordinal, i as u64);
        assert_eq!(s.json, serde_json::to_string(&v["sessions"][i]).unwrap());
    }
    // Without segments: the same minus `segments`.
    let bare = page_sessions(&store, "rt-1", None, 60, false)
        .await
        .unwrap();
    for (i, s) in bare.iter().enumerate() {
        let mut want = v["sessions"][i].as_object().unwrap().clone();
        want.shift_remove("segments");
        assert_eq!(s.json, serde_json::to_string(&want).unwrap());
    }
    assert_eq!(rebuild(&store, "rt-1").await, v);
}

/// Wrongly typed index fields are treated as absent (no panic, no error), and the record is kept
/// as received.
pub async fn wrongly_typed_fields_are_absent(store: Arc<dyn Store>) {
    let v = json!({
        "id": "wt", "version": 1, "startDateTime": 5, "endDateTime": "not a date",
        "type": ["x"], "modalities": "audio", "organizer_v2": "org",
        "participants_v2": {"id": "p"}, "sessions": "none", "lastModifiedDateTime": false
    });
    assert_eq!(put1(&store, &v, false).await, PutOutcome::Stored);
    let head = get_record(&store, "wt").await.unwrap().unwrap();
    assert_eq!((head.start_us, head.end_us), (None, None));
    assert_eq!((head.session_count, head.participant_count), (0, 0));
    let mut want = v.as_object().unwrap().clone();
    want.shift_remove("sessions");
    want.shift_remove("participants_v2");
    assert_eq!(head.json, serde_json::to_string(&want).unwrap());
    assert_eq!(
        list_versions(&store, "wt").await.unwrap()[0].last_modified,
        None
    );
    assert_eq!(list_ids(&store, &query()).await, vec!["wt"]);
    // A record with no collections at all.
    let bare = json!({"id": "bare", "version": 2});
    assert_eq!(put1(&store, &bare, false).await, PutOutcome::Stored);
    assert_eq!(
        get_record(&store, "bare").await.unwrap().unwrap().json,
        r#"{"id":"bare","version":2}"#
    );
}

/// Lookups of an unknown record are empty, not errors.
pub async fn unknown_record_is_absent(store: Arc<dyn Store>) {
    assert!(get_record(&store, "nope").await.unwrap().is_none());
    assert!(
        page_sessions(&store, "nope", None, 60, true)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        page_participants(&store, "nope", None, 130)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        get_session(&store, "nope", "s", false)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        get_participant(&store, "nope", "p")
            .await
            .unwrap()
            .is_none()
    );
    assert!(list_versions(&store, "nope").await.unwrap().is_empty());
    assert!(get_version(&store, "nope", 1).await.unwrap().is_none());
    assert!(list_ids(&store, &query()).await.is_empty());
    assert_eq!(count_records(&store, &query()).await.unwrap(), 0);
}

/// A newer version becomes the served one.
pub async fn newer_version_wins(store: Arc<dyn Store>) {
    let v1 = record("nv", 1, Some(0), Some(10), &["a"], "o", 1);
    let v2 = record("nv", 2, Some(0), Some(12), &["a", "b"], "o", 2);
    assert_eq!(put1(&store, &v1, false).await, PutOutcome::Stored);
    assert_eq!(put1(&store, &v2, false).await, PutOutcome::Stored);
    assert_eq!(served_version(&store, "nv").await, 2);
    assert_eq!(rebuild(&store, "nv").await, v2);
    // The first again is a duplicate; a different v1 now is stale.
    assert_eq!(put1(&store, &v1, false).await, PutOutcome::Duplicate);
    let v1b = record("nv", 1, Some(0), Some(11), &["a"], "o", 1);
    assert_eq!(put1(&store, &v1b, false).await, PutOutcome::Stale);
    assert_eq!(rebuild(&store, "nv").await, v2);
    let versions = list_versions(&store, "nv").await.unwrap();
    let summary: Vec<(i64, &str, bool)> = versions
        .iter()
        .map(|v| (v.version, v.outcome.as_str(), v.served))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "stored", false),
            (1, "stale", false),
            (2, "stored", true)
        ]
    );
}

/// An older version is kept in history but never served.
pub async fn stale_version_kept_not_served(store: Arc<dyn Store>) {
    let v3 = record("st", 3, Some(0), Some(10), &["a"], "o", 2);
    let v2 = record("st", 2, Some(0), Some(9), &["z"], "o", 5);
    assert_eq!(put1(&store, &v3, false).await, PutOutcome::Stored);
    assert_eq!(put1(&store, &v2, false).await, PutOutcome::Stale);
    assert_eq!(put1(&store, &v2, false).await, PutOutcome::Duplicate);
    assert_eq!(rebuild(&store, "st").await, v3);
    let raw2 = get_version(&store, "st", 2).await.unwrap().unwrap();
    assert_eq!(raw2, incoming(&v2, false).raw);
    // The stale copy's participants are not searchable.
    let q = RecordQuery {
        participant_ids: vec![vec!["z".into()]],
        ..query()
    };
    assert!(list_ids(&store, &q).await.is_empty());
    let versions = list_versions(&store, "st").await.unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(
        (
            versions[0].version,
            versions[0].outcome.as_str(),
            versions[0].served
        ),
        (2, "stale", false)
    );
    assert_eq!((versions[1].version, versions[1].served), (3, true));
}

/// Same version, same content (any key order) → duplicate; different content → conflict, the
/// first stays served.
pub async fn duplicate_and_conflict(store: Arc<dyn Store>) {
    let a = record("dc", 4, Some(0), Some(10), &["a"], "o", 2);
    assert_eq!(put1(&store, &a, false).await, PutOutcome::Stored);
    // Same content, keys in another order.
    let reordered: Value = {
        let m = a.as_object().unwrap();
        let mut r = Map::new();
        for (k, v) in m.iter().rev() {
            r.insert(k.clone(), v.clone());
        }
        Value::Object(r)
    };
    assert_eq!(put1(&store, &reordered, false).await, PutOutcome::Duplicate);
    let mut b = a.clone();
    b["type"] = json!("peerToPeer");
    assert_eq!(put1(&store, &b, false).await, PutOutcome::Conflict);
    assert_eq!(put1(&store, &b, false).await, PutOutcome::Duplicate);
    assert_eq!(rebuild(&store, "dc").await, a);
    let versions = list_versions(&store, "dc").await.unwrap();
    let summary: Vec<(&str, bool)> = versions
        .iter()
        .map(|v| (v.outcome.as_str(), v.served))
        .collect();
    assert_eq!(summary, vec![("stored", true), ("conflict", false)]);
    // The raw of a version is the first received.
    assert_eq!(
        get_version(&store, "dc", 4).await.unwrap().unwrap(),
        incoming(&a, false).raw
    );
}

/// A partial copy is served until a complete copy of the same version arrives.
pub async fn partial_then_complete(store: Arc<dyn Store>) {
    let partial = record("pc", 1, Some(0), Some(10), &["a"], "o", 60);
    let complete = record("pc", 1, Some(0), Some(10), &["a"], "o", 75);
    assert_eq!(put1(&store, &partial, true).await, PutOutcome::Partial);
    let head = get_record(&store, "pc").await.unwrap().unwrap();
    assert!(head.partial);
    assert_eq!(head.session_count, 60);
    assert_eq!(put1(&store, &complete, false).await, PutOutcome::Stored);
    let head = get_record(&store, "pc").await.unwrap().unwrap();
    assert!(!head.partial);
    assert_eq!(head.session_count, 75);
    assert_eq!(rebuild(&store, "pc").await, complete);
    // Another partial copy of the same version no longer replaces it.
    assert_eq!(put1(&store, &partial, true).await, PutOutcome::Duplicate);
    let other_partial = record("pc", 1, Some(0), Some(10), &["a"], "o", 61);
    assert_eq!(
        put1(&store, &other_partial, true).await,
        PutOutcome::Conflict
    );
    assert_eq!(rebuild(&store, "pc").await, complete);
    let summary: Vec<(String, bool)> = list_versions(&store, "pc")
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.outcome.as_str().to_string(), v.served))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("partial".to_string(), false),
            ("stored".to_string(), true),
            ("conflict".to_string(), false)
        ]
    );
    // A newer partial version is served (and reported partial).
    let v2 = record("pc", 2, Some(0), Some(10), &["a"], "o", 60);
    assert_eq!(put1(&store, &v2, true).await, PutOutcome::Partial);
    assert!(get_record(&store, "pc").await.unwrap().unwrap().partial);
}

/// A complete copy whose content was seen before only as a (conflicting) partial copy still
/// replaces the served partial copy.
pub async fn complete_copy_of_conflicting_partial(store: Arc<dyn Store>) {
    let a = record("ccp", 1, Some(0), Some(10), &["a"], "o", 2);
    let b = record("ccp", 1, Some(0), Some(10), &["a", "b"], "o", 3);
    assert_eq!(put1(&store, &a, true).await, PutOutcome::Partial);
    assert_eq!(put1(&store, &b, true).await, PutOutcome::Conflict);
    assert_eq!(put1(&store, &b, false).await, PutOutcome::Stored);
    let head = get_record(&store, "ccp").await.unwrap().unwrap();
    assert!(!head.partial);
    assert_eq!(rebuild(&store, "ccp").await, b);
    assert_eq!(put1(&store, &a, false).await, PutOutcome::Duplicate);
    assert_eq!(rebuild(&store, "ccp").await, b);
}

/// A complete copy with the same content as the served partial one clears the partial flag.
pub async fn partial_then_identical_complete(store: Arc<dyn Store>) {
    let v = record("pic", 1, Some(0), Some(10), &["a"], "o", 3);
    assert_eq!(put1(&store, &v, true).await, PutOutcome::Partial);
    assert_eq!(put1(&store, &v, false).await, PutOutcome::Stored);
    let head = get_record(&store, "pic").await.unwrap().unwrap();
    assert!(!head.partial);
    assert_eq!(put1(&store, &v, false).await, PutOutcome::Duplicate);
    assert_eq!(rebuild(&store, "pic").await, v);
}

/// Several copies of one record inside one batch are judged in input order.
pub async fn duplicates_inside_one_batch(store: Arc<dyn Store>) {
    let a1 = record("bd", 1, Some(0), Some(10), &["a"], "o", 1);
    let a2 = record("bd", 2, Some(0), Some(10), &["a"], "o", 2);
    let mut a1x = a1.clone();
    a1x["type"] = json!("peerToPeer");
    let mut a2x = a2.clone();
    a2x["type"] = json!("peerToPeer");
    let b1 = record("bd-b", 1, Some(1), Some(10), &["b"], "o", 1);
    let out = put_records(
        &store,
        vec![
            incoming(&a1, false),
            incoming(&a1, false),
            incoming(&a2, false),
            incoming(&a1x, false),
            incoming(&a2x, false),
            incoming(&b1, true),
            incoming(&a2, false),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        vec![
            PutOutcome::Stored,
            PutOutcome::Duplicate,
            PutOutcome::Stored,
            PutOutcome::Stale,
            PutOutcome::Conflict,
            PutOutcome::Partial,
            PutOutcome::Duplicate,
        ]
    );
    assert_eq!(rebuild(&store, "bd").await, a2);
    assert_eq!(rebuild(&store, "bd-b").await, b1);
    assert_eq!(list_versions(&store, "bd").await.unwrap().len(), 4);
    assert!(put_records(&store, Vec::new()).await.unwrap().is_empty());
}

/// A new served version replaces sessions, participants and the participant index.
pub async fn newer_version_replaces_children(store: Arc<dyn Store>) {
    let v1 = record("rc", 1, Some(0), Some(10), &["old1", "old2"], "o1", 5);
    let v2 = record("rc", 2, Some(5), Some(10), &["new1"], "o2", 2);
    put1(&store, &v1, false).await;
    put1(&store, &v2, false).await;
    assert_eq!(
        page_sessions(&store, "rc", None, 60, false)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        get_participant(&store, "rc", "old1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        get_participant(&store, "rc", "new1")
            .await
            .unwrap()
            .is_some()
    );
    for (pid, hits) in [("old1", 0), ("o1", 0), ("new1", 1), ("o2", 1)] {
        let q = RecordQuery {
            participant_ids: vec![vec![pid.into()]],
            ..query()
        };
        assert_eq!(list_ids(&store, &q).await.len(), hits, "participant {pid}");
    }
    let q = RecordQuery {
        start_lower: Some(Bound {
            micros: us(&at(5)),
            inclusive: true,
        }),
        ..query()
    };
    assert_eq!(list_ids(&store, &q).await, vec!["rc".to_string()]);
}

/// Session ids may repeat inside a record: the ordinal is the key.
pub async fn repeated_session_ids(store: Arc<dyn Store>) {
    let mut v = record("rs", 1, Some(0), Some(10), &["a"], "o", 0);
    let mut s0 = session("dup", 0);
    s0["marker"] = json!(0);
    let mut s2 = session("dup", 2);
    s2["marker"] = json!(2);
    v["sessions"] = json!([s0, session("other", 1), s2]);
    put1(&store, &v, false).await;
    let all = page_sessions(&store, "rs", None, 60, true).await.unwrap();
    assert_eq!(
        all.iter().map(|s| s.ordinal).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_eq!(
        all[2].json,
        serde_json::to_string(&v["sessions"][2]).unwrap()
    );
    let first = get_session(&store, "rs", "dup", true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.ordinal, 0);
    assert_eq!(
        first.json,
        serde_json::to_string(&v["sessions"][0]).unwrap()
    );
    let bare = get_session(&store, "rs", "dup", false)
        .await
        .unwrap()
        .unwrap();
    assert!(!bare.json.contains("\"segments\""));
    let after_first = page_sessions(&store, "rs", Some(0), 60, false)
        .await
        .unwrap();
    assert_eq!(after_first.len(), 2);
    assert_eq!(after_first[0].ordinal, 1);
    assert!(
        get_session(&store, "rs", "missing", false)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(rebuild(&store, "rs").await, v);
}

/// Paging a 5,000-session record in pages of 60 yields every session once, in order.
pub async fn paging_5000_sessions(store: Arc<dyn Store>) {
    let v = record("big", 1, Some(0), Some(600), &["a"], "o", 5000);
    put1(&store, &v, false).await;
    assert_eq!(
        get_record(&store, "big")
            .await
            .unwrap()
            .unwrap()
            .session_count,
        5000
    );
    let mut after = None;
    let mut seen = 0usize;
    loop {
        let page = page_sessions(&store, "big", after, 60, false)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 60);
        for s in &page {
            assert_eq!(s.ordinal, seen as u64);
            let sv: Value = serde_json::from_str(&s.json).unwrap();
            assert_eq!(sv["id"], json!(format!("big-s{seen}")));
            seen += 1;
        }
        after = page.last().map(|s| s.ordinal);
    }
    assert_eq!(seen, 5000);
    let page = page_sessions(&store, "big", Some(4979), 60, true)
        .await
        .unwrap();
    assert_eq!(page.len(), 20);
    assert_eq!(
        page[0].json,
        serde_json::to_string(&v["sessions"][4980]).unwrap()
    );
}

/// Participants page in order past the 130 page size; lookup by id finds the first.
pub async fn participants_paging_past_130(store: Arc<dyn Store>) {
    let ids: Vec<String> = (0..300).map(|i| format!("p{i:03}")).collect();
    let mut refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    refs.push("p007"); // a repeat: lookup returns the first
    let v = record("pp", 1, Some(0), Some(10), &refs, "o", 1);
    put1(&store, &v, false).await;
    let mut after = None;
    let mut got = Vec::new();
    loop {
        let page = page_participants(&store, "pp", after, 130).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 130);
        after = page.last().map(|p| p.ordinal);
        got.extend(page);
    }
    assert_eq!(got.len(), 301);
    for (i, p) in got.iter().enumerate() {
        assert_eq!(p.ordinal, i as u64);
        assert_eq!(
            p.json,
            serde_json::to_string(&v["participants_v2"][i]).unwrap()
        );
    }
    let p = get_participant(&store, "pp", "p007")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.ordinal, 7);
    assert!(get_participant(&store, "pp", "x").await.unwrap().is_none());
}

/// `startDateTime` bounds, inclusive and exclusive; order by (start, id); records without a start
/// sort first and match no start bound.
pub async fn list_start_bounds(store: Arc<dyn Store>) {
    let batch: Vec<IncomingRecord> = [
        ("r10", Some(10)),
        ("r20", Some(20)),
        ("r20b", Some(20)),
        ("r30", Some(30)),
        ("none", None),
    ]
    .iter()
    .map(|(id, s)| incoming(&record(id, 1, *s, s.map(|s| s + 5), &["a"], "o", 1), false))
    .collect();
    put_records(&store, batch).await.unwrap();
    assert_eq!(
        list_ids(&store, &query()).await,
        vec!["none", "r10", "r20", "r20b", "r30"]
    );
    let b = |m: i64, inclusive: bool| {
        Some(Bound {
            micros: us(&at(m)),
            inclusive,
        })
    };
    let cases = [
        (b(20, true), None, vec!["r20", "r20b", "r30"]),
        (b(20, false), None, vec!["r30"]),
        (None, b(20, true), vec!["r10", "r20", "r20b"]),
        (None, b(20, false), vec!["r10"]),
        (b(10, false), b(30, false), vec!["r20", "r20b"]),
        (b(10, true), b(30, true), vec!["r10", "r20", "r20b", "r30"]),
        (b(31, true), None, vec![]),
    ];
    for (lower, upper, want) in cases {
        let q = RecordQuery {
            start_lower: lower,
            start_upper: upper,
            ..query()
        };
        assert_eq!(list_ids(&store, &q).await, want, "{lower:?}..{upper:?}");
        assert_eq!(count_records(&store, &q).await.unwrap(), want.len() as u64);
    }
    let head = &list_records(&store, &query()).await.unwrap()[0];
    assert_eq!(head.id, "none");
    assert_eq!(head.start_us, None);
    assert!(!head.json.contains("\"sessions\""));
}

/// Participant filters: any id of a list; the organizer counts; several lists all must match.
pub async fn list_participant_filter(store: Arc<dyn Store>) {
    let batch = vec![
        incoming(
            &record("a", 1, Some(1), Some(2), &["alice", "bob"], "org1", 1),
            false,
        ),
        incoming(
            &record("b", 1, Some(2), Some(3), &["bob"], "org2", 1),
            false,
        ),
        incoming(
            &record("c", 1, Some(3), Some(4), &["carol"], "alice", 1),
            false,
        ),
        incoming(&record("d", 1, Some(4), Some(5), &[], "dave", 0), false),
    ];
    put_records(&store, batch).await.unwrap();
    let with = |lists: Vec<Vec<&str>>| RecordQuery {
        participant_ids: lists
            .into_iter()
            .map(|l| l.into_iter().map(str::to_owned).collect())
            .collect(),
        ..query()
    };
    let cases: Vec<(Vec<Vec<&str>>, Vec<&str>)> = vec![
        (vec![vec!["alice"]], vec!["a", "c"]),
        (vec![vec!["bob"]], vec!["a", "b"]),
        (vec![vec!["org2"]], vec!["b"]),
        (vec![vec!["dave"]], vec!["d"]),
        (vec![vec!["carol", "org1"]], vec!["a", "c"]),
        (vec![vec!["alice"], vec!["bob"]], vec!["a"]),
        (vec![vec!["alice"], vec!["carol", "bob"]], vec!["a", "c"]),
        (vec![vec!["nobody"]], vec![]),
        (vec![vec![]], vec![]),
    ];
    for (lists, want) in cases {
        let q = with(lists.clone());
        assert_eq!(list_ids(&store, &q).await, want, "{lists:?}");
        assert_eq!(count_records(&store, &q).await.unwrap(), want.len() as u64);
    }
    let q = RecordQuery {
        start_lower: Some(Bound {
            micros: us(&at(2)),
            inclusive: false,
        }),
        ..with(vec![vec!["alice"]])
    };
    assert_eq!(list_ids(&store, &q).await, vec!["c"]);
}

/// Retention: records whose end (or start, without end) is older than the cutoff are excluded.
pub async fn list_retention_cutoff(store: Arc<dyn Store>) {
    let batch = vec![
        incoming(&record("old", 1, Some(0), Some(10), &["a"], "o", 0), false),
        incoming(&record("edge", 1, Some(0), Some(20), &["a"], "o", 0), false),
        incoming(
            &record("long", 1, Some(5), Some(100), &["a"], "o", 0),
            false,
        ),
        incoming(&record("nostart", 1, None, Some(50), &["a"], "o", 0), false),
        incoming(
            &record("noend-old", 1, Some(15), None, &["a"], "o", 0),
            false,
        ),
        incoming(
            &record("noend-new", 1, Some(25), None, &["a"], "o", 0),
            false,
        ),
    ];
    put_records(&store, batch).await.unwrap();
    let q = RecordQuery {
        end_after_us: Some(us(&at(20))),
        ..query()
    };
    assert_eq!(
        list_ids(&store, &q).await,
        vec!["nostart", "edge", "long", "noend-new"]
    );
    assert_eq!(count_records(&store, &q).await.unwrap(), 4);
}

/// Keyset paging returns each record once, in order, while records are inserted before and
/// after the cursor between pages.
pub async fn keyset_paging_stable_under_inserts(store: Arc<dyn Store>) {
    let batch: Vec<IncomingRecord> = (0..50)
        .map(|i| {
            incoming(
                &record(
                    &format!("k{i:03}"),
                    1,
                    Some(i * 2),
                    Some(i * 2 + 1),
                    &["a"],
                    "o",
                    0,
                ),
                false,
            )
        })
        .collect();
    put_records(&store, batch).await.unwrap();
    let mut q = RecordQuery {
        limit: 7,
        ..query()
    };
    let mut seen: Vec<String> = Vec::new();
    let mut expected_after: Vec<String> = Vec::new();
    let mut page_no = 0;
    loop {
        let page = list_records(&store, &q).await.unwrap();
        if page.is_empty() {
            break;
        }
        let last = page.last().unwrap();
        q.after = Some(ListCursor::of(last));
        seen.extend(page.iter().map(|h| h.id.clone()));
        page_no += 1;
        assert!(page_no < 200, "paging does not end");
        if page_no > 5 {
            continue;
        }
        // Insert one record before the cursor and one far after it (the latter must appear).
        let before = record(
            &format!("before{page_no}"),
            1,
            Some(-1),
            Some(0),
            &["a"],
            "o",
            0,
        );
        let after_id = format!("zafter{page_no}");
        let after = record(
            &after_id,
            1,
            Some(1000 + page_no),
            Some(1001 + page_no),
            &["a"],
            "o",
            0,
        );
        // Same start as the cursor, id smaller (before) and larger (after).
        let last_start = ((last.start_us.unwrap() - us(&at(0))) / 60_000_000) as i64;
        let same_before = record(
            &format!("{}-", &last.id[..1]),
            1,
            Some(last_start),
            None,
            &["a"],
            "o",
            0,
        );
        let same_after_id = format!("{}~{page_no}", last.id);
        let same_after = record(&same_after_id, 1, Some(last_start), None, &["a"], "o", 0);
        put_records(
            &store,
            vec![
                incoming(&before, false),
                incoming(&after, false),
                incoming(&same_before, false),
                incoming(&same_after, false),
            ],
        )
        .await
        .unwrap();
        expected_after.push(after_id);
        expected_after.push(same_after_id);
    }
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), seen.len(), "a record was returned twice");
    for i in 0..50 {
        assert!(seen.contains(&format!("k{i:03}")));
    }
    assert!(!seen.iter().any(|id| id.starts_with("before")));
    // Every record inserted after the cursor is seen.
    for id in &expected_after {
        assert!(
            seen.contains(id),
            "{id} inserted after the cursor was not returned"
        );
    }
    assert!(!seen.iter().any(|id| id.ends_with('-')));
    // Order is (start, id).
    let heads = list_records(&store, &query()).await.unwrap();
    let keys: Vec<(i64, String)> = heads
        .iter()
        .map(|h| (h.start_us.unwrap_or(i64::MIN), h.id.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

/// `count_records` ignores the cursor and the limit.
pub async fn count_matches_list(store: Arc<dyn Store>) {
    let batch: Vec<IncomingRecord> = (0..25)
        .map(|i| {
            let who = if i % 2 == 0 { "even" } else { "odd" };
            incoming(
                &record(&format!("c{i:02}"), 1, Some(i), Some(i + 1), &[who], "o", 0),
                false,
            )
        })
        .collect();
    put_records(&store, batch).await.unwrap();
    assert_eq!(count_records(&store, &query()).await.unwrap(), 25);
    let q = RecordQuery {
        participant_ids: vec![vec!["even".into()]],
        after: Some(ListCursor {
            start_us: us(&at(10)),
            id: "c10".into(),
            tenant: DEFAULT_TENANT.into(),
        }),
        limit: 2,
        ..query()
    };
    assert_eq!(count_records(&store, &q).await.unwrap(), 13);
    assert_eq!(list_ids(&store, &q).await, vec!["c12", "c14"]);
}

/// Raw JSON per version is byte-identical to what was put; history lists every kept copy.
pub async fn version_history_raw_bytes(store: Arc<dyn Store>) {
    let mut raws = Vec::new();
    for version in [1, 3, 2] {
        let v = record("vh", version, Some(0), Some(10), &["a"], "o", 2);
        let mut inc = incoming(&v, false);
        // Odd but valid bytes: whitespace, escapes, key order the value does not keep.
        inc.raw = format!(
            "  {}\n\t",
            inc.raw.replace("\"groupCall\"", "\"group\\u0043all\"")
        );
        raws.push((version, inc.raw.clone()));
        put_records(&store, vec![inc]).await.unwrap();
    }
    for (version, raw) in &raws {
        assert_eq!(
            get_version(&store, "vh", *version)
                .await
                .unwrap()
                .as_deref(),
            Some(raw.as_str())
        );
    }
    assert!(get_version(&store, "vh", 4).await.unwrap().is_none());
    let versions = list_versions(&store, "vh").await.unwrap();
    let summary: Vec<(i64, &str, bool, Option<&str>)> = versions
        .iter()
        .map(|v| {
            (
                v.version,
                v.outcome.as_str(),
                v.served,
                v.last_modified.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "stored", false, Some("2024-03-02T00:00:01Z")),
            (2, "stale", false, Some("2024-03-02T00:00:02Z")),
            (3, "stored", true, Some("2024-03-02T00:00:03Z")),
        ]
    );
    for v in &versions {
        let ts: Result<i64, _> = parse_timestamp_us(&v.received_at).ok_or(());
        assert!(ts.is_ok(), "received_at {} is not RFC 3339", v.received_at);
        assert!(v.received_at.ends_with('Z'));
    }
    // A large raw survives too.
    let big = record("vh-big", 1, Some(0), Some(10), &["a"], "o", 2000);
    let inc = incoming(&big, false);
    put_records(&store, vec![inc.clone()]).await.unwrap();
    assert_eq!(
        get_version(&store, "vh-big", 1).await.unwrap().unwrap(),
        inc.raw
    );
}

pub(crate) fn log_row(kind: LogKind, id: &str, minute: Option<i64>) -> IncomingLogRow {
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    if let (Some(p), Some(minute)) = (kind.time_property(), minute) {
        m.insert(p.into(), json!(at(minute)));
    }
    m.insert("extra".into(), json!({"nested": null, "n": 1}));
    let value = Value::Object(m);
    IncomingLogRow {
        raw: format!(" {} ", serde_json::to_string_pretty(&value).unwrap()),
        value,
    }
}

/// For each dated kind: `from` inclusive, `to` inclusive or exclusive, order by (time, insertion),
/// skip/limit, dedup by content, kinds kept apart.
pub async fn log_rows_each_kind(store: Arc<dyn Store>) {
    let dated: Vec<LogKind> = LogKind::ALL
        .into_iter()
        .filter(|k| k.time_property().is_some())
        .collect();
    for kind in &dated {
        let rows = vec![
            log_row(*kind, "r2a", Some(2)),
            log_row(*kind, "r1", Some(1)),
            log_row(*kind, "r2b", Some(2)),
            log_row(*kind, "r3", Some(3)),
            log_row(*kind, "r0", Some(0)),
            log_row(*kind, "undated", None),
        ];
        let raws: Vec<String> = rows.iter().map(|r| r.raw.clone()).collect();
        let out = put_log_rows(&store, *kind, rows, None).await.unwrap();
        assert!(out.iter().all(|o| *o == LogOutcome::Stored));
        // Same content again (other key order, other bytes) is a duplicate; a new row is stored.
        let again = log_row(*kind, "r1", Some(1));
        let mut reordered = Map::new();
        for (k, v) in again.value.as_object().unwrap().iter().rev() {
            reordered.insert(k.clone(), v.clone());
        }
        let again = IncomingLogRow {
            raw: serde_json::to_string(&reordered).unwrap(),
            value: Value::Object(reordered),
        };
        let out = put_log_rows(
            &store,
            *kind,
            vec![
                again,
                log_row(*kind, "r4", Some(4)),
                log_row(*kind, "r4", Some(4)),
            ],
            None,
        )
        .await
        .unwrap();
        assert_eq!(
            out,
            vec![
                LogOutcome::Duplicate,
                LogOutcome::Stored,
                LogOutcome::Duplicate
            ]
        );
        let q = |from: i64, to: i64, to_inclusive: bool, skip: u64, limit: usize| LogQuery {
            from_us: us(&at(from)),
            to_us: us(&at(to)),
            to_inclusive,
            skip,
            limit,
        };
        let ids = |rows: Vec<String>| -> Vec<String> {
            rows.iter()
                .map(|r| {
                    let v: Value = serde_json::from_str(r).unwrap();
                    v["id"].as_str().unwrap().to_owned()
                })
                .collect()
        };
        let got = query_log_rows(&store, *kind, &q(1, 3, true, 0, 100))
            .await
            .unwrap();
        assert_eq!(got[0], raws[1], "raw rows come back byte for byte");
        assert_eq!(ids(got), vec!["r1", "r2a", "r2b", "r3"]);
        assert_eq!(
            ids(query_log_rows(&store, *kind, &q(1, 3, false, 0, 100))
                .await
                .unwrap()),
            vec!["r1", "r2a", "r2b"]
        );
        assert_eq!(
            ids(query_log_rows(&store, *kind, &q(0, 4, true, 1, 2))
                .await
                .unwrap()),
            vec!["r1", "r2a"]
        );
        assert_eq!(
            ids(query_log_rows(&store, *kind, &q(0, 4, true, 4, 100))
                .await
                .unwrap()),
            vec!["r3", "r4"]
        );
        assert_eq!(
            count_log_rows(&store, *kind, &q(0, 4, false, 3, 1))
                .await
                .unwrap(),
            5
        );
        assert!(
            query_log_rows(&store, *kind, &q(10, 20, true, 0, 10))
                .await
                .unwrap()
                .is_empty()
        );
    }
    // Kinds are kept apart: every dated kind holds exactly its own 6 rows in range.
    for kind in dated {
        let all = LogQuery {
            from_us: i64::MIN,
            to_us: i64::MAX,
            to_inclusive: true,
            skip: 0,
            limit: 1000,
        };
        assert_eq!(count_log_rows(&store, kind, &all).await.unwrap(), 6);
    }
}

/// Dial-out report rows carry the period they cover and match when it lies within [from, to].
pub async fn log_rows_dial_out_period(store: Arc<dyn Store>) {
    let kind = LogKind::PstnOnlineMeetingDialout;
    let day = |d: i64| us("2024-03-01T00:00:00Z") + d * 86_400_000_000;
    let row = |id: &str| log_row(kind, id, None);
    let out = put_log_rows(
        &store,
        kind,
        vec![row("a"), row("b")],
        Some((day(0), day(7))),
    )
    .await
    .unwrap();
    assert_eq!(out, vec![LogOutcome::Stored, LogOutcome::Stored]);
    // The same row for another period is another row; for the same period, a duplicate.
    let out = put_log_rows(
        &store,
        kind,
        vec![row("a"), row("c")],
        Some((day(7), day(14))),
    )
    .await
    .unwrap();
    assert_eq!(out, vec![LogOutcome::Stored, LogOutcome::Stored]);
    let out = put_log_rows(&store, kind, vec![row("a")], Some((day(0), day(7))))
        .await
        .unwrap();
    assert_eq!(out, vec![LogOutcome::Duplicate]);
    let q = |from: i64, to: i64| LogQuery {
        from_us: day(from),
        to_us: day(to),
        to_inclusive: true,
        skip: 0,
        limit: 100,
    };
    let n = |rows: Vec<String>| rows.len();
    assert_eq!(n(query_log_rows(&store, kind, &q(0, 7)).await.unwrap()), 2);
    assert_eq!(n(query_log_rows(&store, kind, &q(0, 14)).await.unwrap()), 4);
    assert_eq!(n(query_log_rows(&store, kind, &q(7, 14)).await.unwrap()), 2);
    assert_eq!(n(query_log_rows(&store, kind, &q(1, 14)).await.unwrap()), 2);
    assert_eq!(n(query_log_rows(&store, kind, &q(0, 6)).await.unwrap()), 0);
    assert_eq!(count_log_rows(&store, kind, &q(0, 14)).await.unwrap(), 4);
    let first = query_log_rows(&store, kind, &q(0, 14)).await.unwrap();
    assert_eq!(first[0], row("a").raw);
}

/// Dial-out rows without a period are refused.
pub async fn log_rows_reject_dial_out_without_period(store: Arc<dyn Store>) {
    let kind = LogKind::PstnOnlineMeetingDialout;
    let err = put_log_rows(&store, kind, vec![log_row(kind, "a", None)], None).await;
    assert!(matches!(
        err,
        Err(callrecords_store::StoreError::InvalidInput(_))
    ));
}

/// A fresh store is healthy.
pub async fn health_ok(store: Arc<dyn Store>) {
    store.health().await.unwrap();
}

/// `data_generation` is stable while nothing is written and changes after every committed write
/// (records and log rows), and not after reads.
pub async fn generation_changes_after_writes(store: Arc<dyn Store>) {
    let g0 = store.data_generation().unwrap();
    assert_eq!(
        store.data_generation().unwrap(),
        g0,
        "no write, same generation"
    );
    let _ = get_record(&store, "nope").await.unwrap();
    assert_eq!(store.data_generation().unwrap(), g0, "reads leave it alone");
    let v1 = record("gen", 1, Some(0), Some(10), &["a"], "o", 1);
    assert_eq!(put1(&store, &v1, false).await, PutOutcome::Stored);
    let g1 = store.data_generation().unwrap();
    assert_ne!(g1, g0, "a stored record changes the generation");
    assert_eq!(store.data_generation().unwrap(), g1);
    let v2 = record("gen", 2, Some(0), Some(12), &["a", "b"], "o", 2);
    assert_eq!(put1(&store, &v2, false).await, PutOutcome::Stored);
    let g2 = store.data_generation().unwrap();
    assert_ne!(g2, g1, "a newer version changes the generation");
    let kind = LogKind::PstnCall;
    put_log_rows(&store, kind, vec![log_row(kind, "g", None)], None)
        .await
        .unwrap();
    assert_ne!(
        store.data_generation().unwrap(),
        g2,
        "a log row changes the generation"
    );
}
