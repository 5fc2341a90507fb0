//! The notifier's flags of `serve` and starting it.

use std::sync::Arc;

use anyhow::Context;
use callrecords_api::subscriptions::WebhookSettings;
use callrecords_notify::deliver::Deliverer;
use callrecords_notify::guard::WebhookGuard;
use callrecords_notify::policy::{DeliveryMode, DeliveryPolicy};
use callrecords_notify::worker::{Notifier, WorkerConfig};
use callrecords_store::Store;
use jiff::SignedDuration;

/// Change-notification flags of `serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct NotifyArgs {
    /// Webhook delivery: `graph` (Graph's documented retries and drops) or `reliable` (honours
    /// Retry-After, never drops for slowness, retries up to --delivery-horizon). Default: reliable,
    /// graph under --fake.
    #[arg(long, env = "CALLRECORDS_DELIVERY")]
    delivery: Option<DeliveryMode>,
    /// Private networks webhooks may reach besides loopback and public addresses (CIDR,CIDR,...).
    #[arg(long, env = "CALLRECORDS_WEBHOOK_ALLOW", default_value = "")]
    webhook_allow: String,
    /// How long `reliable` delivery retries a notification (e.g. 72h, 30m).
    #[arg(long, env = "CALLRECORDS_DELIVERY_HORIZON", default_value = "72h")]
    delivery_horizon: SignedDuration,
    /// First retry backoff (doubling, jittered); mostly for tests (e.g. 10s, 200ms).
    #[arg(
        long,
        env = "CALLRECORDS_DELIVERY_BACKOFF",
        default_value = "10s",
        hide = true
    )]
    delivery_backoff: SignedDuration,
    /// How long a claimed notification stays claimed: after a crash, what was in flight is sent
    /// again once this passes (default 30s, longer than an attempt); mostly for tests.
    #[arg(
        long,
        env = "CALLRECORDS_DELIVERY_LEASE",
        default_value = "30s",
        hide = true
    )]
    delivery_lease: SignedDuration,
}

impl NotifyArgs {
    /// The handshake settings for the API, and the notifier spawned on the current runtime (`fake`:
    /// `serve --fake`, whose default delivery is Graph's); also the notifier's counter of change
    /// notifications to drop on purpose (`POST /fake/drop-next-notification`).
    pub fn start(
        &self,
        store: Arc<dyn Store>,
        fake: bool,
        observer: Arc<dyn callrecords_notify::worker::DeliveryObserver>,
    ) -> anyhow::Result<(WebhookSettings, Arc<std::sync::atomic::AtomicU64>)> {
        let guard = WebhookGuard::from_allow_list(&self.webhook_allow)
            .map_err(anyhow::Error::msg)
            .context("--webhook-allow")?;
        let default = if fake {
            DeliveryMode::Graph
        } else {
            DeliveryMode::Reliable
        };
        let mut policy = match self.delivery.unwrap_or(default) {
            DeliveryMode::Graph => DeliveryPolicy::graph(),
            DeliveryMode::Reliable => DeliveryPolicy::reliable(self.delivery_horizon),
        };
        policy.initial_backoff = self.delivery_backoff;
        policy.max_backoff = policy.max_backoff.max(self.delivery_backoff);
        let deliverer = Deliverer::new(guard.clone(), policy.attempt_timeout_std())?;
        let mut config = WorkerConfig::new(policy);
        config.lease = self.delivery_lease.unsigned_abs();
        config.observer = Some(observer);
        let drop_changes = config.drop_changes.clone();
        tokio::spawn(Notifier::new(store, deliverer, config).run());
        Ok((
            WebhookSettings {
                guard,
                ..WebhookSettings::default()
            },
            drop_changes,
        ))
    }
}
