//! The call list of the dashboard's Calls page ([`crate::quality::QualityStore::quality_calls`]): one row
//! per record the quality deriver has seen, with its served record's index columns and its counted stream
//! and session rows, filtered, sorted and paged by the store.

use crate::quality::QualityWindow;

/// What a call list is sorted by. Ties are broken by (record id, tenant), so pages are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallOrder {
    /// The record's `startDateTime`.
    #[default]
    Start,
    /// `endDateTime - startDateTime` (records missing either sort last).
    Duration,
    /// `participants_v2` count.
    Participants,
    /// Stream rows classified `poor`.
    PoorStreams,
}

impl CallOrder {
    /// The query-string names (`start`, `duration`, `participants`, `poorStreams`).
    pub const ALL: [CallOrder; 4] = [
        CallOrder::Start,
        CallOrder::Duration,
        CallOrder::Participants,
        CallOrder::PoorStreams,
    ];

    /// Its query-string name.
    pub fn name(self) -> &'static str {
        match self {
            CallOrder::Start => "start",
            CallOrder::Duration => "duration",
            CallOrder::Participants => "participants",
            CallOrder::PoorStreams => "poorStreams",
        }
    }

    /// The order of a query-string name.
    pub fn from_name(s: &str) -> Option<CallOrder> {
        CallOrder::ALL.into_iter().find(|o| o.name() == s)
    }
}

/// Which calls, in which order, which page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallFilter {
    /// On the record's `startDateTime`, like every quality read.
    pub window: QualityWindow,
    /// A case-insensitive (ASCII) substring of the record's id, of its head (organizer, `joinWebUrl`, the
    /// deprecated `participants`) or of one of its `participants_v2` (ids, display names, UPNs).
    pub search: Option<String>,
    /// The record's `type` (`groupCall`, `peerToPeer`, `unknown`…), exactly.
    pub call_type: Option<String>,
    /// Only records with at least one stream row classified `poor`.
    pub poor_only: bool,
    /// Only records with at least one failed session row (a session row whose JSON has a non-null
    /// `failureStage`).
    pub failed_only: bool,
    pub order: CallOrder,
    pub descending: bool,
    /// Rows to skip (offset paging: the list is sorted by computed columns).
    pub skip: usize,
    pub limit: usize,
}

/// One call of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRow {
    pub tenant: String,
    pub id: String,
    /// The served version.
    pub version: i64,
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
    pub call_type: Option<String>,
    /// The record's `modalities`.
    pub modalities: Vec<String>,
    pub organizer_id: Option<String>,
    /// Sessions and `participants_v2` of the served version.
    pub sessions: u64,
    pub participants: u64,
    /// The quality deriver's stream rows of the record, and how many of them are `poor`.
    pub streams: u64,
    pub poor_streams: u64,
    /// Session rows with a failure stage.
    pub failed_sessions: u64,
}

/// A page of calls and how many match the filter in all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallPage {
    pub rows: Vec<CallRow>,
    pub total: u64,
}
