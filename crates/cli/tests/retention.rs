//! Black-box test of `serve --retain`: records past the window disappear from every route and from
//! `export`, in bounded batches, while `serve` keeps answering.

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::bin;

/// `gen --small` records starting `start`, over `days`: the NDJSON lines and the distinct ids.
fn records(count: u32, seed: u32, start: &str, days: u32) -> (String, HashSet<String>) {
    let out = bin()
        .args([
            "gen",
            "--small",
            "--count",
            &count.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .args(["--start", start, "--days", &days.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let ids = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    (text, ids)
}

fn import(data: &Path, ndjson: &str) {
    let file = data.with_extension("ndjson");
    std::fs::write(&file, ndjson).unwrap();
    let out = bin()
        .args([
            "import",
            "--data",
            data.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn get(port: u16, path: &str) -> (u16, String) {
    common::request(port, "GET", path, &[], "").unwrap()
}

fn stored_records(port: u16) -> u64 {
    let (status, body) = get(port, "/admin/storage");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["records"].as_u64().unwrap_or_else(|| panic!("{body}"))
}

/// Every record id a full listing returns (following nextLinks).
fn listed_ids(port: u16) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut path = "/v1.0/communications/callRecords?$select=id&$top=100".to_owned();
    loop {
        let (status, body) = get(port, &path);
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        for r in v["value"].as_array().unwrap() {
            out.insert(r["id"].as_str().unwrap().to_owned());
        }
        match v["@odata.nextLink"].as_str() {
            Some(next) => {
                let i = next.find("/v1.0/").unwrap();
                path = next[i..].to_owned();
            }
            None => return out,
        }
    }
}

#[test]
fn serve_retain_purges_old_records_everywhere_in_batches_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let now = jiff::Timestamp::now();
    let recent = (now - jiff::SignedDuration::from_hours(48)).to_string();
    let (old_lines, old) = records(80, 5, "2020-01-06", 3);
    let (new_lines, new) = records(30, 6, &recent, 1);
    assert!(old.is_disjoint(&new));
    import(&data, &old_lines);
    import(&data, &new_lines);
    let total = (old.len() + new.len()) as u64;

    // 30 days: the 2020 records are past it, the ones of two days ago are not. Batches of 7 records with
    // 150 ms between them: the purge takes several visible steps.
    let server = common::spawn(
        &[
            "serve",
            "--retain",
            "30d",
            "--retain-batch",
            "7",
            "--retain-pause",
            "150ms",
            "--retain-every",
            "500ms",
        ],
        &data,
        "/healthz",
    );
    let port = server.1;
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = stored_records(port);
        if seen.last() != Some(&n) {
            seen.push(n);
        }
        // Readers keep being answered meanwhile.
        let (status, _) = get(port, "/v1.0/communications/callRecords?$top=5");
        assert_eq!(status, 200);
        if n == new.len() as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "retention did not finish: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(seen[0] <= total, "{seen:?}");
    let steps: Vec<u64> = seen
        .iter()
        .filter(|n| **n < total && **n > new.len() as u64)
        .copied()
        .collect();
    assert!(
        steps.len() >= 2,
        "expected intermediate counts (batches of 7 over {} old records): {seen:?}",
        old.len()
    );
    // Every count seen is the total less whole batches of 7 (a poll may miss a batch), until the end.
    assert!(
        seen.iter()
            .all(|n| (total - n).is_multiple_of(7) || *n == new.len() as u64),
        "counts that are not whole batches: {seen:?}"
    );

    // Gone from every route; the recent ones all still there.
    assert_eq!(listed_ids(port), new);
    for id in old.iter().take(10) {
        for path in [
            format!("/v1.0/communications/callRecords/{id}"),
            format!("/beta/communications/callRecords/{id}"),
            format!("/v1.0/communications/callRecords/{id}/sessions"),
            format!("/v1.0/communications/callRecords/{id}?$expand=sessions($expand=segments)"),
            format!("/analytics/v1/calls/{id}"),
        ] {
            let (status, body) = get(port, &path);
            assert_eq!(status, 404, "{path}: {body}");
        }
        let (status, body) = get(port, &format!("/admin/callRecords/{id}/versions"));
        assert!(
            status == 404 || !body.contains("\"version\""),
            "{status} {body}"
        );
    }
    let id = new.iter().next().unwrap();
    let (status, _) = get(port, &format!("/v1.0/communications/callRecords/{id}"));
    assert_eq!(status, 200);

    // Analytics: the derived rows of the old records went with them.
    let (status, calls) = get(port, "/analytics/v1/calls?top=1000");
    assert_eq!(status, 200, "{calls}");
    let (status, summary) = get(port, "/analytics/v1/summary");
    assert_eq!(status, 200, "{summary}");
    for id in &old {
        assert!(!calls.contains(id.as_str()), "{id} in the call list");
    }
    let summary: Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["records"], new.len() as u64, "{summary}");
    let (status, old_summary) = get(
        port,
        "/analytics/v1/summary?from=2020-01-01&until=2020-02-01",
    );
    assert_eq!(status, 200);
    let old_summary: Value = serde_json::from_str(&old_summary).unwrap();
    assert_eq!(old_summary["records"], 0, "{old_summary}");

    // Export reads the store itself (another process): nothing of the old records.
    for what in ["records", "streams", "sessions"] {
        let out = bin()
            .args(["export", "--data", data.to_str().unwrap(), "--what", what])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        for id in &old {
            assert!(!text.contains(id.as_str()), "{id} in the {what} export");
        }
        if what == "records" {
            assert_eq!(text.lines().count(), new.len());
        }
    }

    // The count is in /metrics.
    let (status, metrics) = get(port, "/metrics");
    assert_eq!(status, 200);
    let purged = metrics
        .lines()
        .find(|l| l.starts_with("callrecords_retention_purged_total{what=\"records\"}"))
        .unwrap_or_else(|| panic!("no retention counter in {metrics}"));
    let n: u64 = purged.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(n, old.len() as u64);

    // The summary after the purge is the one a rebuild from the remaining records gives.
    drop(server);
    let d = data.to_str().unwrap();
    let out = bin()
        .args(["quality", "rebuild", "--data", d])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin()
        .args(["quality", "--data", d, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rebuilt: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rebuilt, summary);
}
