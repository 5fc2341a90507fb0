//! Log rows for the PSTN / direct routing / SMS / blocked-users / dial-out functions, shaped like the
//! rows in the docs' (beta) examples: same property names, order and JSON types.

use crate::GenConfig;
use crate::enums::{block_mode, duration_source};
use crate::json::{Json, TICKS};
use crate::rng::{R, guid, hash_str, lognormal, pick, pick_w, rng_for};
use crate::users::Directory;
use callrecords_model::LogKind;
use rand::Rng;

/// (country code, country name, currency, dialling prefix)
type Place = (&'static str, &'static str, &'static str, &'static str);
const PLACES: &[(Place, u32)] = &[
    (("US", "United States", "USD", "+1"), 55),
    (("GB", "United Kingdom", "GBP", "+44"), 12),
    (("DE", "Germany", "EUR", "+49"), 10),
    (("IN", "India", "INR", "+91"), 8),
    (("JP", "Japan", "JPY", "+81"), 5),
    (("NL", "Netherlands", "EUR", "+31"), 4),
    (("BR", "Brazil", "BRL", "+55"), 3),
    (("FR", "France", "EUR", "+33"), 3),
];

const SBCS: &[&str] = &[
    "sbc01.contoso.com",
    "sbc02.contoso.com",
    "tll-audiocodes01.adatum.biz",
    "sbc-eu.contoso.com",
];
const DATACENTERS: &[&str] = &["USWE", "USEA", "EUNO", "EUWE", "APSE", "JPEA"];

pub(crate) struct LogGen {
    dir: std::sync::Arc<Directory>,
    seed: u64,
    start: i64,
    span: i64,
    /// The tenant's administrative units.
    admin_units: Vec<[u8; 36]>,
}

fn number(r: &mut R, prefix: &str) -> String {
    format!(
        "{prefix}{}",
        r.random_range(2_000_000_000u64..9_999_999_999)
    )
}

fn masked(r: &mut R, prefix: &str) -> String {
    let n = number(r, prefix);
    format!("{}***", &n[..n.len() - 3])
}

impl LogGen {
    pub(crate) fn new(cfg: &GenConfig) -> LogGen {
        let mut r = rng_for(hash_str(&cfg.tenant_id), 0x4155, 0);
        LogGen {
            dir: Directory::shared(&cfg.tenant_id, 3000),
            seed: cfg.seed,
            start: (cfg.start.as_nanosecond() / 100) as i64,
            span: i64::from(cfg.days.max(1)) * 86_400 * TICKS,
            admin_units: (0..6).map(|_| guid(&mut r)).collect(),
        }
    }

    fn admin_units(&self, r: &mut R, j: &mut Json) {
        j.key("administrativeUnitInfos");
        j.arr();
        let n = pick_w(r, &[(0usize, 50), (1, 35), (2, 15)]);
        let first = r.random_range(0..self.admin_units.len());
        for k in 0..n {
            j.obj();
            j.key("id");
            j.str_bytes(&self.admin_units[(first + k) % self.admin_units.len()]);
            j.end_obj();
        }
        j.end_arr();
    }

    fn user_props(&self, r: &mut R, j: &mut Json, u: usize, bot: bool) {
        let user = &self.dir.users[u];
        if bot {
            j.k_null("userId");
            j.k_null("userPrincipalName");
            j.k_null("userDisplayName");
        } else {
            let _ = r;
            j.key("userId");
            j.str_bytes(&user.id);
            j.k_str("userPrincipalName", &user.upn);
            j.k_str("userDisplayName", &user.display);
        }
    }

    pub(crate) fn write(&mut self, kind: LogKind, i: u64, j: &mut Json) {
        let stream = match kind {
            LogKind::PstnCall => 1,
            LogKind::DirectRoutingCall => 2,
            LogKind::SmsLog => 3,
            LogKind::PstnBlockedUser => 4,
            LogKind::PstnOnlineMeetingDialout => 5,
        };
        let mut r = rng_for(self.seed, 0x4c4f_4700 + stream, i);
        let r = &mut r;
        match kind {
            LogKind::PstnCall => self.pstn_call(r, j),
            LogKind::DirectRoutingCall => self.direct_routing(r, j),
            LogKind::SmsLog => self.sms(r, j),
            LogKind::PstnBlockedUser => self.blocked(r, j),
            LogKind::PstnOnlineMeetingDialout => self.dialout(r, i, j),
        }
    }

    fn pstn_call(&self, r: &mut R, j: &mut Json) {
        let u = self.dir.pick(r);
        let (cc, name, cur, prefix) = pick_w(r, PLACES);
        let call_type = pick_w(
            r,
            &[
                ("user_in", 38),
                ("user_out", 40),
                ("conf_out", 8),
                ("conf_in", 4),
                ("ucap_in", 6),
                ("ucap_out", 3),
                ("emergency_out", 1),
            ],
        );
        let outbound = call_type.ends_with("_out");
        let bot = call_type.starts_with("ucap");
        let international = outbound && r.random_bool(0.12);
        let (other_cc, other_name, other_prefix) = if international {
            let (c, n, _, p) = pick_w(r, PLACES);
            if c == cc {
                ("CA", "Canada", "+1")
            } else {
                (c, n, p)
            }
        } else {
            (cc, name, prefix)
        };
        let start = crate::window_time(r, self.start, self.span);
        let dur = lognormal(r, 150.0, 1.1).clamp(1.0, 3.0 * 3600.0) as i64;
        let operator_connect = r.random_bool(0.15);
        j.obj();
        j.key("id");
        j.str_bytes(&guid(r));
        j.k_str(
            "callId",
            &format!(
                "{}_{}@{}.{}.{}.{}",
                r.random_range(1_000_000_000u64..4_000_000_000),
                r.random_range(100_000_000u64..999_999_999),
                r.random_range(20..223u8),
                r.random_range(0..=255u8),
                r.random_range(0..=255u8),
                r.random_range(1..255u8)
            ),
        );
        self.user_props(r, j, u, bot);
        j.k_ts("startDateTime", start, 7);
        j.k_ts("endDateTime", start + dur * TICKS, 7);
        j.k_int("duration", dur);
        let per_min = if international {
            r.random_range(0.02..0.35)
        } else if outbound && r.random_bool(0.1) {
            0.012
        } else {
            0.0
        };
        j.k_money("charge", per_min * (dur as f64 / 60.0).ceil());
        j.k_str("callType", call_type);
        j.k_str("currency", cur);
        let user_no = &self.dir.users[u].phone;
        let other = number(r, other_prefix);
        let (caller, callee) = if outbound {
            (user_no.clone(), other)
        } else {
            (other, user_no.clone())
        };
        j.k_str("calleeNumber", &callee);
        j.k_str("usageCountryCode", cc);
        j.k_str("tenantCountryCode", "US");
        j.k_money("connectionCharge", if international { 0.04 } else { 0.0 });
        j.k_str("callerNumber", &caller);
        if outbound {
            j.k_str(
                "destinationContext",
                if international {
                    "International"
                } else {
                    "Domestic"
                },
            );
        } else {
            j.k_null("destinationContext");
        }
        j.k_str("destinationName", other_name);
        if call_type.starts_with("conf") {
            j.k_str(
                "conferenceId",
                &r.random_range(100_000_000u64..999_999_999).to_string(),
            );
        } else {
            j.k_null("conferenceId");
        }
        j.k_str(
            "licenseCapability",
            if call_type.starts_with("conf") {
                "MCOMEETADV"
            } else if bot {
                "MCOPSTNU"
            } else {
                pick(r, &["MCOPSTNU", "MCOPSTN1", "MCOPSTN2", "MCOPSTNPP"])
            },
        );
        j.k_str(
            "inventoryType",
            if bot || call_type.starts_with("conf") {
                "Service"
            } else if r.random_bool(0.05) {
                "Toll free"
            } else {
                "Subscriber"
            },
        );
        j.k_str(
            "operator",
            if operator_connect {
                "Contoso Telecom"
            } else {
                "Microsoft"
            },
        );
        j.k_str(
            "callDurationSource",
            if operator_connect {
                duration_source::OPERATOR
            } else {
                duration_source::MICROSOFT
            },
        );
        j.k_str("otherPartyCountryCode", other_cc);
        j.end_obj();
    }

    fn direct_routing(&self, r: &mut R, j: &mut Json) {
        let u = self.dir.pick(r);
        let (cc, _, _, prefix) = pick_w(r, PLACES);
        let call_type = pick_w(
            r,
            &[
                ("ByotIn", 45),
                ("ByotOut", 40),
                ("ByotInUcap", 6),
                ("ByotOutUcap", 3),
                ("ByotOutUserForwarding", 6),
            ],
        );
        let bot = call_type.contains("Ucap");
        let invite = crate::window_time(r, self.start, self.span);
        let invite = invite - invite % 10_000; // milliseconds, as in the docs
        let ok = r.random_bool(0.88);
        let setup_ms = r.random_range(900..9000i64);
        let start = invite + setup_ms * 10_000;
        let dur = if ok {
            lognormal(r, 140.0, 1.1).clamp(1.0, 3.0 * 3600.0) as i64
        } else {
            0
        };
        j.obj();
        j.key("id");
        j.str_bytes(&guid(r));
        j.key("correlationId");
        j.str_bytes(&guid(r));
        self.user_props(r, j, u, bot);
        j.k_ts("startDateTime", start, 3);
        j.k_ts(
            "endDateTime",
            if ok { start + dur * TICKS } else { SENTINEL },
            3,
        );
        j.k_ts("inviteDateTime", invite, 3);
        j.k_ts("failureDateTime", if ok { SENTINEL } else { start }, 3);
        j.k_int("duration", dur);
        j.k_str("callType", call_type);
        j.k_bool("successfulCall", ok);
        j.k_str("callerNumber", &masked(r, prefix));
        j.k_str("calleeNumber", &masked(r, prefix));
        j.k_str("mediaPathLocation", pick(r, DATACENTERS));
        j.k_str("signalingLocation", pick(r, DATACENTERS));
        let (code, sub, phrase) = if ok {
            (0, 540000, "BYE")
        } else {
            pick(
                r,
                &[
                    (486, 560486, "Busy Here"),
                    (487, 540487, "Request Terminated"),
                    (480, 560480, "Temporarily Unavailable"),
                    (404, 560404, "Not Found"),
                    (408, 560408, "Request Timeout"),
                    (503, 531000, "Service Unavailable"),
                ],
            )
        };
        j.k_int("finalSipCode", code);
        j.k_int("callEndSubReason", sub);
        j.k_str("finalSipCodePhrase", phrase);
        j.k_str("trunkFullyQualifiedDomainName", pick(r, SBCS));
        j.k_bool("mediaBypassEnabled", r.random_bool(0.3));
        j.k_str("userCountryCode", self.dir.users[u].country);
        j.k_str(
            "otherPartyCountryCode",
            if r.random_bool(0.9) { cc } else { "CA" },
        );
        if r.random_bool(0.06) {
            j.key("transferorCorrelationId");
            j.str_bytes(&guid(r));
        } else {
            j.k_null("transferorCorrelationId");
        }
        self.admin_units(r, j);
        j.end_obj();
    }

    fn sms(&self, r: &mut R, j: &mut Json) {
        let u = self.dir.pick(r);
        let user = &self.dir.users[u];
        let (cc, name, cur, prefix) = pick_w(r, PLACES);
        let inbound = r.random_bool(0.45);
        let international = !inbound && r.random_bool(0.08);
        j.obj();
        j.key("smsId");
        j.str_bytes(&guid(r));
        j.key("userId");
        j.str_bytes(&user.id);
        j.k_str("userPrincipalName", &user.upn);
        j.k_str("userDisplayName", &user.display);
        j.k_str("userCountryCode", user.country);
        j.k_str("tenantCountryCode", "US");
        let other = number(r, prefix);
        let (src, dst) = if inbound {
            (other, user.phone.clone())
        } else {
            (user.phone.clone(), other)
        };
        j.k_str("sourceNumber", &src);
        j.k_str("destinationNumber", &dst);
        j.k_ts(
            "sentDateTime",
            crate::window_time(r, self.start, self.span),
            7,
        );
        j.k_money("callCharge", if international { 0.05 } else { 0.0 });
        j.k_str("currency", cur);
        j.k_str("smsType", if inbound { "sms_in" } else { "sms_out" });
        j.k_str(
            "destinationContext",
            if international {
                "International"
            } else {
                "Domestic"
            },
        );
        j.k_str("destinationName", name);
        j.k_str("otherPartyCountryCode", cc);
        j.k_str("licenseCapability", "MCOSMS1");
        j.k_int("smsUnits", pick_w(r, &[(1i64, 85), (2, 12), (3, 3)]));
        self.admin_units(r, j);
        j.end_obj();
    }

    fn blocked(&self, r: &mut R, j: &mut Json) {
        let u = self.dir.pick(r);
        let user = &self.dir.users[u];
        let blocked = r.random_bool(0.6);
        j.obj();
        j.key("userId");
        j.str_bytes(&user.id);
        j.k_str("userPrincipalName", &user.upn);
        j.k_str("userDisplayName", &user.display);
        let t = crate::window_time(r, self.start, self.span);
        j.k_ts("blockDateTime", t - t % 10_000, 3);
        j.k_str("userTelephoneNumber", &user.phone);
        j.k_str(
            "userBlockMode",
            if blocked {
                block_mode::BLOCKED
            } else {
                block_mode::UNBLOCKED
            },
        );
        j.k_str(
            "blockReason",
            if blocked {
                pick(
                    r,
                    &[
                        "High Overall Usage",
                        "High International Usage",
                        "Tenant Requested",
                        "Suspected Fraud",
                    ],
                )
            } else {
                pick(r, &["Tenant Requested", "Usage Reviewed"])
            },
        );
        j.key("remediationId");
        j.str_bytes(&guid(r));
        j.end_obj();
    }

    fn dialout(&self, r: &mut R, i: u64, j: &mut Json) {
        // One row per (organizer, destination context): walk the directory.
        let u = ((i / 2) as usize).wrapping_mul(7919) % self.dir.users.len();
        let user = &self.dir.users[u];
        let international = i % 2 == 1;
        let (_, _, cur, _) = PLACES
            .iter()
            .find(|((c, ..), _)| *c == user.country)
            .map(|(p, _)| *p)
            .unwrap_or(PLACES[0].0);
        let calls = if international {
            r.random_range(1..8i64)
        } else {
            r.random_range(1..40i64)
        };
        let secs: i64 = (0..calls)
            .map(|_| lognormal(r, 60.0, 0.9).clamp(5.0, 3600.0) as i64)
            .sum();
        let rate = if international {
            r.random_range(0.05..0.6)
        } else {
            r.random_range(0.01..0.03)
        };
        j.obj();
        j.key("userId");
        j.str_bytes(&user.id);
        j.k_str("userPrincipalName", &user.upn);
        j.k_str("userDisplayName", &user.display);
        j.k_str("usageLocation", user.country);
        j.k_str(
            "destinationContext",
            if international {
                "International"
            } else {
                "Domestic"
            },
        );
        j.k_str("currency", cur);
        j.k_int("totalCalls", calls);
        j.k_money("totalCallCharge", rate * secs as f64 / 60.0);
        j.k_int("totalCallSeconds", secs);
        j.end_obj();
    }
}

/// `0001-01-01T00:00:00Z` in ticks since the Unix epoch.
const SENTINEL: i64 = -62_135_596_800 * TICKS;
