//! The one error type of this crate.

/// Error code for malformed input: syntax errors, bad literals, unknown or repeated options.
pub const CODE_BAD_REQUEST: &str = "BadRequest";
/// Error code for well-formed OData that this API does not support (the message says
/// "... is not supported ...").
pub const CODE_NOT_SUPPORTED: &str = "invalidRequest";

/// A client error (always HTTP 400). The HTTP layer maps it to Graph's error body
/// `{"error": {"code": code, "message": message}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ODataError {
    /// [`CODE_BAD_REQUEST`] or [`CODE_NOT_SUPPORTED`].
    pub code: &'static str,
    /// Human-readable message naming the problem (and, for `$filter`, the position).
    pub message: String,
}

impl ODataError {
    /// A syntax / validation error (code [`CODE_BAD_REQUEST`]).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            code: CODE_BAD_REQUEST,
            message: message.into(),
        }
    }

    /// A valid but unsupported request (code [`CODE_NOT_SUPPORTED`]).
    pub fn not_supported(message: impl Into<String>) -> Self {
        Self {
            code: CODE_NOT_SUPPORTED,
            message: message.into(),
        }
    }

    /// The same error with `prefix` put in front of the message.
    pub(crate) fn prefixed(mut self, prefix: &str) -> Self {
        self.message = format!("{prefix}{}", self.message);
        self
    }
}
