//! Black-box tests of `callrecords quality`, `buildings import` and `export`.

use std::process::Command;

use serde_json::{Value, json};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_callrecords"))
}

fn rec(id: &str, day: &str, jitters: &[&str]) -> Value {
    let user = json!({"@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
        "associatedIdentity": {"id": "u1", "userPrincipalName": "u1@contoso.com"}});
    let sessions: Vec<Value> = jitters.iter().enumerate().map(|(i, j)| json!({
        "id": format!("{id}-s{i}"), "caller": user, "callee": user,
        "startDateTime": format!("{day}T09:00:00Z"), "endDateTime": format!("{day}T10:00:00Z"),
        "segments": [{"id": format!("{id}-g{i}"), "startDateTime": format!("{day}T09:00:00Z"),
            "endDateTime": format!("{day}T10:00:00Z"),
            "media": [{"label": "main-audio",
                "callerNetwork": {"subnet": "10.0.1.0", "connectionType": "wifi"},
                "streams": [{"streamId": "1", "streamDirection": "callerToCallee", "averageJitter": j}]}]}]
    })).collect();
    json!({"id": id, "version": 1, "type": "peerToPeer", "modalities": ["audio"],
           "lastModifiedDateTime": format!("{day}T10:00:00Z"),
           "startDateTime": format!("{day}T09:00:00Z"), "endDateTime": format!("{day}T10:00:00Z"),
           "participants_v2": [{"id": "u1"}], "sessions": sessions})
}

fn run(args: &[&str]) -> String {
    let out = bin().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn quality_json_and_parquet_export() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let records = [
        rec("a", "2026-01-05", &["PT0.01S", "PT0.05S"]),
        rec("b", "2026-01-06", &["PT0.01S"]),
    ];
    let file = dir.path().join("in.ndjson");
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&file, text).unwrap();
    run(&["import", "--data", data, file.to_str().unwrap()]);

    let got: Value =
        serde_json::from_str(&run(&["quality", "--data", data, "--format", "json"])).unwrap();
    let typed: Vec<callrecords_model::CallRecord> = records
        .iter()
        .map(|r| serde_json::from_value(r.clone()).unwrap())
        .collect();
    let want = serde_json::to_value(callrecords_quality::summarize(&typed, None, None)).unwrap();
    assert_eq!(got, want);
    assert_eq!(got["streams"]["audio"]["total"], 3);
    assert_eq!(got["streams"]["audio"]["poor"], 1);

    let since: Value = serde_json::from_str(&run(&[
        "quality",
        "--data",
        data,
        "--format",
        "json",
        "--since",
        "2026-01-06",
    ]))
    .unwrap();
    assert_eq!(since["records"], 1);
    assert_eq!(since["from"], "2026-01-06");
    let table = run(&["quality", "--data", data, "--group-by", "day"]);
    assert!(
        table.contains("2026-01-05") && table.contains("2026-01-06"),
        "{table}"
    );

    let parquet = dir.path().join("streams.parquet");
    run(&[
        "export",
        "--data",
        data,
        "--what",
        "streams",
        "--format",
        "parquet",
        "-o",
        parquet.to_str().unwrap(),
    ]);
    let recs = run(&["export", "--data", data, "--what", "records"]);
    assert_eq!(recs.lines().count(), 2);
    let csv = run(&[
        "export", "--data", data, "--what", "sessions", "--format", "csv",
    ]);
    assert_eq!(csv.lines().count(), 4, "{csv}");

    let check = "import sys\ntry:\n    import pyarrow.parquet as pq\nexcept ImportError:\n    print('SKIP'); sys.exit(0)\nt = pq.read_table(sys.argv[1])\nprint(t.num_rows)\n";
    match Command::new("python3")
        .args(["-c", check, parquet.to_str().unwrap()])
        .output()
    {
        Ok(o) if o.status.success() => {
            let s = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            if s == "SKIP" {
                eprintln!("pyarrow not installed: Parquet read-back skipped");
            } else {
                assert_eq!(s, "3");
            }
        }
        other => eprintln!("python3 unavailable ({other:?}): Parquet read-back skipped"),
    }
}

#[test]
fn buildings_import_rejects_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bad = dir.path().join("b.csv");
    std::fs::write(&bad, "not-an-ip,x,24\n").unwrap();
    let out = bin()
        .args([
            "buildings",
            "import",
            bad.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));
    let good = dir.path().join("g.csv");
    std::fs::write(
        &good,
        "10.0.1.0,Net,24,HQ,Own,Office,Open,Oslo,0150,NO,Oslo,EMEA,1,0,0\n",
    )
    .unwrap();
    let out = bin()
        .args([
            "buildings",
            "import",
            good.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin()
        .args(["quality", "rebuild", "--data", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn typed_latest(ndjson: &str) -> Vec<callrecords_model::CallRecord> {
    ndjson
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn gen_and_import(dir: &std::path::Path, data: &str, args: &[&str]) -> String {
    gen_and_import_with(dir, data, args, &[])
}

/// [`gen_and_import`] with more `import` options.
fn gen_and_import_with(
    dir: &std::path::Path,
    data: &str,
    args: &[&str],
    import: &[&str],
) -> String {
    let text = run(&[&["gen"], args].concat());
    let file = dir.join("gen.ndjson");
    std::fs::write(&file, &text).unwrap();
    run(&[
        &["import", "--data", data],
        import,
        &[file.to_str().unwrap()],
    ]
    .concat());
    text
}

/// `quality --group-by` with every key of the issue (CLI spelling), `--kind`, and rejected values, over a
/// generated corpus with a building file: the JSON equals the quality crate's grouping of the same records.
#[test]
fn quality_every_group_key_and_kind_over_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data = data_dir.to_str().unwrap();
    let text = gen_and_import(
        dir.path(),
        data,
        &["--count", "300", "--seed", "7", "--small"],
    );
    let buildings = "10.0.0.0,Corp,8,Campus,Own,Office,Open,Oslo,0150,NO,Oslo,EMEA,1,0,0\n\
                     10.71.0.0,B71,16,Building 71,Own,Office,Open,Oslo,0150,NO,Oslo,EMEA,1,1\n";
    let bfile = dir.path().join("b.csv");
    std::fs::write(&bfile, buildings).unwrap();
    run(&[
        "buildings",
        "import",
        bfile.to_str().unwrap(),
        "--data",
        data,
    ]);
    let map = callrecords_quality::BuildingMap::parse(buildings).unwrap();
    let typed = typed_latest(&text);
    for (cli, key) in [
        ("day", "day"),
        ("week", "week"),
        ("month", "month"),
        ("building", "building"),
        ("subnet", "subnet"),
        ("network", "network"),
        ("platform", "platform"),
        ("client-version", "clientVersion"),
        ("device", "device"),
        ("user", "user"),
        ("meeting", "meeting"),
    ] {
        let key = callrecords_quality::GroupKey::from_name(key).unwrap();
        let got: Value = serde_json::from_str(&run(&[
            "quality",
            "--data",
            data,
            "--format",
            "json",
            "--group-by",
            cli,
        ]))
        .unwrap();
        let want = callrecords_quality::group_by(key, &typed, Some(&map), None, None);
        assert!(want.len() > 1 || cli == "month", "{cli}: one group only");
        assert_eq!(
            got,
            json!({"groups": serde_json::to_value(&want).unwrap()}),
            "{cli}"
        );
        // The table and CSV forms print one line per group (plus the header).
        let csv = run(&[
            "quality",
            "--data",
            data,
            "--format",
            "csv",
            "--group-by",
            cli,
        ]);
        assert_eq!(csv.lines().count(), want.len() + 1, "{cli}: {csv}");
    }
    let buildings_seen: Value = serde_json::from_str(&run(&[
        "quality",
        "--data",
        data,
        "--format",
        "json",
        "--group-by",
        "building",
    ]))
    .unwrap();
    let keys: Vec<&Value> = buildings_seen["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| &g["key"])
        .collect();
    assert!(keys.contains(&&json!("Building 71")), "{keys:?}");
    assert!(keys.contains(&&json!("Campus")), "{keys:?}");

    // --kind keeps one kind under "streams", the rest as without it.
    let all: Value =
        serde_json::from_str(&run(&["quality", "--data", data, "--format", "json"])).unwrap();
    assert_eq!(
        all,
        serde_json::to_value(callrecords_quality::summarize(&typed, None, None)).unwrap()
    );
    for kind in ["audio", "video", "vbss"] {
        let got: Value = serde_json::from_str(&run(&[
            "quality", "--data", data, "--format", "json", "--kind", kind,
        ]))
        .unwrap();
        assert_eq!(got["kind"], kind);
        assert_eq!(got["streams"].as_object().unwrap().len(), 1);
        assert_eq!(got["streams"][kind], all["streams"][kind]);
        assert_eq!(got["sessions"], all["sessions"]);
        let csv = run(&["quality", "--data", data, "--format", "csv", "--kind", kind]);
        assert!(
            csv.starts_with(&format!("key,records,{kind}Streams")),
            "{csv}"
        );
    }
    assert!(all["streams"]["audio"]["poor"].as_u64().unwrap() > 0);
    // Microsoft's targets beside the figures: in the JSON, and marked in the table.
    assert_eq!(
        all["targets"],
        json!({"audioPoorRate": 0.03, "audioPoorRateInside": 0.02,
               "setupFailureRate": 0.01, "dropFailureRate": 0.03})
    );
    let table = run(&["quality", "--data", data]);
    assert!(table.contains("* over Microsoft's target"), "{table}");
    let audio_rate = all["streams"]["audio"]["poorRate"].as_f64().unwrap();
    assert_eq!(
        table.lines().nth(1).unwrap().contains('*'),
        audio_rate > 0.03
            || all["sessions"]["setupFailureRate"].as_f64().unwrap() > 0.01
            || all["sessions"]["dropFailureRate"].as_f64().unwrap() > 0.03,
        "{table}"
    );

    // Rejected values: non-zero exit, the bad value named, nothing on stdout.
    for args in [
        &["--group-by", "clientversion"][..],
        &["--kind", "appSharing"],
        &["--since", "yesterday"],
        &["--until", "2026-02-30"],
    ] {
        let out = bin()
            .args([&["quality", "--data", data, "--format", "json"], args].concat())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(args[1]), "{args:?}: {err}");
    }
}

/// kill -9 while `callrecords quality` is deriving (a few batches committed, more to go), then run it
/// again: the derivation converges on exactly the numbers a full `quality rebuild` gives, which are the
/// quality crate's own summary of the imported records.
#[test]
fn sigkill_mid_derivation_converges_to_the_rebuild() {
    use callrecords_store::Store;
    use callrecords_store::quality::QUALITY_CONSUMER;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data = data_dir.to_str().unwrap();
    // Imported without deriving, so that the deriver has the whole feed to do.
    let text = gen_and_import_with(
        dir.path(),
        data,
        &["--count", "800", "--seed", "11", "--small"],
        &["--no-quality"],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = callrecords_store_sqlite::SqliteStore::open(&data_dir).unwrap();
    let progress = || {
        rt.block_on(async {
            let c = store.consumer_cursor(QUALITY_CONSUMER).await.unwrap();
            let rest = store.changes_after(c, 1).await.unwrap().len();
            (c, rest)
        })
    };
    assert_eq!(progress().0, 0);

    let mut child = bin()
        .args(["quality", "--data", data, "--format", "json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let killed_at = loop {
        let (c, rest) = progress();
        if c > 0 {
            child.kill().unwrap(); // SIGKILL
            break (c, rest);
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the deriver finished before any progress was seen"
        );
        assert!(Instant::now() < deadline, "no progress in 120 s");
        std::thread::sleep(Duration::from_millis(5));
    };
    child.wait().unwrap();
    let (cursor, _) = progress();
    assert!(
        cursor >= killed_at.0 && killed_at.1 > 0,
        "the kill came after the whole feed was derived; the test proves nothing"
    );
    let (_, rest) = progress();
    assert!(rest > 0, "nothing was left to derive after the kill");

    let summary = |extra: &[&str]| -> Value {
        serde_json::from_str(&run(&[
            &["quality", "--data", data, "--format", "json"],
            extra,
        ]
        .concat()))
        .unwrap()
    };
    let converged = summary(&[]);
    let converged_days = summary(&["--group-by", "day"]);
    assert_eq!(progress().1, 0, "the second run did not drain the feed");
    run(&["quality", "rebuild", "--data", data]);
    assert_eq!(summary(&[]), converged);
    assert_eq!(summary(&["--group-by", "day"]), converged_days);
    let typed = typed_latest(&text);
    assert_eq!(
        converged,
        serde_json::to_value(callrecords_quality::summarize(&typed, None, None)).unwrap()
    );
    assert!(converged["records"].as_u64().unwrap() > 500);
}

/// The rows `import` derives itself (the deriver being caught up) are the deriver's: over a corpus with
/// several versions of records, imported in two files (the second bringing newer and older versions),
/// every summary and the stream export equal those after a full `quality rebuild`, and the quality
/// crate's own summary of the latest versions; `quality` finds nothing left to derive after the import.
/// Then an import while the deriver is behind (after a `--no-quality` import) derives nothing itself
/// and the next `quality` converges all the same.
#[test]
fn import_derives_what_the_deriver_would() {
    use callrecords_store::Store;
    use callrecords_store::quality::QUALITY_CONSUMER;

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data = data_dir.to_str().unwrap();
    let text = run(&["gen", "--count", "600", "--seed", "5", "--small"]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    // Odd lines first, then even ones: later versions of some records come in the first file, earlier
    // ones (stale) in the second.
    type Numbered<'a> = Vec<(usize, &'a str)>;
    let (first, second): (Numbered<'_>, Numbered<'_>) = lines
        .iter()
        .copied()
        .enumerate()
        .partition(|(i, _)| i % 2 == 1);
    let join = |v: Numbered<'_>| {
        v.into_iter()
            .map(|(_, l)| format!("{l}\n"))
            .collect::<String>()
    };
    let (f1, f2) = (dir.path().join("1.ndjson"), dir.path().join("2.ndjson"));
    std::fs::write(&f1, join(first)).unwrap();
    std::fs::write(&f2, join(second)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pending = || {
        rt.block_on(async {
            let store = callrecords_store_sqlite::SqliteStore::open(&data_dir).unwrap();
            let c = store.consumer_cursor(QUALITY_CONSUMER).await.unwrap();
            (c, store.changes_after(c, 1).await.unwrap().len())
        })
    };
    run(&["import", "--data", data, f1.to_str().unwrap()]);
    let (c, rest) = pending();
    assert!(
        c > 0 && rest == 0,
        "import left the feed to the deriver: {c} {rest}"
    );
    run(&["import", "--data", data, f2.to_str().unwrap()]);
    assert_eq!(pending().1, 0);

    let snapshot = || -> Vec<String> {
        let mut out = vec![run(&["quality", "--data", data, "--format", "json"])];
        for g in ["day", "building", "user", "meeting", "feedback", "device"] {
            out.push(run(&[
                "quality",
                "--data",
                data,
                "--format",
                "json",
                "--group-by",
                g,
            ]));
        }
        let streams = dir.path().join("streams.ndjson");
        run(&[
            "export",
            "--data",
            data,
            "--what",
            "streams",
            "--format",
            "ndjson",
            "-o",
            streams.to_str().unwrap(),
        ]);
        out.push(std::fs::read_to_string(&streams).unwrap());
        out
    };
    let inline = snapshot();
    run(&["quality", "rebuild", "--data", data]);
    assert_eq!(snapshot(), inline);
    let typed = typed_latest(&text);
    let expected =
        serde_json::to_value(callrecords_quality::summarize(&typed, None, None)).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&inline[0]).unwrap(), expected);

    // The deriver behind: a second store imported `--no-quality` first, then normally.
    let other_dir = dir.path().join("other");
    let other = other_dir.to_str().unwrap();
    run(&[
        "import",
        "--data",
        other,
        "--no-quality",
        f1.to_str().unwrap(),
    ]);
    run(&["import", "--data", other, f2.to_str().unwrap()]);
    let behind = rt.block_on(async {
        let store = callrecords_store_sqlite::SqliteStore::open(&other_dir).unwrap();
        store.consumer_cursor(QUALITY_CONSUMER).await.unwrap()
    });
    assert_eq!(behind, 0, "an import derived while the deriver was behind");
    assert_eq!(
        run(&["quality", "--data", other, "--format", "json"]),
        inline[0]
    );
}

/// kill -9 during an import that derives as it goes, then `quality`: the same numbers as a full
/// `quality rebuild` of what was stored.
#[test]
fn sigkill_mid_deriving_import_converges_to_the_rebuild() {
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data = data_dir.to_str().unwrap();
    let text = run(&["gen", "--count", "3000", "--seed", "13", "--small"]);
    let file = dir.path().join("gen.ndjson");
    std::fs::write(&file, &text).unwrap();
    let mut child = bin()
        .args([
            "import",
            "--data",
            data,
            "--batch-size",
            "50",
            file.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let db = data_dir.join("callrecords.db");
    let deadline = Instant::now() + Duration::from_secs(120);
    // Killed once the database exists and has grown past its first batches.
    loop {
        if std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0) > 2_000_000 {
            child.kill().unwrap(); // SIGKILL
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import finished before it was killed"
        );
        assert!(Instant::now() < deadline, "no progress in 120 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait().unwrap();
    let summary = || run(&["quality", "--data", data, "--format", "json"]);
    let converged = summary();
    let days = run(&[
        "quality",
        "--data",
        data,
        "--format",
        "json",
        "--group-by",
        "day",
    ]);
    let records = serde_json::from_str::<Value>(&converged).unwrap()["records"]
        .as_u64()
        .unwrap();
    let all = typed_latest(&text).len() as u64;
    assert!(
        records > 0 && records < all,
        "{records} of {all} records: the kill proves nothing"
    );
    run(&["quality", "rebuild", "--data", data]);
    assert_eq!(summary(), converged);
    assert_eq!(
        run(&[
            "quality",
            "--data",
            data,
            "--format",
            "json",
            "--group-by",
            "day"
        ]),
        days
    );
}
