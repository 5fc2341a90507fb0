//! Derived call-quality data ([`callrecords_store::quality::QualityStore`]): rows replaced by newer versions
//! only, counters summed per group and window, the cursor moving only with the rows.

use std::sync::Arc;

use callrecords_store::quality::{
    OVERALL, QualityContribution, QualityStream, QualityUpdate, QualityWindow, StreamFilter,
};
use callrecords_store::{ReadScope, Store};

fn update(id: &str, version: i64, start_us: i64, streams: usize, poor: u64) -> QualityUpdate {
    QualityUpdate {
        tenant: "t1".into(),
        record_id: id.into(),
        version,
        start_us: Some(start_us),
        streams: (0..streams)
            .map(|i| QualityStream {
                kind: "audio".into(),
                class: if (i as u64) < poor { "poor" } else { "good" }.into(),
                subnet: Some("10.0.0.0".into()),
                has_building: false,
                json: format!(r#"{{"id":"{id}","v":{version},"i":{i}}}"#),
            })
            .collect(),
        sessions: vec![format!(r#"{{"id":"{id}"}}"#)],
        failed_sessions: 0,
        contributions: vec![
            QualityContribution {
                key: OVERALL.into(),
                value: None,
                counts: vec![1, streams as u64, poor],
            },
            QualityContribution {
                key: "day".into(),
                value: Some(format!("d{start_us}")),
                counts: vec![1, streams as u64, poor],
            },
        ],
    }
}

async fn overall(store: &Arc<dyn Store>, w: QualityWindow) -> Vec<u64> {
    let q = store.quality().expect("quality");
    let t = q.quality_totals(&ReadScope::All, w, OVERALL).await.unwrap();
    assert!(t.len() <= 1, "{t:?}");
    t.into_iter().next().map(|(_, c)| c).unwrap_or_default()
}

/// A newer version replaces a record's rows and counters; an older one changes nothing.
pub async fn quality_newer_version_replaces_rows(store: Arc<dyn Store>) {
    let Some(q) = store.quality() else { return };
    let e = q.quality_meta().await.unwrap().epoch;
    assert!(
        q.replace_quality(
            e,
            "quality",
            1,
            vec![update("a", 1, 100, 3, 1), update("b", 1, 200, 2, 0)]
        )
        .await
        .unwrap()
    );
    assert_eq!(
        overall(&store, QualityWindow::default()).await,
        vec![2, 5, 1]
    );
    assert!(
        q.replace_quality(e, "quality", 2, vec![update("a", 2, 100, 1, 1)])
            .await
            .unwrap()
    );
    assert_eq!(
        overall(&store, QualityWindow::default()).await,
        vec![2, 3, 1]
    );
    // stale: nothing changes
    assert!(
        q.replace_quality(e, "quality", 3, vec![update("a", 1, 100, 9, 9)])
            .await
            .unwrap()
    );
    assert_eq!(
        overall(&store, QualityWindow::default()).await,
        vec![2, 3, 1]
    );
    let rows = q
        .quality_streams(
            &ReadScope::All,
            &StreamFilter {
                record_id: Some("a".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].json.contains(r#""v":2"#), "{rows:?}");
    assert_eq!(store.consumer_cursor("quality").await.unwrap(), 3);
}

/// Windows filter on the record's start; groups sum per value; scope limits tenants; paging by position.
pub async fn quality_totals_windows_groups_and_paging(store: Arc<dyn Store>) {
    let Some(q) = store.quality() else { return };
    let e = q.quality_meta().await.unwrap().epoch;
    let mut other = update("c", 1, 100, 4, 4);
    other.tenant = "t2".into();
    q.replace_quality(
        e,
        "quality",
        1,
        vec![update("a", 1, 100, 3, 1), update("b", 1, 200, 2, 0), other],
    )
    .await
    .unwrap();
    let w = QualityWindow {
        from_us: Some(150),
        until_us: Some(300),
    };
    assert_eq!(overall(&store, w).await, vec![1, 2, 0]);
    let w = QualityWindow {
        from_us: Some(100),
        until_us: Some(200),
    };
    assert_eq!(overall(&store, w).await, vec![2, 7, 5]);
    let days = q
        .quality_totals(
            &ReadScope::Tenant("t1".into()),
            QualityWindow::default(),
            "day",
        )
        .await
        .unwrap();
    assert_eq!(
        days,
        vec![
            (Some("d100".into()), vec![1, 3, 1]),
            (Some("d200".into()), vec![1, 2, 0])
        ]
    );
    let mut f = StreamFilter {
        limit: 2,
        ..Default::default()
    };
    let mut seen = 0;
    loop {
        let page = q
            .quality_streams(&ReadScope::Tenant("t1".into()), &f)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        seen += page.len();
        f.after = Some(page.last().unwrap().seq);
    }
    assert_eq!(seen, 5);
    let poor = q
        .quality_streams(
            &ReadScope::All,
            &StreamFilter {
                class: Some("poor".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(poor.len(), 5);
    let missing = q
        .quality_missing_subnets(&ReadScope::All, QualityWindow::default(), 9)
        .await
        .unwrap();
    assert_eq!(missing, vec![("10.0.0.0".to_owned(), 9)]);
    assert!(
        q.quality_missing_subnets(&ReadScope::All, QualityWindow::default(), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A write computed under an older epoch (before a reset / new building file) writes nothing and leaves
/// the cursor; a reset clears rows and sets the cursor back to 0, durably.
pub async fn quality_cursor_moves_only_with_rows(store: Arc<dyn Store>) {
    let Some(q) = store.quality() else { return };
    let e = q.quality_meta().await.unwrap().epoch;
    assert!(
        q.replace_quality(e, "quality", 5, vec![update("a", 1, 100, 3, 1)])
            .await
            .unwrap()
    );
    assert_eq!(store.consumer_cursor("quality").await.unwrap(), 5);
    let m = q
        .reset_quality("quality", Some("10.0.0.0,n,24,B".into()))
        .await
        .unwrap();
    assert!(m.epoch > e);
    assert_eq!(m.buildings.as_deref(), Some("10.0.0.0,n,24,B"));
    assert_eq!(store.consumer_cursor("quality").await.unwrap(), 0);
    assert!(overall(&store, QualityWindow::default()).await.is_empty());
    assert!(
        !q.replace_quality(e, "quality", 7, vec![update("a", 1, 100, 3, 1)])
            .await
            .unwrap()
    );
    assert_eq!(store.consumer_cursor("quality").await.unwrap(), 0);
    assert!(overall(&store, QualityWindow::default()).await.is_empty());
    assert_eq!(q.quality_meta().await.unwrap(), m);
}

const DAY: i64 = 86_400_000_000;

/// A record with a counter array derived from its id and version, under OVERALL and two `g` groups.
fn counted(tenant: &str, id: &str, version: i64, start_us: Option<i64>, n: u64) -> QualityUpdate {
    let counts = |k: u64| vec![1, n, k, n * k];
    QualityUpdate {
        tenant: tenant.into(),
        record_id: id.into(),
        version,
        start_us,
        streams: Vec::new(),
        sessions: Vec::new(),
        failed_sessions: 0,
        contributions: vec![
            QualityContribution {
                key: OVERALL.into(),
                value: None,
                counts: counts(1),
            },
            QualityContribution {
                key: "g".into(),
                value: Some(format!("v{}", n % 3)),
                counts: counts(2),
            },
            QualityContribution {
                key: "g".into(),
                value: None,
                counts: counts(3),
            },
        ],
    }
}

/// The expected totals: the contributions under `key` of the latest version of each record in scope
/// and window, summed per group value by brute force.
fn brute(
    latest: &[QualityUpdate],
    scope: &ReadScope,
    w: QualityWindow,
    key: &str,
) -> Vec<(Option<String>, Vec<u64>)> {
    let mut out: std::collections::BTreeMap<Option<String>, Vec<u64>> = Default::default();
    for u in latest {
        if scope.tenant().is_some_and(|t| t != u.tenant) {
            continue;
        }
        let bounded = w.from_us.is_some() || w.until_us.is_some();
        let inside = match u.start_us {
            None => !bounded,
            Some(s) => w.from_us.is_none_or(|f| s >= f) && w.until_us.is_none_or(|x| s < x),
        };
        if !inside {
            continue;
        }
        for c in u.contributions.iter().filter(|c| c.key == key) {
            let acc = out.entry(c.value.clone()).or_default();
            acc.resize(acc.len().max(c.counts.len()), 0);
            for (a, n) in acc.iter_mut().zip(&c.counts) {
                *a += n;
            }
        }
    }
    out.into_iter().collect()
}

/// Whatever a backend pre-aggregates (per day, per group…), a summary equals the brute-force sum of the
/// latest versions' contributions, for windows on and off midnight, open ends, records without a start,
/// tenant scopes, after a newer version moved a record to another day and after a stale one.
pub async fn quality_totals_equal_the_sum_of_contributions(store: Arc<dyn Store>) {
    let Some(q) = store.quality() else { return };
    let e = q.quality_meta().await.unwrap().epoch;
    let d0 = 20_000 * DAY; // 2024-10-04
    let mut latest: Vec<QualityUpdate> = Vec::new();
    let mut batch = Vec::new();
    for i in 0..40i64 {
        let start = if i % 13 == 0 {
            None
        } else {
            Some(d0 + i * DAY / 7 + i)
        };
        let tenant = if i % 4 == 0 { "t2" } else { "t1" };
        batch.push(counted(tenant, &format!("r{i}"), 1, start, i as u64));
    }
    latest.extend(batch.iter().cloned());
    assert!(q.replace_quality(e, "quality", 1, batch).await.unwrap());
    let windows = [
        QualityWindow::default(),
        QualityWindow {
            from_us: Some(d0),
            until_us: Some(d0 + 3 * DAY),
        },
        QualityWindow {
            from_us: Some(d0 + DAY / 3),
            until_us: Some(d0 + 4 * DAY + 7),
        },
        QualityWindow {
            from_us: Some(d0 + DAY + 1),
            until_us: None,
        },
        QualityWindow {
            from_us: None,
            until_us: Some(d0 + 2 * DAY),
        },
        QualityWindow {
            from_us: Some(d0 + DAY / 2),
            until_us: Some(d0 + DAY / 2 + DAY / 5),
        },
        QualityWindow {
            from_us: Some(d0 + 10 * DAY),
            until_us: Some(d0 + 11 * DAY),
        },
    ];
    let check = |latest: Vec<QualityUpdate>, stage: &'static str| {
        let store = store.clone();
        async move {
            let q = store.quality().unwrap();
            for w in windows {
                for scope in [ReadScope::All, ReadScope::Tenant("t1".into())] {
                    for key in [OVERALL, "g"] {
                        let got = q.quality_totals(&scope, w, key).await.unwrap();
                        assert_eq!(
                            got,
                            brute(&latest, &scope, w, key),
                            "{stage}: {w:?} {scope:?} {key:?}"
                        );
                    }
                }
            }
        }
    };
    check(latest.clone(), "first").await;
    // Newer versions: r1 moves four days later, r3 loses its start, r13 (no start) gains one, r2 changes
    // its counters in place; r5 gets a stale version.
    let newer = vec![
        counted("t1", "r1", 2, Some(d0 + 4 * DAY + 5), 100),
        counted("t1", "r3", 3, None, 7),
        counted("t1", "r13", 2, Some(d0 + DAY / 2 + 1), 13),
        counted("t1", "r2", 2, latest[2].start_us, 50),
    ];
    for u in &newer {
        let at = latest
            .iter()
            .position(|x| x.record_id == u.record_id)
            .unwrap();
        latest[at] = u.clone();
    }
    let mut writes = newer;
    writes.push(counted("t1", "r5", 0, Some(d0), 999));
    assert!(q.replace_quality(e, "quality", 2, writes).await.unwrap());
    check(latest.clone(), "after newer and stale versions").await;
}

/// `storage_size` (when the backend reports one) counts the scope's records and versions; the database's
/// size only for every tenant.
pub async fn storage_size_counts_the_scope(store: Arc<dyn Store>) {
    let Some(before) = store.storage_size(&ReadScope::All).await.unwrap() else {
        return;
    };
    assert!(before.database_bytes.is_some_and(|b| b > 0), "{before:?}");
    for (id, v) in [("s-a", 1), ("s-a", 2), ("s-b", 1)] {
        let r = crate::record(id, v, Some(0), Some(10), &["u1"], "alice", 1);
        crate::put1(&store, &r, false).await;
    }
    let all = store.storage_size(&ReadScope::All).await.unwrap().unwrap();
    assert_eq!(all.records, before.records + 2);
    assert_eq!(all.versions, before.versions + 3);
    assert!(all.raw_bytes > before.raw_bytes);
    let other = store
        .storage_size(&ReadScope::Tenant("nobody".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            other.records,
            other.versions,
            other.raw_bytes,
            other.database_bytes
        ),
        (0, 0, 0, None)
    );
}

fn incoming_pair(
    id: &str,
    version: i64,
    start_min: i64,
) -> (callrecords_store::IncomingRecord, i64) {
    let v = crate::record(
        id,
        version,
        Some(start_min),
        Some(start_min + 5),
        &["p1"],
        "org",
        1,
    );
    (crate::incoming(&v, false), crate::us(&crate::at(start_min)))
}

/// `put_records_deriving` writes the derived rows with the records exactly when the deriver is caught up
/// (cursor at the feed head, epoch current, every served copy derived), then moves the cursor past the
/// batch; only copies that become served count (stale and conflicting ones change nothing); otherwise
/// it is `put_records` alone and the derivation is left to the feed. A backend without quality data
/// (or one that never derives inline) reports `false` and stores the records all the same.
pub async fn quality_rows_ride_with_the_records_when_caught_up(store: Arc<dyn Store>) {
    use callrecords_store::PutOutcome;
    use callrecords_store::quality::InlineQuality;
    let Some(q) = store.quality() else {
        let (a, _) = incoming_pair("a", 1, 0);
        let (out, wrote) = store
            .put_records_deriving("t1", vec![a], InlineQuality::default())
            .await
            .unwrap();
        assert_eq!(out, vec![PutOutcome::Stored]);
        assert!(!wrote);
        return;
    };
    let e = q.quality_meta().await.unwrap().epoch;
    let head = |s: Arc<dyn Store>| async move {
        s.changes_after(0, 10_000)
            .await
            .unwrap()
            .last()
            .map_or(0, |c| c.cursor)
    };
    // Fresh store: caught up. The update's keys (tenant, id, version, start) are the stored copy's.
    let (a1, a_start) = incoming_pair("a", 1, 0);
    let (b1, b_start) = incoming_pair("b", 1, 60);
    let mut ua = update("a", 1, 0, 3, 1);
    ua.tenant = "wrong".into();
    ua.start_us = None;
    let (out, wrote) = store
        .put_records_deriving(
            "t1",
            vec![a1, b1],
            InlineQuality {
                epoch: e,
                updates: vec![Some(ua), Some(update("b", 1, b_start, 2, 0))],
            },
        )
        .await
        .unwrap();
    assert_eq!(out, vec![PutOutcome::Stored, PutOutcome::Stored]);
    if !wrote {
        // A backend that leaves every batch to the deriver: the records are stored, nothing derived.
        assert!(overall(&store, QualityWindow::default()).await.is_empty());
        assert_eq!(store.consumer_cursor("quality").await.unwrap(), 0);
        return;
    }
    assert_eq!(
        overall(&store, QualityWindow::default()).await,
        vec![2, 5, 1]
    );
    let in_a = QualityWindow {
        from_us: Some(a_start),
        until_us: Some(a_start + 1),
    };
    assert_eq!(
        overall(&store, in_a).await,
        vec![1, 3, 1],
        "a's start taken from the record"
    );
    let t1 = ReadScope::Tenant("t1".into());
    let rows = q
        .quality_streams(
            &t1,
            &StreamFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    let h = head(store.clone()).await;
    assert!(h > 0);
    assert_eq!(store.consumer_cursor("quality").await.unwrap(), h);

    // A newer version replaces; a stale one and a conflicting copy change nothing (the cursor still moves).
    let (a2, _) = incoming_pair("a", 2, 0);
    let (a_stale, _) = incoming_pair("a", 1, 0);
    let mut conflict = crate::record("b", 1, Some(60), Some(65), &["p2"], "org", 1);
    conflict["type"] = serde_json::json!("peerToPeer");
    let (out, wrote) = store
        .put_records_deriving(
            "t1",
            vec![a2, crate::incoming(&conflict, false), a_stale],
            InlineQuality {
                epoch: e,
                updates: vec![
                    Some(update("a", 2, a_start, 1, 1)),
                    Some(update("b", 1, b_start, 9, 9)),
                    Some(update("a", 1, a_start, 9, 9)),
                ],
            },
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![
            PutOutcome::Stored,
            PutOutcome::Conflict,
            PutOutcome::Duplicate
        ]
    );
    assert!(wrote);
    assert_eq!(
        overall(&store, QualityWindow::default()).await,
        vec![2, 3, 1]
    );
    let h = head(store.clone()).await;
    assert_eq!(store.consumer_cursor("quality").await.unwrap(), h);
    let (a_old, _) = incoming_pair("a", 0, 0);
    let (out, wrote) = store
        .put_records_deriving(
            "t1",
            vec![a_old],
            InlineQuality {
                epoch: e,
                updates: vec![Some(update("a", 0, a_start, 7, 7))],
            },
        )
        .await
        .unwrap();
    assert_eq!((out, wrote), (vec![PutOutcome::Stale], true));
    assert_eq!(
        overall(&store, QualityWindow::default()).await,
        vec![2, 3, 1]
    );

    // A served copy without an update: the batch is left to the deriver (records stored, no rows,
    // cursor behind).
    let cursor = store.consumer_cursor("quality").await.unwrap();
    let (c1, c_start) = incoming_pair("c", 1, 120);
    let (d1, d_start) = incoming_pair("d", 1, 180);
    let (out, wrote) = store
        .put_records_deriving(
            "t1",
            vec![c1, d1],
            InlineQuality {
                epoch: e,
                updates: vec![Some(update("c", 1, c_start, 4, 4)), None],
            },
        )
        .await
        .unwrap();
    assert_eq!((out, wrote), (vec![PutOutcome::Stored; 2], false));
    assert_eq!(store.consumer_cursor("quality").await.unwrap(), cursor);
    assert_eq!(
        overall(&store, QualityWindow::default()).await,
        vec![2, 3, 1]
    );

    // Cursor behind the head (c and d not derived yet): nothing derived is written.
    let (e1, e_start) = incoming_pair("e", 1, 240);
    let (out, wrote) = store
        .put_records_deriving(
            "t1",
            vec![e1],
            InlineQuality {
                epoch: e,
                updates: vec![Some(update("e", 1, e_start, 1, 0))],
            },
        )
        .await
        .unwrap();
    assert_eq!((out, wrote), (vec![PutOutcome::Stored], false));
    assert_eq!(store.consumer_cursor("quality").await.unwrap(), cursor);

    // The deriver catches up (here by hand), then an outdated epoch is refused.
    let h = head(store.clone()).await;
    assert!(
        q.replace_quality(
            e,
            "quality",
            h,
            vec![
                update("c", 1, c_start, 4, 4),
                update("d", 1, d_start, 1, 0),
                update("e", 1, e_start, 1, 0)
            ]
        )
        .await
        .unwrap()
    );
    let m = q.reset_quality("quality", None).await.unwrap();
    assert!(m.epoch > e);
    let (f1, f_start) = incoming_pair("f", 1, 300);
    let (_, wrote) = store
        .put_records_deriving(
            "t1",
            vec![f1],
            InlineQuality {
                epoch: e,
                updates: vec![Some(update("f", 1, f_start, 1, 0))],
            },
        )
        .await
        .unwrap();
    assert!(!wrote, "a reset rewinds the cursor and bumps the epoch");
    assert!(overall(&store, QualityWindow::default()).await.is_empty());
    assert_eq!(store.consumer_cursor("quality").await.unwrap(), 0);
}
