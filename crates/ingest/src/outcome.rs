//! Typed outcomes: what happened to each item, and the counts per outcome. Callers turn them into text (HTTP
//! JSON, CLI lines) only at their edge.

use callrecords_model::reader::Location;
use callrecords_model::validate::Issue;
use callrecords_store::{LogOutcome, PutOutcome};

/// What happened to one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Stored (a call record: now the served version).
    Stored,
    /// Already stored with the same content; nothing was written.
    Duplicate,
    /// The same (id, version) with different content: kept in history, the first copy stays served.
    Conflict,
    /// Older than the served version: kept in history, never served.
    Stale,
    /// A partial record (nested nextLink) that became the served copy.
    Partial,
    /// Not stored.
    Invalid {
        /// Why, with JSON paths (each renders as `path: message`, or just the message for the item itself).
        issues: Vec<Issue>,
        /// The item was not even JSON (a syntax error, or text the reader could not cut out), as opposed to
        /// JSON that does not fit the schema or lacks what storing needs.
        malformed: bool,
    },
}

impl ItemOutcome {
    /// Which outcome this is, without its details.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            ItemOutcome::Stored => OutcomeKind::Stored,
            ItemOutcome::Duplicate => OutcomeKind::Duplicate,
            ItemOutcome::Conflict => OutcomeKind::Conflict,
            ItemOutcome::Stale => OutcomeKind::Stale,
            ItemOutcome::Partial => OutcomeKind::Partial,
            ItemOutcome::Invalid { .. } => OutcomeKind::Invalid,
        }
    }

    /// The item was refused.
    pub fn is_invalid(&self) -> bool {
        matches!(self, ItemOutcome::Invalid { .. })
    }

    /// The item was refused because it is not JSON at all.
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            ItemOutcome::Invalid {
                malformed: true,
                ..
            }
        )
    }

    /// Why it was refused (empty unless [`ItemOutcome::Invalid`]).
    pub fn issues(&self) -> &[Issue] {
        match self {
            ItemOutcome::Invalid { issues, .. } => issues,
            _ => &[],
        }
    }
}

impl From<PutOutcome> for ItemOutcome {
    fn from(o: PutOutcome) -> Self {
        match o {
            PutOutcome::Stored => ItemOutcome::Stored,
            PutOutcome::Duplicate => ItemOutcome::Duplicate,
            PutOutcome::Conflict => ItemOutcome::Conflict,
            PutOutcome::Stale => ItemOutcome::Stale,
            PutOutcome::Partial => ItemOutcome::Partial,
        }
    }
}

impl From<LogOutcome> for ItemOutcome {
    fn from(o: LogOutcome) -> Self {
        match o {
            LogOutcome::Stored => ItemOutcome::Stored,
            LogOutcome::Duplicate => ItemOutcome::Duplicate,
        }
    }
}

/// An [`ItemOutcome`] without its details: what [`Tally`] counts.
///
/// Declared in the order of the names, so that [`Tally::iter`] (and the `counts` of an HTTP answer, the
/// summary of `import`) lists them alphabetically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutcomeKind {
    Conflict,
    Duplicate,
    Invalid,
    Partial,
    Stale,
    Stored,
}

impl OutcomeKind {
    /// Every outcome, in name order.
    pub const ALL: [OutcomeKind; 6] = [
        OutcomeKind::Conflict,
        OutcomeKind::Duplicate,
        OutcomeKind::Invalid,
        OutcomeKind::Partial,
        OutcomeKind::Stale,
        OutcomeKind::Stored,
    ];

    /// `conflict`, `duplicate`, `invalid`, `partial`, `stale` or `stored` (the wire and CLI name).
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Conflict => "conflict",
            OutcomeKind::Duplicate => "duplicate",
            OutcomeKind::Invalid => "invalid",
            OutcomeKind::Partial => "partial",
            OutcomeKind::Stale => "stale",
            OutcomeKind::Stored => "stored",
        }
    }
}

impl std::fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to one item, and which item it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemResult {
    /// Where it came from (source, NDJSON line, index inside a page).
    pub location: Location,
    /// The record's (or row's) `id`, when it parsed and has one.
    pub id: Option<String>,
    /// The record's `version` (call records only).
    pub version: Option<i64>,
    /// What happened.
    pub outcome: ItemOutcome,
    /// Validation warnings (the item is kept anyway).
    pub warnings: Vec<Issue>,
}

/// Counts per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    received: u64,
    counts: [u64; OutcomeKind::ALL.len()],
}

impl Tally {
    /// Counts one outcome.
    pub fn add(&mut self, outcome: &ItemOutcome) {
        self.received += 1;
        self.counts[outcome.kind() as usize] += 1;
    }

    /// Counts every result.
    pub fn add_all(&mut self, results: &[ItemResult]) {
        for r in results {
            self.add(&r.outcome);
        }
    }

    /// Items seen.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Items with that outcome.
    pub fn get(&self, kind: OutcomeKind) -> u64 {
        self.counts[kind as usize]
    }

    /// The outcomes that occurred (count > 0) with their counts, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (OutcomeKind, u64)> + '_ {
        OutcomeKind::ALL
            .into_iter()
            .map(|k| (k, self.get(k)))
            .filter(|&(_, n)| n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_declared_in_name_order() {
        let names: Vec<&str> = OutcomeKind::ALL.iter().map(|k| k.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for (i, k) in OutcomeKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
    }

    #[test]
    fn store_outcomes_map_one_to_one() {
        for (put, kind) in [
            (PutOutcome::Stored, OutcomeKind::Stored),
            (PutOutcome::Duplicate, OutcomeKind::Duplicate),
            (PutOutcome::Conflict, OutcomeKind::Conflict),
            (PutOutcome::Stale, OutcomeKind::Stale),
            (PutOutcome::Partial, OutcomeKind::Partial),
        ] {
            assert_eq!(ItemOutcome::from(put).kind(), kind);
            assert_eq!(kind.as_str(), put.as_str());
        }
        assert_eq!(ItemOutcome::from(LogOutcome::Stored), ItemOutcome::Stored);
        assert_eq!(
            ItemOutcome::from(LogOutcome::Duplicate),
            ItemOutcome::Duplicate
        );
    }

    #[test]
    fn tally_lists_only_what_occurred_in_name_order() {
        let mut t = Tally::default();
        for o in [
            ItemOutcome::Stored,
            ItemOutcome::Invalid {
                issues: Vec::new(),
                malformed: true,
            },
            ItemOutcome::Duplicate,
            ItemOutcome::Stored,
        ] {
            t.add(&o);
        }
        assert_eq!(t.received(), 4);
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            [
                (OutcomeKind::Duplicate, 1),
                (OutcomeKind::Invalid, 1),
                (OutcomeKind::Stored, 2)
            ]
        );
        assert_eq!(t.get(OutcomeKind::Stale), 0);
    }
}
