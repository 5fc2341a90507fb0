//! Every store read of the Graph handlers, in one place: [`Reads`] is the read scope of one request (a
//! consistent snapshot will live here), and Graph's retention is applied here.

use callrecords_model::LogKind;
use callrecords_store::{LogQuery, ParticipantRow, RecordHead, RecordQuery, SessionRow, Store};

use crate::{ApiError, AppState};

/// Graph's retention of call records.
const RETENTION_US: i64 = 30 * 24 * 3600 * 1_000_000;

/// The store as one Graph request reads it.
pub(crate) struct Reads<'a> {
    store: &'a dyn Store,
    /// Retention cut-off (µs) when Graph's 30-day retention applies.
    cutoff: Option<i64>,
}

impl<'a> Reads<'a> {
    pub(crate) fn new(state: &'a AppState) -> Self {
        Reads {
            store: &*state.store,
            cutoff: state
                .config
                .graph_retention
                .then(|| jiff::Timestamp::now().as_microsecond() - RETENTION_US),
        }
    }

    /// A record query that only sees records within retention.
    pub(crate) fn record_query(&self) -> RecordQuery {
        RecordQuery {
            end_after_us: self.cutoff,
            ..RecordQuery::default()
        }
    }

    /// The served version of a record: 404 when unknown or past retention.
    pub(crate) async fn record(&self, id: &str) -> Result<RecordHead, ApiError> {
        let not_found = || {
            ApiError::not_found(format!(
                "The call record '{id}' does not exist or is no longer available."
            ))
        };
        let head = self.store.get_record(id).await?.ok_or_else(not_found)?;
        if let Some(cut) = self.cutoff
            && head.end_us.or(head.start_us).is_none_or(|t| t < cut)
        {
            return Err(not_found());
        }
        Ok(head)
    }

    /// One page of the callRecords list.
    pub(crate) async fn records(&self, q: &RecordQuery) -> Result<Vec<RecordHead>, ApiError> {
        Ok(self.store.list_records(q).await?)
    }

    /// How many records `q` matches.
    pub(crate) async fn count_records(&self, q: &RecordQuery) -> Result<u64, ApiError> {
        Ok(self.store.count_records(q).await?)
    }

    /// Up to `limit` sessions of `head` after ordinal `after`.
    pub(crate) async fn sessions(
        &self,
        head: &RecordHead,
        after: Option<u64>,
        limit: usize,
        with_segments: bool,
    ) -> Result<Vec<SessionRow>, ApiError> {
        Ok(self
            .store
            .page_sessions(&head.id, after, limit, with_segments)
            .await?)
    }

    /// The session `sid` of `head`: 404 when it has none.
    pub(crate) async fn session(
        &self,
        head: &RecordHead,
        sid: &str,
        with_segments: bool,
    ) -> Result<SessionRow, ApiError> {
        self.store
            .get_session(&head.id, sid, with_segments)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("The session '{sid}' was not found.")))
    }

    /// Up to `limit` participants of `head` after ordinal `after`.
    pub(crate) async fn participants(
        &self,
        head: &RecordHead,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ParticipantRow>, ApiError> {
        Ok(self.store.page_participants(&head.id, after, limit).await?)
    }

    /// The participant `pid` of `head`: 404 when it has none.
    pub(crate) async fn participant(
        &self,
        head: &RecordHead,
        pid: &str,
    ) -> Result<ParticipantRow, ApiError> {
        self.store
            .get_participant(&head.id, pid)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("The participant '{pid}' was not found.")))
    }

    /// The rows of one page of a log function.
    pub(crate) async fn log_rows(
        &self,
        kind: LogKind,
        q: &LogQuery,
    ) -> Result<Vec<String>, ApiError> {
        Ok(self.store.query_log_rows(kind, q).await?)
    }
}
