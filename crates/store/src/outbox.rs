//! What the store keeps for change notifications: subscriptions, the outbox of notifications to deliver (with
//! every attempt), and the durable cursors with which consumers (the notifier, the quality tables, sync
//! bookkeeping) read the change feed. The rules — what a subscription may be, which change notifies whom,
//! when to retry — live in `callrecords-notify`; the store only keeps their state, atomically.

/// A stored change-notification subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRow {
    pub id: String,
    pub tenant: String,
    /// The application (client id) that created it: the duplicate rule is per application.
    pub app_id: String,
    /// The resource as normalised by the notifier (the duplicate rule compares it).
    pub resource: String,
    /// The change types as normalised by the notifier (`created`, `updated` or `created,updated`).
    pub change_types: String,
    /// `expirationDateTime`, µs since the epoch.
    pub expiration_us: i64,
    /// The subscription resource as Graph renders it (without `@odata.context`).
    pub json: String,
    /// The Standard Webhooks signing secret, when the subscription has one.
    pub secret: Option<String>,
    /// The change-feed position when it was created: changes after it may notify it.
    pub start_cursor: i64,
}

/// How [`crate::Store::create_subscription`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateSubscription {
    Created,
    /// The tenant already has the maximum number of subscriptions.
    QuotaExceeded,
    /// The same application already has a subscription with the same resource and change types.
    Duplicate {
        existing_id: String,
    },
}

/// What an outbox entry notifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationKind {
    /// A record change (`created` or `updated`) at change-feed position `change_cursor`.
    Change {
        change_type: String,
        record_id: String,
        change_cursor: i64,
    },
    /// A lifecycle event (`reauthorizationRequired`) for the subscription.
    Lifecycle { event: String },
}

/// A notification to deliver, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// Stable per notification (the same on every attempt): receivers dedupe on it.
    pub notification_id: String,
    pub subscription_id: String,
    pub tenant: String,
    /// Where it goes (the subscription's notification or lifecycle URL when it was queued).
    pub target_url: String,
    pub kind: NotificationKind,
    /// Not before this time, µs since the epoch.
    pub due_us: i64,
}

/// The state of an outbox entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    Pending,
    Delivered,
    Dropped,
}

impl DeliveryState {
    /// `pending`, `delivered` or `dropped`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dropped => "dropped",
        }
    }

    /// The inverse of [`DeliveryState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => DeliveryState::Pending,
            "delivered" => DeliveryState::Delivered,
            "dropped" => DeliveryState::Dropped,
            _ => return None,
        })
    }
}

/// A stored notification and where its delivery stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The outbox key.
    pub seq: i64,
    pub new: NewNotification,
    pub state: DeliveryState,
    pub attempts: u32,
    /// When the last attempt was made, µs.
    pub last_attempt_us: Option<i64>,
    /// What the last attempt got: an HTTP status, or a transport failure ("timeout", "connect: …").
    pub last_result: Option<String>,
    /// When it was enqueued, µs.
    pub enqueued_us: i64,
    /// When it was delivered or dropped, µs.
    pub finished_us: Option<i64>,
    /// Why it was dropped.
    pub drop_reason: Option<String>,
}

/// The result of one delivery attempt and what follows from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub at_us: i64,
    /// An HTTP status, or a transport failure.
    pub result: String,
    pub next: NextStep,
}

/// What happens to a notification after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    Delivered,
    /// Try again at this time (µs).
    RetryAt(i64),
    Dropped {
        reason: String,
    },
}
