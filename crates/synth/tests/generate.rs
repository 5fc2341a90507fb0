//! Determinism, shape and distribution checks on generated call records and log rows.

use std::collections::HashMap;

use callrecords_model::LogKind;
use callrecords_synth::{
    GenConfig, Scale, call_records, write_call_records, write_call_records_observed, write_log_rows,
};
use serde_json::Value;

fn cfg(seed: u64) -> GenConfig {
    GenConfig {
        seed,
        ..Default::default()
    }
}

fn gen_bytes(cfg: &GenConfig, n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let stats = write_call_records(cfg, n, &mut out).unwrap();
    assert_eq!(stats.lines, n);
    assert_eq!(stats.bytes, out.len() as u64);
    out
}

fn lines(bytes: &[u8]) -> Vec<Value> {
    assert_eq!(bytes.last(), Some(&b'\n'));
    bytes[..bytes.len() - 1]
        .split(|b| *b == b'\n')
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

/// Parses an ISO 8601 duration as produced by Graph (`PT0.016S`, `PT1M5.2S`) into milliseconds.
fn duration_ms(s: &str) -> f64 {
    let re_ok = {
        let rest = s.strip_prefix("PT").expect("duration starts with PT");
        let mut ok = !rest.is_empty();
        let mut seen = String::new();
        let mut num = String::new();
        for c in rest.chars() {
            match c {
                '0'..='9' | '.' => num.push(c),
                'H' | 'M' | 'S' => {
                    ok &= !num.is_empty() && !seen.contains(c) && (c == 'S' || !num.contains('.'));
                    ok &= match c {
                        'H' => seen.is_empty(),
                        'M' => !seen.contains('S'),
                        _ => true,
                    };
                    ok &= num.split('.').all(|p| !p.is_empty()) && num.matches('.').count() <= 1;
                    seen.push(c);
                    num.clear();
                }
                _ => ok = false,
            }
        }
        ok && num.is_empty()
    };
    assert!(re_ok, "bad duration {s}");
    let rest = &s[2..];
    let mut total = 0.0;
    let mut num = String::new();
    for c in rest.chars() {
        match c {
            'H' => {
                total += num.parse::<f64>().unwrap() * 3_600_000.0;
                num.clear()
            }
            'M' => {
                total += num.parse::<f64>().unwrap() * 60_000.0;
                num.clear()
            }
            'S' => {
                total += num.parse::<f64>().unwrap() * 1000.0;
                num.clear()
            }
            c => num.push(c),
        }
    }
    total
}

#[test]
fn duration_parser_rejects_garbage() {
    assert_eq!(duration_ms("PT0.016S"), 16.0);
    assert_eq!(duration_ms("PT1M5.2S"), 65_200.0);
    for bad in ["P1D", "PT", "PT0.016", "PT1.5M", "0.016"] {
        assert!(
            std::panic::catch_unwind(|| duration_ms(bad)).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let a = gen_bytes(&cfg(7), 300);
    let b = gen_bytes(&cfg(7), 300);
    assert!(a == b, "same seed must give identical bytes");
    let c = gen_bytes(&cfg(8), 300);
    assert!(a != c, "different seeds must differ");
    // A prefix of a longer run is the shorter run.
    let d = gen_bytes(&cfg(7), 350);
    assert!(d.starts_with(&a));
    // The lazy iterator yields the same records.
    let from_iter: Vec<Value> = call_records(&cfg(7)).take(50).collect();
    assert_eq!(from_iter, lines(&a)[..50].to_vec());
    // Small scale too.
    let small = GenConfig {
        scale: Scale::Small,
        ..cfg(7)
    };
    assert!(gen_bytes(&small, 500) == gen_bytes(&small, 500));
}

fn ts(v: &Value) -> jiff::Timestamp {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is not a string: {v}"));
    assert!(s.ends_with('Z'), "{s}");
    let frac = s.split('.').nth(1).map_or(0, |f| f.len() - 1);
    assert!(frac <= 7, "{s}");
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Walks a value, checking every `*DateTime` and duration-typed property.
fn check_types(v: &Value, key: &str) {
    const DURATIONS: &[&str] = &[
        "averageJitter",
        "maxJitter",
        "averageRoundTripTime",
        "maxRoundTripTime",
        "averageAudioNetworkJitter",
        "maxAudioNetworkJitter",
        "averageFreezeDuration",
        "rmsFreezeDuration",
        "roundTripTime",
    ];
    const INTS: &[&str] = &[
        "version",
        "linkSpeed",
        "packetUtilization",
        "averageBandwidthEstimate",
        "port",
        "relayPort",
    ];
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                check_types(x, k);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| check_types(x, key)),
        Value::Null => {}
        _ if key.ends_with("DateTime") => {
            ts(v);
        }
        _ if DURATIONS.contains(&key) => {
            duration_ms(v.as_str().unwrap());
        }
        _ if INTS.contains(&key) => assert!(v.is_i64() || v.is_u64(), "{key}: {v}"),
        _ => {}
    }
}

fn audio_class(s: &Value) -> Option<bool> {
    let num = |k: &str| s.get(k).and_then(Value::as_f64);
    let dur = |k: &str| s.get(k).and_then(Value::as_str).map(duration_ms);
    let degr = num("averageAudioDegradation");
    let rtt = dur("averageRoundTripTime");
    let loss = num("averagePacketLossRate");
    let jitter = dur("averageJitter");
    let conc = num("averageRatioOfConcealedSamples");
    if degr.is_none() && rtt.is_none() && loss.is_none() && jitter.is_none() && conc.is_none() {
        return None;
    }
    Some(
        degr.is_some_and(|x| x > 1.0)
            || rtt.is_some_and(|x| x > 500.0)
            || loss.is_some_and(|x| x > 0.1)
            || jitter.is_some_and(|x| x > 30.0)
            || conc.is_some_and(|x| x > 0.07),
    )
}

#[test]
fn shapes_and_distributions_on_5000_records() {
    let c = cfg(42);
    let bytes = gen_bytes(&c, 5000);
    // Parsing in a debug build is slow: lines over 512 KB (a few large meetings, most of the bytes) are
    // checked through their head (id, version, type, times) and raw participant count only.
    let mut all = Vec::new();
    let mut big_participants = Vec::new();
    for line in bytes[..bytes.len() - 1].split(|b| *b == b'\n') {
        if line.len() <= 512 * 1024 {
            all.push(serde_json::from_slice::<Value>(line).unwrap());
        } else {
            let cut = line
                .windows(14)
                .position(|w| w == b",\"joinWebUrl\":")
                .unwrap();
            let mut head = line[..cut].to_vec();
            head.push(b'}');
            let mut v: Value = serde_json::from_slice(&head).unwrap();
            v["participants_v2"] = Value::Array(vec![]);
            v["participants"] = Value::Array(vec![]);
            v["organizer_v2"] = serde_json::json!({"id": 1, "identity": {"user": {"id": 1}}});
            v["sessions"] = Value::Array(vec![]);
            v["big"] = Value::Bool(true);
            let needle = b"\"identity\":{\"acsUser\"";
            big_participants.push(line.windows(needle.len()).filter(|w| w == needle).count());
            all.push(v);
        }
    }
    assert!(all.len() == 5000);
    let window_start = c.start;
    let window_end = c.start + jiff::SignedDuration::from_hours(24 * i64::from(c.days));

    let mut first_seen: HashMap<String, (usize, i64, jiff::Timestamp)> = HashMap::new();
    let (mut p2p, mut records) = (0, 0);
    let (mut poor, mut good, mut unclassified) = (0u32, 0u32, 0u32);
    let mut over130 = 0;
    let mut later = 0;
    let mut failures = 0;
    let mut acs = 0;
    let mut repeated_session_ids = 0;
    let mut pstn_multi_segment = 0;
    let mut feedback = 0;
    let mut video_streams = 0;
    for (i, rec) in all.iter().enumerate() {
        let obj = rec.as_object().expect("every line is an object");
        let id = obj["id"].as_str().expect("string id").to_string();
        let version = obj["version"].as_i64().expect("integer version");
        if rec.get("big").is_none() {
            check_types(rec, "");
        }
        let start = ts(&rec["startDateTime"]);
        let end = ts(&rec["endDateTime"]);
        let lm = ts(&rec["lastModifiedDateTime"]);
        assert!(start >= window_start && start < window_end, "{start}");
        assert!(start <= end && end < lm, "{start} {end} {lm}");
        match first_seen.get(&id) {
            None => {
                assert_eq!(version, 1, "first line of {id} is version 1");
                first_seen.insert(id.clone(), (i, version, lm));
                records += 1;
                if rec["type"] == "peerToPeer" {
                    p2p += 1;
                    assert!(rec.get("big").is_none());
                    assert!(rec["joinWebUrl"].is_null());
                    assert_eq!(rec["sessions"].as_array().unwrap().len(), 1);
                } else {
                    assert_eq!(rec["type"], "groupCall");
                }
            }
            Some(&(_, prev_v, prev_lm)) => {
                assert!(
                    version > prev_v,
                    "later version {version} of {id} after {prev_v}"
                );
                assert!(lm > prev_lm);
                first_seen.insert(id.clone(), (i, version, lm));
                later += 1;
            }
        }
        let participants = rec["participants_v2"].as_array().unwrap();
        if rec.get("big").is_some() {
            continue;
        }
        if participants.len() > 130 {
            over130 += 1;
            assert!(
                rec["participants"].as_array().unwrap().len() <= 130,
                "deprecated list is capped"
            );
        }
        for p in participants {
            if let Some(u) = p["identity"]["user"].as_object() {
                assert_eq!(u["@odata.type"], "#microsoft.graph.userIdentity");
                assert!(
                    u["userPrincipalName"]
                        .as_str()
                        .unwrap()
                        .ends_with("@contoso.com")
                );
            }
        }
        assert_eq!(
            rec["organizer_v2"]["id"],
            rec["organizer_v2"]["identity"]["user"]["id"]
        );
        let mut ids = std::collections::HashSet::new();
        let record_mods: Vec<&Value> = rec["modalities"].as_array().unwrap().iter().collect();
        for s in rec["sessions"].as_array().unwrap() {
            if !ids.insert(s["id"].as_str().unwrap()) {
                repeated_session_ids += 1;
            }
            assert_eq!(s["isTest"], false);
            let (ss, se) = (ts(&s["startDateTime"]), ts(&s["endDateTime"]));
            assert!(start <= ss && ss <= se && se <= end);
            for m in s["modalities"].as_array().unwrap() {
                assert!(record_mods.contains(&m));
                assert_ne!(m, "unknown");
            }
            if !s["failureInfo"].is_null() {
                failures += 1;
                assert!(
                    ["callSetup", "midcall"].contains(&s["failureInfo"]["stage"].as_str().unwrap())
                );
            }
            for ep in [&s["caller"], &s["callee"]] {
                let t = ep["@odata.type"].as_str().unwrap();
                let ua = ep["userAgent"]["@odata.type"].as_str().unwrap();
                match t {
                    "#microsoft.graph.callRecords.participantEndpoint" => {
                        assert_eq!(ua, "#microsoft.graph.callRecords.clientUserAgent");
                        assert!(ep["associatedIdentity"]["id"].is_string());
                        if ep["userAgent"]["productFamily"] == "azureCommunicationServices" {
                            acs += 1;
                        }
                        if ep.get("feedback").is_some() {
                            feedback += 1;
                        }
                    }
                    "#microsoft.graph.callRecords.serviceEndpoint" => {
                        assert_eq!(ua, "#microsoft.graph.callRecords.serviceUserAgent");
                        assert!(ep["userAgent"]["role"].is_string());
                    }
                    other => panic!("endpoint type {other}"),
                }
            }
            let segs = s["segments"].as_array().unwrap();
            if segs.len() > 1
                && segs.iter().any(|g| {
                    ["mediationServer", "gateway"]
                        .contains(&g["callee"]["userAgent"]["role"].as_str().unwrap_or(""))
                })
            {
                pstn_multi_segment += 1;
            }
            for g in segs {
                let (gs, ge) = (ts(&g["startDateTime"]), ts(&g["endDateTime"]));
                assert!(ss <= gs && gs <= ge && ge <= se);
                for m in g["media"].as_array().unwrap() {
                    let label = m["label"].as_str().unwrap();
                    assert!(
                        [
                            "main-audio",
                            "main-video",
                            "applicationsharing-video",
                            "data"
                        ]
                        .contains(&label)
                    );
                    for n in [&m["callerNetwork"], &m["calleeNetwork"]] {
                        assert!(n["traceRouteHops"].as_array().unwrap().is_empty());
                        assert!(
                            ["wired", "wifi", "mobile", "tunnel"]
                                .contains(&n["connectionType"].as_str().unwrap())
                        );
                    }
                    for st in m["streams"].as_array().unwrap() {
                        assert!(
                            ["callerToCallee", "calleeToCaller"]
                                .contains(&st["streamDirection"].as_str().unwrap())
                        );
                        assert!(st["streamId"].is_string());
                        match label {
                            "main-audio" => match audio_class(st) {
                                None => unclassified += 1,
                                Some(true) => poor += 1,
                                Some(false) => good += 1,
                            },
                            "main-video" | "applicationsharing-video" => {
                                video_streams += 1;
                                assert!(st["averageVideoFrameRate"].is_number());
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    over130 += big_participants.iter().filter(|&&n| n > 130).count();
    let p2p_share = f64::from(p2p) / f64::from(records);
    assert!(
        (0.55..=0.65).contains(&p2p_share),
        "peer-to-peer share {p2p_share}"
    );
    let poor_share = f64::from(poor) / f64::from(poor + good);
    assert!(
        (0.01..=0.06).contains(&poor_share),
        "poor audio share {poor_share}"
    );
    let unclassified_share = f64::from(unclassified) / f64::from(poor + good + unclassified);
    assert!(
        (0.005..0.15).contains(&unclassified_share),
        "unclassified audio share {unclassified_share}"
    );
    assert!(over130 > 0, "some records have more than 130 participants");
    assert!(later > 200, "about 10 % later versions, got {later}");
    assert!(
        failures > 0
            && acs > 0
            && repeated_session_ids > 0
            && pstn_multi_segment > 0
            && feedback > 0
    );
    assert!(video_streams > 0);
}

#[test]
fn heavy_tail_in_20000_records_and_small_scale_bounds() {
    let mut per_line = Vec::new();
    let stats = write_call_records_observed(&cfg(3), 20_000, &mut std::io::sink(), |l| {
        per_line.push((l.sessions, l.participants))
    })
    .unwrap();
    assert_eq!(per_line.len(), 20_000);
    assert_eq!(per_line.iter().map(|l| l.0).sum::<u64>(), stats.sessions);
    let over60 = per_line.iter().filter(|l| l.0 > 60).count();
    let over1000 = per_line.iter().filter(|l| l.0 > 1000).count();
    let under20 = per_line.iter().filter(|l| l.0 < 20).count();
    assert!(over60 > 20, "group calls over 60 sessions: {over60}");
    assert!(
        (over1000 as f64) < 0.01 * 20_000.0,
        "over 1000 sessions: {over1000}"
    );
    assert!(under20 as f64 > 0.85 * 20_000.0);
    assert!(per_line.iter().any(|l| l.1 > 130));

    let small = GenConfig {
        scale: Scale::Small,
        ..cfg(3)
    };
    let mut per_line = Vec::new();
    write_call_records_observed(&small, 5_000, &mut std::io::sink(), |l| {
        per_line.push(l.sessions)
    })
    .unwrap();
    assert!(per_line.iter().all(|&n| n <= 60));
    let p2p = per_line.iter().filter(|&&n| n == 1).count() as f64 / 5000.0;
    assert!(p2p > 0.9, "{p2p}");
}

#[test]
fn log_rows_match_the_documented_shapes() {
    let c = cfg(5);
    let expect: &[(LogKind, &[&str])] = &[
        (
            LogKind::PstnCall,
            &[
                "id",
                "callId",
                "userId",
                "userPrincipalName",
                "userDisplayName",
                "startDateTime",
                "endDateTime",
                "duration",
                "charge",
                "callType",
                "currency",
                "calleeNumber",
                "usageCountryCode",
                "tenantCountryCode",
                "connectionCharge",
                "callerNumber",
                "destinationContext",
                "destinationName",
                "conferenceId",
                "licenseCapability",
                "inventoryType",
                "operator",
                "callDurationSource",
                "otherPartyCountryCode",
            ],
        ),
        (
            LogKind::DirectRoutingCall,
            &[
                "id",
                "correlationId",
                "userId",
                "userPrincipalName",
                "userDisplayName",
                "startDateTime",
                "endDateTime",
                "inviteDateTime",
                "failureDateTime",
                "duration",
                "callType",
                "successfulCall",
                "callerNumber",
                "calleeNumber",
                "mediaPathLocation",
                "signalingLocation",
                "finalSipCode",
                "callEndSubReason",
                "finalSipCodePhrase",
                "trunkFullyQualifiedDomainName",
                "mediaBypassEnabled",
                "userCountryCode",
                "otherPartyCountryCode",
                "transferorCorrelationId",
                "administrativeUnitInfos",
            ],
        ),
        (
            LogKind::SmsLog,
            &[
                "smsId",
                "userId",
                "userPrincipalName",
                "userDisplayName",
                "userCountryCode",
                "tenantCountryCode",
                "sourceNumber",
                "destinationNumber",
                "sentDateTime",
                "callCharge",
                "currency",
                "smsType",
                "destinationContext",
                "destinationName",
                "otherPartyCountryCode",
                "licenseCapability",
                "smsUnits",
                "administrativeUnitInfos",
            ],
        ),
        (
            LogKind::PstnBlockedUser,
            &[
                "userId",
                "userPrincipalName",
                "userDisplayName",
                "blockDateTime",
                "userTelephoneNumber",
                "userBlockMode",
                "blockReason",
                "remediationId",
            ],
        ),
        (
            LogKind::PstnOnlineMeetingDialout,
            &[
                "userId",
                "userPrincipalName",
                "userDisplayName",
                "usageLocation",
                "destinationContext",
                "currency",
                "totalCalls",
                "totalCallCharge",
                "totalCallSeconds",
            ],
        ),
    ];
    let window_end = c.start + jiff::SignedDuration::from_hours(24 * i64::from(c.days));
    for (kind, keys) in expect {
        let mut out = Vec::new();
        let stats = write_log_rows(&c, *kind, 500, &mut out).unwrap();
        assert_eq!(stats.lines, 500);
        let mut again = Vec::new();
        write_log_rows(&c, *kind, 500, &mut again).unwrap();
        assert!(out == again);
        for row in lines(&out) {
            let got: Vec<&str> = row
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(&got, keys, "{kind}");
            if let Some(p) = kind.time_property() {
                let t = ts(&row[p]);
                assert!(t >= c.start && t < window_end, "{kind} {t}");
            } else {
                assert!(
                    !row.as_object()
                        .unwrap()
                        .keys()
                        .any(|k| k.ends_with("DateTime"))
                );
            }
            check_types(&row, "");
            for k in [
                "duration",
                "totalCalls",
                "totalCallSeconds",
                "smsUnits",
                "finalSipCode",
                "callEndSubReason",
            ] {
                if let Some(v) = row.get(k) {
                    assert!(v.is_i64(), "{k}: {v}");
                }
            }
            for k in [
                "charge",
                "connectionCharge",
                "callCharge",
                "totalCallCharge",
            ] {
                if let Some(v) = row.get(k) {
                    assert!(v.is_number(), "{k}: {v}");
                }
            }
            if *kind == LogKind::PstnBlockedUser {
                assert!(["blocked", "unblocked"].contains(&row["userBlockMode"].as_str().unwrap()));
            }
            if *kind == LogKind::PstnCall {
                assert!(
                    ["microsoft", "operator"]
                        .contains(&row["callDurationSource"].as_str().unwrap())
                );
            }
        }
    }
}
