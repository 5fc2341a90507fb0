//! The conformance suite against a fresh temp-dir database per case, plus SQLite-specific tests.

use std::sync::Arc;

use callrecords_store::Store;
use callrecords_store_sqlite::SqliteStore;

async fn fresh() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    (Arc::new(store), dir)
}

callrecords_store::conformance_tests!(fresh);

async fn fresh_uncompressed() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with_compression(dir.path(), false).unwrap();
    (Arc::new(store), dir)
}

mod uncompressed {
    use super::*;
    callrecords_store::conformance_tests!(fresh_uncompressed);
}
