//! Every store read of the Graph handlers, in one place: [`Reads`] is one request's view of the store — its
//! read scope (the tenants it may see) and Graph's retention. Each method is one store call, so each answer
//! comes from one snapshot.

use callrecords_model::LogKind;
use callrecords_store::{
    LogQuery, ParticipantRow, ReadScope, RecordHead, RecordList, RecordQuery, RecordRead,
    RecordView, SessionRow, Store,
};

use crate::{ApiError, AppState};

/// Graph's retention of call records.
const RETENTION_US: i64 = 30 * 24 * 3600 * 1_000_000;

/// The store as one Graph request reads it.
pub(crate) struct Reads<'a> {
    store: &'a dyn Store,
    scope: ReadScope,
    /// Retention cut-off (µs) when Graph's 30-day retention applies.
    cutoff: Option<i64>,
}

fn record_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "The call record '{id}' does not exist or is no longer available."
    ))
}

impl<'a> Reads<'a> {
    /// `scope.now_us` (default: the real time) is "now" for the retention cut-off.
    pub(crate) fn new(state: &'a AppState, scope: crate::RequestScope) -> Self {
        let now = scope
            .now_us
            .unwrap_or_else(|| jiff::Timestamp::now().as_microsecond());
        Reads {
            store: &*state.store,
            scope: scope.scope,
            cutoff: state.config.graph_retention.then(|| now - RETENTION_US),
        }
    }

    /// A record query that only sees records within retention.
    pub(crate) fn record_query(&self) -> RecordQuery {
        RecordQuery {
            end_after_us: self.cutoff,
            ..RecordQuery::default()
        }
    }

    fn retained(&self, head: &RecordHead) -> bool {
        self.cutoff
            .is_none_or(|cut| head.end_us.or(head.start_us).is_some_and(|t| t >= cut))
    }

    /// The served version of a record: 404 when unknown, out of scope or past retention.
    pub(crate) async fn record(&self, id: &str) -> Result<RecordHead, ApiError> {
        Ok(self.record_with(id, &RecordRead::default()).await?.head)
    }

    /// A record with the sessions / participants `read` asks for, from one snapshot and one stored copy:
    /// 404 when unknown, out of scope, past retention, or (pinned) not a copy of this record.
    pub(crate) async fn record_with(
        &self,
        id: &str,
        read: &RecordRead,
    ) -> Result<RecordView, ApiError> {
        let view = self
            .store
            .read_record(&self.scope, id, read)
            .await?
            .filter(|v| self.retained(&v.head))
            .ok_or_else(|| record_not_found(id))?;
        Ok(view)
    }

    /// One page of the callRecords list, and its total when asked for (one snapshot).
    pub(crate) async fn records(
        &self,
        q: &RecordQuery,
        with_count: bool,
    ) -> Result<RecordList, ApiError> {
        Ok(self.store.list_records(&self.scope, q, with_count).await?)
    }

    /// How many records `q` matches.
    pub(crate) async fn count_records(&self, q: &RecordQuery) -> Result<u64, ApiError> {
        Ok(self.store.count_records(&self.scope, q).await?)
    }

    /// The session `sid` of `head`: 404 when it has none.
    pub(crate) async fn session(
        &self,
        head: &RecordHead,
        sid: &str,
        with_segments: bool,
    ) -> Result<SessionRow, ApiError> {
        self.store
            .get_session(&self.scope, &head.id, sid, with_segments)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("The session '{sid}' was not found.")))
    }

    /// The participant `pid` of `head`: 404 when it has none.
    pub(crate) async fn participant(
        &self,
        head: &RecordHead,
        pid: &str,
    ) -> Result<ParticipantRow, ApiError> {
        self.store
            .get_participant(&self.scope, &head.id, pid)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("The participant '{pid}' was not found.")))
    }

    /// The rows of one page of a log function.
    pub(crate) async fn log_rows(
        &self,
        kind: LogKind,
        q: &LogQuery,
    ) -> Result<Vec<String>, ApiError> {
        Ok(self.store.query_log_rows(&self.scope, kind, q).await?)
    }
}
