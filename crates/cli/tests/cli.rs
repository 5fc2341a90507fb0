//! Black-box tests of the real `callrecords` binary: validate, import, and a server killed with SIGKILL
//! mid-ingest that must keep every acknowledged record.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use callrecords_model::validate::strip_control_annotations;
use callrecords_store::{ReadScope, RecordRead, Store, Window};
use callrecords_store_sqlite::SqliteStore;
use serde_json::Value;

mod common;
use common::{Server, bin};

/// Microsoft's example bodies, carried in the repository (`tests/fixtures/graph`, see its NOTICE).
fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/graph/examples")
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn validate_accepts_the_examples_and_names_the_path_of_bad_records() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .arg("validate")
        .arg(examples().join("v1.0__callrecords-callrecord-get__response-2.json"))
        .arg(
            examples()
                .join("v1.0__callrecords-cloudcommunications-list-callrecords__response-1.json"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, "{\"id\":\"a\",\"version\":1}\n{\"id\":\"b\",\"version\":1,\"sessions\":[{\"startDateTime\":5}]}\n{\"id\":\n").unwrap();
    let out = bin().arg("validate").arg(&bad).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("bad.ndjson:2: sessions[0].startDateTime: expected an ISO 8601 date-time"),
        "{text}"
    );
    assert!(text.contains("bad.ndjson:3: malformed JSON"), "{text}");
    assert!(
        text.contains("3 records in 1 file(s): 1 valid, 2 invalid"),
        "{text}"
    );
    // arbitrary bytes never crash it
    std::fs::write(&bad, [0xffu8, 0x00, b'{', b'[', 0x80, b'\n', b'}']).unwrap();
    let out = bin().arg("validate").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Reassembles the served record from the store: the head, then every session and participant page, each
/// page pinned to the copy the first read returned.
async fn read_back(store: &SqliteStore, id: &str) -> Value {
    let all = ReadScope::All;
    let head = store
        .read_record(&all, id, &RecordRead::default())
        .await
        .unwrap()
        .unwrap()
        .head;
    let mut v: Value = serde_json::from_str(&head.json).unwrap();
    let page = |after, sessions: bool| RecordRead {
        sessions: sessions.then_some(Window { after, limit: 60 }),
        with_segments: true,
        participants: (!sessions).then_some(Window { after, limit: 130 }),
        pin: Some(head.revision),
    };
    let mut sessions = Vec::new();
    let mut after = None;
    loop {
        let view = store
            .read_record(&all, id, &page(after, true))
            .await
            .unwrap()
            .unwrap();
        if view.sessions.is_empty() {
            break;
        }
        after = view.sessions.last().map(|r| r.ordinal);
        sessions.extend(
            view.sessions
                .into_iter()
                .map(|r| serde_json::from_str::<Value>(&r.json).unwrap()),
        );
    }
    let mut participants = Vec::new();
    let mut after = None;
    loop {
        let view = store
            .read_record(&all, id, &page(after, false))
            .await
            .unwrap()
            .unwrap();
        if view.participants.is_empty() {
            break;
        }
        after = view.participants.last().map(|r| r.ordinal);
        participants.extend(
            view.participants
                .into_iter()
                .map(|r| serde_json::from_str::<Value>(&r.json).unwrap()),
        );
    }
    if head.session_count > 0 {
        v["sessions"] = Value::Array(sessions);
    }
    if head.participant_count > 0 {
        v["participants_v2"] = Value::Array(participants);
    }
    v
}

#[test]
fn import_keeps_every_good_record_value_identical_and_names_the_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let generated = dir.path().join("gen.ndjson");
    let out = bin()
        .args(["gen", "--count", "150", "--seed", "7"])
        .output()
        .unwrap();
    assert!(out.status.success());
    // Add unknown properties at two depths and two broken lines.
    let mut text = String::new();
    for (i, line) in String::from_utf8(out.stdout).unwrap().lines().enumerate() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        if i % 10 == 0 {
            v["futureProperty"] = serde_json::json!({"nested": [1, 2]});
            if let Some(s) = v["sessions"].get_mut(0) {
                s["anotherNewOne"] = Value::Bool(true);
            }
        }
        text.push_str(&v.to_string());
        text.push('\n');
        if i == 20 {
            text.push_str("{\"id\":\"broken\",\"version\":1,\"type\":7}\n");
        }
        if i == 40 {
            text.push_str("{\"id\":\"cut\",\"vers\n");
        }
    }
    std::fs::write(&generated, &text).unwrap();
    let out = bin()
        .arg("import")
        .arg("--data")
        .arg(&data)
        .arg(&generated)
        .arg(examples().join("v1.0__callrecords-callrecord-get__response-1.json"))
        .arg(
            examples()
                .join("v1.0__callrecords-cloudcommunications-list-callrecords__response-1.json"),
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("gen.ndjson:22: type: expected an enum member name"),
        "{err}"
    );
    assert!(err.contains("gen.ndjson:43: malformed JSON"), "{err}");
    assert!(err.contains("invalid 2"), "{err}");

    // Every good record reads back value-identical (the newest version of each id).
    let mut latest: std::collections::HashMap<String, Value> = Default::default();
    for line in text.lines() {
        let Ok(mut v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["version"].as_i64().is_none() || v.get("type").is_some_and(Value::is_number) {
            continue;
        }
        strip_control_annotations(&mut v);
        let id = v["id"].as_str().unwrap().to_owned();
        let newer = latest
            .get(&id)
            .is_none_or(|old| old["version"].as_i64() < v["version"].as_i64());
        if newer {
            latest.insert(id, v);
        }
    }
    {
        let f = "v1.0__callrecords-callrecord-get__response-1.json";
        let mut v: Value =
            serde_json::from_str(&std::fs::read_to_string(examples().join(f)).unwrap()).unwrap();
        strip_control_annotations(&mut v);
        latest.insert(v["id"].as_str().unwrap().to_owned(), v);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&data).unwrap();
        for (id, want) in &latest {
            let got = read_back(&store, id).await;
            assert!(same(&got, want), "{id} differs after import");
        }
        assert_eq!(store.integrity_check().await.unwrap(), "ok");
    });
    assert!(latest.len() > 100);
}

// ---- the server, killed mid-ingest -------------------------------------------------------------------

fn start(data: &Path) -> Server {
    common::spawn(&["serve"], data, "/healthz")
}

fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    common::request(
        port,
        method,
        path,
        &[("Content-Type", "application/x-ndjson")],
        body,
    )
}

/// `gen --small --count N --seed S`, one NDJSON line per record.
fn small_records(count: u32, seed: u32) -> Vec<String> {
    let out = bin()
        .args([
            "gen",
            "--count",
            &count.to_string(),
            "--seed",
            &seed.to_string(),
            "--small",
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn records_acknowledged_before_a_sigkill_survive_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lines = small_records(3000, 11);
    let mut server = start(&data);
    let port = server.1;

    // A sender thread posts small batches; the main thread kills the server while it is sending.
    let acks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let acks_sender = acks.clone();
    let sender = std::thread::spawn(move || {
        let mut acknowledged: Vec<Value> = Vec::new();
        for chunk in lines.chunks(5) {
            let body = chunk.join("\n");
            match http(port, "POST", "/ingest/callRecords", &body) {
                Ok((200, resp)) => {
                    let v: Value = serde_json::from_str(&resp).expect("ingest answer is JSON");
                    assert_eq!(v["results"].as_array().unwrap().len(), chunk.len());
                    acks_sender.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    acknowledged.extend(
                        chunk
                            .iter()
                            .map(|l| serde_json::from_str::<Value>(l).unwrap()),
                    );
                }
                _ => break, // the server is gone: nothing after this was acknowledged
            }
        }
        acknowledged
    });
    // Kill once a few batches were acknowledged, while the sender is still streaming.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acks.load(std::sync::atomic::Ordering::SeqCst) < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.0.kill().unwrap(); // SIGKILL
    server.0.wait().unwrap();
    let acknowledged = sender.join().unwrap();
    assert!(
        !acknowledged.is_empty(),
        "nothing was acknowledged before the kill"
    );
    assert!(
        acknowledged.len() < 3000,
        "the kill came after the whole stream; the test proves nothing"
    );

    // Restart on the same data: every acknowledged record is served, at least at the acknowledged version.
    let server = start(&data);
    for rec in &acknowledged {
        let id = rec["id"].as_str().unwrap();
        let (status, body) = http(
            server.1,
            "GET",
            &format!("/admin/callRecords/{id}/versions/{}", rec["version"]),
            "",
        )
        .unwrap();
        assert_eq!(status, 200, "{id} v{} lost: {body}", rec["version"]);
        let stored: Value = serde_json::from_str(&body).unwrap();
        assert!(same(&stored, rec), "{id} changed");
        let (status, _) = http(
            server.1,
            "GET",
            &format!("/v1.0/communications/callRecords/{id}"),
            "",
        )
        .unwrap();
        assert_eq!(status, 200, "{id} not served");
    }
    drop(server);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&data).unwrap();
        assert_eq!(store.integrity_check().await.unwrap(), "ok");
    });
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = bin()
        .args(["gen", "--count", "400", "--seed", "3"])
        .output()
        .unwrap();
    let body = String::from_utf8(out.stdout).unwrap();
    let mut server = start(&data);
    let port = server.1;
    let sender = std::thread::spawn(move || http(port, "POST", "/ingest/callRecords", &body));
    std::thread::sleep(Duration::from_millis(150)); // the upload is under way
    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let (status, resp) = sender
        .join()
        .unwrap()
        .expect("the in-flight request was answered");
    assert_eq!(status, 200, "{resp}");
    let v: Value = serde_json::from_str(&resp).unwrap();
    assert_eq!(v["counts"]["received"], 400);
    let exit = server.0.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    // everything acknowledged is there after a restart
    let server = start(&data);
    let (status, list) = http(
        server.1,
        "GET",
        "/v1.0/communications/callRecords?$count=true&$top=1",
        "",
    )
    .unwrap();
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&list).unwrap();
    let distinct: std::collections::HashSet<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(list["@odata.count"], distinct.len());
}

#[test]
fn import_runs_beside_a_serving_process_on_the_same_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data);
    let (status, before) = http(
        server.1,
        "GET",
        "/v1.0/communications/callRecords?$count=true",
        "",
    )
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&before).unwrap()["@odata.count"],
        0
    );

    // The server ingests over HTTP while another process imports into the same SQLite file.
    let file = dir.path().join("gen.ndjson");
    let out = bin()
        .args(["gen", "--count", "300", "--seed", "21", "--small"])
        .output()
        .unwrap();
    std::fs::write(&file, &out.stdout).unwrap();
    let port = server.1;
    let posting = std::thread::spawn(move || {
        let body = String::from_utf8(
            bin()
                .args(["gen", "--count", "200", "--seed", "22", "--small"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        for chunk in body.lines().collect::<Vec<_>>().chunks(20) {
            let (status, resp) =
                http(port, "POST", "/ingest/callRecords", &chunk.join("\n")).unwrap();
            assert_eq!(status, 200, "{resp}");
        }
    });
    let import = bin()
        .arg("import")
        .arg("--data")
        .arg(&data)
        .arg("--batch-size")
        .arg("25")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    posting.join().unwrap();

    // The serving process sees what the other process imported (every distinct id of both sources).
    let mut ids = std::collections::HashSet::new();
    for seed in ["21", "22"] {
        let count = if seed == "21" { "300" } else { "200" };
        let out = bin()
            .args(["gen", "--count", count, "--seed", seed, "--small"])
            .output()
            .unwrap();
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            ids.insert(
                serde_json::from_str::<Value>(line).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    let (status, after) = http(
        server.1,
        "GET",
        "/v1.0/communications/callRecords?$count=true&$top=1",
        "",
    )
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&after).unwrap()["@odata.count"],
        ids.len()
    );
}

#[test]
fn every_generated_record_and_log_row_validates_and_gen_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, count) in [
        ("callRecord", "600"),
        ("pstnCall", "300"),
        ("directRoutingCall", "300"),
        ("smsLog", "300"),
        ("pstnBlockedUser", "300"),
        ("pstnOnlineMeetingDialout", "300"),
    ] {
        let generate = |seed: &str| {
            let out = bin()
                .args(["gen", "--kind", kind, "--count", count, "--seed", seed])
                .output()
                .unwrap();
            assert!(out.status.success());
            out.stdout
        };
        let a = generate("9");
        assert_eq!(
            a,
            generate("9"),
            "{kind}: the same seed gives the same bytes"
        );
        assert_ne!(
            a,
            generate("10"),
            "{kind}: another seed gives other records"
        );
        let file = dir.path().join(format!("{kind}.ndjson"));
        std::fs::write(&file, &a).unwrap();
        let out = bin()
            .args(["validate", "--kind", kind])
            .arg(&file)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{kind}: {text}");
        assert!(
            text.contains(&format!(
                "{count} records in 1 file(s): {count} valid, 0 invalid"
            )),
            "{kind}: {text}"
        );
    }
    // and through stdin, as in `callrecords gen | callrecords validate -`
    let mut producer = bin()
        .args(["gen", "--count", "200", "--seed", "4"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = bin()
        .args(["validate", "-"])
        .stdin(producer.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(producer.wait().unwrap().success());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn start_fake(data: &Path) -> Server {
    common::spawn(
        &[
            "serve",
            "--fake",
            "--speed",
            "0",
            "--rate",
            "0.1",
            "--start",
            "2026-01-05T08:00:00Z",
            "--seed",
            "9",
        ],
        data,
        "/fake/state",
    )
}

#[test]
fn serve_fake_guards_graph_routes_advances_and_keeps_its_clock_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let now = {
        let s = start_fake(dir.path());
        let (status, body) = http(s.1, "GET", "/v1.0/communications/callRecords", "").unwrap();
        assert_eq!(status, 401, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "InvalidAuthenticationToken");
        let (status, body) = http(s.1, "POST", "/fake/advance?minutes=60", "").unwrap();
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["now"], "2026-01-05T09:00:00Z");
        assert!(v["tenants"][0]["records"].as_u64().unwrap() > 0, "{v}");
        v
    };
    let s = start_fake(dir.path());
    let (_, body) = http(s.1, "GET", "/fake/state", "").unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["now"], now["now"]);
    assert_eq!(v["tenants"], now["tenants"]);
}

// ---- backup while serving, restore -----------------------------------------------------------------

#[test]
fn a_backup_taken_during_ingest_restores_every_record_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lines = small_records(2000, 12);
    let server = start(&data);
    let port = server.1;
    // The sender posts batches of 5 until told to stop; `acked` counts the lines acknowledged so far.
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let (acked, stop, lines) = (acked.clone(), stop.clone(), lines.clone());
        std::thread::spawn(move || {
            for chunk in lines.chunks(5) {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let (status, body) =
                    http(port, "POST", "/ingest/callRecords", &chunk.join("\n")).unwrap();
                assert_eq!(status, 200, "{body}");
                acked.fetch_add(chunk.len(), std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.load(std::sync::atomic::Ordering::SeqCst) < 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = acked.load(std::sync::atomic::Ordering::SeqCst);
    let file = dir.path().join("backup.db");
    let backup = bin()
        .args(["backup", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    let during = acked.load(std::sync::atomic::Ordering::SeqCst);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    sender.join().unwrap();
    drop(server);
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    assert!(
        during > before,
        "no record was acknowledged while the backup ran; the test proves nothing"
    );
    let said = String::from_utf8(backup.stdout).unwrap();
    assert!(said.starts_with("backup written:"), "{said}");

    // A second backup to the same file is refused; restoring over an existing store needs --replace.
    let again = bin()
        .args(["backup", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!again.status.success());
    let refused = bin()
        .arg("restore")
        .arg(&file)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(!refused.status.success());

    let restored = dir.path().join("restored");
    let done = bin()
        .arg("restore")
        .arg(&file)
        .arg("--data")
        .arg(&restored)
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let server = start(&restored);
    for line in &lines[..before] {
        let rec: Value = serde_json::from_str(line).unwrap();
        let id = rec["id"].as_str().unwrap();
        let (status, body) = http(
            server.1,
            "GET",
            &format!("/admin/callRecords/{id}/versions/{}", rec["version"]),
            "",
        )
        .unwrap();
        assert_eq!(
            status, 200,
            "{id} acknowledged before the backup, missing after the restore: {body}"
        );
        assert!(
            same(&serde_json::from_str(&body).unwrap(), &rec),
            "{id} changed"
        );
    }
}

// ---- structured logs ---------------------------------------------------------------------------------

#[test]
fn json_logs_have_one_line_per_request_with_its_ids_and_never_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let port = common::free_port();
    let child = bin()
        .args(["--log-format", "json", "serve", "--data"])
        .arg(dir.path().join("data"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("CALLRECORDS_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let server = Server(child, port);
    let deadline = Instant::now() + Duration::from_secs(60);
    while common::request(port, "GET", "/healthz", &[], "").is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let secret = "eyJsecret-bearer-token-never-logged";
    let (status, _) = common::request(
        port,
        "GET",
        "/v1.0/communications/callRecords/some-id?$select=id",
        &[
            ("client-request-id", "log-test-7"),
            ("Authorization", &format!("Bearer {secret}")),
        ],
        "",
    )
    .unwrap();
    assert_eq!(status, 404);
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(secret), "a token reached the log:\n{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let mine: Vec<&Value> = lines
        .iter()
        .filter(|l| l["client_request_id"] == "log-test-7")
        .collect();
    assert_eq!(mine.len(), 1, "one line for the request:\n{text}");
    let line = mine[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["route"], "/v1.0/communications/callRecords/{id}");
    assert_eq!(line["path"], "/v1.0/communications/callRecords/some-id");
    assert_eq!(line["status"], 404);
    assert_eq!(line["method"], "GET");
    assert!(line["duration_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(line["request_id"].as_str().unwrap().len(), 36, "{line}");
}
