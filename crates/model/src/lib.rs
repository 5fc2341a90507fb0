#![forbid(unsafe_code)]
//! The typed Microsoft Graph call-records model (`microsoft.graph.callRecords`, v1.0 and beta), in Graph's
//! exact JSON form, and everything that checks or reads records before they are stored.
//!
//! - [`schema`]: the namespace as data (types, properties, enums in schema order), generated from Microsoft's CSDL.
//! - The typed structs and enums (`CallRecord`, `Session`, `MediaStream`, `ProductFamily`, …): every property is a
//!   tri-state [`Field`] (absent / `null` / value), and every struct keeps properties it does not declare in
//!   `extra`, so parse → serialize loses nothing.
//! - [`validate`]: checks a JSON value against the schema and reports JSON paths.
//! - [`reader`]: streams records out of files (one object, a Graph page, or NDJSON).

#[macro_use]
mod types;
mod generated;
mod log_kind;
pub mod reader;
pub mod schema;
pub mod time;
pub mod validate;

pub use generated::*;
pub use log_kind::LogKind;
pub use types::{
    DateTimeOffset, Duration, Endpoint, Enum, Field, GraphEnum, HasExtra, ResourceData, UserAgent,
    with_unknown_enum_members,
};
