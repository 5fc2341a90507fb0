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
