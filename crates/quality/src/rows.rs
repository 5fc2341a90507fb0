//! Flattening a call record into one [`StreamRow`] per `mediaStream` and one [`SessionRow`] per session.
//!
//! # Keys
//!
//! A stream row is keyed by (record id, record version, session ordinal, session id, segment ordinal,
//! segment id, media ordinal, media label, stream ordinal, stream id, direction). The ordinals are the
//! 0-based positions in the record's arrays, so the key is unique even when session ids repeat inside one
//! record (auto attendant → call queue transfers reuse the session id), when a PSTN session has several
//! segments, or when stream ids are missing or repeated.
//!
//! # Which endpoint a stream's slicers describe
//!
//! A stream flows between the segment's caller and callee; `media.callerNetwork` / `callerDevice` describe
//! the caller, `calleeNetwork` / `calleeDevice` the callee. Every per-endpoint slicer of a row (subnet, IP,
//! building, inside/outside, VPN, connection type, Wi-Fi band, transport, platform, product family, client
//! version, capture/render device, feedback) comes from ONE endpoint, the row's [`Side`]:
//!
//! 1. When exactly one of the two endpoints is a user's device (`participantEndpoint`) and the other a
//!    service (`serviceEndpoint`: conferencing server, PSTN gateway, bot…), the user's side, for BOTH
//!    directions. This is what CQD does (the server is "First", the client "Second", and building/subnet
//!    reports slice by the client): the stream to and from the meeting server belongs to the user's
//!    network, never to Microsoft's data-centre subnet, which no admin's building file covers.
//! 2. Otherwise (peer-to-peer between two users, or service to service as in an auto attendant leg): the
//!    SENDING endpoint of the stream: `callerToCallee` → caller, `calleeToCaller` → callee (no direction →
//!    caller). Each user's outbound stream is sliced by that user's own network, capture device and
//!    client, which is where an upload/Wi-Fi/microphone problem originates; the two directions of a
//!    peer-to-peer call so land on the two users' subnets, once each.
//!
//! The segment's own caller/callee decide the endpoint types and the user agent (falling back to the
//! session's when the segment has none). Caller and callee identities come from the SESSION's endpoints
//! (`associatedIdentity`, else the deprecated `identity` identity set), as does feedback.
//!
//! # Which timestamp defines the day
//!
//! `day` is the UTC calendar day of the stream's `startDateTime`, else the segment's, else the session's,
//! else the record's: the most specific start known (a stream of a call that crosses midnight belongs to
//! the day it started; records of long meetings are split by when each stream began).

use callrecords_model::{
    CallRecord, DateTimeOffset, DeviceInfo, Endpoint, Enum, Field, GraphEnum, Identity,
    IdentitySet, Media, MediaStream, NetworkInfo, ParticipantEndpoint, Segment, Session, UserAgent,
};
use serde::Serialize;

use crate::buildings::Building;
use crate::classify::{Classification, classify};
use crate::kind::MediaKind;

/// The unique key of a [`StreamRow`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamKey {
    pub record_id: String,
    pub record_version: i64,
    pub session_ordinal: u32,
    pub session_id: Option<String>,
    pub segment_ordinal: u32,
    pub segment_id: Option<String>,
    pub media_ordinal: u32,
    pub media_label: Option<String>,
    pub stream_ordinal: u32,
    pub stream_id: Option<String>,
    /// `callerToCallee` / `calleeToCaller` (or an unknown member as received); `None` when absent.
    pub direction: Option<String>,
}

/// Which endpoint of a segment a row's per-endpoint slicers describe (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Side {
    #[default]
    Caller,
    Callee,
}

/// Inside or outside the corporate network, as the building file says (`InsideCorp`); with no building
/// data, or no row covering the subnet, everything is Outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Corp {
    Inside,
    #[default]
    Outside,
}

/// Who is at one end of a session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    /// `associatedIdentity.id`, else the identity set's user / application / device id.
    pub id: Option<String>,
    /// `userPrincipalName` (an undeclared property of the open identity types).
    pub upn: Option<String>,
    pub display_name: Option<String>,
    /// Whether the endpoint is a `participantEndpoint` (a user's device) rather than a service.
    pub is_user: bool,
    /// For a service endpoint: `serviceUserAgent.role` (e.g. `skypeForBusinessAutoAttendant`).
    pub service_role: Option<String>,
}

/// The per-endpoint slicers of a row: all from the endpoint named by `side`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSlicers {
    pub side: Side,
    /// `networkInfo.subnet` as received.
    pub subnet: Option<String>,
    pub ip_address: Option<String>,
    /// `networkInfo.connectionType` (`wired`, `wifi`, `mobile`, `tunnel`, `unknown`…).
    pub connection_type: Option<String>,
    pub wifi_band: Option<String>,
    /// `networkInfo.networkTransportProtocol` (`udp`, `tcp`, `unknown`).
    pub transport: Option<String>,
    /// `clientUserAgent.platform`.
    pub platform: Option<String>,
    /// `clientUserAgent.productFamily`.
    pub product_family: Option<String>,
    /// `userAgent.applicationVersion`.
    pub client_version: Option<String>,
    pub capture_device: Option<String>,
    pub render_device: Option<String>,
    /// `feedback.rating` of this side's session endpoint.
    pub feedback_rating: Option<String>,
    /// Filled by [`crate::BuildingMap::apply`]: the most specific building row covering `subnet` (else
    /// `ip_address`).
    pub building: Option<Building>,
    /// Filled by [`crate::BuildingMap::apply`]; Outside without building data.
    pub corp: Corp,
    /// The building row's `VPN` column (None without a row, or when the column is empty).
    pub vpn: Option<bool>,
    /// The building row's `ExpressRoute` column.
    pub express_route: Option<bool>,
}

/// The `mediaStream` metrics, numbers as `f64`, durations in milliseconds; `None` when absent or `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct StreamMetrics {
    pub average_audio_degradation: Option<f64>,
    pub average_jitter_ms: Option<f64>,
    pub max_jitter_ms: Option<f64>,
    pub average_packet_loss_rate: Option<f64>,
    pub max_packet_loss_rate: Option<f64>,
    pub average_ratio_of_concealed_samples: Option<f64>,
    pub max_ratio_of_concealed_samples: Option<f64>,
    pub average_round_trip_time_ms: Option<f64>,
    pub max_round_trip_time_ms: Option<f64>,
    pub average_audio_network_jitter_ms: Option<f64>,
    pub max_audio_network_jitter_ms: Option<f64>,
    pub average_bandwidth_estimate: Option<f64>,
    pub packet_utilization: Option<f64>,
    pub average_video_frame_loss_percentage: Option<f64>,
    pub average_video_frame_rate: Option<f64>,
    pub average_received_frame_rate: Option<f64>,
    pub average_video_packet_loss_rate: Option<f64>,
    pub post_forward_error_correction_packet_loss_rate: Option<f64>,
    pub low_frame_rate_ratio: Option<f64>,
    pub low_video_processing_capability_ratio: Option<f64>,
    pub average_freeze_duration_ms: Option<f64>,
    pub rms_freeze_duration_ms: Option<f64>,
    pub is_audio_forward_error_correction_used: Option<bool>,
    pub was_media_bypassed: Option<bool>,
    pub audio_codec: Option<String>,
    pub video_codec: Option<String>,
}

impl StreamMetrics {
    fn of(s: &MediaStream) -> Self {
        let f = |v: &Field<f64>| v.as_ref().copied();
        let i = |v: &Field<i64>| v.as_ref().map(|n| *n as f64);
        let d = |v: &Field<callrecords_model::Duration>| v.as_ref().map(|d| d.as_millis_f64());
        StreamMetrics {
            average_audio_degradation: f(&s.average_audio_degradation),
            average_jitter_ms: d(&s.average_jitter),
            max_jitter_ms: d(&s.max_jitter),
            average_packet_loss_rate: f(&s.average_packet_loss_rate),
            max_packet_loss_rate: f(&s.max_packet_loss_rate),
            average_ratio_of_concealed_samples: f(&s.average_ratio_of_concealed_samples),
            max_ratio_of_concealed_samples: f(&s.max_ratio_of_concealed_samples),
            average_round_trip_time_ms: d(&s.average_round_trip_time),
            max_round_trip_time_ms: d(&s.max_round_trip_time),
            average_audio_network_jitter_ms: d(&s.average_audio_network_jitter),
            max_audio_network_jitter_ms: d(&s.max_audio_network_jitter),
            average_bandwidth_estimate: i(&s.average_bandwidth_estimate),
            packet_utilization: i(&s.packet_utilization),
            average_video_frame_loss_percentage: f(&s.average_video_frame_loss_percentage),
            average_video_frame_rate: f(&s.average_video_frame_rate),
            average_received_frame_rate: f(&s.average_received_frame_rate),
            average_video_packet_loss_rate: f(&s.average_video_packet_loss_rate),
            post_forward_error_correction_packet_loss_rate: f(
                &s.post_forward_error_correction_packet_loss_rate
            ),
            low_frame_rate_ratio: f(&s.low_frame_rate_ratio),
            low_video_processing_capability_ratio: f(&s.low_video_processing_capability_ratio),
            average_freeze_duration_ms: d(&s.average_freeze_duration),
            rms_freeze_duration_ms: d(&s.rms_freeze_duration),
            is_audio_forward_error_correction_used: s
                .is_audio_forward_error_correction_used
                .as_ref()
                .copied(),
            was_media_bypassed: s.was_media_bypassed.as_ref().copied(),
            audio_codec: enum_str(&s.audio_codec),
            video_codec: enum_str(&s.video_codec),
        }
    }
}

/// Record-level slicers shared by every row of a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CallSlicers {
    /// `callRecord.type` (`groupCall`, `peerToPeer`, `unknown`…).
    pub call_type: Option<String>,
    /// `joinWebUrl` (the meeting).
    pub join_web_url: Option<String>,
    /// `organizer_v2.id`, else the deprecated `organizer` identity set's user id.
    pub organizer_id: Option<String>,
}

/// One `mediaStream`, flattened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamRow {
    pub key: StreamKey,
    pub kind: MediaKind,
    pub classification: Classification,
    /// The stream's `startDateTime` as received (else the segment's, session's, record's).
    pub start: Option<String>,
    pub end: Option<String>,
    /// UTC day (`YYYY-MM-DD`) of `start`.
    pub day: Option<String>,
    pub metrics: StreamMetrics,
    pub call: CallSlicers,
    pub caller: Party,
    pub callee: Party,
    pub endpoint: EndpointSlicers,
}

/// One session, flattened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRow {
    pub record_id: String,
    pub record_version: i64,
    pub session_ordinal: u32,
    pub session_id: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    /// UTC day of the session's start (else the record's).
    pub day: Option<String>,
    pub modalities: Vec<String>,
    pub is_test: Option<bool>,
    pub call: CallSlicers,
    pub caller: Party,
    pub callee: Party,
    /// `failureInfo.stage` (`callSetup`, `midcall`, `unknown`…).
    pub failure_stage: Option<String>,
    pub failure_reason: Option<String>,
    /// Audio streams of this session, and how many of them are Poor.
    pub audio_streams: u32,
    pub poor_audio_streams: u32,
    /// A session (call leg) is poor when at least one of its audio streams is Poor.
    pub poor: bool,
    /// The session's own endpoint slicers: the user's side (caller when both or neither are users), with
    /// network and devices from the first media of its first segment that describes that side.
    pub endpoint: EndpointSlicers,
}

impl SessionRow {
    pub fn is_setup_failure(&self) -> bool {
        self.failure_stage.as_deref() == Some("callSetup")
    }
    pub fn is_drop_failure(&self) -> bool {
        self.failure_stage.as_deref() == Some("midcall")
    }
}

/// A record's rows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordRows {
    pub streams: Vec<StreamRow>,
    pub sessions: Vec<SessionRow>,
}

fn enum_str<T: GraphEnum>(f: &Field<Enum<T>>) -> Option<String> {
    f.as_ref().map(|e| e.as_str().to_owned())
}

fn string(f: &Field<String>) -> Option<String> {
    f.as_ref().cloned()
}

fn ts(f: &Field<DateTimeOffset>) -> Option<&DateTimeOffset> {
    f.as_ref()
}

/// UTC `YYYY-MM-DD` of a timestamp.
pub fn utc_day(t: &DateTimeOffset) -> String {
    jiff::tz::TimeZone::UTC
        .to_datetime(t.timestamp())
        .date()
        .to_string()
}

fn identity_upn(i: &Identity) -> Option<String> {
    i.extra
        .get("userPrincipalName")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

fn identity_set_member(s: &IdentitySet) -> Option<&Identity> {
    s.user
        .as_ref()
        .or(s.application.as_ref())
        .or(s.device.as_ref())
}

fn party(e: Option<&Endpoint>) -> Party {
    match e {
        Some(Endpoint::Participant(p)) => {
            let ident = p
                .associated_identity
                .as_ref()
                .or_else(|| p.identity.as_ref().and_then(identity_set_member));
            Party {
                id: ident.and_then(|i| string(&i.id)),
                upn: ident.and_then(identity_upn),
                display_name: ident.and_then(|i| string(&i.display_name)),
                is_user: true,
                service_role: None,
            }
        }
        Some(Endpoint::Service(s)) => Party {
            service_role: match s.user_agent.as_ref() {
                Some(UserAgent::Service(u)) => enum_str(&u.role),
                _ => None,
            },
            ..Party::default()
        },
        Some(Endpoint::Plain(_)) | None => Party::default(),
    }
}

fn is_participant(e: Option<&Endpoint>) -> bool {
    matches!(e, Some(Endpoint::Participant(_)))
}

fn user_agent(e: Option<&Endpoint>) -> Option<&UserAgent> {
    match e? {
        Endpoint::Participant(p) => p.user_agent.as_ref(),
        Endpoint::Service(s) => s.user_agent.as_ref(),
        Endpoint::Plain(p) => p.user_agent.as_ref(),
    }
}

fn participant(e: Option<&Endpoint>) -> Option<&ParticipantEndpoint> {
    match e? {
        Endpoint::Participant(p) => Some(p),
        _ => None,
    }
}

fn feedback_rating(e: Option<&Endpoint>) -> Option<String> {
    participant(e)
        .and_then(|p| p.feedback.as_ref())
        .and_then(|f| enum_str(&f.rating))
}

/// The side rule of the module docs, given the endpoint types and the stream direction.
fn pick_side(caller_is_user: bool, callee_is_user: bool, direction: Option<&str>) -> Side {
    match (caller_is_user, callee_is_user) {
        (true, false) => Side::Caller,
        (false, true) => Side::Callee,
        _ => match direction {
            Some("calleeToCaller") => Side::Callee,
            _ => Side::Caller,
        },
    }
}

fn fill_network(e: &mut EndpointSlicers, n: Option<&NetworkInfo>) {
    if let Some(n) = n {
        e.subnet = string(&n.subnet);
        e.ip_address = string(&n.ip_address);
        e.connection_type = enum_str(&n.connection_type);
        e.wifi_band = enum_str(&n.wifi_band);
        e.transport = enum_str(&n.network_transport_protocol);
    }
}

fn fill_device(e: &mut EndpointSlicers, d: Option<&DeviceInfo>) {
    if let Some(d) = d {
        e.capture_device = string(&d.capture_device_name);
        e.render_device = string(&d.render_device_name);
    }
}

fn fill_agent(e: &mut EndpointSlicers, ua: Option<&UserAgent>) {
    match ua {
        Some(UserAgent::Client(c)) => {
            e.platform = enum_str(&c.platform);
            e.product_family = enum_str(&c.product_family);
            e.client_version = string(&c.application_version);
        }
        Some(UserAgent::Service(s)) => e.client_version = string(&s.application_version),
        Some(UserAgent::Other(m)) => {
            e.client_version = m
                .get("applicationVersion")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
        }
        None => {}
    }
}

/// The endpoint slicers of `side` for a media of a segment of a session.
fn endpoint_slicers(
    side: Side,
    session: &Session,
    segment: Option<&Segment>,
    media: Option<&Media>,
) -> EndpointSlicers {
    let (seg_ep, ses_ep) = match side {
        Side::Caller => (
            segment.and_then(|s| s.caller.as_ref()),
            session.caller.as_ref(),
        ),
        Side::Callee => (
            segment.and_then(|s| s.callee.as_ref()),
            session.callee.as_ref(),
        ),
    };
    let mut e = EndpointSlicers {
        side,
        ..EndpointSlicers::default()
    };
    if let Some(m) = media {
        let (net, dev) = match side {
            Side::Caller => (m.caller_network.as_ref(), m.caller_device.as_ref()),
            Side::Callee => (m.callee_network.as_ref(), m.callee_device.as_ref()),
        };
        fill_network(&mut e, net);
        fill_device(&mut e, dev);
    }
    fill_agent(&mut e, user_agent(seg_ep).or(user_agent(ses_ep)));
    e.feedback_rating = feedback_rating(ses_ep).or_else(|| feedback_rating(seg_ep));
    e
}

fn call_slicers(r: &CallRecord) -> CallSlicers {
    CallSlicers {
        call_type: enum_str(&r.r#type),
        join_web_url: string(&r.join_web_url),
        organizer_id: r
            .organizer_v2
            .as_ref()
            .and_then(|o| string(&o.id))
            .or_else(|| {
                r.organizer
                    .as_ref()
                    .and_then(identity_set_member)
                    .and_then(|i| string(&i.id))
            }),
    }
}

fn ord(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Every stream and session row of `record`, tagged with `version` (the record version the caller stores
/// them under; normally `record.version`).
pub fn record_rows(record: &CallRecord, version: i64) -> RecordRows {
    let record_id = string(&record.id).unwrap_or_default();
    let call = call_slicers(record);
    let record_start = ts(&record.start_date_time);
    let mut out = RecordRows::default();
    let sessions: &[Session] = record.sessions.as_ref().map_or(&[], Vec::as_slice);
    for (si, session) in sessions.iter().enumerate() {
        let caller = party(session.caller.as_ref());
        let callee = party(session.callee.as_ref());
        let session_start = ts(&session.start_date_time).or(record_start);
        let first_stream = out.streams.len();
        let segments: &[Segment] = session.segments.as_ref().map_or(&[], Vec::as_slice);
        for (gi, segment) in segments.iter().enumerate() {
            let seg_caller = segment.caller.as_ref().or(session.caller.as_ref());
            let seg_callee = segment.callee.as_ref().or(session.callee.as_ref());
            let segment_start = ts(&segment.start_date_time).or(session_start);
            let medias: &[Media] = segment.media.as_ref().map_or(&[], Vec::as_slice);
            for (mi, media) in medias.iter().enumerate() {
                let label = string(&media.label);
                let kind = MediaKind::from_label(label.as_deref());
                let streams: &[MediaStream] = media.streams.as_ref().map_or(&[], Vec::as_slice);
                for (ti, stream) in streams.iter().enumerate() {
                    let direction = enum_str(&stream.stream_direction);
                    let side = pick_side(
                        is_participant(seg_caller),
                        is_participant(seg_callee),
                        direction.as_deref(),
                    );
                    let start = ts(&stream.start_date_time).or(segment_start);
                    let end = ts(&stream.end_date_time)
                        .or(ts(&segment.end_date_time))
                        .or(ts(&session.end_date_time));
                    out.streams.push(StreamRow {
                        key: StreamKey {
                            record_id: record_id.clone(),
                            record_version: version,
                            session_ordinal: ord(si),
                            session_id: string(&session.id),
                            segment_ordinal: ord(gi),
                            segment_id: string(&segment.id),
                            media_ordinal: ord(mi),
                            media_label: label.clone(),
                            stream_ordinal: ord(ti),
                            stream_id: string(&stream.stream_id),
                            direction,
                        },
                        kind,
                        classification: classify(kind, stream),
                        start: start.map(|t| t.as_str().to_owned()),
                        end: end.map(|t| t.as_str().to_owned()),
                        day: start.map(utc_day),
                        metrics: StreamMetrics::of(stream),
                        call: call.clone(),
                        caller: caller.clone(),
                        callee: callee.clone(),
                        endpoint: endpoint_slicers(side, session, Some(segment), Some(media)),
                    });
                }
            }
        }
        let own = &out.streams[first_stream..];
        let audio_streams = own.iter().filter(|r| r.kind == MediaKind::Audio).count();
        let poor_audio = own
            .iter()
            .filter(|r| r.kind == MediaKind::Audio && r.classification.is_poor())
            .count();
        let side = pick_side(
            is_participant(session.caller.as_ref()),
            is_participant(session.callee.as_ref()),
            None,
        );
        // Network and devices for the session: the first media of a segment that has them for this side.
        let media_for_side = segments.iter().find_map(|g| {
            g.media.as_ref()?.iter().find_map(|m| {
                let has = match side {
                    Side::Caller => m.caller_network.as_ref().is_some(),
                    Side::Callee => m.callee_network.as_ref().is_some(),
                };
                has.then_some((g, m))
            })
        });
        let endpoint = endpoint_slicers(
            side,
            session,
            media_for_side.map(|(g, _)| g).or(segments.first()),
            media_for_side.map(|(_, m)| m),
        );
        let failure = session.failure_info.as_ref();
        out.sessions.push(SessionRow {
            record_id: record_id.clone(),
            record_version: version,
            session_ordinal: ord(si),
            session_id: string(&session.id),
            start: session_start.map(|t| t.as_str().to_owned()),
            end: ts(&session.end_date_time).map(|t| t.as_str().to_owned()),
            day: session_start.map(utc_day),
            modalities: session
                .modalities
                .as_ref()
                .map(|m| m.iter().map(|e| e.as_str().to_owned()).collect())
                .unwrap_or_default(),
            is_test: session.is_test.as_ref().copied(),
            call: call.clone(),
            caller,
            callee,
            failure_stage: failure.and_then(|f| enum_str(&f.stage)),
            failure_reason: failure.and_then(|f| string(&f.reason)),
            audio_streams: ord(audio_streams),
            poor_audio_streams: ord(poor_audio),
            poor: poor_audio > 0,
            endpoint,
        });
    }
    out
}

/// One row per `mediaStream` of `record` (see the module docs for keys, sides and days).
pub fn stream_rows(record: &CallRecord, version: i64) -> Vec<StreamRow> {
    record_rows(record, version).streams
}

/// One row per session of `record`, with its poor flag (from its audio streams) and failure.
pub fn session_rows(record: &CallRecord, version: i64) -> Vec<SessionRow> {
    record_rows(record, version).sessions
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::classify::{Metric, UnclassifiedReason};
    use serde_json::{Value, json};
    use std::collections::HashSet;

    pub(crate) fn user_ep(id: &str, upn: &str) -> Value {
        json!({
            "@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
            "associatedIdentity": {"id": id, "displayName": id.to_uppercase(), "userPrincipalName": upn},
            "userAgent": {"@odata.type": "#microsoft.graph.callRecords.clientUserAgent",
                          "platform": "windows", "productFamily": "teams", "applicationVersion": "1.2.3"}
        })
    }

    pub(crate) fn service_ep(role: &str) -> Value {
        json!({
            "@odata.type": "#microsoft.graph.callRecords.serviceEndpoint",
            "userAgent": {"@odata.type": "#microsoft.graph.callRecords.serviceUserAgent", "role": role}
        })
    }

    pub(crate) fn net(subnet: &str, conn: &str) -> Value {
        json!({"subnet": subnet, "ipAddress": subnet.replace(".0", ".7"), "connectionType": conn,
               "networkTransportProtocol": "udp", "wifiBand": "unknown"})
    }

    pub(crate) fn audio_stream(dir: &str, jitter: &str) -> Value {
        json!({"streamId": "1", "streamDirection": dir, "averageJitter": jitter,
               "startDateTime": "2026-01-05T23:59:59.9999999Z"})
    }

    fn record(v: Value) -> CallRecord {
        serde_json::from_value(v).unwrap()
    }

    /// Auto attendant → call queue → agent: the first two sessions share an id.
    fn transfer_record() -> CallRecord {
        let phone = service_ep("gateway");
        let seg = |callee: &Value, id: &str| {
            json!({"id": id, "caller": phone, "callee": callee,
                   "startDateTime": "2026-01-05T10:00:00Z", "endDateTime": "2026-01-05T10:01:00Z",
                   "media": [{"label": "main-audio",
                              "callerNetwork": net("203.0.113.0", "wired"),
                              "calleeNetwork": net("10.1.2.0", "wifi"),
                              "streams": [audio_stream("callerToCallee", "PT0.01S"),
                                          audio_stream("calleeToCaller", "PT0.05S")]}]})
        };
        let aa = service_ep("skypeForBusinessAutoAttendant");
        let cq = service_ep("skypeForBusinessCallQueues");
        let agent = user_ep("agent", "agent@contoso.com");
        record(json!({
            "id": "rec-transfer", "version": 3, "type": "peerToPeer",
            "startDateTime": "2026-01-05T10:00:00Z", "endDateTime": "2026-01-05T10:10:00Z",
            "sessions": [
                {"id": "S", "caller": phone, "callee": aa, "segments": [seg(&aa, "S")],
                 "startDateTime": "2026-01-05T10:00:00Z", "endDateTime": "2026-01-05T10:01:00Z"},
                {"id": "S", "caller": phone, "callee": cq, "segments": [seg(&cq, "S")],
                 "startDateTime": "2026-01-05T10:01:00Z", "endDateTime": "2026-01-05T10:02:00Z"},
                {"id": "T", "caller": phone, "callee": agent, "segments": [seg(&agent, "S")],
                 "startDateTime": "2026-01-05T10:02:00Z", "endDateTime": "2026-01-05T10:10:00Z"}
            ]
        }))
    }

    #[test]
    fn transfer_keys_are_unique_and_sides_follow_the_rule() {
        let rec = transfer_record();
        let rows = record_rows(&rec, 3);
        assert_eq!(rows.streams.len(), 6);
        let keys: HashSet<_> = rows.streams.iter().map(|r| r.key.clone()).collect();
        assert_eq!(keys.len(), 6, "keys collide");
        // The (record, session id, label, stream id) key of naive tools would collide here.
        let naive: HashSet<_> = rows
            .streams
            .iter()
            .map(|r| {
                (
                    r.key.session_id.clone(),
                    r.key.media_label.clone(),
                    r.key.stream_id.clone(),
                    r.key.direction.clone(),
                )
            })
            .collect();
        assert_eq!(
            naive.len(),
            4,
            "sessions 0 and 1 share id S: a naive key merges their streams"
        );
        assert!(rows.streams.iter().all(|r| r.key.record_version == 3));
        // Service ↔ service (gateway → auto attendant): sending side per direction.
        let s0: Vec<_> = rows
            .streams
            .iter()
            .filter(|r| r.key.session_ordinal == 0)
            .collect();
        assert_eq!(s0[0].endpoint.side, Side::Caller);
        assert_eq!(s0[0].endpoint.subnet.as_deref(), Some("203.0.113.0"));
        assert_eq!(s0[1].endpoint.side, Side::Callee);
        assert_eq!(s0[1].endpoint.subnet.as_deref(), Some("10.1.2.0"));
        // Gateway ↔ agent: the user's side for both directions.
        let s2: Vec<_> = rows
            .streams
            .iter()
            .filter(|r| r.key.session_ordinal == 2)
            .collect();
        for r in &s2 {
            assert_eq!(r.endpoint.side, Side::Callee);
            assert_eq!(r.endpoint.subnet.as_deref(), Some("10.1.2.0"));
            assert_eq!(r.endpoint.connection_type.as_deref(), Some("wifi"));
            assert_eq!(r.endpoint.platform.as_deref(), Some("windows"));
            assert_eq!(r.endpoint.client_version.as_deref(), Some("1.2.3"));
            assert_eq!(r.callee.upn.as_deref(), Some("agent@contoso.com"));
            assert_eq!(r.callee.id.as_deref(), Some("agent"));
            assert_eq!(r.callee.display_name.as_deref(), Some("AGENT"));
            assert_eq!(r.caller.service_role.as_deref(), Some("gateway"));
            assert_eq!(r.call.call_type.as_deref(), Some("peerToPeer"));
            // The stream start, 1e-7 s before midnight, is still the 5th.
            assert_eq!(r.day.as_deref(), Some("2026-01-05"));
        }
        // Sessions: three rows, each with one poor audio stream (50 ms jitter).
        assert_eq!(rows.sessions.len(), 3);
        assert!(rows.sessions.iter().all(|s| s.poor && s.audio_streams == 2));
        assert_eq!(rows.sessions[2].endpoint.side, Side::Callee);
        assert_eq!(
            rows.sessions[2].endpoint.subnet.as_deref(),
            Some("10.1.2.0")
        );
        assert_eq!(
            rows.streams[1].classification,
            Classification::Poor([Metric::AverageJitter].into_iter().collect())
        );
        // Rows serialize (camelCase) for the API.
        let v = serde_json::to_value(&rows.streams[1]).unwrap();
        assert_eq!(v["kind"], "audio");
        assert_eq!(v["classification"]["class"], "poor");
        assert_eq!(v["classification"]["poorDueTo"], json!(["averageJitter"]));
        assert_eq!(v["key"]["sessionOrdinal"], 0);
        assert_eq!(v["key"]["direction"], "calleeToCaller");
        assert_eq!(v["metrics"]["averageJitterMs"], 50.0);
        assert_eq!(v["endpoint"]["corp"], "outside");
        let v = serde_json::to_value(&rows.sessions[2]).unwrap();
        assert_eq!(v["poor"], true);
        assert_eq!(v["callee"]["upn"], "agent@contoso.com");
    }

    #[test]
    fn pstn_session_with_four_segments() {
        let gw = service_ep("mediationServer");
        let u = user_ep("u1", "u1@contoso.com");
        let segs: Vec<Value> = (0..4)
            .map(|i| {
                json!({"id": format!("seg{i}"), "caller": gw, "callee": u,
                       "startDateTime": format!("2026-01-06T0{i}:00:00Z"),
                       "endDateTime": format!("2026-01-06T0{i}:30:00Z"),
                       "media": [{"label": "main-audio",
                                  "calleeNetwork": net("10.9.0.0", "wired"),
                                  "streams": [{"streamId": "1", "streamDirection": "callerToCallee"},
                                              {"streamId": "1", "streamDirection": "calleeToCaller",
                                               "averageJitter": "PT0.002S"}]}]})
            })
            .collect();
        let rec = record(json!({
            "id": "rec-pstn", "version": 1, "type": "peerToPeer",
            "startDateTime": "2026-01-06T00:00:00Z",
            "sessions": [{"id": "rec-pstn", "caller": gw, "callee": u, "segments": segs,
                          "failureInfo": {"stage": "midcall", "reason": "dropped"}}]
        }));
        let rows = record_rows(&rec, 1);
        assert_eq!(rows.streams.len(), 8);
        let keys: HashSet<_> = rows.streams.iter().map(|r| &r.key).collect();
        assert_eq!(keys.len(), 8);
        let segs: HashSet<_> = rows.streams.iter().map(|r| r.key.segment_ordinal).collect();
        assert_eq!(segs.len(), 4);
        // No stream start: the segment's start gives the day; no metrics → Unclassified.
        assert_eq!(
            rows.streams[0].start.as_deref(),
            Some("2026-01-06T00:00:00Z")
        );
        assert_eq!(
            rows.streams[0].classification,
            Classification::Unclassified(UnclassifiedReason::NoMetrics)
        );
        assert_eq!(rows.streams[1].classification, Classification::Good);
        assert_eq!(
            rows.streams[6].start.as_deref(),
            Some("2026-01-06T03:00:00Z")
        );
        assert_eq!(rows.sessions.len(), 1);
        let s = &rows.sessions[0];
        assert!(s.is_drop_failure() && !s.is_setup_failure() && !s.poor);
        assert_eq!(s.failure_reason.as_deref(), Some("dropped"));
        assert_eq!(s.audio_streams, 8);
        assert_eq!(s.endpoint.subnet.as_deref(), Some("10.9.0.0"));
        // The session's start is absent: the record's start is used.
        assert_eq!(s.day.as_deref(), Some("2026-01-06"));
    }

    #[test]
    fn peer_to_peer_uses_the_sender_and_kinds_by_label() {
        let a = user_ep("a", "a@contoso.com");
        let b = user_ep("b", "b@contoso.com");
        let media = |label: &str| {
            json!({"label": label,
                   "callerNetwork": net("10.0.1.0", "wired"), "calleeNetwork": net("10.0.2.0", "wifi"),
                   "callerDevice": {"captureDeviceName": "Mic A", "renderDeviceName": "Spk A"},
                   "calleeDevice": {"captureDeviceName": "Mic B", "renderDeviceName": "Spk B"},
                   "streams": [{"streamDirection": "callerToCallee", "averageVideoFrameRate": 1.0},
                               {"streamDirection": "calleeToCaller", "averageVideoFrameRate": 1.0}]})
        };
        let labels = [
            "main-audio",
            "main-video",
            "applicationsharing-video",
            "applicationsharing",
            "data",
            "mystery",
        ];
        let rec = record(json!({
            "id": "p2p", "version": 2, "joinWebUrl": null, "organizer_v2": {"id": "a"},
            "sessions": [{"id": "p2p", "caller": a, "callee": b,
                          "startDateTime": "2026-01-07T12:00:00Z",
                          "segments": [{"id": "g", "media": labels.iter().map(|l| media(l)).collect::<Vec<_>>()}]}]
        }));
        let rows = stream_rows(&rec, 2);
        assert_eq!(rows.len(), 12);
        let audio = &rows[0..2];
        assert_eq!(audio[0].endpoint.side, Side::Caller);
        assert_eq!(audio[0].endpoint.subnet.as_deref(), Some("10.0.1.0"));
        assert_eq!(audio[0].endpoint.capture_device.as_deref(), Some("Mic A"));
        assert_eq!(audio[1].endpoint.side, Side::Callee);
        assert_eq!(audio[1].endpoint.subnet.as_deref(), Some("10.0.2.0"));
        assert_eq!(audio[1].endpoint.render_device.as_deref(), Some("Spk B"));
        assert_eq!(audio[0].call.organizer_id.as_deref(), Some("a"));
        assert_eq!(audio[0].call.join_web_url, None);
        // Frame rate 1.0: audio has none of its five metrics; video Poor (< 7), VBSS Poor (< 2).
        let classes: Vec<_> = rows
            .iter()
            .step_by(2)
            .map(|r| (r.kind, r.classification))
            .collect();
        let poor_rate = Classification::Poor([Metric::AverageVideoFrameRate].into_iter().collect());
        assert_eq!(
            classes,
            vec![
                (
                    MediaKind::Audio,
                    Classification::Unclassified(UnclassifiedReason::NoMetrics)
                ),
                (MediaKind::Video, poor_rate),
                (MediaKind::Vbss, poor_rate),
                (
                    MediaKind::AppSharing,
                    Classification::Unclassified(UnclassifiedReason::RdpNotExposed)
                ),
                (
                    MediaKind::Other { known: true },
                    Classification::Unclassified(UnclassifiedReason::NotAQualityStream)
                ),
                (
                    MediaKind::Other { known: false },
                    Classification::Unclassified(UnclassifiedReason::UnknownLabel)
                ),
            ]
        );
        assert_eq!(rows[0].day.as_deref(), Some("2026-01-07"));
    }

    #[test]
    fn record_without_sessions_has_no_rows() {
        let rec = record(json!({"id": "x", "version": 1}));
        let rows = record_rows(&rec, 1);
        assert!(rows.streams.is_empty() && rows.sessions.is_empty());
    }
}
