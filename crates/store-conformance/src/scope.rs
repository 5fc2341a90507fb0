//! Read scopes: a tenant sees only its own records and rows, and another tenant's record is absent.

use super::*;

fn tenant(t: &str) -> ReadScope {
    ReadScope::Tenant(t.to_owned())
}

async fn put_as(store: &Arc<dyn Store>, t: &str, values: &[Value]) -> Vec<PutOutcome> {
    store
        .put_records(t, values.iter().map(|v| incoming(v, false)).collect())
        .await
        .unwrap()
}

/// Every read method answers a tenant's scope with that tenant's data only; `All` sees both.
pub async fn scope_isolates_tenants_on_every_read(store: Arc<dyn Store>) {
    let a = record("only-a", 1, Some(0), Some(10), &["alice"], "org-a", 3);
    let b = record("only-b", 1, Some(5), Some(10), &["bob"], "org-b", 2);
    assert_eq!(
        put_as(&store, "tenant-a", &[a]).await,
        vec![PutOutcome::Stored]
    );
    assert_eq!(
        put_as(&store, "tenant-b", &[b]).await,
        vec![PutOutcome::Stored]
    );
    let (ta, tb) = (tenant("tenant-a"), tenant("tenant-b"));
    let full = RecordRead {
        sessions: Some(Window::first(60)),
        with_segments: true,
        participants: Some(Window::first(130)),
        pin: None,
    };
    // Own record: everything; the other's: absent, exactly like a missing id.
    let own = store
        .read_record(&ta, "only-a", &full)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (own.head.tenant.as_str(), own.sessions.len()),
        ("tenant-a", 3)
    );
    for (scope, id) in [(&ta, "only-b"), (&tb, "only-a"), (&ta, "missing")] {
        assert!(store.read_record(scope, id, &full).await.unwrap().is_none());
        assert!(
            store
                .get_session(scope, id, &format!("{id}-s0"), true)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .get_participant(scope, id, "alice")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .get_participant(scope, id, "bob")
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.list_versions(scope, id).await.unwrap().is_empty());
        assert!(store.get_version(scope, id, 1).await.unwrap().is_none());
    }
    assert!(
        store
            .get_session(&ta, "only-a", "only-a-s1", false)
            .await
            .unwrap()
            .is_some()
    );
    // A pin of the other tenant's copy is absent too.
    let rev_b = store
        .read_record(&tb, "only-b", &RecordRead::default())
        .await
        .unwrap()
        .unwrap()
        .head
        .revision;
    let pinned = RecordRead {
        pin: Some(rev_b),
        ..RecordRead::default()
    };
    assert!(
        store
            .read_record(&ta, "only-b", &pinned)
            .await
            .unwrap()
            .is_none()
    );
    // Lists and counts.
    let ids = |l: callrecords_store::RecordList| -> Vec<String> {
        l.heads.into_iter().map(|h| h.id).collect()
    };
    assert_eq!(
        ids(store.list_records(&ta, &query(), false).await.unwrap()),
        vec!["only-a"]
    );
    assert_eq!(
        ids(store.list_records(&tb, &query(), false).await.unwrap()),
        vec!["only-b"]
    );
    assert_eq!(
        ids(store.list_records(&ALL, &query(), false).await.unwrap()),
        vec!["only-a", "only-b"]
    );
    assert_eq!(store.count_records(&ta, &query()).await.unwrap(), 1);
    assert_eq!(store.count_records(&ALL, &query()).await.unwrap(), 2);
    let by_bob = RecordQuery {
        participant_ids: vec![vec!["bob".into()]],
        ..query()
    };
    assert!(
        store
            .list_records(&ta, &by_bob, true)
            .await
            .unwrap()
            .heads
            .is_empty()
    );
    assert_eq!(store.count_records(&ta, &by_bob).await.unwrap(), 0);
    assert!(
        store
            .list_records(&tenant("nobody"), &query(), false)
            .await
            .unwrap()
            .heads
            .is_empty()
    );
    // The change feed names each copy's tenant.
    let changes = all_changes(&store, 0).await;
    let tenants: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| (c.record_id.as_str(), c.tenant.as_str()))
        .collect();
    assert_eq!(
        tenants,
        vec![("only-a", "tenant-a"), ("only-b", "tenant-b")]
    );
}

/// The same record id in two tenants is two records with their own versions and history; `All` lists both,
/// ordered by (start, id, tenant), and a cursor between them resumes at the second.
pub async fn same_id_in_two_tenants_are_two_records(store: Arc<dyn Store>) {
    let v1 = record("shared-id", 1, Some(0), Some(10), &["a"], "o", 1);
    let v2 = record("shared-id", 2, Some(0), Some(10), &["a"], "o", 2);
    assert_eq!(
        put_as(&store, "t1", std::slice::from_ref(&v2)).await,
        vec![PutOutcome::Stored]
    );
    // Older version in another tenant: its own first copy, not stale.
    assert_eq!(
        put_as(&store, "t2", std::slice::from_ref(&v1)).await,
        vec![PutOutcome::Stored]
    );
    assert_eq!(
        put_as(&store, "t2", &[v1]).await,
        vec![PutOutcome::Duplicate]
    );
    let read = RecordRead::default();
    let h1 = store
        .read_record(&tenant("t1"), "shared-id", &read)
        .await
        .unwrap()
        .unwrap();
    let h2 = store
        .read_record(&tenant("t2"), "shared-id", &read)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((h1.head.version, h2.head.version), (2, 1));
    assert_eq!(
        store
            .list_versions(&tenant("t2"), "shared-id")
            .await
            .unwrap()
            .len(),
        1
    );
    let all = store.list_records(&ALL, &query(), true).await.unwrap();
    let keys: Vec<(String, String)> = all
        .heads
        .iter()
        .map(|h| (h.id.clone(), h.tenant.clone()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("shared-id".into(), "t1".into()),
            ("shared-id".into(), "t2".into())
        ]
    );
    assert_eq!(all.count, Some(2));
    let after_first = RecordQuery {
        after: Some(ListCursor::of(&all.heads[0])),
        ..query()
    };
    let rest = store.list_records(&ALL, &after_first, false).await.unwrap();
    assert_eq!(rest.heads.len(), 1);
    assert_eq!(rest.heads[0].tenant, "t2");
    let changes = all_changes(&store, 0).await;
    assert!(changes.iter().all(|c| c.kind == ChangeKind::Created));
}

/// Log rows belong to their tenant: the same row in two tenants is stored twice, each tenant sees its own.
pub async fn scope_limits_log_rows(store: Arc<dyn Store>) {
    let kind = LogKind::PstnCall;
    let all_time = LogQuery {
        from_us: i64::MIN,
        to_us: i64::MAX,
        to_inclusive: true,
        skip: 0,
        limit: 100,
    };
    for t in ["t1", "t2"] {
        let out = store
            .put_log_rows(t, kind, vec![log_row(kind, "same", Some(1))], None)
            .await
            .unwrap();
        assert_eq!(out, vec![LogOutcome::Stored]);
    }
    store
        .put_log_rows("t1", kind, vec![log_row(kind, "own", Some(2))], None)
        .await
        .unwrap();
    let n = |scope: ReadScope| {
        let store = store.clone();
        async move {
            store
                .query_log_rows(&scope, kind, &all_time)
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(n(tenant("t1")).await, 2);
    assert_eq!(n(tenant("t2")).await, 1);
    assert_eq!(n(tenant("t3")).await, 0);
    assert_eq!(n(ALL).await, 3);
}
