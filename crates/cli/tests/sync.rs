//! Black-box tests of `callrecords sync` against `callrecords serve --fake` as the upstream Graph
//! (throttling on, 2 % injected 503 / 504 faults, meetings over 60 sessions and 130 participants).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{bin, spawn};

const TENANT: &str = "dc368399-474c-4d40-900c-6265431fd81f";
const SECRET: &str = "fake-secret";
/// Seed 5 from this start, 180 fake minutes at 0.3 calls / minute: 54 records, two of them meetings of
/// 161 and 170 sessions (140 and 153 participants).
const START: &str = "2026-01-05T08:00:00Z";

/// A request with the token (if any) and Graph's unknown-enum preference; a `path` of the form
/// `PATH BODY FORM` posts a form body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let (path, body) = path.split_once(" BODY ").unwrap_or((path, ""));
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![
        ("Prefer", "include-unknown-enum-members"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    common::request(port, method, path, &headers, body)
}

/// GET JSON, retrying the upstream's injected faults and throttling (this is the test's own client).
fn get_json(port: u16, path: &str, token: Option<&str>) -> Value {
    for _ in 0..30 {
        let (status, body) = http(port, "GET", path, token).unwrap();
        match status {
            200 => return serde_json::from_str(&body).unwrap(),
            429 | 503 | 504 => std::thread::sleep(Duration::from_millis(1500)),
            _ => panic!("GET {path}: {status} {body}"),
        }
    }
    panic!("GET {path}: kept failing");
}

fn token(port: u16) -> String {
    let body = format!(
        "grant_type=client_credentials&client_id=fake-client&client_secret={SECRET}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
    );
    let (status, text) = http(
        port,
        "POST",
        &format!("/{TENANT}/oauth2/v2.0/token BODY {body}"),
        None,
    )
    .unwrap();
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

/// The path and query of a nextLink.
fn path_of(link: &str) -> String {
    let after = link.find("://").map_or(0, |i| i + 3);
    link[after..]
        .find('/')
        .map_or("/".to_string(), |i| link[after + i..].to_string())
}

fn strip(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| {
                !["@odata.context", "@odata.nextLink", "@odata.count"]
                    .iter()
                    .any(|a| k.ends_with(a))
            });
            m.values_mut().for_each(strip);
        }
        Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

/// Every page of a collection.
fn all_pages(port: u16, first: &str, token: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(p) = next.take() {
        let v = get_json(port, &p, token);
        out.extend(v["value"].as_array().cloned().unwrap_or_default());
        next = v["@odata.nextLink"].as_str().map(path_of);
    }
    out
}

/// A record as Graph serves it: the GET with the sessions expansion across every sessions page, and every
/// participants_v2 page.
fn full_record(port: u16, id: &str, token: Option<&str>) -> Value {
    let base = format!("/v1.0/communications/callRecords/{id}");
    let mut rec = get_json(
        port,
        &format!("{base}?$expand=sessions($expand=segments)"),
        token,
    );
    let mut sessions = rec["sessions"].as_array().cloned().unwrap_or_default();
    if let Some(link) = rec["sessions@odata.nextLink"].as_str() {
        sessions.extend(all_pages(port, &path_of(link), token));
    }
    rec["sessions"] = Value::Array(sessions);
    rec["participants_v2"] =
        Value::Array(all_pages(port, &format!("{base}/participants_v2"), token));
    strip(&mut rec);
    rec
}

const LIST: &str =
    "/v1.0/communications/callRecords?$filter=startDateTime%20ge%202026-01-01T00:00:00Z";

fn listed(port: u16, token: Option<&str>) -> BTreeMap<String, i64> {
    all_pages(port, LIST, token)
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["version"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Every row of every log function (`sync_cmd` syncs with `--beta`): PSTN, direct routing, SMS, blocked users,
/// the dial-out report.
fn log_rows(port: u16, token: Option<&str>) -> Vec<Value> {
    let mut rows = Vec::new();
    for f in [
        "v1.0/communications/callRecords/getPstnCalls",
        "v1.0/communications/callRecords/getDirectRoutingCalls",
        "beta/communications/callRecords/getSmsLog",
        "beta/communications/callRecords/getPstnBlockedUsersLog",
        "beta/communications/callRecords/getPstnOnlineMeetingDialoutReport",
    ] {
        rows.extend(all_pages(
            port,
            &format!("/{f}(fromDateTime=2026-01-01,toDateTime=2026-01-10)"),
            token,
        ));
    }
    rows
}

fn sync_cmd(upstream: u16, data: &Path, extra: &[&str]) -> Command {
    let url = format!("http://127.0.0.1:{upstream}");
    let mut c = bin();
    c.args(["sync", "--tenant", TENANT, "--client-id", "fake-client"])
        .args(["--authority", &url, "--graph-url", &url])
        .args([
            "--scope",
            "https://graph.microsoft.com/.default",
            "--json",
            "--beta",
        ])
        .arg("--data")
        .arg(data)
        .args(extra)
        .env("CALLRECORDS_CLIENT_SECRET", SECRET);
    c
}

/// Runs `sync --once`, returns its report.
fn sync_once(upstream: u16, data: &Path, extra: &[&str]) -> Value {
    let out = sync_cmd(upstream, data, extra)
        .arg("--once")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sync failed: {stderr}\n{stdout}");
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "the secret was printed"
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

/// The downstream holds every upstream record at its listed version, value-identical across every page, each
/// stored version equal to the upstream's copy of that version, and the same PSTN / direct-routing rows.
fn assert_same(up: u16, token: &str, down: u16) -> usize {
    let big = assert_same_records(up, token, down);
    assert_eq!(
        log_rows(up, Some(token)),
        log_rows(down, None),
        "log rows differ"
    );
    big
}

/// [`assert_same`] without the log rows.
fn assert_same_records(up: u16, token: &str, down: u16) -> usize {
    let up_list = listed(up, Some(token));
    let down_list = listed(down, None);
    assert_eq!(up_list, down_list, "listed (id, version) differ");
    let mut big = 0;
    for id in up_list.keys() {
        let a = full_record(up, id, Some(token));
        let b = full_record(down, id, None);
        assert_eq!(a, b, "record {id} differs");
        let sessions = a["sessions"].as_array().unwrap().len();
        let participants = a["participants_v2"].as_array().unwrap().len();
        if sessions > 60 && participants > 130 {
            big += 1;
        }
        // Every version downstream is the upstream's copy of it.
        let versions = get_json(down, &format!("/admin/callRecords/{id}/versions"), None);
        for v in versions["value"].as_array().unwrap() {
            let n = v["version"].as_i64().unwrap();
            let path = format!("/admin/callRecords/{id}/versions/{n}");
            let mut mine = get_json(down, &path, None);
            let mut theirs = get_json(up, &path, Some(token));
            strip(&mut mine);
            strip(&mut theirs);
            assert_eq!(mine, theirs, "version {n} of {id} differs");
        }
    }
    big
}

#[test]
fn sync_once_mirrors_the_upstream_survives_kill_9_and_picks_up_new_versions() {
    let dir = tempfile::tempdir().unwrap();
    let fake_args = [
        "serve",
        "--fake",
        "--speed",
        "0",
        "--rate",
        "0.3",
        "--start",
        START,
        "--seed",
        "5",
        "--fault-rate",
        "0.02",
    ];
    let up = spawn(&fake_args, &dir.path().join("up"), "/fake/state");
    let (status, body) = http(up.1, "POST", "/fake/advance?minutes=180", None).unwrap();
    assert_eq!(status, 200, "{body}");
    let state: Value = serde_json::from_str(&body).unwrap();
    let upstream_records = state["tenants"][0]["records"].as_u64().unwrap();
    assert!(upstream_records > 40, "{state}");
    let tok = token(up.1);
    let t0 = Instant::now();
    eprintln!("phase: upstream ready");

    // 1. A fresh store, one sweep.
    let down_dir = dir.path().join("down");
    let r = sync_once(
        up.1,
        &down_dir,
        &["--since", "2026-01-04", "--until", "2026-01-05T11:00:00Z"],
    );
    assert_eq!(r["errors"], Value::Array(vec![]), "{r}");
    assert_eq!(n(&r, "listed"), upstream_records, "{r}");
    assert_eq!(n(&r, "stored"), upstream_records, "{r}");
    assert_eq!(n(&r, "pending") + n(&r, "gaveUp"), 0, "{r}");
    assert!(n(&r, "logRowsStored") > 0, "{r}");
    // Faults were met and every one retried (the budgets keep 429s away; any that came were retried too).
    assert!(
        n(&r, "retries") >= n(&r, "throttled") + n(&r, "unavailable"),
        "{r}"
    );
    assert!(n(&r, "requests") > n(&r, "fetched") * 2, "{r}");
    eprintln!("phase: sync 1 done {:?}", t0.elapsed());
    {
        let down = spawn(&["serve"], &down_dir, "/healthz");
        let big = assert_same(up.1, &tok, down.1);
        assert!(
            big >= 1,
            "the corpus has no meeting over 60 sessions and 130 participants"
        );
        // `--beta`: SMS rows came too (assert_same compared every function's rows; this corpus has no
        // blocked-user or dial-out rows, the scripted-Graph test in crates/sync/tests/beta.rs has).
        let sms = all_pages(
            up.1,
            "/beta/communications/callRecords/getSmsLog(fromDateTime=2026-01-01,toDateTime=2026-01-10)",
            Some(&tok),
        );
        assert!(!sms.is_empty(), "the fake published no SMS rows");
        let admin = get_json(down.1, "/admin/sync", None);
        assert_eq!(admin["value"][0]["tenant"], TENANT, "{admin}");
        assert_eq!(
            admin["value"][0]["state"]["cursor"], "2026-01-05T11:00:00Z",
            "{admin}"
        );
    }

    eprintln!("phase: compare 1 done {:?}", t0.elapsed());
    // 2. Two more fake hours: new records and later versions; the next sweep starts from the cursor.
    let (status, _) = http(up.1, "POST", "/fake/advance?minutes=120", None).unwrap();
    assert_eq!(status, 200);
    let r2 = sync_once(up.1, &down_dir, &["--until", "2026-01-05T13:00:00Z"]);
    assert_eq!(r2["errors"], Value::Array(vec![]), "{r2}");
    assert!(n(&r2, "alreadyStored") > 0, "{r2}");
    assert_eq!(
        n(&r2, "fetched"),
        n(&r2, "listed") - n(&r2, "alreadyStored"),
        "{r2}"
    );
    {
        let down = spawn(&["serve"], &down_dir, "/healthz");
        assert_same(up.1, &tok, down.1);
    }

    eprintln!("phase: sync+compare 2 done {:?}", t0.elapsed());
    // 3. kill -9 in the middle of a fresh sync, then again: the same end state, resumed.
    let kill_dir = dir.path().join("killed");
    let mut child = sync_cmd(
        up.1,
        &kill_dir,
        &[
            "--once",
            "--since",
            "2026-01-04",
            "--until",
            "2026-01-05T13:00:00Z",
            "--concurrency",
            "1",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // Kill it once some records are committed (in the middle of a window: its cursor has not moved past them).
    let deadline = Instant::now() + Duration::from_secs(60);
    // Polled in process (a count on the store, about a millisecond): spawning an `export` per poll took
    // longer than a whole sync on a quiet machine.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stored = |dir: &Path| -> u64 {
        if !dir.join("callrecords.db").exists() {
            return 0;
        }
        rt.block_on(async {
            use callrecords_store::Store as _;
            let store = callrecords_store_sqlite::SqliteStore::open(dir).unwrap();
            store
                .count_records(
                    &callrecords_store::ReadScope::All,
                    &callrecords_store::RecordQuery::default(),
                )
                .await
                .unwrap()
        })
    };
    loop {
        if stored(&kill_dir) >= 10 {
            break;
        }
        assert!(Instant::now() < deadline, "the sync stored nothing");
        assert!(
            child.try_wait().unwrap().is_none(),
            "sync finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("phase: kill {:?}", t0.elapsed());
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let r3 = sync_once(up.1, &kill_dir, &["--until", "2026-01-05T13:00:00Z"]);
    assert_eq!(r3["errors"], Value::Array(vec![]), "{r3}");
    assert!(n(&r3, "alreadyStored") > 0, "did not resume: {r3}");
    assert_eq!(
        n(&r3, "fetched"),
        n(&r3, "listed") - n(&r3, "alreadyStored"),
        "{r3}"
    );
    {
        let down = spawn(&["serve"], &kill_dir, "/healthz");
        assert_same(up.1, &tok, down.1);
    }
    eprintln!("phase: resume+compare {:?}", t0.elapsed());
    // `sync status` names the tenant.
    let out = bin()
        .args(["sync", "status", "--data"])
        .arg(&kill_dir)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(TENANT));
}

#[test]
fn sync_config_syncs_several_tenants_each_with_its_own_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
    );
    let fake_args = [
        "serve",
        "--fake",
        "--speed",
        "0",
        "--rate",
        "0.2",
        "--start",
        START,
        "--seed",
        "2",
        "--tenant",
        a,
        "--tenant",
        b,
        "--client",
        "app-a:secret-a",
        "--client",
        "app-b:secret-b",
    ];
    let up = spawn(&fake_args, &dir.path().join("up"), "/fake/state");
    let (status, body) = http(up.1, "POST", "/fake/advance?minutes=60", None).unwrap();
    assert_eq!(status, 200, "{body}");
    let state: Value = serde_json::from_str(&body).unwrap();
    let url = format!("http://127.0.0.1:{}", up.1);
    let config = dir.path().join("callrecords.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[defaults]
authority = "{url}"
graph_url = "{url}"
scope = "https://graph.microsoft.com/.default"
since = "2026-01-05"

[[tenant]]
id = "{a}"
client_id = "app-a"
client_secret = "secret-a"

[[tenant]]
id = "{b}"
client_id = "app-b"
client_secret_env = "SECRET_OF_B"
"#
        ),
    )
    .unwrap();
    let down_dir = dir.path().join("down");
    let out = bin()
        .args([
            "sync",
            "--once",
            "--json",
            "--until",
            "2026-01-05T09:00:00Z",
            "--config",
        ])
        .arg(&config)
        .arg("--data")
        .arg(&down_dir)
        .env("SECRET_OF_B", "secret-b")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("secret-"), "{stderr}");
    let reports: BTreeMap<String, Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["tenant"].as_str().unwrap().to_string(), v)
        })
        .collect();
    for (i, t) in [a, b].iter().enumerate() {
        let r = &reports[*t];
        assert_eq!(r["errors"], Value::Array(vec![]), "{r}");
        assert_eq!(
            n(r, "stored"),
            state["tenants"][i]["records"].as_u64().unwrap(),
            "{t}: {r} vs {state}"
        );
        assert!(n(r, "stored") > 0, "{r}");
    }
    let down = spawn(&["serve"], &down_dir, "/healthz");
    let admin = get_json(down.1, "/admin/sync", None);
    let tenants: Vec<&str> = admin["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, [a, b]);
}

/// `/admin/sync`'s entry of the tenant on the downstream.
fn sync_state(down: u16) -> Value {
    let admin = get_json(down, "/admin/sync", None);
    admin["value"]
        .as_array()
        .and_then(|v| v.iter().find(|t| t["tenant"] == TENANT))
        .map(|t| t["state"].clone())
        .unwrap_or(Value::Null)
}

/// Polls `cond` every 50 ms for up to `secs`; true when it held.
fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// The upstream's (id, version) pairs the downstream does not serve at that version. (The upstream list is
/// read once per step by the caller: polling it would spend the app's list budget, which `sync` shares.)
fn missing(up_list: &BTreeMap<String, i64>, down: u16) -> BTreeMap<String, i64> {
    let have = listed(down, None);
    up_list
        .iter()
        .filter(|(id, v)| have.get(*id) != Some(*v))
        .map(|(id, v)| (id.clone(), *v))
        .collect()
}

#[test]
fn push_notifications_bring_new_records_in_seconds_and_the_next_sweep_catches_a_dropped_one() {
    let dir = tempfile::tempdir().unwrap();
    let fake_args = [
        "serve", "--fake", "--speed", "0", "--rate", "0.5", "--start", START, "--seed", "11",
    ];
    let up = spawn(&fake_args, &dir.path().join("up"), "/fake/state");
    let (status, body) = http(up.1, "POST", "/fake/advance?minutes=60", None).unwrap();
    assert_eq!(status, 200, "{body}");
    let tok = token(up.1);
    let down_dir = dir.path().join("down");
    let down = spawn(&["serve"], &down_dir, "/healthz");
    let hook = format!("http://127.0.0.1:{}/notifications/graph", down.1);
    // Sweeps an hour apart: after the first one, only notifications bring records.
    let args = [
        "--since",
        "2026-01-04",
        "--until",
        "2026-01-06",
        "--interval",
        "1h",
        "--notifications-url",
        &hook,
    ];
    let start_sync = |name: &str| {
        let log = std::fs::File::create(dir.path().join(name)).unwrap();
        sync_cmd(up.1, &down_dir, &args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    };
    let mut sync = start_sync("sync1.log");
    let log = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    assert!(
        wait_for(60, || {
            let st = sync_state(down.1);
            st["totals"]["sweeps"].as_u64() == Some(1) && st["push"]["subscriptionId"].is_string()
        }),
        "no first sweep and subscription: {}\n{}",
        sync_state(down.1),
        log("sync1.log")
    );
    let st = sync_state(down.1);
    let sub = st["push"]["subscriptionId"].as_str().unwrap().to_string();
    assert_eq!(st["push"]["clientState"], "<redacted>", "{st}");
    assert_eq!(st["push"]["created"], 1, "{st}");
    assert!(
        missing(&listed(up.1, Some(&tok)), down.1).is_empty(),
        "the first sweep missed records"
    );
    let upstream = get_json(up.1, "/fake/state", None);
    assert_eq!(upstream["subscriptions"], 1, "{upstream}");

    // New upstream records (and later versions) arrive by notification, without a sweep.
    let mut latencies = Vec::new();
    let mut notified = 0;
    for _ in 0..6 {
        let t = Instant::now();
        let (status, _) = http(up.1, "POST", "/fake/advance?minutes=20", None).unwrap();
        assert_eq!(status, 200);
        let up_list = listed(up.1, Some(&tok));
        let new = missing(&up_list, down.1).len();
        notified += new;
        assert!(
            wait_for(20, || missing(&up_list, down.1).is_empty()),
            "not pushed: {:?}\n{}",
            missing(&up_list, down.1),
            log("sync1.log")
        );
        if new > 0 {
            latencies.push(t.elapsed());
        }
        assert_eq!(sync_state(down.1)["totals"]["sweeps"], 1, "a sweep ran");
    }
    assert!(
        notified >= 5 && latencies.len() >= 5,
        "{notified} {latencies:?}"
    );
    latencies.sort();
    eprintln!(
        "notify-to-downstream latency over {} advances ({notified} records): median {:?}, all {latencies:?}",
        latencies.len(),
        latencies[latencies.len() / 2]
    );
    // The push task counts after it committed (the records can be served a moment before).
    assert!(
        wait_for(10, || sync_state(down.1)["push"]["stored"]
            .as_u64()
            .is_some_and(|n| n >= notified as u64)),
        "{}",
        sync_state(down.1)["push"]
    );
    // The records came complete: value-identical across every page.
    assert_same_records(up.1, &tok, down.1);

    // Access revoked upstream: `reauthorizationRequired` on the lifecycle URL, and sync reauthorizes.
    let (status, body) = http(up.1, "POST", "/fake/revoke", None).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        wait_for(15, || sync_state(down.1)["push"]["reauthorized"] == 1),
        "not reauthorized: {}\n{}",
        sync_state(down.1)["push"],
        log("sync1.log")
    );

    // One notification lost on the way: the others arrive, that one does not ...
    let (status, body) = http(up.1, "POST", "/fake/drop-next-notification", None).unwrap();
    assert_eq!(status, 200, "{body}");
    let mut up_list = BTreeMap::new();
    for _ in 0..5 {
        let (status, _) = http(up.1, "POST", "/fake/advance?minutes=30", None).unwrap();
        assert_eq!(status, 200);
        up_list = listed(up.1, Some(&tok));
        if missing(&up_list, down.1).len() >= 2 {
            break;
        }
    }
    let mut dropped = BTreeMap::new();
    assert!(
        wait_for(20, || {
            dropped = missing(&up_list, down.1);
            dropped.len() == 1
        }),
        "expected exactly one record missing: {dropped:?}"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        missing(&up_list, down.1),
        dropped,
        "the dropped one came anyway"
    );
    assert_eq!(sync_state(down.1)["totals"]["sweeps"], 1);
    // ... until the next sweep: here the one at start after a kill -9 (which keeps the subscription).
    sync.kill().unwrap();
    sync.wait().unwrap();
    let mut sync = start_sync("sync2.log");
    assert!(
        wait_for(60, || missing(&up_list, down.1).is_empty()),
        "the sweep did not catch {dropped:?}\n{}",
        log("sync2.log")
    );
    let st = sync_state(down.1);
    assert_eq!(st["push"]["subscriptionId"], sub.as_str(), "{st}");
    assert_eq!(st["push"]["created"], 1, "{st}");
    assert_eq!(get_json(up.1, "/fake/state", None)["subscriptions"], 1);
    assert_same_records(up.1, &tok, down.1);
    sync.kill().unwrap();
    sync.wait().unwrap();
    let out = bin()
        .args(["sync", "status", "--data"])
        .arg(&down_dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("push: subscription {sub}")),
        "{text}"
    );
}

/// A client registered with a certificate gets its token with a signed `client_assertion`; a certificate the
/// app does not have is refused (exit 2, the reason named).
#[test]
fn sync_logs_in_with_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fake/testdata");
    let cert = testdata.join("client-cert.pem");
    let key = testdata.join("client-key.pem");
    let fake_args = [
        "serve",
        "--fake",
        "--speed",
        "0",
        "--rate",
        "0.2",
        "--start",
        START,
        "--seed",
        "3",
        "--client-cert",
        &format!("cert-app:{}", cert.display()),
    ];
    let up = spawn(&fake_args, &dir.path().join("up"), "/fake/state");
    let (status, body) = http(up.1, "POST", "/fake/advance?minutes=60", None).unwrap();
    assert_eq!(status, 200, "{body}");
    let state: Value = serde_json::from_str(&body).unwrap();
    let url = format!("http://127.0.0.1:{}", up.1);
    let run = |cert: &Path, key: &Path| {
        bin()
            .args(["sync", "--once", "--json", "--no-logs", "--tenant", TENANT])
            .args([
                "--client-id",
                "cert-app",
                "--authority",
                &url,
                "--graph-url",
                &url,
            ])
            .args(["--scope", "https://graph.microsoft.com/.default"])
            .args(["--since", "2026-01-05", "--until", "2026-01-05T09:00:00Z"])
            .arg("--certificate")
            .arg(cert)
            .arg("--certificate-key")
            .arg(key)
            .arg("--data")
            .arg(dir.path().join("down"))
            .env_remove("CALLRECORDS_CLIENT_SECRET")
            .output()
            .unwrap()
    };
    let out = run(&cert, &key);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(r["errors"], Value::Array(vec![]), "{r}");
    assert_eq!(
        r["stored"], state["tenants"][0]["records"],
        "{r} vs {state}"
    );
    assert!(n(&r, "stored") > 0, "{r}");
    assert_eq!(n(&r, "tokensFetched"), 1, "{r}");
    // Another key pair: not registered for the app.
    let out = run(
        &testdata.join("other-cert.pem"),
        &testdata.join("other-key.pem"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not registered"), "{stderr}");
}
