//! Every enum member this generator emits, spelled exactly as in the Graph CSDL
//! (`microsoft.graph.callRecords`, spec sections 4 and 5). Unit-tested against copies of the spec's tables.

/// `callType`
pub mod call_type {
    pub const GROUP_CALL: &str = "groupCall";
    pub const PEER_TO_PEER: &str = "peerToPeer";
    pub const USED: &[&str] = &[GROUP_CALL, PEER_TO_PEER];
}

/// `modality`, in CSDL order (there is no `unknown`).
pub mod modality {
    pub const AUDIO: &str = "audio";
    pub const VIDEO: &str = "video";
    pub const VIDEO_BASED_SCREEN_SHARING: &str = "videoBasedScreenSharing";
    pub const DATA: &str = "data";
    pub const SCREEN_SHARING: &str = "screenSharing";
    /// Bit `i` of a modality mask is `USED[i]`.
    pub const USED: &[&str] = &[
        AUDIO,
        VIDEO,
        VIDEO_BASED_SCREEN_SHARING,
        DATA,
        SCREEN_SHARING,
    ];
}

/// `clientPlatform`
pub mod client_platform {
    pub const WINDOWS: &str = "windows";
    pub const MAC_OS: &str = "macOS";
    pub const IOS: &str = "iOS";
    pub const ANDROID: &str = "android";
    pub const WEB: &str = "web";
    pub const IP_PHONE: &str = "ipPhone";
    pub const ROOM_SYSTEM: &str = "roomSystem";
    pub const SURFACE_HUB: &str = "surfaceHub";
    pub const USED: &[&str] = &[
        WINDOWS,
        MAC_OS,
        IOS,
        ANDROID,
        WEB,
        IP_PHONE,
        ROOM_SYSTEM,
        SURFACE_HUB,
    ];
}

/// `productFamily` (`azureCommunicationServices` comes after the `unknownFutureValue` sentinel).
pub mod product_family {
    pub const TEAMS: &str = "teams";
    pub const SKYPE_FOR_BUSINESS: &str = "skypeForBusiness";
    pub const AZURE_COMMUNICATION_SERVICES: &str = "azureCommunicationServices";
    pub const USED: &[&str] = &[TEAMS, SKYPE_FOR_BUSINESS, AZURE_COMMUNICATION_SERVICES];
}

/// `serviceRole`
pub mod service_role {
    pub const CUSTOM_BOT: &str = "customBot";
    pub const SFB_AV_MCU: &str = "skypeForBusinessAudioVideoMcu";
    pub const SFB_CALL_QUEUES: &str = "skypeForBusinessCallQueues";
    pub const SFB_AUTO_ATTENDANT: &str = "skypeForBusinessAutoAttendant";
    pub const MEDIATION_SERVER: &str = "mediationServer";
    pub const CONFERENCING_ANNOUNCEMENT_SERVICE: &str = "conferencingAnnouncementService";
    pub const GATEWAY: &str = "gateway";
    pub const VOICEMAIL: &str = "voicemail";
    pub const USED: &[&str] = &[
        CUSTOM_BOT,
        SFB_AV_MCU,
        SFB_CALL_QUEUES,
        SFB_AUTO_ATTENDANT,
        MEDIATION_SERVER,
        CONFERENCING_ANNOUNCEMENT_SERVICE,
        GATEWAY,
        VOICEMAIL,
    ];
}

/// `failureStage`
pub mod failure_stage {
    pub const CALL_SETUP: &str = "callSetup";
    pub const MIDCALL: &str = "midcall";
    pub const USED: &[&str] = &[CALL_SETUP, MIDCALL];
}

/// `mediaStreamDirection`
pub mod stream_direction {
    pub const CALLER_TO_CALLEE: &str = "callerToCallee";
    pub const CALLEE_TO_CALLER: &str = "calleeToCaller";
    pub const USED: &[&str] = &[CALLER_TO_CALLEE, CALLEE_TO_CALLER];
}

/// `networkConnectionType`
pub mod connection_type {
    pub const WIRED: &str = "wired";
    pub const WIFI: &str = "wifi";
    pub const MOBILE: &str = "mobile";
    pub const TUNNEL: &str = "tunnel";
    pub const USED: &[&str] = &[WIRED, WIFI, MOBILE, TUNNEL];
}

/// `networkTransportProtocol`
pub mod transport {
    pub const UDP: &str = "udp";
    pub const TCP: &str = "tcp";
    pub const USED: &[&str] = &[UDP, TCP];
}

/// `wifiBand`
pub mod wifi_band {
    pub const UNKNOWN: &str = "unknown";
    pub const GHZ_24: &str = "frequency24GHz";
    pub const GHZ_50: &str = "frequency50GHz";
    pub const GHZ_60: &str = "frequency60GHz";
    pub const USED: &[&str] = &[UNKNOWN, GHZ_24, GHZ_50, GHZ_60];
}

/// `wifiRadioType`
pub mod wifi_radio {
    pub const UNKNOWN: &str = "unknown";
    pub const N: &str = "wifi80211n";
    pub const AC: &str = "wifi80211ac";
    pub const AX: &str = "wifi80211ax";
    pub const G: &str = "wifi80211g";
    pub const USED: &[&str] = &[UNKNOWN, N, AC, AX, G];
}

/// `audioCodec`
pub mod audio_codec {
    pub const OPUS: &str = "opus";
    pub const SATIN: &str = "satin";
    pub const SATIN_FULLBAND: &str = "satinFullband";
    pub const SILK_WIDE: &str = "silkWide";
    pub const G722: &str = "g722";
    pub const PCMU: &str = "pcmu";
    pub const PCMA: &str = "pcma";
    pub const USED: &[&str] = &[OPUS, SATIN, SATIN_FULLBAND, SILK_WIDE, G722, PCMU, PCMA];
}

/// `videoCodec`
pub mod video_codec {
    pub const H264: &str = "h264";
    pub const H264S: &str = "h264s";
    pub const AV1: &str = "av1";
    pub const H265: &str = "h265";
    pub const XRTVC1: &str = "xrtvc1";
    pub const USED: &[&str] = &[H264, H264S, AV1, H265, XRTVC1];
}

/// `userFeedbackRating`
pub mod feedback_rating {
    pub const NOT_RATED: &str = "notRated";
    pub const BAD: &str = "bad";
    pub const POOR: &str = "poor";
    pub const FAIR: &str = "fair";
    pub const GOOD: &str = "good";
    pub const EXCELLENT: &str = "excellent";
    pub const USED: &[&str] = &[NOT_RATED, BAD, POOR, FAIR, GOOD, EXCELLENT];
}

/// `pstnCallDurationSource`
pub mod duration_source {
    pub const MICROSOFT: &str = "microsoft";
    pub const OPERATOR: &str = "operator";
    pub const USED: &[&str] = &[MICROSOFT, OPERATOR];
}

/// `pstnUserBlockMode` (beta). The docs' example writes `Blocked`/`Unblocked`; the enum members are lower camel case.
pub mod block_mode {
    pub const BLOCKED: &str = "blocked";
    pub const UNBLOCKED: &str = "unblocked";
    pub const USED: &[&str] = &[BLOCKED, UNBLOCKED];
}

/// `(enum name, members used)` for every enum above.
pub const ALL_USED: &[(&str, &[&str])] = &[
    ("callType", call_type::USED),
    ("modality", modality::USED),
    ("clientPlatform", client_platform::USED),
    ("productFamily", product_family::USED),
    ("serviceRole", service_role::USED),
    ("failureStage", failure_stage::USED),
    ("mediaStreamDirection", stream_direction::USED),
    ("networkConnectionType", connection_type::USED),
    ("networkTransportProtocol", transport::USED),
    ("wifiBand", wifi_band::USED),
    ("wifiRadioType", wifi_radio::USED),
    ("audioCodec", audio_codec::USED),
    ("videoCodec", video_codec::USED),
    ("userFeedbackRating", feedback_rating::USED),
    ("pstnCallDurationSource", duration_source::USED),
    ("pstnUserBlockMode", block_mode::USED),
];

#[cfg(test)]
mod tests {
    use super::ALL_USED;
    use callrecords_model::schema::{cr, find_enum};

    /// Checked against the model's enums, which a test of the model ties to Microsoft's CSDL.
    #[test]
    fn every_used_member_is_in_the_schema() {
        for (name, used) in ALL_USED {
            let e = find_enum(&cr(name)).unwrap_or_else(|| panic!("{name} not in the schema"));
            for m in *used {
                assert!(
                    e.members.contains(m),
                    "{name}.{m} is not a member of {name}"
                );
                // Members after the sentinel are only used on purpose (productFamily.azureCommunicationServices).
                assert!(
                    *name == "productFamily" || !e.is_after_sentinel(m),
                    "{name}.{m} is after unknownFutureValue"
                );
                assert_ne!(*m, "unknownFutureValue", "{name}");
            }
        }
    }

    #[test]
    fn modality_has_no_unknown() {
        assert!(!super::modality::USED.contains(&"unknown"));
    }
}
