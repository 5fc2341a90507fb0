//! The version rules, as one pure function every backend calls ([`decide`]), so that no two backends can
//! disagree about what an incoming copy of a record does.
//!
//! - A record seen for the first time is served (`Created`).
//! - A newer `version` is served (`Updated`); an older one is kept in history, never served (`Stale`).
//! - The served version again: with content already stored for that version it is a `Duplicate` (nothing is
//!   written); with new content a `Conflict` (kept in history; the first copy stays served).
//! - Except: when the served copy arrived partial (a nested nextLink), a complete copy of that version
//!   replaces it (`Completed`), even when the same content had been received before as a partial copy.
//! - A partial copy that becomes the served one is reported `Partial` instead of `Stored`.

use crate::{ChangeKind, PutOutcome};

/// The served copy of a record, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServedCopy<'a> {
    pub version: i64,
    pub partial: bool,
    /// Its content hash (see [`crate::extract::content_hash`]).
    pub hash: &'a [u8],
}

/// An incoming copy, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomingCopy<'a> {
    pub version: i64,
    pub partial: bool,
    pub hash: &'a [u8],
    /// The same content of the same (id, version) is already in the history.
    pub seen: bool,
}

/// What to do with an incoming copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Write nothing; report `Duplicate`.
    Duplicate,
    /// Append the copy to the history and report `outcome`; `kind` says what it does to the record.
    Append {
        outcome: PutOutcome,
        kind: ChangeKind,
        /// How the served rows change.
        serve: Serve,
    },
}

/// How an appended copy changes the served rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// They stay as they are (stale and conflicting copies).
    Keep,
    /// The copy becomes the served one: its head, sessions and participants replace the old rows.
    Replace,
    /// The copy becomes the served one but has the same content as the partial copy served now: only the
    /// pointer to the served copy and the partial flag change.
    Repoint,
}

/// The rules (see the module documentation).
pub fn decide(served: Option<&ServedCopy<'_>>, incoming: &IncomingCopy<'_>) -> Decision {
    let Some(s) = served else {
        return append(incoming, ChangeKind::Created, Serve::Replace);
    };
    let completes = s.version == incoming.version && s.partial && !incoming.partial;
    if completes {
        let serve = if s.hash == incoming.hash {
            Serve::Repoint
        } else {
            Serve::Replace
        };
        return append(incoming, ChangeKind::Completed, serve);
    }
    if incoming.seen {
        return Decision::Duplicate;
    }
    if incoming.version > s.version {
        append(incoming, ChangeKind::Updated, Serve::Replace)
    } else if incoming.version == s.version {
        Decision::Append {
            outcome: PutOutcome::Conflict,
            kind: ChangeKind::Conflict,
            serve: Serve::Keep,
        }
    } else {
        Decision::Append {
            outcome: PutOutcome::Stale,
            kind: ChangeKind::Stale,
            serve: Serve::Keep,
        }
    }
}

fn append(incoming: &IncomingCopy<'_>, kind: ChangeKind, serve: Serve) -> Decision {
    let outcome = if incoming.partial {
        PutOutcome::Partial
    } else {
        PutOutcome::Stored
    };
    Decision::Append {
        outcome,
        kind,
        serve,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(version: i64, partial: bool, hash: &[u8]) -> ServedCopy<'_> {
        ServedCopy {
            version,
            partial,
            hash,
        }
    }

    fn incoming(version: i64, partial: bool, hash: &[u8], seen: bool) -> IncomingCopy<'_> {
        IncomingCopy {
            version,
            partial,
            hash,
            seen,
        }
    }

    fn outcome(d: Decision) -> (PutOutcome, Option<ChangeKind>, Option<Serve>) {
        match d {
            Decision::Duplicate => (PutOutcome::Duplicate, None, None),
            Decision::Append {
                outcome,
                kind,
                serve,
            } => (outcome, Some(kind), Some(serve)),
        }
    }

    #[test]
    fn first_copy_is_created() {
        let d = decide(None, &incoming(3, false, b"a", false));
        assert_eq!(
            outcome(d),
            (
                PutOutcome::Stored,
                Some(ChangeKind::Created),
                Some(Serve::Replace)
            )
        );
        let d = decide(None, &incoming(3, true, b"a", false));
        assert_eq!(outcome(d).0, PutOutcome::Partial);
    }

    #[test]
    fn newer_older_same() {
        let s = served(2, false, b"a");
        assert_eq!(
            outcome(decide(Some(&s), &incoming(3, false, b"b", false))).1,
            Some(ChangeKind::Updated)
        );
        assert_eq!(
            outcome(decide(Some(&s), &incoming(1, false, b"b", false))),
            (
                PutOutcome::Stale,
                Some(ChangeKind::Stale),
                Some(Serve::Keep)
            )
        );
        assert_eq!(
            outcome(decide(Some(&s), &incoming(2, false, b"b", false))),
            (
                PutOutcome::Conflict,
                Some(ChangeKind::Conflict),
                Some(Serve::Keep)
            )
        );
        for v in [1, 2, 3] {
            assert_eq!(
                decide(Some(&s), &incoming(v, false, b"a", true)),
                Decision::Duplicate
            );
        }
    }

    #[test]
    fn complete_copy_replaces_a_partial_one() {
        let s = served(2, true, b"a");
        // Same content seen before as the partial copy: repoint, reported Stored.
        assert_eq!(
            outcome(decide(Some(&s), &incoming(2, false, b"a", true))),
            (
                PutOutcome::Stored,
                Some(ChangeKind::Completed),
                Some(Serve::Repoint)
            )
        );
        // More content: replace.
        assert_eq!(
            outcome(decide(Some(&s), &incoming(2, false, b"b", false))).2,
            Some(Serve::Replace)
        );
        // Another partial copy of the same version with other content conflicts.
        assert_eq!(
            outcome(decide(Some(&s), &incoming(2, true, b"b", false))).0,
            PutOutcome::Conflict
        );
        // The same partial copy again is a duplicate.
        assert_eq!(
            decide(Some(&s), &incoming(2, true, b"a", true)),
            Decision::Duplicate
        );
    }
}
