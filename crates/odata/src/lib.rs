#![forbid(unsafe_code)]
//! OData request parsing for the call-records service (`microsoft.graph.callRecords`).
//!
//! Everything OData-ish in a Graph request — the query string, `$filter`, function-call and key
//! path segments, the `Prefer` header — parsed into typed values. No input panics; every
//! problem is an [`ODataError`] (always an HTTP 400).
//!
//! # Error codes
//!
//! * [`ErrorCode::BadRequest`] (`"BadRequest"`): malformed input — syntax errors, bad literals,
//!   unknown or repeated system query options, unknown properties.
//! * [`ErrorCode::InvalidRequest`] (`"invalidRequest"`): valid OData this API does not support
//!   (`$levels`, arithmetic operators, list filters other than `startDateTime` ranges and
//!   `participants_v2/any`); the message says "... is not supported".
//!
//! `$filter` messages start with `$filter: ` and give 0-based character positions in the
//! decoded expression.
//!
//! # Decoding
//!
//! [`parse_query`] splits the raw query on `&` and at the first `=`, turns `+` into a space and
//! then percent-decodes (so `%2B` is a literal `+`). Because a raw `+` in a time-zone offset
//! thus becomes a space, date-time literals also accept `2023-09-25T09:25:00 02:00` as
//! `+02:00`. Function-call segments are passed in already path-decoded, where `+` stays `+`.
//!
//! System option names are case-insensitive and the `$` is optional (OData 4.01), so a custom
//! option cannot be called `filter`, `top`, etc. Other names starting with `$` are rejected;
//! names starting with `@` are parameter aliases ([`QueryOptions::aliases`]); all remaining names
//! are custom options ([`QueryOptions::custom`]). [`QueryOptions::to_query_string`] rebuilds a
//! canonical query (e.g. for `@odata.nextLink`) from the decoded values.
//!
//! # Limits
//!
//! Query strings up to [`MAX_QUERY_LEN`] bytes, `$filter` up to [`MAX_FILTER_LEN`] characters,
//! nesting up to [`MAX_DEPTH`] levels. Date-times are kept to the microsecond (a 7th fractional
//! digit is truncated). A date-time without an offset is read as UTC.

mod datetime;
mod error;
mod filter;
mod function;
mod lower;
mod prefer;
mod query;

#[cfg(test)]
mod tests;

pub use datetime::{Date, format_datetime_micros, parse_datetime_literal};
pub use error::{ErrorCode, ODataError};
pub use filter::{CompareOp, Expr, LambdaKind, Literal, MAX_DEPTH, MAX_FILTER_LEN, parse_filter};
pub use function::{
    FunctionCall, NAMESPACE, ParamValue, parse_function_segment, parse_key_segment,
};
pub use lower::{Bound, ListFilter, lower_list_filter};
pub use prefer::{Prefer, parse_prefer};
pub use query::{
    ExpandItem, ExpandOptions, MAX_QUERY_LEN, OrderBy, QueryOptions, RawOption, SYSTEM_OPTIONS,
    parse_expand, parse_orderby, parse_query, parse_select,
};

/// Input echoed in messages, cut to 100 characters.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 100;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}
