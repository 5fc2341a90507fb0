//! `$skiptoken`s: a typed cursor ([`SkipToken`]), sent as lower-case hex of its JSON so that clients treat
//! it as opaque.
//!
//! `served` counts the items already returned, so that `$top` caps the total across pages. Session and
//! participant tokens carry the revision (the stored copy) of the record they were issued for: later pages
//! come from that copy even when a newer version has been served since (see `docs/decisions.md`). Record
//! tokens carry the full list position (start, id, tenant).

use std::fmt::Write as _;

use callrecords_odata::ODataError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ApiError;

/// Longest token accepted (hex characters).
const MAX_TOKEN_LEN: usize = 8192;

/// Where the next page of a collection starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", deny_unknown_fields)]
pub(crate) enum SkipToken {
    /// The callRecords list: keyset after (startDateTime µs, id, tenant).
    #[serde(rename = "r")]
    Records {
        start_us: i64,
        id: String,
        tenant: String,
        served: u64,
    },
    /// A record's sessions, after the session at `ordinal`.
    #[serde(rename = "s")]
    Sessions {
        ordinal: u64,
        served: u64,
        revision: i64,
    },
    /// A record's `participants_v2`, after the participant at `ordinal`.
    #[serde(rename = "p")]
    Participants {
        ordinal: u64,
        served: u64,
        revision: i64,
    },
}

/// Which collection a token must have been issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Records,
    Sessions,
    Participants,
}

impl TokenKind {
    fn tag(self) -> &'static str {
        match self {
            TokenKind::Records => "r",
            TokenKind::Sessions => "s",
            TokenKind::Participants => "p",
        }
    }
}

impl SkipToken {
    /// The token as sent in a nextLink, for `audience` (the caller's tenant, `*` for every tenant).
    pub(crate) fn encode(&self, audience: &str) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = value.as_object_mut() {
            o.insert("a".into(), Value::String(audience.to_owned()));
        }
        let text = value.to_string();
        let mut out = String::with_capacity(text.len() * 2);
        for b in text.bytes() {
            let _ = write!(out, "{b:02x}");
        }
        out
    }

    /// Reads a token a client sent back for a collection of `kind`: 400 `BadRequest` for anything this
    /// service did not issue for that collection (including the tokens of earlier releases).
    /// A token minted for another `audience` (another tenant) is refused like a foreign one.
    pub(crate) fn decode(
        token: &str,
        kind: TokenKind,
        audience: &str,
    ) -> Result<SkipToken, ApiError> {
        let not_ours = || -> ApiError {
            ODataError::bad_request(format!(
                "$skiptoken: '{}' is not a token issued for this collection",
                token.chars().take(60).collect::<String>()
            ))
            .into()
        };
        if !token.len().is_multiple_of(2) || token.len() > MAX_TOKEN_LEN {
            return Err(not_ours());
        }
        let bytes: Option<Vec<u8>> = (0..token.len())
            .step_by(2)
            .map(|i| {
                token
                    .get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        let mut value: Value = bytes
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(not_ours)?;
        if value.get("k").and_then(Value::as_str) != Some(kind.tag()) {
            return Err(not_ours());
        }
        let minted_for = value.as_object_mut().and_then(|o| o.remove("a"));
        if minted_for.as_ref().and_then(Value::as_str) != Some(audience) {
            return Err(not_ours());
        }
        serde_json::from_value(value)
            .map_err(|_| ApiError::bad_input("$skiptoken: malformed token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> String {
        s.bytes().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn tokens_round_trip_as_opaque_hex() {
        for (t, kind) in [
            (
                SkipToken::Records {
                    start_us: -5,
                    id: "a'b/c\"é".into(),
                    tenant: "t".into(),
                    served: 60,
                },
                TokenKind::Records,
            ),
            (
                SkipToken::Sessions {
                    ordinal: 59,
                    served: 60,
                    revision: 3,
                },
                TokenKind::Sessions,
            ),
            (
                SkipToken::Participants {
                    ordinal: 129,
                    served: 130,
                    revision: 1,
                },
                TokenKind::Participants,
            ),
        ] {
            let text = t.encode("t1");
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            assert_eq!(SkipToken::decode(&text, kind, "t1").unwrap(), t);
            // Useless to another tenant, and to a caller of every tenant.
            for other in ["t2", "*", ""] {
                let e = SkipToken::decode(&text, kind, other).unwrap_err();
                assert!(e.message.contains("is not a token issued"), "{}", e.message);
            }
        }
    }

    #[test]
    fn foreign_old_and_malformed_tokens_are_400() {
        let sessions = SkipToken::Sessions {
            ordinal: 1,
            served: 1,
            revision: 1,
        }
        .encode("*");
        let bad = [
            ("zz", TokenKind::Records, "is not a token issued"),
            ("0", TokenKind::Records, "is not a token issued"),
            ("00", TokenKind::Records, "is not a token issued"),
            // The position-tagged arrays of earlier releases.
            (
                &hex(r#"["r",1,"a",1]"#),
                TokenKind::Records,
                "is not a token issued",
            ),
            (
                &hex(r#"["s",1,1]"#),
                TokenKind::Sessions,
                "is not a token issued",
            ),
            // Issued for another collection.
            (&sessions, TokenKind::Participants, "is not a token issued"),
            (&sessions, TokenKind::Records, "is not a token issued"),
            // Ours, but not well-formed.
            (
                &hex(r#"{"k":"s","a":"*","ordinal":1,"served":1}"#),
                TokenKind::Sessions,
                "malformed",
            ),
            (
                &hex(r#"{"k":"s","a":"*","ordinal":-1,"served":1,"revision":1}"#),
                TokenKind::Sessions,
                "malformed",
            ),
            (
                &hex(r#"{"k":"r","a":"*","start_us":1,"id":"a","served":1,"x":0}"#),
                TokenKind::Records,
                "malformed",
            ),
        ];
        for (token, kind, says) in bad {
            let e = SkipToken::decode(token, kind, "*").unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{token}");
            assert_eq!(e.code.as_str(), "BadRequest", "{token}");
            assert!(e.message.contains(says), "{token}: {}", e.message);
        }
        let long = "0".repeat(MAX_TOKEN_LEN + 2);
        assert!(SkipToken::decode(&long, TokenKind::Records, "*").is_err());
    }
}
