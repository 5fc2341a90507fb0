#![doc = include_str!("../../../docs/export.md")]
//!
//! # API
//!
//! [`CsvWriter`], [`NdjsonWriter`] and [`ParquetWriter`] take rows one at a time ([`ExportRow`]:
//! [`StreamRow`] and [`SessionRow`]) and keep at most one row (CSV, NDJSON) or one row group (Parquet,
//! [`DEFAULT_ROW_GROUP_ROWS`] rows) in memory; [`write_csv`], [`write_ndjson`] and [`write_parquet`] drain
//! an iterator. [`ExportRow::columns`] is the column list the CSV and Parquet writers and this document
//! share ([`columns_markdown`] renders the tables above from it, and a test keeps `EXPORT.md` equal).

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;

use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use serde::Serialize;

use crate::buildings::Building;
use crate::classify::Classification;
use crate::rows::{
    CallSlicers, Corp, EndpointSlicers, Party, SessionRow, Side, StreamKey, StreamMetrics,
    StreamRow,
};

/// Rows per Parquet row group unless told otherwise: bounds the writer's memory.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 65_536;

/// A column's type, as written to Parquet (CSV writes every type as text, see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// Text: Parquet `BYTE_ARRAY` with logical type `STRING` (UTF8), dictionary-encoded.
    Utf8,
    /// Parquet `INT64`.
    Int64,
    /// Parquet `DOUBLE`.
    Double,
    /// Parquet `BOOLEAN`.
    Boolean,
    /// Parquet `INT64` with logical type `TIMESTAMP(isAdjustedToUTC = true, MICROS)`; the RFC 3339 text
    /// (as received) in CSV.
    Timestamp,
}

impl ColumnType {
    /// The name used in `EXPORT.md`.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Utf8 => "UTF8",
            ColumnType::Int64 => "INT64",
            ColumnType::Double => "DOUBLE",
            ColumnType::Boolean => "BOOLEAN",
            ColumnType::Timestamp => "TIMESTAMP(MICROS, UTC)",
        }
    }
}

/// One value of a row in one column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// Absent: Parquet null, empty CSV field.
    Null,
    Str(Cow<'a, str>),
    Int(i64),
    Double(f64),
    Bool(bool),
    /// RFC 3339 text as received.
    Timestamp(&'a str),
}

type Getter<R> = Box<dyn for<'r> Fn(&'r R) -> Cell<'r> + Send + Sync>;

/// One exported column: name, type, whether it can be null, meaning, and how to read it off a row.
pub struct Column<R> {
    name: String,
    ty: ColumnType,
    nullable: bool,
    doc: String,
    get: Getter<R>,
}

impl<R> fmt::Debug for Column<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Column")
            .field("name", &self.name)
            .field("ty", &self.ty)
            .field("nullable", &self.nullable)
            .finish_non_exhaustive()
    }
}

impl<R> Column<R> {
    /// The snake_case column name (CSV header, Parquet field).
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn ty(&self) -> ColumnType {
        self.ty
    }
    /// Whether the column can be absent (Parquet `OPTIONAL`); the others are `REQUIRED`.
    pub fn nullable(&self) -> bool {
        self.nullable
    }
    /// What the column means (one sentence, for `EXPORT.md`).
    pub fn doc(&self) -> &str {
        &self.doc
    }
    /// This column's value in `row`.
    pub fn cell<'r>(&self, row: &'r R) -> Cell<'r> {
        (self.get)(row)
    }
}

fn col<R>(
    name: impl Into<String>,
    ty: ColumnType,
    nullable: bool,
    doc: impl Into<String>,
    get: impl for<'r> Fn(&'r R) -> Cell<'r> + Send + Sync + 'static,
) -> Column<R> {
    Column {
        name: name.into(),
        ty,
        nullable,
        doc: doc.into(),
        get: Box::new(get),
    }
}

fn s(v: &Option<String>) -> Cell<'_> {
    v.as_deref()
        .map_or(Cell::Null, |s| Cell::Str(Cow::Borrowed(s)))
}
fn st(v: &'static str) -> Cell<'static> {
    Cell::Str(Cow::Borrowed(v))
}
fn ts(v: &Option<String>) -> Cell<'_> {
    v.as_deref().map_or(Cell::Null, Cell::Timestamp)
}
fn f(v: Option<f64>) -> Cell<'static> {
    v.map_or(Cell::Null, Cell::Double)
}
fn b(v: Option<bool>) -> Cell<'static> {
    v.map_or(Cell::Null, Cell::Bool)
}
fn i(v: Option<i64>) -> Cell<'static> {
    v.map_or(Cell::Null, Cell::Int)
}

/// A row type the writers can export.
pub trait ExportRow: Serialize {
    /// The columns, in file order.
    fn columns() -> Vec<Column<Self>>
    where
        Self: Sized;
}

impl ExportRow for StreamRow {
    fn columns() -> Vec<Column<Self>> {
        stream_columns()
    }
}

impl ExportRow for SessionRow {
    fn columns() -> Vec<Column<Self>> {
        session_columns()
    }
}

fn key_columns<R: 'static>(k: fn(&R) -> &StreamKey) -> Vec<Column<R>> {
    use ColumnType::*;
    vec![
        col("record_id", Utf8, false, "`callRecord.id`.", move |r| {
            Cell::Str(Cow::Borrowed(&k(r).record_id))
        }),
        col(
            "record_version",
            Int64,
            false,
            "`callRecord.version` the row was derived from.",
            move |r| Cell::Int(k(r).record_version),
        ),
        col(
            "session_ordinal",
            Int64,
            false,
            "0-based position of the session in the record's `sessions`.",
            move |r| Cell::Int(k(r).session_ordinal.into()),
        ),
        col("session_id", Utf8, true, "`session.id`.", move |r| {
            s(&k(r).session_id)
        }),
        col(
            "segment_ordinal",
            Int64,
            false,
            "0-based position of the segment in the session's `segments`.",
            move |r| Cell::Int(k(r).segment_ordinal.into()),
        ),
        col("segment_id", Utf8, true, "`segment.id`.", move |r| {
            s(&k(r).segment_id)
        }),
        col(
            "media_ordinal",
            Int64,
            false,
            "0-based position of the media in the segment's `media`.",
            move |r| Cell::Int(k(r).media_ordinal.into()),
        ),
        col(
            "media_label",
            Utf8,
            true,
            "`media.label` as received (`main-audio`, `main-video`, `applicationsharing-video`, `data`…).",
            move |r| s(&k(r).media_label),
        ),
        col(
            "stream_ordinal",
            Int64,
            false,
            "0-based position of the stream in the media's `streams`.",
            move |r| Cell::Int(k(r).stream_ordinal.into()),
        ),
        col(
            "stream_id",
            Utf8,
            true,
            "`mediaStream.streamId`.",
            move |r| s(&k(r).stream_id),
        ),
        col(
            "direction",
            Utf8,
            true,
            "`mediaStream.streamDirection`: `callerToCallee` or `calleeToCaller`.",
            move |r| s(&k(r).direction),
        ),
    ]
}

fn call_columns<R: 'static>(c: fn(&R) -> &CallSlicers) -> Vec<Column<R>> {
    use ColumnType::*;
    vec![
        col(
            "call_type",
            Utf8,
            true,
            "`callRecord.type`: `groupCall`, `peerToPeer`, `unknown`.",
            move |r| s(&c(r).call_type),
        ),
        col(
            "join_web_url",
            Utf8,
            true,
            "`callRecord.joinWebUrl`: the meeting.",
            move |r| s(&c(r).join_web_url),
        ),
        col(
            "organizer_id",
            Utf8,
            true,
            "`organizer_v2.id`, else the `organizer` identity set's user id.",
            move |r| s(&c(r).organizer_id),
        ),
    ]
}

fn party_columns<R: 'static>(who: &str, p: fn(&R) -> &Party) -> Vec<Column<R>> {
    use ColumnType::*;
    vec![
        col(
            format!("{who}_id"),
            Utf8,
            true,
            format!(
                "The session {who}'s `associatedIdentity.id`, else its identity set's user / application / device id."
            ),
            move |r| s(&p(r).id),
        ),
        col(
            format!("{who}_upn"),
            Utf8,
            true,
            format!("The session {who}'s `userPrincipalName`."),
            move |r| s(&p(r).upn),
        ),
        col(
            format!("{who}_display_name"),
            Utf8,
            true,
            format!("The session {who}'s `displayName`."),
            move |r| s(&p(r).display_name),
        ),
        col(
            format!("{who}_is_user"),
            Boolean,
            false,
            format!(
                "Whether the session {who} is a `participantEndpoint` (a user's device) rather than a service."
            ),
            move |r| Cell::Bool(p(r).is_user),
        ),
        col(
            format!("{who}_service_role"),
            Utf8,
            true,
            format!(
                "For a service {who}: `serviceUserAgent.role` (e.g. `skypeForBusinessAutoAttendant`)."
            ),
            move |r| s(&p(r).service_role),
        ),
    ]
}

fn building_str<R: 'static>(
    name: &str,
    doc: &str,
    e: fn(&R) -> &EndpointSlicers,
    field: fn(&Building) -> &str,
) -> Column<R> {
    col(
        name,
        ColumnType::Utf8,
        true,
        format!("{doc} of the building row covering the endpoint's subnet; empty without one."),
        move |r| {
            e(r).building
                .as_ref()
                .map_or(Cell::Null, |b| Cell::Str(Cow::Borrowed(field(b))))
        },
    )
}

fn endpoint_columns<R: 'static>(e: fn(&R) -> &EndpointSlicers) -> Vec<Column<R>> {
    use ColumnType::*;
    let mut v = vec![
        col(
            "side",
            Utf8,
            false,
            "Which endpoint the following columns describe: `caller` or `callee` (see the rows' docs).",
            move |r| {
                st(match e(r).side {
                    Side::Caller => "caller",
                    Side::Callee => "callee",
                })
            },
        ),
        col("subnet", Utf8, true, "`networkInfo.subnet`.", move |r| {
            s(&e(r).subnet)
        }),
        col(
            "ip_address",
            Utf8,
            true,
            "`networkInfo.ipAddress`.",
            move |r| s(&e(r).ip_address),
        ),
        col(
            "connection_type",
            Utf8,
            true,
            "`networkInfo.connectionType`, e.g. `wired`, `wifi`, `mobile`, `tunnel`, `unknown`.",
            move |r| s(&e(r).connection_type),
        ),
        col(
            "wifi_band",
            Utf8,
            true,
            "`networkInfo.wifiBand`.",
            move |r| s(&e(r).wifi_band),
        ),
        col(
            "transport",
            Utf8,
            true,
            "`networkInfo.networkTransportProtocol`: `udp`, `tcp`, `unknown`.",
            move |r| s(&e(r).transport),
        ),
        col(
            "platform",
            Utf8,
            true,
            "`clientUserAgent.platform`.",
            move |r| s(&e(r).platform),
        ),
        col(
            "product_family",
            Utf8,
            true,
            "`clientUserAgent.productFamily`.",
            move |r| s(&e(r).product_family),
        ),
        col(
            "client_version",
            Utf8,
            true,
            "`userAgent.applicationVersion`.",
            move |r| s(&e(r).client_version),
        ),
        col(
            "capture_device",
            Utf8,
            true,
            "`deviceInfo.captureDeviceName` (microphone / camera).",
            move |r| s(&e(r).capture_device),
        ),
        col(
            "render_device",
            Utf8,
            true,
            "`deviceInfo.renderDeviceName` (speaker).",
            move |r| s(&e(r).render_device),
        ),
        col(
            "feedback_rating",
            Utf8,
            true,
            "`feedback.rating` of this side's session endpoint.",
            move |r| s(&e(r).feedback_rating),
        ),
        col(
            "building_network",
            Utf8,
            true,
            "`NetworkIP/NetworkRange` (CIDR) of the building row covering the endpoint's subnet (else IP address); empty without one.",
            move |r| {
                e(r).building
                    .as_ref()
                    .map_or(Cell::Null, |b| Cell::Str(Cow::Owned(b.network.to_string())))
            },
        ),
    ];
    v.push(building_str("network_name", "`NetworkName`", e, |b| {
        &b.network_name
    }));
    v.push(building_str("building_name", "`BuildingName`", e, |b| {
        &b.building_name
    }));
    v.push(building_str("ownership_type", "`OwnershipType`", e, |b| {
        &b.ownership_type
    }));
    v.push(building_str("building_type", "`BuildingType`", e, |b| {
        &b.building_type
    }));
    v.push(building_str(
        "building_office_type",
        "`BuildingOfficeType`",
        e,
        |b| &b.building_office_type,
    ));
    v.push(building_str("city", "`City`", e, |b| &b.city));
    v.push(building_str("zip_code", "`ZipCode`", e, |b| &b.zip_code));
    v.push(building_str("country", "`Country`", e, |b| &b.country));
    v.push(building_str("state", "`State`", e, |b| &b.state));
    v.push(building_str("region", "`Region`", e, |b| &b.region));
    v.extend([
        col(
            "corp",
            Utf8,
            false,
            "`inside` or `outside` the corporate network, by the building row's `InsideCorp`; `outside` without building data or row.",
            move |r| {
                st(match e(r).corp {
                    Corp::Inside => "inside",
                    Corp::Outside => "outside",
                })
            },
        ),
        col(
            "vpn",
            Boolean,
            true,
            "The building row's `VPN` column (`false` when the column is empty or missing: CQD's default 0); empty without a row.",
            move |r| b(e(r).vpn),
        ),
        col(
            "express_route",
            Boolean,
            true,
            "The building row's `ExpressRoute` column; empty without a row.",
            move |r| b(e(r).express_route),
        ),
    ]);
    v
}

fn metric_columns<R: 'static>(m: fn(&R) -> &StreamMetrics) -> Vec<Column<R>> {
    use ColumnType::*;
    macro_rules! num {
        ($name:literal, $field:ident, $doc:literal) => {
            col($name, Double, true, $doc, move |r| f(m(r).$field))
        };
    }
    macro_rules! int {
        ($name:literal, $field:ident, $doc:literal) => {
            col($name, Int64, true, $doc, move |r| {
                i(m(r).$field.map(|v| v as i64))
            })
        };
    }
    vec![
        num!(
            "average_audio_degradation",
            average_audio_degradation,
            "`averageAudioDegradation`: network MOS degradation (0–5)."
        ),
        num!(
            "average_jitter_ms",
            average_jitter_ms,
            "`averageJitter`, milliseconds."
        ),
        num!("max_jitter_ms", max_jitter_ms, "`maxJitter`, milliseconds."),
        num!(
            "average_packet_loss_rate",
            average_packet_loss_rate,
            "`averagePacketLossRate` (0–1)."
        ),
        num!(
            "max_packet_loss_rate",
            max_packet_loss_rate,
            "`maxPacketLossRate` (0–1)."
        ),
        num!(
            "average_ratio_of_concealed_samples",
            average_ratio_of_concealed_samples,
            "`averageRatioOfConcealedSamples` (0–1)."
        ),
        num!(
            "max_ratio_of_concealed_samples",
            max_ratio_of_concealed_samples,
            "`maxRatioOfConcealedSamples` (0–1)."
        ),
        num!(
            "average_round_trip_time_ms",
            average_round_trip_time_ms,
            "`averageRoundTripTime`, milliseconds."
        ),
        num!(
            "max_round_trip_time_ms",
            max_round_trip_time_ms,
            "`maxRoundTripTime`, milliseconds."
        ),
        num!(
            "average_audio_network_jitter_ms",
            average_audio_network_jitter_ms,
            "`averageAudioNetworkJitter`, milliseconds."
        ),
        num!(
            "max_audio_network_jitter_ms",
            max_audio_network_jitter_ms,
            "`maxAudioNetworkJitter`, milliseconds."
        ),
        int!(
            "average_bandwidth_estimate",
            average_bandwidth_estimate,
            "`averageBandwidthEstimate`, bits per second."
        ),
        int!(
            "packet_utilization",
            packet_utilization,
            "`packetUtilization`: packets sent or received."
        ),
        num!(
            "average_video_frame_loss_percentage",
            average_video_frame_loss_percentage,
            "`averageVideoFrameLossPercentage` (0–100)."
        ),
        num!(
            "average_video_frame_rate",
            average_video_frame_rate,
            "`averageVideoFrameRate`, frames per second."
        ),
        num!(
            "average_received_frame_rate",
            average_received_frame_rate,
            "`averageReceivedFrameRate`, frames per second."
        ),
        num!(
            "average_video_packet_loss_rate",
            average_video_packet_loss_rate,
            "`averageVideoPacketLossRate` (0–1)."
        ),
        num!(
            "post_forward_error_correction_packet_loss_rate",
            post_forward_error_correction_packet_loss_rate,
            "`postForwardErrorCorrectionPacketLossRate` (0–1)."
        ),
        num!(
            "low_frame_rate_ratio",
            low_frame_rate_ratio,
            "`lowFrameRateRatio` (0–1)."
        ),
        num!(
            "low_video_processing_capability_ratio",
            low_video_processing_capability_ratio,
            "`lowVideoProcessingCapabilityRatio` (0–1)."
        ),
        num!(
            "average_freeze_duration_ms",
            average_freeze_duration_ms,
            "`averageFreezeDuration`, milliseconds."
        ),
        num!(
            "rms_freeze_duration_ms",
            rms_freeze_duration_ms,
            "`rmsFreezeDuration`, milliseconds."
        ),
        col(
            "is_audio_forward_error_correction_used",
            Boolean,
            true,
            "`isAudioForwardErrorCorrectionUsed`.",
            move |r| b(m(r).is_audio_forward_error_correction_used),
        ),
        col(
            "was_media_bypassed",
            Boolean,
            true,
            "`wasMediaBypassed`.",
            move |r| b(m(r).was_media_bypassed),
        ),
        col("audio_codec", Utf8, true, "`audioCodec`.", move |r| {
            s(&m(r).audio_codec)
        }),
        col("video_codec", Utf8, true, "`videoCodec`.", move |r| {
            s(&m(r).video_codec)
        }),
    ]
}

/// The stream export's columns, in file order.
pub fn stream_columns() -> Vec<Column<StreamRow>> {
    use ColumnType::*;
    let mut v = key_columns(|r: &StreamRow| &r.key);
    v.extend([
        col(
            "kind",
            Utf8,
            false,
            "The stream's kind by its media label: `audio`, `video`, `vbss`, `appSharing`, `other`.",
            |r: &StreamRow| st(r.kind.name()),
        ),
        col(
            "class",
            Utf8,
            false,
            "CQD's classification: `good`, `poor` or `unclassified`.",
            |r: &StreamRow| {
                st(match r.classification {
                    Classification::Good => "good",
                    Classification::Poor(_) => "poor",
                    Classification::Unclassified(_) => "unclassified",
                })
            },
        ),
        col(
            "poor_due_to",
            Utf8,
            true,
            "For a poor stream: the thresholds it exceeded (audio: every one; video/VBSS: the deciding one), Graph metric names joined by `,` (e.g. `averageJitter,averagePacketLossRate`); empty otherwise.",
            |r: &StreamRow| match r.classification {
                Classification::Poor(set) => Cell::Str(Cow::Owned(
                    set.iter().map(|m| m.name()).collect::<Vec<_>>().join(","),
                )),
                _ => Cell::Null,
            },
        ),
        col(
            "unclassified_reason",
            Utf8,
            true,
            "For an unclassified stream: `noMetrics`, `rdpNotExposed`, `unknownLabel` or `notAQualityStream`; empty otherwise.",
            |r: &StreamRow| match r.classification.unclassified_reason() {
                Some(reason) => st(unclassified_name(reason)),
                None => Cell::Null,
            },
        ),
        col(
            "start",
            Timestamp,
            true,
            "The stream's `startDateTime`, else its segment's, session's or record's.",
            |r: &StreamRow| ts(&r.start),
        ),
        col(
            "end",
            Timestamp,
            true,
            "The stream's `endDateTime`, else its segment's, session's or record's.",
            |r: &StreamRow| ts(&r.end),
        ),
        col(
            "day",
            Utf8,
            true,
            "UTC calendar day `YYYY-MM-DD` of `start`.",
            |r: &StreamRow| s(&r.day),
        ),
    ]);
    v.extend(metric_columns(|r: &StreamRow| &r.metrics));
    v.extend(call_columns(|r: &StreamRow| &r.call));
    v.extend(party_columns("caller", |r: &StreamRow| &r.caller));
    v.extend(party_columns("callee", |r: &StreamRow| &r.callee));
    v.extend(endpoint_columns(|r: &StreamRow| &r.endpoint));
    v
}

fn unclassified_name(r: crate::classify::UnclassifiedReason) -> &'static str {
    use crate::classify::UnclassifiedReason::*;
    match r {
        NoMetrics => "noMetrics",
        RdpNotExposed => "rdpNotExposed",
        UnknownLabel => "unknownLabel",
        NotAQualityStream => "notAQualityStream",
    }
}

/// The session export's columns, in file order.
pub fn session_columns() -> Vec<Column<SessionRow>> {
    use ColumnType::*;
    let mut v = vec![
        col(
            "record_id",
            Utf8,
            false,
            "`callRecord.id`.",
            |r: &SessionRow| Cell::Str(Cow::Borrowed(&r.record_id)),
        ),
        col(
            "record_version",
            Int64,
            false,
            "`callRecord.version` the row was derived from.",
            |r: &SessionRow| Cell::Int(r.record_version),
        ),
        col(
            "session_ordinal",
            Int64,
            false,
            "0-based position of the session in the record's `sessions`.",
            |r: &SessionRow| Cell::Int(r.session_ordinal.into()),
        ),
        col(
            "session_id",
            Utf8,
            true,
            "`session.id`.",
            |r: &SessionRow| s(&r.session_id),
        ),
        col(
            "start",
            Timestamp,
            true,
            "`session.startDateTime`, else the record's.",
            |r: &SessionRow| ts(&r.start),
        ),
        col(
            "end",
            Timestamp,
            true,
            "`session.endDateTime`, else the record's.",
            |r: &SessionRow| ts(&r.end),
        ),
        col(
            "day",
            Utf8,
            true,
            "UTC calendar day `YYYY-MM-DD` of `start`.",
            |r: &SessionRow| s(&r.day),
        ),
        col(
            "modalities",
            Utf8,
            false,
            "`session.modalities` joined by `,` (e.g. `audio,video`); empty when none.",
            |r: &SessionRow| Cell::Str(Cow::Owned(r.modalities.join(","))),
        ),
        col(
            "is_test",
            Boolean,
            true,
            "`session.isTest`.",
            |r: &SessionRow| b(r.is_test),
        ),
    ];
    v.extend(call_columns(|r: &SessionRow| &r.call));
    v.extend(party_columns("caller", |r: &SessionRow| &r.caller));
    v.extend(party_columns("callee", |r: &SessionRow| &r.callee));
    v.extend([
        col(
            "failure_stage",
            Utf8,
            true,
            "`failureInfo.stage`: `callSetup` (a setup failure), `midcall` (a drop), `unknown`.",
            |r: &SessionRow| s(&r.failure_stage),
        ),
        col(
            "failure_reason",
            Utf8,
            true,
            "`failureInfo.reason`.",
            |r: &SessionRow| s(&r.failure_reason),
        ),
        col(
            "audio_streams",
            Int64,
            false,
            "Audio streams of the session.",
            |r: &SessionRow| Cell::Int(r.audio_streams.into()),
        ),
        col(
            "poor_audio_streams",
            Int64,
            false,
            "Poor audio streams of the session.",
            |r: &SessionRow| Cell::Int(r.poor_audio_streams.into()),
        ),
        col(
            "poor",
            Boolean,
            false,
            "Whether the session (call leg) is poor: at least one of its audio streams is.",
            |r: &SessionRow| Cell::Bool(r.poor),
        ),
    ]);
    v.extend(endpoint_columns(|r: &SessionRow| &r.endpoint));
    v
}

/// The Markdown tables of `EXPORT.md`'s "Columns" section, from the column definitions.
pub fn columns_markdown() -> String {
    fn table<R>(out: &mut String, title: &str, cols: &[Column<R>]) {
        out.push_str(&format!(
            "### {title}\n\n| # | column | type | null | meaning |\n| --- | --- | --- | --- | --- |\n"
        ));
        for (n, c) in cols.iter().enumerate() {
            out.push_str(&format!(
                "| {} | `{}` | {} | {} | {} |\n",
                n + 1,
                c.name,
                c.ty.name(),
                if c.nullable { "yes" } else { "no" },
                c.doc.replace('|', "\\|")
            ));
        }
    }
    let mut out = String::new();
    table(&mut out, "Stream rows (`streams.*`)", &stream_columns());
    out.push('\n');
    table(&mut out, "Session rows (`sessions.*`)", &session_columns());
    out
}

/// Why an export failed.
#[derive(Debug)]
pub enum ExportError {
    Io(io::Error),
    Json(serde_json::Error),
    Parquet(ParquetError),
    /// A column declared not nullable had no value (a bug in the column definitions).
    Null {
        column: String,
    },
    /// A timestamp column's text is not RFC 3339.
    Timestamp {
        column: String,
        value: String,
    },
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Io(e) => write!(f, "export: {e}"),
            ExportError::Json(e) => write!(f, "export: JSON: {e}"),
            ExportError::Parquet(e) => write!(f, "export: Parquet: {e}"),
            ExportError::Null { column } => write!(f, "export: column {column} has no value"),
            ExportError::Timestamp { column, value } => {
                write!(
                    f,
                    "export: column {column}: {value:?} is not an RFC 3339 timestamp"
                )
            }
        }
    }
}

impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExportError::Io(e) => Some(e),
            ExportError::Json(e) => Some(e),
            ExportError::Parquet(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ExportError {
    fn from(e: io::Error) -> Self {
        ExportError::Io(e)
    }
}
impl From<serde_json::Error> for ExportError {
    fn from(e: serde_json::Error) -> Self {
        ExportError::Json(e)
    }
}
impl From<ParquetError> for ExportError {
    fn from(e: ParquetError) -> Self {
        ExportError::Parquet(e)
    }
}

fn csv_field(out: &mut String, v: &str) {
    if v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

/// CSV (RFC 4180: `,`-separated, `"`-quoted when needed, `\n` line ends), a header row first. One row in
/// memory at a time.
impl<W: Write, R> fmt::Debug for CsvWriter<W, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsvWriter")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

pub struct CsvWriter<W: Write, R> {
    out: W,
    columns: Vec<Column<R>>,
    line: String,
    rows: u64,
}

impl<W: Write, R: ExportRow> CsvWriter<W, R> {
    /// Writes the header row.
    pub fn new(out: W) -> Result<Self, ExportError> {
        let mut w = CsvWriter {
            out,
            columns: R::columns(),
            line: String::new(),
            rows: 0,
        };
        for (n, c) in w.columns.iter().enumerate() {
            if n > 0 {
                w.line.push(',');
            }
            csv_field(&mut w.line, &c.name);
        }
        w.line.push('\n');
        w.out.write_all(w.line.as_bytes())?;
        Ok(w)
    }

    pub fn write(&mut self, row: &R) -> Result<(), ExportError> {
        use fmt::Write as _;
        self.line.clear();
        for (n, c) in self.columns.iter().enumerate() {
            if n > 0 {
                self.line.push(',');
            }
            match c.cell(row) {
                Cell::Null => {}
                Cell::Str(v) => csv_field(&mut self.line, &v),
                Cell::Timestamp(v) => csv_field(&mut self.line, v),
                Cell::Int(v) => {
                    let _ = write!(self.line, "{v}");
                }
                Cell::Double(v) => {
                    let _ = write!(self.line, "{v}");
                }
                Cell::Bool(v) => self.line.push_str(if v { "true" } else { "false" }),
            }
        }
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes())?;
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far (without the header).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> Result<W, ExportError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// NDJSON: each row's serde JSON (the same camelCase objects as the API's rows) on its own line.
impl<W: Write> fmt::Debug for NdjsonWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NdjsonWriter")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

pub struct NdjsonWriter<W: Write> {
    out: W,
    rows: u64,
}

impl<W: Write> NdjsonWriter<W> {
    pub fn new(out: W) -> Self {
        NdjsonWriter { out, rows: 0 }
    }
    pub fn write(&mut self, row: &impl Serialize) -> Result<(), ExportError> {
        serde_json::to_writer(&mut self.out, row)?;
        self.out.write_all(b"\n")?;
        self.rows += 1;
        Ok(())
    }
    pub fn rows(&self) -> u64 {
        self.rows
    }
    pub fn finish(mut self) -> Result<W, ExportError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One column's buffered (non-null) values for the current row group; its definition levels (1 = present,
/// 0 = null) are kept beside it.
enum Buf {
    Bytes(Vec<ByteArray>),
    Int(Vec<i64>),
    Double(Vec<f64>),
    Bool(Vec<bool>),
}

/// Parquet with real column types (see the module docs), Snappy-compressed, dictionary encoding on,
/// row groups of at most `row_group_rows` rows: memory is bounded by one row group.
impl<W: Write + Send, R> fmt::Debug for ParquetWriter<W, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParquetWriter")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

pub struct ParquetWriter<W: Write + Send, R> {
    writer: SerializedFileWriter<W>,
    columns: Vec<Column<R>>,
    values: Vec<Buf>,
    defs: Vec<Vec<i16>>,
    buffered: usize,
    row_group_rows: usize,
    rows: u64,
}

fn parquet_schema<R>(columns: &[Column<R>]) -> Result<Type, ParquetError> {
    let fields = columns
        .iter()
        .map(|c| {
            let (physical, logical) = match c.ty {
                ColumnType::Utf8 => (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
                ColumnType::Int64 => (PhysicalType::INT64, None),
                ColumnType::Double => (PhysicalType::DOUBLE, None),
                ColumnType::Boolean => (PhysicalType::BOOLEAN, None),
                ColumnType::Timestamp => (
                    PhysicalType::INT64,
                    Some(LogicalType::timestamp(true, TimeUnit::MICROS)),
                ),
            };
            Type::primitive_type_builder(&c.name, physical)
                .with_repetition(if c.nullable {
                    Repetition::OPTIONAL
                } else {
                    Repetition::REQUIRED
                })
                .with_logical_type(logical)
                .build()
                .map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Type::group_type_builder("schema")
        .with_fields(fields)
        .build()
}

impl<W: Write + Send, R: ExportRow> ParquetWriter<W, R> {
    /// A writer with row groups of [`DEFAULT_ROW_GROUP_ROWS`] rows.
    pub fn new(out: W) -> Result<Self, ExportError> {
        Self::with_row_group_rows(out, DEFAULT_ROW_GROUP_ROWS)
    }

    /// A writer with row groups of at most `row_group_rows` rows (at least 1).
    pub fn with_row_group_rows(out: W, row_group_rows: usize) -> Result<Self, ExportError> {
        let columns = R::columns();
        let schema = Arc::new(parquet_schema(&columns)?);
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_dictionary_enabled(true)
            .set_max_row_group_row_count(Some(row_group_rows.max(1)))
            .set_created_by(concat!("callrecords-quality ", env!("CARGO_PKG_VERSION")).into())
            .build();
        let writer = SerializedFileWriter::new(out, schema, Arc::new(props))?;
        let values = columns
            .iter()
            .map(|c| match c.ty {
                ColumnType::Utf8 => Buf::Bytes(Vec::new()),
                ColumnType::Int64 | ColumnType::Timestamp => Buf::Int(Vec::new()),
                ColumnType::Double => Buf::Double(Vec::new()),
                ColumnType::Boolean => Buf::Bool(Vec::new()),
            })
            .collect();
        let defs = columns.iter().map(|_| Vec::new()).collect();
        Ok(ParquetWriter {
            writer,
            columns,
            values,
            defs,
            buffered: 0,
            row_group_rows: row_group_rows.max(1),
            rows: 0,
        })
    }

    pub fn write(&mut self, row: &R) -> Result<(), ExportError> {
        for ((c, buf), defs) in self
            .columns
            .iter()
            .zip(&mut self.values)
            .zip(&mut self.defs)
        {
            let cell = c.cell(row);
            if cell == Cell::Null {
                if !c.nullable {
                    return Err(ExportError::Null {
                        column: c.name.clone(),
                    });
                }
                defs.push(0);
                continue;
            }
            defs.push(1);
            match (buf, cell) {
                (Buf::Bytes(v), Cell::Str(x)) => v.push(ByteArray::from(x.as_bytes().to_vec())),
                (Buf::Int(v), Cell::Int(x)) => v.push(x),
                (Buf::Int(v), Cell::Timestamp(x)) => {
                    let t = callrecords_model::DateTimeOffset::parse(x).map_err(|_| {
                        ExportError::Timestamp {
                            column: c.name.clone(),
                            value: x.to_owned(),
                        }
                    })?;
                    v.push(t.unix_micros())
                }
                (Buf::Double(v), Cell::Double(x)) => v.push(x),
                (Buf::Bool(v), Cell::Bool(x)) => v.push(x),
                (_, cell) => unreachable!("column {} of type {:?} got {cell:?}", c.name, c.ty),
            }
        }
        self.buffered += 1;
        self.rows += 1;
        if self.buffered >= self.row_group_rows {
            self.flush_row_group()?;
        }
        Ok(())
    }

    fn flush_row_group(&mut self) -> Result<(), ExportError> {
        if self.buffered == 0 {
            return Ok(());
        }
        let mut rg = self.writer.next_row_group()?;
        for ((c, buf), defs) in self
            .columns
            .iter()
            .zip(&mut self.values)
            .zip(&mut self.defs)
        {
            let mut w = rg
                .next_column()?
                .ok_or_else(|| ParquetError::General(format!("no column writer for {}", c.name)))?;
            let d = c.nullable.then_some(defs.as_slice());
            match buf {
                Buf::Bytes(v) => {
                    w.typed::<ByteArrayType>().write_batch(v, d, None)?;
                    v.clear();
                }
                Buf::Int(v) => {
                    w.typed::<Int64Type>().write_batch(v, d, None)?;
                    v.clear();
                }
                Buf::Double(v) => {
                    w.typed::<DoubleType>().write_batch(v, d, None)?;
                    v.clear();
                }
                Buf::Bool(v) => {
                    w.typed::<BoolType>().write_batch(v, d, None)?;
                    v.clear();
                }
            }
            defs.clear();
            w.close()?;
        }
        rg.close()?;
        self.buffered = 0;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the last row group and the footer; returns the output.
    pub fn finish(mut self) -> Result<W, ExportError> {
        self.flush_row_group()?;
        Ok(self.writer.into_inner()?)
    }
}

/// Writes `rows` as CSV; returns how many rows (without the header).
pub fn write_csv<R: ExportRow, W: Write>(
    rows: impl IntoIterator<Item = impl Borrow<R>>,
    out: W,
) -> Result<u64, ExportError> {
    let mut w = CsvWriter::<W, R>::new(out)?;
    for r in rows {
        w.write(r.borrow())?;
    }
    let n = w.rows();
    w.finish()?;
    Ok(n)
}

/// Writes `rows` as NDJSON; returns how many.
pub fn write_ndjson<R: Serialize, W: Write>(
    rows: impl IntoIterator<Item = impl Borrow<R>>,
    out: W,
) -> Result<u64, ExportError> {
    let mut w = NdjsonWriter::new(out);
    for r in rows {
        w.write(r.borrow())?;
    }
    let n = w.rows();
    w.finish()?;
    Ok(n)
}

/// Writes `rows` as Parquet (row groups of [`DEFAULT_ROW_GROUP_ROWS`]); returns how many.
pub fn write_parquet<R: ExportRow, W: Write + Send>(
    rows: impl IntoIterator<Item = impl Borrow<R>>,
    out: W,
) -> Result<u64, ExportError> {
    let mut w = ParquetWriter::<W, R>::new(out)?;
    for r in rows {
        w.write(r.borrow())?;
    }
    let n = w.rows();
    w.finish()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::{RecordRows, record_rows};
    use callrecords_model::CallRecord;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    fn synth_rows(seed: u64, n: u64) -> Vec<RecordRows> {
        let cfg = callrecords_synth::GenConfig {
            seed,
            ..callrecords_synth::GenConfig::default()
        };
        let mut ndjson = Vec::new();
        callrecords_synth::write_call_records(&cfg, n, &mut ndjson).unwrap();
        let map = crate::BuildingMap::parse(
            "10.0.0.0,Corp,8,Corp,o,t,ot,Seattle,z,US,WA,NA,1,0\n\
             10.10.0.0,Site 1,16,Site 1,o,t,ot,Seattle,z,US,WA,NA,1,0,1\n",
        )
        .unwrap();
        ndjson
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let r: CallRecord = serde_json::from_slice(l).unwrap();
                let mut rows = record_rows(&r, r.version.as_ref().copied().unwrap_or(0));
                map.apply_rows(&mut rows);
                rows
            })
            .collect()
    }

    fn corpus() -> (Vec<StreamRow>, Vec<SessionRow>) {
        let mut streams = Vec::new();
        let mut sessions = Vec::new();
        for r in synth_rows(11, 120) {
            streams.extend(r.streams);
            sessions.extend(r.sessions);
        }
        // A value that needs CSV quoting.
        streams[0].caller.display_name = Some("Doe, \"Jo\"\nline 2".into());
        (streams, sessions)
    }

    /// The CSV text of one cell, as the writer renders it (before quoting).
    fn text(c: Cell<'_>) -> String {
        match c {
            Cell::Null => String::new(),
            Cell::Str(s) => s.into_owned(),
            Cell::Timestamp(s) => s.to_owned(),
            Cell::Int(i) => i.to_string(),
            Cell::Double(d) => d.to_string(),
            Cell::Bool(b) => b.to_string(),
        }
    }

    fn csv_round_trip<R: ExportRow>(rows: &[R]) {
        let mut out = Vec::new();
        assert_eq!(
            write_csv::<R, _>(rows, &mut out).unwrap(),
            rows.len() as u64
        );
        let cols = R::columns();
        let mut rd = csv::ReaderBuilder::new().from_reader(out.as_slice());
        let header: Vec<String> = rd.headers().unwrap().iter().map(str::to_owned).collect();
        let names: Vec<String> = cols.iter().map(|c| c.name().to_owned()).collect();
        assert_eq!(header, names);
        let mut n = 0;
        for (rec, row) in rd.records().zip(rows) {
            let rec = rec.unwrap();
            assert_eq!(rec.len(), cols.len());
            for (field, c) in rec.iter().zip(&cols) {
                let want = c.cell(row);
                assert_eq!(field, text(want.clone()), "column {}", c.name());
                // Numbers read back as the same value.
                if let Cell::Double(d) = want {
                    assert_eq!(field.parse::<f64>().unwrap(), d, "column {}", c.name());
                }
            }
            n += 1;
        }
        assert_eq!(n, rows.len());
    }

    #[test]
    fn csv_round_trips() {
        let (streams, sessions) = corpus();
        assert!(streams.len() > 500 && sessions.len() > 100);
        csv_round_trip(&streams);
        csv_round_trip(&sessions);
        // Spot checks by name.
        let mut out = Vec::new();
        write_csv::<StreamRow, _>(&streams[..1], &mut out).unwrap();
        let mut rd = csv::Reader::from_reader(out.as_slice());
        let h = rd.headers().unwrap().clone();
        let r = rd.records().next().unwrap().unwrap();
        let get = |name: &str| r.get(h.iter().position(|n| n == name).unwrap()).unwrap();
        assert_eq!(get("caller_display_name"), "Doe, \"Jo\"\nline 2");
        assert_eq!(get("record_id"), streams[0].key.record_id);
        assert_eq!(get("start"), streams[0].start.as_deref().unwrap());
        assert_eq!(get("kind"), streams[0].kind.name());
        assert!(["true", "false"].contains(&get("caller_is_user")));
        assert!(["inside", "outside"].contains(&get("corp")));
    }

    #[test]
    fn ndjson_is_the_rows_json() {
        let (streams, sessions) = corpus();
        let mut out = Vec::new();
        assert_eq!(
            write_ndjson::<StreamRow, _>(&streams, &mut out).unwrap(),
            streams.len() as u64
        );
        let lines: Vec<&[u8]> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), streams.len());
        for (l, r) in lines.iter().zip(&streams) {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            assert_eq!(v, serde_json::to_value(r).unwrap());
        }
        let mut out = Vec::new();
        write_ndjson::<SessionRow, _>(sessions.iter(), &mut out).unwrap();
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), sessions.len());
    }

    fn parquet_round_trip<R: ExportRow>(rows: &[R], row_group_rows: usize) {
        let mut w =
            ParquetWriter::<Vec<u8>, R>::with_row_group_rows(Vec::new(), row_group_rows).unwrap();
        for r in rows {
            w.write(r).unwrap();
        }
        assert_eq!(w.rows(), rows.len() as u64);
        let bytes = bytes::Bytes::from(w.finish().unwrap());
        let reader = SerializedFileReader::new(bytes).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.file_metadata().num_rows(), rows.len() as i64);
        assert_eq!(meta.num_row_groups(), rows.len().div_ceil(row_group_rows));
        assert!(
            meta.row_groups()
                .iter()
                .all(|g| g.num_rows() as usize <= row_group_rows)
        );
        let cols = R::columns();
        let schema = meta.file_metadata().schema_descr();
        assert_eq!(schema.num_columns(), cols.len());
        for (i, c) in cols.iter().enumerate() {
            let d = schema.column(i);
            assert_eq!(d.name(), c.name());
            let (physical, logical) = match c.ty() {
                ColumnType::Utf8 => (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
                ColumnType::Int64 => (PhysicalType::INT64, None),
                ColumnType::Double => (PhysicalType::DOUBLE, None),
                ColumnType::Boolean => (PhysicalType::BOOLEAN, None),
                ColumnType::Timestamp => (
                    PhysicalType::INT64,
                    Some(LogicalType::timestamp(true, TimeUnit::MICROS)),
                ),
            };
            assert_eq!(d.physical_type(), physical, "{}", c.name());
            assert_eq!(d.logical_type_ref(), logical.as_ref(), "{}", c.name());
            assert_eq!(d.self_type().is_optional(), c.nullable(), "{}", c.name());
        }
        let mut n = 0;
        for (got, row) in reader.get_row_iter(None).unwrap().zip(rows) {
            let got = got.unwrap();
            for ((name, field), c) in got.get_column_iter().zip(&cols) {
                assert_eq!(name, c.name());
                match (c.cell(row), field) {
                    (Cell::Null, Field::Null) => {}
                    (Cell::Str(s), Field::Str(g)) => assert_eq!(&s, g, "{name}"),
                    (Cell::Int(i), Field::Long(g)) => assert_eq!(i, *g, "{name}"),
                    (Cell::Double(d), Field::Double(g)) => assert_eq!(d, *g, "{name}"),
                    (Cell::Bool(b), Field::Bool(g)) => assert_eq!(b, *g, "{name}"),
                    (Cell::Timestamp(t), Field::TimestampMicros(g)) => assert_eq!(
                        callrecords_model::DateTimeOffset::parse(t)
                            .unwrap()
                            .unix_micros(),
                        *g,
                        "{name}"
                    ),
                    (want, got) => panic!("{name}: wrote {want:?}, read {got:?}"),
                }
            }
            n += 1;
        }
        assert_eq!(n, rows.len());
    }

    #[test]
    fn parquet_round_trips_with_real_types() {
        let (streams, sessions) = corpus();
        parquet_round_trip(&streams, 256);
        parquet_round_trip(&sessions, DEFAULT_ROW_GROUP_ROWS);
        parquet_round_trip::<SessionRow>(&[], 10);
        // A known timestamp: 2026-01-05T09:00:00.1234567Z → microseconds, truncated.
        let mut s = sessions[0].clone();
        s.start = Some("2026-01-05T09:00:00.1234567Z".into());
        s.end = None;
        let mut out = Vec::new();
        write_parquet::<SessionRow, _>([&s], &mut out).unwrap();
        let reader = SerializedFileReader::new(bytes::Bytes::from(out)).unwrap();
        let row = reader.get_row_iter(None).unwrap().next().unwrap().unwrap();
        let at = |name: &str| {
            row.get_column_iter()
                .find(|(n, _)| *n == name)
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(at("start"), Field::TimestampMicros(1_767_603_600_123_456));
        assert_eq!(at("end"), Field::Null);
        assert_eq!(at("record_id"), Field::Str(s.record_id.clone()));
    }

    #[test]
    fn bad_timestamp_is_an_error() {
        let (_, sessions) = corpus();
        let mut s = sessions[0].clone();
        s.start = Some("yesterday".into());
        let e = write_parquet::<SessionRow, _>([&s], Vec::new()).unwrap_err();
        assert!(
            matches!(e, ExportError::Timestamp { ref column, .. } if column == "start"),
            "{e}"
        );
    }

    /// `EXPORT.md` lists exactly the columns the writers write (regenerate the tables with
    /// `UPDATE_EXPORT_MD=1 cargo test -p callrecords-quality --lib export::`).
    #[test]
    fn export_md_lists_the_columns() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/export.md");
        let text = std::fs::read_to_string(path).unwrap();
        let marker = "## Columns\n\n";
        let at = text.find(marker).unwrap() + marker.len();
        let want = format!("{}{}", &text[..at], columns_markdown());
        if std::env::var_os("UPDATE_EXPORT_MD").is_some() {
            std::fs::write(path, &want).unwrap();
        } else {
            assert_eq!(text, want, "EXPORT.md is out of date: see this test's docs");
        }
        let names: Vec<String> = stream_columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "stream column names are unique");
        let names: Vec<String> = session_columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "session column names are unique");
    }

    /// Writes the files `tests/read_parquet.py` checks, when `QUALITY_EXPORT_DIR` is set: streams and
    /// sessions of 300 synthetic records as Parquet and CSV, and `expected.json` (row counts, columns).
    #[test]
    fn write_files_for_the_python_check() {
        let Some(dir) = std::env::var_os("QUALITY_EXPORT_DIR") else {
            return;
        };
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        let rows = synth_rows(5, 300);
        let streams = rows.iter().flat_map(|r| &r.streams);
        let sessions = rows.iter().flat_map(|r| &r.sessions);
        let file =
            |name: &str| std::io::BufWriter::new(std::fs::File::create(dir.join(name)).unwrap());
        let ns = write_parquet::<StreamRow, _>(streams.clone(), file("streams.parquet")).unwrap();
        let nss =
            write_parquet::<SessionRow, _>(sessions.clone(), file("sessions.parquet")).unwrap();
        write_csv::<StreamRow, _>(streams, file("streams.csv")).unwrap();
        write_csv::<SessionRow, _>(sessions, file("sessions.csv")).unwrap();
        fn columns<R>(cols: &[Column<R>]) -> serde_json::Value {
            cols.iter()
                .map(|c| serde_json::json!({"name": c.name(), "type": c.ty().name(), "nullable": c.nullable()}))
                .collect()
        }
        let expected = serde_json::json!({
            "streams": {"rows": ns, "columns": columns(&stream_columns())},
            "sessions": {"rows": nss, "columns": columns(&session_columns())},
        });
        std::fs::write(
            dir.join("expected.json"),
            serde_json::to_string_pretty(&expected).unwrap(),
        )
        .unwrap();
    }
}
