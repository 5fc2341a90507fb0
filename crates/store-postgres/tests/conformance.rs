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

// ---------------------------------------------------------------------------------------------
// PostgreSQL-specific

#[allow(unused_imports)]
use callrecords_store::Store as _;
use callrecords_store::{DEFAULT_TENANT, IncomingRecord, ReadScope, RecordRead, StoreError};
use callrecords_store_postgres::PgStore;
use serde_json::{Value, json};

fn rec(id: &str, version: i64) -> IncomingRecord {
    let value = json!({
        "id": id,
        "version": version,
        "startDateTime": "2024-03-01T10:00:00Z",
        "sessions": [{"id": "s0", "segments": [{"id": "g"}]}],
    });
    IncomingRecord {
        // Odd spacing and key order: kept byte for byte.
        raw: format!(
            "{{ \"version\":{version},  \"id\":\"{id}\",\"startDateTime\":\"2024-03-01T10:00:00Z\",\
             \"sessions\":[{{\"id\":\"s0\",\"segments\":[{{\"id\":\"g\"}}]}}]}}"
        ),
        value,
        partial: false,
    }
}

async fn raw_client(url: &str, schema: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "SET search_path = \"{schema}\"; SET application_name = '{schema}'"
        ))
        .await
        .unwrap();
    client
}

#[tokio::test]
async fn migrations_are_idempotent_and_newer_schema_is_refused() {
    let Some((store, schema)) = test_store("migrations_are_idempotent").await else {
        return;
    };
    for _ in 0..3 {
        let s = schema.open().await;
        assert_eq!(
            s.schema_version().await.unwrap(),
            callrecords_store_postgres::SCHEMA_VERSION
        );
        s.put_records(DEFAULT_TENANT, vec![rec("m", 1)])
            .await
            .unwrap();
    }
    drop(store);
    let c = raw_client(&schema.url, &schema.schema).await;
    c.batch_execute("UPDATE callrecords_schema SET version = 99")
        .await
        .unwrap();
    match PgStore::connect_with(schema.options()).await {
        Err(StoreError::Incompatible(msg)) => assert!(msg.contains("99"), "{msg}"),
        other => panic!("expected Incompatible, got {other:?}"),
    }
}

/// Nodes starting together on an empty schema migrate it once (the advisory lock), and all work.
#[tokio::test]
async fn nodes_starting_together_migrate_once() {
    let Some(url) =
        callrecords_store_postgres::testing::test_database_url("nodes_starting_together")
    else {
        return;
    };
    let schema = TestSchema::new(&url);
    let opts = schema.options();
    let opens = (0..4).map(|_| {
        let opts = opts.clone();
        async move { PgStore::connect_with(opts).await.unwrap() }
    });
    let stores = futures_join_all(opens).await;
    for (i, s) in stores.iter().enumerate() {
        s.put_records(DEFAULT_TENANT, vec![rec(&format!("n{i}"), 1)])
            .await
            .unwrap();
    }
    let all = stores[0].changes_after(0, 100).await.unwrap();
    assert_eq!(all.len(), 4);
}

async fn futures_join_all<F>(fs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// A write by another node (another process: here a plain SQL client bumping the heads as a write does)
/// changes the generation within the poll interval (50 ms) plus a query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_node_changes_the_generation_within_the_poll_interval() {
    let Some((store, schema)) = test_store("another_node_changes_the_generation").await else {
        return;
    };
    let g0 = store.data_generation().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    assert_eq!(
        store.data_generation().unwrap(),
        g0,
        "no write, same generation"
    );
    let c = raw_client(&schema.url, &schema.schema).await;
    c.batch_execute("UPDATE store_heads SET writes = writes + 1 WHERE id = 2")
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    while store.data_generation().unwrap() == g0 {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(2),
            "the poll did not see the other node's write"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    eprintln!(
        "generation changed {:?} after the other node's commit",
        t0.elapsed()
    );
}

/// Text PostgreSQL cannot hold (a NUL character in an id) is refused as invalid input, not a crash or a
/// backend failure; the batch stores nothing.
#[tokio::test]
async fn nul_characters_are_invalid_input() {
    let Some((store, _schema)) = test_store("nul_characters_are_invalid_input").await else {
        return;
    };
    let value = json!({"id": "a\u{0}b", "version": 1});
    let r = IncomingRecord {
        raw: serde_json::to_string(&value).unwrap(),
        value,
        partial: false,
    };
    match store
        .put_records(DEFAULT_TENANT, vec![rec("ok", 1), r])
        .await
    {
        Err(StoreError::InvalidInput(_)) => {}
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    assert!(store.changes_after(0, 10).await.unwrap().is_empty());
    // The store still works.
    store
        .put_records(DEFAULT_TENANT, vec![rec("ok", 1)])
        .await
        .unwrap();
}

/// The raw JSON comes back byte for byte (bytea, not jsonb), and the served copy reads with its sessions.
#[tokio::test]
async fn raw_json_is_kept_byte_for_byte() {
    let Some((store, _schema)) = test_store("raw_json_is_kept_byte_for_byte").await else {
        return;
    };
    let r = rec("raw", 3);
    let raw = r.raw.clone();
    store.put_records(DEFAULT_TENANT, vec![r]).await.unwrap();
    let all = ReadScope::All;
    assert_eq!(
        store.get_version(&all, "raw", 3).await.unwrap().unwrap(),
        raw
    );
    let view = store
        .read_record(
            &all,
            "raw",
            &RecordRead {
                sessions: Some(callrecords_store::Window::first(10)),
                with_segments: true,
                ..RecordRead::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    let s: Value = serde_json::from_str(&view.sessions[0].json).unwrap();
    assert_eq!(s["segments"][0]["id"], "g");
}

/// A lease has one holder at a time; it passes to another holder once it expires, and can be given up.
#[tokio::test]
async fn leases_have_one_holder_until_they_expire() {
    let Some((a, schema)) = test_store("leases_have_one_holder").await else {
        return;
    };
    let b = schema.open().await;
    let ttl = 1_000_000;
    assert!(a.try_lease("sync:t1", "node-a", 0, ttl).await.unwrap());
    assert!(!b.try_lease("sync:t1", "node-b", 10, ttl).await.unwrap());
    assert!(
        a.try_lease("sync:t1", "node-a", 20, ttl).await.unwrap(),
        "renewed"
    );
    assert!(
        b.try_lease("sync:t2", "node-b", 20, ttl).await.unwrap(),
        "another name"
    );
    assert!(
        !b.try_lease("sync:t1", "node-b", 20 + ttl - 1, ttl)
            .await
            .unwrap()
    );
    assert!(
        b.try_lease("sync:t1", "node-b", 20 + ttl, ttl)
            .await
            .unwrap(),
        "expired: taken over"
    );
    assert!(
        !a.try_lease("sync:t1", "node-a", 21 + ttl, ttl)
            .await
            .unwrap()
    );
    b.release_lease("sync:t1", "node-b").await.unwrap();
    assert!(
        a.try_lease("sync:t1", "node-a", 22 + ttl, ttl)
            .await
            .unwrap()
    );
}
