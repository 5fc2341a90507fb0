//! Consumer cursors, subscriptions, the notification outbox, sync state and leases.
//!
//! The outbox is shared by every node: a claim takes due rows with `FOR UPDATE SKIP LOCKED` and sets their
//! lease in the same statement, so two nodes never claim the same attempt, and a node killed mid-delivery
//! only delays its claimed rows until their lease ends (then another node claims them).

use callrecords_store::{
    AttemptResult, CreateSubscription, DeliveryState, NewNotification, NextStep, Notification,
    NotificationKind, ReadScope, StoreError, SubscriptionRow, SyncInboxItem, SyncStateRow,
};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::read::{Param, execute, query, query_opt, refs, scope_sql};
use crate::{SqlResult, limit_i64, now_us};

pub(crate) async fn consumer_cursor<C: GenericClient>(
    c: &C,
    consumer: &str,
) -> Result<i64, StoreError> {
    let row = query_opt(
        c,
        "SELECT cursor FROM consumer_cursors WHERE consumer = $1",
        &[&consumer],
    )
    .await?;
    Ok(row.map_or(0, |r| r.get(0)))
}

pub(crate) async fn save_cursor<C: GenericClient>(
    c: &C,
    consumer: &str,
    cursor: i64,
) -> Result<(), StoreError> {
    execute(
        c,
        "INSERT INTO consumer_cursors (consumer, cursor) VALUES ($1, $2) \
         ON CONFLICT (consumer) DO UPDATE \
         SET cursor = greatest(consumer_cursors.cursor, excluded.cursor)",
        &[&consumer, &cursor],
    )
    .await
    .map(|_| ())
}

fn sync_from_row(r: &Row) -> SyncStateRow {
    SyncStateRow {
        tenant: r.get(0),
        state: r.get(1),
        updated_us: r.get(2),
    }
}

pub(crate) async fn sync_state<C: GenericClient>(
    c: &C,
    tenant: &str,
) -> Result<Option<SyncStateRow>, StoreError> {
    let row = query_opt(
        c,
        "SELECT tenant, state, updated_us FROM sync_state WHERE tenant = $1",
        &[&tenant],
    )
    .await?;
    Ok(row.as_ref().map(sync_from_row))
}

pub(crate) async fn put_sync_state(
    c: &mut deadpool_postgres::Object,
    row: &SyncStateRow,
) -> Result<(), StoreError> {
    let tx = c.transaction().await.db()?;
    execute(
        &tx,
        "INSERT INTO sync_state (tenant, state, updated_us) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant) DO UPDATE SET state = excluded.state, updated_us = excluded.updated_us",
        &[&row.tenant, &row.state, &row.updated_us],
    )
    .await?;
    bump_other(&tx).await?;
    tx.commit().await.db()
}

/// Count a write that is neither records nor log rows (subscriptions, sync state) in the heads other nodes
/// poll (row 3).
async fn bump_other<C: GenericClient>(c: &C) -> Result<(), StoreError> {
    execute(
        c,
        "UPDATE store_heads SET writes = writes + 1 WHERE id = 3",
        &[],
    )
    .await
    .map(|_| ())
}

pub(crate) async fn list_sync_states<C: GenericClient>(
    c: &C,
    scope: &ReadScope,
) -> Result<Vec<SyncStateRow>, StoreError> {
    let mut params: Vec<Param> = Vec::new();
    let only = scope_sql(scope, "tenant", &mut params);
    let rows = query(
        c,
        &format!(
            "SELECT tenant, state, updated_us FROM sync_state WHERE true{only} ORDER BY tenant"
        ),
        &refs(&params),
    )
    .await?;
    Ok(rows.iter().map(sync_from_row).collect())
}

const SUB_COLS: &str =
    "id, tenant, app_id, resource, change_types, expiration_us, json, secret, start_cursor";

fn sub_from_row(r: &Row) -> SubscriptionRow {
    SubscriptionRow {
        id: r.get(0),
        tenant: r.get(1),
        app_id: r.get(2),
        resource: r.get(3),
        change_types: r.get(4),
        expiration_us: r.get(5),
        json: r.get(6),
        secret: r.get(7),
        start_cursor: r.get(8),
    }
}

pub(crate) async fn create_subscription(
    c: &mut deadpool_postgres::Object,
    sub: &SubscriptionRow,
    max_per_tenant: usize,
) -> Result<CreateSubscription, StoreError> {
    let tx = c.transaction().await.db()?;
    // Row 3 of the heads serialises subscription writes, so two nodes cannot both pass the checks below.
    query(
        &tx,
        "SELECT writes FROM store_heads WHERE id = 3 FOR UPDATE",
        &[],
    )
    .await?;
    let existing = query_opt(
        &tx,
        "SELECT id FROM subscriptions WHERE tenant = $1 AND app_id = $2 AND resource = $3 \
         AND change_types = $4",
        &[&sub.tenant, &sub.app_id, &sub.resource, &sub.change_types],
    )
    .await?;
    if let Some(r) = existing {
        return Ok(CreateSubscription::Duplicate {
            existing_id: r.get(0),
        });
    }
    let count: i64 = query(
        &tx,
        "SELECT count(*) FROM subscriptions WHERE tenant = $1",
        &[&sub.tenant],
    )
    .await?
    .first()
    .map_or(0, |r| r.get(0));
    if usize::try_from(count).unwrap_or(usize::MAX) >= max_per_tenant {
        return Ok(CreateSubscription::QuotaExceeded);
    }
    execute(
        &tx,
        &format!(
            "INSERT INTO subscriptions ({SUB_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ),
        &[
            &sub.id,
            &sub.tenant,
            &sub.app_id,
            &sub.resource,
            &sub.change_types,
            &sub.expiration_us,
            &sub.json,
            &sub.secret,
            &sub.start_cursor,
        ],
    )
    .await?;
    execute(
        &tx,
        "UPDATE store_heads SET writes = writes + 1 WHERE id = 3",
        &[],
    )
    .await?;
    tx.commit().await.db()?;
    Ok(CreateSubscription::Created)
}

pub(crate) async fn get_subscription<C: GenericClient>(
    c: &C,
    scope: &ReadScope,
    id: &str,
) -> Result<Option<SubscriptionRow>, StoreError> {
    let mut params: Vec<Param> = vec![Box::new(id.to_owned())];
    let scope = scope_sql(scope, "tenant", &mut params);
    let row = query_opt(
        c,
        &format!("SELECT {SUB_COLS} FROM subscriptions WHERE id = $1{scope}"),
        &refs(&params),
    )
    .await?;
    Ok(row.as_ref().map(sub_from_row))
}

pub(crate) async fn list_subscriptions<C: GenericClient>(
    c: &C,
    scope: &ReadScope,
) -> Result<Vec<SubscriptionRow>, StoreError> {
    let mut params: Vec<Param> = Vec::new();
    let scope = scope_sql(scope, "tenant", &mut params);
    let rows = query(
        c,
        &format!("SELECT {SUB_COLS} FROM subscriptions WHERE true{scope} ORDER BY id"),
        &refs(&params),
    )
    .await?;
    Ok(rows.iter().map(sub_from_row).collect())
}

pub(crate) async fn update_subscription(
    c: &mut deadpool_postgres::Object,
    scope: &ReadScope,
    sub: &SubscriptionRow,
) -> Result<bool, StoreError> {
    let mut params: Vec<Param> = vec![
        Box::new(sub.id.clone()),
        Box::new(sub.tenant.clone()),
        Box::new(sub.resource.clone()),
        Box::new(sub.change_types.clone()),
        Box::new(sub.expiration_us),
        Box::new(sub.json.clone()),
        Box::new(sub.secret.clone()),
    ];
    let scope = scope_sql(scope, "tenant", &mut params);
    let tx = c.transaction().await.db()?;
    let n = execute(
        &tx,
        &format!(
            "UPDATE subscriptions SET resource = $3, change_types = $4, expiration_us = $5, \
             json = $6, secret = $7 WHERE id = $1 AND tenant = $2{scope}"
        ),
        &refs(&params),
    )
    .await?;
    if n > 0 {
        bump_other(&tx).await?;
    }
    tx.commit().await.db()?;
    Ok(n > 0)
}

pub(crate) async fn delete_subscription(
    c: &mut deadpool_postgres::Object,
    scope: &ReadScope,
    id: &str,
) -> Result<bool, StoreError> {
    let tx = c.transaction().await.db()?;
    let mut params: Vec<Param> = vec![Box::new(id.to_owned())];
    let scope = scope_sql(scope, "tenant", &mut params);
    let n = execute(
        &tx,
        &format!("DELETE FROM subscriptions WHERE id = $1{scope}"),
        &refs(&params),
    )
    .await?;
    if n > 0 {
        execute(
            &tx,
            "DELETE FROM notifications WHERE subscription_id = $1 AND state = 'pending'",
            &[&id],
        )
        .await?;
        bump_other(&tx).await?;
    }
    tx.commit().await.db()?;
    Ok(n > 0)
}

pub(crate) async fn enqueue_notifications(
    c: &mut deadpool_postgres::Object,
    consumer: &str,
    cursor: i64,
    notifications: Vec<NewNotification>,
) -> Result<(), StoreError> {
    let enqueued_us = now_us();
    let n = notifications.len();
    let (mut ord, mut nid, mut sid, mut tenant, mut url) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut kind, mut ctype, mut rid, mut ccur, mut due) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (i, x) in notifications.iter().enumerate() {
        let (k, t, r, cc) = match &x.kind {
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
        ord.push(i as i64);
        nid.push(x.notification_id.as_str());
        sid.push(x.subscription_id.as_str());
        tenant.push(x.tenant.as_str());
        url.push(x.target_url.as_str());
        kind.push(k);
        ctype.push(t);
        rid.push(r);
        ccur.push(cc);
        due.push(x.due_us);
    }
    let tx = c.transaction().await.db()?;
    if n > 0 {
        execute(
            &tx,
            "INSERT INTO notifications (notification_id, subscription_id, tenant, target_url, kind, \
             change_type, record_id, change_cursor, state, due_us, enqueued_us) \
             SELECT u.nid, u.sid, u.tenant, u.url, u.kind, u.ctype, u.rid, u.ccur, 'pending', u.due, $1 \
             FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
             $8::text[], $9::text[], $10::bigint[], $11::bigint[]) \
             AS u(ord, nid, sid, tenant, url, kind, ctype, rid, ccur, due) ORDER BY u.ord \
             ON CONFLICT (notification_id) DO NOTHING",
            &[
                &enqueued_us,
                &ord,
                &nid,
                &sid,
                &tenant,
                &url,
                &kind,
                &ctype,
                &rid,
                &ccur,
                &due,
            ],
        )
        .await?;
    }
    save_cursor(&tx, consumer, cursor).await?;
    tx.commit().await.db()
}

const NOTE_COLS: &str = "seq, notification_id, subscription_id, tenant, target_url, kind, change_type, \
     record_id, change_cursor, state, due_us, attempts, last_attempt_us, last_result, enqueued_us, \
     finished_us, drop_reason";

fn note_from_row(r: &Row) -> Notification {
    let kind: String = r.get(5);
    let change_type: Option<String> = r.get(6);
    let kind = if kind == "lifecycle" {
        NotificationKind::Lifecycle {
            event: change_type.unwrap_or_default(),
        }
    } else {
        NotificationKind::Change {
            change_type: change_type.unwrap_or_default(),
            record_id: r.get::<_, Option<String>>(7).unwrap_or_default(),
            change_cursor: r.get::<_, Option<i64>>(8).unwrap_or_default(),
        }
    };
    let state: String = r.get(9);
    Notification {
        seq: r.get(0),
        new: NewNotification {
            notification_id: r.get(1),
            subscription_id: r.get(2),
            tenant: r.get(3),
            target_url: r.get(4),
            kind,
            due_us: r.get(10),
        },
        state: DeliveryState::parse(&state).unwrap_or(DeliveryState::Pending),
        attempts: u32::try_from(r.get::<_, i32>(11)).unwrap_or(0),
        last_attempt_us: r.get(12),
        last_result: r.get(13),
        enqueued_us: r.get(14),
        finished_us: r.get(15),
        drop_reason: r.get(16),
    }
}

pub(crate) async fn claim_due_notifications<C: GenericClient>(
    c: &C,
    now_us: i64,
    lease_us: i64,
    limit: usize,
) -> Result<Vec<Notification>, StoreError> {
    let cols: String = NOTE_COLS
        .split(',')
        .map(|col| format!("n.{}", col.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = query(
        c,
        &format!(
            "WITH due AS (SELECT seq FROM notifications WHERE state = 'pending' AND due_us <= $1 \
             AND lease_until_us <= $1 ORDER BY due_us, seq LIMIT $2 FOR UPDATE SKIP LOCKED) \
             UPDATE notifications n SET lease_until_us = $3 FROM due WHERE n.seq = due.seq \
             RETURNING {cols}"
        ),
        &[&now_us, &limit_i64(limit), &now_us.saturating_add(lease_us)],
    )
    .await?;
    let mut due: Vec<Notification> = rows.iter().map(note_from_row).collect();
    due.sort_by_key(|n| (n.new.due_us, n.seq));
    Ok(due)
}

pub(crate) async fn finish_attempt<C: GenericClient>(
    c: &C,
    seq: i64,
    attempt: &AttemptResult,
) -> Result<(), StoreError> {
    let (state, due, finished, reason) = match &attempt.next {
        NextStep::Delivered => ("delivered", None, Some(attempt.at_us), None),
        NextStep::RetryAt(t) => ("pending", Some(*t), None, None),
        NextStep::Dropped { reason } => {
            ("dropped", None, Some(attempt.at_us), Some(reason.as_str()))
        }
    };
    execute(
        c,
        "UPDATE notifications SET state = $2, due_us = coalesce($3, due_us), lease_until_us = 0, \
         attempts = attempts + 1, last_attempt_us = $4, last_result = $5, finished_us = $6, \
         drop_reason = $7 WHERE seq = $1",
        &[
            &seq,
            &state,
            &due,
            &attempt.at_us,
            &attempt.result,
            &finished,
            &reason,
        ],
    )
    .await
    .map(|_| ())
}

pub(crate) async fn list_notifications<C: GenericClient>(
    c: &C,
    scope: &ReadScope,
    subscription_id: &str,
    limit: usize,
) -> Result<Vec<Notification>, StoreError> {
    let mut params: Vec<Param> = vec![
        Box::new(subscription_id.to_owned()),
        Box::new(limit_i64(limit)),
    ];
    let scope = scope_sql(scope, "tenant", &mut params);
    let rows = query(
        c,
        &format!(
            "SELECT {NOTE_COLS} FROM notifications WHERE subscription_id = $1{scope} \
             ORDER BY seq DESC LIMIT $2"
        ),
        &refs(&params),
    )
    .await?;
    Ok(rows.iter().map(note_from_row).collect())
}

pub(crate) async fn try_lease<C: GenericClient>(
    c: &C,
    name: &str,
    holder: &str,
    now_us: i64,
    ttl_us: i64,
) -> Result<bool, StoreError> {
    // One statement: insert, or take over an expired lease, or renew our own; nothing when another holds it.
    let rows = query(
        c,
        "INSERT INTO leases (name, holder, until_us) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_us = excluded.until_us \
         WHERE leases.holder = excluded.holder OR leases.until_us <= $4 RETURNING holder",
        &[&name, &holder, &now_us.saturating_add(ttl_us), &now_us],
    )
    .await?;
    Ok(!rows.is_empty())
}

pub(crate) async fn release_lease<C: GenericClient>(
    c: &C,
    name: &str,
    holder: &str,
) -> Result<(), StoreError> {
    execute(
        c,
        "DELETE FROM leases WHERE name = $1 AND holder = $2",
        &[&name, &holder],
    )
    .await
    .map(|_| ())
}

// ---- the sync inbox (queued by `serve`'s webhook receiver, drained by `sync`) -------------------------

pub(crate) async fn enqueue_sync_inbox(
    c: &mut deadpool_postgres::Object,
    items: &[SyncInboxItem],
) -> Result<u64, StoreError> {
    let tx = c.transaction().await.db()?;
    let mut added = 0u64;
    for i in items {
        added += execute(
            &tx,
            "INSERT INTO sync_inbox (tenant, kind, id, subscription_id, received_us, due_us, attempts) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant, kind, id) DO NOTHING",
            &[
                &i.tenant,
                &i.kind,
                &i.id,
                &i.subscription_id,
                &i.received_us,
                &i.due_us,
                &i64::from(i.attempts),
            ],
        )
        .await?;
    }
    if added > 0 {
        bump_other(&tx).await?;
    }
    tx.commit().await.db()?;
    Ok(added)
}

pub(crate) async fn due_sync_inbox<C: GenericClient>(
    c: &C,
    tenant: &str,
    now_us: i64,
    limit: usize,
) -> Result<Vec<SyncInboxItem>, StoreError> {
    let rows = query(
        c,
        "SELECT tenant, kind, id, subscription_id, received_us, due_us, attempts FROM sync_inbox \
         WHERE tenant = $1 AND due_us <= $2 ORDER BY due_us, received_us, kind, id LIMIT $3",
        &[&tenant, &now_us, &limit_i64(limit)],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| SyncInboxItem {
            tenant: r.get(0),
            kind: r.get(1),
            id: r.get(2),
            subscription_id: r.get(3),
            received_us: r.get(4),
            due_us: r.get(5),
            attempts: u32::try_from(r.get::<_, i64>(6)).unwrap_or(u32::MAX),
        })
        .collect())
}

pub(crate) async fn count_sync_inbox<C: GenericClient>(
    c: &C,
    tenant: &str,
) -> Result<u64, StoreError> {
    let row = query_opt(
        c,
        "SELECT count(*) FROM sync_inbox WHERE tenant = $1",
        &[&tenant],
    )
    .await?;
    Ok(row.map_or(0, |r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
}

pub(crate) async fn finish_sync_inbox<C: GenericClient>(
    c: &C,
    tenant: &str,
    kind: &str,
    id: &str,
    retry_at_us: Option<i64>,
) -> Result<(), StoreError> {
    match retry_at_us {
        None => {
            execute(
                c,
                "DELETE FROM sync_inbox WHERE tenant = $1 AND kind = $2 AND id = $3",
                &[&tenant, &kind, &id],
            )
            .await?
        }
        Some(at) => {
            execute(
                c,
                "UPDATE sync_inbox SET due_us = $4, attempts = attempts + 1 \
                 WHERE tenant = $1 AND kind = $2 AND id = $3",
                &[&tenant, &kind, &id, &at],
            )
            .await?
        }
    };
    bump_other(c).await
}
