//! The error the API layer turns into Graph's error body (spec §13):
//! `{"error":{"code": code(), "message": message(), "innerError": {...}}}` with HTTP `status()`.

use std::fmt;

/// `400 ExtensionError` message for an expiration beyond 4,230 minutes (spec §10.3, verbatim).
pub const MSG_EXPIRATION_TOO_FAR: &str =
    "Subscription expiration can only be 4230 minutes in the future";
/// `400 ExtensionError` message for an expiration that is not in the future (our wording).
pub const MSG_EXPIRATION_IN_PAST: &str = "Subscription expiration must be in the future";
/// `400 ValidationError` message for a failed validation handshake (spec §10.3: "...must respond
/// with 200 OK to validation request"; the leading sentence is Graph's usual one).
pub const MSG_VALIDATION_FAILED: &str = "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.";
/// `400 InvalidRequest` message for a validation handshake without an answer in time.
pub const MSG_VALIDATION_TIMED_OUT: &str = "Subscription validation request timed out.";

/// A subscription create / update failure, carrying exactly what Graph answers with.
///
/// Clients branch on [`SubscriptionError::code`]; the message is Graph's wording where the spec
/// quotes one and descriptive otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionError {
    /// `400 InvalidRequest`: a missing or malformed property, an unsupported resource, filter,
    /// changeType or URL.
    InvalidRequest(String),
    /// `400 ExtensionError`: expiration more than 4,230 minutes ahead.
    ExpirationTooFar,
    /// `400 ExtensionError`: expiration not in the future.
    ExpirationInPast,
    /// `400 ValidationError`: the endpoint did not answer the validation request with 200 and
    /// the decoded token.
    ValidationFailed,
    /// `400 InvalidRequest`: the validation request got no answer in time (10 s).
    ValidationTimedOut,
    /// `403 ExtensionError`: the organization already has `limit` call-record subscriptions.
    QuotaExceeded {
        /// The quota (100).
        limit: usize,
    },
    /// `409 ExtensionError`: the same app already subscribed to this changeType + resource.
    Duplicate {
        /// Id of the existing subscription.
        existing_id: String,
    },
}

impl SubscriptionError {
    /// Shorthand for [`SubscriptionError::InvalidRequest`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest(message.into())
    }

    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidRequest(_)
            | Self::ExpirationTooFar
            | Self::ExpirationInPast
            | Self::ValidationFailed
            | Self::ValidationTimedOut => 400,
            Self::QuotaExceeded { .. } => 403,
            Self::Duplicate { .. } => 409,
        }
    }

    /// Graph error code (`error.code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::ValidationTimedOut => "InvalidRequest",
            Self::ValidationFailed => "ValidationError",
            Self::ExpirationTooFar
            | Self::ExpirationInPast
            | Self::QuotaExceeded { .. }
            | Self::Duplicate { .. } => "ExtensionError",
        }
    }

    /// Graph error message (`error.message`).
    pub fn message(&self) -> String {
        match self {
            Self::InvalidRequest(m) => m.clone(),
            Self::ExpirationTooFar => MSG_EXPIRATION_TOO_FAR.to_owned(),
            Self::ExpirationInPast => MSG_EXPIRATION_IN_PAST.to_owned(),
            Self::ValidationFailed => MSG_VALIDATION_FAILED.to_owned(),
            Self::ValidationTimedOut => MSG_VALIDATION_TIMED_OUT.to_owned(),
            Self::QuotaExceeded { limit } => format!(
                "Subscription quota exceeded: an organization can have at most {limit} subscriptions to communications/callRecords"
            ),
            Self::Duplicate { existing_id } => {
                format!(
                    "Subscription Id {existing_id} already exists for the requested combination"
                )
            }
        }
    }
}

impl fmt::Display for SubscriptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status(), self.code(), self.message())
    }
}

impl std::error::Error for SubscriptionError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_codes_and_messages_are_graphs() {
        let e = SubscriptionError::ExpirationTooFar;
        assert_eq!((e.status(), e.code()), (400, "ExtensionError"));
        assert_eq!(
            e.message(),
            "Subscription expiration can only be 4230 minutes in the future"
        );
        let e = SubscriptionError::Duplicate {
            existing_id: "abc".into(),
        };
        assert_eq!((e.status(), e.code()), (409, "ExtensionError"));
        assert_eq!(
            e.message(),
            "Subscription Id abc already exists for the requested combination"
        );
        let e = SubscriptionError::QuotaExceeded { limit: 100 };
        assert_eq!(e.status(), 403);
        assert!(e.message().contains("100"));
        let e = SubscriptionError::ValidationFailed;
        assert_eq!((e.status(), e.code()), (400, "ValidationError"));
        assert!(
            e.message()
                .ends_with("must respond with 200 OK to validation request.")
        );
        let e = SubscriptionError::ValidationTimedOut;
        assert_eq!((e.status(), e.code()), (400, "InvalidRequest"));
        assert!(
            e.message()
                .starts_with("Subscription validation request timed out")
        );
        assert_eq!(
            SubscriptionError::invalid("x").to_string(),
            "400 InvalidRequest: x"
        );
    }
}
