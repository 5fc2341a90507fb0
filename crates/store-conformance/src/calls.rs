//! The call list ([`callrecords_store::quality::QualityStore::quality_calls`]): records with derived rows,
//! filtered by window, scope, type, search, poor and failed; sorted by each order; paged with a total.

use std::sync::Arc;

use callrecords_store::calls::{CallFilter, CallOrder};
use callrecords_store::quality::{QualityStream, QualityUpdate, QualityWindow};
use callrecords_store::{DEFAULT_TENANT, ReadScope, Store};

use super::{at, incoming, put1, record, us};

fn derived(
    tenant: &str,
    id: &str,
    start_min: i64,
    poor: usize,
    good: usize,
    failed: bool,
) -> QualityUpdate {
    let stream = |class: &str, i: usize| QualityStream {
        kind: "audio".into(),
        class: class.into(),
        subnet: None,
        has_building: false,
        json: format!(r#"{{"id":"{id}","i":{i}}}"#),
    };
    QualityUpdate {
        tenant: tenant.into(),
        record_id: id.into(),
        version: 1,
        start_us: Some(us(&at(start_min))),
        streams: (0..poor)
            .map(|i| stream("poor", i))
            .chain((0..good).map(|i| stream("good", poor + i)))
            .collect(),
        sessions: vec![
            format!(r#"{{"recordId":"{id}","failureStage":null}}"#),
            if failed {
                format!(r#"{{"recordId":"{id}","failureStage":"callSetup"}}"#)
            } else {
                format!(r#"{{"recordId":"{id}"}}"#)
            },
        ],
        failed_sessions: u64::from(failed),
        contributions: Vec::new(),
    }
}

/// Filters, every order (both directions, ties by id), offset pages with the total, tenant scope, and only
/// records the deriver has rows for.
pub async fn quality_calls_filter_sort_and_page(store: Arc<dyn Store>) {
    let Some(q) = store.quality() else { return };
    let mut p2p = record("c-c", 1, Some(20), Some(21), &["u9"], "carol", 1);
    p2p["type"] = "peerToPeer".into();
    for v in [
        record("c-a", 1, Some(0), Some(10), &["u1", "u2"], "alice", 2),
        record(
            "c-b",
            1,
            Some(5),
            Some(65),
            &["u1", "u2", "u3", "u4"],
            "bob",
            3,
        ),
        p2p,
        record("c-d", 1, Some(30), Some(31), &["u1"], "dave", 1),
    ] {
        put1(&store, &v, false).await;
    }
    let other = record("c-e", 1, Some(1), Some(2), &["u1"], "erin", 1);
    store
        .put_records("t2", vec![incoming(&other, false)])
        .await
        .unwrap();
    let e = q.quality_meta().await.unwrap().epoch;
    let d = DEFAULT_TENANT;
    assert!(
        q.replace_quality(
            e,
            "quality",
            1,
            vec![
                derived(d, "c-a", 0, 2, 1, false),
                derived(d, "c-b", 5, 0, 1, true),
                derived(d, "c-c", 20, 0, 0, false),
                derived("t2", "c-e", 1, 5, 0, true),
            ],
        )
        .await
        .unwrap()
    );
    let mine = ReadScope::Tenant(d.into());
    let list = |f: CallFilter| {
        let (q, mine) = (q, mine.clone());
        async move {
            let page = q.quality_calls(&mine, &f).await.unwrap();
            let ids: Vec<String> = page.rows.iter().map(|r| r.id.clone()).collect();
            (ids, page.total)
        }
    };
    let base = CallFilter {
        limit: 10,
        ..Default::default()
    };
    // Only derived records (not c-d), only the scope's tenant (not c-e).
    assert_eq!(
        list(base.clone()).await,
        (vec!["c-a".into(), "c-b".into(), "c-c".into()], 3)
    );
    let all = q.quality_calls(&ReadScope::All, &base).await.unwrap();
    assert_eq!(all.total, 4);
    assert_eq!(all.rows[1].id, "c-e");
    assert_eq!(all.rows[1].tenant, "t2");
    // The row's columns.
    let page = q.quality_calls(&mine, &base).await.unwrap();
    let a = &page.rows[0];
    assert_eq!(
        (
            a.version,
            a.sessions,
            a.participants,
            a.streams,
            a.poor_streams,
            a.failed_sessions
        ),
        (1, 2, 2, 3, 2, 0)
    );
    assert_eq!(a.start_us, Some(us(&at(0))));
    assert_eq!(a.end_us, Some(us(&at(10))));
    assert_eq!(a.call_type.as_deref(), Some("groupCall"));
    assert_eq!(a.modalities, vec!["audio".to_string(), "video".into()]);
    assert_eq!(a.organizer_id.as_deref(), Some("alice"));
    assert_eq!(page.rows[1].failed_sessions, 1);
    // Orders.
    let ordered = |order, descending| CallFilter {
        order,
        descending,
        ..base.clone()
    };
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        list(ordered(CallOrder::Start, true)).await.0,
        ids(&["c-c", "c-b", "c-a"])
    );
    assert_eq!(
        list(ordered(CallOrder::Duration, true)).await.0,
        ids(&["c-b", "c-a", "c-c"])
    );
    assert_eq!(
        list(ordered(CallOrder::Duration, false)).await.0,
        ids(&["c-c", "c-a", "c-b"])
    );
    assert_eq!(
        list(ordered(CallOrder::Participants, true)).await.0,
        ids(&["c-b", "c-a", "c-c"])
    );
    // Ties (no poor stream) by id, in the same direction.
    assert_eq!(
        list(ordered(CallOrder::PoorStreams, true)).await.0,
        ids(&["c-a", "c-c", "c-b"])
    );
    assert_eq!(
        list(ordered(CallOrder::PoorStreams, false)).await.0,
        ids(&["c-b", "c-c", "c-a"])
    );
    // Filters.
    let poor = CallFilter {
        poor_only: true,
        ..base.clone()
    };
    assert_eq!(list(poor).await, (ids(&["c-a"]), 1));
    let failed = CallFilter {
        failed_only: true,
        ..base.clone()
    };
    assert_eq!(list(failed).await, (ids(&["c-b"]), 1));
    let typed = CallFilter {
        call_type: Some("peerToPeer".into()),
        ..base.clone()
    };
    assert_eq!(list(typed).await, (ids(&["c-c"]), 1));
    let window = CallFilter {
        window: QualityWindow {
            from_us: Some(us(&at(5))),
            until_us: Some(us(&at(20))),
        },
        ..base.clone()
    };
    assert_eq!(list(window).await, (ids(&["c-b"]), 1));
    let search = |s: &str| CallFilter {
        search: Some(s.into()),
        ..base.clone()
    };
    // A participant's UPN, any case; the organizer (head); the exact id; LIKE wildcards are literal.
    assert_eq!(list(search("U9@CONTOSO")).await, (ids(&["c-c"]), 1));
    assert_eq!(list(search("u3@contoso.com")).await, (ids(&["c-b"]), 1));
    assert_eq!(list(search("alice")).await, (ids(&["c-a"]), 1));
    assert_eq!(list(search("c-b")).await.0, ids(&["c-b"]));
    assert_eq!(list(search("%")).await, (ids(&[]), 0));
    // Pages: skip and limit, the total of the whole filter.
    let page2 = CallFilter {
        skip: 2,
        limit: 2,
        ..base.clone()
    };
    assert_eq!(list(page2).await, (ids(&["c-c"]), 3));
    let page1 = CallFilter {
        skip: 0,
        limit: 2,
        ..base
    };
    assert_eq!(list(page1).await, (ids(&["c-a", "c-b"]), 3));
}
