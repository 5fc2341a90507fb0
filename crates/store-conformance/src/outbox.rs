//! Consumer cursors, subscriptions and the notification outbox.

use super::*;
use callrecords_store::{
    AttemptResult, CreateSubscription, DeliveryState, NewNotification, NextStep, NotificationKind,
    SubscriptionRow,
};

pub(crate) fn subscription(id: &str, tenant: &str, app: &str, resource: &str) -> SubscriptionRow {
    SubscriptionRow {
        id: id.into(),
        tenant: tenant.into(),
        app_id: app.into(),
        resource: resource.into(),
        change_types: "created,updated".into(),
        expiration_us: 1_000_000,
        json: format!("{{\"id\":\"{id}\"}}"),
        secret: None,
        start_cursor: 0,
    }
}

pub(crate) fn note(id: &str, sub: &str, due_us: i64) -> NewNotification {
    NewNotification {
        notification_id: id.into(),
        subscription_id: sub.into(),
        tenant: DEFAULT_TENANT.into(),
        target_url: "http://127.0.0.1:9/hook".into(),
        kind: NotificationKind::Change {
            change_type: "created".into(),
            record_id: format!("rec-{id}"),
            change_cursor: 1,
        },
        due_us,
    }
}

/// A consumer's cursor starts at 0, is saved, and never moves back.
pub async fn consumer_cursors_are_durable_and_monotonic(store: Arc<dyn Store>) {
    assert_eq!(store.consumer_cursor("quality").await.unwrap(), 0);
    store.set_consumer_cursor("quality", 42).await.unwrap();
    store.set_consumer_cursor("notify", 7).await.unwrap();
    store.set_consumer_cursor("quality", 40).await.unwrap();
    assert_eq!(store.consumer_cursor("quality").await.unwrap(), 42);
    assert_eq!(store.consumer_cursor("notify").await.unwrap(), 7);
}

/// A tenant's sync state: absent until saved, replaced by the next save, isolated per tenant, durable for
/// another handle, listed by tenant.
pub async fn sync_states_are_per_tenant_and_replaced(store: Arc<dyn Store>, other: Arc<dyn Store>) {
    use callrecords_store::SyncStateRow;
    assert_eq!(store.sync_state("t1").await.unwrap(), None);
    assert!(
        store
            .list_sync_states(&ReadScope::All)
            .await
            .unwrap()
            .is_empty()
    );
    let row = |tenant: &str, state: &str, at: i64| SyncStateRow {
        tenant: tenant.into(),
        state: state.into(),
        updated_us: at,
    };
    store
        .put_sync_state(&row("t2", r#"{"cursor":1}"#, 10))
        .await
        .unwrap();
    store
        .put_sync_state(&row("t1", r#"{"cursor":5}"#, 11))
        .await
        .unwrap();
    store
        .put_sync_state(&row("t1", r#"{"cursor":9,"pending":["a"]}"#, 12))
        .await
        .unwrap();
    assert_eq!(
        other.sync_state("t1").await.unwrap(),
        Some(row("t1", r#"{"cursor":9,"pending":["a"]}"#, 12))
    );
    assert_eq!(
        other.list_sync_states(&ReadScope::All).await.unwrap(),
        vec![
            row("t1", r#"{"cursor":9,"pending":["a"]}"#, 12),
            row("t2", r#"{"cursor":1}"#, 10)
        ]
    );
    assert_eq!(
        other
            .list_sync_states(&ReadScope::Tenant("t2".into()))
            .await
            .unwrap(),
        vec![row("t2", r#"{"cursor":1}"#, 10)]
    );
    assert_eq!(store.sync_state("t3").await.unwrap(), None);
}

/// Create, duplicate, quota, get/list in scope, update, delete (which also drops pending notifications).
pub async fn subscriptions_lifecycle(store: Arc<dyn Store>) {
    let res = "communications/callRecords";
    let a = subscription("s-a", "t1", "app", res);
    assert_eq!(
        store.create_subscription(&a, 2).await.unwrap(),
        CreateSubscription::Created
    );
    // Same app, resource and change types: duplicate; another app: fine; then the quota.
    assert_eq!(
        store
            .create_subscription(&subscription("s-dup", "t1", "app", res), 2)
            .await
            .unwrap(),
        CreateSubscription::Duplicate {
            existing_id: "s-a".into()
        }
    );
    let b = subscription("s-b", "t1", "other-app", res);
    assert_eq!(
        store.create_subscription(&b, 2).await.unwrap(),
        CreateSubscription::Created
    );
    assert_eq!(
        store
            .create_subscription(&subscription("s-c", "t1", "third", res), 2)
            .await
            .unwrap(),
        CreateSubscription::QuotaExceeded
    );
    // Another tenant has its own quota.
    assert_eq!(
        store
            .create_subscription(&subscription("s-t2", "t2", "app", res), 2)
            .await
            .unwrap(),
        CreateSubscription::Created
    );
    let t1 = ReadScope::Tenant("t1".into());
    let t2 = ReadScope::Tenant("t2".into());
    assert_eq!(
        store.get_subscription(&t1, "s-a").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.get_subscription(&t2, "s-a").await.unwrap(), None);
    let ids = |v: Vec<SubscriptionRow>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_subscriptions(&t1).await.unwrap()),
        vec!["s-a", "s-b"]
    );
    assert_eq!(ids(store.list_subscriptions(&ALL).await.unwrap()).len(), 3);
    let mut renewed = a.clone();
    renewed.expiration_us = 5_000_000;
    renewed.json = "{\"id\":\"s-a\",\"renewed\":true}".into();
    assert!(store.update_subscription(&t1, &renewed).await.unwrap());
    assert!(!store.update_subscription(&t2, &renewed).await.unwrap());
    assert_eq!(
        store
            .get_subscription(&ALL, "s-a")
            .await
            .unwrap()
            .unwrap()
            .expiration_us,
        5_000_000
    );
    store
        .enqueue_notifications(
            "notify",
            3,
            vec![note("n1", "s-a", 0), note("n2", "s-b", 0)],
        )
        .await
        .unwrap();
    assert!(!store.delete_subscription(&t2, "s-a").await.unwrap());
    assert!(store.delete_subscription(&t1, "s-a").await.unwrap());
    assert!(!store.delete_subscription(&t1, "s-a").await.unwrap());
    assert!(store.get_subscription(&ALL, "s-a").await.unwrap().is_none());
    let due = store.claim_due_notifications(10, 1_000, 10).await.unwrap();
    let due: Vec<&str> = due.iter().map(|n| n.new.notification_id.as_str()).collect();
    assert_eq!(
        due,
        vec!["n2"],
        "the deleted subscription's pending notification went with it"
    );
}

/// Enqueueing moves the consumer's cursor in the same transaction, skips ids already queued, and claims
/// hand each due notification out once per lease; attempts are recorded with their next step.
pub async fn outbox_enqueue_claim_and_attempts(store: Arc<dyn Store>) {
    store
        .enqueue_notifications(
            "notify",
            10,
            vec![
                note("a", "s", 100),
                note("b", "s", 50),
                note("later", "s", 1_000),
            ],
        )
        .await
        .unwrap();
    assert_eq!(store.consumer_cursor("notify").await.unwrap(), 10);
    // Re-reading the same changes (a crash after delivery started) queues nothing twice.
    store
        .enqueue_notifications("notify", 12, vec![note("a", "s", 100)])
        .await
        .unwrap();
    assert_eq!(store.consumer_cursor("notify").await.unwrap(), 12);
    assert_eq!(
        store.outbox_depth().await.unwrap(),
        3,
        "three queued, none twice"
    );
    let claimed = store.claim_due_notifications(200, 30, 10).await.unwrap();
    assert_eq!(
        store.outbox_depth().await.unwrap(),
        3,
        "claimed is still pending"
    );
    let ids: Vec<&str> = claimed
        .iter()
        .map(|n| n.new.notification_id.as_str())
        .collect();
    assert_eq!(ids, vec!["b", "a"], "oldest due first, not-yet-due left");
    assert!(
        claimed
            .iter()
            .all(|n| n.state == DeliveryState::Pending && n.attempts == 0)
    );
    // Leased: not handed out again until the lease ends.
    assert!(
        store
            .claim_due_notifications(210, 30, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let (a, b) = (&claimed[1], &claimed[0]);
    store
        .finish_attempt(
            b.seq,
            &AttemptResult {
                at_us: 211,
                result: "202".into(),
                next: NextStep::Delivered,
            },
        )
        .await
        .unwrap();
    store
        .finish_attempt(
            a.seq,
            &AttemptResult {
                at_us: 212,
                result: "503".into(),
                next: NextStep::RetryAt(500),
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_due_notifications(400, 30, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_due_notifications(500, 30, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].new.notification_id.as_str(), again[0].attempts),
        ("a", 1)
    );
    assert_eq!(again[0].last_result.as_deref(), Some("503"));
    store
        .finish_attempt(
            again[0].seq,
            &AttemptResult {
                at_us: 501,
                result: "timeout".into(),
                next: NextStep::Dropped {
                    reason: "retried for 4 h".into(),
                },
            },
        )
        .await
        .unwrap();
    // The expired lease of a crashed claimer is claimable again: "later" becomes due at 1,000.
    let late = store.claim_due_notifications(1_000, 30, 10).await.unwrap();
    assert_eq!(late.len(), 1);
    let late2 = store.claim_due_notifications(1_031, 30, 10).await.unwrap();
    assert_eq!(late2.len(), 1, "a lease that ran out is claimable again");
    let view = store.list_notifications(&ALL, "s", 10).await.unwrap();
    let states: Vec<(&str, DeliveryState, u32)> = view
        .iter()
        .map(|n| (n.new.notification_id.as_str(), n.state, n.attempts))
        .collect();
    assert_eq!(
        states,
        vec![
            ("later", DeliveryState::Pending, 0),
            ("b", DeliveryState::Delivered, 1),
            ("a", DeliveryState::Dropped, 2),
        ]
    );
    assert_eq!(view[2].drop_reason.as_deref(), Some("retried for 4 h"));
    assert_eq!(
        store.outbox_depth().await.unwrap(),
        1,
        "delivered and dropped ones are not pending"
    );
    assert!(
        store
            .list_notifications(&ReadScope::Tenant("other".into()), "s", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Two handles claiming at the same time never get the same notification within one lease.
pub async fn two_handles_claim_each_notification_once(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let notes: Vec<NewNotification> = (0..200).map(|i| note(&format!("n{i}"), "s", 0)).collect();
    a.enqueue_notifications("notify", 1, notes).await.unwrap();
    let mut tasks = Vec::new();
    for store in [a.clone(), b.clone(), a.clone(), b.clone()] {
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = store
                    .claim_due_notifications(10, 1_000_000_000, 7)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|n| n.new.notification_id));
            }
        }));
    }
    let mut all: Vec<String> = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    assert_eq!(all.len(), 200, "every notification claimed exactly once");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 200);
}

/// The sync inbox: queueing is idempotent per (tenant, kind, id), due entries come oldest due first and only
/// for their tenant, a retry moves an entry later and counts the attempt, finishing removes it; another handle
/// sees every step.
pub async fn sync_inbox_dedupes_retries_and_drains(store: Arc<dyn Store>, other: Arc<dyn Store>) {
    use callrecords_store::SyncInboxItem;
    let item = |tenant: &str, kind: &str, id: &str, due: i64| SyncInboxItem {
        tenant: tenant.into(),
        kind: kind.into(),
        id: id.into(),
        subscription_id: "sub-1".into(),
        received_us: due,
        due_us: due,
        attempts: 0,
    };
    assert_eq!(store.count_sync_inbox("t1").await.unwrap(), 0);
    let n = store
        .enqueue_sync_inbox(vec![
            item("t1", "record", "b", 20),
            item("t1", "record", "a", 10),
            item("t2", "record", "a", 5),
            item("t1", "missed", "sub-1", 30),
        ])
        .await
        .unwrap();
    assert_eq!(n, 4);
    // The same record again (a redelivery, or a second notification of it): nothing new, nothing moved.
    let n = other
        .enqueue_sync_inbox(vec![
            item("t1", "record", "a", 99),
            item("t1", "record", "c", 40),
        ])
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(other.count_sync_inbox("t1").await.unwrap(), 4);
    let ids = |v: Vec<SyncInboxItem>| -> Vec<(String, String)> {
        v.into_iter().map(|i| (i.kind, i.id)).collect()
    };
    let due = other.due_sync_inbox("t1", 30, 10).await.unwrap();
    assert_eq!(due[0], item("t1", "record", "a", 10));
    assert_eq!(
        ids(due),
        [
            ("record".into(), "a".into()),
            ("record".into(), "b".into()),
            ("missed".into(), "sub-1".into())
        ]
    );
    assert_eq!(
        ids(store.due_sync_inbox("t1", 100, 2).await.unwrap()),
        [("record".into(), "a".into()), ("record".into(), "b".into())]
    );
    // a answered 404: later, one attempt counted.
    store
        .finish_sync_inbox("t1", "record", "a", Some(50))
        .await
        .unwrap();
    store
        .finish_sync_inbox("t1", "record", "b", None)
        .await
        .unwrap();
    assert_eq!(
        ids(other.due_sync_inbox("t1", 45, 10).await.unwrap()),
        [
            ("missed".into(), "sub-1".into()),
            ("record".into(), "c".into())
        ]
    );
    let later = other.due_sync_inbox("t1", 60, 10).await.unwrap();
    let a = later.iter().find(|i| i.id == "a").unwrap();
    assert_eq!((a.due_us, a.attempts, a.received_us), (50, 1, 10));
    assert_eq!(store.count_sync_inbox("t1").await.unwrap(), 3);
    assert_eq!(
        ids(store.due_sync_inbox("t2", 100, 10).await.unwrap()),
        [("record".into(), "a".into())]
    );
    // Finishing what is not queued is not an error.
    store
        .finish_sync_inbox("t3", "record", "x", None)
        .await
        .unwrap();
}
