//! The change feed, and reads pinned to the stored copy a nextLink was issued for.

use super::*;

fn kinds(changes: &[Change]) -> Vec<(String, i64, ChangeKind, bool)> {
    changes
        .iter()
        .map(|c| (c.record_id.clone(), c.version, c.kind, c.partial))
        .collect()
}

/// Every stored copy is in the feed once, in commit order, with what it did; duplicates are not.
pub async fn change_feed_reports_every_stored_copy_in_order(store: Arc<dyn Store>) {
    assert!(store.changes_after(0, 10).await.unwrap().is_empty());
    let a1 = record("cf-a", 1, Some(0), Some(10), &["x"], "o", 1);
    let a2 = record("cf-a", 2, Some(0), Some(11), &["x"], "o", 2);
    let a2b = record("cf-a", 2, Some(0), Some(12), &["x"], "o", 2);
    let b3 = record("cf-b", 3, Some(1), Some(2), &["y"], "o", 1);
    let b3_more = record("cf-b", 3, Some(1), Some(2), &["y"], "o", 3);
    assert_eq!(put1(&store, &a1, false).await, PutOutcome::Stored);
    assert_eq!(put1(&store, &a2, false).await, PutOutcome::Stored);
    assert_eq!(put1(&store, &a2, false).await, PutOutcome::Duplicate);
    assert_eq!(put1(&store, &a2b, false).await, PutOutcome::Conflict);
    assert_eq!(put1(&store, &a1, false).await, PutOutcome::Duplicate);
    let a0 = record("cf-a", 0, Some(0), Some(10), &["x"], "o", 1);
    assert_eq!(put1(&store, &a0, false).await, PutOutcome::Stale);
    // A partial copy served, then completed by a bigger complete copy of the same version.
    assert_eq!(put1(&store, &b3, true).await, PutOutcome::Partial);
    assert_eq!(put1(&store, &b3_more, false).await, PutOutcome::Stored);
    let changes = all_changes(&store, 0).await;
    assert_eq!(
        kinds(&changes),
        vec![
            ("cf-a".into(), 1, ChangeKind::Created, false),
            ("cf-a".into(), 2, ChangeKind::Updated, false),
            ("cf-a".into(), 2, ChangeKind::Conflict, false),
            ("cf-a".into(), 0, ChangeKind::Stale, false),
            ("cf-b".into(), 3, ChangeKind::Created, true),
            ("cf-b".into(), 3, ChangeKind::Completed, false),
        ]
    );
    assert!(changes.windows(2).all(|w| w[0].cursor < w[1].cursor));
    assert!(changes.iter().all(|c| c.tenant == DEFAULT_TENANT));
    assert!(changes.iter().all(|c| c.received_us > 0));
    // A batch keeps its input order in the feed.
    let batch = (0..5)
        .map(|i| {
            incoming(
                &record(&format!("cf-batch-{i}"), 1, Some(i), None, &[], "o", 0),
                false,
            )
        })
        .collect();
    put_records(&store, batch).await.unwrap();
    let after = all_changes(&store, changes.last().unwrap().cursor).await;
    let ids: Vec<&str> = after.iter().map(|c| c.record_id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "cf-batch-0",
            "cf-batch-1",
            "cf-batch-2",
            "cf-batch-3",
            "cf-batch-4"
        ]
    );
}

/// Reading on from any cursor gives exactly the rest; a limit is honoured; past the end is empty.
pub async fn change_feed_pages_with_its_cursor(store: Arc<dyn Store>) {
    for i in 0..20 {
        let v = record("cf-page", i + 1, Some(0), Some(1), &[], "o", 0);
        assert_eq!(put1(&store, &v, false).await, PutOutcome::Stored);
    }
    let all = all_changes(&store, 0).await;
    assert_eq!(all.len(), 20);
    for (i, c) in all.iter().enumerate() {
        let rest = all_changes(&store, c.cursor).await;
        assert_eq!(rest, all[i + 1..].to_vec());
    }
    let three = store.changes_after(0, 3).await.unwrap();
    assert_eq!(three, all[..3].to_vec());
    let last = all.last().unwrap().cursor;
    assert!(store.changes_after(last, 10).await.unwrap().is_empty());
    assert!(
        store
            .changes_after(last + 1000, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The feed's served entries name exactly the served copies: the last served change of each record is the
/// head's revision.
pub async fn change_feed_matches_served_versions(store: Arc<dyn Store>) {
    for (id, versions) in [
        ("m-a", vec![1, 3, 2]),
        ("m-b", vec![5]),
        ("m-c", vec![1, 2]),
    ] {
        for v in versions {
            let r = record(id, v, Some(0), Some(1), &[], "o", 1);
            put1(&store, &r, false).await;
        }
    }
    let changes = all_changes(&store, 0).await;
    for id in ["m-a", "m-b", "m-c"] {
        let head = get_record(&store, id).await.unwrap().unwrap();
        let last_served = changes
            .iter()
            .rfind(|c| c.record_id == id && c.kind.served())
            .unwrap();
        assert_eq!(head.revision, last_served.cursor, "{id}");
        assert_eq!(head.version, last_served.version, "{id}");
        let history = list_versions(&store, id).await.unwrap();
        let served: Vec<&VersionInfo> = history.iter().filter(|v| v.served).collect();
        assert_eq!(served.len(), 1);
        assert_eq!(served[0].revision, head.revision);
    }
}

/// A read pinned to an earlier stored copy (a nextLink issued before a newer version was served) returns that
/// copy's head, sessions and participants, not the newer version's, and never a mix.
pub async fn pinned_read_returns_the_version_it_was_issued_for(store: Arc<dyn Store>) {
    let v1 = record("pin", 1, Some(0), Some(10), &["a", "b", "c"], "o", 5);
    let v2 = record("pin", 2, Some(0), Some(12), &["d"], "o", 2);
    assert_eq!(put1(&store, &v1, false).await, PutOutcome::Stored);
    let head1 = get_record(&store, "pin").await.unwrap().unwrap();
    assert_eq!(put1(&store, &v2, false).await, PutOutcome::Stored);
    let head2 = get_record(&store, "pin").await.unwrap().unwrap();
    assert_ne!(head1.revision, head2.revision);
    let read = |pin| RecordRead {
        sessions: Some(Window {
            after: Some(1),
            limit: 2,
        }),
        with_segments: true,
        participants: Some(Window {
            after: Some(0),
            limit: 130,
        }),
        pin,
    };
    let old = store
        .read_record(&ALL, "pin", &read(Some(head1.revision)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.head.version, 1);
    assert_eq!(old.head.revision, head1.revision);
    assert_eq!(old.head.session_count, 5);
    assert_eq!(old.head.json, head1.json);
    let ordinals: Vec<u64> = old.sessions.iter().map(|s| s.ordinal).collect();
    assert_eq!(ordinals, vec![2, 3]);
    for s in &old.sessions {
        let want = &v1["sessions"][s.ordinal as usize];
        assert_eq!(serde_json::from_str::<Value>(&s.json).unwrap(), *want);
    }
    let pids: Vec<Value> = old
        .participants
        .iter()
        .map(|p| serde_json::from_str::<Value>(&p.json).unwrap()["id"].clone())
        .collect();
    assert_eq!(pids, vec![json!("b"), json!("c")]);
    // Pinned to the served copy, or not pinned: the current version.
    for pin in [Some(head2.revision), None] {
        let now = store
            .read_record(&ALL, "pin", &read(pin))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(now.head.version, 2);
        assert_eq!(
            now.sessions.len(),
            0,
            "v2 has 2 sessions, after ordinal 1 none"
        );
        assert!(now.participants.is_empty());
    }
}

/// A pin that is not a stored copy of this record (another record's, or none at all) reads as absent.
pub async fn pinned_read_of_another_record_is_absent(store: Arc<dyn Store>) {
    let a = record("pin-a", 1, Some(0), Some(10), &["a"], "o", 1);
    let b = record("pin-b", 1, Some(0), Some(10), &["a"], "o", 1);
    put1(&store, &a, false).await;
    put1(&store, &b, false).await;
    let rev_b = get_record(&store, "pin-b").await.unwrap().unwrap().revision;
    let pinned = |pin| RecordRead {
        pin: Some(pin),
        ..RecordRead::default()
    };
    assert!(
        store
            .read_record(&ALL, "pin-a", &pinned(rev_b))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .read_record(&ALL, "pin-a", &pinned(rev_b + 10_000))
            .await
            .unwrap()
            .is_none()
    );
}

/// `list_records` with its count: the count is of the same snapshot as the page.
pub async fn list_with_count_is_one_snapshot(store: Arc<dyn Store>) {
    let batch = (0..12)
        .map(|i| {
            incoming(
                &record(&format!("lc{i:02}"), 1, Some(i), None, &[], "o", 0),
                false,
            )
        })
        .collect();
    put_records(&store, batch).await.unwrap();
    let q = RecordQuery {
        limit: 5,
        ..query()
    };
    let page = store.list_records(&ALL, &q, true).await.unwrap();
    assert_eq!(page.count, Some(12));
    assert_eq!(page.heads.len(), 5);
    let page = store.list_records(&ALL, &q, false).await.unwrap();
    assert_eq!(page.count, None);
}
