//! Retention ([`Store::purge_expired`]): what is older than the cut-off goes, with everything that belongs
//! to it, in bounded batches; what is not stays exactly as it was; derived totals equal a rebuild's.

use super::*;
use callrecords_store::quality::{OVERALL, QualityContribution, QualityUpdate, QualityWindow};
use callrecords_store::{NewNotification, NotificationKind, PurgeCounts, SchemaStatus};

fn change_note(id: &str, tenant: &str, record_id: &str) -> NewNotification {
    NewNotification {
        notification_id: id.into(),
        subscription_id: "s".into(),
        tenant: tenant.into(),
        target_url: "http://127.0.0.1:9/hook".into(),
        kind: NotificationKind::Change {
            change_type: "created".into(),
            record_id: record_id.into(),
            change_cursor: 1,
        },
        due_us: 1,
    }
}

fn derived(tenant: &str, id: &str, start_min: i64, n: u64) -> QualityUpdate {
    QualityUpdate {
        tenant: tenant.into(),
        record_id: id.into(),
        version: 1,
        start_us: Some(us(&at(start_min))),
        streams: Vec::new(),
        sessions: Vec::new(),
        failed_sessions: 0,
        contributions: vec![
            QualityContribution {
                key: OVERALL.into(),
                value: None,
                counts: vec![1, n],
            },
            QualityContribution {
                key: "g".into(),
                value: Some(format!("v{}", n % 2)),
                counts: vec![1, n * 10],
            },
        ],
    }
}

async fn totals(store: &Arc<dyn Store>, key: &str) -> Vec<Vec<(Option<String>, Vec<u64>)>> {
    let q = store.quality().expect("quality");
    let mut out = Vec::new();
    for w in [
        QualityWindow::default(),
        QualityWindow {
            from_us: Some(us(&at(0))),
            until_us: Some(us(&at(24 * 60))),
        },
        QualityWindow {
            from_us: Some(us(&at(100))),
            until_us: None,
        },
    ] {
        out.push(q.quality_totals(&ALL, w, key).await.unwrap());
    }
    out
}

/// Records whose served copy ends (else starts, else was received) before the cut-off go entirely, with
/// every version, session rows, outbox entries and derived rows, in batches of at most `limit`; log rows
/// by their own date; the rest stays; derived totals afterwards equal those of a rebuild.
pub async fn retention_purges_what_is_older_than_the_cutoff(store: Arc<dyn Store>) {
    let r = |id: &str, v: i64, s: Option<i64>, e: Option<i64>| {
        incoming(&record(id, v, s, e, &["p1", "p2"], "o", 2), false)
    };
    put_records(
        &store,
        vec![
            r("old-end", 1, Some(0), Some(10)),
            r("old-start", 1, Some(20), None),
            r("old-versions", 1, Some(0), Some(30)),
            r("old-versions", 2, Some(0), Some(40)),
            r("edge", 1, Some(0), Some(100)),
            r("spans", 1, Some(50), Some(200)),
            r("new", 1, Some(150), Some(160)),
            // No date at all: dated by when it was received (now, long after the cut-off).
            r("undated", 1, None, None),
        ],
    )
    .await
    .unwrap();
    store
        .put_records("t2", vec![r("old-end", 1, Some(0), Some(10))])
        .await
        .unwrap();
    let pstn = LogKind::PstnCall;
    put_log_rows(
        &store,
        pstn,
        vec![
            log_row(pstn, "old", Some(10)),
            log_row(pstn, "new", Some(150)),
            log_row(pstn, "undated", None),
        ],
        None,
    )
    .await
    .unwrap();
    let dial = LogKind::PstnOnlineMeetingDialout;
    put_log_rows(
        &store,
        dial,
        vec![log_row(dial, "old", None)],
        Some((us(&at(0)), us(&at(50)))),
    )
    .await
    .unwrap();
    put_log_rows(
        &store,
        dial,
        vec![log_row(dial, "new", None)],
        Some((us(&at(50)), us(&at(200)))),
    )
    .await
    .unwrap();
    store
        .create_subscription(&outbox::subscription("s", DEFAULT_TENANT, "app", "r"), 10)
        .await
        .unwrap();
    store
        .enqueue_notifications(
            "notify",
            1,
            vec![
                change_note("n-old", DEFAULT_TENANT, "old-end"),
                change_note("n-new", DEFAULT_TENANT, "new"),
                change_note("n-t2", "t2", "new"),
            ],
        )
        .await
        .unwrap();
    let kept = [
        derived(DEFAULT_TENANT, "spans", 50, 3),
        derived(DEFAULT_TENANT, "new", 150, 4),
    ];
    if let Some(q) = store.quality() {
        let e = q.quality_meta().await.unwrap().epoch;
        let mut all = vec![
            derived(DEFAULT_TENANT, "old-end", 0, 1),
            derived("t2", "old-end", 0, 2),
            // Derived rows of a record that is not (any more) in the store: a deriver that read a record
            // just before it was purged. They go too.
            derived(DEFAULT_TENANT, "ghost", 5, 7),
        ];
        all.extend(kept.iter().cloned());
        assert!(q.replace_quality(e, "quality", 1, all).await.unwrap());
    }
    let gen_before = store.data_generation().unwrap();
    let cutoff = us(&at(100));

    let mut total = PurgeCounts::default();
    let mut batches = 0;
    loop {
        let b = store.purge_expired(cutoff, 2).await.unwrap();
        assert!(
            b.records <= 2 && b.log_rows <= 2,
            "batch over its bound: {b:?}"
        );
        if b.is_empty() {
            break;
        }
        total.add(&b);
        batches += 1;
        assert!(batches < 20, "purge does not end");
    }
    assert!(
        batches >= 2,
        "4 records in batches of 2 take at least 2 batches"
    );
    assert_eq!(total.records, 4, "{total:?}");
    assert_eq!(total.versions, 5, "{total:?}");
    assert_eq!(total.log_rows, 2, "{total:?}");
    assert_eq!(total.notifications, 1, "{total:?}");
    if store.quality().is_some() {
        assert_eq!(total.quality_records, 3, "{total:?}");
    }
    assert_ne!(store.data_generation().unwrap(), gen_before);

    for id in ["old-end", "old-start", "old-versions"] {
        assert!(get_record(&store, id).await.unwrap().is_none(), "{id}");
        assert!(list_versions(&store, id).await.unwrap().is_empty(), "{id}");
        assert!(get_version(&store, id, 1).await.unwrap().is_none(), "{id}");
        assert!(
            page_sessions(&store, id, None, 10, true)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            page_participants(&store, id, None, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert!(
        store
            .read_record(
                &ReadScope::Tenant("t2".into()),
                "old-end",
                &RecordRead::default()
            )
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        list_ids(&store, &query()).await,
        vec!["undated", "edge", "spans", "new"]
    );
    let participant = RecordQuery {
        participant_ids: vec![vec!["p1".into()]],
        ..query()
    };
    assert_eq!(count_records(&store, &participant).await.unwrap(), 4);
    assert_eq!(list_versions(&store, "new").await.unwrap().len(), 1);
    assert_eq!(
        page_sessions(&store, "new", None, 10, false)
            .await
            .unwrap()
            .len(),
        2
    );
    let fed: Vec<String> = all_changes(&store, 0)
        .await
        .into_iter()
        .map(|c| c.record_id)
        .collect();
    assert_eq!(
        fed,
        vec!["edge", "spans", "new", "undated"],
        "the change feed"
    );

    let everything = LogQuery {
        from_us: i64::MIN,
        to_us: i64::MAX,
        to_inclusive: true,
        skip: 0,
        limit: 100,
    };
    // (A row without a date is in no time range; `total.log_rows == 2` says it was kept.)
    let rows = query_log_rows(&store, pstn, &everything).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains("\"new\""), "{rows:?}");
    let rows = query_log_rows(&store, dial, &everything).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("\"new\""));

    let notes: Vec<String> = store
        .list_notifications(&ALL, "s", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.new.notification_id)
        .collect();
    assert_eq!(notes, vec!["n-t2", "n-new"]);

    if let Some(q) = store.quality() {
        let after = (totals(&store, OVERALL).await, totals(&store, "g").await);
        assert_eq!(after.0[0], vec![(None, vec![2, 7])]);
        // The same as deriving only what is left, from nothing.
        q.reset_quality("quality", None).await.unwrap();
        let e = q.quality_meta().await.unwrap().epoch;
        assert!(
            q.replace_quality(e, "quality", 1, kept.to_vec())
                .await
                .unwrap()
        );
        let rebuilt = (totals(&store, OVERALL).await, totals(&store, "g").await);
        assert_eq!(after, rebuilt);
    }

    // Nothing older is left: the next batch is empty, and a later cut-off takes the rest.
    assert!(store.purge_expired(cutoff, 2).await.unwrap().is_empty());
    let mut rest = PurgeCounts::default();
    loop {
        let b = store.purge_expired(us(&at(1_000)), 100).await.unwrap();
        if b.is_empty() {
            break;
        }
        rest.add(&b);
    }
    assert_eq!(
        rest.records, 3,
        "edge, spans, new; the undated one was received now"
    );
    assert_eq!(list_ids(&store, &query()).await, vec!["undated"]);
}

/// The schema is at the version this code expects.
pub async fn schema_is_current(store: Arc<dyn Store>) {
    let s: SchemaStatus = store.schema_status().await.unwrap();
    assert!(s.is_current(), "{s:?}");
    assert!(s.expected > 0);
}
