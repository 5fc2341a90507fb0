//! [`Store::data_generation`](callrecords_store::Store::data_generation) for PostgreSQL.
//!
//! It must be cheap and must not wait on the database, so it reads a counter in memory:
//! - every handle on the same database (same hosts, database, user, schema) in this process shares one
//!   counter, and each commit by any of them bumps it at once;
//! - a background task polls `sum(writes)` of `store_heads` every poll interval (50 ms by default) and bumps
//!   the counter when it moved: a commit by another process or node shows within one interval plus one query.
//!
//! So a response cached on node B outlives a write on node A by at most about one poll interval. Polling is
//! the rule (no LISTEN/NOTIFY: CockroachDB has none, and a notification lost with a connection would leave
//! the cache stale forever); one single-row query per interval per node costs nothing measurable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use deadpool_postgres::Pool;

/// The counter of one database, shared by the handles of this process.
#[derive(Debug, Default)]
struct Shared {
    counter: AtomicU64,
    /// The last `sum(writes)` a poller saw.
    seen: Mutex<Option<i64>>,
}

fn registry() -> &'static Mutex<HashMap<String, Weak<Shared>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Weak<Shared>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

pub(crate) struct Generation {
    shared: Arc<Shared>,
    poller: tokio::task::JoinHandle<()>,
}

impl Drop for Generation {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

impl Generation {
    /// The counter of the database `identity`, and a poller on `pool` for other processes' writes;
    /// `initial` is `sum(writes)` read when the store was opened.
    pub(crate) fn start(identity: String, pool: Pool, interval: Duration, initial: i64) -> Self {
        let shared = {
            let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
            reg.retain(|_, w| w.strong_count() > 0);
            match reg.get(&identity).and_then(Weak::upgrade) {
                Some(s) => s,
                None => {
                    let s = Arc::new(Shared::default());
                    reg.insert(identity, Arc::downgrade(&s));
                    s
                }
            }
        };
        {
            let mut seen = shared.seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.is_none() {
                *seen = Some(initial);
            }
        }
        let weak = Arc::downgrade(&shared);
        let poller = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(shared) = weak.upgrade() else { return };
                let Ok(c) = crate::get(&pool).await else {
                    continue;
                };
                let Ok(row) = c
                    .query_one(
                        "SELECT coalesce(sum(writes), 0)::bigint FROM store_heads",
                        &[],
                    )
                    .await
                else {
                    continue;
                };
                drop(c);
                let writes: Option<i64> = Some(row.get(0));
                let mut seen = shared.seen.lock().unwrap_or_else(|e| e.into_inner());
                if *seen != writes {
                    shared.counter.fetch_add(1, Ordering::SeqCst);
                    *seen = writes;
                }
            }
        });
        Generation { shared, poller }
    }

    pub(crate) fn bump(&self) {
        self.shared.counter.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn current(&self) -> u64 {
        self.shared.counter.load(Ordering::SeqCst)
    }
}
