//! The notifier: the background task that turns the change feed into webhook POSTs.
//!
//! Everything it needs to survive a `kill -9` is in the store; it keeps only caches (endpoint
//! health) in memory. Each round:
//!
//! 1. **Feed** ([`Notifier::feed_once`]): read the change feed after the durable cursor of consumer
//!    [`crate::CONSUMER`]; for each served change, every live subscription of the change's tenant
//!    created before it (its `start_cursor`) whose change types and participant filter match gets
//!    a [`NewNotification`] with a stable id ([`payload::notification_id`]); the notifications and
//!    the new cursor are stored in one transaction (a crash re-reads the same changes, and the
//!    stable ids stop a second queueing).
//!    * `Created` notifies as `created`, `Updated` (a newer version) as `updated` (or `created` on
//!      a `created`-only subscription: no, `ChangeTypes::notify_as` drops it).
//!    * `Completed` (a complete copy replacing a partial one of the same version) does **not**
//!      notify: the version did not change, and Graph notifies per version increment; a receiver
//!      that fetched the partial copy sees the complete one on its next read.
//!    * `Stale` and `Conflict` were never served: nothing.
//! 2. **Lifecycle** (every [`WorkerConfig::lifecycle_every`]): a subscription with a
//!    `lifecycleNotificationUrl` that expires within [`WorkerConfig::lifecycle_lead`] (15 min)
//!    gets one `reauthorizationRequired` (id stable per expiration, so renewing re-arms it).
//!    Expired subscriptions are deleted (with their pending notifications).
//! 3. **Deliver** ([`Notifier::deliver_once`]): claim due notifications with a lease, group them per
//!    (target URL, signing secret) into batches of at most [`payload::MAX_BATCH`], POST them
//!    concurrently (signed when the subscription has a secret), and record every attempt with
//!    [`Store::finish_attempt`] and the next step from [`DeliverySchedule`] (and, in graph mode,
//!    [`EndpointHealth`](crate::policy::EndpointHealth)). A notification of a deleted or expired
//!    subscription is dropped.
//!
//! Latency: when a round did nothing the task sleeps [`WorkerConfig::poll`] (100 ms), so a commit
//! is POSTed well within a second.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use callrecords_store::{
    AttemptResult as StoreAttempt, Change, ChangeKind, NewNotification, NextStep, Notification,
    NotificationKind, ReadScope, RecordRead, Store, StoreError, SubscriptionRow, Window,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::clock::{Clock, SystemClock};
use crate::deliver::Deliverer;
use crate::payload::{
    self, ChangeNotification, ChangeType, LifecycleEvent, LifecycleNotification,
    Notification as Item,
};
use crate::policy::{
    Admission, AttemptOutcome, AttemptResult, DeliveryMode, DeliveryPolicy, DeliverySchedule,
    Endpoints, HealthConfig, Next, SendKind, splitmix64,
};
use crate::signing::WebhookSecret;
use crate::subscription::Subscription;

/// The notifier's settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Retry schedule (`--delivery graph|reliable`, `--delivery-horizon`).
    pub policy: DeliveryPolicy,
    /// Endpoint-health thresholds (graph mode only).
    pub health: HealthConfig,
    /// How long a claim lasts (30 s): longer than an attempt (10 s timeout).
    pub lease: Duration,
    /// Sleep after an idle round.
    pub poll: Duration,
    /// Changes read per feed round.
    pub feed_page: usize,
    /// Notifications claimed per delivery round.
    pub claim_limit: usize,
    /// `reauthorizationRequired` this long before expiry.
    pub lifecycle_lead: SignedDuration,
    /// How often to look for expiring subscriptions.
    pub lifecycle_every: Duration,
    /// What time it is ([`SystemClock`] unless a test moves time by hand).
    pub clock: Arc<dyn Clock>,
    /// Change notifications to drop instead of sending, one per unit (`serve --fake`'s
    /// `POST /fake/drop-next-notification`, for testing what a receiver does about a lost notification).
    pub drop_changes: Arc<std::sync::atomic::AtomicU64>,
    /// Told about every delivery attempt (the server's `/metrics`), when set.
    pub observer: Option<Arc<dyn DeliveryObserver>>,
}

/// What the notifier reports about deliveries (implemented by the server's metrics).
pub trait DeliveryObserver: Send + Sync + std::fmt::Debug {
    /// One notification was POSTed; `outcome` is what follows: `delivered`, `retry` or `dropped`.
    fn attempt(&self, outcome: &str);
    /// One notification was delivered `latency` after it was queued (enqueue to the successful POST).
    fn delivered(&self, latency: Duration);
}

impl WorkerConfig {
    /// Defaults for a mode.
    pub fn new(policy: DeliveryPolicy) -> Self {
        WorkerConfig {
            policy,
            health: HealthConfig::default(),
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(100),
            feed_page: 500,
            claim_limit: 1000,
            lifecycle_lead: SignedDuration::from_mins(15),
            lifecycle_every: Duration::from_secs(10),
            clock: Arc::new(SystemClock),
            drop_changes: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            observer: None,
        }
    }
}

/// The notifier.
#[derive(Clone)]
pub struct Notifier {
    store: Arc<dyn Store>,
    deliverer: Deliverer,
    config: WorkerConfig,
    endpoints: Arc<std::sync::Mutex<Endpoints>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn ts(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The subscription a stored row holds.
fn parse(row: &SubscriptionRow) -> Option<Subscription> {
    serde_json::from_str(&row.json).ok()
}

impl Notifier {
    /// A notifier over `store`, posting with `deliverer`.
    pub fn new(store: Arc<dyn Store>, deliverer: Deliverer, config: WorkerConfig) -> Self {
        let endpoints = Arc::new(std::sync::Mutex::new(Endpoints::new(config.health)));
        Notifier {
            store,
            deliverer,
            config,
            endpoints,
        }
    }

    fn now(&self) -> Timestamp {
        self.config.clock.now()
    }

    fn now_us(&self) -> i64 {
        self.now().as_microsecond()
    }

    /// Runs forever (spawn it). Store failures are logged and retried after a pause.
    pub async fn run(self) {
        let mut last_lifecycle: Option<tokio::time::Instant> = None;
        loop {
            if last_lifecycle.is_none_or(|t| t.elapsed() >= self.config.lifecycle_every) {
                last_lifecycle = Some(tokio::time::Instant::now());
                if let Err(e) = self.lifecycle_once().await {
                    tracing::warn!(error = %e, "notifier: lifecycle round failed");
                }
            }
            let fed = self.feed_once().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "notifier: feed round failed");
                0
            });
            let sent = self.deliver_once().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "notifier: delivery round failed");
                0
            });
            if fed == 0 && sent == 0 {
                tokio::time::sleep(self.config.poll).await;
            }
        }
    }

    /// One feed round: returns how many changes were read.
    pub async fn feed_once(&self) -> Result<usize, StoreError> {
        let cursor = self.store.consumer_cursor(crate::CONSUMER).await?;
        let changes = self
            .store
            .changes_after(cursor, self.config.feed_page)
            .await?;
        let Some(last) = changes.last().map(|c| c.cursor) else {
            return Ok(0);
        };
        let now = self.now();
        let mut subs: HashMap<String, Vec<(SubscriptionRow, Subscription)>> = HashMap::new();
        let mut out = Vec::new();
        for change in &changes {
            let first_seen = match change.kind {
                ChangeKind::Created => true,
                ChangeKind::Updated => false,
                ChangeKind::Completed | ChangeKind::Stale | ChangeKind::Conflict => continue,
            };
            if !subs.contains_key(&change.tenant) {
                let scope = ReadScope::Tenant(change.tenant.clone());
                let rows = self.store.list_subscriptions(&scope).await?;
                let live = rows
                    .into_iter()
                    .filter_map(|r| parse(&r).map(|s| (r, s)))
                    .filter(|(_, s)| !s.is_expired(now))
                    .collect();
                subs.insert(change.tenant.clone(), live);
            }
            let tenant_subs = &subs[&change.tenant];
            let mut participants: Option<Vec<String>> = None;
            for (row, sub) in tenant_subs {
                if row.start_cursor >= change.cursor {
                    continue;
                }
                let Some(ct) = sub
                    .change_types()
                    .ok()
                    .and_then(|t| t.notify_as(first_seen))
                else {
                    continue;
                };
                let Ok(resource) = sub.parsed_resource() else {
                    continue;
                };
                if resource.filter.is_some() {
                    if participants.is_none() {
                        participants = Some(self.participant_ids(change).await?);
                    }
                    let ids = participants.as_deref().unwrap_or_default();
                    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                    if !resource.matches(&refs) {
                        continue;
                    }
                }
                out.push(NewNotification {
                    notification_id: payload::notification_id(
                        &sub.id,
                        &change.record_id,
                        change.version,
                        ct,
                    ),
                    subscription_id: sub.id.clone(),
                    tenant: change.tenant.clone(),
                    target_url: sub.notification_url.clone(),
                    kind: NotificationKind::Change {
                        change_type: ct.as_str().to_owned(),
                        record_id: change.record_id.clone(),
                        change_cursor: change.cursor,
                    },
                    due_us: now.as_microsecond(),
                });
            }
        }
        self.store
            .enqueue_notifications(crate::CONSUMER, last, out)
            .await?;
        Ok(changes.len())
    }

    /// The participant ids (`participants_v2[].id`, `organizer_v2.id`) of the record's served copy.
    async fn participant_ids(&self, change: &Change) -> Result<Vec<String>, StoreError> {
        let scope = ReadScope::Tenant(change.tenant.clone());
        let read = RecordRead {
            participants: Some(Window::first(100_000)),
            ..RecordRead::default()
        };
        let Some(view) = self
            .store
            .read_record(&scope, &change.record_id, &read)
            .await?
        else {
            return Ok(Vec::new());
        };
        let mut ids = Vec::new();
        for p in &view.participants {
            if let Ok(v) = serde_json::from_str::<Value>(&p.json)
                && let Some(id) = v.get("id").and_then(Value::as_str)
            {
                ids.push(id.to_owned());
            }
        }
        if let Ok(v) = serde_json::from_str::<Value>(&view.head.json)
            && let Some(id) = v
                .get("organizer_v2")
                .and_then(|o| o.get("id"))
                .and_then(Value::as_str)
        {
            ids.push(id.to_owned());
        }
        Ok(ids)
    }

    /// Queue `reauthorizationRequired` for subscriptions expiring soon; delete expired ones.
    pub async fn lifecycle_once(&self) -> Result<usize, StoreError> {
        let now = self.now();
        let mut out = Vec::new();
        for row in self.store.list_subscriptions(&ReadScope::All).await? {
            let Some(sub) = parse(&row) else { continue };
            if sub.is_expired(now) {
                let scope = ReadScope::Tenant(row.tenant.clone());
                self.store.delete_subscription(&scope, &row.id).await?;
                continue;
            }
            let Some(url) = &sub.lifecycle_notification_url else {
                continue;
            };
            if sub.expiration_date_time.duration_since(now) > self.config.lifecycle_lead {
                continue;
            }
            let event = LifecycleEvent::ReauthorizationRequired;
            out.push(NewNotification {
                notification_id: payload::lifecycle_notification_id(
                    &sub.id,
                    event,
                    sub.expiration_date_time,
                ),
                subscription_id: sub.id.clone(),
                tenant: row.tenant.clone(),
                target_url: url.clone(),
                kind: NotificationKind::Lifecycle {
                    event: event.as_str().to_owned(),
                },
                due_us: now.as_microsecond(),
            });
        }
        let n = out.len();
        if n > 0 {
            let cursor = self.store.consumer_cursor(crate::CONSUMER).await?;
            self.store
                .enqueue_notifications(crate::CONSUMER, cursor, out)
                .await?;
        }
        Ok(n)
    }

    /// One delivery round: returns how many notifications were attempted (or dropped).
    pub async fn deliver_once(&self) -> Result<usize, StoreError> {
        let lease_us = i64::try_from(self.config.lease.as_micros()).unwrap_or(i64::MAX);
        let claimed = self
            .store
            .claim_due_notifications(self.now_us(), lease_us, self.config.claim_limit)
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let count = claimed.len();
        let mut subs: HashMap<String, Option<SubscriptionRow>> = HashMap::new();
        let mut by_id: HashMap<String, Notification> = HashMap::new();
        let mut items = Vec::new();
        let now = self.now();
        for n in claimed {
            let key = n.new.subscription_id.clone();
            if !subs.contains_key(&key) {
                let scope = ReadScope::Tenant(n.new.tenant.clone());
                let row = self.store.get_subscription(&scope, &key).await?;
                subs.insert(key.clone(), row);
            }
            let row = subs[&key].as_ref();
            let sub = row.and_then(parse).filter(|s| !s.is_expired(now));
            let (Some(row), Some(sub)) = (row, sub) else {
                self.finish(
                    n.seq,
                    "not sent",
                    NextStep::Dropped {
                        reason: "subscription deleted or expired".into(),
                    },
                )
                .await?;
                continue;
            };
            let drop_it = matches!(n.new.kind, NotificationKind::Change { .. })
                && self
                    .config
                    .drop_changes
                    .fetch_update(
                        std::sync::atomic::Ordering::SeqCst,
                        std::sync::atomic::Ordering::SeqCst,
                        |k| k.checked_sub(1),
                    )
                    .is_ok();
            if drop_it {
                self.finish(
                    n.seq,
                    "not sent",
                    NextStep::Dropped {
                        reason: "dropped on purpose (POST /fake/drop-next-notification)".into(),
                    },
                )
                .await?;
                continue;
            }
            let item: Item = match &n.new.kind {
                NotificationKind::Change {
                    change_type,
                    record_id,
                    ..
                } => {
                    let ct = if change_type == "created" {
                        ChangeType::Created
                    } else {
                        ChangeType::Updated
                    };
                    let mut c = ChangeNotification::new(&sub, &n.new.tenant, record_id, 0, ct);
                    c.id = n.new.notification_id.clone();
                    c.into()
                }
                NotificationKind::Lifecycle { .. } => {
                    let mut l = LifecycleNotification::new(
                        &sub,
                        &n.new.tenant,
                        LifecycleEvent::ReauthorizationRequired,
                    );
                    l.id = n.new.notification_id.clone();
                    l.into()
                }
            };
            let key = (n.new.target_url.clone(), row.secret.clone());
            by_id.insert(n.new.notification_id.clone(), n);
            items.push((key, item));
        }
        let mut tasks = tokio::task::JoinSet::new();
        for batch in payload::batches(items, payload::MAX_BATCH) {
            let (url, secret) = batch.key.clone();
            let entries: Vec<Notification> = batch
                .items
                .iter()
                .filter_map(|i| by_id.remove(i.id()))
                .collect();
            // Graph mode: a slow or dropping endpoint delays or loses what it would get.
            if self.config.policy.mode == DeliveryMode::Graph {
                let retry = entries.iter().all(|e| e.attempts > 0);
                let kind = if retry {
                    SendKind::Retry
                } else {
                    SendKind::New
                };
                let admission = self
                    .endpoints
                    .lock()
                    .map(|mut e| e.get(&url).admit(now, kind))
                    .unwrap_or(Admission::Send);
                match admission {
                    Admission::Send => {}
                    Admission::DelayUntil(t) => {
                        for e in &entries {
                            self.finish(
                                e.seq,
                                "delayed: endpoint slow",
                                NextStep::RetryAt(t.as_microsecond()),
                            )
                            .await?;
                        }
                        continue;
                    }
                    Admission::Drop => {
                        for e in &entries {
                            self.finish(
                                e.seq,
                                "not sent",
                                NextStep::Dropped {
                                    reason: "endpoint dropping (slow responses)".into(),
                                },
                            )
                            .await?;
                        }
                        continue;
                    }
                }
            }
            let body = Bytes::from(batch.body());
            let signature = secret
                .as_deref()
                .and_then(|s| WebhookSecret::parse(s).ok())
                .map(|k| k.headers(&batch.message_id(), Timestamp::now().as_second(), &body));
            let me = self.clone();
            tasks.spawn(async move {
                let outcome = me.deliverer.post(&url, body, signature.as_ref()).await;
                me.record(&url, &entries, &outcome).await
            });
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(r) => r?,
                Err(e) => return Err(StoreError::Backend(format!("delivery task failed: {e}"))),
            }
        }
        Ok(count)
    }

    async fn record(
        &self,
        url: &str,
        entries: &[Notification],
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError> {
        let now = self.now();
        if self.config.policy.mode == DeliveryMode::Graph
            && let Ok(mut e) = self.endpoints.lock()
        {
            e.get(url).record(now, outcome.elapsed);
        }
        let result = match &outcome.result {
            AttemptResult::Status { status, .. } => status.to_string(),
            AttemptResult::TimedOut => "timeout".to_owned(),
            AttemptResult::Failed(m) => format!("failed: {m}"),
            AttemptResult::Refused(m) => format!("refused: {m}"),
        };
        for e in entries {
            let seed = splitmix64(e.seq as u64);
            let mut schedule = DeliverySchedule {
                attempts: e.attempts,
                ..DeliverySchedule::new(self.config.policy, ts(e.enqueued_us), seed)
            };
            let next = match schedule.on_result(outcome, now) {
                Next::Delivered => NextStep::Delivered,
                Next::RetryAt(t) => NextStep::RetryAt(t.as_microsecond()),
                Next::Drop(reason) => NextStep::Dropped {
                    reason: format!("{reason:?}"),
                },
            };
            if let Some(o) = &self.config.observer {
                match &next {
                    NextStep::Delivered => {
                        o.attempt("delivered");
                        let waited = now.as_microsecond().saturating_sub(e.enqueued_us);
                        o.delivered(Duration::from_micros(u64::try_from(waited).unwrap_or(0)));
                    }
                    NextStep::RetryAt(_) => o.attempt("retry"),
                    NextStep::Dropped { .. } => o.attempt("dropped"),
                }
            }
            self.finish(e.seq, &result, next).await?;
        }
        Ok(())
    }

    async fn finish(&self, seq: i64, result: &str, next: NextStep) -> Result<(), StoreError> {
        self.store
            .finish_attempt(
                seq,
                &StoreAttempt {
                    at_us: self.now_us(),
                    result: result.to_owned(),
                    next,
                },
            )
            .await
    }
}
