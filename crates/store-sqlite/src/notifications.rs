//! Consumer cursors, subscriptions and the notification outbox.

use callrecords_store::{
    AttemptResult, CreateSubscription, DeliveryState, NewNotification, NextStep, Notification,
    NotificationKind, ReadScope, StoreError, SubscriptionRow,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::{SqlResult, limit_i64, now_us};

pub(crate) fn consumer_cursor(c: &Connection, consumer: &str) -> Result<i64, StoreError> {
    Ok(
        c.prepare_cached("SELECT cursor FROM consumer_cursors WHERE consumer = ?1")
            .db()?
            .query_row([consumer], |r| r.get(0))
            .optional()
            .db()?
            .unwrap_or(0),
    )
}

fn save_cursor(c: &Connection, consumer: &str, cursor: i64) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO consumer_cursors (consumer, cursor) VALUES (?1, ?2) \
         ON CONFLICT (consumer) DO UPDATE SET cursor = max(cursor, excluded.cursor)",
    )
    .db()?
    .execute(params![consumer, cursor])
    .db()?;
    Ok(())
}

pub(crate) fn set_consumer_cursor(
    c: &mut Connection,
    consumer: &str,
    cursor: i64,
) -> Result<(), StoreError> {
    save_cursor(c, consumer, cursor)
}

pub(crate) fn sync_state(
    c: &Connection,
    tenant: &str,
) -> Result<Option<callrecords_store::SyncStateRow>, StoreError> {
    c.prepare_cached("SELECT tenant, state, updated_us FROM sync_state WHERE tenant = ?1")
        .db()?
        .query_row([tenant], sync_from_row)
        .optional()
        .db()
}

pub(crate) fn put_sync_state(
    c: &mut Connection,
    row: &callrecords_store::SyncStateRow,
) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO sync_state (tenant, state, updated_us) VALUES (?1, ?2, ?3) \
         ON CONFLICT (tenant) DO UPDATE SET state = excluded.state, updated_us = excluded.updated_us",
    )
    .db()?
    .execute(params![row.tenant, row.state, row.updated_us])
    .db()?;
    Ok(())
}

pub(crate) fn list_sync_states(
    c: &Connection,
    scope: &ReadScope,
) -> Result<Vec<callrecords_store::SyncStateRow>, StoreError> {
    let mut params = Vec::new();
    let only = scope_clause(scope, &mut params);
    let mut st = c
        .prepare_cached(&format!(
            "SELECT tenant, state, updated_us FROM sync_state WHERE 1 = 1{only} ORDER BY tenant"
        ))
        .db()?;
    let rows = st
        .query_map(rusqlite::params_from_iter(params), sync_from_row)
        .db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

fn sync_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<callrecords_store::SyncStateRow> {
    Ok(callrecords_store::SyncStateRow {
        tenant: r.get(0)?,
        state: r.get(1)?,
        updated_us: r.get(2)?,
    })
}

const SUB_COLS: &str =
    "id, tenant, app_id, resource, change_types, expiration_us, json, secret, start_cursor";

fn sub_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SubscriptionRow> {
    Ok(SubscriptionRow {
        id: r.get(0)?,
        tenant: r.get(1)?,
        app_id: r.get(2)?,
        resource: r.get(3)?,
        change_types: r.get(4)?,
        expiration_us: r.get(5)?,
        json: r.get(6)?,
        secret: r.get(7)?,
        start_cursor: r.get(8)?,
    })
}

pub(crate) fn create_subscription(
    c: &mut Connection,
    sub: &SubscriptionRow,
    max_per_tenant: usize,
) -> Result<CreateSubscription, StoreError> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let existing: Option<String> = tx
        .prepare_cached(
            "SELECT id FROM subscriptions WHERE tenant = ?1 AND app_id = ?2 AND resource = ?3 \
             AND change_types = ?4",
        )
        .db()?
        .query_row(
            params![sub.tenant, sub.app_id, sub.resource, sub.change_types],
            |r| r.get(0),
        )
        .optional()
        .db()?;
    if let Some(existing_id) = existing {
        return Ok(CreateSubscription::Duplicate { existing_id });
    }
    let count: i64 = tx
        .prepare_cached("SELECT count(*) FROM subscriptions WHERE tenant = ?1")
        .db()?
        .query_row([&sub.tenant], |r| r.get(0))
        .db()?;
    if usize::try_from(count).unwrap_or(usize::MAX) >= max_per_tenant {
        return Ok(CreateSubscription::QuotaExceeded);
    }
    tx.prepare_cached(&format!(
        "INSERT INTO subscriptions ({SUB_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))
    .db()?
    .execute(params![
        sub.id,
        sub.tenant,
        sub.app_id,
        sub.resource,
        sub.change_types,
        sub.expiration_us,
        sub.json,
        sub.secret,
        sub.start_cursor
    ])
    .db()?;
    tx.commit().db()?;
    Ok(CreateSubscription::Created)
}

/// `AND tenant = ?n` for a tenant scope (the one scope filter of every read, `read::scope_sql`).
fn scope_clause(scope: &ReadScope, params: &mut Vec<SqlValue>) -> String {
    crate::read::scope_sql(scope, "tenant", params)
}

pub(crate) fn get_subscription(
    c: &Connection,
    scope: &ReadScope,
    id: &str,
) -> Result<Option<SubscriptionRow>, StoreError> {
    let mut params = vec![SqlValue::Text(id.to_owned())];
    let scope = scope_clause(scope, &mut params);
    c.prepare_cached(&format!(
        "SELECT {SUB_COLS} FROM subscriptions WHERE id = ?1{scope}"
    ))
    .db()?
    .query_row(rusqlite::params_from_iter(params), sub_from_row)
    .optional()
    .db()
}

pub(crate) fn list_subscriptions(
    c: &Connection,
    scope: &ReadScope,
) -> Result<Vec<SubscriptionRow>, StoreError> {
    let mut params = Vec::new();
    let scope = scope_clause(scope, &mut params);
    c.prepare_cached(&format!(
        "SELECT {SUB_COLS} FROM subscriptions WHERE 1{scope} ORDER BY id"
    ))
    .db()?
    .query_map(rusqlite::params_from_iter(params), sub_from_row)
    .db()?
    .collect::<rusqlite::Result<Vec<_>>>()
    .db()
}

pub(crate) fn update_subscription(
    c: &mut Connection,
    scope: &ReadScope,
    sub: &SubscriptionRow,
) -> Result<bool, StoreError> {
    let mut params = vec![
        SqlValue::Text(sub.id.clone()),
        SqlValue::Text(sub.tenant.clone()),
        SqlValue::Text(sub.resource.clone()),
        SqlValue::Text(sub.change_types.clone()),
        SqlValue::Integer(sub.expiration_us),
        SqlValue::Text(sub.json.clone()),
        sub.secret.clone().map_or(SqlValue::Null, SqlValue::Text),
    ];
    let scope = scope_clause(scope, &mut params);
    let n = c
        .prepare_cached(&format!(
            "UPDATE subscriptions SET resource = ?3, change_types = ?4, expiration_us = ?5, \
             json = ?6, secret = ?7 WHERE id = ?1 AND tenant = ?2{scope}"
        ))
        .db()?
        .execute(rusqlite::params_from_iter(params))
        .db()?;
    Ok(n > 0)
}

pub(crate) fn delete_subscription(
    c: &mut Connection,
    scope: &ReadScope,
    id: &str,
) -> Result<bool, StoreError> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let mut params = vec![SqlValue::Text(id.to_owned())];
    let scope = scope_clause(scope, &mut params);
    let n = tx
        .prepare_cached(&format!("DELETE FROM subscriptions WHERE id = ?1{scope}"))
        .db()?
        .execute(rusqlite::params_from_iter(params))
        .db()?;
    if n > 0 {
        tx.prepare_cached(
            "DELETE FROM notifications WHERE subscription_id = ?1 AND state = 'pending'",
        )
        .db()?
        .execute([id])
        .db()?;
    }
    tx.commit().db()?;
    Ok(n > 0)
}

pub(crate) fn enqueue_notifications(
    c: &mut Connection,
    consumer: &str,
    cursor: i64,
    notifications: Vec<NewNotification>,
) -> Result<(), StoreError> {
    let enqueued_us = now_us();
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO notifications (notification_id, subscription_id, tenant, target_url, kind, \
                 change_type, record_id, change_cursor, state, due_us, enqueued_us) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?10) \
                 ON CONFLICT (notification_id) DO NOTHING",
            )
            .db()?;
        for n in notifications {
            let (kind, change_type, record_id, change_cursor) = match &n.kind {
                NotificationKind::Change {
                    change_type,
                    record_id,
                    change_cursor,
                } => (
                    "change",
                    change_type.as_str(),
                    Some(record_id.as_str()),
                    Some(*change_cursor),
                ),
                NotificationKind::Lifecycle { event } => ("lifecycle", event.as_str(), None, None),
            };
            stmt.execute(params![
                n.notification_id,
                n.subscription_id,
                n.tenant,
                n.target_url,
                kind,
                change_type,
                record_id,
                change_cursor,
                n.due_us,
                enqueued_us
            ])
            .db()?;
        }
    }
    save_cursor(&tx, consumer, cursor)?;
    tx.commit().db()
}

const NOTE_COLS: &str = "seq, notification_id, subscription_id, tenant, target_url, kind, change_type, \
     record_id, change_cursor, state, due_us, attempts, last_attempt_us, last_result, enqueued_us, \
     finished_us, drop_reason";

fn note_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Notification> {
    let kind: String = r.get(5)?;
    let change_type: Option<String> = r.get(6)?;
    let kind = if kind == "lifecycle" {
        NotificationKind::Lifecycle {
            event: change_type.unwrap_or_default(),
        }
    } else {
        NotificationKind::Change {
            change_type: change_type.unwrap_or_default(),
            record_id: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
            change_cursor: r.get::<_, Option<i64>>(8)?.unwrap_or_default(),
        }
    };
    let state: String = r.get(9)?;
    Ok(Notification {
        seq: r.get(0)?,
        new: NewNotification {
            notification_id: r.get(1)?,
            subscription_id: r.get(2)?,
            tenant: r.get(3)?,
            target_url: r.get(4)?,
            kind,
            due_us: r.get(10)?,
        },
        state: DeliveryState::parse(&state).unwrap_or(DeliveryState::Pending),
        attempts: r.get(11)?,
        last_attempt_us: r.get(12)?,
        last_result: r.get(13)?,
        enqueued_us: r.get(14)?,
        finished_us: r.get(15)?,
        drop_reason: r.get(16)?,
    })
}

pub(crate) fn claim_due_notifications(
    c: &mut Connection,
    now_us: i64,
    lease_us: i64,
    limit: usize,
) -> Result<Vec<Notification>, StoreError> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let due: Vec<Notification> = tx
        .prepare_cached(&format!(
            "SELECT {NOTE_COLS} FROM notifications WHERE state = 'pending' AND due_us <= ?1 \
             AND lease_until_us <= ?1 ORDER BY due_us, seq LIMIT ?2"
        ))
        .db()?
        .query_map(params![now_us, limit_i64(limit)], note_from_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    {
        let mut stmt = tx
            .prepare_cached("UPDATE notifications SET lease_until_us = ?2 WHERE seq = ?1")
            .db()?;
        for n in &due {
            stmt.execute(params![n.seq, now_us.saturating_add(lease_us)])
                .db()?;
        }
    }
    tx.commit().db()?;
    Ok(due)
}

pub(crate) fn finish_attempt(
    c: &mut Connection,
    seq: i64,
    attempt: &AttemptResult,
) -> Result<(), StoreError> {
    let (state, due, finished, reason) = match &attempt.next {
        NextStep::Delivered => ("delivered", None, Some(attempt.at_us), None),
        NextStep::RetryAt(t) => ("pending", Some(*t), None, None),
        NextStep::Dropped { reason } => {
            ("dropped", None, Some(attempt.at_us), Some(reason.clone()))
        }
    };
    c.prepare_cached(
        "UPDATE notifications SET state = ?2, due_us = coalesce(?3, due_us), lease_until_us = 0, \
         attempts = attempts + 1, last_attempt_us = ?4, last_result = ?5, finished_us = ?6, \
         drop_reason = ?7 WHERE seq = ?1",
    )
    .db()?
    .execute(params![
        seq,
        state,
        due,
        attempt.at_us,
        attempt.result,
        finished,
        reason
    ])
    .db()?;
    Ok(())
}

pub(crate) fn list_notifications(
    c: &Connection,
    scope: &ReadScope,
    subscription_id: &str,
    limit: usize,
) -> Result<Vec<Notification>, StoreError> {
    let mut params = vec![
        SqlValue::Text(subscription_id.to_owned()),
        SqlValue::Integer(limit_i64(limit)),
    ];
    let scope = scope_clause(scope, &mut params);
    c.prepare_cached(&format!(
        "SELECT {NOTE_COLS} FROM notifications WHERE subscription_id = ?1{scope} \
         ORDER BY seq DESC LIMIT ?2"
    ))
    .db()?
    .query_map(rusqlite::params_from_iter(params), note_from_row)
    .db()?
    .collect::<rusqlite::Result<Vec<_>>>()
    .db()
}

pub(crate) fn enqueue_sync_inbox(
    c: &mut Connection,
    items: &[callrecords_store::SyncInboxItem],
) -> Result<u64, StoreError> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let mut added = 0u64;
    {
        let mut st = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO sync_inbox \
                 (tenant, kind, id, subscription_id, received_us, due_us, attempts) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .db()?;
        for i in items {
            added += st
                .execute(params![
                    i.tenant,
                    i.kind,
                    i.id,
                    i.subscription_id,
                    i.received_us,
                    i.due_us,
                    i.attempts
                ])
                .db()? as u64;
        }
    }
    tx.commit().db()?;
    Ok(added)
}

pub(crate) fn due_sync_inbox(
    c: &Connection,
    tenant: &str,
    now_us: i64,
    limit: usize,
) -> Result<Vec<callrecords_store::SyncInboxItem>, StoreError> {
    let mut st = c
        .prepare_cached(
            "SELECT tenant, kind, id, subscription_id, received_us, due_us, attempts FROM sync_inbox \
             WHERE tenant = ?1 AND due_us <= ?2 ORDER BY due_us, received_us, kind, id LIMIT ?3",
        )
        .db()?;
    let rows = st
        .query_map(params![tenant, now_us, limit_i64(limit)], |r| {
            Ok(callrecords_store::SyncInboxItem {
                tenant: r.get(0)?,
                kind: r.get(1)?,
                id: r.get(2)?,
                subscription_id: r.get(3)?,
                received_us: r.get(4)?,
                due_us: r.get(5)?,
                attempts: r.get(6)?,
            })
        })
        .db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

pub(crate) fn count_sync_inbox(c: &Connection, tenant: &str) -> Result<u64, StoreError> {
    let n: i64 = c
        .prepare_cached("SELECT count(*) FROM sync_inbox WHERE tenant = ?1")
        .db()?
        .query_row([tenant], |r| r.get(0))
        .db()?;
    Ok(n as u64)
}

pub(crate) fn finish_sync_inbox(
    c: &mut Connection,
    tenant: &str,
    kind: &str,
    id: &str,
    retry_at_us: Option<i64>,
) -> Result<(), StoreError> {
    match retry_at_us {
        None => c
            .prepare_cached("DELETE FROM sync_inbox WHERE tenant = ?1 AND kind = ?2 AND id = ?3")
            .db()?
            .execute(params![tenant, kind, id])
            .db()?,
        Some(at) => c
            .prepare_cached(
                "UPDATE sync_inbox SET due_us = ?4, attempts = attempts + 1 \
                 WHERE tenant = ?1 AND kind = ?2 AND id = ?3",
            )
            .db()?
            .execute(params![tenant, kind, id, at])
            .db()?,
    };
    Ok(())
}
