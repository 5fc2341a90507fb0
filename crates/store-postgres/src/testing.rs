//! Throw-away schemas for tests: each test gets a schema of its own on the database named by
//! `CALLRECORDS_TEST_DATABASE_URL`, dropped when the guard is, so tests run in parallel. Without that
//! variable the helpers return `None` and print why the test was skipped.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{PgOptions, PgStore, quote_ident};

/// The variable naming the test database (e.g. `postgres://postgres@127.0.0.1:55432/postgres`).
pub const TEST_DATABASE_URL: &str = "CALLRECORDS_TEST_DATABASE_URL";

/// The test database URL, or `None` after printing that `test` is skipped and why.
pub fn test_database_url(test: &str) -> Option<String> {
    match std::env::var(TEST_DATABASE_URL) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!(
                "SKIPPED {test}: {TEST_DATABASE_URL} is not set, so there is no PostgreSQL to test against \
                 (see README.md, \"Testing on PostgreSQL\")"
            );
            None
        }
    }
}

/// A schema of its own for one test; dropped (with everything in it) when this is.
#[derive(Debug)]
pub struct TestSchema {
    pub url: String,
    pub schema: String,
}

impl TestSchema {
    /// A fresh, unique schema name on `url` (created by the first store opened on it).
    pub fn new(url: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let schema = format!(
            "cr_test_{}_{}_{}",
            std::process::id(),
            jiff::Timestamp::now().as_microsecond() % 1_000_000_000,
            N.fetch_add(1, Ordering::Relaxed)
        );
        TestSchema {
            url: url.to_owned(),
            schema,
        }
    }

    /// The options of a store on this schema.
    pub fn options(&self) -> PgOptions {
        PgOptions {
            schema: Some(self.schema.clone()),
            pool_size: 8,
            application_name: Some(self.schema.clone()),
            ..PgOptions::new(&self.url)
        }
    }

    /// A store on this schema (another handle each call: what a second node has).
    pub async fn open(&self) -> PgStore {
        PgStore::connect_with(self.options())
            .await
            .unwrap_or_else(|e| panic!("connect to {TEST_DATABASE_URL}: {e}"))
    }

    /// The database URL with this schema as the search path (for a `serve --database-url` child process).
    pub fn url_with_schema(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{sep}options=-csearch_path%3D{}&application_name={}",
            self.url, self.schema, self.schema
        )
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let url = self.url.clone();
        // The test's connections may still be open (their runtime is the one this Drop blocks, so they
        // cannot close, and one may hold a lock): end them first, by their application_name.
        let sql = format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = '{}' AND pid <> pg_backend_pid(); \
             DROP SCHEMA IF EXISTS {} CASCADE",
            self.schema,
            quote_ident(&self.schema)
        );
        // A runtime of its own: Drop may run inside or outside one.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                {
                    let task = tokio::spawn(conn);
                    let _ = client.batch_execute(&sql).await;
                    drop(client);
                    let _ = task.await;
                }
            });
        })
        .join();
    }
}

/// A store on a fresh schema of the test database, or `None` (printed) when there is none.
pub async fn test_store(test: &str) -> Option<(PgStore, TestSchema)> {
    let url = test_database_url(test)?;
    let schema = TestSchema::new(&url);
    let store = schema.open().await;
    Some((store, schema))
}
