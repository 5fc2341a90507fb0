//! [`Store::data_generation`](callrecords_store::Store::data_generation) for SQLite: a dedicated
//! connection that never writes, asked `PRAGMA data_version` on every call.
//!
//! SQLite changes the value a connection reads from `PRAGMA data_version` whenever *another*
//! connection (in this process or any other, e.g. `callrecords import` beside `serve`) has committed
//! since that connection last asked. This connection never writes, so every commit — by this store's
//! writer or by anyone else — is another connection's, and none is missed. The value itself is only
//! meaningful to its connection, so it is turned into a counter here: each observed change bumps it.
//! Cost: one prepared statement step (a read of the WAL index in shared memory), a few µs.

use std::path::Path;
use std::sync::Mutex;

use callrecords_store::StoreError;
use rusqlite::Connection;

use crate::connection::open_connection;
use crate::{SqlResult, lock};

pub(crate) struct Generation {
    state: Mutex<State>,
}

struct State {
    conn: Connection,
    /// The last `data_version` this connection reported.
    last: i64,
    /// How many changes were observed.
    generation: u64,
}

fn data_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.prepare_cached("PRAGMA data_version")
        .db()?
        .query_row([], |r| r.get(0))
        .db()
}

impl Generation {
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = open_connection(path)?;
        let last = data_version(&conn)?;
        Ok(Generation {
            state: Mutex::new(State {
                conn,
                last,
                generation: 0,
            }),
        })
    }

    /// The current generation (see the module docs).
    pub(crate) fn current(&self) -> Result<u64, StoreError> {
        let mut s = lock(&self.state);
        let v = data_version(&s.conn)?;
        if v != s.last {
            s.last = v;
            s.generation += 1;
        }
        Ok(s.generation)
    }
}
