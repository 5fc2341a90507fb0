//! The one error type of this crate, and the Graph error codes every layer answers with.

use std::fmt;

/// A Graph error code: the `error.code` of an error body. [`ErrorCode::as_str`] gives Graph's exact
/// spelling (Graph mixes `PascalCase` and `camelCase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `BadRequest`: malformed input — syntax errors, bad literals, unknown or repeated options, unknown
    /// properties, bad tokens; also the code of Graph's 404 for a path no route answers.
    BadRequest,
    /// `invalidRequest`: well-formed OData that this API does not support (the message says
    /// "... is not supported ...").
    InvalidRequest,
    /// `itemNotFound`: the addressed item does not exist.
    ItemNotFound,
    /// `methodNotAllowed`: a write to a read-only resource.
    MethodNotAllowed,
    /// `requestEntityTooLarge`: a body above the accepted size.
    RequestEntityTooLarge,
    /// `generalException`: an internal failure (HTTP 500).
    GeneralException,
    /// `serviceNotAvailable`: the service cannot answer now (HTTP 503).
    ServiceNotAvailable,
    /// `InvalidAuthenticationToken`: no bearer token, or one that does not validate (HTTP 401).
    InvalidAuthenticationToken,
    /// `accessDenied`: a valid token without the role the route needs (HTTP 403).
    AccessDenied,
    /// `activityLimitReached`: too many requests from one client (HTTP 429, with `Retry-After`).
    ActivityLimitReached,
    /// `requestHeaderFieldsTooLarge`: the request's header block is over the limit (HTTP 431).
    RequestHeaderFieldsTooLarge,
    /// `requestTimeout`: the request did not arrive in time (HTTP 408).
    RequestTimeout,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::BadRequest,
        ErrorCode::InvalidRequest,
        ErrorCode::ItemNotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::RequestEntityTooLarge,
        ErrorCode::GeneralException,
        ErrorCode::ServiceNotAvailable,
        ErrorCode::InvalidAuthenticationToken,
        ErrorCode::AccessDenied,
        ErrorCode::ActivityLimitReached,
        ErrorCode::RequestHeaderFieldsTooLarge,
        ErrorCode::RequestTimeout,
    ];

    /// Graph's spelling of the code.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "BadRequest",
            ErrorCode::InvalidRequest => "invalidRequest",
            ErrorCode::ItemNotFound => "itemNotFound",
            ErrorCode::MethodNotAllowed => "methodNotAllowed",
            ErrorCode::RequestEntityTooLarge => "requestEntityTooLarge",
            ErrorCode::GeneralException => "generalException",
            ErrorCode::ServiceNotAvailable => "serviceNotAvailable",
            ErrorCode::InvalidAuthenticationToken => "InvalidAuthenticationToken",
            ErrorCode::AccessDenied => "accessDenied",
            ErrorCode::ActivityLimitReached => "activityLimitReached",
            ErrorCode::RequestHeaderFieldsTooLarge => "requestHeaderFieldsTooLarge",
            ErrorCode::RequestTimeout => "requestTimeout",
        }
    }

    /// The code spelled `s` exactly as [`ErrorCode::as_str`] gives it.
    pub fn from_code(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client error (always HTTP 400). The HTTP layer maps it to Graph's error body
/// `{"error": {"code": code, "message": message}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ODataError {
    /// [`ErrorCode::BadRequest`] or [`ErrorCode::InvalidRequest`].
    pub code: ErrorCode,
    /// Human-readable message naming the problem (and, for `$filter`, the position).
    pub message: String,
}

impl ODataError {
    /// A syntax / validation error (code [`ErrorCode::BadRequest`]).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::BadRequest,
            message: message.into(),
        }
    }

    /// A valid but unsupported request (code [`ErrorCode::InvalidRequest`]).
    pub fn not_supported(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::InvalidRequest,
            message: message.into(),
        }
    }

    /// The same error with `prefix` put in front of the message.
    pub(crate) fn prefixed(mut self, prefix: &str) -> Self {
        self.message = format!("{prefix}{}", self.message);
        self
    }
}

#[cfg(test)]
mod code_tests {
    use super::ErrorCode;

    #[test]
    fn codes_round_trip_through_their_graph_spelling() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(c.as_str()), Some(c));
            assert_eq!(c.to_string(), c.as_str());
        }
        assert_eq!(ErrorCode::BadRequest.as_str(), "BadRequest");
        assert_eq!(ErrorCode::InvalidRequest.as_str(), "invalidRequest");
        assert_eq!(ErrorCode::from_code("badrequest"), None);
    }
}
