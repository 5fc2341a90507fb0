//! The push path: change notifications on top of sweeps.
//!
//! * [`Syncer::ensure_subscription`] keeps one upstream subscription per tenant: `communications/callRecords`,
//!   `created,updated`, expiry now + 4,230 minutes (Graph's maximum), a `lifecycleNotificationUrl`, and a
//!   random `clientState` saved in the tenant's sync state *before* the create (so the receiver accepts
//!   the first notifications even if they arrive before the create answers). It renews (PATCH) once less
//!   than [`PushOptions::renew_before`] is left, creates it again when the upstream answers 404 (or when the
//!   URLs changed), and on a 409 (the app already has one, e.g. the state was lost) deletes the app's
//!   call-record subscriptions to our URL and creates again.
//! * `serve`'s receiver (`POST /notifications/graph`) queues the notified ids in the store's sync inbox;
//!   [`Syncer::drain_inbox`] fetches each exactly as a sweep fetches a record (the same complete-record
//!   fetch, budgets and retries), stores it, and removes the entry only once the record is committed —
//!   a kill -9 loses nothing. A 404 (Graph notifies before the record is readable) is tried again with a
//!   growing delay, and given up (reported in `push.gaveUp`) after the sweep's bound.
//! * Lifecycle events from the inbox: `reauthorizationRequired` → `POST subscriptions/{id}/reauthorize`
//!   (and a renewal if due); `subscriptionRemoved` → create again; `missed` → the caller runs a sweep.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use callrecords_store::SyncInboxItem;
use jiff::{SignedDuration, Timestamp};
use rand::RngCore;
use serde_json::{Value, json};

use crate::client::{FetchError, RequestKind};
use crate::state::{GaveUpNotified, PushState, SweepReport};
use crate::sweep::{SweepError, Syncer};

/// Graph's longest call-record subscription.
pub const MAX_LIFETIME: SignedDuration = SignedDuration::from_mins(4230);
/// The subscription's resource.
pub const RESOURCE: &str = "/communications/callRecords";

/// How the push path runs.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Where Graph posts change notifications (`serve`'s `/notifications/graph`, as the upstream reaches it).
    pub notification_url: String,
    /// Where Graph posts lifecycle notifications (default: `{notification_url}/lifecycle`).
    pub lifecycle_url: String,
    /// Lifetime asked for on create and renew (default and at most 4,230 minutes).
    pub lifetime: SignedDuration,
    /// Renew once less than this is left (default 36 h: about once a day and a half, far from the end).
    pub renew_before: SignedDuration,
    /// Inbox entries handled per round.
    pub batch: usize,
    /// First delay before a notified record that answered 404 is tried again (doubling, at most 10 min).
    pub not_found_delay: Duration,
}

impl PushOptions {
    pub fn new(notification_url: &str) -> PushOptions {
        let n = notification_url.trim_end_matches('/').to_string();
        PushOptions {
            lifecycle_url: format!("{n}/lifecycle"),
            notification_url: n,
            lifetime: MAX_LIFETIME,
            renew_before: SignedDuration::from_hours(36),
            batch: 200,
            not_found_delay: Duration::from_secs(5),
        }
    }
}

/// What one [`Syncer::drain_inbox`] round did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushRound {
    /// Inbox entries handled (finished or put back for later).
    pub handled: u64,
    pub stored: u64,
    /// A `missed` event asked for a sweep.
    pub sweep_wanted: bool,
    /// The subscription should be checked at once (reauthorization, removal).
    pub check_subscription: bool,
}

fn random_client_state() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn ts_of(v: &Value) -> Option<Timestamp> {
    v.get("expirationDateTime")?.as_str()?.parse().ok()
}

impl Syncer {
    fn subscriptions_url(&self) -> String {
        format!("{}/v1.0/subscriptions", self.graph_url())
    }

    /// The stored push state (default when none).
    pub async fn push_state(&self) -> Result<PushState, SweepError> {
        Ok(self.load_state().await?.push.unwrap_or_default())
    }

    /// Creates, renews or re-creates the upstream subscription as needed at `now`; returns the push state.
    pub async fn ensure_subscription(
        &self,
        opts: &PushOptions,
        now: Timestamp,
    ) -> Result<PushState, SweepError> {
        let push = self.push_state().await?;
        let urls_match = push.notification_url == opts.notification_url
            && push.lifecycle_notification_url == opts.lifecycle_url;
        let Some(id) = push.subscription_id.clone().filter(|_| urls_match) else {
            return self.create_subscription(opts, now, false).await;
        };
        let left = push
            .expiration_date_time
            .map_or(SignedDuration::ZERO, |e| e.duration_since(now));
        if left > opts.renew_before {
            return Ok(push);
        }
        let body = json!({"expirationDateTime": (now + opts.lifetime).to_string()});
        match self
            .client()
            .send(
                reqwest::Method::PATCH,
                &format!("{}/{id}", self.subscriptions_url()),
                Some(&body),
                &RequestKind::Subscription,
            )
            .await
        {
            Ok(v) => {
                let exp = ts_of(&v).unwrap_or(now + opts.lifetime);
                tracing::info!(tenant = self.tenant(), id, %exp, "subscription renewed");
                self.update_push(|p| {
                    p.expiration_date_time = Some(exp);
                    p.renewed += 1;
                    p.last_error = None;
                })
                .await
            }
            Err(FetchError::NotFound) => {
                tracing::warn!(
                    tenant = self.tenant(),
                    id,
                    "subscription gone upstream: creating it again"
                );
                self.create_subscription(opts, now, true).await
            }
            Err(e) => Err(self.push_failed(e).await),
        }
    }

    async fn push_failed(&self, e: FetchError) -> SweepError {
        let msg = e.to_string();
        let _ = self.update_push(|p| p.last_error = Some(msg)).await;
        e.into()
    }

    /// Creates the subscription (a new `clientState`, saved first).
    async fn create_subscription(
        &self,
        opts: &PushOptions,
        now: Timestamp,
        again: bool,
    ) -> Result<PushState, SweepError> {
        let old = self.push_state().await?.subscription_id;
        if let Some(old) = old.filter(|_| again) {
            // Best effort: an old subscription left alive upstream would notify with a clientState we no
            // longer accept.
            let _ = self
                .client()
                .send(
                    reqwest::Method::DELETE,
                    &format!("{}/{old}", self.subscriptions_url()),
                    None,
                    &RequestKind::Subscription,
                )
                .await;
        }
        let client_state = random_client_state();
        let cs = client_state.clone();
        let (n, l) = (opts.notification_url.clone(), opts.lifecycle_url.clone());
        self.update_push(move |p| {
            p.subscription_id = None;
            p.client_state = cs;
            p.expiration_date_time = None;
            p.notification_url = n;
            p.lifecycle_notification_url = l;
        })
        .await?;
        let body = json!({
            "changeType": "created,updated",
            "notificationUrl": opts.notification_url,
            "lifecycleNotificationUrl": opts.lifecycle_url,
            "resource": RESOURCE,
            "expirationDateTime": (now + opts.lifetime).to_string(),
            "clientState": client_state,
        });
        let url = self.subscriptions_url();
        let post = || {
            self.client().send(
                reqwest::Method::POST,
                &url,
                Some(&body),
                &RequestKind::Subscription,
            )
        };
        let created = match post().await {
            Err(FetchError::Refused { status: 409, .. }) => {
                self.delete_ours(opts).await?;
                post().await
            }
            r => r,
        };
        let v = match created {
            Ok(v) => v,
            Err(e) => return Err(self.push_failed(e).await),
        };
        let Some(id) = v.get("id").and_then(Value::as_str).map(str::to_string) else {
            return Err(self
                .push_failed(FetchError::Refused {
                    status: 201,
                    code: "unexpectedBody".into(),
                    message: "the created subscription has no id".into(),
                })
                .await);
        };
        let exp = ts_of(&v).unwrap_or(now + opts.lifetime);
        tracing::info!(tenant = self.tenant(), id, %exp, "subscription created");
        self.update_push(|p| {
            p.subscription_id = Some(id);
            p.expiration_date_time = Some(exp);
            if again {
                p.recreated += 1;
            } else {
                p.created += 1;
            }
            p.last_error = None;
        })
        .await
    }

    /// Deletes the app's call-record subscriptions that notify our URL (the state that named them was lost).
    async fn delete_ours(&self, opts: &PushOptions) -> Result<(), SweepError> {
        let list = self
            .client()
            .get(&self.subscriptions_url(), &RequestKind::Subscription)
            .await?;
        for s in list["value"].as_array().into_iter().flatten() {
            let resource = s["resource"].as_str().unwrap_or_default();
            let ours = resource.trim_start_matches('/') == RESOURCE.trim_start_matches('/')
                && s["notificationUrl"].as_str() == Some(opts.notification_url.as_str());
            if let (true, Some(id)) = (ours, s["id"].as_str()) {
                tracing::warn!(
                    tenant = self.tenant(),
                    id,
                    "deleting an earlier subscription of ours"
                );
                match self
                    .client()
                    .send(
                        reqwest::Method::DELETE,
                        &format!("{}/{id}", self.subscriptions_url()),
                        None,
                        &RequestKind::Subscription,
                    )
                    .await
                {
                    Ok(_) | Err(FetchError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// `POST subscriptions/{id}/reauthorize` (a `reauthorizationRequired`); a 404 creates it again.
    async fn reauthorize(&self, opts: &PushOptions, id: &str) -> Result<(), SweepError> {
        let r = self
            .client()
            .send(
                reqwest::Method::POST,
                &format!("{}/{id}/reauthorize", self.subscriptions_url()),
                None,
                &RequestKind::Subscription,
            )
            .await;
        match r {
            Ok(_) => {
                tracing::info!(tenant = self.tenant(), id, "subscription reauthorized");
                self.update_push(|p| p.reauthorized += 1).await?;
                Ok(())
            }
            Err(FetchError::NotFound) => self
                .create_subscription(opts, Timestamp::now(), true)
                .await
                .map(drop),
            Err(e) => Err(self.push_failed(e).await),
        }
    }

    /// One round over the due inbox entries at `now`.
    pub async fn drain_inbox(
        &self,
        opts: &PushOptions,
        now: Timestamp,
    ) -> Result<PushRound, SweepError> {
        let now_us = now.as_microsecond();
        let due = self
            .store()
            .due_sync_inbox(self.tenant(), now_us, opts.batch)
            .await?;
        let mut round = PushRound::default();
        if due.is_empty() {
            return Ok(round);
        }
        let current = self.push_state().await?.subscription_id;
        let (records, events): (Vec<SyncInboxItem>, Vec<SyncInboxItem>) =
            due.into_iter().partition(|i| i.kind == "record");
        for e in events {
            let is_current = current.as_deref() == Some(e.id.as_str());
            let done = match e.kind.as_str() {
                _ if !is_current => Ok(()),
                "reauthorizationRequired" => {
                    round.check_subscription = true;
                    self.reauthorize(opts, &e.id).await
                }
                "subscriptionRemoved" => {
                    round.check_subscription = true;
                    self.create_subscription(opts, now, true).await.map(drop)
                }
                "missed" => {
                    round.sweep_wanted = true;
                    self.update_push(|p| p.missed += 1).await.map(drop)
                }
                _ => Ok(()),
            };
            let retry = match done {
                Ok(()) => None,
                Err(SweepError::Fetch(f)) if !f.is_fatal() => {
                    Some(now_us + 30_000_000 * i64::from(e.attempts.min(20) + 1))
                }
                Err(other) => return Err(other),
            };
            self.store()
                .finish_sync_inbox(self.tenant(), &e.kind, &e.id, retry)
                .await?;
            round.handled += 1;
        }
        if records.is_empty() {
            return Ok(round);
        }
        let mut report = SweepReport::default();
        let wanted = records.iter().map(|r| (r.id.clone(), 0)).collect();
        let (not_found, failed) = self.fetch_and_store(wanted, &mut report).await?;
        // A fetch task that died names no record: try every record again that did not answer 404.
        let lost_task = failed.iter().any(|(id, _)| id.is_empty());
        let give_up_before = now - self.opts().give_up_after;
        let mut gave_up = Vec::new();
        for r in &records {
            let retry = if not_found.iter().any(|(id, _)| *id == r.id) {
                let first = Timestamp::from_microsecond(r.received_us).unwrap_or(now);
                if first < give_up_before {
                    tracing::error!(
                        tenant = self.tenant(),
                        id = r.id,
                        attempts = r.attempts + 1,
                        "notified record still 404 after the bound: given up"
                    );
                    gave_up.push(GaveUpNotified {
                        id: r.id.clone(),
                        first_seen: first,
                        attempts: r.attempts + 1,
                    });
                    None
                } else {
                    let delay = opts
                        .not_found_delay
                        .saturating_mul(1u32 << r.attempts.min(10))
                        .min(Duration::from_secs(600));
                    Some(now_us + i64::try_from(delay.as_micros()).unwrap_or(i64::MAX))
                }
            } else if lost_task || failed.iter().any(|(id, _)| *id == r.id) {
                Some(now_us + 30_000_000)
            } else {
                None
            };
            self.store()
                .finish_sync_inbox(self.tenant(), &r.kind, &r.id, retry)
                .await?;
            round.handled += 1;
        }
        for e in &report.errors {
            tracing::warn!(tenant = self.tenant(), "push: {e}");
        }
        round.stored = report.stored;
        let nf = not_found.len() as u64;
        let last_error = report.errors.last().cloned();
        self.update_push(|p| {
            p.notified += round.handled;
            p.fetched += report.fetched;
            p.stored += report.stored;
            p.duplicate += report.duplicate;
            p.not_found += nf;
            p.last_notified = Some(Timestamp::now());
            p.gave_up.extend(gave_up);
            let excess = p.gave_up.len().saturating_sub(1000);
            p.gave_up.drain(..excess);
            if last_error.is_some() {
                p.last_error = last_error;
            }
        })
        .await?;
        Ok(round)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_states_are_random_and_short_enough_for_graph() {
        let a = random_client_state();
        let b = random_client_state();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a.len() <= 128);
    }

    #[test]
    fn lifecycle_url_defaults_under_the_notification_url() {
        let o = PushOptions::new("https://example.com/notifications/graph/");
        assert_eq!(
            o.notification_url,
            "https://example.com/notifications/graph"
        );
        assert_eq!(
            o.lifecycle_url,
            "https://example.com/notifications/graph/lifecycle"
        );
    }
}
