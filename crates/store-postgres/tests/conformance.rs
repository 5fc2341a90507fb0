//! The conformance suite on PostgreSQL: a schema of its own per case on `CALLRECORDS_TEST_DATABASE_URL`
//! (skipped, saying so, when it is unset), plus PostgreSQL-specific tests.

use std::sync::Arc;

use callrecords_store::Store;
use callrecords_store_postgres::testing::{TestSchema, test_store};

async fn fresh() -> Option<(Arc<dyn Store>, TestSchema)> {
    let (store, schema) = test_store("store-postgres conformance case").await?;
    Some((Arc::new(store), schema))
}

/// Another store on the same schema: what a second node has.
async fn reopen(schema: &TestSchema) -> Arc<dyn Store> {
    Arc::new(schema.open().await)
}

callrecords_store_conformance::conformance_tests!(optional fresh, reopen);
