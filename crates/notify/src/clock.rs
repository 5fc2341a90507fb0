//! The notifier's time source: the system clock in `serve`, a [`ManualClock`] in tests, so the real
//! delivery policy (retry times, endpoint-health windows, 10-minute slow and drop periods) can be
//! exercised without waiting for them.
//!
//! Only "what time is it" goes through the clock: due times, expiry, claims, health windows and the
//! periods they end. HTTP timeouts and measured response times stay real (they are what a receiver
//! does), and so does the `webhook-timestamp` of a signature (receivers compare it with their own
//! clock).

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};

/// "Now" for the notifier.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told (tests). Clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: Timestamp) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: SignedDuration) {
        let mut t = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *t = t.checked_add(by).unwrap_or(*t);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_it() {
        let t0: Timestamp = "2026-01-05T08:00:00Z".parse().unwrap();
        let c = ManualClock::new(t0);
        let d = c.clone();
        assert_eq!(c.now(), t0);
        d.advance(SignedDuration::from_mins(10));
        assert_eq!(c.now(), t0 + SignedDuration::from_mins(10));
        assert!(SystemClock.now() > t0 - SignedDuration::from_hours(24 * 365 * 10));
    }
}
