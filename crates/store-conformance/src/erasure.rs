//! Erasure ([`Store::purge_record`], [`Store::redact_user`]): a purged record leaves nothing readable
//! through any method; a redacted user is nowhere, and everyone else is where they were.

use std::sync::Arc;

use callrecords_store::erasure::{AuditEntry, Redaction};
use callrecords_store::quality::{OVERALL, QualityContribution, QualityUpdate, QualityWindow};
use callrecords_store::{
    IncomingLogRow, LogKind, LogQuery, ReadScope, RecordQuery, RecordRead, Store, Window,
};
use serde_json::json;

use crate::{incoming, record};

const USER: &str = "5b7e0c1e-aaaa-4bbb-8ccc-000000000001";
const OTHER: &str = "5b7e0c1e-aaaa-4bbb-8ccc-000000000002";

fn audit(action: &str, subject: &str, tenant: Option<&str>) -> AuditEntry {
    AuditEntry {
        at_us: 0,
        actor: "conformance".into(),
        action: action.into(),
        tenant: tenant.map(str::to_owned),
        subject: subject.into(),
        versions: 0,
        log_rows: 0,
        records: 0,
    }
}

fn quality_update(tenant: &str, id: &str, version: i64, n: u64) -> QualityUpdate {
    QualityUpdate {
        tenant: tenant.into(),
        record_id: id.into(),
        version,
        start_us: Some(1_000_000),
        streams: Vec::new(),
        sessions: Vec::new(),
        failed_sessions: 0,
        contributions: vec![
            QualityContribution {
                key: OVERALL.into(),
                value: None,
                counts: vec![1, n],
            },
            QualityContribution {
                key: "user".into(),
                value: Some(format!("{id}-user")),
                counts: vec![1, n],
            },
        ],
    }
}

async fn whole(store: &Arc<dyn Store>, scope: &ReadScope, id: &str) -> Option<String> {
    let read = RecordRead {
        sessions: Some(Window::first(1000)),
        with_segments: true,
        participants: Some(Window::first(1000)),
        pin: None,
    };
    let v = store.read_record(scope, id, &read).await.unwrap()?;
    let mut text = v.head.json.clone();
    for s in &v.sessions {
        text.push_str(&s.json);
    }
    for p in &v.participants {
        text.push_str(&p.json);
    }
    Some(text)
}

/// Purge removes every copy, served row, feed entry and derived row of one record of one tenant (its
/// contributions leave every aggregate); the same id in another tenant and every other record stay.
pub async fn purge_removes_every_trace_of_one_record(store: Arc<dyn Store>) {
    let t1 = ReadScope::Tenant("t1".into());
    let v1 = record("gone", 1, Some(0), Some(10), &[USER, OTHER], USER, 2);
    let v2 = record("gone", 2, Some(0), Some(10), &[USER], USER, 1);
    let kept = record("kept", 1, Some(5), Some(15), &[OTHER], OTHER, 1);
    store
        .put_records("t1", vec![incoming(&v1, false), incoming(&kept, false)])
        .await
        .unwrap();
    store
        .put_records("t1", vec![incoming(&v2, false)])
        .await
        .unwrap();
    store
        .put_records("t2", vec![incoming(&v1, false)])
        .await
        .unwrap();
    if let Some(q) = store.quality() {
        let e = q.quality_meta().await.unwrap().epoch;
        q.replace_quality(
            e,
            "quality",
            0,
            vec![
                quality_update("t1", "gone", 2, 5),
                quality_update("t1", "kept", 1, 7),
            ],
        )
        .await
        .unwrap();
    }
    let before = store.data_generation().unwrap();
    let report = store
        .purge_record(&t1, "gone", &audit("purge", "gone", Some("t1")))
        .await
        .unwrap();
    assert_eq!(report.records, vec![("t1".to_owned(), "gone".to_owned())]);
    assert_eq!(report.versions, 2);
    assert_ne!(
        store.data_generation().unwrap(),
        before,
        "caches must see it"
    );

    assert!(whole(&store, &t1, "gone").await.is_none());
    assert!(store.list_versions(&t1, "gone").await.unwrap().is_empty());
    assert!(store.get_version(&t1, "gone", 1).await.unwrap().is_none());
    let feed = store.changes_after(0, 100).await.unwrap();
    assert!(
        !feed
            .iter()
            .any(|c| c.tenant == "t1" && c.record_id == "gone"),
        "{feed:?}"
    );
    let listed = store
        .list_records(
            &t1,
            &RecordQuery {
                participant_ids: vec![vec![USER.into()]],
                limit: 10,
                ..Default::default()
            },
            true,
        )
        .await
        .unwrap();
    assert_eq!(listed.count, Some(0), "the filter rows went too");
    // The other tenant's record of the same id, and the other record, stay.
    let t2 = ReadScope::Tenant("t2".into());
    assert!(whole(&store, &t2, "gone").await.is_some());
    assert_eq!(store.list_versions(&t2, "gone").await.unwrap().len(), 1);
    assert!(whole(&store, &t1, "kept").await.is_some());
    if let Some(q) = store.quality() {
        let totals = q
            .quality_totals(&ReadScope::All, QualityWindow::default(), OVERALL)
            .await
            .unwrap();
        assert_eq!(totals, vec![(None, vec![1, 7])], "only kept's contribution");
        let users = q
            .quality_totals(&ReadScope::All, QualityWindow::default(), "user")
            .await
            .unwrap();
        assert_eq!(users, vec![(Some("kept-user".into()), vec![1, 7])]);
    }
    let log = store.erasure_audit(10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (
            log[0].action.as_str(),
            log[0].subject.as_str(),
            log[0].tenant.as_deref()
        ),
        ("purge", "gone", Some("t1"))
    );
    assert_eq!((log[0].versions, log[0].records), (2, 1));
    assert!(log[0].at_us > 0);
    // Purging what is not there changes nothing but is audited.
    let none = store
        .purge_record(&t1, "gone", &audit("purge", "gone", Some("t1")))
        .await
        .unwrap();
    assert!(none.records.is_empty());
    assert_eq!(store.erasure_audit(10).await.unwrap().len(), 2);
}

/// Redaction rewrites every copy (raw bytes included), the served rows and the filter rows, and log
/// rows; records of other users and other tenants are untouched; the same pseudonym each time.
pub async fn redact_replaces_the_user_everywhere(store: Arc<dyn Store>) {
    let v1 = record("meet", 1, Some(0), Some(10), &[USER, OTHER], USER, 2);
    let v2 = record("meet", 2, Some(0), Some(10), &[USER, OTHER], USER, 3);
    let solo = record("solo", 1, Some(0), Some(10), &[OTHER], OTHER, 1);
    store
        .put_records("t1", vec![incoming(&v1, false), incoming(&solo, false)])
        .await
        .unwrap();
    store
        .put_records("t1", vec![incoming(&v2, false)])
        .await
        .unwrap();
    store
        .put_records("t2", vec![incoming(&v1, false)])
        .await
        .unwrap();
    let row = |user: &str| {
        let v = json!({"id": format!("call-{user}"), "userId": user,
                       "userPrincipalName": format!("{user}@contoso.com"),
                       "userDisplayName": "Pat Example", "startDateTime": "2026-01-01T10:00:00Z",
                       "callerNumber": "+15550100"});
        IncomingLogRow {
            raw: v.to_string(),
            value: v,
        }
    };
    store
        .put_log_rows("t1", LogKind::PstnCall, vec![row(USER), row(OTHER)], None)
        .await
        .unwrap();
    if let Some(q) = store.quality() {
        let e = q.quality_meta().await.unwrap().epoch;
        q.replace_quality(e, "quality", 0, vec![quality_update("t1", "meet", 2, 5)])
            .await
            .unwrap();
    }
    let feed_before = store.changes_after(0, 100).await.unwrap();
    let solo_before = whole(&store, &ReadScope::All, "solo").await.unwrap();
    let t1 = ReadScope::Tenant("t1".into());
    let t2 = ReadScope::Tenant("t2".into());
    let t2_before = whole(&store, &t2, "meet").await.unwrap();
    let r = Redaction {
        user_id: USER.to_ascii_uppercase(),
        key: b"conformance key".to_vec(),
    };
    let p = r.pseudonym("t1");
    let report = store
        .redact_user(&t1, &r, &audit("redact", &r.audit_subject(), Some("t1")))
        .await
        .unwrap();
    assert_eq!(report.records, vec![("t1".to_owned(), "meet".to_owned())]);
    assert_eq!((report.versions, report.log_rows), (2, 1));

    let served = whole(&store, &t1, "meet").await.unwrap();
    let gone = |text: &str| {
        !text.to_ascii_lowercase().contains(USER) && !text.contains(&format!("{USER}@contoso"))
    };
    assert!(gone(&served), "{served}");
    assert!(
        served.contains(&p.id) && served.contains(&p.upn),
        "{served}"
    );
    assert!(served.contains(OTHER), "the other participant stays");
    for v in [1, 2] {
        let raw = store.get_version(&t1, "meet", v).await.unwrap().unwrap();
        assert!(gone(&raw), "version {v}: {raw}");
        assert!(raw.contains(&p.id));
    }
    let by = |ids: &[&str]| RecordQuery {
        participant_ids: vec![ids.iter().map(|s| (*s).to_owned()).collect()],
        limit: 10,
        ..Default::default()
    };
    let old = store.list_records(&t1, &by(&[USER]), true).await.unwrap();
    assert_eq!(old.count, Some(0), "the filter rows hold the pseudonym");
    let new = store.list_records(&t1, &by(&[&p.id]), true).await.unwrap();
    assert_eq!(new.count, Some(1));
    let rows = store
        .query_log_rows(
            &t1,
            LogKind::PstnCall,
            &LogQuery {
                from_us: 0,
                to_us: i64::MAX,
                to_inclusive: true,
                skip: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| gone(r)), "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r.contains(&p.upn) && r.contains("+15550100"))
    );
    assert!(rows.iter().any(|r| r.contains(OTHER)));
    // Nothing else moved: no new feed entries, other records and tenants as they were.
    assert_eq!(store.changes_after(0, 100).await.unwrap(), feed_before);
    assert_eq!(
        whole(&store, &ReadScope::All, "solo").await.unwrap(),
        solo_before
    );
    assert_eq!(whole(&store, &t2, "meet").await.unwrap(), t2_before);
    if let Some(q) = store.quality() {
        let totals = q
            .quality_totals(&ReadScope::All, QualityWindow::default(), OVERALL)
            .await
            .unwrap();
        assert!(
            totals.is_empty(),
            "derived rows dropped for re-derivation: {totals:?}"
        );
    }
    let log = store.erasure_audit(1).await.unwrap();
    assert_eq!(log[0].action, "redact");
    assert_eq!(log[0].subject, r.audit_subject());
    assert!(!log[0].subject.to_ascii_lowercase().contains(USER));
    assert_eq!(
        (log[0].versions, log[0].log_rows, log[0].records),
        (2, 1, 1)
    );
    // Again: nothing left to do.
    let again = store
        .redact_user(&t1, &r, &audit("redact", &r.audit_subject(), Some("t1")))
        .await
        .unwrap();
    assert!(again.records.is_empty() && again.log_rows == 0);
    assert_eq!(whole(&store, &t1, "meet").await.unwrap(), served);
}
