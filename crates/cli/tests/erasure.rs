//! Black-box tests of `callrecords redact --user` and `callrecords purge --record` on synthetic data
//! (`callrecords gen`): after a redaction no route, export or database byte (the WAL, and every deflated
//! blob inflated) holds the user's id, name or UPN, while the quality numbers stay as they were; a purge
//! leaves the aggregates equal to a rebuild without the record. Both run while `serve` answers.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde_json::Value;

mod common;
use common::{bin, request};

fn run(args: &[&str]) -> (String, String) {
    let out = bin().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The user who attended the most records with someone else: (id, display name, UPN, record ids).
fn pick_user(ndjson: &str) -> (String, String, String, Vec<String>) {
    let mut seen: HashMap<String, (String, String, Vec<String>)> = HashMap::new();
    for line in ndjson.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let parts = v["participants_v2"].as_array().cloned().unwrap_or_default();
        if parts.len() < 2 {
            continue;
        }
        for p in parts {
            let u = &p["identity"]["user"];
            let (Some(id), Some(name), Some(upn)) = (
                u["id"].as_str(),
                u["displayName"].as_str(),
                u["userPrincipalName"].as_str(),
            ) else {
                continue;
            };
            let e = seen
                .entry(id.to_owned())
                .or_insert_with(|| (name.to_owned(), upn.to_owned(), Vec::new()));
            let rid = v["id"].as_str().unwrap().to_owned();
            if !e.2.contains(&rid) {
                e.2.push(rid);
            }
        }
    }
    let (id, (name, upn, recs)) = seen
        .into_iter()
        .max_by_key(|(id, (_, _, r))| (r.len(), id.clone()))
        .expect("a user in a call with someone else");
    (id, name, upn, recs)
}

fn needles(id: &str, name: &str, upn: &str) -> Vec<String> {
    vec![
        id.to_ascii_lowercase(),
        name.to_ascii_lowercase(),
        upn.to_ascii_lowercase(),
    ]
}

fn assert_absent(what: &str, bytes: &[u8], needles: &[String]) {
    let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
    for n in needles {
        assert!(!text.contains(n.as_str()), "{what} still holds {n:?}");
    }
}

/// Every file of the store (main file, WAL, shared memory) byte for byte, and every blob in it inflated
/// (the store deflates raw JSON and derived rows): none may hold a needle.
fn scan_store(dir: &Path, needles: &[String]) {
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert_absent(&path.display().to_string(), &bytes, needles);
        files += 1;
    }
    assert!(files >= 1);
    let db = rusqlite::Connection::open_with_flags(
        dir.join("callrecords.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut inflated = 0;
    for t in tables {
        let mut stmt = db.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..n {
                match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Blob(b) => {
                        let mut out = Vec::new();
                        if flate2::read::DeflateDecoder::new(b)
                            .read_to_end(&mut out)
                            .is_ok()
                            && !out.is_empty()
                        {
                            inflated += 1;
                            assert_absent(&format!("an inflated blob of {t}"), &out, needles);
                        }
                        assert_absent(&format!("a blob of {t}"), b, needles);
                    }
                    rusqlite::types::ValueRef::Text(s) => {
                        assert_absent(&format!("a text of {t}"), s, needles)
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(
        inflated > 0,
        "the scan saw no deflated blob: it proves nothing"
    );
}

fn get(port: u16, path: &str) -> (u16, String) {
    request(port, "GET", path, &[], "").unwrap()
}

/// Keeps asking `serve` while an erasure runs; counts answers that were not 200.
fn hammer(port: u16, path: String) -> (Arc<AtomicBool>, std::thread::JoinHandle<(u64, u64)>) {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let h = std::thread::spawn(move || {
        let (ok, bad) = (AtomicU64::new(0), AtomicU64::new(0));
        while !s.load(Ordering::Relaxed) {
            match request(port, "GET", &path, &[], "") {
                Ok((200, _)) => ok.fetch_add(1, Ordering::Relaxed),
                _ => bad.fetch_add(1, Ordering::Relaxed),
            };
        }
        (ok.into_inner(), bad.into_inner())
    });
    (stop, h)
}

#[test]
fn redact_leaves_no_trace_and_keeps_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_s = data.to_str().unwrap();
    let (ndjson, _) = run(&["gen", "--count", "400", "--seed", "11", "--days", "20"]);
    let file = dir.path().join("in.ndjson");
    std::fs::write(&file, &ndjson).unwrap();
    run(&["import", "--data", data_s, file.to_str().unwrap()]);
    let (id, name, upn, recs) = pick_user(&ndjson);
    assert!(recs.len() >= 2, "the user attends several calls");
    let needles = needles(&id, &name, &upn);

    let summary = |extra: &[&str]| -> Value {
        let mut args = vec!["quality", "--data", data_s, "--format", "json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&run(&args).0).unwrap()
    };
    let before = summary(&[]);
    let before_days = summary(&["--group-by", "day"]);
    assert!(before["records"].as_u64().unwrap() >= 300, "{before}");

    let server = common::spawn(&["serve"], &data, "/healthz");
    let port = server.1;
    let record_path = format!(
        "/v1.0/communications/callRecords/{}?$expand=sessions($expand=segments)",
        recs[0]
    );
    let (status, body) = get(port, &record_path);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.to_ascii_lowercase().contains(&needles[0]),
        "the user is there before"
    );
    let list_path = "/v1.0/communications/callRecords?$top=50".to_owned();
    assert_eq!(get(port, &list_path).0, 200);

    let key = dir.path().join("pseudonym.key");
    std::fs::write(&key, "a secret of thirty-two bytes....").unwrap();
    let key_s = key.to_str().unwrap();
    let (stop, h) = hammer(port, list_path.clone());
    let (out, log) = run(&[
        "redact",
        "--data",
        data_s,
        "--user",
        &id.to_ascii_uppercase(),
        "--pseudonym-key-file",
        key_s,
        "--actor",
        "dpo@example.test",
    ]);
    stop.store(true, Ordering::Relaxed);
    let (ok, bad) = h.join().unwrap();
    assert_eq!(bad, 0, "serve kept answering ({ok} answers)");
    assert!(
        out.contains(&format!("redacted: {} records", recs.len())),
        "{out}"
    );
    assert!(
        log.contains("callrecords::audit") && log.contains("dpo@example.test"),
        "{log}"
    );
    assert_absent("the audit log line", log.as_bytes(), &needles);

    // The numbers for everyone are what they were.
    assert_eq!(summary(&[]), before);
    assert_eq!(summary(&["--group-by", "day"]), before_days);

    // Routes: the record (the cached answer is not served again), the list, the user's filter.
    let (status, body) = get(port, &record_path);
    assert_eq!(status, 200);
    assert_absent("the record route", body.as_bytes(), &needles);
    assert!(body.contains("Redacted user"), "{body}");
    for r in &recs {
        let (s, b) = get(
            port,
            &format!("/v1.0/communications/callRecords/{r}/sessions"),
        );
        assert_eq!(s, 200);
        assert_absent("a sessions route", b.as_bytes(), &needles);
        let (s, b) = get(port, &format!("/beta/communications/callRecords/{r}"));
        assert_eq!(s, 200);
        assert_absent("a beta record route", b.as_bytes(), &needles);
        let (s, b) = get(
            port,
            &format!("/v1.0/communications/callRecords/{r}/versions"),
        );
        assert_absent("the versions route", b.as_bytes(), &needles);
        let _ = s;
    }
    let mut next = Some(list_path);
    while let Some(p) = next.take() {
        let (s, b) = get(port, &p);
        assert_eq!(s, 200, "{b}");
        assert_absent("the list route", b.as_bytes(), &needles);
        let v: Value = serde_json::from_str(&b).unwrap();
        next = v["@odata.nextLink"].as_str().map(|l| {
            l.split_once("/v1.0")
                .map(|(_, r)| format!("/v1.0{r}"))
                .unwrap()
        });
    }
    for p in [
        "/analytics/v1/summary?groupBy=user",
        "/analytics/v1/streams?top=1000",
    ] {
        let (s, b) = get(port, p);
        assert_eq!(s, 200, "{p}: {b}");
        assert_absent(p, b.as_bytes(), &needles);
    }
    drop(server);

    // Exports.
    for what in ["streams", "sessions", "records"] {
        for format in ["ndjson", "csv"] {
            if what == "records" && format == "csv" {
                continue;
            }
            let out = bin()
                .args([
                    "export", "--data", data_s, "--what", what, "--format", format,
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!out.stdout.is_empty());
            assert_absent(
                &format!("the {what} {format} export"),
                &out.stdout,
                &needles,
            );
        }
    }
    // The files themselves.
    scan_store(&data, &needles);

    // Twice: nothing left to do; the same pseudonym (the record is unchanged).
    // The answer without its @odata.context links (they name the server's port).
    let answer = |port: u16| {
        get(port, &record_path)
            .1
            .replace(&format!("127.0.0.1:{port}"), "HOST")
    };
    let body_once = {
        let s = common::spawn(&["serve"], &data, "/healthz");
        answer(s.1)
    };
    let (out, _) = run(&[
        "redact",
        "--data",
        data_s,
        "--user",
        &id,
        "--pseudonym-key-file",
        key_s,
    ]);
    assert!(out.contains("redacted: 0 records"), "{out}");
    let s = common::spawn(&["serve"], &data, "/healthz");
    assert_eq!(answer(s.1), body_once);
}

#[test]
fn purge_equals_a_rebuild_without_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_s = data.to_str().unwrap();
    let (ndjson, _) = run(&["gen", "--count", "200", "--seed", "5", "--days", "10"]);
    let file = dir.path().join("in.ndjson");
    std::fs::write(&file, &ndjson).unwrap();
    run(&["import", "--data", data_s, file.to_str().unwrap()]);
    let summary = |extra: &[&str]| -> Value {
        let mut args = vec!["quality", "--data", data_s, "--format", "json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&run(&args).0).unwrap()
    };
    let before = summary(&[]);
    // A record with streams, and its own unusual bytes to look for afterwards.
    let victim: Value = ndjson
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["sessions"].as_array().is_some_and(|s| s.len() >= 2))
        .unwrap();
    let vid = victim["id"].as_str().unwrap().to_owned();
    // The audit table names the record purged; its content (session ids) must be gone.
    let session_ids: Vec<String> = victim["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_ascii_lowercase())
        .collect();

    let server = common::spawn(&["serve"], &data, "/healthz");
    let path = format!("/v1.0/communications/callRecords/{vid}");
    assert_eq!(get(server.1, &path).0, 200);
    let (stop, h) = hammer(server.1, "/v1.0/communications/callRecords?$top=20".into());
    let (out, log) = run(&["purge", "--data", data_s, "--record", &vid]);
    stop.store(true, Ordering::Relaxed);
    assert_eq!(h.join().unwrap().1, 0, "serve kept answering");
    assert!(out.contains("purged: 1 records"), "{out}");
    assert!(log.contains("callrecords::audit"), "{log}");
    let (status, body) = get(server.1, &path);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"error\""));
    assert_eq!(
        get(server.1, &format!("{path}/sessions")).0,
        404,
        "no session of it either"
    );
    drop(server);

    let after = summary(&[]);
    let after_days = summary(&["--group-by", "day"]);
    let after_users = summary(&["--group-by", "user"]);
    assert_eq!(
        after["records"].as_u64().unwrap() + 1,
        before["records"].as_u64().unwrap()
    );
    run(&["quality", "rebuild", "--data", data_s]);
    assert_eq!(summary(&[]), after, "the aggregates equal a rebuild");
    assert_eq!(summary(&["--group-by", "day"]), after_days);
    assert_eq!(summary(&["--group-by", "user"]), after_users);
    scan_store(&data, &session_ids);
}
