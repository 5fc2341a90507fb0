//! One call record (one version of it), written straight as compact JSON.

use crate::enums::{
    audio_codec as ac, call_type, connection_type as ct, failure_stage, feedback_rating as fr,
    modality, service_role as sr, stream_direction as dir, transport, video_codec as vc, wifi_band,
    wifi_radio,
};
use crate::json::{Json, TICKS};
use crate::rng::{Guid, R, guid, log_uniform, lognormal, normal, pick, pick_w, rng_for};
use crate::users::{ACS_CLIENT, CLIENTS, Client, DESKTOP_CPUS, Directory, MOBILE_CPUS};
use crate::{GenConfig, Scale};
use rand::Rng;

const M_AUDIO: u8 = 1;
const M_VIDEO: u8 = 2;
const M_VBSS: u8 = 4;
const M_DATA: u8 = 8;
const M_SCREEN: u8 = 16;

/// Service endpoints: (role, headerValue, applicationVersion).
const SERVICES: &[(&str, &str, &str)] = &[
    (
        sr::SFB_AV_MCU,
        "av-mcu/2025.10.21.3 (Microsoft Teams MCU; EUNO)",
        "2025.10.21.3",
    ),
    (
        sr::MEDIATION_SERVER,
        "Microsoft.PSTNHub.SIPProxy v.2025.10.14.2 i.USWE.3",
        "2025.10.14.2",
    ),
    (sr::GATEWAY, "Mediant SW/v.7.40A.500.380", "7.40A.500.380"),
    (
        sr::CONFERENCING_ANNOUNCEMENT_SERVICE,
        "Microsoft.Teams.AnnouncementService/2025.9.30.1",
        "2025.9.30.1",
    ),
    (
        sr::SFB_AUTO_ATTENDANT,
        "Microsoft.Teams.AutoAttendant/2025.10.2.4",
        "2025.10.2.4",
    ),
    (
        sr::SFB_CALL_QUEUES,
        "Microsoft.Teams.CallQueues/2025.10.2.4",
        "2025.10.2.4",
    ),
    (
        sr::CUSTOM_BOT,
        "Microsoft.Graph.Communications.Calling/1.2.0.10563 (Contoso Recording Bot)",
        "1.2.0.10563",
    ),
    (
        sr::VOICEMAIL,
        "Microsoft.Teams.Voicemail/2025.9.30.2",
        "2025.9.30.2",
    ),
];
const S_MCU: u8 = 0;
const S_MEDIATION: u8 = 1;
const S_GATEWAY: u8 = 2;
const S_ANNOUNCE: u8 = 3;
const S_AA: u8 = 4;
const S_CQ: u8 = 5;
const S_BOT: u8 = 6;
const S_VOICEMAIL: u8 = 7;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ep {
    /// A user's client; `acs` = an Azure Communication Services client.
    User {
        u: u32,
        acs: bool,
    },
    Service(u8),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Party {
    User(u32),
    Phone(u64),
    Bot,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// caller ↔ callee directly (client ↔ client, client ↔ MCU, client ↔ bot/voicemail).
    Direct,
    /// A user calling out to a phone number: client → mediation server → gateway.
    PstnOut,
    /// A phone leg into a service (meeting dial-in, auto attendant, call queue): gateway → mediation server → service.
    PstnIn { announce: bool },
}

#[derive(Clone, Copy)]
struct SessionPlan {
    id: Guid,
    start: i64,
    end: i64,
    caller: Ep,
    callee: Ep,
    kind: Kind,
    mods: u8,
    /// (stage, reason index)
    failure: Option<(bool, u8)>,
    /// First record version that carries this session's streams.
    streams_from: u8,
    /// Feedback (caller side) present from this version; 0 = never.
    feedback_from: u8,
    conn: u8,
}

/// What the scheduler needs to know about a generated record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordInfo {
    pub final_version: u32,
    pub sessions: u64,
}

const REASONS_SETUP: &[&str] = &[
    "Media connectivity could not be established: ICE connectivity checks failed",
    "Call setup timed out before the callee answered",
    "The callee declined the call",
    "Firewall or proxy blocked the media path",
    "The client could not reach the signaling service",
];
const REASONS_MIDCALL: &[&str] = &[
    "Media connectivity was lost during the call",
    "The network connection was interrupted",
    "The client stopped unexpectedly",
    "The media server ended the call unexpectedly",
];

const CAPTURE: &[(&str, &str)] = &[
    ("Microphone Array (Realtek(R) Audio)", "Realtek: 6.0.9600.1"),
    (
        "Headset Microphone (Jabra Evolve2 65)",
        "Microsoft: 10.0.26100.1882",
    ),
    (
        "Microphone (Logitech Zone Vibe 100)",
        "Microsoft: 10.0.26100.1",
    ),
    (
        "Echo Cancelling Speakerphone (Jabra Speak2 75)",
        "Microsoft: 10.0.26100.1",
    ),
    (
        "Microphone (Poly Voyager Focus 2)",
        "Microsoft: 10.0.22621.3672",
    ),
    (
        "Microphone (Microsoft Virtual Audio Device (Simple) (WDM))",
        "Microsoft: 5.0.8638.1100",
    ),
    ("Default input device", ""),
];
const RENDER: &[(&str, &str)] = &[
    ("Speakers (Realtek(R) Audio)", "Realtek: 6.0.9600.1"),
    (
        "Headphones (Jabra Evolve2 65)",
        "Microsoft: 10.0.26100.1882",
    ),
    (
        "Headphones (Logitech Zone Vibe 100)",
        "Microsoft: 10.0.26100.1",
    ),
    (
        "Echo Cancelling Speakerphone (Jabra Speak2 75)",
        "Microsoft: 10.0.26100.1",
    ),
    (
        "Headphones (Poly Voyager Focus 2)",
        "Microsoft: 10.0.22621.3672",
    ),
    (
        "Speakers (Microsoft Virtual Audio Device (Simple) (WDM))",
        "Microsoft: 5.0.8638.1100",
    ),
    ("Default output device", ""),
];
const WIFI_VENDOR: &[(&str, &str)] = &[
    ("Intel(R) Wi-Fi 6E AX211 160MHz", "Intel:23.60.0.9"),
    ("Intel(R) Wi-Fi 6 AX201 160MHz", "Intel:22.250.1.2"),
    (
        "Qualcomm FastConnect 7800 Wi-Fi 7 High Band Simultaneous (HBS) Network Adapter",
        "Qualcomm:3.1.0.1312",
    ),
    (
        "Realtek RTL8852BE WiFi 6 802.11ax PCIe Adapter",
        "Realtek:6001.16.148.0",
    ),
];
const FEEDBACK_TOKENS: &[&str] = &[
    "NoSound",
    "OtherNoSound",
    "Echo",
    "Noisy",
    "LowVolume",
    "Stopped",
    "DistortedSound",
    "Interruptions",
];
const FEEDBACK_TEXT: &[&str] = &[
    "Could not hear the other side for a few seconds",
    "Echo on the line",
    "Robotic voice at the start of the call",
    "Great call",
    "Lots of background noise",
    "Call dropped twice",
];

/// Reusable state for generating records.
pub(crate) struct RecordGen {
    pub(crate) dir: std::sync::Arc<Directory>,
    seed: u64,
    tenant: String,
    start: i64,
    span: i64,
    small: bool,
    sessions: Vec<SessionPlan>,
    parties: Vec<Party>,
    seen: Vec<u32>,
    stamp: u32,
    /// Pre-rendered serviceEndpoint objects.
    services: Vec<Vec<u8>>,
    null_device: Vec<u8>,
    ep_a: Json,
    ep_b: Json,
    fb: Json,
    med: Json,
    ann: Json,
    scratch: Json,
    acs_resource: Guid,
}

/// The sessions of one group call: a heavy tail.
fn group_sessions(r: &mut R, small: bool) -> usize {
    let x: f64 = r.random();
    if small {
        return if x < 0.70 {
            r.random_range(2..=8)
        } else if x < 0.95 {
            r.random_range(9..=20)
        } else {
            r.random_range(21..=60)
        };
    }
    if x < 0.60 {
        2 + (lognormal(r, 2.0, 0.6) as usize).min(6)
    } else if x < 0.85 {
        r.random_range(9..=20)
    } else if x < 0.94 {
        log_uniform(r, 21.0, 60.0) as usize
    } else if x < 0.975 {
        log_uniform(r, 61.0, 140.0) as usize
    } else if x < 0.998 {
        log_uniform(r, 141.0, 700.0) as usize
    } else {
        log_uniform(r, 1001.0, 2200.0) as usize
    }
}

fn sub_tick(r: &mut R) -> i64 {
    r.random_range(0..TICKS)
}

impl RecordGen {
    pub(crate) fn new(cfg: &GenConfig) -> RecordGen {
        let small = cfg.scale == Scale::Small;
        let dir = Directory::shared(&cfg.tenant_id, 3000);
        let start = (cfg.start.as_nanosecond() / 100) as i64;
        let mut services = Vec::new();
        for (role, header, ver) in SERVICES {
            let mut j = Json::new();
            j.obj();
            j.k_str(
                "@odata.type",
                "#microsoft.graph.callRecords.serviceEndpoint",
            );
            j.key("userAgent");
            j.obj();
            j.k_str(
                "@odata.type",
                "#microsoft.graph.callRecords.serviceUserAgent",
            );
            j.k_str("headerValue", header);
            j.k_str("applicationVersion", ver);
            j.k_str("role", role);
            j.end_obj();
            j.end_obj();
            services.push(j.buf);
        }
        let mut j = Json::new();
        j.obj();
        for k in DEVICE_KEYS {
            j.k_null(k);
        }
        j.end_obj();
        let null_device = j.buf;
        let mut tr = rng_for(crate::rng::hash_str(&cfg.tenant_id), 0x0041_4353, 0);
        let acs_resource = guid(&mut tr);
        let n = dir.users.len();
        RecordGen {
            dir,
            seed: cfg.seed,
            tenant: cfg.tenant_id.clone(),
            start,
            span: i64::from(cfg.days.max(1)) * 86_400 * TICKS,
            small,
            sessions: Vec::new(),
            parties: Vec::new(),
            seen: vec![0; n],
            stamp: 0,
            services,
            null_device,
            ep_a: Json::new(),
            ep_b: Json::new(),
            fb: Json::new(),
            med: Json::new(),
            ann: Json::new(),
            scratch: Json::new(),
            acs_resource,
        }
    }

    fn record_start(&self, r: &mut R) -> i64 {
        crate::window_time(r, self.start, self.span)
    }

    fn client_ep(&self, r: &mut R, u: usize) -> Ep {
        Ep::User {
            u: u as u32,
            acs: r.random_bool(0.015),
        }
    }

    fn conn_for(&self, r: &mut R, ep: Ep) -> u8 {
        match ep {
            Ep::User { u, .. } => {
                let user = &self.dir.users[u as usize];
                let c = &CLIENTS[user.client].0;
                if c.mobile {
                    if r.random_bool(0.7) { 1 } else { 2 }
                } else if r.random_range(0..100u8) < user.wired_share {
                    0
                } else if r.random_bool(0.01) {
                    3
                } else {
                    1
                }
            }
            Ep::Service(_) => 0,
        }
    }

    fn party_of(ep: Ep) -> Option<Party> {
        match ep {
            Ep::User { u, .. } => Some(Party::User(u)),
            Ep::Service(S_BOT) => Some(Party::Bot),
            Ep::Service(_) => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn new_session(
        &self,
        r: &mut R,
        start: i64,
        end: i64,
        caller: Ep,
        callee: Ep,
        kind: Kind,
        mods: u8,
    ) -> SessionPlan {
        let x: f64 = r.random();
        let failure = if x < 0.012 {
            Some((true, r.random_range(0..REASONS_SETUP.len()) as u8))
        } else if x < 0.032 {
            Some((false, r.random_range(0..REASONS_MIDCALL.len()) as u8))
        } else {
            None
        };
        let end = match failure {
            Some((true, _)) => start + r.random_range(1..25) * TICKS + sub_tick(r),
            _ => end,
        };
        let conn_ep = if matches!(caller, Ep::User { .. }) {
            caller
        } else {
            callee
        };
        SessionPlan {
            id: guid(r),
            start,
            end: end.max(start + TICKS),
            caller,
            callee,
            kind,
            mods,
            failure,
            streams_from: 1,
            feedback_from: if matches!(caller, Ep::User { .. }) && r.random_bool(0.07) {
                1
            } else {
                0
            },
            conn: self.conn_for(r, conn_ep),
        }
    }

    fn mods(&self, r: &mut R, group: bool) -> u8 {
        let mut m = M_AUDIO;
        if r.random_bool(if group { 0.35 } else { 0.2 }) {
            m |= M_VIDEO;
        }
        if r.random_bool(if group { 0.12 } else { 0.05 }) {
            m |= M_VBSS;
        }
        if group && r.random_bool(0.03) {
            m |= M_DATA;
        }
        if r.random_bool(0.01) {
            m |= M_SCREEN;
        }
        m
    }

    /// Distinct participants (participants_v2 entries) of the last record written.
    pub(crate) fn participants(&self) -> u64 {
        self.parties.len() as u64
    }

    /// Writes version `version` of record `index` into `j` (no trailing newline).
    pub(crate) fn write(&mut self, index: u64, version: u32, j: &mut Json) -> RecordInfo {
        let mut r = rng_for(self.seed, 0x5245_4300, index);
        let r = &mut r;
        let fv: u32 = {
            let x: f64 = r.random();
            if x < 0.90 {
                1
            } else if x < 0.98 {
                2
            } else {
                3
            }
        };
        let p2p_share = if self.small { 0.95 } else { 0.60 };
        let p2p = r.random_bool(p2p_share);
        let rec_id = guid(r);
        let start = self.record_start(r);
        self.sessions.clear();
        let organizer: usize;
        let mut join_url = false;
        if p2p {
            let a = self.dir.pick(r);
            organizer = a;
            let dur = (lognormal(r, 180.0, 1.0).clamp(3.0, 4.0 * 3600.0) * TICKS as f64) as i64;
            let caller = self.client_ep(r, a);
            let y: f64 = r.random();
            let (callee, kind) = if y < 0.08 {
                (Ep::Service(S_GATEWAY), Kind::PstnOut)
            } else if y < 0.10 {
                (Ep::Service(S_VOICEMAIL), Kind::Direct)
            } else {
                let mut b = self.dir.pick(r);
                if b == a {
                    b = (b + 1) % self.dir.users.len();
                }
                (self.client_ep(r, b), Kind::Direct)
            };
            let mods = if kind == Kind::Direct && matches!(callee, Ep::User { .. }) {
                self.mods(r, false)
            } else {
                M_AUDIO
            };
            let s = self.new_session(r, start, start + dur, caller, callee, kind, mods);
            self.sessions.push(s);
        } else if r.random_bool(0.03) {
            // Auto attendant → call queue → agent: the first two legs share one session id (a transfer).
            join_url = false;
            let agent = self.dir.pick(r);
            organizer = agent;
            let phone = Ep::Service(S_GATEWAY);
            let t1 = start + r.random_range(10..60) * TICKS + sub_tick(r);
            let t2 = t1 + r.random_range(20..600) * TICKS + sub_tick(r);
            let t3 = t2 + (lognormal(r, 240.0, 0.8).clamp(10.0, 3600.0) * TICKS as f64) as i64;
            let a = self.new_session(
                r,
                start,
                t1,
                phone,
                Ep::Service(S_AA),
                Kind::PstnIn { announce: false },
                M_AUDIO,
            );
            let mut b = self.new_session(
                r,
                t1,
                t2,
                phone,
                Ep::Service(S_CQ),
                Kind::PstnIn { announce: false },
                M_AUDIO,
            );
            b.id = a.id;
            let agent_ep = self.client_ep(r, agent);
            let c = self.new_session(
                r,
                t2,
                t3,
                phone,
                agent_ep,
                Kind::PstnIn { announce: false },
                M_AUDIO,
            );
            self.sessions.extend([a, b, c]);
        } else {
            join_url = true;
            let n = group_sessions(r, self.small);
            let big = n > 60;
            let len_s = if big {
                lognormal(r, 3600.0, 0.35)
            } else {
                lognormal(r, 1800.0, 0.7)
            }
            .clamp(60.0, 8.0 * 3600.0);
            let len = (len_s * TICKS as f64) as i64;
            organizer = self.dir.pick(r);
            let mcu = Ep::Service(S_MCU);
            for i in 0..n {
                let (join, leave) = if i == 0 {
                    (0, len - (r.random_range(0.0..0.15) * len as f64) as i64)
                } else {
                    let join = if r.random_bool(0.85) {
                        ((r.random::<f64>().ln() * -120.0 * TICKS as f64) as i64).min(len * 8 / 10)
                    } else {
                        (r.random::<f64>() * 0.9 * len as f64) as i64
                    };
                    let leave = if r.random_bool(0.75) {
                        len - ((r.random::<f64>().ln() * -90.0 * TICKS as f64) as i64).min(len / 10)
                    } else {
                        join + (r.random::<f64>() * (len - join) as f64) as i64
                    };
                    (join, leave.max(join + 5 * TICKS))
                };
                let s0 = start + join + if i == 0 { 0 } else { sub_tick(r) };
                let s1 = start + leave + sub_tick(r);
                let y: f64 = r.random();
                let sess = if y < 0.05 && !self.small {
                    // A participant dialling in from a phone.
                    let announce = r.random_bool(0.4);
                    self.new_session(
                        r,
                        s0,
                        s1,
                        Ep::Service(S_GATEWAY),
                        mcu,
                        Kind::PstnIn { announce },
                        M_AUDIO,
                    )
                } else if y < 0.065 && i > 0 {
                    // A recording/transcription bot.
                    self.new_session(r, s0, s1, Ep::Service(S_BOT), mcu, Kind::Direct, M_AUDIO)
                } else {
                    let u = if i == 0 {
                        organizer
                    } else if i > 2 && r.random_bool(0.08) {
                        // A rejoin: someone already in the meeting gets a second session.
                        match self.sessions[r.random_range(0..self.sessions.len())].caller {
                            Ep::User { u, .. } => u as usize,
                            _ => self.dir.pick(r),
                        }
                    } else {
                        self.dir.pick(r)
                    };
                    let ep = self.client_ep(r, u);
                    let mods = if big {
                        if r.random_bool(0.9) {
                            M_AUDIO
                        } else {
                            self.mods(r, true)
                        }
                    } else {
                        self.mods(r, true)
                    };
                    self.new_session(r, s0, s1, ep, mcu, Kind::Direct, mods)
                };
                self.sessions.push(sess);
            }
        }
        // Late data: which version brings each session's streams and feedback.
        if fv > 1 {
            for (i, s) in self.sessions.iter_mut().enumerate() {
                s.streams_from = if i == 0 {
                    fv as u8
                } else if r.random_bool(0.6) {
                    1
                } else {
                    r.random_range(2..=fv) as u8
                };
                if s.feedback_from > 0 {
                    s.feedback_from = fv as u8;
                }
            }
        }
        let end = self
            .sessions
            .iter()
            .map(|s| s.end)
            .max()
            .unwrap_or(start + TICKS);
        let mut lm = end
            + (lognormal(r, 1200.0, 0.6).clamp(120.0, 9000.0) * TICKS as f64) as i64
            + sub_tick(r);
        for _ in 1..version.min(fv) {
            lm += (lognormal(r, 4.0 * 3600.0, 0.5) * TICKS as f64) as i64 + sub_tick(r);
        }
        let lm_digits = pick_w(r, &[(7u32, 6), (6, 2), (0, 2)]);
        let version = version.min(fv);

        j.obj();
        j.key("id");
        j.str_bytes(&rec_id);
        j.k_int("version", i64::from(version));
        j.k_str(
            "type",
            if p2p {
                call_type::PEER_TO_PEER
            } else {
                call_type::GROUP_CALL
            },
        );
        let all_mods = self.sessions.iter().fold(0u8, |m, s| m | s.mods);
        write_mods(j, all_mods);
        j.k_ts("lastModifiedDateTime", lm, lm_digits);
        j.k_ts("startDateTime", start, 7);
        j.k_ts("endDateTime", end, 7);
        let org = &self.dir.users[organizer];
        if join_url {
            let mut t = [0u8; 40];
            for b in t.iter_mut() {
                *b = pick(
                    r,
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                );
            }
            let mut url = Vec::with_capacity(220);
            url.extend_from_slice(b"https://teams.microsoft.com/l/meetup-join/19%3ameeting_");
            url.extend_from_slice(&t);
            url.extend_from_slice(b"%40thread.v2/0?context=%7b%22Tid%22%3a%22");
            url.extend_from_slice(self.tenant.as_bytes());
            url.extend_from_slice(b"%22%2c%22Oid%22%3a%22");
            url.extend_from_slice(&org.id);
            url.extend_from_slice(b"%22%7d");
            j.key("joinWebUrl");
            j.str(std::str::from_utf8(&url).unwrap_or(""));
        } else {
            j.k_null("joinWebUrl");
        }
        // Distinct participants, in order of first appearance.
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.fill(0);
            self.stamp = 1;
        }
        self.parties.clear();
        self.parties.push(Party::User(organizer as u32));
        self.seen[organizer] = self.stamp;
        let mut phone_n = 0u64;
        for s in &self.sessions {
            let party = match (s.caller, s.kind) {
                (Ep::Service(S_GATEWAY), _) => {
                    phone_n += 1;
                    Some(Party::Phone(index.wrapping_mul(31).wrapping_add(phone_n)))
                }
                (ep, _) => Self::party_of(ep),
            };
            let extra = match s.callee {
                Ep::User { u, .. } => Some(Party::User(u)),
                _ => None,
            };
            for p in [party, extra].into_iter().flatten() {
                match p {
                    Party::User(u) => {
                        if self.seen[u as usize] != self.stamp {
                            self.seen[u as usize] = self.stamp;
                            self.parties.push(p);
                        }
                    }
                    Party::Phone(_) => {
                        if !self.parties.contains(&p) {
                            self.parties.push(p)
                        }
                    }
                    Party::Bot => {
                        if !self.parties.contains(&p) {
                            self.parties.push(p)
                        }
                    }
                }
            }
        }
        if !self.small {
            j.k_raw("organizer", &org.identity_set);
            j.key("participants");
            j.arr();
            for p in self
                .parties
                .iter()
                .filter(|p| matches!(p, Party::User(_)))
                .take(130)
            {
                if let Party::User(u) = p {
                    j.raw(&self.dir.users[*u as usize].identity_set);
                }
            }
            j.end_arr();
        }
        j.k_raw("organizer_v2", &org.organizer_v2);
        j.key("participants_v2");
        j.arr();
        for i in 0..self.parties.len() {
            match self.parties[i] {
                Party::User(u) => j.raw(&self.dir.users[u as usize].participant),
                Party::Phone(n) => write_phone_participant(j, phone_number(self.seed, n).as_str()),
                Party::Bot => write_bot_participant(j, &self.tenant),
            }
        }
        j.end_arr();
        j.key("sessions");
        j.arr();
        for i in 0..self.sessions.len() {
            let s = self.sessions[i];
            self.write_session(r, j, &s, version as u8);
        }
        j.end_arr();
        j.end_obj();
        RecordInfo {
            final_version: fv,
            sessions: self.sessions.len() as u64,
        }
    }

    /// Renders an endpoint without its closing brace into `out` (so feedback can be appended).
    fn endpoint_body(&self, r: &mut R, out: &mut Json, ep: Ep) {
        out.clear();
        match ep {
            Ep::Service(s) => {
                let b = &self.services[s as usize];
                out.buf.extend_from_slice(&b[..b.len() - 1]);
            }
            Ep::User { u, acs } => {
                let user = &self.dir.users[u as usize];
                let client: &Client = if acs {
                    &ACS_CLIENT
                } else {
                    &CLIENTS[user.client].0
                };
                out.obj();
                out.k_str(
                    "@odata.type",
                    "#microsoft.graph.callRecords.participantEndpoint",
                );
                out.k_str("name", &user.machine);
                if !self.small {
                    let (cpu, cores, mhz) = if client.mobile {
                        MOBILE_CPUS[user.cpu % MOBILE_CPUS.len()]
                    } else {
                        DESKTOP_CPUS[user.cpu]
                    };
                    out.k_str("cpuName", cpu);
                    out.k_int("cpuCoresCount", cores);
                    out.k_int("cpuProcessorSpeedInMhz", mhz + r.random_range(-40..40));
                }
                out.key("userAgent");
                out.obj();
                out.k_str(
                    "@odata.type",
                    "#microsoft.graph.callRecords.clientUserAgent",
                );
                out.k_str("headerValue", client.header);
                out.k_str("applicationVersion", client.version);
                out.k_str("platform", client.platform);
                out.k_str("productFamily", client.family);
                if !self.small {
                    if acs {
                        out.k_null("azureADAppId");
                        out.key("communicationServiceId");
                        out.str_bytes(&self.acs_resource);
                    } else {
                        out.k_str(
                            "azureADAppId",
                            if client.platform == crate::enums::client_platform::WEB {
                                "5e3ce6c0-2b1f-4285-8d4b-75ee78787346"
                            } else {
                                "1fec8e78-bce4-4aaf-ab1b-5451cc387264"
                            },
                        );
                        out.k_null("communicationServiceId");
                    }
                }
                out.end_obj();
                if !self.small {
                    out.k_raw("identity", &user.identity_set);
                }
                out.k_raw("associatedIdentity", &user.associated);
            }
        }
    }

    fn write_session(&mut self, r: &mut R, j: &mut Json, s: &SessionPlan, version: u8) {
        let mut ep_a = std::mem::take(&mut self.ep_a);
        let mut ep_b = std::mem::take(&mut self.ep_b);
        j.obj();
        j.key("id");
        j.str_bytes(&s.id);
        write_mods(j, s.mods);
        j.k_ts("startDateTime", s.start, 7);
        j.k_ts("endDateTime", s.end, 7);
        j.k_bool("isTest", false);
        write_failure(j, s.failure);
        // Caller (with feedback when given) and callee.
        self.endpoint_body(r, &mut ep_a, s.caller);
        j.key("caller");
        j.raw(&ep_a.buf);
        self.feedback(r, s);
        if s.feedback_from > 0 && version >= s.feedback_from {
            j.buf.extend_from_slice(&self.fb.buf);
        }
        j.buf.push(b'}');
        self.endpoint_body(r, &mut ep_b, s.callee);
        j.key("callee");
        j.raw(&ep_b.buf);
        j.buf.push(b'}');

        j.key("segments");
        j.arr();
        let streams = version >= s.streams_from;
        match s.kind {
            Kind::Direct => {
                self.write_segment(
                    r,
                    j,
                    s,
                    s.start,
                    s.end,
                    (s.caller, &ep_a.buf),
                    (s.callee, &ep_b.buf),
                    true,
                    streams,
                    s.mods,
                );
            }
            Kind::PstnOut => {
                let mut med = std::mem::take(&mut self.med);
                self.endpoint_body(r, &mut med, Ep::Service(S_MEDIATION));
                let t = s.start + r.random_range(1..4) * TICKS + sub_tick(r);
                let t = t.min(s.end);
                self.write_segment(
                    r,
                    j,
                    s,
                    s.start,
                    s.end,
                    (s.caller, &ep_a.buf),
                    (Ep::Service(S_MEDIATION), &med.buf),
                    false,
                    streams,
                    M_AUDIO,
                );
                self.write_segment(
                    r,
                    j,
                    s,
                    t,
                    s.end,
                    (Ep::Service(S_MEDIATION), &med.buf),
                    (s.callee, &ep_b.buf),
                    true,
                    streams,
                    M_AUDIO,
                );
                self.med = med;
            }
            Kind::PstnIn { announce } => {
                let mut med = std::mem::take(&mut self.med);
                self.endpoint_body(r, &mut med, Ep::Service(S_MEDIATION));
                self.write_segment(
                    r,
                    j,
                    s,
                    s.start,
                    s.end,
                    (s.caller, &ep_a.buf),
                    (Ep::Service(S_MEDIATION), &med.buf),
                    false,
                    streams,
                    M_AUDIO,
                );
                let mut t = s.start + r.random_range(0..2) * TICKS + sub_tick(r);
                if announce {
                    let mut ann = std::mem::take(&mut self.ann);
                    self.endpoint_body(r, &mut ann, Ep::Service(S_ANNOUNCE));
                    let t2 = (t + r.random_range(8..40) * TICKS + sub_tick(r)).min(s.end);
                    self.write_segment(
                        r,
                        j,
                        s,
                        t.min(s.end),
                        t2,
                        (Ep::Service(S_MEDIATION), &med.buf),
                        (Ep::Service(S_ANNOUNCE), &ann.buf),
                        false,
                        streams,
                        M_AUDIO,
                    );
                    t = t2;
                    self.ann = ann;
                }
                self.write_segment(
                    r,
                    j,
                    s,
                    t.min(s.end),
                    s.end,
                    (Ep::Service(S_MEDIATION), &med.buf),
                    (s.callee, &ep_b.buf),
                    true,
                    streams,
                    M_AUDIO,
                );
                self.med = med;
            }
        }
        j.end_arr();
        j.end_obj();
        self.ep_a = ep_a;
        self.ep_b = ep_b;
    }

    /// Renders `,"feedback":{…}` into `self.fb` (empty when the session has no feedback).
    fn feedback(&mut self, r: &mut R, s: &SessionPlan) {
        let small = self.small;
        let f = &mut self.fb;
        f.clear();
        if s.feedback_from == 0 {
            return;
        }
        // Appended after the endpoint's last property: starts with the comma.
        f.buf.push(b',');
        f.key("feedback");
        f.obj();
        let rating = pick_w(
            r,
            &[
                (fr::EXCELLENT, 28),
                (fr::GOOD, 40),
                (fr::FAIR, 14),
                (fr::POOR, 9),
                (fr::BAD, 5),
                (fr::NOT_RATED, 4),
            ],
        );
        f.k_str("rating", rating);
        let bad = rating == fr::POOR || rating == fr::BAD || rating == fr::FAIR;
        if r.random_bool(if bad { 0.4 } else { 0.1 }) {
            f.k_str("text", pick(r, FEEDBACK_TEXT));
        } else if !small {
            f.k_null("text");
        }
        if bad || r.random_bool(0.2) {
            f.key("tokens");
            f.obj();
            for t in FEEDBACK_TOKENS {
                f.k_bool(t, bad && r.random_bool(0.2));
            }
            f.end_obj();
        } else if !small {
            f.k_null("tokens");
        }
        f.end_obj();
    }

    #[allow(clippy::too_many_arguments)]
    fn write_segment(
        &mut self,
        r: &mut R,
        j: &mut Json,
        s: &SessionPlan,
        start: i64,
        end: i64,
        caller: (Ep, &[u8]),
        callee: (Ep, &[u8]),
        last: bool,
        streams: bool,
        mods: u8,
    ) {
        let end = end.max(start);
        j.obj();
        j.key("id");
        let id = guid(r);
        j.str_bytes(&id);
        j.k_ts("startDateTime", start, 7);
        j.k_ts("endDateTime", end, 7);
        write_failure(j, if last { s.failure } else { None });
        j.key("caller");
        j.raw(caller.1);
        j.buf.push(b'}');
        j.key("callee");
        j.raw(callee.1);
        j.buf.push(b'}');
        j.key("media");
        j.arr();
        let no_streams = matches!(s.failure, Some((true, _)));
        let pstn_leg = matches!(caller.0, Ep::Service(S_GATEWAY | S_MEDIATION))
            || matches!(callee.0, Ep::Service(S_GATEWAY));
        for (bit, label) in [
            (M_AUDIO, "main-audio"),
            (M_VIDEO, "main-video"),
            (M_VBSS, "applicationsharing-video"),
            (M_DATA, "data"),
        ] {
            if mods & bit == 0 {
                continue;
            }
            j.obj();
            j.k_str("label", label);
            let dur_s = ((end - start) / TICKS).max(1);
            self.write_network(r, j, "callerNetwork", caller.0, s.conn);
            self.write_network(r, j, "calleeNetwork", callee.0, s.conn);
            self.write_device(r, j, "callerDevice", caller.0, s.conn);
            self.write_device(r, j, "calleeDevice", callee.0, s.conn);
            j.key("streams");
            j.arr();
            let mut sink = std::mem::take(&mut self.scratch);
            sink.clear();
            sink.arr();
            {
                let out: &mut Json = if streams { &mut *j } else { &mut sink };
                if !no_streams {
                    for d in [dir::CALLER_TO_CALLEE, dir::CALLEE_TO_CALLER] {
                        if bit == M_VBSS && d == dir::CALLEE_TO_CALLER {
                            continue;
                        }
                        if bit == M_VIDEO && d == dir::CALLEE_TO_CALLER && r.random_bool(0.3) {
                            continue;
                        }
                        let (ss, se) = (start + sub_tick(r), end);
                        match bit {
                            M_AUDIO => write_audio_stream(
                                r, out, d, ss, se, dur_s, s.conn, pstn_leg, self.small,
                            ),
                            M_VIDEO | M_VBSS => write_video_stream(
                                r,
                                out,
                                d,
                                ss,
                                se,
                                dur_s,
                                bit == M_VBSS,
                                self.small,
                            ),
                            _ => write_data_stream(r, out, d, ss, se, self.small),
                        }
                    }
                }
            }
            self.scratch = sink;
            j.end_arr();
            j.end_obj();
        }
        j.end_arr();
        j.end_obj();
    }

    fn write_network(&self, r: &mut R, j: &mut Json, key: &str, ep: Ep, conn: u8) {
        j.key(key);
        j.obj();
        let full = !self.small;
        match ep {
            Ep::Service(s) => {
                let (a, b) = if s == S_GATEWAY {
                    (203u8, 0u8)
                } else {
                    (52, 112 + r.random_range(0..12u8))
                };
                let c = r.random_range(0..=255u8);
                let ip = format!("{a}.{b}.{c}.{}", r.random_range(1..255u8));
                j.k_str("ipAddress", &ip);
                j.k_str("subnet", &format!("{a}.{b}.{c}.0"));
                j.k_str("connectionType", ct::WIRED);
                j.k_str("networkTransportProtocol", transport::UDP);
                j.k_int("port", r.random_range(49152..53248));
                if full {
                    j.k_null("linkSpeed");
                    j.k_str("wifiBand", wifi_band::UNKNOWN);
                    j.k_str("wifiRadioType", wifi_radio::UNKNOWN);
                    for k in NET_NULLS_SERVICE {
                        j.k_null(k);
                    }
                    j.key("traceRouteHops");
                    j.arr();
                    j.end_arr();
                }
            }
            Ep::User { u, .. } => {
                let user = &self.dir.users[u as usize];
                let (sa, sb) = user.subnet;
                let home = conn == 1 && user.host.is_multiple_of(3);
                let (ip, subnet) = match conn {
                    2 => {
                        let b = 64 + (user.host % 64);
                        let c = r.random_range(0..=255u8);
                        (
                            format!("100.{b}.{c}.{}", r.random_range(1..255u8)),
                            format!("100.{b}.{c}.0"),
                        )
                    }
                    _ if home => (
                        format!("192.168.1.{}", user.host),
                        "192.168.1.0".to_string(),
                    ),
                    1 => (
                        format!("10.{}.{}.{}", sa + 1, sb, user.host),
                        format!("10.{}.{}.0", sa + 1, sb),
                    ),
                    _ => (
                        format!("10.{sa}.{sb}.{}", user.host),
                        format!("10.{sa}.{sb}.0"),
                    ),
                };
                j.k_str("ipAddress", &ip);
                j.k_str("subnet", &subnet);
                let ctype = [ct::WIRED, ct::WIFI, ct::MOBILE, ct::TUNNEL][conn as usize];
                j.k_str("connectionType", ctype);
                let tcp = r.random_bool(if conn == 3 { 0.5 } else { 0.03 });
                j.k_str(
                    "networkTransportProtocol",
                    if tcp { transport::TCP } else { transport::UDP },
                );
                j.k_int("port", r.random_range(50000..50060));
                let link: Option<i64> = match conn {
                    0 => Some(pick(
                        r,
                        &[
                            1_000_000_000,
                            1_000_000_000,
                            2_500_000_000,
                            100_000_000,
                            4_294_967_295,
                        ],
                    )),
                    1 => Some(pick(
                        r,
                        &[
                            866_700_000,
                            1_200_900_000,
                            2_402_000_000,
                            144_400_000,
                            54_000_000,
                        ],
                    )),
                    _ => None,
                };
                match link {
                    Some(l) => j.k_int("linkSpeed", l),
                    None => j.k_null("linkSpeed"),
                }
                let relayed = r.random_bool(0.55);
                let refl = if home || conn == 2 {
                    format!(
                        "{}.{}.{}.{}",
                        pick(r, &[73u8, 86, 24, 98, 176]),
                        r.random_range(0..=255u8),
                        r.random_range(0..=255u8),
                        r.random_range(1..255u8)
                    )
                } else {
                    format!("20.{}.{}.{}", 40 + sa / 10, sb, r.random_range(1..30u8))
                };
                j.k_str("reflexiveIPAddress", &refl);
                if relayed {
                    j.k_str(
                        "relayIPAddress",
                        &format!(
                            "52.{}.{}.{}",
                            pick(r, &[112u8, 113, 114, 115, 122, 123]),
                            r.random_range(0..=255u8),
                            r.random_range(1..255u8)
                        ),
                    );
                    j.k_int("relayPort", r.random_range(3478..3482));
                } else if full {
                    j.k_null("relayIPAddress");
                    j.k_null("relayPort");
                }
                let wifi = conn == 1;
                let band = if wifi {
                    pick_w(
                        r,
                        &[
                            (wifi_band::GHZ_50, 66),
                            (wifi_band::GHZ_24, 30),
                            (wifi_band::GHZ_60, 1),
                            (wifi_band::UNKNOWN, 3),
                        ],
                    )
                } else {
                    wifi_band::UNKNOWN
                };
                j.k_str("wifiBand", band);
                let radio = if wifi {
                    pick_w(
                        r,
                        &[
                            (wifi_radio::AC, 42),
                            (wifi_radio::AX, 38),
                            (wifi_radio::N, 17),
                            (wifi_radio::G, 1),
                            (wifi_radio::UNKNOWN, 2),
                        ],
                    )
                } else {
                    wifi_radio::UNKNOWN
                };
                j.k_str("wifiRadioType", radio);
                if full {
                    j.k_str(
                        "macAddress",
                        if conn == 2 {
                            "02:00:00:00:00:00"
                        } else {
                            "00-00-00-00-00-00"
                        },
                    );
                    if home || conn >= 2 {
                        j.k_null("dnsSuffix");
                    } else {
                        j.k_str("dnsSuffix", "corp.contoso.com");
                    }
                    let ev = |r: &mut R, p: f64| {
                        if r.random_bool(p) {
                            r.random_range(0.01..0.4)
                        } else {
                            0.0
                        }
                    };
                    j.k_fixed("sentQualityEventRatio", ev(r, 0.05), 2);
                    j.k_fixed("receivedQualityEventRatio", ev(r, 0.06), 2);
                    j.k_fixed("delayEventRatio", ev(r, 0.03), 2);
                    j.k_fixed("bandwidthLowEventRatio", ev(r, 0.02), 2);
                    if wifi {
                        j.k_str(
                            "basicServiceSetIdentifier",
                            &format!(
                                "a4:b2:39:{:02x}:{:02x}:{:02x}",
                                sa,
                                sb,
                                r.random_range(0..=255u8)
                            ),
                        );
                        let ch = if band == wifi_band::GHZ_24 {
                            pick(r, &[1i64, 6, 11])
                        } else {
                            pick(r, &[36i64, 44, 52, 100, 112, 149, 157])
                        };
                        j.k_int("wifiChannel", ch);
                        j.k_int("wifiSignalStrength", r.random_range(35..100));
                        let batt = CLIENTS[user.client].0.platform
                            != crate::enums::client_platform::ROOM_SYSTEM;
                        if batt {
                            j.k_int("wifiBatteryCharge", r.random_range(15..101));
                        } else {
                            j.k_null("wifiBatteryCharge");
                        }
                        let (vd, vv) = WIFI_VENDOR[(user.host as usize) % WIFI_VENDOR.len()];
                        j.k_str("wifiMicrosoftDriver", "Microsoft Corporation");
                        j.k_str("wifiMicrosoftDriverVersion", "Microsoft:10.0.26100.1");
                        j.k_str("wifiVendorDriver", vd);
                        j.k_str("wifiVendorDriverVersion", vv);
                    } else {
                        for k in NET_WIFI_KEYS {
                            j.k_null(k);
                        }
                    }
                    j.key("traceRouteHops");
                    j.arr();
                    j.end_arr();
                } else {
                    j.key("traceRouteHops");
                    j.arr();
                    j.end_arr();
                }
            }
        }
        j.end_obj();
    }

    fn write_device(&self, r: &mut R, j: &mut Json, key: &str, ep: Ep, _conn: u8) {
        let Ep::User { u, .. } = ep else {
            if !self.small {
                j.k_raw(key, &self.null_device);
            }
            return;
        };
        let user = &self.dir.users[u as usize];
        let full = !self.small;
        j.key(key);
        j.obj();
        let c = &CLIENTS[user.client].0;
        let (cap, capd, ren, rend) = if c.mobile {
            ("iPhone Microphone", "", "iPhone Receiver", "")
        } else {
            let i = (user.host as usize) % CAPTURE.len();
            (CAPTURE[i].0, CAPTURE[i].1, RENDER[i].0, RENDER[i].1)
        };
        j.k_str("captureDeviceName", cap);
        j.k_str("renderDeviceName", ren);
        j.k_int("receivedSignalLevel", r.random_range(-32..-8));
        j.k_int("receivedNoiseLevel", r.random_range(-90..-58));
        if full {
            if capd.is_empty() {
                j.k_null("captureDeviceDriver");
                j.k_null("renderDeviceDriver");
            } else {
                j.k_str("captureDeviceDriver", capd);
                j.k_str("renderDeviceDriver", rend);
            }
            j.k_int("sentSignalLevel", r.random_range(-34..-12));
            j.k_int("sentNoiseLevel", r.random_range(-88..-55));
            j.k_fixed(
                "initialSignalLevelRootMeanSquare",
                lognormal(r, 90.0, 0.5),
                5,
            );
            let rare = |r: &mut R, p: f64| {
                if r.random_bool(p) {
                    r.random_range(0.01..1.0)
                } else {
                    0.0
                }
            };
            j.k_fixed("captureNotFunctioningEventRatio", rare(r, 0.003), 2);
            j.k_fixed("renderNotFunctioningEventRatio", rare(r, 0.003), 2);
            j.k_fixed("cpuInsufficentEventRatio", rare(r, 0.02), 2);
            j.k_fixed("deviceClippingEventRatio", rare(r, 0.03), 2);
            j.k_fixed("deviceGlitchEventRatio", rare(r, 0.04), 2);
            j.k_fixed("lowSpeechLevelEventRatio", rare(r, 0.05), 2);
            j.k_fixed("lowSpeechToNoiseEventRatio", rare(r, 0.05), 2);
            j.k_fixed("renderMuteEventRatio", rare(r, 0.05), 2);
            j.k_fixed("renderZeroVolumeEventRatio", rare(r, 0.02), 2);
            j.k_int(
                "howlingEventCount",
                if r.random_bool(0.01) {
                    r.random_range(1..4)
                } else {
                    0
                },
            );
            j.k_fixed("micGlitchRate", lognormal(r, 8.0, 1.2).min(5000.0), 0);
            j.k_fixed("speakerGlitchRate", lognormal(r, 12.0, 1.4).min(5000.0), 0);
        }
        j.end_obj();
    }
}

const DEVICE_KEYS: &[&str] = &[
    "captureDeviceName",
    "captureDeviceDriver",
    "renderDeviceName",
    "renderDeviceDriver",
    "receivedSignalLevel",
    "receivedNoiseLevel",
    "sentSignalLevel",
    "sentNoiseLevel",
    "initialSignalLevelRootMeanSquare",
    "captureNotFunctioningEventRatio",
    "renderNotFunctioningEventRatio",
    "cpuInsufficentEventRatio",
    "deviceClippingEventRatio",
    "deviceGlitchEventRatio",
    "lowSpeechLevelEventRatio",
    "lowSpeechToNoiseEventRatio",
    "renderMuteEventRatio",
    "renderZeroVolumeEventRatio",
    "howlingEventCount",
    "micGlitchRate",
    "speakerGlitchRate",
];

const NET_WIFI_KEYS: &[&str] = &[
    "basicServiceSetIdentifier",
    "wifiChannel",
    "wifiSignalStrength",
    "wifiBatteryCharge",
    "wifiMicrosoftDriver",
    "wifiMicrosoftDriverVersion",
    "wifiVendorDriver",
    "wifiVendorDriverVersion",
];

const NET_NULLS_SERVICE: &[&str] = &[
    "reflexiveIPAddress",
    "relayIPAddress",
    "relayPort",
    "macAddress",
    "dnsSuffix",
    "sentQualityEventRatio",
    "receivedQualityEventRatio",
    "delayEventRatio",
    "bandwidthLowEventRatio",
    "basicServiceSetIdentifier",
    "wifiChannel",
    "wifiSignalStrength",
    "wifiBatteryCharge",
    "wifiMicrosoftDriver",
    "wifiMicrosoftDriverVersion",
    "wifiVendorDriver",
    "wifiVendorDriverVersion",
];

fn write_mods(j: &mut Json, mods: u8) {
    j.key("modalities");
    j.arr();
    for (i, m) in modality::USED.iter().enumerate() {
        if mods & (1 << i) != 0 {
            j.str(m);
        }
    }
    j.end_arr();
}

fn write_failure(j: &mut Json, f: Option<(bool, u8)>) {
    match f {
        None => j.k_null("failureInfo"),
        Some((setup, reason)) => {
            j.key("failureInfo");
            j.obj();
            if setup {
                j.k_str("stage", failure_stage::CALL_SETUP);
                j.k_str("reason", REASONS_SETUP[reason as usize]);
            } else {
                j.k_str("stage", failure_stage::MIDCALL);
                j.k_str("reason", REASONS_MIDCALL[reason as usize]);
            }
            j.end_obj();
        }
    }
}

fn phone_number(seed: u64, n: u64) -> String {
    let x = crate::rng::mix(seed ^ n.wrapping_mul(0x9E37));
    let cc = [1u64, 1, 1, 44, 49, 33, 91, 55][(x % 8) as usize];
    format!("+{cc}{}", 2_000_000_000 + (x >> 8) % 7_000_000_000)
}

fn write_phone_participant(j: &mut Json, number: &str) {
    j.obj();
    j.k_str("id", number);
    j.key("identity");
    j.obj();
    for k in ["acsUser", "spoolUser"] {
        j.k_null(k);
    }
    j.key("phone");
    j.obj();
    j.k_str("id", number);
    j.k_null("displayName");
    j.end_obj();
    for k in [
        "guest",
        "encrypted",
        "onPremises",
        "acsApplicationInstance",
        "spoolApplicationInstance",
        "applicationInstance",
        "application",
        "device",
        "user",
    ] {
        j.k_null(k);
    }
    j.end_obj();
    j.end_obj();
}

const BOT_APP_ID: &str = "9c8fa4f2-3b8e-4a52-a4b0-6f0d1f1f7c11";

fn write_bot_participant(j: &mut Json, tenant: &str) {
    j.obj();
    j.k_str("id", BOT_APP_ID);
    j.key("identity");
    j.obj();
    for k in [
        "acsUser",
        "spoolUser",
        "phone",
        "guest",
        "encrypted",
        "onPremises",
        "acsApplicationInstance",
        "spoolApplicationInstance",
        "applicationInstance",
    ] {
        j.k_null(k);
    }
    j.key("application");
    j.obj();
    j.k_str("id", BOT_APP_ID);
    j.k_str("displayName", "Contoso Recording Bot");
    j.k_str("tenantId", tenant);
    j.end_obj();
    j.k_null("device");
    j.k_null("user");
    j.end_obj();
    j.end_obj();
}

/// `v`, or when above `max` a value in `[max/2, max)`: keeps good streams under the CQD thresholds
/// without piling values up at the bound.
fn cap(v: f64, max: f64, r: &mut R) -> f64 {
    if v > max {
        max * r.random_range(0.5..1.0)
    } else {
        v
    }
}

fn ms(v: f64) -> u64 {
    v.round().max(0.0) as u64
}

/// Audio stream metrics. About 3 % of classified streams are Poor by the CQD rule (more on Wi-Fi and
/// mobile), about 3 % carry no metrics at all (Unclassified).
#[allow(clippy::too_many_arguments)]
fn write_audio_stream(
    r: &mut R,
    j: &mut Json,
    d: &str,
    start: i64,
    end: i64,
    dur_s: i64,
    conn: u8,
    pstn: bool,
    small: bool,
) {
    let full = !small;
    j.obj();
    j.k_str(
        "streamId",
        &r.random_range(100_000_000u32..4_000_000_000).to_string(),
    );
    j.k_str("streamDirection", d);
    if full {
        j.k_ts("startDateTime", start, 7);
        j.k_ts("endDateTime", end, 7);
    }
    let codec = if pstn {
        pick(r, &[ac::PCMU, ac::PCMA, ac::G722, ac::SILK_WIDE])
    } else {
        pick_w(
            r,
            &[
                (ac::OPUS, 56),
                (ac::SATIN, 26),
                (ac::SATIN_FULLBAND, 8),
                (ac::SILK_WIDE, 6),
                (ac::G722, 4),
            ],
        )
    };
    if r.random_bool(0.03) {
        // No quality report arrived (muted listener, very short stream): Unclassified.
        j.k_str("audioCodec", codec);
        j.k_int("packetUtilization", r.random_range(0..40));
        if full {
            for k in AUDIO_METRIC_KEYS {
                j.k_null(k);
            }
        }
        j.end_obj();
        return;
    }
    let p_poor = match (pstn, conn) {
        (true, _) => 0.015,
        (_, 0) => 0.018,
        (_, 1) => 0.042,
        _ => 0.07,
    };
    let mut jitter = cap(
        lognormal(r, if conn == 0 { 3.5 } else { 6.0 }, 0.55),
        28.0,
        r,
    );
    let mut rtt = cap(
        lognormal(r, if conn == 2 { 80.0 } else { 42.0 }, 0.55),
        450.0,
        r,
    );
    let mut loss = if r.random_bool(0.55) {
        0.0
    } else {
        cap(lognormal(r, 0.004, 1.1), 0.09, r)
    };
    let mut conc = cap(lognormal(r, 0.008, 1.0), 0.065, r);
    let mut degr = if r.random_bool(0.2) {
        None
    } else {
        Some(cap(lognormal(r, 0.22, 0.7), 0.95, r))
    };
    if r.random_bool(p_poor) {
        let n = if r.random_bool(0.3) { 2 } else { 1 };
        for _ in 0..n {
            match r.random_range(0..5) {
                0 => degr = Some(r.random_range(1.02..3.6)),
                1 => rtt = r.random_range(505.0..1600.0),
                2 => loss = r.random_range(0.102..0.4),
                3 => jitter = r.random_range(31.0..140.0),
                _ => conc = r.random_range(0.072..0.35),
            }
        }
    }
    j.k_str("audioCodec", codec);
    j.k_ofixed("averageAudioDegradation", degr, 6);
    j.k_dur("averageJitter", ms(jitter));
    j.k_dur("maxJitter", ms(jitter * r.random_range(1.2..3.5)));
    j.k_fixed("averagePacketLossRate", loss, 8);
    j.k_fixed(
        "maxPacketLossRate",
        (loss * r.random_range(1.0..5.0)).min(1.0),
        8,
    );
    j.k_fixed("averageRatioOfConcealedSamples", conc, 8);
    j.k_fixed(
        "maxRatioOfConcealedSamples",
        (conc * r.random_range(1.05..4.0)).min(1.0),
        8,
    );
    j.k_dur("averageRoundTripTime", ms(rtt));
    j.k_dur("maxRoundTripTime", ms(rtt * r.random_range(1.1..2.6)));
    let pkts = (dur_s as f64 * 50.0 * r.random_range(0.35..1.0)) as i64;
    j.k_int("packetUtilization", pkts.max(1));
    j.k_int(
        "averageBandwidthEstimate",
        r.random_range(800_000..25_000_000),
    );
    j.k_bool("wasMediaBypassed", pstn && r.random_bool(0.2));
    let anj = jitter * r.random_range(1.0..6.0);
    j.k_dur("averageAudioNetworkJitter", ms(anj));
    j.k_dur("maxAudioNetworkJitter", ms(anj * r.random_range(1.1..2.5)));
    j.k_bool("isAudioForwardErrorCorrectionUsed", r.random_bool(0.35));
    if full {
        for k in VIDEO_ONLY_KEYS {
            j.k_null(k);
        }
    }
    j.end_obj();
}

const AUDIO_METRIC_KEYS: &[&str] = &[
    "averageAudioDegradation",
    "averageJitter",
    "maxJitter",
    "averagePacketLossRate",
    "maxPacketLossRate",
    "averageRatioOfConcealedSamples",
    "maxRatioOfConcealedSamples",
    "averageRoundTripTime",
    "maxRoundTripTime",
    "averageBandwidthEstimate",
    "wasMediaBypassed",
    "averageAudioNetworkJitter",
    "maxAudioNetworkJitter",
    "isAudioForwardErrorCorrectionUsed",
    "videoCodec",
    "averageVideoFrameRate",
    "averageReceivedFrameRate",
    "averageVideoFrameLossPercentage",
    "averageVideoPacketLossRate",
    "postForwardErrorCorrectionPacketLossRate",
    "lowFrameRateRatio",
    "lowVideoProcessingCapabilityRatio",
    "averageFreezeDuration",
    "rmsFreezeDuration",
];

const VIDEO_ONLY_KEYS: &[&str] = &[
    "videoCodec",
    "averageVideoFrameRate",
    "averageReceivedFrameRate",
    "averageVideoFrameLossPercentage",
    "averageVideoPacketLossRate",
    "postForwardErrorCorrectionPacketLossRate",
    "lowFrameRateRatio",
    "lowVideoProcessingCapabilityRatio",
    "averageFreezeDuration",
    "rmsFreezeDuration",
];

const AUDIO_ONLY_KEYS: &[&str] = &[
    "audioCodec",
    "averageAudioDegradation",
    "averageRatioOfConcealedSamples",
    "maxRatioOfConcealedSamples",
    "averageAudioNetworkJitter",
    "maxAudioNetworkJitter",
    "isAudioForwardErrorCorrectionUsed",
];

/// Video / VBSS stream metrics; about 3 % Poor by the ordered CQD video rule.
#[allow(clippy::too_many_arguments)]
fn write_video_stream(
    r: &mut R,
    j: &mut Json,
    d: &str,
    start: i64,
    end: i64,
    dur_s: i64,
    vbss: bool,
    small: bool,
) {
    let full = !small;
    j.obj();
    j.k_str(
        "streamId",
        &r.random_range(100_000_000u32..4_000_000_000).to_string(),
    );
    j.k_str("streamDirection", d);
    if full {
        j.k_ts("startDateTime", start, 7);
        j.k_ts("endDateTime", end, 7);
    }
    j.k_str(
        "videoCodec",
        pick_w(
            r,
            &[
                (vc::H264, 55),
                (vc::AV1, 15),
                (vc::XRTVC1, 12),
                (vc::H264S, 12),
                (vc::H265, 6),
            ],
        ),
    );
    let poor = r.random_bool(0.03);
    let fps = if vbss {
        if poor {
            r.random_range(0.5..1.9)
        } else {
            r.random_range(3.0..15.0)
        }
    } else if poor {
        r.random_range(2.0..6.9)
    } else {
        (24.0 + 4.0 * normal(r)).clamp(8.0, 30.0)
    };
    let has_loss = r.random_bool(0.7);
    let frame_loss = if poor && has_loss {
        r.random_range(51.0..90.0)
    } else {
        lognormal(r, 1.5, 1.0).min(35.0)
    };
    j.k_ofixed(
        "averageVideoFrameLossPercentage",
        has_loss.then_some(frame_loss),
        4,
    );
    j.k_fixed("averageVideoFrameRate", fps, 4);
    j.k_fixed(
        "averageReceivedFrameRate",
        (fps * r.random_range(0.85..1.0)).max(0.0),
        4,
    );
    let vloss = lognormal(r, 0.003, 1.0).min(0.12);
    j.k_fixed("averageVideoPacketLossRate", vloss, 8);
    j.k_fixed(
        "postForwardErrorCorrectionPacketLossRate",
        vloss * r.random_range(0.1..0.8),
        8,
    );
    j.k_fixed(
        "lowFrameRateRatio",
        if poor {
            r.random_range(0.3..0.9)
        } else {
            r.random_range(0.0..0.08)
        },
        6,
    );
    j.k_fixed(
        "lowVideoProcessingCapabilityRatio",
        if r.random_bool(0.05) {
            r.random_range(0.05..0.6)
        } else {
            0.0
        },
        6,
    );
    let freeze = lognormal(r, 300.0, 0.6);
    j.k_odur(
        "averageFreezeDuration",
        r.random_bool(0.4).then_some(ms(freeze)),
    );
    j.k_odur(
        "rmsFreezeDuration",
        r.random_bool(0.4).then_some(ms(freeze * 1.3)),
    );
    let jitter = lognormal(r, 6.0, 0.6).clamp(1.0, 60.0);
    let rtt = lognormal(r, 45.0, 0.6).clamp(4.0, 700.0);
    j.k_dur("averageJitter", ms(jitter));
    j.k_dur("maxJitter", ms(jitter * r.random_range(1.2..3.0)));
    j.k_fixed("averagePacketLossRate", vloss, 8);
    j.k_fixed(
        "maxPacketLossRate",
        (vloss * r.random_range(1.0..4.0)).min(1.0),
        8,
    );
    j.k_dur("averageRoundTripTime", ms(rtt));
    j.k_dur("maxRoundTripTime", ms(rtt * r.random_range(1.1..2.5)));
    let pkts = (dur_s as f64 * if vbss { 40.0 } else { 180.0 } * r.random_range(0.3..1.0)) as i64;
    j.k_int("packetUtilization", pkts.max(1));
    j.k_int(
        "averageBandwidthEstimate",
        r.random_range(500_000..40_000_000),
    );
    j.k_bool("wasMediaBypassed", false);
    if full {
        for k in AUDIO_ONLY_KEYS {
            j.k_null(k);
        }
    }
    j.end_obj();
}

fn write_data_stream(r: &mut R, j: &mut Json, d: &str, start: i64, end: i64, small: bool) {
    j.obj();
    j.k_str(
        "streamId",
        &r.random_range(100_000_000u32..4_000_000_000).to_string(),
    );
    j.k_str("streamDirection", d);
    if !small {
        j.k_ts("startDateTime", start, 7);
        j.k_ts("endDateTime", end, 7);
    }
    j.k_int("packetUtilization", r.random_range(10..2000));
    j.end_obj();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_session_tail() {
        let mut r = rng_for(1, 2, 3);
        let v: Vec<usize> = (0..100_000)
            .map(|_| group_sessions(&mut r, false))
            .collect();
        let under20 = v.iter().filter(|&&n| n < 20).count() as f64 / v.len() as f64;
        let over1000 = v.iter().filter(|&&n| n > 1000).count() as f64 / v.len() as f64;
        assert!(under20 > 0.75, "{under20}");
        assert!(over1000 > 0.0005 && over1000 < 0.005, "{over1000}");
        let mut r = rng_for(1, 2, 4);
        assert!((0..100_000).all(|_| group_sessions(&mut r, true) <= 60));
    }
}
