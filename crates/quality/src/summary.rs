//! CQD's aggregates over stream and session rows: poor stream rates per kind, "poor due to" counters, poor
//! sessions and calls, setup and drop failure rates — in constant memory ([`SummaryBuilder`]) and grouped
//! by a slicer ([`GroupedSummaryBuilder`]).
//!
//! Summaries are over the LATEST version of each record: the builders count what they are given, so a
//! caller streaming records from storage passes each record once, at its newest version;
//! [`latest_versions`] does that for an in-memory slice.

use std::collections::{BTreeMap, HashMap};

use callrecords_model::CallRecord;
use serde::Serialize;

use crate::buildings::BuildingMap;
use crate::classify::{Classification, Metric};
use crate::kind::MediaKind;
use crate::rows::{
    Corp, EndpointSlicers, Party, RecordRows, SessionRow, Side, StreamRow, record_rows,
};

/// `poorDueTo` of audio streams: how many Poor streams exceeded each threshold (a stream may count under
/// several).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioPoorDueTo {
    pub average_audio_degradation: u64,
    pub average_round_trip_time: u64,
    pub average_packet_loss_rate: u64,
    pub average_jitter: u64,
    pub average_ratio_of_concealed_samples: u64,
}

/// `poorDueTo` of video / VBSS streams: the deciding metric of each Poor stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoPoorDueTo {
    pub average_video_frame_loss_percentage: u64,
    pub average_video_frame_rate: u64,
    pub post_forward_error_correction_packet_loss_rate: u64,
}

/// Counts of one classified stream kind.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindSummary<D> {
    pub total: u64,
    pub good: u64,
    pub poor: u64,
    pub unclassified: u64,
    /// poor / (good + poor); `null` when no stream is classified.
    pub poor_rate: Option<f64>,
    pub poor_due_to: D,
}

/// Application sharing (RDP): never classified from Graph data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppSharingSummary {
    pub total: u64,
    pub unclassified: u64,
}

/// `data` and unknown labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OtherSummary {
    pub total: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamsSummary {
    pub audio: KindSummary<AudioPoorDueTo>,
    pub video: KindSummary<VideoPoorDueTo>,
    pub vbss: KindSummary<VideoPoorDueTo>,
    pub app_sharing: AppSharingSummary,
    pub other: OtherSummary,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsSummary {
    pub total: u64,
    /// Sessions with at least one Poor audio stream.
    pub poor: u64,
    /// `failureInfo.stage == callSetup`.
    pub setup_failures: u64,
    /// `failureInfo.stage == midcall`.
    pub drop_failures: u64,
    /// setupFailures / total; `null` without sessions.
    pub setup_failure_rate: Option<f64>,
    /// dropFailures / (total − setupFailures); `null` when no session was set up.
    pub drop_failure_rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallsSummary {
    pub total: u64,
    /// Calls with at least one poor session.
    pub poor: u64,
    /// poor / total; `null` without calls.
    pub poor_rate: Option<f64>,
}

/// The aggregate, serialized exactly as the API returns it.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The window asked for (as the caller wrote it), `null` when open.
    pub from: Option<String>,
    pub until: Option<String>,
    /// Records (calls) counted.
    pub records: u64,
    pub streams: StreamsSummary,
    pub sessions: SessionsSummary,
    pub calls: CallsSummary,
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Raw counters (rates are computed by [`Counts::finish`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Counts {
    records: u64,
    streams: StreamsSummary,
    sessions: SessionsSummary,
    calls: CallsSummary,
}

fn audio_due(d: &mut AudioPoorDueTo, m: Metric) {
    match m {
        Metric::AverageAudioDegradation => d.average_audio_degradation += 1,
        Metric::AverageRoundTripTime => d.average_round_trip_time += 1,
        Metric::AveragePacketLossRate => d.average_packet_loss_rate += 1,
        Metric::AverageJitter => d.average_jitter += 1,
        Metric::AverageRatioOfConcealedSamples => d.average_ratio_of_concealed_samples += 1,
        _ => {}
    }
}

fn video_due(d: &mut VideoPoorDueTo, m: Metric) {
    match m {
        Metric::AverageVideoFrameLossPercentage => d.average_video_frame_loss_percentage += 1,
        Metric::AverageVideoFrameRate => d.average_video_frame_rate += 1,
        Metric::PostForwardErrorCorrectionPacketLossRate => {
            d.post_forward_error_correction_packet_loss_rate += 1
        }
        _ => {}
    }
}

fn count_kind<D>(k: &mut KindSummary<D>, c: Classification, due: fn(&mut D, Metric)) {
    k.total += 1;
    match c {
        Classification::Good => k.good += 1,
        Classification::Poor(set) => {
            k.poor += 1;
            for m in set.iter() {
                due(&mut k.poor_due_to, m);
            }
        }
        Classification::Unclassified(_) => k.unclassified += 1,
    }
}

impl Counts {
    fn stream(&mut self, r: &StreamRow) {
        let s = &mut self.streams;
        match r.kind {
            MediaKind::Audio => count_kind(&mut s.audio, r.classification, audio_due),
            MediaKind::Video => count_kind(&mut s.video, r.classification, video_due),
            MediaKind::Vbss => count_kind(&mut s.vbss, r.classification, video_due),
            MediaKind::AppSharing => {
                s.app_sharing.total += 1;
                s.app_sharing.unclassified += 1;
            }
            MediaKind::Other { .. } => s.other.total += 1,
        }
    }

    fn session(&mut self, r: &SessionRow, poor: bool) {
        let s = &mut self.sessions;
        s.total += 1;
        s.poor += u64::from(poor);
        s.setup_failures += u64::from(r.is_setup_failure());
        s.drop_failures += u64::from(r.is_drop_failure());
    }

    fn call(&mut self, poor: bool) {
        self.records += 1;
        self.calls.total += 1;
        self.calls.poor += u64::from(poor);
    }

    fn finish(mut self, from: Option<String>, until: Option<String>) -> Summary {
        fn rate<D>(k: &mut KindSummary<D>) {
            k.poor_rate = ratio(k.poor, k.good + k.poor);
        }
        rate(&mut self.streams.audio);
        rate(&mut self.streams.video);
        rate(&mut self.streams.vbss);
        let s = &mut self.sessions;
        s.setup_failure_rate = ratio(s.setup_failures, s.total);
        s.drop_failure_rate = ratio(s.drop_failures, s.total - s.setup_failures);
        self.calls.poor_rate = ratio(self.calls.poor, self.calls.total);
        Summary {
            from,
            until,
            records: self.records,
            streams: self.streams,
            sessions: self.sessions,
            calls: self.calls,
        }
    }
}

/// Where [`distribute`] counts a group.
trait Sink<K> {
    fn group(&mut self, k: &K) -> &mut Counts;
}

impl Sink<()> for Counts {
    fn group(&mut self, _: &()) -> &mut Counts {
        self
    }
}

impl<K: Ord + Clone> Sink<K> for BTreeMap<K, Counts> {
    fn group(&mut self, k: &K) -> &mut Counts {
        if !self.contains_key(k) {
            self.insert(k.clone(), Counts::default());
        }
        self.get_mut(k).unwrap_or_else(|| unreachable!())
    }
}

/// Counts one record's rows into groups: each stream goes to its key's group; a session goes to every
/// group one of its streams went to (to its own key's group when it has no stream, as setup failures
/// usually have none) and is poor there when one of its audio streams IN THAT GROUP is poor; the call goes
/// to every group one of its sessions went to, poor there when one of its sessions is poor there. With a
/// single group this is exactly CQD's definitions (a leg is poor when one of its audio streams is; a call
/// when one of its legs is).
fn distribute<K: Ord + Clone>(
    rows: &RecordRows,
    stream_key: impl Fn(&StreamRow) -> K,
    session_key: impl Fn(&SessionRow) -> K,
    sink: &mut impl Sink<K>,
) {
    let mut per_session: BTreeMap<u32, BTreeMap<K, bool>> = BTreeMap::new();
    for r in &rows.streams {
        let k = stream_key(r);
        sink.group(&k).stream(r);
        let poor = r.kind == MediaKind::Audio && r.classification.is_poor();
        *per_session
            .entry(r.key.session_ordinal)
            .or_default()
            .entry(k)
            .or_default() |= poor;
    }
    let mut per_call: BTreeMap<K, bool> = BTreeMap::new();
    for s in &rows.sessions {
        let keys = per_session
            .remove(&s.session_ordinal)
            .unwrap_or_else(|| BTreeMap::from([(session_key(s), false)]));
        for (k, poor) in keys {
            sink.group(&k).session(s, poor);
            *per_call.entry(k).or_default() |= poor;
        }
    }
    for (k, poor) in per_call {
        sink.group(&k).call(poor);
    }
}

/// Keeps, for each record id, the record with the highest `version` (the later one on a tie), in the order
/// the ids first appear. Summaries must be computed over these.
pub fn latest_versions<'a>(
    records: impl IntoIterator<Item = &'a CallRecord>,
) -> Vec<&'a CallRecord> {
    let mut out: Vec<&CallRecord> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    for r in records {
        let id = r.id.as_ref().map_or("", String::as_str);
        let v = r.version.as_ref().copied().unwrap_or(i64::MIN);
        match at.get(id) {
            Some(&i) => {
                if v >= out[i].version.as_ref().copied().unwrap_or(i64::MIN) {
                    out[i] = r;
                }
            }
            None => {
                at.insert(id, out.len());
                out.push(r);
            }
        }
    }
    out
}

fn version_of(r: &CallRecord) -> i64 {
    r.version.as_ref().copied().unwrap_or(0)
}

/// Accumulates a [`Summary`] in constant memory: feed each record once, at its latest version.
#[derive(Debug, Clone, Default)]
pub struct SummaryBuilder {
    from: Option<String>,
    until: Option<String>,
    counts: Counts,
}

impl SummaryBuilder {
    /// An empty builder; `from`/`until` are reported as given (the window the caller selected).
    pub fn new(from: Option<String>, until: Option<String>) -> Self {
        SummaryBuilder {
            from,
            until,
            counts: Counts::default(),
        }
    }

    /// Adds one record (its latest version).
    pub fn add_record(&mut self, record: &CallRecord) {
        self.add_rows(&record_rows(record, version_of(record)));
    }

    /// Adds the rows of ONE record (as [`record_rows`] made them, possibly read back from storage).
    pub fn add_rows(&mut self, rows: &RecordRows) {
        distribute(rows, |_| (), |_| (), &mut self.counts);
        if rows.sessions.is_empty() {
            self.counts.call(false);
        }
    }

    pub fn finish(self) -> Summary {
        self.counts.finish(self.from, self.until)
    }
}

/// Summarizes records, keeping only the latest version of each.
pub fn summarize<'a>(
    records: impl IntoIterator<Item = &'a CallRecord>,
    from: Option<String>,
    until: Option<String>,
) -> Summary {
    let mut b = SummaryBuilder::new(from, until);
    for r in latest_versions(records) {
        b.add_record(r);
    }
    b.finish()
}

/// What to group a summary by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum GroupKey {
    /// UTC day `YYYY-MM-DD` of the stream's start (sessions without streams: the session's start).
    Day,
    /// ISO week `YYYY-Www` of that day.
    Week,
    /// `YYYY-MM` of that day.
    Month,
    /// Building name of the row's endpoint (needs building data; none → `null`).
    Building,
    /// The row's endpoint subnet (else its IP address).
    Subnet,
    /// Connection type × inside/outside corp, e.g. `wired/inside`, `wifi/outside` (CQD's summary split).
    Network,
    /// Client platform of the row's endpoint.
    Platform,
    /// `productFamily/applicationVersion` of the row's endpoint, e.g. `teams/1.6.00.1381`.
    ClientVersion,
    /// Capture device (microphone/camera) name of the row's endpoint.
    Device,
    /// The user at the row's endpoint: UPN, else identity id.
    User,
    /// The meeting: `joinWebUrl`.
    Meeting,
}

impl GroupKey {
    pub const ALL: [GroupKey; 11] = [
        GroupKey::Day,
        GroupKey::Week,
        GroupKey::Month,
        GroupKey::Building,
        GroupKey::Subnet,
        GroupKey::Network,
        GroupKey::Platform,
        GroupKey::ClientVersion,
        GroupKey::Device,
        GroupKey::User,
        GroupKey::Meeting,
    ];

    /// The name used in query strings (`day`, `clientVersion`, …).
    pub fn name(self) -> &'static str {
        match self {
            GroupKey::Day => "day",
            GroupKey::Week => "week",
            GroupKey::Month => "month",
            GroupKey::Building => "building",
            GroupKey::Subnet => "subnet",
            GroupKey::Network => "network",
            GroupKey::Platform => "platform",
            GroupKey::ClientVersion => "clientVersion",
            GroupKey::Device => "device",
            GroupKey::User => "user",
            GroupKey::Meeting => "meeting",
        }
    }

    /// The key named `name` (as [`GroupKey::name`] writes it).
    pub fn from_name(name: &str) -> Option<GroupKey> {
        GroupKey::ALL.into_iter().find(|k| k.name() == name)
    }

    fn of(
        self,
        day: Option<&str>,
        e: &EndpointSlicers,
        caller: &Party,
        callee: &Party,
        meeting: Option<&str>,
    ) -> Option<String> {
        match self {
            GroupKey::Day => day.map(str::to_owned),
            GroupKey::Week => day.and_then(iso_week),
            GroupKey::Month => day.and_then(|d| d.get(..7)).map(str::to_owned),
            GroupKey::Building => e.building.as_ref().map(|b| b.building_name.clone()),
            GroupKey::Subnet => e.subnet.clone().or_else(|| e.ip_address.clone()),
            GroupKey::Network => Some(format!(
                "{}/{}",
                e.connection_type.as_deref().unwrap_or("unknown"),
                match e.corp {
                    Corp::Inside => "inside",
                    Corp::Outside => "outside",
                }
            )),
            GroupKey::Platform => e.platform.clone(),
            GroupKey::ClientVersion => match (&e.product_family, &e.client_version) {
                (None, None) => None,
                (f, v) => Some(format!(
                    "{}/{}",
                    f.as_deref().unwrap_or("unknown"),
                    v.as_deref().unwrap_or("unknown")
                )),
            },
            GroupKey::Device => e.capture_device.clone(),
            GroupKey::User => {
                let p = match e.side {
                    Side::Caller => caller,
                    Side::Callee => callee,
                };
                p.upn.clone().or_else(|| p.id.clone())
            }
            GroupKey::Meeting => meeting.map(str::to_owned),
        }
    }

    /// This key's value for a stream row.
    pub fn for_stream(self, r: &StreamRow) -> Option<String> {
        self.of(
            r.day.as_deref(),
            &r.endpoint,
            &r.caller,
            &r.callee,
            r.call.join_web_url.as_deref(),
        )
    }

    /// This key's value for a session row (used for sessions without streams).
    pub fn for_session(self, r: &SessionRow) -> Option<String> {
        self.of(
            r.day.as_deref(),
            &r.endpoint,
            &r.caller,
            &r.callee,
            r.call.join_web_url.as_deref(),
        )
    }
}

/// `YYYY-Www` (ISO 8601 week) of a `YYYY-MM-DD` day.
fn iso_week(day: &str) -> Option<String> {
    let d: jiff::civil::Date = day.parse().ok()?;
    let w = d.iso_week_date();
    Some(format!("{:04}-W{:02}", w.year(), w.week()))
}

/// One group of a grouped summary: `{"key": "…"|null, …the summary's keys}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub key: Option<String>,
    #[serde(flatten)]
    pub summary: Summary,
}

/// Accumulates one [`Summary`] per value of a [`GroupKey`]; memory grows with the number of groups, not
/// records. Building data, when given, is applied to each record's rows before grouping.
#[derive(Debug, Clone)]
pub struct GroupedSummaryBuilder<'a> {
    key: GroupKey,
    buildings: Option<&'a BuildingMap>,
    from: Option<String>,
    until: Option<String>,
    groups: BTreeMap<Option<String>, Counts>,
}

impl<'a> GroupedSummaryBuilder<'a> {
    pub fn new(
        key: GroupKey,
        buildings: Option<&'a BuildingMap>,
        from: Option<String>,
        until: Option<String>,
    ) -> Self {
        GroupedSummaryBuilder {
            key,
            buildings,
            from,
            until,
            groups: BTreeMap::new(),
        }
    }

    /// Adds one record (its latest version).
    pub fn add_record(&mut self, record: &CallRecord) {
        let mut rows = record_rows(record, version_of(record));
        if let Some(b) = self.buildings {
            b.apply_rows(&mut rows);
        }
        self.add_rows(&rows);
    }

    /// Adds the rows of ONE record (buildings already applied by the caller if wanted).
    pub fn add_rows(&mut self, rows: &RecordRows) {
        let key = self.key;
        distribute(
            rows,
            |r| key.for_stream(r),
            |s| key.for_session(s),
            &mut self.groups,
        );
        if rows.sessions.is_empty() {
            self.groups.group(&None).call(false);
        }
    }

    /// The groups, ordered by key (`null` first).
    pub fn finish(self) -> Vec<Group> {
        self.groups
            .into_iter()
            .map(|(key, c)| Group {
                key,
                summary: c.finish(self.from.clone(), self.until.clone()),
            })
            .collect()
    }
}

/// Groups records (latest version of each) by `key`.
pub fn group_by<'a>(
    key: GroupKey,
    records: impl IntoIterator<Item = &'a CallRecord>,
    buildings: Option<&BuildingMap>,
    from: Option<String>,
    until: Option<String>,
) -> Vec<Group> {
    let mut b = GroupedSummaryBuilder::new(key, buildings, from, until);
    for r in latest_versions(records) {
        b.add_record(r);
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::tests::{audio_stream, net, service_ep, user_ep};
    use serde_json::{Value, json};

    fn rec(v: Value) -> CallRecord {
        serde_json::from_value(v).unwrap()
    }

    fn media(label: &str, streams: Vec<Value>) -> Value {
        json!({"label": label, "callerNetwork": net("10.0.1.0", "wifi"),
               "calleeNetwork": net("52.112.0.0", "wired"), "streams": streams})
    }

    fn session(id: &str, day: &str, medias: Vec<Value>, failure: Option<&str>) -> Value {
        let mut s = json!({"id": id, "caller": user_ep(id, &format!("{id}@contoso.com")),
                           "callee": service_ep("skypeForBusinessAudioVideoMcu"),
                           "startDateTime": format!("{day}T09:00:00Z"),
                           "endDateTime": format!("{day}T10:00:00Z"),
                           "segments": if medias.is_empty() { json!([]) } else {
                               json!([{"id": format!("{id}-g"), "media": medias}]) }});
        if let Some(stage) = failure {
            s["failureInfo"] = json!({"stage": stage, "reason": "test"});
        }
        s
    }

    fn a(jitter: &str) -> Value {
        audio_stream("callerToCallee", jitter)
    }

    /// The corpus of `hand_computed_summary`.
    fn corpus() -> Vec<CallRecord> {
        let day1 = "2026-01-05";
        let day2 = "2026-01-06";
        vec![
            // Record A, version 1: superseded by version 2 below, must not count.
            rec(
                json!({"id": "A", "version": 1, "joinWebUrl": "https://meet/a",
                       "sessions": [session("A0", day1, vec![media("main-audio", vec![a("PT1S"), a("PT1S")])], None)]}),
            ),
            rec(
                json!({"id": "B", "version": 1, "joinWebUrl": "https://meet/b", "sessions": [
                    // B0: two Good audio streams; dropped mid-call.
                    session("B0", day2, vec![media("main-audio", vec![a("PT0.01S"), a("PT0.02S")])], Some("midcall")),
                    // B1: one Poor audio stream (degradation 1.5 and RTT 600 ms), one unknown-label stream.
                    session("B1", day2, vec![
                        media("main-audio", vec![json!({"streamDirection": "calleeToCaller",
                            "averageAudioDegradation": 1.5, "averageRoundTripTime": "PT0.6S",
                            "averageJitter": "PT0.005S"})]),
                        media("mystery", vec![json!({"streamDirection": "callerToCallee"})]),
                    ], None),
                ]}),
            ),
            rec(
                json!({"id": "A", "version": 2, "joinWebUrl": "https://meet/a", "sessions": [
                    // A0: audio Poor (jitter 50 ms + loss 0.2) and Good; video Poor by frame loss (even though
                    // its frame rate is fine) and Good.
                    session("A0", day1, vec![
                        media("main-audio", vec![
                            json!({"streamDirection": "callerToCallee", "averageJitter": "PT0.05S",
                                   "averagePacketLossRate": 0.2, "averageRatioOfConcealedSamples": 0.01}),
                            a("PT0.01S")]),
                        media("main-video", vec![
                            json!({"averageVideoFrameLossPercentage": 60.0, "averageVideoFrameRate": 30.0}),
                            json!({"averageVideoFrameRate": 10.0})]),
                    ], None),
                    // A1: audio without metrics (Unclassified) and Good; VBSS Poor by frame rate 1.5;
                    // one application-sharing and one data stream.
                    session("A1", day1, vec![
                        media("main-audio", vec![json!({"streamDirection": "callerToCallee"}), a("PT0.03S")]),
                        media("applicationsharing-video", vec![json!({"averageVideoFrameRate": 1.5})]),
                        media("applicationsharing", vec![json!({})]),
                        media("data", vec![json!({})]),
                    ], None),
                    // A2: failed at setup, no streams at all.
                    session("A2", day2, vec![], Some("callSetup")),
                ]}),
            ),
            // Record C: two Good audio streams, one video stream without metrics.
            rec(json!({"id": "C", "version": 1, "sessions": [
                session("C0", day2, vec![
                    media("main-audio", vec![a("PT0.001S"), a("PT0.002S")]),
                    media("main-video", vec![json!({"averageJitter": "PT0.5S"})]),
                ], None),
            ]})),
        ]
    }

    #[test]
    fn hand_computed_summary() {
        let s = summarize(&corpus(), Some("2026-01-01T00:00:00Z".into()), None);
        // Latest versions: A v2, B, C → 3 records.
        // Audio streams: A0 {Poor, Good}, A1 {Unclassified, Good}, B0 {Good, Good}, B1 {Poor}, C0 {Good, Good}
        //   total 9, good 6, poor 2, unclassified 1; poorRate = 2 / (6 + 2) = 0.25.
        //   poorDueTo: A0's stream → jitter, packet loss; B1's → degradation, RTT; concealed 0.
        // Video: A0 {Poor by frame loss, Good}, C0 {Unclassified}: total 3, good 1, poor 1, rate 0.5.
        // VBSS: A1 {Poor by frame rate 1.5 < 2}: total 1, poor 1, rate 1.0.
        // App sharing: A1's one stream, unclassified. Other: A1's data + B1's unknown label = 2.
        // Sessions: A0 A1 A2 B0 B1 C0 = 6; poor A0, B1 = 2; setup failures A2 = 1; drops B0 = 1;
        //   setupFailureRate 1/6, dropFailureRate 1 / (6 − 1) = 0.2.
        // Calls: A (poor: A0), B (poor: B1), C → 3, poor 2, rate 2/3.
        let want = json!({
            "from": "2026-01-01T00:00:00Z", "until": null, "records": 3,
            "streams": {
                "audio": {"total": 9, "good": 6, "poor": 2, "unclassified": 1, "poorRate": 0.25,
                          "poorDueTo": {"averageAudioDegradation": 1, "averageRoundTripTime": 1,
                                        "averagePacketLossRate": 1, "averageJitter": 1,
                                        "averageRatioOfConcealedSamples": 0}},
                "video": {"total": 3, "good": 1, "poor": 1, "unclassified": 1, "poorRate": 0.5,
                          "poorDueTo": {"averageVideoFrameLossPercentage": 1, "averageVideoFrameRate": 0,
                                        "postForwardErrorCorrectionPacketLossRate": 0}},
                "vbss": {"total": 1, "good": 0, "poor": 1, "unclassified": 0, "poorRate": 1.0,
                         "poorDueTo": {"averageVideoFrameLossPercentage": 0, "averageVideoFrameRate": 1,
                                       "postForwardErrorCorrectionPacketLossRate": 0}},
                "appSharing": {"total": 1, "unclassified": 1},
                "other": {"total": 2}
            },
            "sessions": {"total": 6, "poor": 2, "setupFailures": 1, "dropFailures": 1,
                         "setupFailureRate": 1.0 / 6.0, "dropFailureRate": 0.2},
            "calls": {"total": 3, "poor": 2, "poorRate": 2.0 / 3.0}
        });
        let got = serde_json::to_value(&s).unwrap();
        assert_eq!(got, want);
        // Key order as the API promises.
        let text = serde_json::to_string(&s).unwrap();
        let order = [
            "\"from\"",
            "\"until\"",
            "\"records\"",
            "\"streams\"",
            "\"sessions\"",
            "\"calls\"",
        ];
        let pos: Vec<_> = order.iter().map(|k| text.find(k).unwrap()).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn builder_streams_the_same_numbers() {
        let all = corpus();
        let mut b = SummaryBuilder::new(None, None);
        for r in latest_versions(&all) {
            b.add_record(r);
        }
        let s = b.finish();
        assert_eq!(s.records, 3);
        assert_eq!(s.streams.audio.poor, 2);
        // Feeding every version (the caller's mistake) counts A twice: the builder trusts its input.
        let mut b = SummaryBuilder::new(None, None);
        for r in &all {
            b.add_record(r);
        }
        assert_eq!(b.finish().records, 4);
    }

    #[test]
    fn empty_summary_has_null_rates() {
        let s = summarize(std::iter::empty(), None, None);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["streams"]["audio"]["poorRate"], Value::Null);
        assert_eq!(v["sessions"]["setupFailureRate"], Value::Null);
        assert_eq!(v["sessions"]["dropFailureRate"], Value::Null);
        assert_eq!(v["calls"]["poorRate"], Value::Null);
        assert_eq!(v["records"], 0);
        // Only setup failures: drop rate has no denominator.
        let r = rec(json!({"id": "X", "version": 1,
                           "sessions": [session("X0", "2026-01-05", vec![], Some("callSetup"))]}));
        let s = summarize([&r], None, None);
        assert_eq!(s.sessions.setup_failure_rate, Some(1.0));
        assert_eq!(s.sessions.drop_failure_rate, None);
        assert_eq!(s.streams.audio.poor_rate, None);
    }

    #[test]
    fn latest_version_wins_regardless_of_order() {
        let all = corpus();
        let mut rev: Vec<&CallRecord> = all.iter().collect();
        rev.reverse();
        let l = latest_versions(rev);
        let a = l
            .iter()
            .find(|r| r.id.as_ref().map(String::as_str) == Some("A"))
            .unwrap();
        assert_eq!(a.version.as_ref(), Some(&2));
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn group_by_day_and_meeting() {
        let all = corpus();
        let g = group_by(GroupKey::Day, &all, None, None, None);
        let keys: Vec<_> = g.iter().map(|g| g.key.clone()).collect();
        assert_eq!(
            keys,
            vec![Some("2026-01-05".into()), Some("2026-01-06".into())]
        );
        // The streams' start is 2026-01-05T23:59:59.9999999Z for `a(..)` streams, else the session's.
        let d5 = &g[0].summary;
        let d6 = &g[1].summary;
        assert_eq!(d5.streams.audio.total + d6.streams.audio.total, 9);
        // A2 (setup failure, no streams) is counted on its session's day, the 6th.
        assert_eq!(d6.sessions.setup_failures, 1);
        assert_eq!(d5.sessions.setup_failures, 0);
        // `a(..)` streams all start on the 5th; B1's and C0's other streams and A2 fall on the 6th: every
        // record has something on both days, so each is a call in both groups.
        assert_eq!((d5.records, d6.records), (3, 3));
        // B0's streams are on the 5th, so its drop counts there; A2's setup failure on the 6th.
        assert_eq!(
            (d5.sessions.drop_failures, d6.sessions.drop_failures),
            (1, 0)
        );
        let total_sessions: u64 = g.iter().map(|g| g.summary.sessions.total).sum();
        assert!(total_sessions >= 6);
        let m = group_by(GroupKey::Meeting, &all, None, None, None);
        let keys: Vec<_> = m.iter().map(|g| g.key.clone()).collect();
        assert_eq!(
            keys,
            vec![
                None,
                Some("https://meet/a".into()),
                Some("https://meet/b".into())
            ]
        );
        assert_eq!(m[1].summary.calls.total, 1);
        assert_eq!(m[1].summary.sessions.total, 3);
        assert_eq!(m[1].summary.streams.audio.poor, 1);
        let v = serde_json::to_value(&m[1]).unwrap();
        assert_eq!(v["key"], "https://meet/a");
        assert_eq!(v["records"], 1);
    }

    #[test]
    fn group_by_building_and_network() {
        let map = BuildingMap::parse(
            "10.0.0.0,HQ,16,HQ,o,t,ot,Seattle,z,US,WA,NA,1,0\n10.0.1.0,B1,24,Building 1,o,t,ot,Seattle,z,US,WA,NA,1,0,0\n",
        )
        .unwrap();
        let all = corpus();
        let g = group_by(GroupKey::Building, &all, Some(&map), None, None);
        // Every user endpoint is on 10.0.1.0 → Building 1 (the most specific row); A2 has no media, so
        // no network: it falls in the null group.
        let keys: Vec<_> = g.iter().map(|g| g.key.clone()).collect();
        assert_eq!(keys, vec![None, Some("Building 1".into())]);
        assert_eq!(g[1].summary.streams.audio.total, 9);
        assert_eq!(g[0].summary.sessions.setup_failures, 1);
        let n = group_by(GroupKey::Network, &all, Some(&map), None, None);
        let keys: Vec<_> = n.iter().map(|g| g.key.clone()).collect();
        assert_eq!(
            keys,
            vec![Some("unknown/outside".into()), Some("wifi/inside".into())]
        );
        // Without building data everything is outside.
        let n = group_by(GroupKey::Network, &all, None, None, None);
        let keys: Vec<_> = n.iter().map(|g| g.key.clone()).collect();
        assert_eq!(
            keys,
            vec![Some("unknown/outside".into()), Some("wifi/outside".into())]
        );
    }

    #[test]
    fn group_keys_round_trip_and_week() {
        for k in GroupKey::ALL {
            assert_eq!(GroupKey::from_name(k.name()), Some(k));
        }
        assert_eq!(iso_week("2026-01-05").as_deref(), Some("2026-W02"));
        assert_eq!(iso_week("2027-01-01").as_deref(), Some("2026-W53"));
        let g = group_by(GroupKey::Month, &corpus(), None, None, None);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].key.as_deref(), Some("2026-01"));
        assert_eq!(g[0].summary.records, 3);
    }

    /// The synthetic generator's realistic corpus: a few % of classified audio streams are Poor, and every
    /// stream key is unique.
    #[test]
    fn synth_corpus_poor_audio_rate() {
        let cfg = callrecords_synth::GenConfig {
            seed: 42,
            ..callrecords_synth::GenConfig::default()
        };
        let mut ndjson = Vec::new();
        callrecords_synth::write_call_records(&cfg, 2_000, &mut ndjson).unwrap();
        let records: Vec<CallRecord> = ndjson
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(records.len(), 2_000);
        let latest = latest_versions(&records);
        assert!(
            latest.len() < records.len(),
            "the corpus has later versions"
        );
        let mut b = SummaryBuilder::new(None, None);
        let mut keys = std::collections::HashSet::new();
        let mut streams = 0usize;
        for r in &latest {
            let rows = record_rows(r, r.version.as_ref().copied().unwrap_or(0));
            streams += rows.streams.len();
            for s in &rows.streams {
                assert!(keys.insert(s.key.clone()), "duplicate key {:?}", s.key);
            }
            b.add_rows(&rows);
        }
        let s = b.finish();
        assert_eq!(s.records, latest.len() as u64);
        assert_eq!(keys.len(), streams);
        let audio = s.streams.audio;
        let rate = audio.poor_rate.unwrap();
        assert!(
            (0.01..=0.08).contains(&rate),
            "poor audio rate {rate}: {audio:?}"
        );
        assert!(audio.unclassified > 0, "{audio:?}");
        assert!(
            s.sessions.setup_failures > 0 && s.sessions.drop_failures > 0,
            "{:?}",
            s.sessions
        );
        // Each poor stream counts under at least one threshold.
        let d = audio.poor_due_to;
        let due = d.average_audio_degradation
            + d.average_round_trip_time
            + d.average_packet_loss_rate
            + d.average_jitter
            + d.average_ratio_of_concealed_samples;
        assert!(due >= audio.poor);
    }
}
