//! Graph's call-records throttling (spec §12) as exact sliding-window counters, and injected
//! 503/504 faults (`--fault-rate`).
//!
//! Pure: the caller passes the time (use the **real** wall-clock time, not the fake clock: clients
//! wait `Retry-After` real seconds). A request is admitted only if every window it counts against
//! still has room; an admitted request is recorded in all of them, a refused one in none (so a
//! client that waits `Retry-After` seconds is admitted).

use std::collections::{HashMap, VecDeque};

use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::graph_error::GraphError;

/// One limit: at most `max` requests in any `window` (`max` 0 = no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window: SignedDuration,
}

impl Limit {
    pub const fn new(max: u32, window_secs: i64) -> Self {
        Limit {
            max,
            window: SignedDuration::from_secs(window_secs),
        }
    }
}

/// The limits (defaults: the current `throttling-limits` page, spec §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Per call record (GET, its sessions and participants_v2 pages together): 40 / 20 s.
    pub per_call_record: Limit,
    /// List call records: 40 / 20 s.
    pub list: Limit,
    /// Every call-records request of one application in one tenant: 1,500 / 20 s.
    pub per_app_per_tenant: Limit,
    /// Every call-records request in one tenant, all applications: 10,000 / 20 s.
    pub per_tenant: Limit,
    /// Every call-records request of one application, all tenants: 15,000 / 20 s.
    pub per_app: Limit,
    /// PSTN / direct routing / SMS / blocked-users / dial-out functions, per application per tenant: 200 / 60 s.
    pub pstn_per_app_per_tenant: Limit,
    /// The same functions, per tenant for all applications: 1,000 / 60 s.
    pub pstn_per_tenant: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_call_record: Limit::new(40, 20),
            list: Limit::new(40, 20),
            per_app_per_tenant: Limit::new(1_500, 20),
            per_tenant: Limit::new(10_000, 20),
            per_app: Limit::new(15_000, 20),
            pstn_per_app_per_tenant: Limit::new(200, 60),
            pstn_per_tenant: Limit::new(1_000, 60),
        }
    }
}

/// What a request is, for throttling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// `GET callRecords/{id}`, `…/{id}/sessions`, `…/{id}/participants_v2` (any page).
    CallRecord { id: String },
    /// `GET callRecords` (any page).
    ListCallRecords,
    /// `getPstnCalls`, `getDirectRoutingCalls`, `getSmsLog`, `getPstnBlockedUsersLog`,
    /// `getPstnOnlineMeetingDialoutReport` (any page).
    PstnFunction,
    /// Anything else (subscriptions, metadata): not throttled here.
    Other,
}

/// Who asks for what: the throttling key of one request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ThrottleKey {
    /// The token's `tid`.
    pub tenant: String,
    /// The token's `appid` / `azp`.
    pub app: String,
    pub kind: RequestKind,
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Answer `429 Too Many Requests` with `Retry-After: retry_after_secs` (≥ 1): the seconds until
    /// every window that refused the request admits again, rounded up.
    Throttled {
        retry_after_secs: u64,
    },
}

impl Decision {
    /// The Graph error for a throttled request (`429`, `activityLimitReached`), `None` when allowed.
    pub fn error(&self) -> Option<GraphError> {
        match self {
            Decision::Allowed => None,
            Decision::Throttled { .. } => Some(GraphError::new(
                http::StatusCode::TOO_MANY_REQUESTS,
                "activityLimitReached",
                "The app or user has been throttled.",
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Bucket {
    Record(String, String, String),
    List(String, String),
    AppTenant(String, String),
    Tenant(String),
    App(String),
    PstnAppTenant(String, String),
    PstnTenant(String),
}

/// The sliding-window throttle.
#[derive(Debug, Clone)]
pub struct Throttle {
    limits: Limits,
    enabled: bool,
    /// Admission times still inside their bucket's window, oldest first.
    windows: HashMap<Bucket, VecDeque<Timestamp>>,
    checks: u64,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(Limits::default())
    }
}

impl Throttle {
    pub fn new(limits: Limits) -> Self {
        Throttle {
            limits,
            enabled: true,
            windows: HashMap::new(),
            checks: 0,
        }
    }

    /// A throttle that admits everything (`--no-throttle`).
    pub fn disabled() -> Self {
        Throttle {
            enabled: false,
            ..Throttle::default()
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn buckets(&self, key: &ThrottleKey) -> Vec<(Bucket, Limit)> {
        let (t, a) = (key.tenant.clone(), key.app.clone());
        let l = &self.limits;
        let shared = |v: &mut Vec<(Bucket, Limit)>| {
            v.push((
                Bucket::AppTenant(t.clone(), a.clone()),
                l.per_app_per_tenant,
            ));
            v.push((Bucket::Tenant(t.clone()), l.per_tenant));
            v.push((Bucket::App(a.clone()), l.per_app));
        };
        let mut v = Vec::with_capacity(4);
        match &key.kind {
            RequestKind::CallRecord { id } => {
                v.push((
                    Bucket::Record(t.clone(), a.clone(), id.clone()),
                    l.per_call_record,
                ));
                shared(&mut v);
            }
            RequestKind::ListCallRecords => {
                v.push((Bucket::List(t.clone(), a.clone()), l.list));
                shared(&mut v);
            }
            RequestKind::PstnFunction => {
                v.push((
                    Bucket::PstnAppTenant(t.clone(), a.clone()),
                    l.pstn_per_app_per_tenant,
                ));
                v.push((Bucket::PstnTenant(t), l.pstn_per_tenant));
            }
            RequestKind::Other => {}
        }
        v
    }

    /// Admits (and records) or refuses one request at `now`.
    pub fn check(&mut self, key: ThrottleKey, now: Timestamp) -> Decision {
        if !self.enabled {
            return Decision::Allowed;
        }
        self.checks += 1;
        if self.checks.is_multiple_of(4096) {
            self.prune(now);
        }
        let buckets = self.buckets(&key);
        let mut wait = SignedDuration::ZERO;
        for (b, limit) in &buckets {
            let Some(q) = self.windows.get_mut(b) else {
                continue;
            };
            // The window is (now − window, now]: an admission exactly `window` ago has left it.
            while q.front().is_some_and(|&t| plus(t, limit.window) <= now) {
                q.pop_front();
            }
            if limit.max > 0 && q.len() >= limit.max as usize {
                // Room again when the oldest admission that must leave has left.
                let excess = q.len() + 1 - limit.max as usize;
                if let Some(&t) = q.get(excess - 1) {
                    wait = wait.max(t.duration_since(now) + limit.window);
                }
            }
        }
        if limit_refused(wait) {
            let nanos = wait.as_nanos();
            let secs = nanos.div_euclid(1_000_000_000) + i128::from(nanos % 1_000_000_000 != 0);
            return Decision::Throttled {
                retry_after_secs: u64::try_from(secs).unwrap_or(u64::MAX).max(1),
            };
        }
        for (b, limit) in buckets {
            if limit.max == 0 {
                continue;
            }
            self.windows.entry(b).or_default().push_back(now);
        }
        Decision::Allowed
    }

    /// Drops windows with no admission younger than their length (memory bound for many record ids).
    pub fn prune(&mut self, now: Timestamp) {
        let longest = [
            self.limits.per_call_record,
            self.limits.list,
            self.limits.per_app_per_tenant,
            self.limits.per_tenant,
            self.limits.per_app,
            self.limits.pstn_per_app_per_tenant,
            self.limits.pstn_per_tenant,
        ]
        .iter()
        .map(|l| l.window)
        .max()
        .unwrap_or(SignedDuration::ZERO);
        self.windows
            .retain(|_, q| q.back().is_some_and(|&t| plus(t, longest) > now));
    }

    /// Windows currently held (for tests and metrics).
    pub fn tracked_windows(&self) -> usize {
        self.windows.len()
    }
}

fn plus(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

fn limit_refused(wait: SignedDuration) -> bool {
    wait > SignedDuration::ZERO
}

/// An injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `503 Service Unavailable` with `Retry-After: retry_after_secs`.
    ServiceUnavailable { retry_after_secs: u64 },
    /// `504 Gateway Timeout` (no `Retry-After`).
    GatewayTimeout,
}

impl Fault {
    pub fn status(&self) -> http::StatusCode {
        match self {
            Fault::ServiceUnavailable { .. } => http::StatusCode::SERVICE_UNAVAILABLE,
            Fault::GatewayTimeout => http::StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The `Retry-After` value to send, if any.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Fault::ServiceUnavailable { retry_after_secs } => Some(*retry_after_secs),
            Fault::GatewayTimeout => None,
        }
    }

    /// The Graph error body's code and message.
    pub fn error(&self) -> GraphError {
        match self {
            Fault::ServiceUnavailable { .. } => GraphError::new(
                self.status(),
                "serviceNotAvailable",
                "The service is temporarily unavailable. Please retry later.",
            ),
            Fault::GatewayTimeout => GraphError::new(
                self.status(),
                "generalException",
                "The request timed out before the service could answer. Please retry.",
            ),
        }
    }
}

/// `--fault-rate P`: answers a fraction `P` of requests with a [`Fault`] — two thirds 503
/// (`Retry-After` 1–5 s), one third 504. Deterministic: the n-th call to [`Faults::decide`] gives the same
/// answer for the same seed.
#[derive(Debug, Clone)]
pub struct Faults {
    rate: f64,
    rng: ChaCha8Rng,
}

impl Faults {
    /// `rate` outside `[0, 1]` is clamped; NaN means 0.
    pub fn new(seed: u64, rate: f64) -> Self {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        Faults {
            rate,
            rng: ChaCha8Rng::seed_from_u64(crate::rng::mix(seed ^ 0x4641_554c_5453)),
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The fault for the next request, if it gets one.
    pub fn decide(&mut self) -> Option<Fault> {
        if self.rate == 0.0 {
            return None;
        }
        let x: f64 = self.rng.random();
        if x >= self.rate {
            return None;
        }
        if self.rng.random_bool(2.0 / 3.0) {
            Some(Fault::ServiceUnavailable {
                retry_after_secs: self.rng.random_range(1..=5),
            })
        } else {
            Some(Fault::GatewayTimeout)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: f64) -> Timestamp {
        Timestamp::from_nanosecond(1_800_000_000_000_000_000 + (secs * 1e9) as i128).unwrap()
    }

    fn rec(id: &str) -> ThrottleKey {
        ThrottleKey {
            tenant: "t".into(),
            app: "a".into(),
            kind: RequestKind::CallRecord { id: id.into() },
        }
    }

    fn kind(kind: RequestKind) -> ThrottleKey {
        ThrottleKey {
            tenant: "t".into(),
            app: "a".into(),
            kind,
        }
    }

    #[test]
    fn fortieth_admitted_forty_first_throttled() {
        let mut th = Throttle::default();
        for i in 0..40 {
            assert_eq!(
                th.check(rec("r"), t(i as f64 * 0.1)),
                Decision::Allowed,
                "request {}",
                i + 1
            );
        }
        // The first request was at 0.0 s: the window admits again at 20.0 s.
        assert_eq!(
            th.check(rec("r"), t(4.5)),
            Decision::Throttled {
                retry_after_secs: 16
            }
        );
        assert_eq!(
            th.check(rec("r"), t(19.999)),
            Decision::Throttled {
                retry_after_secs: 1
            }
        );
        // The window slides: at exactly 20 s the first admission has left it.
        assert_eq!(th.check(rec("r"), t(20.0)), Decision::Allowed);
        assert_eq!(
            th.check(rec("r"), t(20.05)),
            Decision::Throttled {
                retry_after_secs: 1
            }
        );
        assert_eq!(th.check(rec("r"), t(20.1)), Decision::Allowed);
        // Another record has its own window.
        assert_eq!(th.check(rec("other"), t(20.1)), Decision::Allowed);
    }

    #[test]
    fn refused_requests_do_not_count() {
        let mut th = Throttle::default();
        for _ in 0..40 {
            assert_eq!(th.check(rec("r"), t(0.0)), Decision::Allowed);
        }
        for i in 0..100 {
            assert!(matches!(
                th.check(rec("r"), t(1.0 + i as f64 * 0.1)),
                Decision::Throttled { .. }
            ));
        }
        assert_eq!(th.check(rec("r"), t(20.0)), Decision::Allowed);
    }

    #[test]
    fn retry_after_is_rounded_up_and_at_least_one() {
        let mut th = Throttle::new(Limits {
            list: Limit::new(1, 20),
            ..Limits::default()
        });
        assert_eq!(
            th.check(kind(RequestKind::ListCallRecords), t(0.4)),
            Decision::Allowed
        );
        assert_eq!(
            th.check(kind(RequestKind::ListCallRecords), t(0.4)),
            Decision::Throttled {
                retry_after_secs: 20
            }
        );
        assert_eq!(
            th.check(kind(RequestKind::ListCallRecords), t(1.0)),
            Decision::Throttled {
                retry_after_secs: 20
            } // 19.4 s → 20
        );
        assert_eq!(
            th.check(kind(RequestKind::ListCallRecords), t(20.3999)),
            Decision::Throttled {
                retry_after_secs: 1
            }
        );
        assert_eq!(
            th.check(kind(RequestKind::ListCallRecords), t(20.4)),
            Decision::Allowed
        );
    }

    #[test]
    fn list_limit_is_separate_from_records() {
        let mut th = Throttle::default();
        for _ in 0..40 {
            assert_eq!(
                th.check(kind(RequestKind::ListCallRecords), t(0.0)),
                Decision::Allowed
            );
        }
        assert!(matches!(
            th.check(kind(RequestKind::ListCallRecords), t(0.0)),
            Decision::Throttled {
                retry_after_secs: 20
            }
        ));
        assert_eq!(th.check(rec("r"), t(0.0)), Decision::Allowed);
    }

    #[test]
    fn app_per_tenant_limit_spans_records_and_lists() {
        let mut th = Throttle::default();
        for i in 0..1_500 {
            let k = if i % 2 == 0 {
                rec(&format!("r{i}"))
            } else if i % 3 == 0 {
                kind(RequestKind::ListCallRecords)
            } else {
                rec(&format!("s{i}"))
            };
            // Spread over 10 s so the list limit (40 / 20 s) is not what bites.
            let now = t(i as f64 / 150.0);
            if let RequestKind::ListCallRecords = k.kind {
                th.check(k, now);
            } else {
                assert_eq!(th.check(k, now), Decision::Allowed, "request {}", i + 1);
            }
        }
        // Lists refused by their own limit did not count: fill up to exactly 1,500 admissions.
        let mut n = 0;
        while th.check(rec(&format!("fill{n}")), t(10.0)) == Decision::Allowed {
            n += 1;
            assert!(n < 2_000);
        }
        assert!(matches!(
            th.check(rec("new"), t(10.0)),
            Decision::Throttled {
                retry_after_secs: 10
            }
        ));
        // Another app in the same tenant is not affected.
        let other = ThrottleKey {
            app: "b".into(),
            ..rec("new")
        };
        assert_eq!(th.check(other, t(10.0)), Decision::Allowed);
    }

    #[test]
    fn pstn_functions_200_per_minute() {
        let mut th = Throttle::default();
        for i in 0..200 {
            assert_eq!(
                th.check(kind(RequestKind::PstnFunction), t(i as f64 * 0.25)),
                Decision::Allowed
            );
        }
        assert_eq!(
            th.check(kind(RequestKind::PstnFunction), t(50.0)),
            Decision::Throttled {
                retry_after_secs: 10
            }
        );
        assert_eq!(
            th.check(kind(RequestKind::PstnFunction), t(60.0)),
            Decision::Allowed
        );
        // PSTN functions do not use the call-records budget.
        assert_eq!(th.check(rec("r"), t(60.0)), Decision::Allowed);
    }

    #[test]
    fn tenants_are_separate_and_other_requests_free() {
        let mut th = Throttle::default();
        for _ in 0..40 {
            th.check(rec("r"), t(0.0));
        }
        let other_tenant = ThrottleKey {
            tenant: "u".into(),
            ..rec("r")
        };
        assert_eq!(th.check(other_tenant, t(0.0)), Decision::Allowed);
        for _ in 0..10_000 {
            assert_eq!(
                th.check(kind(RequestKind::Other), t(0.0)),
                Decision::Allowed
            );
        }
    }

    #[test]
    fn disabled_admits_everything() {
        let mut th = Throttle::disabled();
        for _ in 0..1_000 {
            assert_eq!(th.check(rec("r"), t(0.0)), Decision::Allowed);
        }
        assert_eq!(th.tracked_windows(), 0);
    }

    #[test]
    fn prune_drops_idle_windows() {
        let mut th = Throttle::default();
        for i in 0..100 {
            th.check(rec(&format!("r{i}")), t(0.0));
        }
        assert!(th.tracked_windows() > 100);
        th.prune(t(59.0));
        assert!(th.tracked_windows() > 0); // PSTN windows are 60 s, records' are shorter but kept as long
        th.prune(t(60.0));
        assert_eq!(th.tracked_windows(), 0);
    }

    #[test]
    fn throttled_error_is_429() {
        let e = Decision::Throttled {
            retry_after_secs: 3,
        }
        .error()
        .unwrap();
        assert_eq!(e.status, http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(Decision::Allowed.error(), None);
    }

    proptest::proptest! {
        /// Whatever the arrival pattern: never more than 40 admissions of one record in any 20 s,
        /// and a request sent `retry_after_secs` after a refusal is admitted.
        #[test]
        fn sliding_window_invariants(gaps in proptest::collection::vec(0u64..1_500, 1..400)) {
            let mut th = Throttle::default();
            let mut now_ms = 0u64;
            let mut admitted: Vec<u64> = Vec::new();
            for g in gaps {
                now_ms += g;
                let now = t(now_ms as f64 / 1000.0);
                match th.check(rec("r"), now) {
                    Decision::Allowed => admitted.push(now_ms),
                    Decision::Throttled { retry_after_secs } => {
                        proptest::prop_assert!((1..=20).contains(&retry_after_secs));
                        let mut probe = th.clone();
                        let later = t((now_ms + retry_after_secs * 1000) as f64 / 1000.0);
                        proptest::prop_assert_eq!(probe.check(rec("r"), later), Decision::Allowed);
                        // One second earlier it would still have been refused (when the wait was over 1 s).
                        if retry_after_secs > 1 {
                            let earlier = t((now_ms + (retry_after_secs - 1) * 1000) as f64 / 1000.0);
                            proptest::prop_assert_ne!(th.clone().check(rec("r"), earlier), Decision::Allowed);
                        }
                    }
                }
                let in_window = admitted.iter().filter(|&&a| a + 20_000 > now_ms).count();
                proptest::prop_assert!(in_window <= 40);
            }
        }
    }

    #[test]
    fn faults_are_deterministic_and_near_the_rate() {
        let run = |seed| {
            let mut f = Faults::new(seed, 0.1);
            (0..10_000).map(|_| f.decide()).collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        let faults = a.iter().flatten().count();
        assert!((800..1_200).contains(&faults), "{faults}");
        let n503 = a
            .iter()
            .flatten()
            .filter(|f| matches!(f, Fault::ServiceUnavailable { .. }))
            .count();
        assert!(
            n503 > faults / 2 && n503 < faults * 4 / 5,
            "{n503} of {faults}"
        );
        for f in a.iter().flatten() {
            match f {
                Fault::ServiceUnavailable { retry_after_secs } => {
                    assert!((1..=5).contains(retry_after_secs));
                    assert_eq!(f.status(), http::StatusCode::SERVICE_UNAVAILABLE);
                    assert_eq!(f.retry_after_secs(), Some(*retry_after_secs));
                }
                Fault::GatewayTimeout => {
                    assert_eq!(f.status(), http::StatusCode::GATEWAY_TIMEOUT);
                    assert_eq!(f.retry_after_secs(), None);
                }
            }
            assert_eq!(f.error().status, f.status());
        }
    }

    #[test]
    fn fault_rate_edges() {
        let mut none = Faults::new(1, 0.0);
        let mut nan = Faults::new(1, f64::NAN);
        let mut all = Faults::new(1, 7.0);
        assert_eq!(all.rate(), 1.0);
        for _ in 0..1_000 {
            assert_eq!(none.decide(), None);
            assert_eq!(nan.decide(), None);
            assert!(all.decide().is_some());
        }
    }
}
