//! One Graph GET with everything a polite, lossless client does: the request's budgets (§12), the bearer
//! token (fetched again once on a 401), `Prefer: include-unknown-enum-members` (so evolvable enums arrive
//! as stored, not as `unknownFutureValue`), a `client-request-id`, and retries — 429 / 503 / 504 honour
//! `Retry-After` (seconds or an HTTP date) or back off exponentially with jitter, other 5xx, timeouts and
//! connection failures back off too. 404 and 403 are answers, not retried here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::Value;

use crate::auth::{AuthError, TokenSource};
use crate::budget::{Budgets, Key};

/// Counters of one client (all requests, including retries).
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub ok: AtomicU64,
    /// 429 answers.
    pub throttled: AtomicU64,
    /// 503 / 504 answers.
    pub unavailable: AtomicU64,
    /// Other 5xx, timeouts, connection failures, unreadable bodies.
    pub transient: AtomicU64,
    pub retries: AtomicU64,
    pub unauthorized: AtomicU64,
    pub not_found: AtomicU64,
    /// Response body bytes received (200s).
    pub bytes: AtomicU64,
    /// Time spent waiting for budgets or Retry-After / backoff, µs (summed over concurrent requests).
    pub waited_us: AtomicU64,
    /// Time spent in HTTP exchanges, µs (summed over concurrent requests).
    pub http_us: AtomicU64,
}

impl Stats {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// requests, throttled, unavailable, transient, retries, bytes, waited µs, HTTP µs.
    pub fn snapshot(&self) -> [u64; 8] {
        [
            &self.requests,
            &self.throttled,
            &self.unavailable,
            &self.transient,
            &self.retries,
            &self.bytes,
            &self.waited_us,
            &self.http_us,
        ]
        .map(Stats::get)
    }
}

/// What a request is, for its budgets and for naming the permission on a 403.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    List,
    Record(String),
    Pstn,
    /// `POST / PATCH / DELETE subscriptions…` (change notifications).
    Subscription,
}

impl RequestKind {
    fn keys(&self) -> Vec<Key> {
        match self {
            RequestKind::List => vec![Key::AppTenant, Key::List],
            RequestKind::Record(id) => vec![Key::AppTenant, Key::Record(id.clone())],
            RequestKind::Pstn => vec![Key::Pstn],
            RequestKind::Subscription => vec![Key::AppTenant],
        }
    }

    fn permission(&self) -> &'static str {
        match self {
            RequestKind::Pstn => "CallRecords.Read.All (or CallRecord-PstnCalls.Read.All)",
            _ => "CallRecords.Read.All",
        }
    }
}

/// Why a GET gave no JSON.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("404 itemNotFound")]
    NotFound,
    #[error(
        "403 {code}: the app lacks the application permission {permission} (admin consent needed): {message}"
    )]
    Forbidden {
        permission: &'static str,
        code: String,
        message: String,
    },
    #[error("{status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: String },
    #[error("authentication: {0}")]
    Auth(#[from] AuthError),
    #[error("{0}")]
    BadUrl(String),
}

impl FetchError {
    /// Nothing else will work either (credentials refused, permission missing): stop the sweep.
    pub fn is_fatal(&self) -> bool {
        match self {
            FetchError::Auth(AuthError::Transport(_)) => false,
            FetchError::Auth(_) | FetchError::Forbidden { .. } => true,
            FetchError::Refused { status, .. } => *status == 401,
            _ => false,
        }
    }
}

/// Retry settings.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per request (the first included).
    pub attempts: u32,
    /// First backoff; doubled per attempt, with jitter.
    pub base: Duration,
    /// Longest backoff or Retry-After honoured.
    pub cap: Duration,
    /// Per-attempt timeout.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 12,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(120),
            timeout: Duration::from_secs(100),
        }
    }
}

/// A Graph client for one tenant and app.
#[derive(Debug)]
pub struct GraphClient {
    http: reqwest::Client,
    tokens: Arc<TokenSource>,
    budgets: Budgets,
    retry: RetryPolicy,
    pub stats: Stats,
}

/// The Graph error body's code and message (empty when the body is not one).
fn graph_error(body: &[u8]) -> (String, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let e = &v["error"];
    (
        e["code"].as_str().unwrap_or("").to_string(),
        e["message"].as_str().unwrap_or("").to_string(),
    )
}

/// `Retry-After`: delta-seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let d = at.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(d).unwrap_or(Duration::ZERO))
}

impl GraphClient {
    pub fn new(
        http: reqwest::Client,
        tokens: Arc<TokenSource>,
        budgets: Budgets,
        retry: RetryPolicy,
    ) -> GraphClient {
        GraphClient {
            http,
            tokens,
            budgets,
            retry,
            stats: Stats::default(),
        }
    }

    pub fn tokens(&self) -> &TokenSource {
        &self.tokens
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.retry.cap);
        // "Equal jitter": half fixed, half random.
        let half = exp / 2;
        half + Duration::from_secs_f64(rand::rng().random_range(0.0..=half.as_secs_f64()))
    }

    async fn wait(&self, d: Duration) {
        let d = d.min(self.retry.cap);
        Stats::add(&self.stats.waited_us, d.as_micros() as u64);
        tokio::time::sleep(d).await;
    }

    /// GETs `url` (absolute) and parses the JSON body.
    pub async fn get(&self, url: &str, kind: &RequestKind) -> Result<Value, FetchError> {
        self.send(reqwest::Method::GET, url, None, kind).await
    }

    /// Sends `method` to `url` (absolute) with an optional JSON body, with the same budgets, token and
    /// retries as [`GraphClient::get`]; a 2xx answers its JSON body (`null` when it has none).
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
        kind: &RequestKind,
    ) -> Result<Value, FetchError> {
        let keys = kind.keys();
        let mut refreshed = false;
        let mut last = String::new();
        let mut attempt = 0u32;
        while attempt < self.retry.attempts {
            let t = Instant::now();
            self.budgets.acquire(&keys).await;
            Stats::add(&self.stats.waited_us, t.elapsed().as_micros() as u64);
            let token = self.tokens.token().await?;
            if attempt > 0 {
                Stats::add(&self.stats.retries, 1);
            }
            Stats::add(&self.stats.requests, 1);
            let t = Instant::now();
            let mut req = self.http.request(method.clone(), url);
            if let Some(b) = body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.to_string());
            }
            let sent = req
                .bearer_auth(&token)
                .header("Prefer", "include-unknown-enum-members")
                .header("client-request-id", uuid::Uuid::new_v4().to_string())
                .header(reqwest::header::ACCEPT, "application/json")
                .timeout(self.retry.timeout)
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    Stats::add(&self.stats.http_us, t.elapsed().as_micros() as u64);
                    Stats::add(&self.stats.transient, 1);
                    last = format!("transport: {}", e.without_url());
                    tracing::debug!(url, "{last}");
                    self.wait(self.backoff(attempt)).await;
                    attempt += 1;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let body = resp.bytes().await;
            Stats::add(&self.stats.http_us, t.elapsed().as_micros() as u64);
            let body = match body {
                Ok(b) => b,
                Err(e) => {
                    Stats::add(&self.stats.transient, 1);
                    last = format!("reading the body: {}", e.without_url());
                    self.wait(self.backoff(attempt)).await;
                    attempt += 1;
                    continue;
                }
            };
            match status {
                200..=299 if body.is_empty() => {
                    Stats::add(&self.stats.ok, 1);
                    return Ok(Value::Null);
                }
                200..=299 => match serde_json::from_slice::<Value>(&body) {
                    Ok(v) => {
                        Stats::add(&self.stats.ok, 1);
                        Stats::add(&self.stats.bytes, body.len() as u64);
                        return Ok(v);
                    }
                    Err(e) => {
                        Stats::add(&self.stats.transient, 1);
                        last = format!("200 with a body that is not JSON: {e}");
                    }
                },
                401 => {
                    Stats::add(&self.stats.unauthorized, 1);
                    let (code, message) = graph_error(&body);
                    if refreshed {
                        return Err(FetchError::Refused {
                            status,
                            code,
                            message,
                        });
                    }
                    // Once: a new token, at once, not counted as an attempt.
                    refreshed = true;
                    self.tokens.invalidate(&token);
                    continue;
                }
                403 => {
                    let (code, message) = graph_error(&body);
                    return Err(FetchError::Forbidden {
                        permission: kind.permission(),
                        code,
                        message,
                    });
                }
                404 => {
                    Stats::add(&self.stats.not_found, 1);
                    return Err(FetchError::NotFound);
                }
                429 | 503 | 504 => {
                    if status == 429 {
                        Stats::add(&self.stats.throttled, 1);
                    } else {
                        Stats::add(&self.stats.unavailable, 1);
                    }
                    let (code, _) = graph_error(&body);
                    last = format!("{status} {code}");
                    let d = retry_after.unwrap_or_else(|| self.backoff(attempt));
                    if status == 429 {
                        self.budgets.pause(&keys, Instant::now() + d);
                    }
                    tracing::debug!(url, status, wait_ms = d.as_millis() as u64, "retrying");
                    self.wait(d).await;
                    attempt += 1;
                    continue;
                }
                s if s >= 500 => {
                    Stats::add(&self.stats.transient, 1);
                    let (code, _) = graph_error(&body);
                    last = format!("{status} {code}");
                }
                _ => {
                    let (code, message) = graph_error(&body);
                    return Err(FetchError::Refused {
                        status,
                        code,
                        message,
                    });
                }
            }
            self.wait(self.backoff(attempt)).await;
            attempt += 1;
        }
        Err(FetchError::GaveUp {
            attempts: self.retry.attempts,
            last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
