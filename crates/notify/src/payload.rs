//! The `changeNotificationCollection` bodies POSTed to notification and lifecycle URLs
//! (spec §10.3, §10.4, §15.15).
//!
//! A change item renders exactly as the newest callRecords doc example, with Graph's CSDL `id`
//! in front (as in the generic webhook-delivery example) so receivers can dedupe:
//!
//! ```json
//! {"id":"…","subscriptionId":"…","clientState":"…","changeType":"created",
//!  "resource":"communications/callRecords/{id}",
//!  "subscriptionExpirationDateTime":"2023-02-28T00:00:00.000+00:00",
//!  "resourceData":{"@odata.type":"#Microsoft.Graph.callRecord",
//!                  "@odata.id":"communications/callRecords/{id}","id":"{id}"},
//!  "tenantId":"…"}
//! ```
//!
//! * `clientState` is always present; it is `null` when the subscription has none (CSDL says
//!   nullable, every doc example carries the key, and Graph renders nulls explicitly).
//! * `subscriptionExpirationDateTime` is UTC with exactly three fractional digits and a
//!   `+00:00` offset (the callRecords example's format; sub-millisecond digits are truncated).
//! * `id` is deterministic ([`notification_id`]): the same subscription, record, version and
//!   change type always give the same id, so a retried or re-enqueued notification keeps it.
//!
//! A lifecycle item has the example's keys (`subscriptionId`, `subscriptionExpirationDateTime`,
//! `tenantId`, `clientState`, `lifecycleEvent`), again with an `id` first. `validationTokens`
//! only accompany rich notifications, which call records do not support, so it is never sent.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::subscription::Subscription;

/// At most this many items go in one POST.
pub const MAX_BATCH: usize = 100;

/// `@odata.type` of a callRecord's resourceData (capital M and G, lowercase c, capital R).
pub const RESOURCE_DATA_TYPE: &str = "#Microsoft.Graph.callRecord";

/// `changeType` of a notification item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeType {
    /// First notification of a record on a subscription.
    Created,
    /// A later version of the record.
    Updated,
}

impl ChangeType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
        }
    }
}

/// `lifecycleEvent` of a lifecycle item. Only `reauthorizationRequired` is ever sent for
/// call records (spec §10.3); the others exist for completeness of the Graph enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleEvent {
    /// The subscription should be reauthorized or renewed soon.
    ReauthorizationRequired,
    /// Never sent for call records.
    SubscriptionRemoved,
    /// Never sent for call records.
    Missed,
}

impl LifecycleEvent {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReauthorizationRequired => "reauthorizationRequired",
            Self::SubscriptionRemoved => "subscriptionRemoved",
            Self::Missed => "missed",
        }
    }
}

/// Formats a DateTimeOffset the way callRecord notifications show it:
/// `2023-02-28T00:00:00.000+00:00`.
pub fn format_expiration(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string()
}

fn ser_expiration<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_expiration(*t))
}

/// `resourceData` of a callRecord notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceData {
    /// Always [`RESOURCE_DATA_TYPE`].
    #[serde(rename = "@odata.type")]
    pub odata_type: &'static str,
    /// `communications/callRecords/{id}`.
    #[serde(rename = "@odata.id")]
    pub odata_id: String,
    /// The callRecord id.
    pub id: String,
}

/// One change notification item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeNotification {
    /// Stable id for dedupe ([`notification_id`]).
    pub id: String,
    /// The subscription.
    pub subscription_id: String,
    /// The subscription's clientState (`null` when none).
    pub client_state: Option<String>,
    /// created / updated.
    pub change_type: ChangeType,
    /// `communications/callRecords/{id}` (no leading slash, no version).
    pub resource: String,
    /// The subscription's expiration at the time the item was built.
    #[serde(serialize_with = "ser_expiration")]
    pub subscription_expiration_date_time: Timestamp,
    /// `@odata.type`, `@odata.id`, `id`.
    pub resource_data: ResourceData,
    /// The tenant.
    pub tenant_id: String,
}

impl ChangeNotification {
    /// The item telling `sub` that `version` of call record `record_id` exists.
    pub fn new(
        sub: &Subscription,
        tenant_id: &str,
        record_id: &str,
        version: i64,
        change_type: ChangeType,
    ) -> Self {
        let resource = format!("communications/callRecords/{record_id}");
        Self {
            id: notification_id(&sub.id, record_id, version, change_type),
            subscription_id: sub.id.clone(),
            client_state: sub.client_state.clone(),
            change_type,
            resource: resource.clone(),
            subscription_expiration_date_time: sub.expiration_date_time,
            resource_data: ResourceData {
                odata_type: RESOURCE_DATA_TYPE,
                odata_id: resource,
                id: record_id.to_owned(),
            },
            tenant_id: tenant_id.to_owned(),
        }
    }
}

/// One lifecycle notification item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleNotification {
    /// Stable id for dedupe ([`lifecycle_notification_id`]).
    pub id: String,
    /// The subscription.
    pub subscription_id: String,
    /// Its expiration.
    #[serde(serialize_with = "ser_expiration")]
    pub subscription_expiration_date_time: Timestamp,
    /// The tenant.
    pub tenant_id: String,
    /// The subscription's clientState (`null` when none).
    pub client_state: Option<String>,
    /// The event.
    pub lifecycle_event: LifecycleEvent,
}

impl LifecycleNotification {
    /// The item for `event` on `sub`.
    pub fn new(sub: &Subscription, tenant_id: &str, event: LifecycleEvent) -> Self {
        Self {
            id: lifecycle_notification_id(&sub.id, event, sub.expiration_date_time),
            subscription_id: sub.id.clone(),
            subscription_expiration_date_time: sub.expiration_date_time,
            tenant_id: tenant_id.to_owned(),
            client_state: sub.client_state.clone(),
            lifecycle_event: event,
        }
    }
}

/// Any item of a `changeNotificationCollection`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Notification {
    /// A change notification.
    Change(ChangeNotification),
    /// A lifecycle notification.
    Lifecycle(LifecycleNotification),
}

impl Notification {
    /// The item's `id`.
    pub fn id(&self) -> &str {
        match self {
            Self::Change(c) => &c.id,
            Self::Lifecycle(l) => &l.id,
        }
    }
}

impl From<ChangeNotification> for Notification {
    fn from(c: ChangeNotification) -> Self {
        Self::Change(c)
    }
}

impl From<LifecycleNotification> for Notification {
    fn from(l: LifecycleNotification) -> Self {
        Self::Lifecycle(l)
    }
}

#[derive(Serialize)]
struct Collection<'a> {
    value: &'a [Notification],
}

/// The JSON body `{"value":[...]}` for these items (compact, UTF-8).
pub fn render_collection(items: &[Notification]) -> Vec<u8> {
    serde_json::to_vec(&Collection { value: items }).unwrap_or_default()
}

/// A group of items for one destination, at most [`MAX_BATCH`] long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch<K> {
    /// What the items were grouped by (typically the URL and the signing secret's id).
    pub key: K,
    /// The items, in input order.
    pub items: Vec<Notification>,
}

impl<K> Batch<K> {
    /// The request body.
    pub fn body(&self) -> Vec<u8> {
        render_collection(&self.items)
    }

    /// A message id for the whole batch (Standard Webhooks `webhook-id`): `msg_` + 32 hex
    /// digits of SHA-256 over the item ids, so the same items always give the same id.
    pub fn message_id(&self) -> String {
        let mut h = Sha256::new();
        for item in &self.items {
            h.update(item.id().as_bytes());
            h.update([0u8]);
        }
        let d = h.finalize();
        format!("msg_{}", hex(&d[..16]))
    }
}

/// Groups items by key (keys in ascending order, items in input order) and cuts each group into
/// batches of at most `max` items (`max` 0 is taken as 1; use [`MAX_BATCH`]).
///
/// Items for different subscriptions share a batch when their keys are equal, as Graph does.
/// Key by (notification URL, signing secret) so a batch has one destination and one signature.
pub fn batches<K: Ord + Clone>(
    items: impl IntoIterator<Item = (K, Notification)>,
    max: usize,
) -> Vec<Batch<K>> {
    let max = max.max(1);
    let mut groups: BTreeMap<K, Vec<Notification>> = BTreeMap::new();
    for (k, n) in items {
        groups.entry(k).or_default().push(n);
    }
    let mut out = Vec::new();
    for (key, items) in groups {
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            out.push(Batch {
                key: key.clone(),
                items: items.by_ref().take(max).collect(),
            });
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn uuid_from_digest(d: &[u8]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    // RFC 9562 UUIDv8 (custom, here SHA-256 based): version 8, variant 10.
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

/// Stable id of a change item: a UUIDv8 from SHA-256 of
/// the JSON array `["change", subscription, record, version, changeType]` (unambiguous
/// whatever the ids contain).
pub fn notification_id(
    subscription_id: &str,
    record_id: &str,
    version: i64,
    change_type: ChangeType,
) -> String {
    let input = serde_json::json!([
        "change",
        subscription_id,
        record_id,
        version,
        change_type.as_str()
    ]);
    uuid_from_digest(&Sha256::digest(input.to_string().as_bytes()))
}

/// Stable id of a lifecycle item: a UUIDv8 from SHA-256 of
/// the JSON array `["lifecycle", subscription, event, expiration unix seconds]` (one event per
/// subscription lifetime: renewing the subscription changes the id).
pub fn lifecycle_notification_id(
    subscription_id: &str,
    event: LifecycleEvent,
    expiration: Timestamp,
) -> String {
    let input = serde_json::json!([
        "lifecycle",
        subscription_id,
        event.as_str(),
        expiration.as_second()
    ]);
    uuid_from_digest(&Sha256::digest(input.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn sub(client_state: Option<&str>) -> Subscription {
        Subscription {
            id: "{Subscription id}".into(),
            resource: "/communications/callRecords".into(),
            application_id: None,
            change_type: "updated".into(),
            client_state: client_state.map(str::to_owned),
            notification_url: "https://webhook.azurewebsites.net/api/resourceNotifications".into(),
            notification_query_options: None,
            lifecycle_notification_url: None,
            expiration_date_time: "2023-02-28T00:00:00Z".parse().unwrap(),
            creator_id: None,
            include_resource_data: None,
            latest_supported_tls_version: None,
            encryption_certificate: None,
            encryption_certificate_id: None,
            notification_url_app_id: None,
            notification_content_type: None,
        }
    }

    fn fixture(name: &str) -> Value {
        let text = match name {
            "notification" => include_str!(
                "../tests/fixtures/concepts__changenotifications-for-callrecords__notification-1.json"
            ),
            _ => include_str!(
                "../tests/fixtures/concepts__change-notifications-lifecycle-events__notification-1.json"
            ),
        };
        serde_json::from_str(text).unwrap()
    }

    fn without_id(mut v: Value) -> Value {
        for item in v["value"].as_array_mut().unwrap() {
            assert!(item.as_object_mut().unwrap().shift_remove("id").is_some());
        }
        v
    }

    #[test]
    fn change_item_is_the_newest_doc_example_plus_id() {
        let n = ChangeNotification::new(
            &sub(Some("{Secret client state}")),
            "{Organization/Tenant id}",
            "{Call id}",
            1,
            ChangeType::Created,
        );
        let body = render_collection(&[n.into()]);
        let got: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(got["value"][0]["id"].as_str().unwrap().len(), 36);
        assert_eq!(
            serde_json::to_string(&without_id(got)).unwrap(),
            serde_json::to_string(&fixture("notification")).unwrap(),
            "same keys, same order, same values"
        );
    }

    #[test]
    fn client_state_null_when_none() {
        let n = ChangeNotification::new(&sub(None), "t", "r", 1, ChangeType::Updated);
        let v: Value = serde_json::from_slice(&render_collection(&[n.into()])).unwrap();
        assert!(
            v["value"][0]
                .as_object()
                .unwrap()
                .contains_key("clientState")
        );
        assert_eq!(v["value"][0]["clientState"], Value::Null);
        assert_eq!(v["value"][0]["changeType"], "updated");
    }

    #[test]
    fn expiration_format() {
        let t = |s: &str| format_expiration(s.parse().unwrap());
        assert_eq!(t("2023-02-28T00:00:00Z"), "2023-02-28T00:00:00.000+00:00");
        assert_eq!(
            t("2016-11-20T18:23:45.9356913Z"),
            "2016-11-20T18:23:45.935+00:00"
        );
        assert_eq!(
            t("2023-02-28T01:00:00.5+01:00"),
            "2023-02-28T00:00:00.500+00:00"
        );
    }

    #[test]
    fn lifecycle_item_has_the_example_keys() {
        let mut s = sub(Some("<secretClientState>"));
        s.id = "<subscription_guid>".into();
        let l = LifecycleNotification::new(
            &s,
            "<tenant_guid>",
            LifecycleEvent::ReauthorizationRequired,
        );
        let got: Value = serde_json::from_slice(&render_collection(&[l.into()])).unwrap();
        let got = without_id(got);
        let want = fixture("lifecycle");
        let keys = |v: &Value| -> Vec<String> {
            v["value"][0].as_object().unwrap().keys().cloned().collect()
        };
        assert_eq!(keys(&got), keys(&want));
        assert_eq!(got["value"][0]["lifecycleEvent"], "reauthorizationRequired");
        assert_eq!(got["value"][0]["clientState"], "<secretClientState>");
        assert_eq!(
            got["value"][0]["subscriptionExpirationDateTime"],
            "2023-02-28T00:00:00.000+00:00"
        );
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = notification_id("s", "r", 1, ChangeType::Created);
        assert_eq!(a, notification_id("s", "r", 1, ChangeType::Created));
        assert_ne!(a, notification_id("s", "r", 2, ChangeType::Created));
        assert_ne!(a, notification_id("s", "r", 1, ChangeType::Updated));
        assert_ne!(a, notification_id("s2", "r", 1, ChangeType::Created));
        assert_ne!(
            notification_id("a\0b", "c", 1, ChangeType::Created),
            notification_id("a", "b\0c", 1, ChangeType::Created)
        );
        let u = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(u.get_version_num(), 8);
        let t: Timestamp = "2023-02-28T00:00:00Z".parse().unwrap();
        let l = lifecycle_notification_id("s", LifecycleEvent::ReauthorizationRequired, t);
        assert_eq!(
            l,
            lifecycle_notification_id("s", LifecycleEvent::ReauthorizationRequired, t)
        );
        assert_ne!(
            l,
            lifecycle_notification_id(
                "s",
                LifecycleEvent::ReauthorizationRequired,
                t + jiff::SignedDuration::from_secs(1)
            )
        );
    }

    #[test]
    fn batching_groups_by_key_and_bounds_size() {
        let s = sub(None);
        let items = (0..250).map(|i| {
            let key = if i % 2 == 0 { "https://a" } else { "https://b" };
            (
                key,
                Notification::from(ChangeNotification::new(
                    &s,
                    "t",
                    &format!("r{i}"),
                    1,
                    ChangeType::Created,
                )),
            )
        });
        let b = batches(items, MAX_BATCH);
        let shape: Vec<(&str, usize)> = b.iter().map(|b| (b.key, b.items.len())).collect();
        assert_eq!(
            shape,
            [
                ("https://a", 100),
                ("https://a", 25),
                ("https://b", 100),
                ("https://b", 25)
            ]
        );
        let Notification::Change(first) = &b[0].items[0] else {
            panic!()
        };
        assert_eq!(first.resource_data.id, "r0");
        let Notification::Change(second) = &b[0].items[1] else {
            panic!()
        };
        assert_eq!(second.resource_data.id, "r2");
        assert_ne!(b[0].message_id(), b[1].message_id());
        assert_eq!(b[0].message_id(), b[0].clone().message_id());
        assert!(b[0].message_id().starts_with("msg_"));
        let v: Value = serde_json::from_slice(&b[0].body()).unwrap();
        assert_eq!(v["value"].as_array().unwrap().len(), 100);

        let empty: Vec<Batch<&str>> = batches(Vec::<(&str, Notification)>::new(), 100);
        assert!(empty.is_empty());
        let one = batches(
            [("k", b[0].items[0].clone()), ("k", b[0].items[1].clone())],
            0,
        );
        assert_eq!(one.len(), 2, "max 0 behaves as 1");
    }
}
