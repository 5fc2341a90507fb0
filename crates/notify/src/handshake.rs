//! The notification-URL validation handshake of subscription create (spec §10.2, §15.16).
//!
//! Graph POSTs to `{url}?validationToken={token}` (`&validationToken=` when the URL already has
//! a query; the fragment, if any, is dropped) with `Content-Type: text/plain; charset=utf-8` and
//! an empty body. The endpoint passes only with `200 OK`, a `text/plain` response and the
//! URL-decoded token as the body, all within 10 s. Redirects are not followed.
//! [`HandshakeError::to_subscription_error`] gives the create-subscription answer.
//!
//! Tokens look like Graph's ("Validation: Testing client application reachability for
//! subscription Request-Id: {guid}") and are form-encoded in the query (`+` for spaces,
//! `%3A` for colons), so a receiver that echoes the raw query text fails, as it would with
//! Graph.

use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::CONTENT_TYPE;

use crate::deliver::{Deliverer, USER_AGENT_VALUE, classify_error};
use crate::error::SubscriptionError;
use crate::guard::GuardError;
use crate::policy::AttemptResult;

/// Graph's limit for the whole validation exchange.
pub const VALIDATION_TIMEOUT: Duration = Duration::from_secs(10);
/// `Content-Type` of the validation request.
pub const VALIDATION_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// Bytes of response body read at most (a correct answer is the token, under 200 bytes).
const MAX_BODY: usize = 16 * 1024;

/// Characters left as they are in the query (RFC 3986 unreserved); space becomes `+`.
const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why the handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The SSRF guard refused the URL.
    #[error("notification URL refused: {0}")]
    Refused(GuardError),
    /// No complete answer in time.
    #[error("validation request timed out")]
    TimedOut,
    /// A status other than 200 (redirects included).
    #[error("validation request answered with status {0}")]
    Status(u16),
    /// 200 but not `text/plain`.
    #[error("validation response has content type {0:?}, expected text/plain")]
    ContentType(Option<String>),
    /// 200 but the body is not the decoded token.
    #[error("validation response body is not the validation token")]
    WrongBody,
    /// Connection or protocol failure.
    #[error("validation request failed: {0}")]
    Transport(String),
}

impl HandshakeError {
    /// The create-subscription error: `400 InvalidRequest` "Subscription validation request
    /// timed out." for a timeout, `400 InvalidRequest` with the reason for a refused URL, and
    /// `400 ValidationError` "...must respond with 200 OK to validation request." otherwise.
    pub fn to_subscription_error(&self) -> SubscriptionError {
        match self {
            Self::TimedOut => SubscriptionError::ValidationTimedOut,
            Self::Refused(g) => {
                SubscriptionError::invalid(format!("Invalid notification URL: {g}"))
            }
            _ => SubscriptionError::ValidationFailed,
        }
    }
}

/// A fresh token in Graph's style.
pub fn generate_token() -> String {
    format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        uuid::Uuid::new_v4()
    )
}

/// `token` form-encoded for a query string.
pub fn encode_token(token: &str) -> String {
    utf8_percent_encode(token, QUERY_ENCODE)
        .to_string()
        .replace("%20", "+")
}

/// The validation request URL for `url`.
pub fn validation_url(url: &str, token: &str) -> String {
    let base = url.split_once('#').map_or(url, |(b, _)| b);
    let sep = match base.rfind('?') {
        None => "?",
        Some(i) if i + 1 == base.len() || base.ends_with('&') => "",
        Some(_) => "&",
    };
    format!("{base}{sep}validationToken={}", encode_token(token))
}

/// Runs the handshake against `url` with `token`, giving up after `timeout`
/// ([`VALIDATION_TIMEOUT`] in production).
pub async fn validate(
    deliverer: &Deliverer,
    url: &str,
    token: &str,
    timeout: Duration,
) -> Result<(), HandshakeError> {
    let start = Instant::now();
    deliverer
        .guard()
        .check_url(url)
        .await
        .map_err(HandshakeError::Refused)?;
    let target = deliverer
        .precheck(&validation_url(url, token))
        .map_err(HandshakeError::Refused)?;
    let remaining = timeout.saturating_sub(start.elapsed());
    let exchange = async {
        let resp = deliverer
            .client()
            .post(target)
            .header(CONTENT_TYPE, VALIDATION_CONTENT_TYPE)
            .header(reqwest::header::USER_AGENT, USER_AGENT_VALUE)
            .timeout(remaining)
            .send()
            .await
            .map_err(|e| match classify_error(&e) {
                AttemptResult::TimedOut => HandshakeError::TimedOut,
                AttemptResult::Refused(_) => match crate::deliver::guard_error_in(&e) {
                    Some(g) => HandshakeError::Refused(g),
                    None => HandshakeError::Transport(e.to_string()),
                },
                AttemptResult::Failed(m) => HandshakeError::Transport(m),
                AttemptResult::Status { .. } => HandshakeError::Transport(e.to_string()),
            })?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(HandshakeError::Status(status));
        }
        let ct = resp
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let is_text = ct.as_deref().is_some_and(|c| {
            c.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/plain"))
        });
        if !is_text {
            return Err(HandshakeError::ContentType(ct));
        }
        let mut resp = resp;
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    body.extend_from_slice(&c);
                    if body.len() > MAX_BODY {
                        return Err(HandshakeError::WrongBody);
                    }
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(HandshakeError::TimedOut),
                Err(e) => return Err(HandshakeError::Transport(e.to_string())),
            }
        }
        if body == token.as_bytes() {
            Ok(())
        } else {
            Err(HandshakeError::WrongBody)
        }
    };
    match tokio::time::timeout(remaining, exchange).await {
        Ok(r) => r,
        Err(_) => Err(HandshakeError::TimedOut),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_and_token_encoding() {
        assert_eq!(encode_token("a b:c/d+e"), "a+b%3Ac%2Fd%2Be");
        assert_eq!(encode_token("A-z_0.9~"), "A-z_0.9~");
        assert_eq!(
            validation_url("https://h/x", "t t"),
            "https://h/x?validationToken=t+t"
        );
        assert_eq!(
            validation_url("https://h/x?a=1", "t"),
            "https://h/x?a=1&validationToken=t"
        );
        assert_eq!(
            validation_url("https://h/x?", "t"),
            "https://h/x?validationToken=t"
        );
        assert_eq!(
            validation_url("https://h/x?a=1&", "t"),
            "https://h/x?a=1&validationToken=t"
        );
        assert_eq!(
            validation_url("https://h/x?a=1#frag", "t"),
            "https://h/x?a=1&validationToken=t"
        );
        assert_eq!(
            validation_url("https://h/x#f?g", "t"),
            "https://h/x?validationToken=t"
        );
        let t = generate_token();
        assert!(t.starts_with(
            "Validation: Testing client application reachability for subscription Request-Id: "
        ));
        assert_ne!(t, generate_token());
    }

    #[test]
    fn maps_to_graph_errors() {
        assert_eq!(
            HandshakeError::TimedOut.to_subscription_error(),
            SubscriptionError::ValidationTimedOut
        );
        for e in [
            HandshakeError::Status(500),
            HandshakeError::WrongBody,
            HandshakeError::ContentType(None),
            HandshakeError::Transport("x".into()),
        ] {
            let s = e.to_subscription_error();
            assert_eq!((s.status(), s.code()), (400, "ValidationError"));
        }
        let r = HandshakeError::Refused(GuardError::SchemeNotAllowed("http://x".into()))
            .to_subscription_error();
        assert_eq!((r.status(), r.code()), (400, "InvalidRequest"));
    }
}
