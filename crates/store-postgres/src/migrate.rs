//! The schema: versioned migrations, applied in order in one transaction, under a transaction-level advisory
//! lock so that nodes starting together migrate once. `callrecords_schema.version` is the number applied; a
//! database newer than this code is refused.

use callrecords_store::StoreError;
use tokio_postgres::Client;

use crate::{SqlResult, quote_ident};

/// The migrations, in order.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_sync_inbox.sql"),
    include_str!("../migrations/0003_erasure_audit.sql"),
    include_str!("../migrations/0004_retention.sql"),
    include_str!("../migrations/0005_quality.sql"),
];

/// The schema version this code writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The advisory lock key of the migrations (any constant; transaction-level, so it ends with the migration).
const MIGRATION_LOCK: i64 = 0x6361_6c6c_7265_6373;

/// The version applied (0 for an empty schema).
pub async fn applied(c: &Client) -> Result<i64, StoreError> {
    let exists: bool = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = 'callrecords_schema')",
            &[],
        )
        .await
        .db()?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = c
        .query_opt("SELECT version FROM callrecords_schema", &[])
        .await
        .db()?;
    Ok(row.map(|r| r.get::<_, i64>(0)).unwrap_or(0))
}

/// Bring the schema (created first when `schema` names one) up to date.
pub(crate) async fn migrate(c: &mut Client, schema: Option<&str>) -> Result<(), StoreError> {
    let encoding: String = c.query_one("SHOW server_encoding", &[]).await.db()?.get(0);
    if !encoding.eq_ignore_ascii_case("UTF8") {
        return Err(StoreError::Incompatible(format!(
            "the database's encoding is {encoding}; callrecords needs UTF8 (createdb -E UTF8)"
        )));
    }
    let tx = c.transaction().await.db()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .db()?;
    if let Some(schema) = schema {
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(schema)
        ))
        .await
        .db()?;
    }
    let current: Option<String> = tx
        .query_one("SELECT current_schema()::text", &[])
        .await
        .db()?
        .get(0);
    if current.is_none() {
        return Err(StoreError::Incompatible(
            "no schema to create the tables in (the search_path names none that exists)".into(),
        ));
    }
    // Checked first: `CREATE TABLE IF NOT EXISTS` would log a notice on every start.
    let exists: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = 'callrecords_schema')",
            &[],
        )
        .await
        .db()?
        .get(0);
    if !exists {
        tx.batch_execute("CREATE TABLE callrecords_schema (version bigint NOT NULL)")
            .await
            .db()?;
    }
    let row = tx
        .query_opt("SELECT version FROM callrecords_schema", &[])
        .await
        .db()?;
    let applied = match row {
        Some(r) => r.get::<_, i64>(0),
        None => {
            tx.execute("INSERT INTO callrecords_schema (version) VALUES (0)", &[])
                .await
                .db()?;
            0
        }
    };
    let known = SCHEMA_VERSION;
    if applied > known {
        return Err(StoreError::Incompatible(format!(
            "database schema version {applied} is newer than this program's ({known}); upgrade callrecords"
        )));
    }
    if applied == known {
        return tx.commit().await.db();
    }
    for sql in &MIGRATIONS[usize::try_from(applied).unwrap_or(0)..] {
        tx.batch_execute(sql).await.db()?;
    }
    tx.execute("UPDATE callrecords_schema SET version = $1", &[&known])
        .await
        .db()?;
    tx.commit().await.db()
}
