//! Black-box tests of change notifications with the real `callrecords` binary and an in-test webhook
//! receiver (plain threads and sockets, so it shares nothing with the server's HTTP stack):
//!
//! * `serve` killed with SIGKILL while every notification is pending (the receiver answers 503), then
//!   restarted on the same `--data`: every notification still arrives (deduped by its stable id).
//! * `serve --fake`: a subscription made with a token from the fake's token endpoint is notified of
//!   the records `POST /fake/advance` publishes, in the token's tenant.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
use common::{Server, bin, request as http};

// ---- the receiver ------------------------------------------------------------------------------------

/// A webhook receiver: answers validation handshakes, and notification POSTs with 202 (keeping every
/// item) or, while `failing`, with 503.
#[derive(Clone, Default)]
struct Receiver {
    failing: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    validations: Arc<AtomicUsize>,
    items: Arc<Mutex<Vec<Value>>>,
}

/// `application/x-www-form-urlencoded` decoding of one query value.
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Receiver {
    /// Starts listening on a loopback port; returns the notification URL.
    fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = self.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let me = me.clone();
                std::thread::spawn(move || me.handle(conn));
            }
        });
        format!("http://127.0.0.1:{port}/hook")
    }

    fn handle(&self, conn: TcpStream) {
        let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut out = conn;
        // One request per connection is enough (every answer says `Connection: close`).
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            return;
        }
        let target = line.split(' ').nth(1).unwrap_or("").to_owned();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let token = target.split_once('?').and_then(|(_, q)| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("validationToken="))
        });
        let (status, ctype, text) = if let Some(t) = token {
            self.validations.fetch_add(1, Ordering::SeqCst);
            ("200 OK", "text/plain", form_decode(t))
        } else if self.failing.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            ("503 Service Unavailable", "text/plain", "down".to_owned())
        } else {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let items = v["value"].as_array().cloned().unwrap_or_default();
            self.items.lock().unwrap().extend(items);
            ("202 Accepted", "text/plain", String::new())
        };
        let _ = write!(
            out,
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
    }

    fn items(&self) -> Vec<Value> {
        self.items.lock().unwrap().clone()
    }

    /// Waits until the items cover `want` (record ids) or the deadline passes; returns the items by
    /// notification id (duplicates of a redelivery collapse).
    fn wait_for(&self, want: &BTreeSet<String>, secs: u64) -> BTreeMap<String, Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let by_id: BTreeMap<String, Value> = self
                .items()
                .into_iter()
                .map(|i| (i["id"].as_str().unwrap_or_default().to_owned(), i))
                .collect();
            let got: BTreeSet<String> = by_id
                .values()
                .filter_map(|i| i["resourceData"]["id"].as_str().map(str::to_owned))
                .collect();
            if want.is_subset(&got) || Instant::now() > deadline {
                return by_id;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

// ---- the server --------------------------------------------------------------------------------------

fn start(args: &[&str], data: &Path, ready: &str) -> Server {
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    common::spawn(&all, data, ready)
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn subscription_body(url: &str) -> String {
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    json!({
        "changeType": "created",
        "notificationUrl": url,
        "resource": "/communications/callRecords",
        "expirationDateTime": expires.to_string(),
        "clientState": "secret-state",
    })
    .to_string()
}

/// Every item is a `created` notification of subscription `sub` in `tenant`, shaped as Graph's.
fn check_shape(item: &Value, sub: &str, tenant: &str) {
    let id = item["resourceData"]["id"].as_str().unwrap();
    assert_eq!(item["subscriptionId"], sub, "{item}");
    assert_eq!(item["changeType"], "created", "{item}");
    assert_eq!(item["clientState"], "secret-state", "{item}");
    assert_eq!(item["tenantId"], tenant, "{item}");
    assert_eq!(item["resource"], format!("communications/callRecords/{id}"));
    assert_eq!(
        item["resourceData"]["@odata.type"],
        "#Microsoft.Graph.callRecord"
    );
    assert_eq!(
        item["resourceData"]["@odata.id"],
        format!("communications/callRecords/{id}")
    );
    assert!(item["subscriptionExpirationDateTime"].is_string());
}

// ---- kill -9 with notifications pending ---------------------------------------------------------------

#[test]
fn notifications_pending_at_a_sigkill_all_arrive_after_the_restart() {
    const N: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let receiver = Receiver::default();
    let url = receiver.start();
    // A short lease: what was claimed (in flight) at the kill is claimable again 1 s later.
    let args = ["--delivery-backoff", "200ms", "--delivery-lease", "1s"];
    let mut server = start(&args, &data, "/healthz");
    let port = server.1;

    let (status, body) = http(
        port,
        "POST",
        "/v1.0/subscriptions",
        &[],
        &subscription_body(&url),
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    let sub = json_of(&body)["id"].as_str().unwrap().to_owned();
    assert_eq!(receiver.validations.load(Ordering::SeqCst), 1);

    // The receiver goes down; records are ingested and acknowledged.
    receiver.failing.store(true, Ordering::SeqCst);
    let out = bin()
        .args(["gen", "--count", &N.to_string(), "--seed", "21", "--small"])
        .output()
        .unwrap();
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), N);
    let ids: BTreeSet<String> = lines
        .iter()
        .map(|l| json_of(l)["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), N);
    for chunk in lines.chunks(5) {
        let h = [("Content-Type", "application/x-ndjson")];
        let (status, body) =
            http(port, "POST", "/ingest/callRecords", &h, &chunk.join("\n")).unwrap();
        assert_eq!(status, 200, "{body}");
    }

    // Wait until all N notifications are queued and at least one attempt failed, then SIGKILL.
    let deliveries = format!("/admin/subscriptions/{sub}/deliveries");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = http(port, "GET", &deliveries, &[], "").unwrap();
        let v = json_of(&body);
        if v["pending"] == N as u64 && receiver.refused.load(Ordering::SeqCst) > 0 {
            assert_eq!(v["delivered"], 0, "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "notifications not queued: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.0.kill().unwrap(); // SIGKILL
    server.0.wait().unwrap();
    assert!(
        receiver.items().is_empty(),
        "something was delivered while failing"
    );

    // The receiver recovers; the server restarts on the same data and delivers everything.
    receiver.failing.store(false, Ordering::SeqCst);
    let server = start(&args, &data, "/healthz");
    let by_id = receiver.wait_for(&ids, 60);
    let got: BTreeSet<String> = by_id
        .values()
        .map(|i| i["resourceData"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, ids, "records whose notification never arrived");
    // One stable notification id per record (a redelivery repeats the id, never invents one).
    assert_eq!(by_id.len(), N, "{by_id:?}");
    for item in by_id.values() {
        check_shape(item, &sub, "00000000-0000-0000-0000-000000000000");
    }
    // The debugging view agrees.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = http(server.1, "GET", &deliveries, &[], "").unwrap();
        let v = json_of(&body);
        if v["delivered"] == N as u64 {
            assert_eq!(v["pending"], 0);
            assert_eq!(v["dropped"], 0);
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- serve --fake: advance, list, notify -------------------------------------------------------------

const FAKE_TENANT: &str = "dc368399-474c-4d40-900c-6265431fd81f";
const OTHER_TENANT: &str = "11111111-1111-4111-8111-111111111111";

fn token(port: u16, tenant: &str) -> String {
    let form = "grant_type=client_credentials&client_id=fake-client&client_secret=fake-secret\
                &scope=https%3A%2F%2Fgraph.microsoft.com%2F.default";
    let h = [("Content-Type", "application/x-www-form-urlencoded")];
    let (status, body) = http(
        port,
        "POST",
        &format!("/{tenant}/oauth2/v2.0/token"),
        &h,
        form,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    json_of(&body)["access_token"].as_str().unwrap().to_owned()
}

#[test]
fn serve_fake_notifies_the_records_an_advance_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::default();
    let url = receiver.start();
    let args = [
        "--fake",
        "--speed",
        "0",
        "--rate",
        "0.2",
        "--start",
        "2026-01-05T08:00:00Z",
        "--seed",
        "3",
        "--tenant",
        FAKE_TENANT,
        "--tenant",
        OTHER_TENANT,
    ];
    let s = start(&args, dir.path(), "/fake/state");
    let bearer = format!("Bearer {}", token(s.1, FAKE_TENANT));
    let auth = [("Authorization", bearer.as_str())];

    // Subscriptions are Graph routes too: a token is needed.
    let (status, _) = http(
        s.1,
        "POST",
        "/v1.0/subscriptions",
        &[],
        &subscription_body(&url),
    )
    .unwrap();
    assert_eq!(status, 401);
    let mut with_lifecycle = json_of(&subscription_body(&url));
    with_lifecycle["lifecycleNotificationUrl"] = json!(format!("{url}?lifecycle=1"));
    let (status, body) = http(
        s.1,
        "POST",
        "/v1.0/subscriptions",
        &auth,
        &with_lifecycle.to_string(),
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(receiver.validations.load(Ordering::SeqCst), 2);
    let sub = json_of(&body);
    assert_eq!(sub["applicationId"], "fake-client", "{sub}");
    let sub = sub["id"].as_str().unwrap().to_owned();
    let (status, body) = http(s.1, "GET", "/v1.0/subscriptions", &auth, "").unwrap();
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["value"][0]["id"], sub.as_str());
    // Another tenant's token does not see it.
    let other = format!("Bearer {}", token(s.1, OTHER_TENANT));
    let (_, body) = http(
        s.1,
        "GET",
        "/v1.0/subscriptions",
        &[("Authorization", &other)],
        "",
    )
    .unwrap();
    assert_eq!(json_of(&body)["value"], json!([]), "{body}");

    let (status, body) = http(s.1, "POST", "/fake/advance?minutes=60", &[], "").unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        s.1,
        "GET",
        "/v1.0/communications/callRecords?$select=id",
        &auth,
        "",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let listed: BTreeSet<String> = json_of(&body)["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !listed.is_empty(),
        "nothing published in an hour at 0.2 calls/min"
    );
    let by_id = receiver.wait_for(&listed, 30);
    let notified: BTreeSet<String> = by_id
        .values()
        .map(|i| i["resourceData"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        notified, listed,
        "every listed record is notified, nothing else"
    );
    for item in by_id.values() {
        check_shape(item, &sub, FAKE_TENANT);
    }

    // The fake revokes the app's access: reauthorizationRequired to the lifecycle URL; reauthorize.
    let (status, body) = http(
        s.1,
        "POST",
        &format!("/fake/revoke?tenant={FAKE_TENANT}"),
        &[],
        "",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["reauthorizationRequired"], 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    let lifecycle = loop {
        let l: Vec<Value> = receiver
            .items()
            .into_iter()
            .filter(|i| i.get("lifecycleEvent").is_some())
            .collect();
        if !l.is_empty() || Instant::now() > deadline {
            break l;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(lifecycle.len(), 1, "{lifecycle:?}");
    assert_eq!(lifecycle[0]["lifecycleEvent"], "reauthorizationRequired");
    assert_eq!(lifecycle[0]["subscriptionId"], sub.as_str());
    assert_eq!(lifecycle[0]["tenantId"], FAKE_TENANT);
    let (status, body) = http(
        s.1,
        "POST",
        &format!("/v1.0/subscriptions/{sub}/reauthorize"),
        &auth,
        "",
    )
    .unwrap();
    assert_eq!(status, 204, "{body}");
    let (status, _) = http(s.1, "POST", "/fake/revoke?tenant=nope", &[], "").unwrap();
    assert_eq!(status, 400);
}

// ---- two `serve` nodes on one PostgreSQL database ------------------------------------------------------

/// The records of `gen --count n --seed seed --small`, as NDJSON lines.
fn gen_lines(n: usize, seed: u32) -> Vec<String> {
    let out = bin()
        .args([
            "gen",
            "--count",
            &n.to_string(),
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

fn ids_of(lines: &[String]) -> BTreeSet<String> {
    lines
        .iter()
        .map(|l| json_of(l)["id"].as_str().unwrap().to_owned())
        .collect()
}

fn ingest(port: u16, lines: &[String]) {
    for chunk in lines.chunks(5) {
        let h = [("Content-Type", "application/x-ndjson")];
        let (status, body) =
            http(port, "POST", "/ingest/callRecords", &h, &chunk.join("\n")).unwrap();
        assert_eq!(status, 200, "{body}");
    }
}

/// Two `serve` processes on one PostgreSQL schema behave as one service: a record ingested on A reads on B;
/// a newer version written on A replaces what B had cached within the poll interval (measured); every
/// notification is delivered once across both nodes; and after node A is killed with SIGKILL while every
/// notification is pending, node B delivers them all. Skipped (saying so) without
/// `CALLRECORDS_TEST_DATABASE_URL`.
#[test]
fn two_nodes_on_one_database_behave_as_one_service() {
    use callrecords_store_postgres::testing::{TestSchema, test_database_url};
    let Some(url) = test_database_url("two_nodes_on_one_database_behave_as_one_service") else {
        return;
    };
    let schema = TestSchema::new(&url);
    // Create and migrate the schema once, before the nodes start.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { drop(schema.open().await) });
    let db = schema.url_with_schema();
    let store = ["--database-url", db.as_str()];
    let args = [
        "serve",
        "--delivery-backoff",
        "200ms",
        "--delivery-lease",
        "1s",
    ];
    let mut a = common::spawn_on(&args, &store, "/healthz");
    let b = common::spawn_on(&args, &store, "/healthz");

    let receiver = Receiver::default();
    let hook = receiver.start();
    let (status, body) = http(
        a.1,
        "POST",
        "/v1.0/subscriptions",
        &[],
        &subscription_body(&hook),
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    let sub = json_of(&body)["id"].as_str().unwrap().to_owned();
    // The subscription made on A is B's too.
    let (status, _) = http(b.1, "GET", &format!("/v1.0/subscriptions/{sub}"), &[], "").unwrap();
    assert_eq!(status, 200);

    // Ingest on A, read on B.
    let first = gen_lines(20, 31);
    let first_ids = ids_of(&first);
    ingest(a.1, &first);
    for id in &first_ids {
        let (status, body) = http(
            b.1,
            "GET",
            &format!("/v1.0/communications/callRecords/{id}?$expand=sessions"),
            &[],
            "",
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
    }

    // A newer version written on A replaces the copy B has cached, within the poll interval.
    let id = first_ids.iter().next().unwrap().clone();
    let path = format!("/v1.0/communications/callRecords/{id}");
    let (_, body) = http(b.1, "GET", &path, &[], "").unwrap();
    let mut v2 = json_of(&body);
    let (_, again) = http(b.1, "GET", &path, &[], "").unwrap();
    assert_eq!(again, body, "B answers from its cache");
    v2["version"] = json!(v2["version"].as_i64().unwrap() + 1);
    v2.as_object_mut().unwrap().remove("@odata.context");
    let written = Instant::now();
    ingest(a.1, &[v2.to_string()]);
    let stale_for = loop {
        let (_, body) = http(b.1, "GET", &path, &[], "").unwrap();
        if json_of(&body)["version"] == v2["version"] {
            break written.elapsed();
        }
        assert!(
            written.elapsed() < Duration::from_secs(5),
            "B kept the old version"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    eprintln!("node B served the new version {stale_for:?} after node A acknowledged it");

    // Every notification once across both nodes (the v2 update is not subscribed: created only).
    let by_id = receiver.wait_for(&first_ids, 60);
    let got: BTreeSet<String> = by_id
        .values()
        .map(|i| i["resourceData"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, first_ids);
    std::thread::sleep(Duration::from_millis(1500)); // a second delivery would show by now
    assert_eq!(
        receiver.items().len(),
        first_ids.len(),
        "a notification was delivered twice"
    );
    for item in by_id.values() {
        check_shape(item, &sub, "00000000-0000-0000-0000-000000000000");
    }

    // The receiver goes down; records ingested on B; A is killed with everything pending.
    receiver.failing.store(true, Ordering::SeqCst);
    let second = gen_lines(20, 32);
    let second_ids = ids_of(&second);
    assert!(second_ids.is_disjoint(&first_ids));
    ingest(b.1, &second);
    let deliveries = format!("/admin/subscriptions/{sub}/deliveries");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = http(a.1, "GET", &deliveries, &[], "").unwrap();
        let v = json_of(&body);
        if v["pending"] == second_ids.len() as u64 && receiver.refused.load(Ordering::SeqCst) > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "notifications not queued: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
    a.0.kill().unwrap(); // SIGKILL
    a.0.wait().unwrap();
    let before = receiver.items().len();
    receiver.failing.store(false, Ordering::SeqCst);
    let by_id = receiver.wait_for(&second_ids, 60);
    let got: BTreeSet<String> = by_id
        .values()
        .map(|i| i["resourceData"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(second_ids.is_subset(&got), "B did not deliver what A left");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        receiver.items().len() - before,
        second_ids.len(),
        "after the kill, each pending notification arrived once"
    );
    let (_, body) = http(b.1, "GET", &deliveries, &[], "").unwrap();
    let v = json_of(&body);
    assert_eq!(v["pending"], 0, "{v}");
    assert_eq!(
        v["delivered"],
        (first_ids.len() + second_ids.len()) as u64,
        "{v}"
    );
    drop(b);
}
