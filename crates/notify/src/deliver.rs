//! One HTTP POST of a notification body to a webhook, as an [`AttemptOutcome`].
//!
//! The client: reqwest with rustls (TLS 1.2+), HTTP/1.1, no redirects (a 3xx is an
//! unsuccessful attempt), no proxy, a per-attempt timeout (10 s by default), and DNS resolution
//! through the [`GuardedResolver`], so every connection, retries included, goes only to
//! addresses the [`WebhookGuard`] allows.

use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};

use crate::guard::{self, GuardError, GuardedResolver, WebhookGuard};
use crate::policy::{AttemptOutcome, AttemptResult, RetryAfter};
use crate::signing::SignatureHeaders;

/// Default per-attempt timeout (Graph: 10 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// `Content-Type` of notification bodies.
pub const NOTIFICATION_CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// `User-Agent` of our requests.
pub const USER_AGENT_VALUE: &str = concat!("callrecords-notify/", env!("CARGO_PKG_VERSION"));
/// At most this much of a response body is read (and discarded).
const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// The HTTP client could not be built (TLS backend initialisation).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the webhook HTTP client: {0}")]
pub struct BuildError(String);

/// Posts notification bodies.
#[derive(Debug, Clone)]
pub struct Deliverer {
    client: reqwest::Client,
    guard: Arc<WebhookGuard>,
    timeout: Duration,
}

impl Deliverer {
    /// A deliverer with this guard and per-attempt timeout.
    pub fn new(guard: WebhookGuard, timeout: Duration) -> Result<Self, BuildError> {
        let guard = Arc::new(guard);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .dns_resolver(GuardedResolver::new(Arc::clone(&guard)))
            .build()
            .map_err(|e| BuildError(e.to_string()))?;
        Ok(Self {
            client,
            guard,
            timeout,
        })
    }

    /// The guard.
    pub fn guard(&self) -> &WebhookGuard {
        &self.guard
    }

    /// The per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Checks the scheme and, for an IP-literal host, the address (names are checked by the
    /// resolver at connect time).
    pub(crate) fn precheck(&self, url: &str) -> Result<reqwest::Url, GuardError> {
        let parsed = guard::check_scheme(url)?;
        if let Some(ip) = parsed
            .host_str()
            .and_then(|h| h.trim_start_matches('[').trim_end_matches(']').parse().ok())
        {
            self.guard.check_ip(ip)?;
        }
        Ok(parsed)
    }

    /// POSTs `body` (a `changeNotificationCollection`) to `url`, signed when `signature` is
    /// given. Never fails: every problem is an [`AttemptResult`].
    pub async fn post(
        &self,
        url: &str,
        body: Bytes,
        signature: Option<&SignatureHeaders>,
    ) -> AttemptOutcome {
        let start = Instant::now();
        let parsed = match self.precheck(url) {
            Ok(u) => u,
            Err(e) => {
                return AttemptOutcome {
                    elapsed: start.elapsed(),
                    result: AttemptResult::Refused(e.to_string()),
                };
            }
        };
        let mut req = self
            .client
            .post(parsed)
            .header(CONTENT_TYPE, NOTIFICATION_CONTENT_TYPE)
            .header(USER_AGENT, USER_AGENT_VALUE)
            .body(body);
        if let Some(sig) = signature {
            for (name, value) in sig.pairs() {
                match HeaderValue::from_str(value) {
                    Ok(v) => req = req.header(name, v),
                    Err(_) => {
                        return AttemptOutcome {
                            elapsed: start.elapsed(),
                            result: AttemptResult::Failed(format!("invalid {name} header value")),
                        };
                    }
                }
            }
        }
        let sent = tokio::time::timeout(self.timeout, req.send()).await;
        let elapsed = start.elapsed();
        let resp = match sent {
            Err(_) => {
                return AttemptOutcome {
                    elapsed,
                    result: AttemptResult::TimedOut,
                };
            }
            Ok(Err(e)) => {
                return AttemptOutcome {
                    elapsed,
                    result: classify_error(&e),
                };
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(RetryAfter::parse);
        let remaining = self.timeout.saturating_sub(elapsed);
        let _ = tokio::time::timeout(remaining, drain(resp)).await;
        AttemptOutcome {
            elapsed,
            result: AttemptResult::Status {
                status,
                retry_after,
            },
        }
    }
}

/// Reads (and discards) up to [`MAX_RESPONSE_BODY`] bytes so the connection can be reused.
async fn drain(mut resp: reqwest::Response) {
    let mut read = 0usize;
    while let Ok(Some(chunk)) = resp.chunk().await {
        read += chunk.len();
        if read > MAX_RESPONSE_BODY {
            break;
        }
    }
}

pub(crate) fn guard_error_in(e: &reqwest::Error) -> Option<GuardError> {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(g) = s.downcast_ref::<GuardError>() {
            return Some(g.clone());
        }
        source = s.source();
    }
    None
}

pub(crate) fn classify_error(e: &reqwest::Error) -> AttemptResult {
    if let Some(g) = guard_error_in(e) {
        AttemptResult::Refused(g.to_string())
    } else if e.is_timeout() {
        AttemptResult::TimedOut
    } else {
        let mut msg = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            source = s.source();
        }
        AttemptResult::Failed(msg)
    }
}
