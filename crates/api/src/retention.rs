//! The retention job of `serve --retain DURATION`: in the background, every [`Retention::every`], records,
//! versions, log rows and derived rows older than the window are purged in bounded batches
//! ([`Store::purge_expired`], one transaction of at most [`Retention::batch`] records each, a
//! [`Retention::pause`] between two, so readers and ingest keep going). On several nodes sharing one
//! database only the holder of the lease [`LEASE`] runs it ([`Store::try_lease`]). What was purged is logged
//! and counted (`callrecords_retention_purged_total{what}`).
//!
//! What "older" means is the store's rule (see [`Store::purge_expired`] and docs/operations.md): a record
//! whose served copy ended (else started, else was received) before `now − window` goes whole.

use std::sync::Arc;
use std::time::Duration;

use callrecords_store::{PurgeCounts, Store, StoreError};

use crate::telemetry::Metrics;

/// The lease that lets one node at a time run retention.
pub const LEASE: &str = "retention";

/// The settings of the retention job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Keep this much: what is older than `now − window` goes.
    pub window: Duration,
    /// Records (and log rows) per transaction.
    pub batch: usize,
    /// Pause between two batches.
    pub pause: Duration,
    /// How often to look for expired data.
    pub every: Duration,
}

impl Retention {
    /// Defaults for a window: 500 per batch, 50 ms between batches, a look every minute.
    pub fn new(window: Duration) -> Self {
        Retention {
            window,
            batch: 500,
            pause: Duration::from_millis(50),
            every: Duration::from_secs(60),
        }
    }
}

/// Parses a retention window: a whole number and a unit, `d` (days of 24 hours), `h`, `m` or `s`
/// (`400d`, `12h`, `30d`, `90m`). Zero is refused (it would purge everything as it arrives).
pub fn parse_window(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{s:?}: give a unit (d, h, m or s), e.g. 400d"))?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected a whole number and a unit, e.g. 400d"))?;
    let secs = match unit {
        "d" => n.checked_mul(86_400),
        "h" => n.checked_mul(3_600),
        "m" => n.checked_mul(60),
        "s" => Some(n),
        _ => return Err(format!("{s:?}: the unit is d, h, m or s")),
    }
    .ok_or_else(|| format!("{s:?} is too long"))?;
    if secs == 0 {
        return Err(format!("{s:?}: the window must be longer than zero"));
    }
    Ok(Duration::from_secs(secs))
}

fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// One pass: batches until nothing older than `now − window` is left (or the lease is lost). Returns what
/// was purged.
pub async fn run_once(
    store: &dyn Store,
    cfg: &Retention,
    holder: &str,
    metrics: &Metrics,
) -> Result<PurgeCounts, StoreError> {
    // The lease outlives a batch and its pause many times over; it is renewed before every batch.
    let ttl = micros(cfg.every.max(Duration::from_secs(60)) * 2);
    let mut total = PurgeCounts::default();
    loop {
        if !store.try_lease(LEASE, holder, now_us(), ttl).await? {
            tracing::debug!("retention: another node holds the lease");
            return Ok(total);
        }
        let cutoff = now_us().saturating_sub(micros(cfg.window));
        let batch = store.purge_expired(cutoff, cfg.batch.max(1)).await?;
        if batch.is_empty() {
            break;
        }
        for (what, n) in batch.by_kind() {
            metrics.count_purged(what, n);
        }
        total.add(&batch);
        tracing::debug!(?batch, "retention: batch purged");
        tokio::time::sleep(cfg.pause).await;
    }
    if !total.is_empty() {
        tracing::info!(
            records = total.records,
            versions = total.versions,
            log_rows = total.log_rows,
            quality_records = total.quality_records,
            notifications = total.notifications,
            window_secs = cfg.window.as_secs(),
            "retention: purged what is older than the window"
        );
    }
    Ok(total)
}

/// Runs retention every [`Retention::every`] until the task is dropped (spawned by `serve --retain`).
pub fn spawn(
    store: Arc<dyn Store>,
    cfg: Retention,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    let holder = format!("{}:{}", std::process::id(), uuid::Uuid::new_v4());
    tokio::spawn(async move {
        loop {
            if let Err(e) = run_once(store.as_ref(), &cfg, &holder, &metrics).await {
                tracing::warn!("retention: {e}");
            }
            tokio::time::sleep(cfg.every).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_with_their_unit() {
        assert_eq!(parse_window("400d"), Ok(Duration::from_secs(400 * 86_400)));
        assert_eq!(parse_window("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert_eq!(parse_window("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_window(" 5s "), Ok(Duration::from_secs(5)));
        for bad in [
            "",
            "400",
            "d",
            "0d",
            "1.5d",
            "-1d",
            "3w",
            "99999999999999999999d",
        ] {
            assert!(parse_window(bad).is_err(), "{bad:?}");
        }
    }
}
