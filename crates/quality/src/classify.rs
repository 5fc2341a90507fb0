//! CQD's stream classifiers, exactly as `call-quality.md` states them.
//!
//! - Audio: Poor when ANY of five thresholds is exceeded (strict `>`); an audio stream with none of the five
//!   metrics present is Unclassified (`noMetrics`), not Good.
//! - Video and VBSS: the FIRST AVAILABLE metric, in the order frame loss % → frame rate → post-FEC packet
//!   loss, decides alone; none available → Unclassified (`noMetrics`).
//! - Application sharing (RDP): Graph does not expose the RDP metrics → Unclassified (`rdpNotExposed`).
//! - `data` is not a quality stream (`notAQualityStream`); any other label is Unclassified (`unknownLabel`).
//!
//! Durations are compared exactly: [`Duration`] keeps integer nanoseconds, and digits beyond the ninth
//! fractional digit (which the model truncates) are looked up in the original text, so `PT0.0300000001S`
//! is above 30 ms. Ratios are `f64` as the model parsed them from JSON (the nearest double to the decimal
//! text, which for every threshold here compares exactly as the decimal does: `0.1` is not `> 0.1`).

use callrecords_model::{Duration, Field, MediaStream};
use serde::Serialize;

use crate::kind::MediaKind;

/// A metric a classifier looks at. The JSON names are the Graph `mediaStream` property names (and the keys
/// of the summary's `poorDueTo` objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Metric {
    /// Audio: `averageAudioDegradation` > 1.0 (network MOS drop).
    AverageAudioDegradation,
    /// Audio: `averageRoundTripTime` > 500 ms.
    AverageRoundTripTime,
    /// Audio: `averagePacketLossRate` > 0.1.
    AveragePacketLossRate,
    /// Audio: `averageJitter` > 30 ms.
    AverageJitter,
    /// Audio: `averageRatioOfConcealedSamples` > 0.07.
    AverageRatioOfConcealedSamples,
    /// Video/VBSS, 1st: `averageVideoFrameLossPercentage` > 50.
    AverageVideoFrameLossPercentage,
    /// Video/VBSS, 2nd: `averageVideoFrameRate` < 7 (video) / < 2 (VBSS).
    AverageVideoFrameRate,
    /// Video/VBSS, 3rd: `postForwardErrorCorrectionPacketLossRate` > 0.15.
    PostForwardErrorCorrectionPacketLossRate,
}

impl Metric {
    /// Every metric, in declaration order (the bit order of [`MetricSet`]).
    pub const ALL: [Metric; 8] = [
        Metric::AverageAudioDegradation,
        Metric::AverageRoundTripTime,
        Metric::AveragePacketLossRate,
        Metric::AverageJitter,
        Metric::AverageRatioOfConcealedSamples,
        Metric::AverageVideoFrameLossPercentage,
        Metric::AverageVideoFrameRate,
        Metric::PostForwardErrorCorrectionPacketLossRate,
    ];
    /// The audio metrics, in CQD's table order.
    pub const AUDIO: [Metric; 5] = [
        Metric::AverageAudioDegradation,
        Metric::AverageRoundTripTime,
        Metric::AveragePacketLossRate,
        Metric::AverageJitter,
        Metric::AverageRatioOfConcealedSamples,
    ];
    /// The video/VBSS metrics, in the order in which the first available one decides.
    pub const VIDEO: [Metric; 3] = [
        Metric::AverageVideoFrameLossPercentage,
        Metric::AverageVideoFrameRate,
        Metric::PostForwardErrorCorrectionPacketLossRate,
    ];

    /// The Graph property name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::AverageAudioDegradation => "averageAudioDegradation",
            Metric::AverageRoundTripTime => "averageRoundTripTime",
            Metric::AveragePacketLossRate => "averagePacketLossRate",
            Metric::AverageJitter => "averageJitter",
            Metric::AverageRatioOfConcealedSamples => "averageRatioOfConcealedSamples",
            Metric::AverageVideoFrameLossPercentage => "averageVideoFrameLossPercentage",
            Metric::AverageVideoFrameRate => "averageVideoFrameRate",
            Metric::PostForwardErrorCorrectionPacketLossRate => {
                "postForwardErrorCorrectionPacketLossRate"
            }
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A small set of [`Metric`]s (the thresholds a Poor stream exceeded). Serializes as a list of names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MetricSet(u8);

impl MetricSet {
    /// The empty set.
    pub const EMPTY: MetricSet = MetricSet(0);
    /// Adds `m`.
    pub fn insert(&mut self, m: Metric) {
        self.0 |= m.bit();
    }
    /// Whether `m` is in the set.
    pub fn contains(self, m: Metric) -> bool {
        self.0 & m.bit() != 0
    }
    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Number of metrics in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    /// The metrics, in [`Metric::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Metric> {
        Metric::ALL.into_iter().filter(move |m| self.contains(*m))
    }
}

impl FromIterator<Metric> for MetricSet {
    fn from_iter<I: IntoIterator<Item = Metric>>(iter: I) -> Self {
        let mut s = MetricSet::EMPTY;
        for m in iter {
            s.insert(m);
        }
        s
    }
}

impl Serialize for MetricSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// CQD's three classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StreamClass {
    Good,
    Poor,
    Unclassified,
}

/// Why a stream is Unclassified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum UnclassifiedReason {
    /// None of the metrics the rule needs is present (no quality report, a very short call, too little
    /// packet utilisation such as a muted listener's outbound audio, or failed connectivity).
    NoMetrics,
    /// Application sharing (RDP): CQD classifies it by spoiled tile %, tile latency and relative one-way
    /// delay, none of which Graph exposes.
    RdpNotExposed,
    /// A `media.label` this code does not know (or no label at all): "unknown media label".
    UnknownLabel,
    /// `data`: a known label, but not a quality stream (kind Other). The spec reserves "unknown media
    /// label" for unknown labels, so `data` gets its own reason.
    NotAQualityStream,
}

/// A stream's class, with its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Classification {
    Good,
    /// The thresholds exceeded: every exceeded one for audio, the deciding one for video/VBSS.
    Poor(MetricSet),
    Unclassified(UnclassifiedReason),
}

impl Classification {
    /// The bare class.
    pub fn class(self) -> StreamClass {
        match self {
            Classification::Good => StreamClass::Good,
            Classification::Poor(_) => StreamClass::Poor,
            Classification::Unclassified(_) => StreamClass::Unclassified,
        }
    }
    /// The thresholds exceeded (empty unless Poor).
    pub fn poor_due_to(self) -> MetricSet {
        match self {
            Classification::Poor(m) => m,
            _ => MetricSet::EMPTY,
        }
    }
    /// The reason, when Unclassified.
    pub fn unclassified_reason(self) -> Option<UnclassifiedReason> {
        match self {
            Classification::Unclassified(r) => Some(r),
            _ => None,
        }
    }
    pub fn is_poor(self) -> bool {
        matches!(self, Classification::Poor(_))
    }
}

/// Serialized as `{"class": "poor", "poorDueTo": [...]}` / `{"class": "unclassified", "reason": "noMetrics"}`.
impl Serialize for Classification {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("class", &self.class())?;
        match self {
            Classification::Good => {}
            Classification::Poor(set) => m.serialize_entry("poorDueTo", set)?,
            Classification::Unclassified(r) => m.serialize_entry("reason", r)?,
        }
        m.end()
    }
}

/// Audio thresholds (exceeded when strictly greater).
pub const AUDIO_DEGRADATION_MAX: f64 = 1.0;
/// 500 ms in nanoseconds.
pub const AUDIO_ROUND_TRIP_MAX_NANOS: i128 = 500_000_000;
pub const AUDIO_PACKET_LOSS_MAX: f64 = 0.1;
/// 30 ms in nanoseconds.
pub const AUDIO_JITTER_MAX_NANOS: i128 = 30_000_000;
pub const AUDIO_CONCEALED_RATIO_MAX: f64 = 0.07;
/// Video/VBSS: frame loss % above this is Poor.
pub const VIDEO_FRAME_LOSS_PCT_MAX: f64 = 50.0;
/// Video: frame rate below this is Poor.
pub const VIDEO_FRAME_RATE_MIN: f64 = 7.0;
/// VBSS: frame rate below this is Poor.
pub const VBSS_FRAME_RATE_MIN: f64 = 2.0;
/// Video/VBSS: post-FEC packet loss above this is Poor.
pub const VIDEO_POST_FEC_LOSS_MAX: f64 = 0.15;

/// Whether `d` is strictly longer than `limit_nanos`, exactly (sub-nanosecond digits of the text count).
pub fn duration_exceeds(d: &Duration, limit_nanos: i128) -> bool {
    let n = d.nanos();
    if n != limit_nanos {
        return n > limit_nanos;
    }
    // Equal to the nanosecond: only digits past the ninth fractional digit can make it longer.
    if n < 0 || d.as_str().starts_with('-') {
        return false;
    }
    let raw = d.as_str();
    match (raw.find('.'), raw.rfind('S')) {
        (Some(dot), Some(end)) if dot < end => raw[dot + 1..end]
            .bytes()
            .skip(9)
            .any(|b| b.is_ascii_digit() && b != b'0'),
        _ => false,
    }
}

fn value<T>(f: &Field<T>) -> Option<&T> {
    f.as_ref()
}

/// Classifies one stream of a media of kind `kind`.
pub fn classify(kind: MediaKind, s: &MediaStream) -> Classification {
    match kind {
        MediaKind::Audio => classify_audio(s),
        MediaKind::Video => classify_video(s, VIDEO_FRAME_RATE_MIN),
        MediaKind::Vbss => classify_video(s, VBSS_FRAME_RATE_MIN),
        MediaKind::AppSharing => Classification::Unclassified(UnclassifiedReason::RdpNotExposed),
        MediaKind::Other { known: true } => {
            Classification::Unclassified(UnclassifiedReason::NotAQualityStream)
        }
        MediaKind::Other { known: false } => {
            Classification::Unclassified(UnclassifiedReason::UnknownLabel)
        }
    }
}

/// CQD's audio rule: Poor when ANY present metric exceeds its threshold; Unclassified when none is present.
pub fn classify_audio(s: &MediaStream) -> Classification {
    let mut present = false;
    let mut poor = MetricSet::EMPTY;
    let mut check = |m: Metric, exceeded: Option<bool>| {
        if let Some(e) = exceeded {
            present = true;
            if e {
                poor.insert(m);
            }
        }
    };
    check(
        Metric::AverageAudioDegradation,
        value(&s.average_audio_degradation).map(|v| *v > AUDIO_DEGRADATION_MAX),
    );
    check(
        Metric::AverageRoundTripTime,
        value(&s.average_round_trip_time).map(|d| duration_exceeds(d, AUDIO_ROUND_TRIP_MAX_NANOS)),
    );
    check(
        Metric::AveragePacketLossRate,
        value(&s.average_packet_loss_rate).map(|v| *v > AUDIO_PACKET_LOSS_MAX),
    );
    check(
        Metric::AverageJitter,
        value(&s.average_jitter).map(|d| duration_exceeds(d, AUDIO_JITTER_MAX_NANOS)),
    );
    check(
        Metric::AverageRatioOfConcealedSamples,
        value(&s.average_ratio_of_concealed_samples).map(|v| *v > AUDIO_CONCEALED_RATIO_MAX),
    );
    if !present {
        Classification::Unclassified(UnclassifiedReason::NoMetrics)
    } else if poor.is_empty() {
        Classification::Good
    } else {
        Classification::Poor(poor)
    }
}

/// CQD's ordered video rule (VBSS: `frame_rate_min` = 2): the first available metric decides alone.
pub fn classify_video(s: &MediaStream, frame_rate_min: f64) -> Classification {
    let verdict = |m: Metric, poor: bool| {
        if poor {
            Classification::Poor([m].into_iter().collect())
        } else {
            Classification::Good
        }
    };
    if let Some(v) = value(&s.average_video_frame_loss_percentage) {
        return verdict(
            Metric::AverageVideoFrameLossPercentage,
            *v > VIDEO_FRAME_LOSS_PCT_MAX,
        );
    }
    if let Some(v) = value(&s.average_video_frame_rate) {
        return verdict(Metric::AverageVideoFrameRate, *v < frame_rate_min);
    }
    if let Some(v) = value(&s.post_forward_error_correction_packet_loss_rate) {
        return verdict(
            Metric::PostForwardErrorCorrectionPacketLossRate,
            *v > VIDEO_POST_FEC_LOSS_MAX,
        );
    }
    Classification::Unclassified(UnclassifiedReason::NoMetrics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dur(s: &str) -> Field<Duration> {
        Field::Value(Duration::parse(s).unwrap())
    }

    fn audio() -> MediaStream {
        MediaStream::default()
    }

    fn c(s: &MediaStream) -> Classification {
        classify(MediaKind::Audio, s)
    }

    fn poor(ms: &[Metric]) -> Classification {
        Classification::Poor(ms.iter().copied().collect())
    }

    #[test]
    fn audio_jitter_boundary() {
        for (text, want) in [
            ("PT0.03S", Classification::Good),
            ("PT0.030S", Classification::Good),
            ("PT0.030000000S", Classification::Good),
            ("PT0.0300000000000S", Classification::Good),
            ("PT0.029999S", Classification::Good),
            ("PT0.030001S", poor(&[Metric::AverageJitter])),
            ("PT0.0300000001S", poor(&[Metric::AverageJitter])),
            ("PT0.030000001S", poor(&[Metric::AverageJitter])),
            ("PT0.031S", poor(&[Metric::AverageJitter])),
            ("PT1S", poor(&[Metric::AverageJitter])),
            ("PT0S", Classification::Good),
            ("-PT0.5S", Classification::Good),
        ] {
            let mut s = audio();
            s.average_jitter = dur(text);
            assert_eq!(c(&s), want, "{text}");
        }
    }

    #[test]
    fn audio_round_trip_boundary() {
        for (text, want) in [
            ("PT0.5S", Classification::Good),
            ("PT0.499999S", Classification::Good),
            ("PT0.500001S", poor(&[Metric::AverageRoundTripTime])),
            ("PT0.5000000001S", poor(&[Metric::AverageRoundTripTime])),
            ("PT1M", poor(&[Metric::AverageRoundTripTime])),
        ] {
            let mut s = audio();
            s.average_round_trip_time = dur(text);
            assert_eq!(c(&s), want, "{text}");
        }
    }

    #[test]
    fn audio_ratio_boundaries() {
        type Setter = fn(&mut MediaStream, f64);
        let cases: [(Metric, f64, Setter); 3] = [
            (Metric::AverageAudioDegradation, 1.0, |s, v| {
                s.average_audio_degradation = Field::Value(v)
            }),
            (Metric::AveragePacketLossRate, 0.1, |s, v| {
                s.average_packet_loss_rate = Field::Value(v)
            }),
            (Metric::AverageRatioOfConcealedSamples, 0.07, |s, v| {
                s.average_ratio_of_concealed_samples = Field::Value(v)
            }),
        ];
        for (m, limit, set) in cases {
            for (v, want) in [
                (limit, Classification::Good),
                (limit - 0.001, Classification::Good),
                (limit + 0.001, poor(&[m])),
                (limit.next_up(), poor(&[m])),
                (0.0, Classification::Good),
            ] {
                let mut s = audio();
                set(&mut s, v);
                assert_eq!(c(&s), want, "{m:?} = {v}");
            }
        }
    }

    #[test]
    fn audio_ratio_thresholds_from_json_text() {
        // The decimal text exactly at a threshold parses to the same double as the constant.
        for (json, want) in [
            (
                r#"{"averagePacketLossRate": 0.1, "averageRatioOfConcealedSamples": 0.07, "averageAudioDegradation": 1}"#,
                Classification::Good,
            ),
            (
                r#"{"averagePacketLossRate": 0.1000001}"#,
                poor(&[Metric::AveragePacketLossRate]),
            ),
            (
                r#"{"averageRatioOfConcealedSamples": 0.0700001}"#,
                poor(&[Metric::AverageRatioOfConcealedSamples]),
            ),
            (
                r#"{"averageAudioDegradation": 1.0000001}"#,
                poor(&[Metric::AverageAudioDegradation]),
            ),
        ] {
            let s: MediaStream = serde_json::from_str(json).unwrap();
            assert_eq!(c(&s), want, "{json}");
        }
    }

    #[test]
    fn audio_any_threshold_counts_all_exceeded() {
        let s: MediaStream = serde_json::from_str(
            r#"{"averageAudioDegradation": 2.5, "averageRoundTripTime": "PT0.6S",
                "averagePacketLossRate": 0.2, "averageJitter": "PT0.05S",
                "averageRatioOfConcealedSamples": 0.3}"#,
        )
        .unwrap();
        assert_eq!(c(&s), poor(&Metric::AUDIO));
        let s: MediaStream = serde_json::from_str(
            r#"{"averageAudioDegradation": 0.2, "averageRoundTripTime": "PT0.6S",
                "averagePacketLossRate": 0.01, "averageJitter": "PT0.005S",
                "averageRatioOfConcealedSamples": 0.08}"#,
        )
        .unwrap();
        assert_eq!(
            c(&s),
            poor(&[
                Metric::AverageRoundTripTime,
                Metric::AverageRatioOfConcealedSamples
            ])
        );
    }

    #[test]
    fn audio_without_metrics_is_unclassified_not_good() {
        let nm = Classification::Unclassified(UnclassifiedReason::NoMetrics);
        assert_eq!(c(&audio()), nm);
        // Explicit nulls are not metrics; other metrics (max jitter, bandwidth) are not CQD's five.
        let s: MediaStream = serde_json::from_str(
            r#"{"averageAudioDegradation": null, "averageJitter": null, "averageRoundTripTime": null,
                "averagePacketLossRate": null, "averageRatioOfConcealedSamples": null,
                "maxJitter": "PT0.5S", "maxPacketLossRate": 0.9, "packetUtilization": 0}"#,
        )
        .unwrap();
        assert_eq!(c(&s), nm);
        // One metric present and fine → Good.
        let mut s = audio();
        s.average_jitter = dur("PT0.001S");
        assert_eq!(c(&s), Classification::Good);
    }

    fn video(loss: Option<f64>, rate: Option<f64>, fec: Option<f64>) -> MediaStream {
        let f = |v: Option<f64>| v.map_or(Field::Null, Field::Value);
        MediaStream {
            average_video_frame_loss_percentage: f(loss),
            average_video_frame_rate: f(rate),
            post_forward_error_correction_packet_loss_rate: f(fec),
            ..MediaStream::default()
        }
    }

    #[test]
    fn video_first_available_metric_decides() {
        let loss = Metric::AverageVideoFrameLossPercentage;
        let rate = Metric::AverageVideoFrameRate;
        let fec = Metric::PostForwardErrorCorrectionPacketLossRate;
        let v = |s: &MediaStream| classify(MediaKind::Video, s);
        let b = |s: &MediaStream| classify(MediaKind::Vbss, s);
        // Frame loss decides even when frame rate and FEC say Poor.
        assert_eq!(
            v(&video(Some(10.0), Some(1.0), Some(0.9))),
            Classification::Good
        );
        assert_eq!(v(&video(Some(50.0), None, None)), Classification::Good);
        assert_eq!(v(&video(Some(50.001), None, None)), poor(&[loss]));
        assert_eq!(v(&video(Some(49.999), None, None)), Classification::Good);
        assert_eq!(v(&video(Some(60.0), Some(30.0), Some(0.0))), poor(&[loss]));
        // No frame loss: frame rate decides (< 7 video, < 2 VBSS).
        assert_eq!(v(&video(None, Some(7.0), Some(0.9))), Classification::Good);
        assert_eq!(v(&video(None, Some(6.999), None)), poor(&[rate]));
        assert_eq!(v(&video(None, Some(7.001), None)), Classification::Good);
        assert_eq!(b(&video(None, Some(2.0), None)), Classification::Good);
        assert_eq!(b(&video(None, Some(1.999), None)), poor(&[rate]));
        assert_eq!(b(&video(None, Some(2.001), None)), Classification::Good);
        assert_eq!(b(&video(None, Some(5.0), Some(0.9))), Classification::Good);
        // Only post-FEC loss.
        assert_eq!(v(&video(None, None, Some(0.15))), Classification::Good);
        assert_eq!(v(&video(None, None, Some(0.151))), poor(&[fec]));
        assert_eq!(v(&video(None, None, Some(0.149))), Classification::Good);
        assert_eq!(b(&video(None, None, Some(0.16))), poor(&[fec]));
        // Nothing.
        let nm = Classification::Unclassified(UnclassifiedReason::NoMetrics);
        assert_eq!(v(&video(None, None, None)), nm);
        assert_eq!(b(&video(None, None, None)), nm);
        // Audio metrics do not classify video.
        let mut s = video(None, None, None);
        s.average_jitter = dur("PT1S");
        assert_eq!(v(&s), nm);
    }

    #[test]
    fn other_kinds() {
        let s = video(Some(90.0), None, None);
        assert_eq!(
            classify(MediaKind::AppSharing, &s),
            Classification::Unclassified(UnclassifiedReason::RdpNotExposed)
        );
        assert_eq!(
            classify(MediaKind::Other { known: false }, &s),
            Classification::Unclassified(UnclassifiedReason::UnknownLabel)
        );
        assert_eq!(
            classify(MediaKind::Other { known: true }, &s),
            Classification::Unclassified(UnclassifiedReason::NotAQualityStream)
        );
    }

    #[test]
    fn serializes_with_reason() {
        let p = poor(&[Metric::AverageJitter, Metric::AverageAudioDegradation]);
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"class":"poor","poorDueTo":["averageAudioDegradation","averageJitter"]}"#
        );
        let u = Classification::Unclassified(UnclassifiedReason::RdpNotExposed);
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"class":"unclassified","reason":"rdpNotExposed"}"#
        );
    }

    proptest! {
        /// Jitter written with 12+ fractional digits: Poor exactly when the decimal exceeds 0.03 s.
        #[test]
        fn jitter_text_compares_as_decimal(micros in 25_000u64..35_000, extra in 0u32..1_000_000, digits in 0usize..4) {
            // micros µs + extra ps, written as seconds with 6 + 6 (+ trailing zeros) decimals.
            let text = format!("PT0.{micros:06}{extra:06}{}S", "0".repeat(digits));
            let total_ps = u128::from(micros) * 1_000_000 + u128::from(extra);
            let mut s = audio();
            s.average_jitter = dur(&format!("PT{}.{:012}S", total_ps / 1_000_000_000_000, total_ps % 1_000_000_000_000));
            let want = total_ps > 30_000_000_000;
            prop_assert_eq!(c(&s).is_poor(), want);
            let mut s2 = audio();
            s2.average_jitter = dur(&text);
            prop_assert_eq!(c(&s2).is_poor(), want);
        }

        /// Audio: Poor iff some present metric exceeds; the set is exactly the exceeded ones.
        #[test]
        fn audio_rule(deg in proptest::option::of(0.0f64..3.0), loss in proptest::option::of(0.0f64..0.3),
                      conc in proptest::option::of(0.0f64..0.2), jit in proptest::option::of(0i64..80),
                      rtt in proptest::option::of(0i64..900)) {
            let f = |v: Option<f64>| v.map_or(Field::Absent, Field::Value);
            let s = MediaStream {
                average_audio_degradation: f(deg),
                average_packet_loss_rate: f(loss),
                average_ratio_of_concealed_samples: f(conc),
                average_jitter: jit.map_or(Field::Absent, |ms| Field::Value(Duration::from_millis(ms))),
                average_round_trip_time: rtt.map_or(Field::Absent, |ms| Field::Value(Duration::from_millis(ms))),
                ..MediaStream::default()
            };
            let mut want = MetricSet::EMPTY;
            if deg.is_some_and(|v| v > 1.0) { want.insert(Metric::AverageAudioDegradation); }
            if loss.is_some_and(|v| v > 0.1) { want.insert(Metric::AveragePacketLossRate); }
            if conc.is_some_and(|v| v > 0.07) { want.insert(Metric::AverageRatioOfConcealedSamples); }
            if jit.is_some_and(|v| v > 30) { want.insert(Metric::AverageJitter); }
            if rtt.is_some_and(|v| v > 500) { want.insert(Metric::AverageRoundTripTime); }
            let any = deg.is_some() || loss.is_some() || conc.is_some() || jit.is_some() || rtt.is_some();
            let got = c(&s);
            if !any {
                prop_assert_eq!(got, Classification::Unclassified(UnclassifiedReason::NoMetrics));
            } else if want.is_empty() {
                prop_assert_eq!(got, Classification::Good);
            } else {
                prop_assert_eq!(got, Classification::Poor(want));
            }
        }
    }
}
