#![forbid(unsafe_code)]
//! The typed Microsoft Graph call-records model (`microsoft.graph.callRecords`, v1.0 and beta).

mod log_kind;

pub use log_kind::LogKind;
