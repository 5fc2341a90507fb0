//! CQD's aggregates over stream and session rows: poor stream rates per kind, "poor due to" counters, poor
//! sessions and calls, setup and drop failure rates — in constant memory ([`SummaryBuilder`]) and grouped
//! by a slicer ([`GroupedSummaryBuilder`]).
//!
//! Summaries are over the LATEST version of each record: the builders count what they are given, so a
//! caller streaming records from storage passes each record once, at its newest version;
//! [`latest_versions`] does that for an in-memory slice.

use std::collections::{BTreeMap, HashMap};

use callrecords_model::CallRecord;
use serde::{Deserialize, Serialize};

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
    /// Microsoft's suggested targets for these figures ([`Targets::MICROSOFT`]), beside them.
    pub targets: Targets,
}

/// Microsoft's suggested targets (Teams Quality of Experience Review guide), as fractions: a figure at or
/// below its target meets it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Targets {
    /// `streams.audio.poorRate`, all streams: 3.0 %.
    pub audio_poor_rate: f64,
    /// `streams.audio.poorRate` of streams inside the corporate network: 2.0 %.
    pub audio_poor_rate_inside: f64,
    /// `sessions.setupFailureRate`: 1.0 %.
    pub setup_failure_rate: f64,
    /// `sessions.dropFailureRate`: 3.0 %.
    pub drop_failure_rate: f64,
}

impl Targets {
    pub const MICROSOFT: Targets = Targets {
        audio_poor_rate: 0.03,
        audio_poor_rate_inside: 0.02,
        setup_failure_rate: 0.01,
        drop_failure_rate: 0.03,
    };
}

impl Default for Targets {
    fn default() -> Self {
        Targets::MICROSOFT
    }
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Defines [`Counts`] from ONE list of its counters: the struct, its serde names, [`Counts::FIELDS`],
/// the array conversions, `add` and `sub` can never disagree on which counters exist.
macro_rules! counts {
    ($( $(#[$doc:meta])* $field:ident => $name:literal, )*) => {
        /// The additive part of a [`Summary`]: integer counters only, no rates, no window.
        ///
        /// A summary over records is the SUM of each record's contribution ([`record_contribution`],
        /// [`grouped_contributions`]), so a store can keep one `Counts` per record (and group), add them up
        /// with `SUM(…)` or [`Counts::add`], replace a record's old contribution with [`Counts::sub`] +
        /// [`Counts::add`], and turn the total into the API's JSON with [`Counts::summary`]; the result is
        /// exactly what [`SummaryBuilder`] / [`GroupedSummaryBuilder`] compute, since they are sums of the
        /// same contributions.
        ///
        /// Serialized as a flat object with the camelCase names of [`Counts::FIELDS`] (stable: renaming
        /// one is a breaking change of stored data); zero counters are left out, and missing ones read as
        /// zero. For one database column per counter use [`Counts::FIELDS`] with [`Counts::to_array`] /
        /// [`Counts::from_array`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
        #[serde(default)]
        pub struct Counts {
            $( $(#[$doc])* #[serde(rename = $name, skip_serializing_if = "is_zero")] pub $field: u64, )*
        }

        impl Counts {
            /// The serialized name of every counter, in [`Counts::to_array`] order.
            pub const FIELDS: [&'static str; COUNTS_LEN] = [$($name),*];

            /// The counters in [`Counts::FIELDS`] order.
            pub fn to_array(&self) -> [u64; COUNTS_LEN] {
                [$(self.$field),*]
            }

            /// The inverse of [`Counts::to_array`].
            pub fn from_array(a: [u64; COUNTS_LEN]) -> Counts {
                let [$($field),*] = a;
                Counts { $($field),* }
            }

            /// Adds `other`'s counters to these.
            pub fn add(&mut self, other: &Counts) {
                $( self.$field += other.$field; )*
            }

            /// Takes `other`'s counters away from these (a record's old contribution, before its new one
            /// is added). `None`, leaving `self` unchanged, when some counter of `other` is larger: `other`
            /// was never part of `self`.
            pub fn checked_sub(&mut self, other: &Counts) -> Option<()> {
                let out = Counts { $( $field: self.$field.checked_sub(other.$field)?, )* };
                *self = out;
                Some(())
            }

            /// [`Counts::checked_sub`] that panics when `other` was never part of `self` (a store bug).
            pub fn sub(&mut self, other: &Counts) {
                self.checked_sub(other)
                    .expect("Counts::sub: subtracting counts that were never added");
            }
        }
    };
}

/// Number of counters in [`Counts`].
pub const COUNTS_LEN: usize = 33;

/// Bump when what a record contributes changes (a classification rule, a grouping rule, a counter added):
/// contributions stored under another version must be recomputed from the records.
pub const CONTRIBUTION_VERSION: u32 = 2;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

counts! {
    /// Records (calls) counted; equals `callsTotal`.
    records => "records",
    /// Audio streams.
    audio_total => "audioTotal",
    audio_good => "audioGood",
    audio_poor => "audioPoor",
    audio_unclassified => "audioUnclassified",
    /// Poor audio streams over `averageAudioDegradation`'s threshold (a stream may count under several).
    audio_poor_degradation => "audioPoorDegradation",
    audio_poor_round_trip => "audioPoorRoundTrip",
    audio_poor_packet_loss => "audioPoorPacketLoss",
    audio_poor_jitter => "audioPoorJitter",
    audio_poor_concealed => "audioPoorConcealed",
    video_total => "videoTotal",
    video_good => "videoGood",
    video_poor => "videoPoor",
    video_unclassified => "videoUnclassified",
    /// Poor video streams decided by `averageVideoFrameLossPercentage`.
    video_poor_frame_loss => "videoPoorFrameLoss",
    video_poor_frame_rate => "videoPoorFrameRate",
    video_poor_post_fec_loss => "videoPoorPostFecLoss",
    vbss_total => "vbssTotal",
    vbss_good => "vbssGood",
    vbss_poor => "vbssPoor",
    vbss_unclassified => "vbssUnclassified",
    vbss_poor_frame_loss => "vbssPoorFrameLoss",
    vbss_poor_frame_rate => "vbssPoorFrameRate",
    vbss_poor_post_fec_loss => "vbssPoorPostFecLoss",
    app_sharing_total => "appSharingTotal",
    app_sharing_unclassified => "appSharingUnclassified",
    /// `data` and unknown labels.
    other_total => "otherTotal",
    sessions_total => "sessionsTotal",
    /// Sessions with at least one Poor audio stream (in the group).
    sessions_poor => "sessionsPoor",
    sessions_setup_failures => "sessionsSetupFailures",
    sessions_drop_failures => "sessionsDropFailures",
    calls_total => "callsTotal",
    /// Calls with at least one poor session (in the group).
    calls_poor => "callsPoor",
}

impl std::ops::AddAssign<&Counts> for Counts {
    fn add_assign(&mut self, other: &Counts) {
        self.add(other);
    }
}

impl std::ops::SubAssign<&Counts> for Counts {
    fn sub_assign(&mut self, other: &Counts) {
        self.sub(other);
    }
}

impl<'a> std::iter::Sum<&'a Counts> for Counts {
    fn sum<I: Iterator<Item = &'a Counts>>(iter: I) -> Counts {
        let mut c = Counts::default();
        for x in iter {
            c.add(x);
        }
        c
    }
}

impl std::iter::Sum<Counts> for Counts {
    fn sum<I: Iterator<Item = Counts>>(iter: I) -> Counts {
        let mut c = Counts::default();
        for x in iter {
            c.add(&x);
        }
        c
    }
}

impl Counts {
    fn stream(&mut self, r: &StreamRow) {
        let (total, good, poor, unclassified) = match r.kind {
            MediaKind::Audio => (
                &mut self.audio_total,
                &mut self.audio_good,
                &mut self.audio_poor,
                &mut self.audio_unclassified,
            ),
            MediaKind::Video => (
                &mut self.video_total,
                &mut self.video_good,
                &mut self.video_poor,
                &mut self.video_unclassified,
            ),
            MediaKind::Vbss => (
                &mut self.vbss_total,
                &mut self.vbss_good,
                &mut self.vbss_poor,
                &mut self.vbss_unclassified,
            ),
            MediaKind::AppSharing => {
                self.app_sharing_total += 1;
                self.app_sharing_unclassified += 1;
                return;
            }
            MediaKind::Other { .. } => {
                self.other_total += 1;
                return;
            }
        };
        *total += 1;
        match r.classification {
            Classification::Good => *good += 1,
            Classification::Poor(set) => {
                *poor += 1;
                for m in set.iter() {
                    if let Some(d) = self.poor_due_to(r.kind, m) {
                        *d += 1;
                    }
                }
            }
            Classification::Unclassified(_) => *unclassified += 1,
        }
    }

    /// The `poorDueTo` counter of `kind` for metric `m` (none for a metric of the other family).
    fn poor_due_to(&mut self, kind: MediaKind, m: Metric) -> Option<&mut u64> {
        use Metric as M;
        Some(match (kind, m) {
            (MediaKind::Audio, M::AverageAudioDegradation) => &mut self.audio_poor_degradation,
            (MediaKind::Audio, M::AverageRoundTripTime) => &mut self.audio_poor_round_trip,
            (MediaKind::Audio, M::AveragePacketLossRate) => &mut self.audio_poor_packet_loss,
            (MediaKind::Audio, M::AverageJitter) => &mut self.audio_poor_jitter,
            (MediaKind::Audio, M::AverageRatioOfConcealedSamples) => &mut self.audio_poor_concealed,
            (MediaKind::Video, M::AverageVideoFrameLossPercentage) => {
                &mut self.video_poor_frame_loss
            }
            (MediaKind::Video, M::AverageVideoFrameRate) => &mut self.video_poor_frame_rate,
            (MediaKind::Video, M::PostForwardErrorCorrectionPacketLossRate) => {
                &mut self.video_poor_post_fec_loss
            }
            (MediaKind::Vbss, M::AverageVideoFrameLossPercentage) => &mut self.vbss_poor_frame_loss,
            (MediaKind::Vbss, M::AverageVideoFrameRate) => &mut self.vbss_poor_frame_rate,
            (MediaKind::Vbss, M::PostForwardErrorCorrectionPacketLossRate) => {
                &mut self.vbss_poor_post_fec_loss
            }
            _ => return None,
        })
    }

    fn session(&mut self, r: &SessionRow, poor: bool) {
        self.sessions_total += 1;
        self.sessions_poor += u64::from(poor);
        self.sessions_setup_failures += u64::from(r.is_setup_failure());
        self.sessions_drop_failures += u64::from(r.is_drop_failure());
    }

    fn call(&mut self, poor: bool) {
        self.records += 1;
        self.calls_total += 1;
        self.calls_poor += u64::from(poor);
    }

    /// The API's [`Summary`] of these counters: rates computed here, `from`/`until` reported as given.
    pub fn summary(&self, from: Option<String>, until: Option<String>) -> Summary {
        fn kind<D>(
            total: u64,
            good: u64,
            poor: u64,
            unclassified: u64,
            poor_due_to: D,
        ) -> KindSummary<D> {
            KindSummary {
                total,
                good,
                poor,
                unclassified,
                poor_rate: ratio(poor, good + poor),
                poor_due_to,
            }
        }
        let c = self;
        Summary {
            from,
            until,
            records: c.records,
            streams: StreamsSummary {
                audio: kind(
                    c.audio_total,
                    c.audio_good,
                    c.audio_poor,
                    c.audio_unclassified,
                    AudioPoorDueTo {
                        average_audio_degradation: c.audio_poor_degradation,
                        average_round_trip_time: c.audio_poor_round_trip,
                        average_packet_loss_rate: c.audio_poor_packet_loss,
                        average_jitter: c.audio_poor_jitter,
                        average_ratio_of_concealed_samples: c.audio_poor_concealed,
                    },
                ),
                video: kind(
                    c.video_total,
                    c.video_good,
                    c.video_poor,
                    c.video_unclassified,
                    VideoPoorDueTo {
                        average_video_frame_loss_percentage: c.video_poor_frame_loss,
                        average_video_frame_rate: c.video_poor_frame_rate,
                        post_forward_error_correction_packet_loss_rate: c.video_poor_post_fec_loss,
                    },
                ),
                vbss: kind(
                    c.vbss_total,
                    c.vbss_good,
                    c.vbss_poor,
                    c.vbss_unclassified,
                    VideoPoorDueTo {
                        average_video_frame_loss_percentage: c.vbss_poor_frame_loss,
                        average_video_frame_rate: c.vbss_poor_frame_rate,
                        post_forward_error_correction_packet_loss_rate: c.vbss_poor_post_fec_loss,
                    },
                ),
                app_sharing: AppSharingSummary {
                    total: c.app_sharing_total,
                    unclassified: c.app_sharing_unclassified,
                },
                other: OtherSummary {
                    total: c.other_total,
                },
            },
            sessions: SessionsSummary {
                total: c.sessions_total,
                poor: c.sessions_poor,
                setup_failures: c.sessions_setup_failures,
                drop_failures: c.sessions_drop_failures,
                setup_failure_rate: ratio(c.sessions_setup_failures, c.sessions_total),
                drop_failure_rate: ratio(
                    c.sessions_drop_failures,
                    c.sessions_total - c.sessions_setup_failures,
                ),
            },
            calls: CallsSummary {
                total: c.calls_total,
                poor: c.calls_poor,
                poor_rate: ratio(c.calls_poor, c.calls_total),
            },
            targets: Targets::MICROSOFT,
        }
    }
}

/// THE rule for how one record counts, overall and under a group — the only aggregation code path: the
/// builders, [`record_contribution`] and [`grouped_contributions`] all come here. (The rule is repeated in
/// [`GroupedSummaryBuilder`]'s docs.)
///
/// Each stream goes to its key's group; a session goes to every group one of its streams went to (to its
/// own key's group when it has no stream, as setup failures usually have none) and is poor there when one
/// of its audio streams IN THAT GROUP is poor; the call goes to every group one of its sessions went to,
/// poor there when one of its sessions is poor there; a record without sessions is one (not poor) call in
/// the `empty` group. With a single group this is exactly CQD's definitions (a leg is poor when one of its
/// audio streams is; a call when one of its legs is). So a record's session or call may count in several
/// groups of one grouping, and group totals may add up to more than the overall summary.
fn distribute<K: Ord + Clone>(
    rows: &RecordRows,
    stream_key: impl Fn(&StreamRow) -> K,
    session_key: impl Fn(&SessionRow) -> K,
    empty: K,
) -> BTreeMap<K, Counts> {
    let mut groups: BTreeMap<K, Counts> = BTreeMap::new();
    let mut per_session: BTreeMap<u32, BTreeMap<K, bool>> = BTreeMap::new();
    for r in &rows.streams {
        let k = stream_key(r);
        let poor = r.kind == MediaKind::Audio && r.classification.is_poor();
        *per_session
            .entry(r.key.session_ordinal)
            .or_default()
            .entry(k.clone())
            .or_default() |= poor;
        groups.entry(k).or_default().stream(r);
    }
    let mut per_call: BTreeMap<K, bool> = BTreeMap::new();
    for s in &rows.sessions {
        let keys = per_session
            .remove(&s.session_ordinal)
            .unwrap_or_else(|| BTreeMap::from([(session_key(s), false)]));
        for (k, poor) in keys {
            *per_call.entry(k.clone()).or_default() |= poor;
            groups.entry(k).or_default().session(s, poor);
        }
    }
    if rows.sessions.is_empty() {
        per_call.insert(empty, false);
    }
    for (k, poor) in per_call {
        groups.entry(k).or_default().call(poor);
    }
    groups
}

/// What ONE record (its rows, at its latest version) adds to the overall [`Summary`]. Summing this over
/// records gives exactly [`SummaryBuilder`]'s counters (the builder is that sum).
pub fn record_contribution(rows: &RecordRows) -> Counts {
    distribute(rows, |_| (), |_| (), ())
        .remove(&())
        .unwrap_or_default()
}

/// What ONE record adds to each group of a summary grouped by `key`: one entry per group the record
/// counts in (see [`GroupedSummaryBuilder`] for the rule), ordered by group key (`None`, the JSON `null`
/// group, first). The group key is [`Group::key`] (serialized as the group's `"key"`: a string or `null`).
///
/// With `buildings`, the building data is applied to (a copy of) the rows first, as
/// [`GroupedSummaryBuilder::add_record`] does; with `None` the rows are used as they are (buildings
/// possibly applied by the caller). Only [`GroupKey::Building`] and [`GroupKey::Network`] depend on it.
/// Summing these per group over records gives exactly [`GroupedSummaryBuilder`]'s groups.
pub fn grouped_contributions(
    rows: &RecordRows,
    key: GroupKey,
    buildings: Option<&BuildingMap>,
) -> Vec<(Option<String>, Counts)> {
    let applied;
    let rows = match buildings {
        Some(b) => {
            let mut r = rows.clone();
            b.apply_rows(&mut r);
            applied = r;
            &applied
        }
        None => rows,
    };
    distribute(rows, |r| key.for_stream(r), |s| key.for_session(s), None)
        .into_iter()
        .collect()
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

    /// Adds the rows of ONE record (as [`record_rows`] made them, possibly read back from storage): its
    /// [`record_contribution`].
    pub fn add_rows(&mut self, rows: &RecordRows) {
        self.counts.add(&record_contribution(rows));
    }

    /// Adds counters computed elsewhere (stored contributions, or their sum).
    pub fn add_counts(&mut self, counts: &Counts) {
        self.counts.add(counts);
    }

    /// The counters so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub fn finish(self) -> Summary {
        self.counts.summary(self.from, self.until)
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
    /// The user feedback rating (`feedback.rating`: `bad`, `poor`, `fair`, `good`, `excellent`,
    /// `notRated`…) given at the row's endpoint; `null` when that endpoint gave none.
    Feedback,
}

impl GroupKey {
    pub const ALL: [GroupKey; 12] = [
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
        GroupKey::Feedback,
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
            GroupKey::Feedback => "feedback",
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
            GroupKey::Feedback => e.feedback_rating.clone(),
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
///
/// How a record counts under a group: each stream goes to its key's group; a session goes to every group
/// one of its streams went to (to its own key's group when it has no stream, as setup failures usually
/// have none) and is poor there when one of its audio streams IN THAT GROUP is poor; the call (and the
/// record) goes to every group one of its sessions went to, poor there when one of its sessions is poor
/// there; a record without sessions is one call in the `null` group. So one session or call may count in
/// several groups, and the groups' totals may add up to more than the overall [`Summary`]'s. The builder
/// is the sum of each record's [`grouped_contributions`].
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

    /// Adds the rows of ONE record (buildings already applied by the caller if wanted): its
    /// [`grouped_contributions`].
    pub fn add_rows(&mut self, rows: &RecordRows) {
        for (k, c) in grouped_contributions(rows, self.key, None) {
            self.add_counts(k, &c);
        }
    }

    /// Adds counters computed elsewhere to group `key` (stored contributions, or their sum per group).
    pub fn add_counts(&mut self, key: Option<String>, counts: &Counts) {
        self.groups.entry(key).or_default().add(counts);
    }

    /// The counters per group so far, ordered by key (`None` first).
    pub fn counts(&self) -> &BTreeMap<Option<String>, Counts> {
        &self.groups
    }

    /// The groups, ordered by key (`null` first).
    pub fn finish(self) -> Vec<Group> {
        self.groups
            .into_iter()
            .map(|(key, c)| Group {
                key,
                summary: c.summary(self.from.clone(), self.until.clone()),
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
    use crate::classify::StreamClass;
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
            "calls": {"total": 3, "poor": 2, "poorRate": 2.0 / 3.0},
            "targets": {"audioPoorRate": 0.03, "audioPoorRateInside": 0.02,
                        "setupFailureRate": 0.01, "dropFailureRate": 0.03}
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

    fn synth(seed: u64, n: u64) -> Vec<CallRecord> {
        let cfg = callrecords_synth::GenConfig {
            seed,
            ..callrecords_synth::GenConfig::default()
        };
        let mut ndjson = Vec::new();
        callrecords_synth::write_call_records(&cfg, n, &mut ndjson).unwrap();
        ndjson
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    /// Covers every synthetic office subnet (10.x), one site more specifically and with VPN set.
    fn synth_buildings() -> BuildingMap {
        BuildingMap::parse(
            "10.0.0.0,Corp,8,Corp,o,t,ot,Seattle,z,US,WA,NA,1,0\n\
             10.10.0.0,Site 1,16,Site 1,o,t,ot,Seattle,z,US,WA,NA,1,0,1\n",
        )
        .unwrap()
    }

    /// The pre-aggregation contract: for every grouping (with and without building data), summing each
    /// record's contribution gives exactly the builders' numbers, and the overall numbers agree with a
    /// direct count over the rows.
    #[test]
    fn contributions_sum_to_the_builders() {
        let map = synth_buildings();
        for seed in [1, 7, 42] {
            let all = synth(seed, 500);
            let latest = latest_versions(&all);
            let rows: Vec<RecordRows> = latest
                .iter()
                .map(|r| record_rows(r, version_of(r)))
                .collect();

            let mut b = SummaryBuilder::new(None, Some("u".into()));
            for r in &latest {
                b.add_record(r);
            }
            let sum: Counts = rows.iter().map(record_contribution).sum();
            assert_eq!(&sum, b.counts());
            let want = b.finish();
            assert_eq!(sum.summary(None, Some("u".into())), want);
            assert_eq!(
                serde_json::to_value(sum.summary(None, Some("u".into()))).unwrap(),
                serde_json::to_value(&want).unwrap()
            );

            // Independently of `distribute`: streams by kind and class, sessions by their own `poor`
            // flag, calls poor when one of their sessions is.
            let mut direct = Counts::default();
            for r in &rows {
                for s in &r.streams {
                    match (s.kind, s.classification.class()) {
                        (MediaKind::Audio, c) => {
                            direct.audio_total += 1;
                            direct.audio_good += u64::from(c == StreamClass::Good);
                            direct.audio_poor += u64::from(c == StreamClass::Poor);
                        }
                        (MediaKind::Video, _) => direct.video_total += 1,
                        (MediaKind::Vbss, _) => direct.vbss_total += 1,
                        (MediaKind::AppSharing, _) => direct.app_sharing_total += 1,
                        (MediaKind::Other { .. }, _) => direct.other_total += 1,
                    }
                }
                direct.sessions_total += r.sessions.len() as u64;
                direct.sessions_poor += r.sessions.iter().filter(|s| s.poor).count() as u64;
                direct.calls_total += 1;
                direct.calls_poor += u64::from(r.sessions.iter().any(|s| s.poor));
            }
            assert_eq!(
                (
                    sum.audio_total,
                    sum.audio_good,
                    sum.audio_poor,
                    sum.video_total,
                    sum.vbss_total,
                    sum.app_sharing_total,
                    sum.other_total
                ),
                (
                    direct.audio_total,
                    direct.audio_good,
                    direct.audio_poor,
                    direct.video_total,
                    direct.vbss_total,
                    direct.app_sharing_total,
                    direct.other_total
                )
            );
            assert_eq!(
                (
                    sum.sessions_total,
                    sum.sessions_poor,
                    sum.calls_total,
                    sum.calls_poor
                ),
                (
                    direct.sessions_total,
                    direct.sessions_poor,
                    direct.calls_total,
                    direct.calls_poor
                )
            );
            assert_eq!(sum.records, latest.len() as u64);
            assert!(sum.audio_poor > 0 && sum.sessions_setup_failures > 0);

            // `add_record` = rows + buildings + `add_rows`.
            let applied: Vec<RecordRows> = rows
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    map.apply_rows(&mut r);
                    r
                })
                .collect();
            let mut by_record =
                GroupedSummaryBuilder::new(GroupKey::Building, Some(&map), None, None);
            let mut by_rows = GroupedSummaryBuilder::new(GroupKey::Building, None, None, None);
            for (r, a) in latest.iter().zip(&applied) {
                by_record.add_record(r);
                by_rows.add_rows(a);
            }
            assert_eq!(by_record.finish(), by_rows.finish());

            for key in GroupKey::ALL {
                for buildings in [None, Some(&map)] {
                    let mut b = GroupedSummaryBuilder::new(key, buildings, Some("f".into()), None);
                    for r in if buildings.is_some() { &applied } else { &rows } {
                        b.add_rows(r);
                    }
                    let mut sums: BTreeMap<Option<String>, Counts> = BTreeMap::new();
                    for r in &rows {
                        let c = grouped_contributions(r, key, buildings);
                        assert!(c.windows(2).all(|w| w[0].0 < w[1].0), "one entry per group");
                        for (k, c) in c {
                            sums.entry(k).or_default().add(&c);
                        }
                    }
                    assert_eq!(&sums, b.counts(), "{key:?}");
                    let got: Vec<Group> = sums
                        .into_iter()
                        .map(|(key, c)| Group {
                            key,
                            summary: c.summary(Some("f".into()), None),
                        })
                        .collect();
                    let want = b.finish();
                    assert_eq!(got, want, "{key:?}");
                    // Streams are partitioned by the groups; sessions and calls may count in several.
                    let streams: u64 = want.iter().map(|g| g.summary.streams.audio.total).sum();
                    assert_eq!(streams, direct.audio_total, "{key:?}");
                    let calls: u64 = want.iter().map(|g| g.summary.calls.total).sum();
                    assert!(calls >= direct.calls_total, "{key:?}");
                }
            }
        }
    }

    /// The store's change feed: every version of every record arrives in turn; a newer version's
    /// contribution replaces the older one's (sub, then add). The running totals end exactly at the
    /// builder's numbers over the latest versions, and add-then-sub restores the previous counts.
    #[test]
    fn replacing_contributions_follows_the_latest_versions() {
        for seed in [3, 42] {
            let all = synth(seed, 500);
            let mut total = Counts::default();
            let mut by_day: BTreeMap<Option<String>, Counts> = BTreeMap::new();
            type Stored = (i64, Counts, Vec<(Option<String>, Counts)>);
            let mut stored: HashMap<String, Stored> = HashMap::new();
            let mut replaced = 0;
            for r in &all {
                let id = r.id.as_ref().cloned().unwrap_or_default();
                let v = version_of(r);
                let rows = record_rows(r, v);
                let c = record_contribution(&rows);
                let g = grouped_contributions(&rows, GroupKey::Day, None);

                let before = total;
                total.add(&c);
                let mut undo = total;
                undo.sub(&c);
                assert_eq!(undo, before);

                if let Some((old_v, old_c, old_g)) = stored.get(&id) {
                    if *old_v > v {
                        total.sub(&c);
                        continue;
                    }
                    replaced += 1;
                    total.sub(old_c);
                    for (k, c) in old_g {
                        let e = by_day.get_mut(k).unwrap();
                        e.sub(c);
                        if *e == Counts::default() {
                            by_day.remove(k);
                        }
                    }
                }
                for (k, c) in &g {
                    by_day.entry(k.clone()).or_default().add(c);
                }
                stored.insert(id, (v, c, g));
            }
            assert!(replaced > 0, "the corpus has later versions");
            assert_eq!(total.summary(None, None), summarize(&all, None, None));
            let mut want = GroupedSummaryBuilder::new(GroupKey::Day, None, None, None);
            for r in latest_versions(&all) {
                want.add_record(r);
            }
            assert_eq!(&by_day, want.counts());
            let mut bad = Counts::default();
            assert_eq!(bad.checked_sub(&total), None);
            assert_eq!(bad, Counts::default());
        }
    }

    #[test]
    fn counts_serialize_flat_and_compact() {
        assert_eq!(serde_json::to_string(&Counts::default()).unwrap(), "{}");
        let c = Counts {
            records: 1,
            calls_total: 1,
            audio_poor_jitter: 2,
            sessions_drop_failures: 3,
            ..Counts::default()
        };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(
            text,
            r#"{"records":1,"audioPoorJitter":2,"sessionsDropFailures":3,"callsTotal":1}"#
        );
        assert_eq!(serde_json::from_str::<Counts>(&text).unwrap(), c);
        assert_eq!(
            serde_json::from_str::<Counts>("{}").unwrap(),
            Counts::default()
        );
        let a = c.to_array();
        assert_eq!(Counts::from_array(a), c);
        let mut names = std::collections::HashSet::new();
        for (i, name) in Counts::FIELDS.iter().enumerate() {
            assert!(names.insert(*name), "{name}");
            let mut one = [0; COUNTS_LEN];
            one[i] = 7;
            let v = serde_json::to_value(Counts::from_array(one)).unwrap();
            assert_eq!(v, json!({ *name: 7 }));
        }
        // Every counter reaches the summary: a counts with all ones shows no zero counter.
        let ones = Counts::from_array([1; COUNTS_LEN]);
        let v = serde_json::to_value(ones.summary(None, None)).unwrap();
        fn no_zero(v: &Value) -> bool {
            match v {
                Value::Object(m) => m.values().all(no_zero),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            }
        }
        assert!(no_zero(&v), "{v}");
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
