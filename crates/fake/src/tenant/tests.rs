use super::*;
use proptest::prelude::*;

const TENANT: &str = callrecords_synth::DEFAULT_TENANT_ID;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn sched(seed: u64) -> TenantSchedule {
    TenantSchedule::new(seed, TENANT, 2.0).unwrap()
}

fn t0() -> Timestamp {
    ts("2026-12-01T09:00:00Z")
}

#[test]
fn rejects_bad_parameters() {
    for r in [-1.0, f64::NAN, f64::INFINITY, MAX_RATE + 1.0] {
        assert!(TenantSchedule::new(0, TENANT, r).is_err());
    }
    assert_eq!(
        TenantSchedule::new(0, "", 1.0).unwrap_err(),
        ScheduleError::EmptyTenant
    );
    let quiet = TenantSchedule::new(0, TENANT, 0.0).unwrap();
    assert!(
        quiet
            .schedule_between(t0(), plus(t0(), SignedDuration::from_hours(24)))
            .is_empty()
    );
}

#[test]
fn same_seed_same_schedule_other_seed_or_tenant_differs() {
    let w = (t0(), plus(t0(), SignedDuration::from_hours(2)));
    let a = sched(1).schedule_between(w.0, w.1);
    assert!(!a.is_empty());
    assert_eq!(a, sched(1).schedule_between(w.0, w.1));
    assert_ne!(a, sched(2).schedule_between(w.0, w.1));
    let other = TenantSchedule::new(1, "11111111-2222-4333-8444-555555555555", 2.0).unwrap();
    assert_ne!(a, other.schedule_between(w.0, w.1));
    // Empty and reversed windows.
    assert!(sched(1).schedule_between(w.1, w.0).is_empty());
    assert!(sched(1).schedule_between(w.0, w.0).is_empty());
}

#[test]
fn calls_arrive_at_the_rate() {
    let s = TenantSchedule::new(5, TENANT, 3.0).unwrap();
    let base = minute_of(t0());
    let n: usize = (0..2_000).map(|m| s.calls_in_minute(base + m).len()).sum();
    let mean = n as f64 / 2_000.0;
    assert!((mean - 3.0).abs() < 0.15, "mean {mean}");
    for m in 0..50 {
        for c in s.calls_in_minute(base + m) {
            assert_eq!(minute_of(c.ended_at), base + m);
        }
    }
}

#[test]
fn availability_delay_matches_the_documented_distribution() {
    let s = TenantSchedule::new(9, TENANT, 5.0).unwrap();
    let base = minute_of(t0());
    let mut delays = Vec::new();
    for m in 0..4_000 {
        for c in s.calls_in_minute(base + m) {
            delays.push(
                c.versions[0]
                    .visible_at
                    .duration_since(c.ended_at)
                    .as_secs_f64()
                    / 60.0,
            );
        }
    }
    let n = delays.len() as f64;
    let mean = delays.iter().sum::<f64>() / n;
    let within_15 = delays.iter().filter(|d| **d <= 15.0).count() as f64 / n;
    let over_60 = delays.iter().filter(|d| **d > 60.0).count() as f64 / n;
    let max = delays.iter().cloned().fold(0.0, f64::max);
    let min = delays.iter().cloned().fold(f64::MAX, f64::min);
    assert!(mean < 30.0 && (12.0..16.0).contains(&mean), "mean {mean}");
    assert!((0.78..0.82).contains(&within_15), "{within_15}");
    assert!((0.02..0.04).contains(&over_60), "{over_60}");
    assert!(max <= 150.0 && max > 120.0, "max {max}");
    assert!(min >= 2.0, "min {min}");
}

#[test]
fn versions_are_ordered_and_last_modified_moves() {
    let s = sched(3);
    let base = minute_of(t0());
    let mut by_final = [0usize; 5];
    for m in 0..3_000 {
        for c in s.calls_in_minute(base + m) {
            by_final[c.final_version() as usize] += 1;
            assert_eq!(c.expires_at, plus(c.ended_at, RETENTION));
            let mut prev: Option<&VersionSlot> = None;
            for (i, v) in c.versions.iter().enumerate() {
                assert_eq!(v.version as usize, i + 1);
                assert!(v.last_modified < v.visible_at);
                assert!(v.last_modified > c.ended_at);
                if let Some(p) = prev {
                    let gap = v.visible_at.duration_since(p.visible_at);
                    assert!(gap >= MIN_GAP && gap <= MAX_GAP);
                    assert!(v.last_modified > p.last_modified);
                }
                prev = Some(v);
            }
            assert!(
                c.versions
                    .last()
                    .unwrap()
                    .visible_at
                    .duration_since(c.ended_at)
                    <= MAX_LAG
            );
        }
    }
    let total: usize = by_final.iter().sum();
    assert_eq!(by_final[0], 0);
    let share = |v: usize| by_final[v] as f64 / total as f64;
    assert!((0.62..0.68).contains(&share(1)), "{by_final:?}");
    assert!(share(4) > 0.02, "{by_final:?}");
}

#[test]
fn schedule_names_the_calls_it_came_from() {
    let s = sched(4);
    let w = s.schedule_between(t0(), plus(t0(), SignedDuration::from_mins(30)));
    assert!(!w.is_empty());
    for v in &w {
        let c = s.call(v.call).unwrap();
        assert_eq!(c.record_id, v.record_id);
        assert_eq!(c.versions[v.version as usize - 1].visible_at, v.visible_at);
        assert!(v.visible_at >= t0());
    }
    assert!(
        s.call(CallKey {
            minute: 0,
            n: 10_000
        })
        .is_none()
    );
    assert!(s.record(w[0].call, 0).is_none());
    assert!(s.record(w[0].call, 99).is_none());
}

fn streams(rec: &Value) -> usize {
    let mut n = 0;
    for s in rec["sessions"].as_array().into_iter().flatten() {
        for seg in s["segments"].as_array().into_iter().flatten() {
            for m in seg["media"].as_array().into_iter().flatten() {
                n += m["streams"].as_array().map_or(0, Vec::len);
            }
        }
    }
    n
}

#[test]
fn record_json_matches_the_schedule() {
    let s = sched(11);
    // A call with several versions.
    let base = minute_of(t0());
    let call = (0..500)
        .flat_map(|m| s.calls_in_minute(base + m))
        .find(|c| c.final_version() >= 3)
        .unwrap();
    let mut prev_streams = 0;
    let mut prev_lm = String::new();
    for v in 1..=call.final_version() {
        let rec = s.record(call.key, v).unwrap();
        assert_eq!(rec["id"], call.record_id.as_str());
        assert_eq!(rec["version"], v);
        assert_eq!(rec["endDateTime"], format_ts7(call.ended_at).as_str());
        let lm = rec["lastModifiedDateTime"].as_str().unwrap().to_string();
        assert_eq!(lm, format_ts7(call.versions[v as usize - 1].last_modified));
        assert!(lm > prev_lm);
        prev_lm = lm;
        let start: Timestamp = rec["startDateTime"].as_str().unwrap().parse().unwrap();
        assert!(start <= call.ended_at);
        for sess in rec["sessions"].as_array().unwrap() {
            let ss: Timestamp = sess["startDateTime"].as_str().unwrap().parse().unwrap();
            let se: Timestamp = sess["endDateTime"].as_str().unwrap().parse().unwrap();
            assert!(start <= ss && ss <= se && se <= call.ended_at);
        }
        let n = streams(&rec);
        assert!(
            n >= prev_streams,
            "version {v}: {n} streams < {prev_streams}"
        );
        prev_streams = n;
        if v < call.final_version() {
            let fb = rec["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["caller"].get("feedback").is_some());
            assert!(!fb, "feedback only in the final version");
        }
    }
    // The final version has all the telemetry the first lacked.
    let first = s.record(call.key, 1).unwrap();
    let last = s.record(call.key, call.final_version()).unwrap();
    assert!(streams(&last) > streams(&first));
    // Apart from version, lastModifiedDateTime and telemetry, versions are the same record.
    assert_eq!(
        first["sessions"].as_array().unwrap().len(),
        last["sessions"].as_array().unwrap().len()
    );
    assert_eq!(first["participants_v2"], last["participants_v2"]);
    assert_eq!(first["startDateTime"], last["startDateTime"]);
}

#[test]
fn events_carry_the_records() {
    let s = sched(12);
    let (a, b) = (t0(), plus(t0(), SignedDuration::from_mins(20)));
    let ev = s.events_between(a, b);
    let sc = s.schedule_between(a, b);
    assert_eq!(ev.len(), sc.len());
    assert!(!ev.is_empty());
    for (e, v) in ev.iter().zip(&sc) {
        assert_eq!(e.tenant_id, TENANT);
        assert_eq!(e.record_id, v.record_id);
        assert_eq!(e.version, v.version);
        assert_eq!(e.visible_at, v.visible_at);
        assert_eq!(e.record["id"], e.record_id.as_str());
        assert_eq!(e.record["version"], e.version);
        assert_eq!(Some(&e.record), s.record(v.call, v.version).as_ref());
    }
}

#[test]
fn big_meetings_occur() {
    // Group calls with more than 60 sessions are a few percent of calls; look through enough.
    let s = sched(21);
    let base = minute_of(t0());
    let (mut big_sessions, mut big_parts, mut seen) = (false, false, 0);
    'outer: for m in 0..2_000 {
        for c in s.calls_in_minute(base + m) {
            let rec = s.record(c.key, 1).unwrap();
            seen += 1;
            big_sessions |= rec["sessions"].as_array().map_or(0, Vec::len) > 60;
            big_parts |= rec["participants_v2"].as_array().map_or(0, Vec::len) > 130;
            if big_sessions && big_parts {
                break 'outer;
            }
        }
    }
    assert!(big_sessions && big_parts, "after {seen} records");
}

#[test]
fn expiry_after_thirty_days() {
    let s = sched(6);
    let c = s
        .calls_in_minute(minute_of(t0()))
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(
        c.expires_at,
        plus(c.ended_at, SignedDuration::from_hours(720))
    );
    assert!(!is_expired(
        c.ended_at,
        plus(c.expires_at, -SignedDuration::from_nanos(1))
    ));
    assert!(is_expired(c.ended_at, c.expires_at));
    assert_eq!(s.expired_before(c.expires_at), c.ended_at);
    let from = plus(t0(), RETENTION);
    let to = plus(from, SignedDuration::from_hours(1));
    let ex = s.expired_between(from, to);
    let ended: Vec<_> = (minute_of(t0()) - 1
        ..=minute_of(plus(t0(), SignedDuration::from_hours(1))))
        .flat_map(|m| s.calls_in_minute(m))
        .filter(|c| c.ended_at >= t0() && c.ended_at < plus(t0(), SignedDuration::from_hours(1)))
        .map(|c| c.record_id)
        .collect();
    let mut ids: Vec<_> = ex.iter().map(|e| e.record_id.clone()).collect();
    let mut want = ended.clone();
    ids.sort();
    want.sort();
    assert_eq!(ids, want);
    assert!(ex.windows(2).all(|w| w[0].expires_at <= w[1].expires_at));
}

#[test]
fn log_rows_for_the_tenant() {
    let s = sched(8);
    let day = ts("2026-12-01T00:00:00Z");
    let next = plus(day, SignedDuration::from_hours(24));
    let rows = s.log_rows_between(LogKind::PstnCall, day, next);
    // rate 2 × 1440 × 6 % ≈ 173 a day (rows ending on this day, some from the day before).
    assert!((120..230).contains(&rows.len()), "{}", rows.len());
    for r in &rows {
        assert_eq!(r.kind, LogKind::PstnCall);
        assert!(r.visible_at >= day && r.visible_at < next);
        assert!(
            r.row.get("callId").is_some() || r.row.get("id").is_some(),
            "{}",
            r.row
        );
    }
    assert!(rows.windows(2).all(|w| w[0].visible_at <= w[1].visible_at));
    let mid = plus(day, SignedDuration::from_hours(13));
    let mut split = s.log_rows_between(LogKind::PstnCall, day, mid);
    split.extend(s.log_rows_between(LogKind::PstnCall, mid, next));
    assert_eq!(split, rows);
    let dr = s.log_rows_between(LogKind::DirectRoutingCall, day, next);
    assert!(!dr.is_empty());
    assert!(
        s.log_rows_between(LogKind::PstnOnlineMeetingDialout, day, next)
            .is_empty()
    );
    assert!(s.log_rows_between(LogKind::PstnCall, next, day).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Events for [a, c) == events for [a, b) ++ events for [b, c), for any cut b.
    #[test]
    fn schedule_windows_compose(seed in 0u64..1_000, start in 0i64..10_000_000, len in 1i64..21_600, cut in 0.0f64..1.0, rate in 0.1f64..5.0) {
        let s = TenantSchedule::new(seed, TENANT, rate).unwrap();
        let a = plus(Timestamp::from_second(1_760_000_000 + start).unwrap(), SignedDuration::from_millis(start % 1000));
        let c = plus(a, SignedDuration::from_secs(len));
        let b = plus(a, SignedDuration::from_millis((len as f64 * 1000.0 * cut) as i64));
        let whole = s.schedule_between(a, c);
        let mut parts = s.schedule_between(a, b);
        parts.extend(s.schedule_between(b, c));
        prop_assert_eq!(&whole, &parts);
        let ew = s.expired_between(a, c);
        let mut ep = s.expired_between(a, b);
        ep.extend(s.expired_between(b, c));
        prop_assert_eq!(ew, ep);
    }
}

proptest! {
    // Generating records is costly: few cases, short windows.
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn events_windows_compose(seed in 0u64..1_000, start in 0i64..10_000_000, len in 60i64..900, cut in 0.0f64..1.0) {
        let s = TenantSchedule::new(seed, TENANT, 2.0).unwrap();
        let a = Timestamp::from_second(1_760_000_000 + start).unwrap();
        let c = plus(a, SignedDuration::from_secs(len));
        let b = plus(a, SignedDuration::from_millis((len as f64 * 1000.0 * cut) as i64));
        let whole = s.events_between(a, c);
        let mut parts = s.events_between(a, b);
        parts.extend(s.events_between(b, c));
        prop_assert_eq!(whole, parts);
    }
}

/// Not a benchmark: prints how long a day of events takes (`--ignored --nocapture`), for profiling.
#[test]
#[ignore]
fn print_cost_of_a_day_of_events() {
    let s = TenantSchedule::new(9, "t", 0.1).unwrap();
    let t = std::time::Instant::now();
    let ev = s.events_between(t0(), t0() + SignedDuration::from_hours(24));
    eprintln!("{} events in {:?}", ev.len(), t.elapsed());
    let t = std::time::Instant::now();
    let rows = s.log_rows_between(
        LogKind::PstnCall,
        t0(),
        t0() + SignedDuration::from_hours(24),
    );
    eprintln!("{} pstn rows in {:?}", rows.len(), t.elapsed());
}
