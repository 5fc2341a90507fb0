//! Who a Graph request reads as, set by an outer layer (the `--fake` authentication layer): the read scope
//! (a token's tenant) and the clock Graph's 30-day retention is measured against (the fake clock).
//!
//! Plain `serve` inserts nothing: [`ReadScope::All`] and the real time.

use callrecords_store::ReadScope;

/// A request extension: insert it (`req.extensions_mut().insert(..)`) before the Graph routes run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestScope {
    /// The tenants the request may see.
    pub scope: ReadScope,
    /// "Now" for the retention cut-off (µs since the epoch); `None` is the real time.
    pub now_us: Option<i64>,
    /// The calling application (a token's `appid`), which owns the subscriptions it creates; `None` is
    /// the single application of plain `serve` ([`crate::subscriptions::DEFAULT_APP_ID`]).
    pub app_id: Option<String>,
}

impl Default for RequestScope {
    fn default() -> Self {
        RequestScope {
            scope: ReadScope::All,
            now_us: None,
            app_id: None,
        }
    }
}

/// The read scope of a request: its [`RequestScope`]'s (the token's tenant), every tenant when no layer set
/// one (`--auth none`).
pub fn read_scope(scope: &Option<axum::Extension<RequestScope>>) -> ReadScope {
    scope
        .as_ref()
        .map_or(ReadScope::All, |axum::Extension(s)| s.scope.clone())
}
