//! Delivery schedules as pure state machines: time is passed in, nothing sleeps.
//!
//! # Per notification: [`DeliverySchedule`]
//!
//! Create one per outbox entry with [`DeliverySchedule::new`] (it is `Serialize` so the store
//! can persist it next to the entry), POST, then feed each [`AttemptOutcome`] to
//! [`DeliverySchedule::on_result`], which answers [`Next`]: `Delivered`, `RetryAt(ts)` or
//! `Drop(reason)`.
//!
//! `--delivery graph` ([`DeliveryPolicy::graph`], Graph's newest documented behaviour):
//! delivered = a 2xx received within 3 s; anything else (another status, a 2xx after 3 s, a
//! timeout after 10 s, a connection error) is retried with exponential backoff and jitter for
//! up to 4 h after the first attempt, then dropped. `Retry-After` is not consulted (Graph does
//! not document it for webhooks).
//!
//! `--delivery reliable` ([`DeliveryPolicy::reliable`]): any 2xx within the 10 s timeout is
//! delivered; no endpoint-health drops; `410 Gone` stops at once; `429`/`503` with
//! `Retry-After` (delta-seconds or HTTP-date) are retried exactly then (but not sooner than 1 s
//! from now); everything else backs off up to the horizon (default 72 h).
//!
//! **Backoff formula.** After the `n`-th failed attempt (n = 1, 2, ...):
//!
//! ```text
//! base_n  = min(max_backoff, initial_backoff * 2^(n-1))
//! u_n     = splitmix64(seed XOR (n * 0x9E3779B97F4A7C15)) / 2^64        in [0, 1)
//! delay_n = base_n / 2 + u_n * base_n / 2                                in [base_n/2, base_n)
//! next    = now + delay_n
//! ```
//!
//! ("equal jitter": never less than half the base, spread over the other half so retries of
//! many notifications do not synchronise.) Both modes use `initial_backoff` 10 s; `max_backoff`
//! is 30 min (graph) or 1 h (reliable). If `next` passes the deadline (`first attempt +
//! horizon`), one last attempt is scheduled at the deadline itself; an attempt that fails at or
//! after the deadline drops the notification (`DropReason::Expired`). A `Retry-After` beyond the
//! deadline also drops it. A destination refused by the SSRF guard is dropped at once in both
//! modes. The jitter depends only on `seed` and `n`, so the schedule is a plain value and tests
//! are deterministic.
//!
//! # Per endpoint (graph mode): [`EndpointHealth`]
//!
//! Every response time (and every timeout, as the attempt timeout) of a notification URL is
//! recorded with [`EndpointHealth::record`] over a sliding 10-minute window. Once the window
//! holds at least `min_samples` responses (default 100, the older doc's "after 100
//! notifications"; the newest wording gives no minimum, so set 1 to follow it literally):
//! * more than 15 % took over 10 s → **dropping** for 10 minutes: every notification to it,
//!   new or retry, is lost ([`Admission::Drop`], counted in [`EndpointHealth::dropped`]);
//! * otherwise more than 10 % took over 3 s → **slow** for 10 minutes: new notifications wait
//!   until the end of the period ([`Admission::DelayUntil`]); retries keep their schedule.
//!
//! When a period ends the endpoint is healthy again and the next responses re-test it, so a
//! still-slow endpoint is re-detected every 10 minutes. Ratios are compared in integer basis
//! points: 100 slow of 1,000 (10 %) is healthy, 101 of 1,000 (10.1 %) is slow.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Delivery mode (`--delivery graph|reliable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMode {
    /// Graph's documented behaviour, drops included.
    Graph,
    /// Never drops for endpoint health; honours Retry-After; stops on 410.
    Reliable,
}

impl std::str::FromStr for DeliveryMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "graph" => Ok(Self::Graph),
            "reliable" => Ok(Self::Reliable),
            other => Err(format!(
                "unknown delivery mode {other:?} (expected graph or reliable)"
            )),
        }
    }
}

/// The numbers of a delivery mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryPolicy {
    /// The mode.
    pub mode: DeliveryMode,
    /// A 2xx counts as delivered only if it came within this (graph 3 s, reliable 10 s).
    pub delivered_within: SignedDuration,
    /// Per-attempt timeout for the HTTP client (10 s).
    pub attempt_timeout: SignedDuration,
    /// How long after the first attempt retries may go on (graph 4 h, reliable 72 h default).
    pub horizon: SignedDuration,
    /// First backoff base (10 s).
    pub initial_backoff: SignedDuration,
    /// Largest backoff base (graph 30 min, reliable 1 h).
    pub max_backoff: SignedDuration,
}

/// Default horizon of `--delivery reliable`.
pub const DEFAULT_RELIABLE_HORIZON: SignedDuration = SignedDuration::from_hours(72);

impl DeliveryPolicy {
    /// `--delivery graph`.
    pub const fn graph() -> Self {
        Self {
            mode: DeliveryMode::Graph,
            delivered_within: SignedDuration::from_secs(3),
            attempt_timeout: SignedDuration::from_secs(10),
            horizon: SignedDuration::from_hours(4),
            initial_backoff: SignedDuration::from_secs(10),
            max_backoff: SignedDuration::from_mins(30),
        }
    }

    /// `--delivery reliable` with a horizon ([`DEFAULT_RELIABLE_HORIZON`] by default).
    pub const fn reliable(horizon: SignedDuration) -> Self {
        Self {
            mode: DeliveryMode::Reliable,
            delivered_within: SignedDuration::from_secs(10),
            attempt_timeout: SignedDuration::from_secs(10),
            horizon,
            initial_backoff: SignedDuration::from_secs(10),
            max_backoff: SignedDuration::from_hours(1),
        }
    }

    /// The policy for a mode with default numbers.
    pub const fn for_mode(mode: DeliveryMode) -> Self {
        match mode {
            DeliveryMode::Graph => Self::graph(),
            DeliveryMode::Reliable => Self::reliable(DEFAULT_RELIABLE_HORIZON),
        }
    }

    /// `attempt_timeout` as a std duration (for the HTTP client).
    pub fn attempt_timeout_std(&self) -> Duration {
        self.attempt_timeout.unsigned_abs()
    }
}

/// A `Retry-After` header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: 120`.
    Seconds(u64),
    /// `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`.
    At(Timestamp),
}

impl RetryAfter {
    /// Parses delta-seconds or an HTTP-date (IMF-fixdate / RFC 2822 form); `None` otherwise.
    pub fn parse(value: &str) -> Option<Self> {
        let v = value.trim();
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Self::Seconds(v.parse().unwrap_or(u64::MAX)));
        }
        jiff::fmt::rfc2822::DateTimeParser::new()
            .parse_timestamp(v)
            .ok()
            .map(Self::At)
    }

    /// The instant it names, relative to `now`.
    pub fn resolve(self, now: Timestamp) -> Timestamp {
        match self {
            Self::Seconds(s) => add(
                now,
                SignedDuration::from_secs(i64::try_from(s).unwrap_or(i64::MAX)),
            ),
            Self::At(t) => t,
        }
    }
}

/// What one POST came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// From sending the request to the response headers (or to the failure).
    pub elapsed: Duration,
    /// The result.
    pub result: AttemptResult,
}

/// Result of one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// A response arrived.
    Status {
        /// HTTP status code.
        status: u16,
        /// Parsed `Retry-After`, if any.
        retry_after: Option<RetryAfter>,
    },
    /// No response within the attempt timeout.
    TimedOut,
    /// Connection or protocol failure.
    Failed(String),
    /// The SSRF guard refused the destination.
    Refused(String),
}

/// Why a notification is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DropReason {
    /// Retries exhausted at the horizon.
    Expired,
    /// `410 Gone` (reliable mode).
    Gone,
    /// The SSRF guard refused the destination.
    Refused,
    /// The endpoint is in its 10-minute drop period (graph mode).
    EndpointDropping,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Done.
    Delivered,
    /// Try again at this time.
    RetryAt(Timestamp),
    /// Give up.
    Drop(DropReason),
}

/// The retry state of one notification (batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverySchedule {
    /// The policy.
    pub policy: DeliveryPolicy,
    /// When the first attempt was (to be) made; the deadline counts from here.
    pub first_attempt_at: Timestamp,
    /// Attempts reported so far.
    pub attempts: u32,
    /// Jitter seed (pick it at random when enqueueing).
    pub seed: u64,
}

fn add(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

/// SplitMix64 (Steele, Lea, Flood 2014): one well-mixed 64-bit value per input.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl DeliverySchedule {
    /// A fresh schedule.
    pub fn new(policy: DeliveryPolicy, first_attempt_at: Timestamp, seed: u64) -> Self {
        Self {
            policy,
            first_attempt_at,
            attempts: 0,
            seed,
        }
    }

    /// No retry is scheduled after this instant.
    pub fn deadline(&self) -> Timestamp {
        add(self.first_attempt_at, self.policy.horizon)
    }

    /// The jittered delay after the `n`-th failure (see the module documentation).
    pub fn backoff(&self, n: u32) -> SignedDuration {
        let n = n.max(1);
        let shift = (n - 1).min(62);
        let initial = self.policy.initial_backoff.as_nanos().max(0);
        let cap = self.policy.max_backoff.as_nanos().max(0);
        let base = initial.saturating_mul(1i128 << shift).min(cap);
        let u = i128::from(splitmix64(
            self.seed ^ u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
        let half = base / 2;
        let jitter = (half * u) >> 64;
        let nanos = half + jitter;
        SignedDuration::from_nanos_i128(nanos)
    }

    /// Feeds one attempt's outcome; `now` is when it finished.
    pub fn on_result(&mut self, outcome: &AttemptOutcome, now: Timestamp) -> Next {
        self.attempts = self.attempts.saturating_add(1);
        let reliable = self.policy.mode == DeliveryMode::Reliable;
        match &outcome.result {
            AttemptResult::Status { status, .. }
                if (200..300).contains(status)
                    && outcome.elapsed <= self.policy.delivered_within.unsigned_abs() =>
            {
                return Next::Delivered;
            }
            AttemptResult::Status { status: 410, .. } if reliable => {
                return Next::Drop(DropReason::Gone);
            }
            AttemptResult::Status {
                status: 429 | 503,
                retry_after: Some(ra),
            } if reliable => {
                let at = ra.resolve(now).max(add(now, SignedDuration::from_secs(1)));
                return if at > self.deadline() {
                    Next::Drop(DropReason::Expired)
                } else {
                    Next::RetryAt(at)
                };
            }
            AttemptResult::Refused(_) => return Next::Drop(DropReason::Refused),
            _ => {}
        }
        let deadline = self.deadline();
        if now >= deadline {
            return Next::Drop(DropReason::Expired);
        }
        Next::RetryAt(add(now, self.backoff(self.attempts)).min(deadline))
    }
}

/// Endpoint-health thresholds (graph mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// Sliding window (10 min).
    pub window: SignedDuration,
    /// A response slower than this is "slow" (3 s).
    pub slow_after: SignedDuration,
    /// A response slower than this counts toward dropping (10 s).
    pub drop_after: SignedDuration,
    /// Slow when more than this share of responses is slow, in basis points (1000 = 10 %).
    pub slow_bp: u32,
    /// Dropping when more than this share exceeds `drop_after`, in basis points (1500 = 15 %).
    pub drop_bp: u32,
    /// How long the slow / dropping state lasts (10 min).
    pub penalty: SignedDuration,
    /// Responses the window must hold before the ratios are judged (default 100).
    pub min_samples: usize,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            window: SignedDuration::from_mins(10),
            slow_after: SignedDuration::from_secs(3),
            drop_after: SignedDuration::from_secs(10),
            slow_bp: 1000,
            drop_bp: 1500,
            penalty: SignedDuration::from_mins(10),
            min_samples: 100,
        }
    }
}

/// State of one notification URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointState {
    /// Normal delivery.
    Healthy,
    /// New notifications wait until `until`.
    Slow {
        /// End of the period.
        until: Timestamp,
    },
    /// Notifications are lost until `until`.
    Dropping {
        /// End of the period.
        until: Timestamp,
    },
}

/// Whether a notification about to be sent is new or a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendKind {
    /// First attempt.
    New,
    /// A scheduled retry.
    Retry,
}

/// Answer of [`EndpointHealth::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send now.
    Send,
    /// Do not send before this time (the first attempt is then made).
    DelayUntil(Timestamp),
    /// Lost (already counted as dropped).
    Drop,
}

/// Sliding-window response-time statistics and state of one notification URL.
#[derive(Debug, Clone)]
pub struct EndpointHealth {
    config: HealthConfig,
    samples: VecDeque<(Timestamp, Duration)>,
    slow: usize,
    very_slow: usize,
    state: EndpointState,
    dropped: u64,
}

impl EndpointHealth {
    /// A healthy endpoint.
    pub fn new(config: HealthConfig) -> Self {
        Self {
            config,
            samples: VecDeque::new(),
            slow: 0,
            very_slow: 0,
            state: EndpointState::Healthy,
            dropped: 0,
        }
    }

    fn classify(&self, d: Duration) -> (bool, bool) {
        (
            d > self.config.slow_after.unsigned_abs(),
            d > self.config.drop_after.unsigned_abs(),
        )
    }

    fn prune(&mut self, now: Timestamp) {
        let start = now
            .checked_sub(self.config.window)
            .unwrap_or(Timestamp::MIN);
        while let Some(&(t, d)) = self.samples.front() {
            if t > start {
                break;
            }
            let (s, v) = self.classify(d);
            self.slow -= usize::from(s);
            self.very_slow -= usize::from(v);
            self.samples.pop_front();
        }
        match self.state {
            EndpointState::Slow { until } | EndpointState::Dropping { until } if now >= until => {
                self.state = EndpointState::Healthy;
            }
            _ => {}
        }
    }

    /// Records one response time at `now` (a timeout counts as the attempt timeout) and
    /// updates the state. Samples must be recorded in time order.
    pub fn record(&mut self, now: Timestamp, response_time: Duration) {
        self.prune(now);
        let (s, v) = self.classify(response_time);
        self.samples.push_back((now, response_time));
        self.slow += usize::from(s);
        self.very_slow += usize::from(v);
        let n = self.samples.len();
        if n < self.config.min_samples.max(1) {
            return;
        }
        let over = |count: usize, bp: u32| (count as u128) * 10_000 > u128::from(bp) * (n as u128);
        let until = add(now, self.config.penalty);
        match self.state {
            EndpointState::Dropping { .. } => {}
            _ if over(self.very_slow, self.config.drop_bp) => {
                self.state = EndpointState::Dropping { until };
            }
            EndpointState::Healthy if over(self.slow, self.config.slow_bp) => {
                self.state = EndpointState::Slow { until };
            }
            _ => {}
        }
    }

    /// The state at `now` (expired periods end).
    pub fn state(&mut self, now: Timestamp) -> EndpointState {
        self.prune(now);
        self.state
    }

    /// Whether a notification may be sent now; a `Drop` is counted.
    pub fn admit(&mut self, now: Timestamp, kind: SendKind) -> Admission {
        match (self.state(now), kind) {
            (EndpointState::Healthy, _) | (EndpointState::Slow { .. }, SendKind::Retry) => {
                Admission::Send
            }
            (EndpointState::Slow { until }, SendKind::New) => Admission::DelayUntil(until),
            (EndpointState::Dropping { .. }, _) => {
                self.dropped += 1;
                Admission::Drop
            }
        }
    }

    /// Notifications lost to drop periods so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// `(responses, slow, over drop threshold)` in the window at `now`.
    pub fn window_counts(&mut self, now: Timestamp) -> (usize, usize, usize) {
        self.prune(now);
        (self.samples.len(), self.slow, self.very_slow)
    }
}

/// [`EndpointHealth`] for every notification URL.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    config: HealthConfig,
    map: HashMap<String, EndpointHealth>,
}

impl Endpoints {
    /// An empty registry.
    pub fn new(config: HealthConfig) -> Self {
        Self {
            config,
            map: HashMap::new(),
        }
    }

    /// The health of `url` (created healthy on first use).
    pub fn get(&mut self, url: &str) -> &mut EndpointHealth {
        let config = self.config;
        self.map
            .entry(url.to_owned())
            .or_insert_with(|| EndpointHealth::new(config))
    }

    /// Forgets healthy endpoints with an empty window at `now` (their drop counts too).
    pub fn forget_idle(&mut self, now: Timestamp) {
        self.map
            .retain(|_, h| h.state(now) != EndpointState::Healthy || !h.samples.is_empty());
    }

    /// Number of tracked endpoints.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is tracked.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Timestamp {
        "2024-01-01T00:00:00Z".parse().unwrap()
    }

    fn secs(s: i64) -> SignedDuration {
        SignedDuration::from_secs(s)
    }

    fn ok(ms: u64) -> AttemptOutcome {
        status(200, ms)
    }

    fn status(status: u16, ms: u64) -> AttemptOutcome {
        AttemptOutcome {
            elapsed: Duration::from_millis(ms),
            result: AttemptResult::Status {
                status,
                retry_after: None,
            },
        }
    }

    #[test]
    fn graph_delivered_only_for_a_2xx_within_3s() {
        let mut s = DeliverySchedule::new(DeliveryPolicy::graph(), t0(), 1);
        assert_eq!(s.on_result(&ok(3000), t0()), Next::Delivered);
        assert_eq!(s.on_result(&status(202, 10), t0()), Next::Delivered);
        assert_eq!(s.on_result(&status(299, 10), t0()), Next::Delivered);
        let mut s = DeliverySchedule::new(DeliveryPolicy::graph(), t0(), 1);
        assert!(matches!(s.on_result(&ok(3001), t0()), Next::RetryAt(_)));
        for st in [300, 301, 400, 404, 410, 429, 500, 503] {
            let mut s = DeliverySchedule::new(DeliveryPolicy::graph(), t0(), 1);
            assert!(
                matches!(s.on_result(&status(st, 5), t0()), Next::RetryAt(_)),
                "{st}"
            );
        }
        let mut s = DeliverySchedule::new(DeliveryPolicy::graph(), t0(), 1);
        let to = AttemptOutcome {
            elapsed: Duration::from_secs(10),
            result: AttemptResult::TimedOut,
        };
        assert!(matches!(s.on_result(&to, t0()), Next::RetryAt(_)));
        let refused = AttemptOutcome {
            elapsed: Duration::ZERO,
            result: AttemptResult::Refused("10.0.0.1".into()),
        };
        assert_eq!(s.on_result(&refused, t0()), Next::Drop(DropReason::Refused));
    }

    #[test]
    fn backoff_formula_bounds_and_determinism() {
        let s = DeliverySchedule::new(DeliveryPolicy::graph(), t0(), 42);
        let mut base = secs(10);
        for n in 1..=20 {
            let d = s.backoff(n);
            let cap = base.min(SignedDuration::from_mins(30));
            assert!(d >= cap / 2 && d < cap, "n={n} d={d:?} base={cap:?}");
            assert_eq!(
                d,
                DeliverySchedule::new(DeliveryPolicy::graph(), t0(), 42).backoff(n)
            );
            base = base.checked_mul(2).unwrap_or(SignedDuration::MAX);
        }
        assert_ne!(
            s.backoff(1),
            DeliverySchedule::new(DeliveryPolicy::graph(), t0(), 43).backoff(1)
        );
        assert!(s.backoff(u32::MAX) < SignedDuration::from_mins(30));
        assert_eq!(s.backoff(0), s.backoff(1));
        // seed 0 jitter is spread too
        let z = DeliverySchedule::new(DeliveryPolicy::graph(), t0(), 0);
        let values: std::collections::HashSet<_> = (5..15).map(|n| z.backoff(n)).collect();
        assert!(values.len() > 5);
    }

    #[test]
    fn graph_retries_for_four_hours_then_drops() {
        let mut s = DeliverySchedule::new(DeliveryPolicy::graph(), t0(), 7);
        let deadline = t0() + SignedDuration::from_hours(4);
        let mut now = t0();
        let mut tries = 0;
        loop {
            match s.on_result(&status(500, 100), now) {
                Next::RetryAt(at) => {
                    assert!(at > now && at <= deadline);
                    now = at;
                    tries += 1;
                }
                Next::Drop(r) => {
                    assert_eq!(r, DropReason::Expired);
                    break;
                }
                Next::Delivered => unreachable!(),
            }
            assert!(tries < 100);
        }
        assert_eq!(now, deadline, "the last attempt is at the deadline");
        assert!(tries > 8, "{tries}");
        // A failure just before the deadline is retried at the deadline, not later.
        let mut s = DeliverySchedule::new(DeliveryPolicy::graph(), t0(), 7);
        let just_before = deadline - secs(1);
        assert_eq!(
            s.on_result(&status(500, 1), just_before),
            Next::RetryAt(deadline)
        );
        assert_eq!(
            s.on_result(&status(500, 1), deadline),
            Next::Drop(DropReason::Expired)
        );
    }

    #[test]
    fn reliable_mode() {
        let p = DeliveryPolicy::reliable(DEFAULT_RELIABLE_HORIZON);
        let mut s = DeliverySchedule::new(p, t0(), 1);
        assert_eq!(
            s.on_result(&ok(9_000), t0()),
            Next::Delivered,
            "slow 2xx is fine"
        );
        let mut s = DeliverySchedule::new(p, t0(), 1);
        assert!(matches!(s.on_result(&ok(10_001), t0()), Next::RetryAt(_)));
        assert_eq!(
            s.on_result(&status(410, 5), t0()),
            Next::Drop(DropReason::Gone)
        );

        let ra = |status, ra| AttemptOutcome {
            elapsed: Duration::from_millis(5),
            result: AttemptResult::Status {
                status,
                retry_after: Some(ra),
            },
        };
        let mut s = DeliverySchedule::new(p, t0(), 1);
        assert_eq!(
            s.on_result(&ra(429, RetryAfter::Seconds(120)), t0()),
            Next::RetryAt(t0() + secs(120))
        );
        assert_eq!(
            s.on_result(&ra(503, RetryAfter::At(t0() + secs(3600))), t0()),
            Next::RetryAt(t0() + secs(3600))
        );
        assert_eq!(
            s.on_result(&ra(503, RetryAfter::Seconds(0)), t0()),
            Next::RetryAt(t0() + secs(1)),
            "at least 1 s"
        );
        assert_eq!(
            s.on_result(&ra(503, RetryAfter::At(t0() - secs(60))), t0()),
            Next::RetryAt(t0() + secs(1))
        );
        assert_eq!(
            s.on_result(&ra(429, RetryAfter::Seconds(73 * 3600)), t0()),
            Next::Drop(DropReason::Expired)
        );
        assert_eq!(
            s.on_result(&ra(429, RetryAfter::Seconds(u64::MAX)), t0()),
            Next::Drop(DropReason::Expired)
        );
        // Retry-After on other statuses is ignored: backoff.
        let mut s = DeliverySchedule::new(p, t0(), 1);
        assert_eq!(
            s.on_result(&ra(500, RetryAfter::Seconds(3000)), t0()),
            Next::RetryAt(t0() + s.backoff(1))
        );
        // Graph mode ignores Retry-After and 410.
        let mut g = DeliverySchedule::new(DeliveryPolicy::graph(), t0(), 1);
        assert_eq!(
            g.on_result(&ra(429, RetryAfter::Seconds(3000)), t0()),
            Next::RetryAt(t0() + g.backoff(1))
        );
        // Horizon.
        let mut s = DeliverySchedule::new(p, t0(), 1);
        let end = t0() + DEFAULT_RELIABLE_HORIZON;
        assert_eq!(
            s.on_result(&status(500, 1), end - secs(1)),
            Next::RetryAt(end)
        );
        assert_eq!(
            s.on_result(&status(500, 1), end),
            Next::Drop(DropReason::Expired)
        );
        let short = DeliveryPolicy::reliable(SignedDuration::from_hours(1));
        assert_eq!(
            DeliverySchedule::new(short, t0(), 0).deadline(),
            t0() + SignedDuration::from_hours(1)
        );
    }

    #[test]
    fn schedule_persists_as_json() {
        let mut s = DeliverySchedule::new(DeliveryPolicy::graph(), t0(), 99);
        s.on_result(&status(500, 1), t0());
        let text = serde_json::to_string(&s).unwrap();
        let back: DeliverySchedule = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        assert_eq!("graph".parse::<DeliveryMode>(), Ok(DeliveryMode::Graph));
        assert_eq!(
            "reliable".parse::<DeliveryMode>(),
            Ok(DeliveryMode::Reliable)
        );
        assert!("Graph".parse::<DeliveryMode>().is_err());
    }

    #[test]
    fn retry_after_parsing() {
        assert_eq!(RetryAfter::parse("120"), Some(RetryAfter::Seconds(120)));
        assert_eq!(RetryAfter::parse(" 0 "), Some(RetryAfter::Seconds(0)));
        assert_eq!(
            RetryAfter::parse("99999999999999999999999"),
            Some(RetryAfter::Seconds(u64::MAX))
        );
        assert_eq!(
            RetryAfter::parse("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(RetryAfter::At("2015-10-21T07:28:00Z".parse().unwrap()))
        );
        for bad in ["", "-1", "1.5", "soon", "Wed, 32 Oct 2015 07:28:00 GMT"] {
            assert_eq!(RetryAfter::parse(bad), None, "{bad}");
        }
        assert_eq!(RetryAfter::Seconds(u64::MAX).resolve(t0()), Timestamp::MAX);
    }

    fn health(min: usize) -> EndpointHealth {
        EndpointHealth::new(HealthConfig {
            min_samples: min,
            ..HealthConfig::default()
        })
    }

    /// Records `fast` 100 ms responses and `slow` responses of `slow_ms`, one per millisecond.
    fn feed(
        h: &mut EndpointHealth,
        now: Timestamp,
        fast: usize,
        slow: usize,
        slow_ms: u64,
    ) -> Timestamp {
        let mut t = now;
        for i in 0..fast + slow {
            let d = if i < fast { 100 } else { slow_ms };
            h.record(t, Duration::from_millis(d));
            t += SignedDuration::from_millis(1);
        }
        t
    }

    #[test]
    fn slow_at_more_than_ten_percent() {
        let mut h = health(100);
        let t = feed(&mut h, t0(), 900, 100, 3001);
        assert_eq!(
            h.state(t),
            EndpointState::Healthy,
            "exactly 10 % is not more than 10 %"
        );
        let mut h = health(100);
        let t = feed(&mut h, t0(), 899, 101, 3001);
        let EndpointState::Slow { until } = h.state(t) else {
            panic!("10.1 % is slow")
        };
        assert_eq!(h.admit(t, SendKind::New), Admission::DelayUntil(until));
        assert_eq!(h.admit(t, SendKind::Retry), Admission::Send);
        assert_eq!(h.dropped(), 0);
        // exactly 3 s is not slow
        let mut h = health(100);
        let t = feed(&mut h, t0(), 0, 1000, 3000);
        assert_eq!(h.state(t), EndpointState::Healthy);
    }

    #[test]
    fn dropping_at_more_than_fifteen_percent() {
        let mut h = health(100);
        let t = feed(&mut h, t0(), 850, 150, 10_001);
        // 15 % over 10 s is not dropping, but it is slow (15 % > 10 % over 3 s).
        assert!(matches!(h.state(t), EndpointState::Slow { .. }));
        let mut h = health(100);
        let t = feed(&mut h, t0(), 849, 151, 10_001);
        let EndpointState::Dropping { until } = h.state(t) else {
            panic!("15.1 % drops")
        };
        // Entered at the response that first pushed the share over 15 % (150 of 999), for 10 min.
        assert_eq!(
            until,
            t - SignedDuration::from_millis(2) + SignedDuration::from_mins(10)
        );
        assert_eq!(h.admit(t, SendKind::New), Admission::Drop);
        assert_eq!(h.admit(t, SendKind::Retry), Admission::Drop);
        assert_eq!(h.dropped(), 2);
        // exactly 10 s counts as slow, not as drop
        let mut h = health(100);
        let t = feed(&mut h, t0(), 0, 200, 10_000);
        assert!(matches!(h.state(t), EndpointState::Slow { .. }));
    }

    #[test]
    fn slow_escalates_to_dropping_and_periods_expire() {
        let mut h = health(10);
        let t = feed(&mut h, t0(), 8, 2, 4000); // 20 % slow
        let EndpointState::Slow { until } = h.state(t) else {
            panic!()
        };
        let t2 = feed(&mut h, t, 0, 10, 11_000);
        assert!(matches!(h.state(t2), EndpointState::Dropping { .. }));
        let EndpointState::Dropping { until: u2 } = h.state(t2) else {
            panic!()
        };
        assert!(u2 > until);
        assert_eq!(
            h.admit(u2 - SignedDuration::from_nanos(1), SendKind::New),
            Admission::Drop
        );
        // At the end of the period the endpoint is healthy again and re-tested by new responses.
        assert_eq!(h.admit(u2, SendKind::New), Admission::Send);
        let later = u2 + SignedDuration::from_mins(1);
        assert_eq!(h.window_counts(later), (0, 0, 0));
        let t3 = feed(&mut h, later, 5, 5, 4000);
        assert!(
            matches!(h.state(t3), EndpointState::Slow { .. }),
            "re-detected"
        );
    }

    #[test]
    fn window_slides_and_min_samples_holds() {
        let mut h = health(100);
        let t = feed(&mut h, t0(), 0, 99, 20_000);
        assert_eq!(
            h.state(t),
            EndpointState::Healthy,
            "99 samples: not judged yet"
        );
        let mut h = health(1);
        h.record(t0(), Duration::from_secs(4));
        assert!(
            matches!(h.state(t0()), EndpointState::Slow { .. }),
            "min 1: literal newest wording"
        );
        let mut h = health(10);
        feed(&mut h, t0(), 0, 1, 4000);
        // the slow sample leaves the window after 10 min; 10 fast ones afterwards keep it healthy
        let later = t0() + SignedDuration::from_mins(10);
        assert_eq!(h.window_counts(later).0, 0);
        let t = feed(&mut h, later, 10, 0, 0);
        assert_eq!(h.state(t), EndpointState::Healthy);
        // but inside the window it counts: 1 slow of 10 = 10 % → healthy, 2 of 11 → slow
        let mut h = health(10);
        let t = feed(&mut h, t0(), 9, 1, 4000);
        assert_eq!(h.state(t), EndpointState::Healthy);
        let t = feed(&mut h, t, 0, 1, 4000);
        assert!(matches!(h.state(t), EndpointState::Slow { .. }));
    }

    #[test]
    fn registry() {
        let mut e = Endpoints::new(HealthConfig {
            min_samples: 1,
            ..HealthConfig::default()
        });
        e.get("https://a").record(t0(), Duration::from_secs(4));
        e.get("https://b").record(t0(), Duration::from_millis(4));
        assert_eq!(e.len(), 2);
        assert!(matches!(
            e.get("https://a").admit(t0(), SendKind::New),
            Admission::DelayUntil(_)
        ));
        assert_eq!(
            e.get("https://b").admit(t0(), SendKind::New),
            Admission::Send
        );
        e.forget_idle(t0() + SignedDuration::from_mins(11));
        assert!(e.is_empty());
    }
}
