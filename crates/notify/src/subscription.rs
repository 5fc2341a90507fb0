//! The Graph `subscription` resource for `communications/callRecords` (spec §10.1, §10.3, §10.4):
//! request/response types and the pure validation of create and PATCH.
//!
//! Flow for the API layer on `POST /subscriptions`:
//! 1. [`SubscriptionCreate::from_json`] (400 on a body that is not a subscription),
//! 2. [`validate_create`] with the tenant's existing subscriptions (400 / 403 / 409),
//! 3. the SSRF check ([`crate::guard::WebhookGuard::check_url`]) and the validation handshake
//!    ([`crate::handshake::validate`]) for `notificationUrl` and `lifecycleNotificationUrl`,
//! 4. store it, answer `201` with [`Subscription::to_response`].
//!
//! On `PATCH /subscriptions/{id}`: [`SubscriptionPatch::from_json`], [`validate_patch`], handshake
//! for every URL in [`PatchOutcome::revalidate`], store, answer `200` with the subscription.

mod filter;

pub use filter::{MAX_DEPTH as MAX_FILTER_DEPTH, ResourceFilter};

use jiff::{SignedDuration, Timestamp};
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

use crate::error::SubscriptionError;
use crate::guard;

/// Maximum lifetime of a callRecord subscription: 4,230 minutes.
pub const MAX_EXPIRATION: SignedDuration = SignedDuration::from_mins(4230);
/// Maximum call-record subscriptions per organization.
pub const MAX_SUBSCRIPTIONS_PER_TENANT: usize = 100;
/// Maximum `clientState` length, in UTF-16 code units (what .NET's `string.Length` counts).
pub const MAX_CLIENT_STATE_LEN: usize = 128;
/// The subscribable collection, without leading slash.
pub const CALL_RECORDS_PATH: &str = "communications/callRecords";
/// `latestSupportedTlsVersion` when the create body has none.
pub const DEFAULT_TLS_VERSION: &str = "v1_2";
/// `notificationContentType` Graph reports.
pub const NOTIFICATION_CONTENT_TYPE: &str = "application/json";

const TLS_VERSIONS: [&str; 4] = ["v1_0", "v1_1", "v1_2", "v1_3"];

/// The Graph `subscription` entity as stored and rendered.
///
/// Serializes with Graph's property order and explicit `null`s (as Graph answers without
/// `Prefer: omit-values=nulls`); [`Subscription::to_response`] adds `@odata.context`.
/// `expirationDateTime` renders like jiff's RFC 3339 (UTC `Z`, as many fractional digits as
/// needed, so `2016-11-20T18:23:45.9356913Z` comes back unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Subscription id (a GUID).
    pub id: String,
    /// The resource as given on create (`/communications/callRecords[?$filter=...]`).
    pub resource: String,
    /// Id of the app that created it (read-only).
    pub application_id: Option<String>,
    /// `created`, `updated` or both, comma-separated, as given on create.
    pub change_type: String,
    /// Echoed in every notification.
    pub client_state: Option<String>,
    /// Where change notifications go.
    pub notification_url: String,
    /// Not used for call records; stored and echoed.
    pub notification_query_options: Option<String>,
    /// Where lifecycle notifications go (only settable on create).
    pub lifecycle_notification_url: Option<String>,
    /// When the subscription expires.
    pub expiration_date_time: Timestamp,
    /// Id of the user or service principal that created it (read-only).
    pub creator_id: Option<String>,
    /// Rich notifications: not supported for call records (always `null` or `false`).
    pub include_resource_data: Option<bool>,
    /// `v1_0`..`v1_3`, default `v1_2`.
    pub latest_supported_tls_version: Option<String>,
    /// Stored and echoed (only used with rich notifications).
    pub encryption_certificate: Option<String>,
    /// Stored and echoed.
    pub encryption_certificate_id: Option<String>,
    /// Stored and echoed.
    pub notification_url_app_id: Option<String>,
    /// `application/json` (in Graph's example response, not in CSDL).
    pub notification_content_type: Option<String>,
}

#[derive(Serialize)]
struct Response<'a> {
    #[serde(rename = "@odata.context")]
    context: String,
    #[serde(flatten)]
    sub: &'a Subscription,
}

impl Subscription {
    /// The response body of create / get / PATCH: `@odata.context`
    /// `{origin}/v1.0/$metadata#subscriptions/$entity` followed by every property.
    /// `origin` is scheme + authority without trailing slash (`https://graph.microsoft.com`).
    pub fn to_response(&self, origin: &str) -> serde_json::Value {
        let r = Response {
            context: format!(
                "{}/v1.0/$metadata#subscriptions/$entity",
                origin.trim_end_matches('/')
            ),
            sub: self,
        };
        serde_json::to_value(r).unwrap_or(serde_json::Value::Null)
    }

    /// Parsed change types (fails only for a subscription not produced by [`validate_create`]).
    pub fn change_types(&self) -> Result<ChangeTypes, SubscriptionError> {
        ChangeTypes::parse(&self.change_type)
    }

    /// Parsed resource (fails only for a subscription not produced by [`validate_create`]).
    pub fn parsed_resource(&self) -> Result<ParsedResource, SubscriptionError> {
        ParsedResource::parse(&self.resource)
    }

    /// Whether the subscription has expired at `now` (expiration is exclusive).
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expiration_date_time <= now
    }
}

/// The `changeType` of a subscription as a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChangeTypes {
    /// `created` is subscribed.
    pub created: bool,
    /// `updated` is subscribed.
    pub updated: bool,
}

impl ChangeTypes {
    /// Parses `created`, `updated`, `created,updated` or `updated,created` (whitespace around
    /// items ignored). Anything else (including `deleted`, duplicates, empty items) is a 400.
    pub fn parse(s: &str) -> Result<Self, SubscriptionError> {
        let mut out = Self::default();
        for item in s.split(',') {
            let slot = match item.trim() {
                "created" => &mut out.created,
                "updated" => &mut out.updated,
                other => {
                    return Err(SubscriptionError::invalid(format!(
                        "Invalid 'changeType' value '{other}'. Supported values for communications/callRecords: created, updated"
                    )));
                }
            };
            if *slot {
                return Err(SubscriptionError::invalid(format!(
                    "Invalid 'changeType' value '{s}': '{}' is listed twice",
                    item.trim()
                )));
            }
            *slot = true;
        }
        Ok(out)
    }

    /// Which change type (if any) a record version notifies this subscription with.
    ///
    /// `first_seen`: this subscription has not been notified of the record before. The first
    /// notification is sent as `created` to both `created` and `updated` subscriptions (an
    /// `updated` subscription gets "that initial notification plus one per later modification",
    /// spec §10.1, and the newest doc example shows `"changeType":"created"` items for an
    /// `updated` subscription). Later versions notify `updated` subscriptions only.
    pub fn notify_as(self, first_seen: bool) -> Option<crate::payload::ChangeType> {
        use crate::payload::ChangeType;
        if first_seen && (self.created || self.updated) {
            Some(ChangeType::Created)
        } else if !first_seen && self.updated {
            Some(ChangeType::Updated)
        } else {
            None
        }
    }
}

/// A subscription resource split into the collection and the optional participant filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedResource {
    /// The participant filter, if any.
    pub filter: Option<ResourceFilter>,
}

impl ParsedResource {
    /// Parses `[/]communications/callRecords[?$filter=participants/any(...)]`. The path is
    /// matched ASCII-case-insensitively; the query may be percent-encoded; `$filter` is the only
    /// query option and may appear once.
    pub fn parse(resource: &str) -> Result<Self, SubscriptionError> {
        let unsupported = || {
            SubscriptionError::invalid(format!(
                "Unsupported resource '{resource}'. Supported: /communications/callRecords, optionally with ?$filter=participants/any(p:p/id eq '{{id}}')"
            ))
        };
        let trimmed = resource.trim();
        let rel = trimmed.strip_prefix('/').unwrap_or(trimmed);
        let (path, query) = match rel.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rel, None),
        };
        if !path.eq_ignore_ascii_case(CALL_RECORDS_PATH) {
            return Err(unsupported());
        }
        let Some(query) = query else {
            return Ok(Self { filter: None });
        };
        let mut filter = None;
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let k = percent_decode_str(k).decode_utf8_lossy();
            if k != "$filter" {
                return Err(SubscriptionError::invalid(format!(
                    "Unsupported query option '{k}' in resource '{resource}'; only $filter is supported"
                )));
            }
            if filter.is_some() {
                return Err(SubscriptionError::invalid(format!(
                    "$filter is given twice in resource '{resource}'"
                )));
            }
            let v = percent_decode_str(v)
                .decode_utf8()
                .map_err(|_| unsupported())?;
            filter = Some(ResourceFilter::parse(&v).map_err(|why| {
                SubscriptionError::invalid(format!(
                    "Invalid filter in resource '{resource}': {why}"
                ))
            })?);
        }
        Ok(Self { filter })
    }

    /// Whether a record version with these participant ids notifies the subscription
    /// (always true without a filter).
    pub fn matches(&self, participant_ids: &[&str]) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| f.matches(participant_ids))
    }

    /// Key used to detect duplicates: two resources are the same when they name the same
    /// collection and the same set of participant ids, however spelled.
    pub fn canonical(&self) -> String {
        match &self.filter {
            None => CALL_RECORDS_PATH.to_owned(),
            Some(f) => format!("{CALL_RECORDS_PATH}?$filter={}", f.canonical()),
        }
    }
}

/// The body of `POST /subscriptions`. Every property is optional here so that missing or
/// malformed values get Graph's 400 from [`validate_create`] rather than a serde message.
/// Read-only properties (`id`, `applicationId`, `creatorId`) are accepted and ignored, as are
/// unknown properties.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionCreate {
    /// Required.
    pub change_type: Option<String>,
    /// Required.
    pub notification_url: Option<String>,
    /// Required.
    pub resource: Option<String>,
    /// Required (DateTimeOffset text).
    pub expiration_date_time: Option<String>,
    /// Optional, ≤ 128 characters.
    pub client_state: Option<String>,
    /// Optional; validated like `notificationUrl`.
    pub lifecycle_notification_url: Option<String>,
    /// Optional, stored.
    pub notification_query_options: Option<String>,
    /// Must be absent, null or false for call records.
    pub include_resource_data: Option<bool>,
    /// Optional, stored.
    pub encryption_certificate: Option<String>,
    /// Optional, stored.
    pub encryption_certificate_id: Option<String>,
    /// `v1_0`, `v1_1`, `v1_2` (default) or `v1_3`.
    pub latest_supported_tls_version: Option<String>,
    /// Optional, stored.
    pub notification_url_app_id: Option<String>,
    /// Optional; only `application/json`.
    pub notification_content_type: Option<String>,
    /// Read-only: ignored.
    pub id: Option<String>,
    /// Read-only: ignored.
    pub application_id: Option<String>,
    /// Read-only: ignored.
    pub creator_id: Option<String>,
}

impl SubscriptionCreate {
    /// Parses a request body; anything that is not a JSON object of the right shape is a 400.
    pub fn from_json(body: &[u8]) -> Result<Self, SubscriptionError> {
        serde_json::from_slice(body).map_err(|e| {
            SubscriptionError::invalid(format!("Invalid subscription request body: {e}"))
        })
    }
}

/// An existing subscription, as the quota and duplicate checks need it.
#[derive(Debug, Clone, Copy)]
pub struct Existing<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its `applicationId`.
    pub application_id: Option<&'a str>,
    /// Its `changeType`.
    pub change_type: &'a str,
    /// Its `resource`.
    pub resource: &'a str,
}

impl<'a> From<&'a Subscription> for Existing<'a> {
    fn from(s: &'a Subscription) -> Self {
        Self {
            id: &s.id,
            application_id: s.application_id.as_deref(),
            change_type: &s.change_type,
            resource: &s.resource,
        }
    }
}

/// Everything [`validate_create`] needs besides the body.
#[derive(Debug, Clone)]
pub struct CreateContext<'a> {
    /// The current time.
    pub now: Timestamp,
    /// Id for the new subscription (the caller generates it, e.g. a v4 UUID).
    pub new_id: &'a str,
    /// The calling app (`applicationId`).
    pub application_id: &'a str,
    /// The calling principal (`creatorId`), if known.
    pub creator_id: Option<&'a str>,
    /// The tenant's live (unexpired) call-record subscriptions, of every app.
    pub existing: &'a [Existing<'a>],
}

/// Validates a create body; on success returns the subscription to store (after the handshake).
///
/// Checks, in order (first failure wins): required properties; `changeType`; `resource`
/// (and its filter); `includeResourceData`; `notificationUrl` and `lifecycleNotificationUrl`
/// (https, or http to loopback); `expirationDateTime` (in the future, ≤ 4,230 minutes ahead);
/// `clientState` length; `latestSupportedTlsVersion`; `notificationContentType`; duplicate
/// (409); quota (403).
pub fn validate_create(
    body: &SubscriptionCreate,
    ctx: &CreateContext<'_>,
) -> Result<Subscription, SubscriptionError> {
    let required = |v: &Option<String>, name: &str| -> Result<String, SubscriptionError> {
        match v.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => Ok(s.to_owned()),
            _ => Err(SubscriptionError::invalid(format!(
                "The '{name}' property is required"
            ))),
        }
    };
    let change_type = required(&body.change_type, "changeType")?;
    let notification_url = required(&body.notification_url, "notificationUrl")?;
    let resource = required(&body.resource, "resource")?;
    let expiration = required(&body.expiration_date_time, "expirationDateTime")?;

    let change_types = ChangeTypes::parse(&change_type)?;
    let parsed = ParsedResource::parse(&resource)?;
    if body.include_resource_data == Some(true) {
        return Err(SubscriptionError::invalid(
            "includeResourceData is not supported for resource communications/callRecords",
        ));
    }
    check_url("notificationUrl", &notification_url)?;
    if let Some(u) = &body.lifecycle_notification_url {
        check_url("lifecycleNotificationUrl", u)?;
    }
    let expiration_date_time = check_expiration(&expiration, ctx.now)?;
    if let Some(cs) = &body.client_state {
        check_client_state(cs)?;
    }
    let tls = match body.latest_supported_tls_version.as_deref() {
        None => DEFAULT_TLS_VERSION,
        Some(v) => TLS_VERSIONS.iter().copied().find(|t| *t == v).ok_or_else(|| {
            SubscriptionError::invalid(format!(
                "Invalid 'latestSupportedTlsVersion' value '{v}'. Supported values: v1_0, v1_1, v1_2, v1_3"
            ))
        })?,
    };
    if let Some(ct) = body.notification_content_type.as_deref()
        && !ct.eq_ignore_ascii_case(NOTIFICATION_CONTENT_TYPE)
    {
        return Err(SubscriptionError::invalid(format!(
            "Invalid 'notificationContentType' value '{ct}'. Supported: application/json"
        )));
    }

    let key = parsed.canonical();
    for e in ctx.existing {
        if e.application_id != Some(ctx.application_id) {
            continue;
        }
        let same_types = ChangeTypes::parse(e.change_type).is_ok_and(|t| t == change_types);
        let same_resource = ParsedResource::parse(e.resource).is_ok_and(|r| r.canonical() == key);
        if same_types && same_resource {
            return Err(SubscriptionError::Duplicate {
                existing_id: e.id.to_owned(),
            });
        }
    }
    if ctx.existing.len() >= MAX_SUBSCRIPTIONS_PER_TENANT {
        return Err(SubscriptionError::QuotaExceeded {
            limit: MAX_SUBSCRIPTIONS_PER_TENANT,
        });
    }

    Ok(Subscription {
        id: ctx.new_id.to_owned(),
        resource,
        application_id: Some(ctx.application_id.to_owned()),
        change_type,
        client_state: body.client_state.clone(),
        notification_url,
        notification_query_options: body.notification_query_options.clone(),
        lifecycle_notification_url: body.lifecycle_notification_url.clone(),
        expiration_date_time,
        creator_id: ctx.creator_id.map(str::to_owned),
        include_resource_data: body.include_resource_data,
        latest_supported_tls_version: Some(tls.to_owned()),
        encryption_certificate: body.encryption_certificate.clone(),
        encryption_certificate_id: body.encryption_certificate_id.clone(),
        notification_url_app_id: body.notification_url_app_id.clone(),
        notification_content_type: Some(NOTIFICATION_CONTENT_TYPE.to_owned()),
    })
}

fn check_url(name: &str, url: &str) -> Result<(), SubscriptionError> {
    guard::check_scheme(url)
        .map(drop)
        .map_err(|e| SubscriptionError::invalid(format!("Invalid '{name}': {e}")))
}

fn check_client_state(cs: &str) -> Result<(), SubscriptionError> {
    let len = cs.encode_utf16().count();
    if len > MAX_CLIENT_STATE_LEN {
        return Err(SubscriptionError::invalid(format!(
            "clientState must be at most {MAX_CLIENT_STATE_LEN} characters long (got {len})"
        )));
    }
    Ok(())
}

/// Parses a DateTimeOffset (RFC 3339 with `Z` or an offset; a value without offset is taken
/// as UTC, as Graph does) and checks `now < t <= now + 4230 min`.
pub fn check_expiration(text: &str, now: Timestamp) -> Result<Timestamp, SubscriptionError> {
    let t = parse_date_time_offset(text).ok_or_else(|| {
        SubscriptionError::invalid(format!(
            "Invalid 'expirationDateTime' value '{text}': expected a DateTimeOffset such as 2023-02-28T00:00:00.0000000Z"
        ))
    })?;
    if t <= now {
        return Err(SubscriptionError::ExpirationInPast);
    }
    // Timestamp::MAX - now cannot overflow a SignedDuration; compare durations.
    if t.duration_since(now) > MAX_EXPIRATION {
        return Err(SubscriptionError::ExpirationTooFar);
    }
    Ok(t)
}

fn parse_date_time_offset(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some(t);
    }
    let civil: jiff::civil::DateTime = text.parse().ok()?;
    jiff::tz::TimeZone::UTC.to_timestamp(civil).ok()
}

/// The body of `PATCH /subscriptions/{id}`: `expirationDateTime` and `notificationUrl` may
/// change; `lifecycleNotificationUrl` may change only if the subscription already has one.
/// Any other property present is a 400 (captured in `other`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionPatch {
    /// New expiration (same limits as create, from now).
    pub expiration_date_time: Option<String>,
    /// New notification URL (needs a new validation handshake).
    pub notification_url: Option<String>,
    /// New lifecycle URL; refused when the subscription has none.
    pub lifecycle_notification_url: Option<String>,
    /// Every other property of the body.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl SubscriptionPatch {
    /// Parses a request body; anything that is not a JSON object of the right shape is a 400.
    pub fn from_json(body: &[u8]) -> Result<Self, SubscriptionError> {
        serde_json::from_slice(body).map_err(|e| {
            SubscriptionError::invalid(format!("Invalid subscription update body: {e}"))
        })
    }
}

/// A validated PATCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchOutcome {
    /// The subscription with the changes applied.
    pub subscription: Subscription,
    /// URLs that changed and must pass the validation handshake before storing.
    pub revalidate: Vec<String>,
}

/// Validates a PATCH against the stored subscription at `now`.
pub fn validate_patch(
    current: &Subscription,
    patch: &SubscriptionPatch,
    now: Timestamp,
) -> Result<PatchOutcome, SubscriptionError> {
    if let Some(name) = patch.other.keys().find(|k| k.as_str() != "@odata.type") {
        return Err(SubscriptionError::invalid(format!(
            "Property '{name}' cannot be updated. Only expirationDateTime, notificationUrl and an existing lifecycleNotificationUrl can be updated"
        )));
    }
    let mut sub = current.clone();
    let mut revalidate = Vec::new();
    if let Some(e) = &patch.expiration_date_time {
        sub.expiration_date_time = check_expiration(e, now)?;
    }
    if let Some(u) = &patch.notification_url {
        check_url("notificationUrl", u)?;
        if *u != current.notification_url {
            revalidate.push(u.clone());
        }
        sub.notification_url = u.clone();
    }
    if let Some(u) = &patch.lifecycle_notification_url {
        let Some(old) = &current.lifecycle_notification_url else {
            return Err(SubscriptionError::invalid(
                "lifecycleNotificationUrl can only be set when the subscription is created",
            ));
        };
        check_url("lifecycleNotificationUrl", u)?;
        if u != old {
            revalidate.push(u.clone());
        }
        sub.lifecycle_notification_url = Some(u.clone());
    }
    Ok(PatchOutcome {
        subscription: sub,
        revalidate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2023-02-25T02:00:00Z";

    fn now() -> Timestamp {
        NOW.parse().unwrap()
    }

    fn body() -> SubscriptionCreate {
        SubscriptionCreate::from_json(include_bytes!(
            "../tests/fixtures/concepts__changenotifications-for-callrecords__request-2.json"
        ))
        .unwrap()
    }

    fn ctx<'a>(existing: &'a [Existing<'a>]) -> CreateContext<'a> {
        CreateContext {
            now: now(),
            new_id: "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
            application_id: "24d3b144-21ae-4080-943f-7067b395b913",
            creator_id: Some("8ee44408-0679-472c-bc2a-692812af3437"),
            existing,
        }
    }

    fn err(b: &SubscriptionCreate) -> SubscriptionError {
        validate_create(b, &ctx(&[])).unwrap_err()
    }

    #[test]
    fn doc_examples_validate() {
        for f in [
            &include_bytes!(
                "../tests/fixtures/concepts__changenotifications-for-callrecords__request-1.json"
            )[..],
            &include_bytes!(
                "../tests/fixtures/concepts__changenotifications-for-callrecords__request-2.json"
            )[..],
            &include_bytes!(
                "../tests/fixtures/concepts__changenotifications-for-callrecords__legacy-request-1.json"
            )[..],
        ] {
            let b = SubscriptionCreate::from_json(f).unwrap();
            let s = validate_create(&b, &ctx(&[])).unwrap();
            assert_eq!(
                s.expiration_date_time,
                "2023-02-28T00:00:00Z".parse().unwrap()
            );
            assert_eq!(s.latest_supported_tls_version.as_deref(), Some("v1_2"));
        }
        let s = validate_create(&body(), &ctx(&[])).unwrap();
        let f = s.parsed_resource().unwrap();
        assert!(f.matches(&["{entra object id}"]));
        assert!(!f.matches(&["someone else"]));
    }

    #[test]
    fn response_renders_like_graphs_example() {
        let example: serde_json::Value = serde_json::from_slice(include_bytes!(
            "../tests/fixtures/v1.0__subscription-post-subscriptions__response-1.json"
        ))
        .unwrap();
        let req = SubscriptionCreate::from_json(include_bytes!(
            "../tests/fixtures/v1.0__subscription-post-subscriptions__request-1.json"
        ))
        .unwrap();
        // The example subscribes to a mail resource; build the entity directly from it.
        let sub = Subscription {
            id: "7f105c7d-2dc5-4530-97cd-4e7ae6534c07".into(),
            resource: req.resource.clone().unwrap(),
            application_id: Some("24d3b144-21ae-4080-943f-7067b395b913".into()),
            change_type: req.change_type.clone().unwrap(),
            client_state: req.client_state.clone(),
            notification_url: req.notification_url.clone().unwrap(),
            notification_query_options: None,
            lifecycle_notification_url: None,
            expiration_date_time: req
                .expiration_date_time
                .as_deref()
                .unwrap()
                .parse()
                .unwrap(),
            creator_id: Some("8ee44408-0679-472c-bc2a-692812af3437".into()),
            include_resource_data: None,
            latest_supported_tls_version: req.latest_supported_tls_version.clone(),
            encryption_certificate: None,
            encryption_certificate_id: None,
            notification_url_app_id: None,
            notification_content_type: Some("application/json".into()),
        };
        let got = sub.to_response("https://graph.microsoft.com/");
        let obj = got.as_object().unwrap();
        // Every CSDL property is present (nulls explicit) ...
        for k in [
            "applicationId",
            "changeType",
            "clientState",
            "creatorId",
            "encryptionCertificate",
            "encryptionCertificateId",
            "expirationDateTime",
            "includeResourceData",
            "latestSupportedTlsVersion",
            "lifecycleNotificationUrl",
            "notificationQueryOptions",
            "notificationUrl",
            "notificationUrlAppId",
            "resource",
            "id",
            "notificationContentType",
        ] {
            assert!(obj.contains_key(k), "{k} missing");
        }
        // ... and without the nulls it is the example, key order included.
        let mut non_null = obj.clone();
        non_null.retain(|_, v| !v.is_null());
        assert_eq!(
            serde_json::to_string(&non_null).unwrap(),
            serde_json::to_string(&example).unwrap()
        );
        // Round-trips through storage.
        let back: Subscription = serde_json::from_value(got).unwrap();
        assert_eq!(back, sub);
    }

    #[test]
    fn change_type_values() {
        for ok in [
            "created",
            "updated",
            "created,updated",
            "updated,created",
            " created , updated ",
        ] {
            let mut b = body();
            b.change_type = Some(ok.into());
            assert!(validate_create(&b, &ctx(&[])).is_ok(), "{ok}");
        }
        for bad in [
            "deleted",
            "created,created",
            "created,",
            ",updated",
            "Created",
            "created;updated",
            "created,updated,deleted",
        ] {
            let mut b = body();
            b.change_type = Some(bad.into());
            let e = err(&b);
            assert_eq!((e.status(), e.code()), (400, "InvalidRequest"), "{bad}");
        }
        let t = ChangeTypes::parse("updated").unwrap();
        use crate::payload::ChangeType;
        assert_eq!(t.notify_as(true), Some(ChangeType::Created));
        assert_eq!(t.notify_as(false), Some(ChangeType::Updated));
        let c = ChangeTypes::parse("created").unwrap();
        assert_eq!(c.notify_as(true), Some(ChangeType::Created));
        assert_eq!(c.notify_as(false), None);
    }

    #[test]
    fn resources() {
        for ok in [
            "/communications/callRecords",
            "communications/callRecords",
            "communications/callrecords",
            "/communications/callRecords?$filter=participants/any(p:p/id eq 'a')",
            "/communications/callRecords?%24filter=participants%2Fany(p%3Ap%2Fid%20eq%20'a')",
            "communications/callRecords?$filter=participants/any(p:p/id in ('a','b'))",
        ] {
            assert!(ParsedResource::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/communications/callRecords/abc",
            "/communications/onlineMeetings",
            "//communications/callRecords",
            "me/messages",
            "/communications/callRecords?$filter=startDateTime ge 2023-01-01T00:00:00Z",
            "/communications/callRecords?$top=5",
            "/communications/callRecords?$filter=participants/any(p:p/id eq 'a')&$filter=participants/any(p:p/id eq 'b')",
            "/communications/callRecords?$filter=participants_v2/any(p:p/id eq 'a')",
            "/communications/callRecords?$filter=",
        ] {
            let e = ParsedResource::parse(bad).unwrap_err();
            assert_eq!(e.status(), 400, "{bad}");
        }
        assert!(
            ParsedResource::parse("/communications/callRecords")
                .unwrap()
                .matches(&[])
        );
        let a = ParsedResource::parse(
            "communications/callRecords?$filter=participants/any(p:p/id eq 'A' or p/id eq 'b')",
        )
        .unwrap();
        let b = ParsedResource::parse(
            "/communications/callRecords?$filter=participants/any(x:x/id in ('b','a'))",
        )
        .unwrap();
        assert_eq!(a.canonical(), b.canonical());
    }

    #[test]
    fn required_properties() {
        for which in 0..4 {
            let mut b = body();
            match which {
                0 => b.change_type = None,
                1 => b.notification_url = Some(String::new()),
                2 => b.resource = None,
                _ => b.expiration_date_time = None,
            }
            assert_eq!(err(&b).code(), "InvalidRequest");
        }
        assert_eq!(
            SubscriptionCreate::from_json(b"[1]").unwrap_err().status(),
            400
        );
        assert_eq!(
            SubscriptionCreate::from_json(br#"{"changeType": 5}"#)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            SubscriptionCreate::from_json(b"\xff").unwrap_err().status(),
            400
        );
    }

    #[test]
    fn expiration_boundaries() {
        let n = now();
        let at = |d: SignedDuration| (n + d).to_string();
        let mut b = body();
        b.expiration_date_time = Some(at(MAX_EXPIRATION));
        assert!(
            validate_create(&b, &ctx(&[])).is_ok(),
            "exactly 4230 min is fine"
        );
        b.expiration_date_time = Some(at(MAX_EXPIRATION + SignedDuration::from_secs(1)));
        assert_eq!(err(&b), SubscriptionError::ExpirationTooFar);
        assert_eq!(
            err(&b).message(),
            "Subscription expiration can only be 4230 minutes in the future"
        );
        assert_eq!((err(&b).status(), err(&b).code()), (400, "ExtensionError"));
        b.expiration_date_time = Some(at(MAX_EXPIRATION + SignedDuration::from_nanos(100)));
        assert_eq!(err(&b), SubscriptionError::ExpirationTooFar);
        b.expiration_date_time = Some(at(SignedDuration::from_nanos(100)));
        assert!(validate_create(&b, &ctx(&[])).is_ok());
        b.expiration_date_time = Some(NOW.into());
        assert_eq!(err(&b), SubscriptionError::ExpirationInPast);
        b.expiration_date_time = Some("2020-01-01T00:00:00Z".into());
        assert_eq!(err(&b), SubscriptionError::ExpirationInPast);
        b.expiration_date_time = Some("9000-01-01T00:00:00Z".into());
        assert_eq!(err(&b), SubscriptionError::ExpirationTooFar);
        b.expiration_date_time = Some("2023-02-26T02:00:00+02:00".into());
        assert_eq!(
            validate_create(&b, &ctx(&[])).unwrap().expiration_date_time,
            "2023-02-26T00:00:00Z".parse().unwrap()
        );
        b.expiration_date_time = Some("2023-02-26T00:00:00.0000000".into());
        assert!(
            validate_create(&b, &ctx(&[])).is_ok(),
            "no offset means UTC"
        );
        for bad in ["tomorrow", "", "2023-02-30T00:00:00Z", "1677369600"] {
            b.expiration_date_time = Some(bad.into());
            assert_eq!(err(&b).code(), "InvalidRequest", "{bad}");
        }
    }

    #[test]
    fn client_state_length() {
        let mut b = body();
        b.client_state = Some("x".repeat(128));
        assert!(validate_create(&b, &ctx(&[])).is_ok());
        b.client_state = Some("x".repeat(129));
        assert_eq!(err(&b).status(), 400);
        b.client_state = Some("é".repeat(128));
        assert!(
            validate_create(&b, &ctx(&[])).is_ok(),
            "characters, not bytes"
        );
        b.client_state = Some("😀".repeat(65));
        assert_eq!(err(&b).status(), 400, "UTF-16 code units, as .NET counts");
        b.client_state = None;
        assert_eq!(validate_create(&b, &ctx(&[])).unwrap().client_state, None);
    }

    #[test]
    fn urls() {
        for ok in [
            "https://example.com/x?a=b",
            "http://127.0.0.1:9000/x",
            "http://[::1]/x",
            "http://localhost:8080/",
        ] {
            let mut b = body();
            b.notification_url = Some(ok.into());
            b.lifecycle_notification_url = Some(ok.into());
            assert!(validate_create(&b, &ctx(&[])).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/x",
            "http://10.0.0.1/x",
            "ftp://example.com",
            "not a url",
        ] {
            let mut b = body();
            b.notification_url = Some(bad.into());
            assert_eq!(err(&b).status(), 400, "{bad}");
            let mut b = body();
            b.lifecycle_notification_url = Some(bad.into());
            assert_eq!(err(&b).status(), 400, "{bad}");
        }
    }

    #[test]
    fn other_properties() {
        let mut b = body();
        b.include_resource_data = Some(true);
        assert_eq!(err(&b).status(), 400);
        b.include_resource_data = Some(false);
        assert!(validate_create(&b, &ctx(&[])).is_ok());
        b.latest_supported_tls_version = Some("v1_3".into());
        assert_eq!(
            validate_create(&b, &ctx(&[]))
                .unwrap()
                .latest_supported_tls_version
                .as_deref(),
            Some("v1_3")
        );
        b.latest_supported_tls_version = Some("v2_0".into());
        assert_eq!(err(&b).status(), 400);
        let mut b = body();
        b.notification_content_type = Some("application/xml".into());
        assert_eq!(err(&b).status(), 400);
        let mut b = body();
        b.id = Some("chosen-by-client".into());
        b.application_id = Some("spoofed".into());
        let s = validate_create(&b, &ctx(&[])).unwrap();
        assert_eq!(s.id, "7f105c7d-2dc5-4530-97cd-4e7ae6534c07");
        assert_eq!(
            s.application_id.as_deref(),
            Some("24d3b144-21ae-4080-943f-7067b395b913")
        );
    }

    #[test]
    fn duplicate_and_quota() {
        let app = "24d3b144-21ae-4080-943f-7067b395b913";
        let dup = Existing {
            id: "11111111-1111-1111-1111-111111111111",
            application_id: Some(app),
            change_type: "updated",
            resource: "communications/callRecords?$filter=participants/any(q:q/id in ('{Entra object id}'))",
        };
        let e = validate_create(&body(), &ctx(&[dup])).unwrap_err();
        assert_eq!(e.status(), 409);
        assert_eq!(
            e.message(),
            "Subscription Id 11111111-1111-1111-1111-111111111111 already exists for the requested combination"
        );
        // Another app, another changeType or another resource is not a duplicate.
        for other in [
            Existing {
                application_id: Some("other-app"),
                ..dup
            },
            Existing {
                change_type: "created,updated",
                ..dup
            },
            Existing {
                resource: "/communications/callRecords",
                ..dup
            },
        ] {
            assert!(validate_create(&body(), &ctx(&[other])).is_ok());
        }
        let mut b = body();
        b.change_type = Some("created,updated".into());
        b.resource = Some("/communications/callRecords".into());
        let same = Existing {
            change_type: "updated,created",
            resource: "communications/callRecords",
            ..dup
        };
        assert_eq!(
            validate_create(&b, &ctx(&[same])).unwrap_err().status(),
            409
        );

        let others: Vec<Existing<'_>> = (0..MAX_SUBSCRIPTIONS_PER_TENANT)
            .map(|_| Existing {
                application_id: Some("x"),
                ..dup
            })
            .collect();
        assert!(
            validate_create(&body(), &ctx(&others[..99])).is_ok(),
            "99 existing: the 100th is fine"
        );
        let e = validate_create(&body(), &ctx(&others)).unwrap_err();
        assert_eq!(e, SubscriptionError::QuotaExceeded { limit: 100 });
        assert_eq!(e.status(), 403);
    }

    fn stored() -> Subscription {
        validate_create(&body(), &ctx(&[])).unwrap()
    }

    #[test]
    fn patch_expiration_and_urls() {
        let s = stored();
        let p = SubscriptionPatch::from_json(include_bytes!(
            "../tests/fixtures/concepts__change-notifications-delivery-webhooks__request-2.json"
        ))
        .unwrap();
        // 2016 is in the past relative to NOW.
        assert_eq!(
            validate_patch(&s, &p, now()).unwrap_err(),
            SubscriptionError::ExpirationInPast
        );
        let p = SubscriptionPatch {
            expiration_date_time: Some((now() + MAX_EXPIRATION).to_string()),
            ..Default::default()
        };
        let out = validate_patch(&s, &p, now()).unwrap();
        assert_eq!(
            out.subscription.expiration_date_time,
            now() + MAX_EXPIRATION
        );
        assert!(out.revalidate.is_empty());
        let p = SubscriptionPatch {
            expiration_date_time: Some(
                (now() + MAX_EXPIRATION + SignedDuration::from_secs(1)).to_string(),
            ),
            ..Default::default()
        };
        assert_eq!(
            validate_patch(&s, &p, now()).unwrap_err(),
            SubscriptionError::ExpirationTooFar
        );

        let p =
            SubscriptionPatch::from_json(br#"{"notificationUrl":"https://new.example.com/hook"}"#)
                .unwrap();
        let out = validate_patch(&s, &p, now()).unwrap();
        assert_eq!(out.revalidate, ["https://new.example.com/hook"]);
        assert_eq!(
            out.subscription.notification_url,
            "https://new.example.com/hook"
        );
        let p =
            SubscriptionPatch::from_json(br#"{"notificationUrl":"http://new.example.com/hook"}"#)
                .unwrap();
        assert_eq!(validate_patch(&s, &p, now()).unwrap_err().status(), 400);

        let p = SubscriptionPatch::from_json(
            br#"{"lifecycleNotificationUrl":"https://l.example.com/"}"#,
        )
        .unwrap();
        let out = validate_patch(&s, &p, now()).unwrap();
        assert_eq!(out.revalidate, ["https://l.example.com/"]);
        let mut none = s.clone();
        none.lifecycle_notification_url = None;
        assert_eq!(
            validate_patch(&none, &p, now()).unwrap_err().status(),
            400,
            "cannot be added by PATCH"
        );

        for body in [
            &br#"{"changeType":"created"}"#[..],
            br#"{"resource":"/communications/callRecords"}"#,
            br#"{"clientState":"x"}"#,
        ] {
            let p = SubscriptionPatch::from_json(body).unwrap();
            assert_eq!(validate_patch(&s, &p, now()).unwrap_err().status(), 400);
        }
        let out = validate_patch(&s, &SubscriptionPatch::from_json(b"{}").unwrap(), now()).unwrap();
        assert_eq!(out.subscription, s);
        assert_eq!(
            SubscriptionPatch::from_json(b"null").unwrap_err().status(),
            400
        );
    }

    #[test]
    fn expiry() {
        let s = stored();
        assert!(!s.is_expired(now()));
        assert!(s.is_expired(s.expiration_date_time));
    }
}
