//! Standard Webhooks signatures (an extension to Graph: only sent when a subscription has a
//! signing secret).
//!
//! Headers: `webhook-id` (message id, the same on every retry), `webhook-timestamp` (unix
//! seconds of this attempt), `webhook-signature` = `v1,` + base64(HMAC-SHA256(key,
//! `"{id}.{timestamp}.{body}"`)). Secrets are written `whsec_` + base64(key); keys are 24 to 64
//! bytes, as the Standard Webhooks spec recommends.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of a secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";
/// Shortest key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 24;
/// Longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 64;
/// Header names.
pub const HEADER_ID: &str = "webhook-id";
/// Header names.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header names.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// Why a secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Not base64 after the `whsec_` prefix.
    #[error("webhook secret is not valid base64")]
    NotBase64,
    /// Key outside 24..=64 bytes.
    #[error("webhook secret must be {MIN_KEY_LEN} to {MAX_KEY_LEN} bytes, got {0}")]
    BadLength(usize),
}

/// A signing key. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// The three headers of one signed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// `webhook-signature`.
    pub signature: String,
}

impl SignatureHeaders {
    /// `(name, value)` pairs in a fixed order.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            (HEADER_ID, &self.id),
            (HEADER_TIMESTAMP, &self.timestamp),
            (HEADER_SIGNATURE, &self.signature),
        ]
    }
}

impl WebhookSecret {
    /// Parses `whsec_<base64>` (the prefix is optional, as in the reference libraries).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let b64 = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .unwrap_or(text.trim());
        let key = STANDARD.decode(b64).map_err(|_| SecretError::NotBase64)?;
        Self::from_bytes(&key)
    }

    /// A secret from raw key bytes (e.g. 32 random bytes).
    pub fn from_bytes(key: &[u8]) -> Result<Self, SecretError> {
        if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&key.len()) {
            return Err(SecretError::BadLength(key.len()));
        }
        Ok(Self { key: key.to_vec() })
    }

    /// The `whsec_<base64>` text form.
    pub fn to_whsec(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        #[allow(clippy::expect_used)]
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// `v1,<base64 signature>` for one message.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let sig = self.mac(msg_id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(sig))
    }

    /// The headers for one attempt at `timestamp` (unix seconds).
    pub fn headers(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> SignatureHeaders {
        SignatureHeaders {
            id: msg_id.to_owned(),
            timestamp: timestamp.to_string(),
            signature: self.sign(msg_id, timestamp, body),
        }
    }

    /// Receiver-side check: true when one of the space-separated `v1,` signatures in
    /// `signature_header` matches (constant-time) and `timestamp` is within `tolerance_secs`
    /// of `now` (unix seconds).
    pub fn verify(
        &self,
        msg_id: &str,
        timestamp: &str,
        body: &[u8],
        signature_header: &str,
        now: i64,
        tolerance_secs: i64,
    ) -> bool {
        let Ok(ts) = timestamp.trim().parse::<i64>() else {
            return false;
        };
        if now.abs_diff(ts) > tolerance_secs.unsigned_abs() {
            return false;
        }
        signature_header.split_whitespace().any(|s| {
            let Some(b64) = s.strip_prefix("v1,") else {
                return false;
            };
            let Ok(sig) = STANDARD.decode(b64) else {
                return false;
            };
            self.mac(msg_id, ts, body).verify_slice(&sig).is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn standard_webhooks_known_vector() {
        let s = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(s.sign(ID, TS, BODY), SIG);
        let h = s.headers(ID, TS, BODY);
        assert_eq!(
            h.pairs(),
            [
                ("webhook-id", ID),
                ("webhook-timestamp", "1614265330"),
                ("webhook-signature", SIG)
            ]
        );
        assert_eq!(s.to_whsec(), SECRET);
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
            s
        );
    }

    #[test]
    fn verify_checks_signature_and_time() {
        let s = WebhookSecret::parse(SECRET).unwrap();
        let ts = TS.to_string();
        assert!(s.verify(ID, &ts, BODY, SIG, TS, 300));
        assert!(s.verify(ID, &ts, BODY, &format!("v1,AAAA {SIG}"), TS + 300, 300));
        assert!(!s.verify(ID, &ts, BODY, SIG, TS + 301, 300));
        assert!(!s.verify(ID, &ts, b"{\"test\": 2432232315}", SIG, TS, 300));
        assert!(!s.verify("msg_other", &ts, BODY, SIG, TS, 300));
        assert!(!s.verify(ID, "not-a-number", BODY, SIG, TS, 300));
        assert!(!s.verify(ID, &ts, BODY, "v2,abc", TS, 300));
        assert!(!s.verify(ID, &ts, BODY, "v1,!!!", TS, 300));
        assert!(!s.verify(ID, &ts, BODY, "", TS, 300));
    }

    #[test]
    fn secrets_are_validated_and_redacted() {
        assert_eq!(
            WebhookSecret::parse("whsec_!!"),
            Err(SecretError::NotBase64)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_AAAA"),
            Err(SecretError::BadLength(3))
        );
        assert!(WebhookSecret::from_bytes(&[7; 23]).is_err());
        assert!(WebhookSecret::from_bytes(&[7; 24]).is_ok());
        assert!(WebhookSecret::from_bytes(&[7; 64]).is_ok());
        assert!(WebhookSecret::from_bytes(&[7; 65]).is_err());
        let s = WebhookSecret::from_bytes(&[7; 32]).unwrap();
        assert_eq!(format!("{s:?}"), "WebhookSecret(<redacted>)");
        assert_eq!(WebhookSecret::parse(&s.to_whsec()).unwrap(), s);
    }
}
