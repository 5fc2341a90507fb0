#![forbid(unsafe_code)]
//! Graph-faithful change notifications for call records, without storage.
//!
//! The store (subscriptions, outbox, per-subscription change-feed cursors) and the HTTP API call
//! into this crate:
//!
//! * [`subscription`]: the Graph `subscription` resource, create/PATCH validation
//!   ([`subscription::validate_create`], [`subscription::validate_patch`]) and the participant
//!   filter ([`subscription::ResourceFilter`]).
//! * [`handshake`]: the `validationToken` echo test of a notification URL.
//! * [`guard`]: which destinations webhooks may reach (SSRF guard, `--webhook-allow`).
//! * [`payload`]: `changeNotificationCollection` bodies and batching.
//! * [`policy`]: retry schedules (`--delivery graph|reliable`) and endpoint health, as pure
//!   state machines.
//! * [`signing`]: Standard Webhooks signature headers.
//! * [`clock`]: the notifier's time source (system, or manual in tests).
//! * [`deliver`]: the HTTP POST itself, as a typed attempt outcome.
//! * [`error`]: [`SubscriptionError`], the status + Graph code + message of a refusal.

pub mod clock;
pub mod deliver;
pub mod error;
pub mod guard;
pub mod handshake;
pub mod payload;
pub mod policy;
pub mod signing;
pub mod subscription;
pub mod worker;

pub use error::SubscriptionError;

/// The notifier's change-feed consumer name (its durable cursor).
pub const CONSUMER: &str = "notify";
