//! The Graph webhook receiver of `callrecords sync`'s push path: `POST /notifications/graph` (change
//! notifications of the upstream subscription `sync --notifications-url` creates) and
//! `POST /notifications/graph/lifecycle` (its lifecycle notifications).
//!
//! * `?validationToken=…` (Graph's validation handshake, on either URL): `200`, `text/plain`, the decoded
//!   token, at once.
//! * Otherwise a `changeNotificationCollection` (`{"value":[…]}`): each item's `clientState` is compared (in
//!   constant time) with the random value `sync` stored for the subscription in the tenant's sync state
//!   (`push.clientState`, with `push.subscriptionId` equal to the item's `subscriptionId`, or not yet known
//!   while the subscription is being created). Items that match are queued durably in the store's sync
//!   inbox ([`Store::enqueue_sync_inbox`](callrecords_store::Store::enqueue_sync_inbox): the record id, or the lifecycle event) and the answer is `202`
//!   once that transaction is committed; `sync` drains the inbox. Items that do not match are dropped (and
//!   logged); when none matches, nothing is queued and the answer is `403 accessDenied`. A body that is
//!   not a notification collection is a `400` in Graph's error format.
//!
//! Nothing here fetches from Graph: the receiver answers in milliseconds, well inside Graph's 3 s.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use callrecords_store::{ReadScope, SyncInboxItem};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ErrorCode;
use crate::{ApiError, AppState};

/// Where Graph posts change notifications.
pub const NOTIFICATIONS_PATH: &str = "/notifications/graph";
/// Where Graph posts lifecycle notifications.
pub const LIFECYCLE_PATH: &str = "/notifications/graph/lifecycle";
/// Largest accepted notification body (Graph sends at most 100 small items per POST).
const MAX_BODY: usize = 4 * 1024 * 1024;
/// The lifecycle events `sync` acts on.
pub const LIFECYCLE_EVENTS: [&str; 3] =
    ["reauthorizationRequired", "subscriptionRemoved", "missed"];

/// The receiver's routes. The paths are written out (not the constants) so that the route-table walk of
/// `tests/auth.rs` reads them; `route_paths_are_the_constants` keeps the two equal.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/notifications/graph",
            post(|s: State<AppState>, q: Query<Handshake>, b: Bytes| receive(s, q, b, false)),
        )
        .route(
            "/notifications/graph/lifecycle",
            post(|s: State<AppState>, q: Query<Handshake>, b: Bytes| receive(s, q, b, true)),
        )
}

#[derive(Debug, Deserialize)]
struct Handshake {
    #[serde(rename = "validationToken")]
    validation_token: Option<String>,
}

/// One item of the collection, as far as the receiver reads it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    subscription_id: Option<String>,
    client_state: Option<String>,
    resource: Option<String>,
    resource_data: Option<Value>,
    lifecycle_event: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Collection {
    value: Vec<Value>,
}

/// A tenant's push subscription as `sync` saved it in its sync state.
struct Registered {
    tenant: String,
    subscription_id: Option<String>,
    client_state: String,
}

/// Equal in time that depends only on the lengths.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The record id a change item names: `resourceData.id`, else the last segment of `resource`.
fn record_id(item: &Item) -> Option<String> {
    let from_data = item
        .resource_data
        .as_ref()
        .and_then(|d| d.get("id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let id = from_data.or_else(|| {
        let r = item.resource.as_deref()?;
        let rest = r
            .trim_start_matches('/')
            .strip_prefix("communications/callRecords")?;
        let rest = rest
            .strip_prefix('/')
            .or_else(|| rest.strip_prefix("('").and_then(|k| k.strip_suffix("')")))?;
        Some(rest.to_string())
    })?;
    let ok = !id.is_empty() && id.len() <= 256 && !id.chars().any(|c| c.is_control() || c == '/');
    ok.then_some(id)
}

async fn receive(
    State(state): State<AppState>,
    Query(q): Query<Handshake>,
    body: Bytes,
    lifecycle: bool,
) -> Result<Response, ApiError> {
    if let Some(token) = q.validation_token {
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            token,
        )
            .into_response());
    }
    if body.len() > MAX_BODY {
        return Err(ApiError::too_large(MAX_BODY));
    }
    let collection: Collection = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_input(format!(
            "The body is not a change notification collection ({{\"value\":[…]}}): {e}"
        ))
    })?;
    let registered: Vec<Registered> = state
        .store
        .list_sync_states(&ReadScope::All)
        .await?
        .into_iter()
        .filter_map(|row| {
            let st: Value = serde_json::from_str(&row.state).ok()?;
            let push = st.get("push")?;
            Some(Registered {
                tenant: row.tenant,
                subscription_id: push
                    .get("subscriptionId")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                client_state: push.get("clientState")?.as_str()?.to_string(),
            })
        })
        .collect();
    let now_us = jiff::Timestamp::now().as_microsecond();
    let mut queue = Vec::new();
    let mut refused = 0usize;
    let mut malformed = 0usize;
    for raw in collection.value {
        let Ok(item) = serde_json::from_value::<Item>(raw) else {
            malformed += 1;
            continue;
        };
        let (Some(sub), Some(cs)) = (&item.subscription_id, &item.client_state) else {
            refused += 1;
            continue;
        };
        let Some(owner) = registered.iter().find(|r| {
            same(&r.client_state, cs) && r.subscription_id.as_deref().is_none_or(|s| s == sub)
        }) else {
            refused += 1;
            continue;
        };
        let (kind, id) = if lifecycle {
            match item.lifecycle_event.as_deref() {
                Some(e) if LIFECYCLE_EVENTS.contains(&e) => (e.to_string(), sub.clone()),
                _ => {
                    malformed += 1;
                    continue;
                }
            }
        } else {
            match record_id(&item) {
                Some(id) => ("record".to_string(), id),
                None => {
                    malformed += 1;
                    continue;
                }
            }
        };
        queue.push(SyncInboxItem {
            tenant: owner.tenant.clone(),
            kind,
            id,
            subscription_id: sub.clone(),
            received_us: now_us,
            due_us: now_us,
            attempts: 0,
        });
    }
    if refused > 0 || malformed > 0 {
        tracing::warn!(
            refused,
            malformed,
            accepted = queue.len(),
            "notifications dropped: clientState not ours, or not a call-record notification"
        );
    }
    if queue.is_empty() {
        if refused > 0 {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::AccessDenied,
                "No notification carries the clientState of a subscription of this server.",
            ));
        }
        if malformed > 0 {
            return Err(ApiError::bad_input(
                "No item of the collection is a call-record notification this receiver understands.",
            ));
        }
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    let added = state.store.enqueue_sync_inbox(queue).await?;
    tracing::debug!(added, "notifications queued for sync");
    Ok(StatusCode::ACCEPTED.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_paths_are_the_constants() {
        let source = include_str!("sync_receiver.rs");
        for path in [NOTIFICATIONS_PATH, LIFECYCLE_PATH] {
            assert!(
                source.contains(&format!("\n            \"{path}\",\n")),
                "{path} is not routed"
            );
        }
    }

    #[test]
    fn record_ids_from_resource_data_or_resource() {
        let item = |v: Value| serde_json::from_value::<Item>(v).unwrap();
        assert_eq!(
            record_id(&item(serde_json::json!({"resourceData": {"id": "abc"}}))),
            Some("abc".into())
        );
        assert_eq!(
            record_id(&item(
                serde_json::json!({"resource": "communications/callRecords/x-1"})
            )),
            Some("x-1".into())
        );
        assert_eq!(
            record_id(&item(
                serde_json::json!({"resource": "/communications/callRecords('k')"})
            )),
            Some("k".into())
        );
        assert_eq!(
            record_id(&item(serde_json::json!({"resource": "users/1"}))),
            None
        );
        assert_eq!(
            record_id(&item(serde_json::json!({"resourceData": {"id": "a/b"}}))),
            None
        );
    }

    #[test]
    fn same_compares_whole_strings() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
