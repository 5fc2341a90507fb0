//! The fake clock: fake time = `start + speed × (real time elapsed)`, plus any `advance` jumps.
//!
//! The clock is pure: every method takes the real time as an argument (use [`jiff::Timestamp::now`]
//! in production), so a persisted [`ClockState`] and the real time now always give the same fake time,
//! across restarts. The fake time never runs backwards, even if the real clock does.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Largest accepted speed (one real second = 11.6 fake days).
pub const MAX_SPEED: f64 = 1_000_000.0;

/// Why a clock operation was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClockError {
    #[error("speed must be a finite number between 0 and {MAX_SPEED}, got {0}")]
    BadSpeed(f64),
    #[error("the fake clock only moves forward: cannot advance by {0} minutes")]
    Backwards(f64),
    #[error("the fake time would leave the supported range")]
    OutOfRange,
}

/// Everything needed to recompute the fake time: persist this (it serializes to a small JSON object).
///
/// Fake time at real time `r` = `fake_anchor + max(0, r − real_anchor) × speed`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClockState {
    /// The fake time at `real_anchor`.
    pub fake_anchor: Timestamp,
    /// The real time at which the fake time was `fake_anchor`.
    pub real_anchor: Timestamp,
    /// Fake seconds per real second (0 = frozen).
    pub speed: f64,
}

/// A fake clock (a [`ClockState`] with the operations on it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FakeClock {
    state: ClockState,
}

fn check_speed(speed: f64) -> Result<(), ClockError> {
    if speed.is_finite() && (0.0..=MAX_SPEED).contains(&speed) {
        Ok(())
    } else {
        Err(ClockError::BadSpeed(speed))
    }
}

/// `d × factor`, saturating.
fn scale(d: SignedDuration, factor: f64) -> SignedDuration {
    let nanos = d.as_nanos() as f64 * factor;
    if nanos >= i64::MAX as f64 * 1e9 {
        SignedDuration::MAX
    } else if nanos <= i64::MIN as f64 * 1e9 {
        SignedDuration::MIN
    } else {
        SignedDuration::from_nanos_i128(nanos as i128)
    }
}

fn add_saturating(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(if d.is_negative() {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

impl FakeClock {
    /// A clock showing `start` (default: `real_now`) at `real_now`, then running `speed` × real time.
    pub fn new(
        start: Option<Timestamp>,
        speed: f64,
        real_now: Timestamp,
    ) -> Result<Self, ClockError> {
        check_speed(speed)?;
        Ok(FakeClock {
            state: ClockState {
                fake_anchor: start.unwrap_or(real_now),
                real_anchor: real_now,
                speed,
            },
        })
    }

    /// A clock resumed from a persisted state (the speed is checked again).
    pub fn from_state(state: ClockState) -> Result<Self, ClockError> {
        check_speed(state.speed)?;
        Ok(FakeClock { state })
    }

    /// The state to persist.
    pub fn state(&self) -> ClockState {
        self.state
    }

    pub fn speed(&self) -> f64 {
        self.state.speed
    }

    /// The fake time at real time `real_now`.
    pub fn fake_now(&self, real_now: Timestamp) -> Timestamp {
        let elapsed = real_now.duration_since(self.state.real_anchor);
        if elapsed.is_negative() {
            return self.state.fake_anchor;
        }
        add_saturating(self.state.fake_anchor, scale(elapsed, self.state.speed))
    }

    /// The real time at which the clock will show `fake` (now or in the past → `real_now`);
    /// `None` if it never will (a frozen clock). For sleeping until the next scheduled event.
    pub fn real_time_for(&self, fake: Timestamp, real_now: Timestamp) -> Option<Timestamp> {
        let now = self.fake_now(real_now);
        if fake <= now {
            return Some(real_now);
        }
        if self.state.speed == 0.0 {
            return None;
        }
        let ahead = fake.duration_since(now);
        // Round up so that the fake time has surely been reached at the returned instant.
        let real = scale(ahead, 1.0 / self.state.speed) + SignedDuration::from_nanos(1);
        Some(add_saturating(real_now, real))
    }

    /// Jumps the fake time forward by `minutes` (fractions allowed) at real time `real_now`.
    pub fn advance(&mut self, minutes: f64, real_now: Timestamp) -> Result<Timestamp, ClockError> {
        if !minutes.is_finite() || minutes < 0.0 {
            return Err(ClockError::Backwards(minutes));
        }
        let now = self.fake_now(real_now);
        let jump = SignedDuration::try_from_secs_f64(minutes * 60.0)
            .map_err(|_| ClockError::OutOfRange)?;
        let to = now.checked_add(jump).map_err(|_| ClockError::OutOfRange)?;
        self.state.fake_anchor = to;
        self.state.real_anchor = real_now.max(self.state.real_anchor);
        Ok(to)
    }

    /// Changes the speed from `real_now` on (the fake time does not jump).
    pub fn set_speed(&mut self, speed: f64, real_now: Timestamp) -> Result<(), ClockError> {
        check_speed(speed)?;
        let now = self.fake_now(real_now);
        self.state = ClockState {
            fake_anchor: now,
            real_anchor: real_now.max(self.state.real_anchor),
            speed,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn starts_at_start_and_runs_at_speed() {
        let real = ts("2026-12-01T10:00:00Z");
        let c = FakeClock::new(Some(ts("2026-01-05T08:00:00Z")), 60.0, real).unwrap();
        assert_eq!(c.fake_now(real), ts("2026-01-05T08:00:00Z"));
        // One real minute = one fake hour.
        assert_eq!(
            c.fake_now(ts("2026-12-01T10:01:00Z")),
            ts("2026-01-05T09:00:00Z")
        );
        // Real clock going backwards: the fake clock stays put.
        assert_eq!(
            c.fake_now(ts("2026-12-01T09:00:00Z")),
            ts("2026-01-05T08:00:00Z")
        );
    }

    #[test]
    fn default_start_is_now_and_speed_one() {
        let real = ts("2026-12-01T10:00:00Z");
        let c = FakeClock::new(None, 1.0, real).unwrap();
        assert_eq!(
            c.fake_now(ts("2026-12-01T10:00:07.5Z")),
            ts("2026-12-01T10:00:07.5Z")
        );
    }

    #[test]
    fn advance_jumps_and_keeps_running() {
        let real = ts("2026-12-01T10:00:00Z");
        let mut c = FakeClock::new(Some(ts("2026-01-05T08:00:00Z")), 2.0, real).unwrap();
        let r1 = ts("2026-12-01T10:00:30Z");
        assert_eq!(c.advance(90.0, r1).unwrap(), ts("2026-01-05T09:31:00Z"));
        assert_eq!(
            c.fake_now(ts("2026-12-01T10:00:40Z")),
            ts("2026-01-05T09:31:20Z")
        );
        assert_eq!(c.advance(-1.0, r1), Err(ClockError::Backwards(-1.0)));
        assert!(c.advance(f64::NAN, r1).is_err());
        assert!(c.advance(1e300, r1).is_err());
    }

    #[test]
    fn state_survives_a_restart() {
        let real = ts("2026-12-01T10:00:00Z");
        let mut c = FakeClock::new(Some(ts("2026-01-05T08:00:00Z")), 10.0, real).unwrap();
        c.advance(5.0, ts("2026-12-01T10:00:01Z")).unwrap();
        let json = serde_json::to_string(&c.state()).unwrap();
        let back: ClockState = serde_json::from_str(&json).unwrap();
        let resumed = FakeClock::from_state(back).unwrap();
        let later = ts("2026-12-01T11:23:45.678Z");
        assert_eq!(resumed.fake_now(later), c.fake_now(later));
        assert_eq!(resumed, c);
    }

    #[test]
    fn speed_is_checked_and_can_change() {
        let real = ts("2026-12-01T10:00:00Z");
        for bad in [-1.0, f64::NAN, f64::INFINITY, MAX_SPEED * 2.0] {
            assert!(FakeClock::new(None, bad, real).is_err());
        }
        let mut c = FakeClock::new(Some(ts("2026-01-01T00:00:00Z")), 0.0, real).unwrap();
        assert_eq!(
            c.fake_now(ts("2026-12-02T10:00:00Z")),
            ts("2026-01-01T00:00:00Z")
        );
        assert_eq!(c.real_time_for(ts("2026-01-01T00:00:01Z"), real), None);
        c.set_speed(3.0, ts("2026-12-01T10:00:10Z")).unwrap();
        assert_eq!(
            c.fake_now(ts("2026-12-01T10:00:20Z")),
            ts("2026-01-01T00:00:30Z")
        );
        assert!(c.set_speed(-3.0, real).is_err());
        assert!(
            FakeClock::from_state(ClockState {
                speed: -1.0,
                ..c.state()
            })
            .is_err()
        );
    }

    #[test]
    fn real_time_for_inverts_fake_now() {
        let real = ts("2026-12-01T10:00:00Z");
        let c = FakeClock::new(Some(ts("2026-01-05T08:00:00Z")), 60.0, real).unwrap();
        let target = ts("2026-01-05T09:00:00Z");
        let at = c.real_time_for(target, real).unwrap();
        assert!(c.fake_now(at) >= target);
        assert!(at <= ts("2026-12-01T10:01:00.001Z"));
        assert_eq!(
            c.real_time_for(ts("2020-01-01T00:00:00Z"), real),
            Some(real)
        );
    }

    #[test]
    fn extreme_times_saturate_instead_of_panicking() {
        let c = FakeClock::new(Some(Timestamp::MAX), MAX_SPEED, Timestamp::MIN).unwrap();
        assert_eq!(c.fake_now(Timestamp::MAX), Timestamp::MAX);
    }
}
