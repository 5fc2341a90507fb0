//! The kinds of log rows returned by the PSTN / direct routing / SMS / blocked-users / dial-out functions.

use std::fmt;
use std::str::FromStr;

/// Which kind of record a file, an ingest path or a store table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogKind {
    /// `pstnCallLogRow`, returned by `getPstnCalls` (v1.0 and beta).
    PstnCall,
    /// `directRoutingLogRow`, returned by `getDirectRoutingCalls` (v1.0 and beta).
    DirectRoutingCall,
    /// `smsLogRow`, returned by `getSmsLog` (beta).
    SmsLog,
    /// `pstnBlockedUsersLogRow`, returned by `getPstnBlockedUsersLog` (beta).
    PstnBlockedUser,
    /// `pstnOnlineMeetingDialoutReport`, returned by `getPstnOnlineMeetingDialoutReport` (beta).
    PstnOnlineMeetingDialout,
}

impl LogKind {
    /// Every kind, in a fixed order.
    pub const ALL: [LogKind; 5] = [
        LogKind::PstnCall,
        LogKind::DirectRoutingCall,
        LogKind::SmsLog,
        LogKind::PstnBlockedUser,
        LogKind::PstnOnlineMeetingDialout,
    ];

    /// The `--kind` name and the ingest path segment (`/ingest/{name}s`).
    pub fn cli_name(self) -> &'static str {
        match self {
            LogKind::PstnCall => "pstnCall",
            LogKind::DirectRoutingCall => "directRoutingCall",
            LogKind::SmsLog => "smsLog",
            LogKind::PstnBlockedUser => "pstnBlockedUser",
            LogKind::PstnOnlineMeetingDialout => "pstnOnlineMeetingDialout",
        }
    }

    /// The Graph type name inside `microsoft.graph.callRecords`.
    pub fn type_name(self) -> &'static str {
        match self {
            LogKind::PstnCall => "pstnCallLogRow",
            LogKind::DirectRoutingCall => "directRoutingLogRow",
            LogKind::SmsLog => "smsLogRow",
            LogKind::PstnBlockedUser => "pstnBlockedUsersLogRow",
            LogKind::PstnOnlineMeetingDialout => "pstnOnlineMeetingDialoutReport",
        }
    }

    /// The bound function on `communications/callRecords` that returns these rows.
    pub fn function_name(self) -> &'static str {
        match self {
            LogKind::PstnCall => "getPstnCalls",
            LogKind::DirectRoutingCall => "getDirectRoutingCalls",
            LogKind::SmsLog => "getSmsLog",
            LogKind::PstnBlockedUser => "getPstnBlockedUsersLog",
            LogKind::PstnOnlineMeetingDialout => "getPstnOnlineMeetingDialoutReport",
        }
    }

    /// Whether the function exists in v1.0 (otherwise beta only).
    pub fn in_v1(self) -> bool {
        matches!(self, LogKind::PstnCall | LogKind::DirectRoutingCall)
    }

    /// The row property that dates a row (`None` for the dial-out report, whose rows carry no date
    /// and are stored with the period they cover).
    pub fn time_property(self) -> Option<&'static str> {
        match self {
            LogKind::PstnCall | LogKind::DirectRoutingCall => Some("startDateTime"),
            LogKind::SmsLog => Some("sentDateTime"),
            LogKind::PstnBlockedUser => Some("blockDateTime"),
            LogKind::PstnOnlineMeetingDialout => None,
        }
    }

    /// Whether `toDateTime` is inclusive for this function (spec §6.5–6.9: exclusive only for direct routing).
    pub fn to_inclusive(self) -> bool {
        !matches!(self, LogKind::DirectRoutingCall)
    }

    /// The kind whose Graph type name is `name` (`pstnCallLogRow`, …).
    pub fn from_type_name(name: &str) -> Option<LogKind> {
        LogKind::ALL.into_iter().find(|k| k.type_name() == name)
    }

    /// The kind whose function is `name` (`getPstnCalls`, …).
    pub fn from_function_name(name: &str) -> Option<LogKind> {
        LogKind::ALL.into_iter().find(|k| k.function_name() == name)
    }
}

impl fmt::Display for LogKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.cli_name())
    }
}

impl FromStr for LogKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogKind::ALL
            .into_iter()
            .find(|k| k.cli_name() == s)
            .ok_or_else(|| format!("unknown kind `{s}`"))
    }
}
