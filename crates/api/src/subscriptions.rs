//! Graph's `subscriptions` resource for `communications/callRecords` (spec §10): create (with the
//! validation handshake), get, list, renew (PATCH), delete and `reauthorize`, under `/v1.0` and `/beta`.
//!
//! The rules (what a subscription may be, Graph's error codes and wording) live in
//! `callrecords-notify`; this module checks the caller, runs the handshakes and keeps the result in
//! the store. Delivery is the notifier's (`callrecords_notify::worker`).
//!
//! * Who is asking: [`caller`] — the tenant and application of the [`RequestScope`] an outer layer set
//!   (`serve --fake`: the bearer token's), else the default tenant and application `callrecords`.
//! * Expired subscriptions are neither listed nor returned (404) and are deleted when met.
//! * A signing secret (Standard Webhooks) may be given with the extension property
//!   `callrecordsSigningSecret` (`whsec_…`); it is stored, used to sign deliveries and never rendered.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use callrecords_notify::SubscriptionError;
use callrecords_notify::guard::WebhookGuard;
use callrecords_notify::subscription::{
    self as rules, CreateContext, Existing, MAX_SUBSCRIPTIONS_PER_TENANT, Subscription,
    SubscriptionCreate, SubscriptionPatch,
};
use callrecords_notify::{deliver::Deliverer, handshake, signing::WebhookSecret};
use callrecords_store::{
    CreateSubscription, DEFAULT_TENANT, ReadScope, Store, StoreError, SubscriptionRow,
};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::error::REQUEST_IDS;
use crate::{ApiError, AppState, RequestScope};

/// Largest accepted subscription request body.
pub const MAX_BODY: usize = 64 * 1024;
/// The extension property carrying a per-subscription signing secret.
pub const SECRET_PROPERTY: &str = "callrecordsSigningSecret";
/// The application id of every caller until authentication exists.
pub const DEFAULT_APP_ID: &str = "callrecords";

/// How subscriptions reach webhooks (handshakes); part of [`crate::Config`].
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Which destinations are allowed (`--webhook-allow`).
    pub guard: WebhookGuard,
    /// How long a validation handshake may take (10 s, Graph's).
    pub handshake_timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            guard: WebhookGuard::default(),
            handshake_timeout: handshake::VALIDATION_TIMEOUT,
        }
    }
}

/// Who is asking: the tenant whose subscriptions they see and the application that owns what they create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: String,
    pub app_id: String,
    pub creator_id: Option<String>,
}

/// The caller of a request: the tenant and application an outer layer put in the [`RequestScope`]
/// (`serve --fake`: the bearer token's `tid` and `appid`); without one (plain `serve` has no
/// authentication) the default tenant's application `callrecords`. This is the one place a principal
/// plugs in.
pub fn caller(scope: Option<&RequestScope>) -> Caller {
    let tenant = match scope.map(|s| &s.scope) {
        Some(ReadScope::Tenant(t)) => t.clone(),
        _ => DEFAULT_TENANT.to_owned(),
    };
    let app_id = scope
        .and_then(|s| s.app_id.clone())
        .unwrap_or_else(|| DEFAULT_APP_ID.to_owned());
    Caller {
        tenant,
        app_id,
        creator_id: None,
    }
}

/// The request's [`RequestScope`] extension, if an outer layer set one.
type Scope = Option<Extension<RequestScope>>;

fn caller_of(scope: &Scope) -> Caller {
    caller(scope.as_ref().map(|Extension(s)| s))
}

impl Caller {
    fn scope(&self) -> ReadScope {
        ReadScope::Tenant(self.tenant.clone())
    }
}

/// The `/v1.0|beta/subscriptions` routes.
pub fn routes() -> Router<AppState> {
    let mut r = Router::new();
    for ver in ["v1.0", "beta"] {
        r = r
            .route(&format!("/{ver}/subscriptions"), get(list).post(create))
            .route(
                &format!("/{ver}/subscriptions/{{id}}"),
                get(get_one).patch(patch).delete(delete),
            )
            .route(
                &format!("/{ver}/subscriptions/{{id}}/reauthorize"),
                post(reauthorize),
            );
    }
    r.route("/admin/subscriptions/{id}/deliveries", get(deliveries))
}

/// `GET /admin/subscriptions/{id}/deliveries`: the newest notifications (at most 1,000) with their
/// attempts, state, next retry and last result, and counts per state.
async fn deliveries(
    State(state): State<AppState>,
    scope_ext: Scope,
    Path(id): Path<String>,
) -> Result<Response> {
    let who = caller_of(&scope_ext);
    let scope = who.scope();
    let store = state.store.as_ref();
    if store.get_subscription(&scope, &id).await?.is_none() {
        return Err(not_found(&id));
    }
    let list = store.list_notifications(&scope, &id, 1000).await?;
    let (mut pending, mut delivered, mut dropped) = (0u64, 0u64, 0u64);
    let value: Vec<Value> = list
        .iter()
        .map(|n| {
            match n.state {
                callrecords_store::DeliveryState::Pending => pending += 1,
                callrecords_store::DeliveryState::Delivered => delivered += 1,
                callrecords_store::DeliveryState::Dropped => dropped += 1,
            }
            let us = |t: Option<i64>| {
                t.and_then(|t| Timestamp::from_microsecond(t).ok())
                    .map(|t| t.to_string())
            };
            let what = match &n.new.kind {
                callrecords_store::NotificationKind::Change {
                    change_type,
                    record_id,
                    ..
                } => json!({"changeType": change_type, "recordId": record_id}),
                callrecords_store::NotificationKind::Lifecycle { event } => {
                    json!({"lifecycleEvent": event})
                }
            };
            json!({"id": n.new.notification_id, "targetUrl": n.new.target_url, "notification": what,
                   "state": n.state.as_str(), "attempts": n.attempts,
                   "nextAttemptDateTime": (n.state == callrecords_store::DeliveryState::Pending).then(|| us(Some(n.new.due_us))).flatten(),
                   "lastAttemptDateTime": us(n.last_attempt_us), "lastResult": n.last_result,
                   "enqueuedDateTime": us(Some(n.enqueued_us)), "finishedDateTime": us(n.finished_us),
                   "dropReason": n.drop_reason})
        })
        .collect();
    let body = json!({"subscriptionId": id, "pending": pending, "delivered": delivered,
                      "dropped": dropped, "value": value});
    Ok(json_response(StatusCode::OK, &body))
}

/// A refusal: Graph's error body with the code `callrecords-notify` chose, or any [`ApiError`].
#[derive(Debug)]
pub enum SubsError {
    Rule(SubscriptionError),
    Api(ApiError),
}

impl From<SubscriptionError> for SubsError {
    fn from(e: SubscriptionError) -> Self {
        SubsError::Rule(e)
    }
}
impl From<ApiError> for SubsError {
    fn from(e: ApiError) -> Self {
        SubsError::Api(e)
    }
}
impl From<StoreError> for SubsError {
    fn from(e: StoreError) -> Self {
        SubsError::Api(e.into())
    }
}

impl IntoResponse for SubsError {
    fn into_response(self) -> Response {
        let e = match self {
            SubsError::Api(e) => return e.into_response(),
            SubsError::Rule(e) => e,
        };
        let (request_id, client_request_id) = REQUEST_IDS
            .try_with(Clone::clone)
            .unwrap_or_else(|_| (uuid::Uuid::new_v4().to_string(), None));
        let date = Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S").to_string();
        let mut inner = json!({"date": date, "request-id": request_id});
        if let Some(c) = client_request_id {
            inner["client-request-id"] = Value::String(c);
        }
        let body =
            json!({"error": {"code": e.code(), "message": e.message(), "innerError": inner}});
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut resp = (status, body.to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

type Result<T> = std::result::Result<T, SubsError>;

fn not_found(id: &str) -> SubsError {
    ApiError::not_found(format!("The subscription '{id}' was not found.")).into()
}

/// `/v1.0` or `/beta` of this request.
fn version_of(uri: &Uri) -> &'static str {
    if uri.path().starts_with("/beta/") {
        "beta"
    } else {
        "v1.0"
    }
}

fn context(headers: &HeaderMap, uri: &Uri, rest: &str) -> String {
    format!(
        "{}/{}/$metadata#{rest}",
        crate::graph::origin_of(headers, uri),
        version_of(uri)
    )
}

fn render(sub: &Subscription, headers: &HeaderMap, uri: &Uri) -> Value {
    let mut v = serde_json::to_value(sub).unwrap_or(Value::Null);
    if let Value::Object(o) = &mut v {
        let mut out = serde_json::Map::new();
        out.insert(
            "@odata.context".into(),
            Value::String(context(headers, uri, "subscriptions/$entity")),
        );
        out.append(o);
        v = Value::Object(out);
    }
    v
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

async fn read_body(body: Body) -> Result<bytes::Bytes> {
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::too_large(MAX_BODY).into())
}

/// The subscription a row holds.
pub fn parse_row(row: &SubscriptionRow) -> Option<Subscription> {
    serde_json::from_str(&row.json).ok()
}

/// A live subscription in scope; an expired one is deleted and reads as absent.
async fn live(
    store: &dyn Store,
    scope: &ReadScope,
    id: &str,
) -> Result<(SubscriptionRow, Subscription)> {
    let Some(row) = store.get_subscription(scope, id).await? else {
        return Err(not_found(id));
    };
    let sub = parse_row(&row)
        .ok_or_else(|| ApiError::internal("a stored subscription does not parse"))?;
    if sub.is_expired(Timestamp::now()) {
        store.delete_subscription(scope, id).await?;
        return Err(not_found(id));
    }
    Ok((row, sub))
}

/// Every live subscription in scope (expired ones are deleted on the way).
async fn live_all(store: &dyn Store, scope: &ReadScope) -> Result<Vec<Subscription>> {
    let now = Timestamp::now();
    let mut out = Vec::new();
    for row in store.list_subscriptions(scope).await? {
        match parse_row(&row) {
            Some(s) if !s.is_expired(now) => out.push(s),
            Some(_) => {
                store.delete_subscription(scope, &row.id).await?;
            }
            None => {}
        }
    }
    Ok(out)
}

async fn handshake_all(settings: &WebhookSettings, urls: &[&str]) -> Result<()> {
    if urls.is_empty() {
        return Ok(());
    }
    let deliverer = Deliverer::new(settings.guard.clone(), settings.handshake_timeout)
        .map_err(ApiError::internal)?;
    for url in urls {
        let token = handshake::generate_token();
        handshake::validate(&deliverer, url, &token, settings.handshake_timeout)
            .await
            .map_err(|e| e.to_subscription_error())?;
    }
    Ok(())
}

/// The change feed's current end: the last cursor, paging on from the notifier's.
async fn feed_end(store: &dyn Store) -> Result<i64> {
    let mut cursor = store.consumer_cursor(callrecords_notify::CONSUMER).await?;
    loop {
        let page = store.changes_after(cursor, 10_000).await?;
        match page.last() {
            Some(c) => cursor = c.cursor,
            None => return Ok(cursor),
        }
        if page.len() < 10_000 {
            return Ok(cursor);
        }
    }
}

async fn create(
    State(state): State<AppState>,
    scope_ext: Scope,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Response> {
    let who = caller_of(&scope_ext);
    let bytes = read_body(body).await?;
    let req = SubscriptionCreate::from_json(&bytes)?;
    let extra: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let secret = match extra.get(SECRET_PROPERTY) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            WebhookSecret::parse(s).map_err(|e| {
                SubscriptionError::invalid(format!("Invalid '{SECRET_PROPERTY}': {e}"))
            })?;
            Some(s.clone())
        }
        Some(_) => {
            return Err(SubscriptionError::invalid(format!(
                "Invalid '{SECRET_PROPERTY}': expected a string"
            ))
            .into());
        }
    };
    let store = state.store.as_ref();
    let scope = who.scope();
    let existing = live_all(store, &scope).await?;
    let existing_refs: Vec<Existing<'_>> = existing.iter().map(Existing::from).collect();
    let id = uuid::Uuid::new_v4().to_string();
    let sub = rules::validate_create(
        &req,
        &CreateContext {
            now: Timestamp::now(),
            new_id: &id,
            application_id: &who.app_id,
            creator_id: who.creator_id.as_deref(),
            existing: &existing_refs,
        },
    )?;
    let settings = &state.config.webhooks;
    let mut urls = vec![sub.notification_url.as_str()];
    if let Some(l) = &sub.lifecycle_notification_url {
        urls.push(l);
    }
    for url in &urls {
        settings
            .guard
            .check_url(url)
            .await
            .map_err(|g| SubscriptionError::invalid(format!("Invalid notification URL: {g}")))?;
    }
    handshake_all(settings, &urls).await?;
    let row = to_row(&sub, &who.tenant, secret, feed_end(store).await?)?;
    match store
        .create_subscription(&row, MAX_SUBSCRIPTIONS_PER_TENANT)
        .await?
    {
        CreateSubscription::Created => {}
        CreateSubscription::QuotaExceeded => {
            return Err(SubscriptionError::QuotaExceeded {
                limit: MAX_SUBSCRIPTIONS_PER_TENANT,
            }
            .into());
        }
        CreateSubscription::Duplicate { existing_id } => {
            return Err(SubscriptionError::Duplicate { existing_id }.into());
        }
    }
    let mut resp = json_response(StatusCode::CREATED, &render(&sub, &headers, &uri));
    let location = format!(
        "{}/{}/subscriptions/{}",
        crate::graph::origin_of(&headers, &uri),
        version_of(&uri),
        sub.id
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

fn to_row(
    sub: &Subscription,
    tenant: &str,
    secret: Option<String>,
    start_cursor: i64,
) -> Result<SubscriptionRow> {
    let json = serde_json::to_string(sub).map_err(ApiError::internal)?;
    let parsed = sub.parsed_resource()?;
    let types = sub.change_types()?;
    let change_types = match (types.created, types.updated) {
        (true, true) => "created,updated",
        (true, false) => "created",
        _ => "updated",
    };
    Ok(SubscriptionRow {
        id: sub.id.clone(),
        tenant: tenant.to_owned(),
        app_id: sub.application_id.clone().unwrap_or_default(),
        resource: parsed.canonical(),
        change_types: change_types.to_owned(),
        expiration_us: sub.expiration_date_time.as_microsecond(),
        json,
        secret,
        start_cursor,
    })
}

async fn list(
    State(state): State<AppState>,
    scope_ext: Scope,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response> {
    let who = caller_of(&scope_ext);
    let subs = live_all(state.store.as_ref(), &who.scope()).await?;
    let value: Vec<Value> = subs
        .iter()
        .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
        .collect();
    let body = json!({"@odata.context": context(&headers, &uri, "subscriptions"), "value": value});
    Ok(json_response(StatusCode::OK, &body))
}

async fn get_one(
    State(state): State<AppState>,
    scope_ext: Scope,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Result<Response> {
    let who = caller_of(&scope_ext);
    let (_, sub) = live(state.store.as_ref(), &who.scope(), &id).await?;
    Ok(json_response(StatusCode::OK, &render(&sub, &headers, &uri)))
}

async fn patch(
    State(state): State<AppState>,
    scope_ext: Scope,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    let who = caller_of(&scope_ext);
    let bytes = read_body(body).await?;
    let req = SubscriptionPatch::from_json(&bytes)?;
    let store = state.store.as_ref();
    let scope = who.scope();
    let (row, current) = live(store, &scope, &id).await?;
    let outcome = rules::validate_patch(&current, &req, Timestamp::now())?;
    let urls: Vec<&str> = outcome.revalidate.iter().map(String::as_str).collect();
    for url in &urls {
        state
            .config
            .webhooks
            .guard
            .check_url(url)
            .await
            .map_err(|g| SubscriptionError::invalid(format!("Invalid notification URL: {g}")))?;
    }
    handshake_all(&state.config.webhooks, &urls).await?;
    let sub = outcome.subscription;
    let new_row = SubscriptionRow {
        expiration_us: sub.expiration_date_time.as_microsecond(),
        json: serde_json::to_string(&sub).map_err(ApiError::internal)?,
        ..row
    };
    if !store.update_subscription(&scope, &new_row).await? {
        return Err(not_found(&id));
    }
    Ok(json_response(StatusCode::OK, &render(&sub, &headers, &uri)))
}

async fn delete(
    State(state): State<AppState>,
    scope_ext: Scope,
    Path(id): Path<String>,
) -> Result<Response> {
    let who = caller_of(&scope_ext);
    let store = state.store.as_ref();
    let scope = who.scope();
    live(store, &scope, &id).await?;
    if !store.delete_subscription(&scope, &id).await? {
        return Err(not_found(&id));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /subscriptions/{id}/reauthorize`: nothing to re-check without authentication; 204 for a live one.
async fn reauthorize(
    State(state): State<AppState>,
    scope_ext: Scope,
    Path(id): Path<String>,
) -> Result<Response> {
    let who = caller_of(&scope_ext);
    live(state.store.as_ref(), &who.scope(), &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
