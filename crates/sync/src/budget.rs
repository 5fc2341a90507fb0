//! Client-side request budgets (spec §12), so that a healthy sync is never throttled.
//!
//! Graph documents its limits as "N requests per W seconds" without saying how it counts. Each budget here
//! is two limiters a request must pass together: a sliding window admitting at most 90 % of N in any W
//! (safe against a sliding- or fixed-window server), and a token bucket of N / 4 refilled at 90 % of N / W
//! (safe against a token-bucket server of N refilled at N / W). A 429's `Retry-After` also pauses the
//! budgets of the request that got it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One documented limit: `max` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

impl Limit {
    pub const fn new(max: u32, window_secs: u64) -> Limit {
        Limit {
            max,
            window: Duration::from_secs(window_secs),
        }
    }
}

/// The documented call-records limits (§12).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Per application per tenant, every call-records request: 1,500 / 20 s.
    pub app_tenant: Limit,
    /// List call records: 40 / 20 s.
    pub list: Limit,
    /// Per call record (its GET, sessions and participants pages): 40 / 20 s.
    pub record: Limit,
    /// PSTN functions per application per tenant: 200 / 60 s.
    pub pstn: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            app_tenant: Limit::new(1500, 20),
            list: Limit::new(40, 20),
            record: Limit::new(40, 20),
            pstn: Limit::new(200, 60),
        }
    }
}

/// What a request counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    AppTenant,
    List,
    Record(String),
    Pstn,
}

#[derive(Debug)]
struct Limiter {
    max: usize,
    window: Duration,
    sent: VecDeque<Instant>,
    tokens: f64,
    capacity: f64,
    rate_per_sec: f64,
    refilled: Instant,
    paused_until: Option<Instant>,
}

impl Limiter {
    fn new(limit: Limit, now: Instant) -> Limiter {
        let max = ((f64::from(limit.max) * 0.9).floor() as usize).max(1);
        let capacity = (f64::from(limit.max) / 4.0).floor().max(1.0);
        Limiter {
            max,
            window: limit.window,
            sent: VecDeque::new(),
            tokens: capacity,
            capacity,
            rate_per_sec: max as f64 / limit.window.as_secs_f64().max(0.001),
            refilled: now,
            paused_until: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate_per_sec).min(self.capacity);
        self.refilled = now;
        while self
            .sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            self.sent.pop_front();
        }
    }

    /// When a request may be sent (`now` if at once).
    fn ready_at(&mut self, now: Instant) -> Instant {
        self.refill(now);
        let mut at = now;
        if let Some(p) = self.paused_until {
            at = at.max(p);
        }
        if self.sent.len() >= self.max
            && let Some(first) = self.sent.get(self.sent.len() - self.max)
        {
            at = at.max(*first + self.window);
        }
        if self.tokens < 1.0 {
            let wait = (1.0 - self.tokens) / self.rate_per_sec;
            at = at.max(now + Duration::from_secs_f64(wait));
        }
        at
    }

    fn take(&mut self, now: Instant) {
        self.sent.push_back(now);
        self.tokens -= 1.0;
    }

    fn idle(&self, now: Instant) -> bool {
        self.sent
            .back()
            .is_none_or(|t| now.saturating_duration_since(*t) >= self.window)
            && self.paused_until.is_none_or(|p| p <= now)
    }
}

/// The budgets of one (tenant, app).
#[derive(Debug)]
pub struct Budgets {
    limits: Limits,
    inner: Mutex<HashMap<Key, Limiter>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Budgets {
    pub fn new(limits: Limits) -> Budgets {
        Budgets {
            limits,
            inner: Mutex::new(HashMap::new()),
        }
    }

    fn limit(&self, key: &Key) -> Limit {
        match key {
            Key::AppTenant => self.limits.app_tenant,
            Key::List => self.limits.list,
            Key::Record(_) => self.limits.record,
            Key::Pstn => self.limits.pstn,
        }
    }

    /// Waits until a request counting against every key in `keys` may be sent, and counts it.
    pub async fn acquire(&self, keys: &[Key]) {
        loop {
            let wait = self.try_take(keys, Instant::now());
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d).await,
            }
        }
    }

    /// Counts the request and returns `None` if it may go now, else how long to wait.
    pub fn try_take(&self, keys: &[Key], now: Instant) -> Option<Duration> {
        let mut m = lock(&self.inner);
        let mut at = now;
        for k in keys {
            let limit = self.limit(k);
            let l = m
                .entry(k.clone())
                .or_insert_with(|| Limiter::new(limit, now));
            at = at.max(l.ready_at(now));
        }
        if at > now {
            return Some(at - now);
        }
        for k in keys {
            if let Some(l) = m.get_mut(k) {
                l.take(now);
            }
        }
        if m.len() > 4096 {
            m.retain(|k, l| !matches!(k, Key::Record(_)) || !l.idle(now));
        }
        None
    }

    /// No request against any of `keys` before `until` (a 429's Retry-After).
    pub fn pause(&self, keys: &[Key], until: Instant) {
        let mut m = lock(&self.inner);
        for k in keys {
            let limit = self.limit(k);
            let l = m
                .entry(k.clone())
                .or_insert_with(|| Limiter::new(limit, until));
            l.paused_until = Some(l.paused_until.map_or(until, |p| p.max(until)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulates `n` requests against `keys` at the earliest times the budgets allow.
    fn schedule(b: &Budgets, keys: &[Key], n: usize, start: Instant) -> Vec<Instant> {
        let mut now = start;
        let mut out = Vec::new();
        while out.len() < n {
            match b.try_take(keys, now) {
                None => out.push(now),
                Some(d) => now += d,
            }
        }
        out
    }

    #[test]
    fn never_more_than_the_limit_in_any_sliding_window() {
        let b = Budgets::new(Limits::default());
        let t0 = Instant::now();
        let keys = [Key::AppTenant, Key::Record("r".into())];
        let times = schedule(&b, &keys, 200, t0);
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|u| u.duration_since(*t) < Duration::from_secs(20))
                .count();
            assert!(in_window <= 36, "{in_window} requests in 20 s from #{i}");
        }
        // ... and it is not needlessly slow: 200 requests at 36 / 20 s take about 110 s.
        let span = times[199].duration_since(t0).as_secs_f64();
        assert!(span < 115.0, "{span}");
    }

    #[test]
    fn a_token_bucket_server_of_the_same_limit_never_throttles() {
        // The server's bucket: 40 tokens, 2 per second.
        let b = Budgets::new(Limits::default());
        let t0 = Instant::now();
        let times = schedule(&b, &[Key::List], 300, t0);
        let (mut tokens, mut last) = (40.0f64, t0);
        for t in times {
            tokens = (tokens + t.duration_since(last).as_secs_f64() * 2.0).min(40.0);
            last = t;
            assert!(tokens >= 1.0, "the server would throttle at {:?}", t - t0);
            tokens -= 1.0;
        }
    }

    #[test]
    fn records_have_their_own_budgets_and_pause_holds_them() {
        let b = Budgets::new(Limits::default());
        let t0 = Instant::now();
        for i in 0..100 {
            assert_eq!(b.try_take(&[Key::Record(format!("r{i}"))], t0), None);
        }
        b.pause(&[Key::Record("r0".into())], t0 + Duration::from_secs(5));
        let w = b.try_take(&[Key::Record("r0".into())], t0).unwrap();
        assert_eq!(w, Duration::from_secs(5));
        assert_eq!(b.try_take(&[Key::Record("r1".into())], t0), None);
    }
}
