//! Measure batch-put throughput and on-disk size per record.
//!
//! `cargo run --release -p callrecords-store-sqlite --example put_speed -- [RECORDS] [BATCH] [plain]`
//! (`COMPACT=1` for compact raw JSON instead of pretty-printed; `CPU_BREAKDOWN=1` to time the
//! CPU-only stages).

use std::sync::Arc;
use std::time::Instant;

use callrecords_store::{IncomingRecord, Store};
use callrecords_store_sqlite::SqliteStore;
use serde_json::{Value, json};

fn stream(dir: &str, i: usize) -> Value {
    json!({
        "streamId": format!("{i}"), "streamDirection": dir, "averageAudioDegradation": null,
        "averageJitter": "PT0.016S", "maxJitter": "PT0.021S", "averagePacketLossRate": 0.01 * i as f64,
        "maxPacketLossRate": 0.02, "averageRatioOfConcealedSamples": 0.0, "maxRatioOfConcealedSamples": 0.0,
        "averageRoundTripTime": "PT0.061S", "maxRoundTripTime": "PT0.079S", "packetUtilization": 4294967295u64,
        "averageBandwidthEstimate": 9_965_083 + i, "wasMediaBypassed": false, "postForwardErrorCorrectionPacketLossRate": null,
        "averageVideoFrameLossPercentage": null, "averageReceivedFrameRate": null, "lowFrameRateRatio": null,
        "averageVideoPacketLossRate": null, "averageVideoFrameRate": null, "lowVideoProcessingCapabilityRatio": null,
        "averageAudioNetworkJitter": "PT0.043S", "maxAudioNetworkJitter": "PT0.046S", "rmsFreezeDuration": null,
        "averageFreezeDuration": null, "isAudioForwardErrorCorrectionUsed": true,
        "startDateTime": "2020-02-25T18:52:21.2169889Z", "endDateTime": "2020-02-25T18:52:46.7640013Z"
    })
}

fn endpoint(name: &str, user: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
        "name": name,
        "userAgent": {"@odata.type": "#microsoft.graph.callRecords.clientUserAgent", "headerValue": "RTCC/7.0.0.0 UCWA/7.0.0.0 AndroidLync/6.25.0.27 (SM-G930U Android 8.0.0)", "platform": "android", "productFamily": "skypeForBusiness", "applicationVersion": "6.25.0.27"},
        "identity": {"user": {"id": user, "displayName": "Abbie Wilkins", "tenantId": "dc368399-474c-4d40-900c-6265431fd81f"}, "acsUser": null, "spoolUser": null},
        "feedback": {"rating": "good", "tokens": {"NoSound": false, "OtherNoSound": false, "Echo": false}}
    })
}

fn record(n: usize) -> IncomingRecord {
    let id = format!("e523d2ed-2966-4b6b-925b-{n:012}");
    let (a, b) = (
        format!("821809f5-0000-0000-0000-{:012}", n % 997),
        format!("f69e2c00-0000-0000-0000-{:012}", n % 991),
    );
    let segment = json!({
        "startDateTime": "2020-02-25T18:52:21.2169889Z", "endDateTime": "2020-02-25T18:52:46.7640013Z", "id": id,
        "caller": endpoint("machineName_4", &a), "callee": endpoint("machineName_6", &b), "failureInfo": null,
        "media": [{
            "label": "main-audio",
            "callerNetwork": {"ipAddress": "10.139.0.12", "subnet": "10.139.80.0", "linkSpeed": 4294967295u64, "connectionType": "wifi", "port": 50011, "reflexiveIPAddress": "127.0.0.2", "relayIPAddress": "52.114.188.102", "relayPort": 53889, "macAddress": "00-00-00-00-00-00", "dnsSuffix": null, "sentQualityEventRatio": 0.0, "receivedQualityEventRatio": 0.27, "delayEventRatio": 0.0, "bandwidthLowEventRatio": 0.0, "wifiBand": "frequency50GHz", "wifiChannel": 10, "wifiSignalStrength": 100, "traceRouteHops": []},
            "calleeDevice": {"captureDeviceName": "Microphone (Microsoft Virtual Audio Device (Simple) (WDM))", "captureDeviceDriver": "Microsoft: 5.0.8638.1100", "renderDeviceName": "Speakers", "renderDeviceDriver": "Microsoft: 5.0.8638.1100", "cpuInsufficentEventRatio": 0.0, "micGlitchRate": 23.0, "speakerGlitchRate": 3.0, "lowSpeechLevelEventRatio": 0.0},
            "streams": [stream("callerToCallee", 0), stream("calleeToCaller", 1)]
        }]
    });
    let session = json!({
        "modalities": ["audio"], "startDateTime": "2020-02-25T18:52:21.2169889Z", "endDateTime": "2020-02-25T18:52:46.7640013Z",
        "id": id, "isTest": false, "caller": endpoint("machineName_2", &a), "callee": endpoint("machineName_3", &b),
        "failureInfo": null, "segments": [segment]
    });
    let minute = n % 43_200;
    let value = json!({
        "version": 1, "type": "peerToPeer", "modalities": ["audio"], "lastModifiedDateTime": "2020-02-25T19:00:24.582757Z",
        "startDateTime": format!("2020-02-{:02}T{:02}:{:02}:21.2169889Z", 1 + minute / 1440, (minute / 60) % 24, minute % 60),
        "endDateTime": format!("2020-02-{:02}T{:02}:{:02}:46.7640013Z", 1 + minute / 1440, (minute / 60) % 24, minute % 60),
        "id": id, "joinWebUrl": null,
        "organizer": {"user": {"id": a, "displayName": "Abbie Wilkins", "tenantId": "dc368399-474c-4d40-900c-6265431fd81f"}},
        "organizer_v2": {"id": a, "identity": {"user": {"id": a, "displayName": "Abbie Wilkins", "tenantId": "dc368399-474c-4d40-900c-6265431fd81f"}}},
        "participants_v2": [
            {"id": a, "identity": {"user": {"id": a, "displayName": "Abbie Wilkins", "tenantId": "dc368399-474c-4d40-900c-6265431fd81f"}}},
            {"id": b, "identity": {"user": {"id": b, "displayName": "Owen Franklin", "tenantId": "dc368399-474c-4d40-900c-6265431fd81f"}}}
        ],
        "sessions": [session.clone(), session]
    });
    let raw = if std::env::var_os("COMPACT").is_some() {
        serde_json::to_string(&value).unwrap()
    } else {
        serde_json::to_string_pretty(&value).unwrap()
    };
    IncomingRecord {
        raw,
        value,
        partial: false,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let total: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let batch: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1_000);
    let compress = args.get(3).map(String::as_str) != Some("plain");
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open_with_compression(dir.path(), compress).unwrap());
    let records: Vec<IncomingRecord> = (0..total).map(record).collect();
    let raw_bytes: usize = records.iter().map(|r| r.raw.len()).sum();
    if std::env::var_os("CPU_BREAKDOWN").is_some() {
        use callrecords_store::extract::*;
        let t = Instant::now();
        let mut n = 0;
        for r in &records {
            n += index_record(&r.value).unwrap().participant_ids.len();
        }
        println!("index {:.2} s", t.elapsed().as_secs_f64());
        let t = Instant::now();
        for r in &records {
            n += content_hash(&r.value)[0] as usize;
        }
        let t2 = Instant::now();
        for r in &records {
            n += canonical_json(&r.value).len();
        }
        println!("canonical only {:.2} s", t2.elapsed().as_secs_f64());
        println!("hash {:.2} s", t.elapsed().as_secs_f64());
        let t = Instant::now();
        for r in &records {
            n += split_record(&r.value).head.len();
        }
        println!("split {:.2} s", t.elapsed().as_secs_f64());
        let t = Instant::now();
        for r in &records {
            use std::io::Write;
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(r.raw.as_bytes()).unwrap();
            n += e.finish().unwrap().len();
        }
        println!("deflate {:.2} s", t.elapsed().as_secs_f64());
        println!("({n})");
    }
    let mut batches: Vec<Vec<IncomingRecord>> = Vec::new();
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        batches.push(records.by_ref().take(batch).collect());
    }
    let start = Instant::now();
    let mut worst = 0f64;
    for chunk in batches {
        let t = Instant::now();
        store
            .put_records(callrecords_store::DEFAULT_TENANT, chunk)
            .await
            .unwrap();
        worst = worst.max(t.elapsed().as_secs_f64());
    }
    let secs = start.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut q = callrecords_store::RecordQuery {
        limit: 60,
        ..Default::default()
    };
    let mut listed = 0;
    loop {
        let page = store
            .list_records(&callrecords_store::ReadScope::All, &q, false)
            .await
            .unwrap()
            .heads;
        let Some(last) = page.last() else { break };
        q.after = Some(callrecords_store::ListCursor::of(last));
        listed += page.len();
    }
    let list_secs = t.elapsed().as_secs_f64();
    drop(store);
    let db: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    println!(
        "compress={compress} records={total} batch={batch} raw_avg={} B: {:.0} records/s ({secs:.2} s, slowest batch {:.0} ms); db {} B/record; listed {listed} in pages of 60 in {list_secs:.2} s",
        raw_bytes / total,
        total as f64 / secs,
        worst * 1000.0,
        db / total as u64,
    );
}
