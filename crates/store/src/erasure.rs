//! Erasure requests (`callrecords purge --record`, `callrecords redact --user`): what a redaction replaces
//! in a record's or log row's JSON, the stable pseudonym that replaces a user, and the audit entry both
//! operations write. Backends apply [`redact_value`] to every stored copy (see `docs/erasure.md`).
//!
//! A user is found by their identity id (case-insensitive). In one JSON document:
//! - every string equal to or containing the id, the user's display name or their UPN (as found in
//!   any object of the document whose id is the user's) is rewritten with the pseudonym's;
//! - every endpoint tied to the user (its `associatedIdentity` or one of its `identity` members is the
//!   user) loses its machine `name` and its `feedback.text`;
//! - the media of a session or segment whose caller (callee) is such an endpoint lose the caller's
//!   (callee's) device names, MAC address and host part of the IP addresses (truncated to /24 or /48,
//!   so the subnet-based building lookup and the quality slicers keep working).

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

/// What replaces a user: derived from a secret key, the tenant and the user id, so every redaction of the
/// same user (again, or in another record) writes the same values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pseudonym {
    /// A GUID-shaped id.
    pub id: String,
    pub display_name: String,
    pub upn: String,
    /// Replaces the endpoint's machine name and device names.
    pub machine: String,
}

impl Pseudonym {
    /// HMAC-SHA256 of `tenant`, a NUL and the lower-cased `user_id`, keyed with `key`.
    pub fn derive(key: &[u8], tenant: &str, user_id: &str) -> Pseudonym {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(tenant.to_ascii_lowercase().as_bytes());
        mac.update(&[0]);
        mac.update(user_id.trim().to_ascii_lowercase().as_bytes());
        let h = mac.finalize().into_bytes();
        let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
        let short = &hex[..10];
        Pseudonym {
            id: format!(
                "{}-{}-{}-{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..32]
            ),
            display_name: format!("Redacted user {short}"),
            upn: format!("redacted-{short}@redacted.invalid"),
            machine: format!("REDACTED-{}", short.to_ascii_uppercase()),
        }
    }
}

/// One erasure request for one user: their id and the secret key their pseudonyms are derived with.
#[derive(Clone, PartialEq, Eq)]
pub struct Redaction {
    /// The user's identity id (compared case-insensitively).
    pub user_id: String,
    /// The pseudonym key (never stored by the store).
    pub key: Vec<u8>,
}

impl std::fmt::Debug for Redaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redaction").finish_non_exhaustive()
    }
}

impl Redaction {
    /// What replaces the user in `tenant`'s data.
    pub fn pseudonym(&self, tenant: &str) -> Pseudonym {
        Pseudonym::derive(&self.key, tenant, &self.user_id)
    }

    /// How the audit table names this request: `user:` and a keyed hash of the user id alone, so whoever
    /// holds the key and the id can find the entry, and the table alone names nobody.
    pub fn audit_subject(&self) -> String {
        let p = Pseudonym::derive(&self.key, "audit", &self.user_id);
        format!("user:{}", p.id.replace('-', "")[..16].to_owned())
    }
}

/// An audit line of an erasure: who, what, when, and how much; never the content, and never the user's id
/// (a redaction names its pseudonym id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When it finished, µs since the epoch (set by the backend; ignored on input).
    pub at_us: i64,
    /// Who asked: an operator name or a token's principal.
    pub actor: String,
    /// `purge` or `redact`.
    pub action: String,
    /// The tenant it was limited to (`None`: every tenant).
    pub tenant: Option<String>,
    /// The record id (purge) or the pseudonym id (redact).
    pub subject: String,
    /// Record versions removed or rewritten.
    pub versions: u64,
    /// Log rows removed or rewritten.
    pub log_rows: u64,
    /// Served records removed or rewritten.
    pub records: u64,
}

/// What one purge or redaction did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErasureReport {
    /// The served records touched, as (tenant, record id), in order. After a redaction, their derived
    /// quality rows are gone: the caller derives them again from the rewritten records.
    pub records: Vec<(String, String)>,
    pub versions: u64,
    pub log_rows: u64,
}

/// Whether `text` mentions the user's id at all (a cheap filter before parsing a stored copy).
pub fn mentions(text: &str, user_id: &str) -> bool {
    let id = user_id.trim();
    !id.is_empty() && contains_ci(text, id)
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    find_ci(hay, needle, 0).is_some()
}

/// Byte offset of the first ASCII-case-insensitive match of `needle` in `hay` at or after `from`.
fn find_ci(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (from..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

fn replace_ci(s: &str, needle: &str, with: &str) -> Option<String> {
    let mut at = find_ci(s, needle, 0)?;
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    loop {
        out.push_str(&s[last..at]);
        out.push_str(with);
        last = at + needle.len();
        match find_ci(s, needle, last) {
            Some(i) => at = i,
            None => break,
        }
    }
    out.push_str(&s[last..]);
    Some(out)
}

fn is_id_key(k: &str) -> bool {
    k == "id" || k.ends_with("Id") || k.eq_ignore_ascii_case("id")
}

const NAME_KEYS: &[&str] = &["displayName", "userDisplayName", "userPrincipalName"];

/// The display names and UPNs of every object in `v` whose id (`id`, `userId`, …) is the user's.
fn collect_names(v: &Value, user_id: &str, names: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            let is_user = m.iter().any(|(k, x)| {
                is_id_key(k)
                    && x.as_str()
                        .is_some_and(|s| s.trim().eq_ignore_ascii_case(user_id))
            });
            if is_user {
                for k in NAME_KEYS {
                    if let Some(s) = m.get(*k).and_then(Value::as_str) {
                        let s = s.trim();
                        // Very short names would rewrite unrelated text; they are still replaced where
                        // they are the whole value of a name key (below).
                        if !s.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(s)) {
                            names.push(s.to_owned());
                        }
                    }
                }
            }
            m.values().for_each(|x| collect_names(x, user_id, names));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_names(x, user_id, names)),
        _ => {}
    }
}

struct Ctx<'a> {
    user_id: &'a str,
    p: &'a Pseudonym,
    /// (found text, its replacement), longest first.
    swaps: Vec<(String, String)>,
    changed: bool,
}

impl Ctx<'_> {
    fn set(&mut self, slot: &mut Value, to: Value) {
        if *slot != to {
            *slot = to;
            self.changed = true;
        }
    }

    fn is_user(&self, v: &Value) -> bool {
        v.as_object().is_some_and(|m| {
            m.iter().any(|(k, x)| {
                is_id_key(k)
                    && x.as_str()
                        .is_some_and(|s| s.trim().eq_ignore_ascii_case(self.user_id))
            })
        })
    }

    /// An endpoint whose `associatedIdentity`, or one of whose `identity` members, is the user.
    fn tied_endpoint(&self, v: &Value) -> bool {
        let Some(m) = v.as_object() else { return false };
        m.get("associatedIdentity").is_some_and(|i| self.is_user(i))
            || m.get("identity")
                .and_then(Value::as_object)
                .is_some_and(|set| set.values().any(|i| self.is_user(i)))
    }

    fn strings(&mut self, v: &mut Value) {
        let Value::String(s) = v else { return };
        let mut cur: Option<String> = None;
        for (from, to) in &self.swaps {
            let base = cur.as_deref().unwrap_or(s);
            if let Some(r) = replace_ci(base, from, to) {
                cur = Some(r);
            }
        }
        if let Some(r) = cur {
            *s = r;
            self.changed = true;
        }
    }

    fn object(&mut self, m: &mut Map<String, Value>) {
        // The user's identity objects: every name key, whatever its length.
        let is_user = m.iter().any(|(k, x)| {
            is_id_key(k)
                && x.as_str()
                    .is_some_and(|s| s.trim().eq_ignore_ascii_case(self.user_id))
        });
        if is_user {
            let p = self.p;
            for (k, to) in [
                ("displayName", &p.display_name),
                ("userDisplayName", &p.display_name),
                ("userPrincipalName", &p.upn),
            ] {
                if let Some(slot) = m.get_mut(k)
                    && slot.is_string()
                {
                    self.set(slot, Value::String(to.clone()));
                }
            }
        }
        let whole = Value::Object(std::mem::take(m));
        let tied = self.tied_endpoint(&whole);
        let (caller, callee) = match &whole {
            Value::Object(o) => (
                o.get("caller").is_some_and(|e| self.tied_endpoint(e)),
                o.get("callee").is_some_and(|e| self.tied_endpoint(e)),
            ),
            _ => (false, false),
        };
        let Value::Object(taken) = whole else {
            unreachable!()
        };
        *m = taken;
        if tied {
            if let Some(slot) = m.get_mut("name")
                && slot.is_string()
            {
                let to = Value::String(self.p.machine.clone());
                self.set(slot, to);
            }
            if let Some(Value::Object(f)) = m.get_mut("feedback")
                && let Some(slot) = f.get_mut("text")
                && slot.is_string()
            {
                self.set(slot, Value::String("[redacted]".into()));
            }
        }
        if (caller || callee)
            && let Some(Value::Array(media)) = m.get_mut("media")
        {
            for md in media.iter_mut().filter_map(Value::as_object_mut) {
                for (side, on) in [("caller", caller), ("callee", callee)] {
                    if !on {
                        continue;
                    }
                    if let Some(Value::Object(n)) = md.get_mut(&format!("{side}Network")) {
                        self.network(n);
                    }
                    if let Some(Value::Object(d)) = md.get_mut(&format!("{side}Device")) {
                        for k in ["captureDeviceName", "renderDeviceName"] {
                            if let Some(slot) = d.get_mut(k)
                                && slot.is_string()
                            {
                                let to = Value::String(self.p.machine.clone());
                                self.set(slot, to);
                            }
                        }
                    }
                }
            }
        }
    }

    fn network(&mut self, n: &mut Map<String, Value>) {
        for k in ["ipAddress", "reflexiveIPAddress"] {
            if let Some(slot) = n.get_mut(k)
                && let Some(ip) = slot.as_str()
            {
                let to = Value::String(truncate_ip(ip));
                self.set(slot, to);
            }
        }
        if let Some(slot) = n.get_mut("macAddress")
            && let Some(mac) = slot.as_str()
        {
            let zeroed: String = mac
                .chars()
                .map(|c| if c.is_ascii_hexdigit() { '0' } else { c })
                .collect();
            self.set(slot, Value::String(zeroed));
        }
    }
}

/// An IPv4 address with its last octet zeroed (/24), an IPv6 one with all but its first three groups
/// zeroed (/48); anything else becomes empty.
pub fn truncate_ip(ip: &str) -> String {
    if let Ok(v4) = ip.trim().parse::<std::net::Ipv4Addr>() {
        let [a, b, c, _] = v4.octets();
        return std::net::Ipv4Addr::new(a, b, c, 0).to_string();
    }
    if let Ok(v6) = ip.trim().parse::<std::net::Ipv6Addr>() {
        let s = v6.segments();
        return std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).to_string();
    }
    String::new()
}

/// Redact the user from one JSON document (a record version or a log row); true when anything changed.
pub fn redact_value(v: &mut Value, user_id: &str, p: &Pseudonym) -> bool {
    let user_id = user_id.trim();
    if user_id.is_empty() {
        return false;
    }
    let mut names = Vec::new();
    collect_names(v, user_id, &mut names);
    let mut swaps = vec![(user_id.to_owned(), p.id.clone())];
    for n in names {
        // A UPN is replaced by the pseudonymous UPN, a display name by the pseudonymous name; names of
        // fewer than 4 characters only where they are a whole name value (see `object`).
        if n.chars().count() < 4 {
            continue;
        }
        let to = if n.contains('@') {
            p.upn.clone()
        } else {
            p.display_name.clone()
        };
        swaps.push((n, to));
    }
    swaps.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
    let mut ctx = Ctx {
        user_id,
        p,
        swaps,
        changed: false,
    };
    // Objects first (they need the original ids to recognise the user), strings after.
    ctx.objects(v);
    ctx.all_strings(v);
    ctx.changed
}

impl Ctx<'_> {
    fn objects(&mut self, v: &mut Value) {
        match v {
            Value::Object(m) => {
                self.object(m);
                m.values_mut().for_each(|x| self.objects(x));
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.objects(x)),
            _ => {}
        }
    }

    fn all_strings(&mut self, v: &mut Value) {
        match v {
            Value::Object(m) => m.values_mut().for_each(|x| self.all_strings(x)),
            Value::Array(a) => a.iter_mut().for_each(|x| self.all_strings(x)),
            Value::String(_) => self.strings(v),
            _ => {}
        }
    }
}

/// A stored document with the user redacted.
#[derive(Debug)]
pub struct RedactedCopy {
    /// The rewritten document, serialized compactly (key order kept). This is the one change ever made to
    /// raw bytes as received (see `docs/decisions.md`).
    pub raw: String,
    /// The same document as a value, OData control annotations stripped (what the stores hash and index),
    /// so that callers need not parse `raw` again.
    pub value: Value,
}

/// Redact the user from a JSON text: `None` when the text does not mention them (or is not JSON), an error
/// when the text no longer parses after the last textual replacement, else the rewritten copy.
pub fn redact_copy(
    raw: &str,
    user_id: &str,
    p: &Pseudonym,
) -> Option<Result<RedactedCopy, serde_json::Error>> {
    if !mentions(raw, user_id) {
        return None;
    }
    let mut value: Value = serde_json::from_str(raw).ok()?;
    redact_value(&mut value, user_id, p);
    let mut out = serde_json::to_string(&value).ok()?;
    // Whatever the structure, no trace of the id may stay (say inside an odd key).
    if mentions(&out, user_id)
        && let Some(replaced) = replace_ci(&out, user_id.trim(), &p.id)
    {
        out = replaced;
        value = match serde_json::from_str(&out) {
            Ok(v) => v,
            Err(e) => return Some(Err(e)),
        };
    }
    callrecords_model::validate::strip_control_annotations(&mut value);
    Some(Ok(RedactedCopy { raw: out, value }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const USER: &str = "536e846e-0deb-4ff0-b8b8-7fa0e5d2c1bd";

    fn redaction() -> Redaction {
        Redaction {
            user_id: USER.to_ascii_uppercase(),
            key: b"k".to_vec(),
        }
    }

    fn redact(v: &mut Value) -> bool {
        let r = redaction();
        redact_value(v, &r.user_id, &r.pseudonym("t"))
    }

    fn endpoint(id: &str, name: &str, upn: &str, machine: &str) -> Value {
        json!({"name": machine, "feedback": {"rating": "good", "text": "my headset broke"},
               "associatedIdentity": {"id": id, "displayName": name, "userPrincipalName": upn}})
    }

    fn record() -> Value {
        json!({
            "id": "rec-1", "version": 1,
            "joinWebUrl": format!("https://teams.microsoft.com/l/x?context=%7b%22Oid%22%3a%22{USER}%22%7d"),
            "organizer_v2": {"id": USER, "identity": {"user": {"id": USER, "displayName": "Ruwini Young"}}},
            "participants_v2": [
                {"id": USER, "identity": {"user": {"id": USER, "displayName": "Ruwini Young",
                                                   "userPrincipalName": "ruwini.young@contoso.com"}}},
                {"id": "other", "identity": {"user": {"id": "other", "displayName": "Adele Garcia",
                                                      "userPrincipalName": "adele@contoso.com"}}}],
            "sessions": [{
                "caller": endpoint(USER, "Ruwini Young", "ruwini.young@contoso.com", "DESKTOP-A"),
                "callee": endpoint("other", "Adele Garcia", "adele@contoso.com", "DESKTOP-B"),
                "segments": [{
                    "caller": endpoint("other", "Adele Garcia", "adele@contoso.com", "DESKTOP-B"),
                    "callee": endpoint(USER, "Ruwini Young", "ruwini.young@contoso.com", "DESKTOP-A"),
                    "media": [{
                        "callerNetwork": {"ipAddress": "10.1.2.3", "subnet": "10.1.2.0", "macAddress": "AA-BB-CC-DD-EE-FF"},
                        "calleeNetwork": {"ipAddress": "10.9.8.7", "subnet": "10.9.8.0", "macAddress": "11-22-33-44-55-66",
                                          "reflexiveIPAddress": "2001:db8:1:2::5"},
                        "callerDevice": {"captureDeviceName": "Mic (Poly)"},
                        "calleeDevice": {"captureDeviceName": "Mic (Logitech)", "renderDeviceName": "Spk (Logitech)"},
                        "streams": [{"averageJitter": "PT0.002S"}]}]}]}]
        })
    }

    #[test]
    fn the_user_is_gone_and_everyone_else_stays() {
        let mut v = record();
        assert!(redact(&mut v));
        let text = v.to_string();
        for gone in [
            USER,
            "Ruwini Young",
            "ruwini.young@contoso.com",
            "DESKTOP-A",
            "Mic (Logitech)",
            "10.9.8.7",
            "11-22-33-44-55-66",
        ] {
            assert!(
                !text
                    .to_ascii_lowercase()
                    .contains(&gone.to_ascii_lowercase()),
                "{gone} left in {text}"
            );
        }
        for kept in [
            "Adele Garcia",
            "adele@contoso.com",
            "DESKTOP-B",
            "Mic (Poly)",
            "10.1.2.3",
            "AA-BB-CC-DD-EE-FF",
            "10.9.8.0",
            "PT0.002S",
        ] {
            assert!(text.contains(kept), "{kept} lost from {text}");
        }
        let seg = &v["sessions"][0]["segments"][0];
        assert_eq!(seg["media"][0]["calleeNetwork"]["ipAddress"], "10.9.8.0");
        assert_eq!(
            seg["media"][0]["calleeNetwork"]["reflexiveIPAddress"],
            "2001:db8:1::"
        );
        assert_eq!(
            seg["callee"]["feedback"]["text"], "[redacted]",
            "the user's feedback text"
        );
        assert_eq!(seg["caller"]["feedback"]["text"], "my headset broke");
        assert_eq!(seg["callee"]["feedback"]["rating"], "good");
        let p = &redaction().pseudonym("t");
        assert_eq!(v["organizer_v2"]["id"], p.id.as_str());
        assert_eq!(
            v["participants_v2"][0]["identity"]["user"]["userPrincipalName"],
            p.upn.as_str()
        );
        assert_eq!(
            v["sessions"][0]["caller"]["associatedIdentity"]["displayName"],
            p.display_name.as_str()
        );
    }

    #[test]
    fn redacting_twice_changes_nothing_more() {
        let mut v = record();
        redact(&mut v);
        let once = v.clone();
        assert!(!redact(&mut v));
        assert_eq!(v, once);
    }

    #[test]
    fn pseudonyms_are_stable_per_key_tenant_and_user() {
        let a = Pseudonym::derive(b"key", "T1", USER);
        assert_eq!(
            a,
            Pseudonym::derive(b"key", "t1", &USER.to_ascii_uppercase())
        );
        assert_ne!(a, Pseudonym::derive(b"key", "t2", USER));
        assert_ne!(a, Pseudonym::derive(b"other key", "t1", USER));
        assert_eq!(a.id.len(), 36);
        assert!(!a.id.contains(USER));
    }

    #[test]
    fn log_rows_and_texts() {
        let row = json!({"id": "row", "userId": USER, "userDisplayName": "Ruwini Young",
                         "userPrincipalName": "ruwini.young@contoso.com", "callerNumber": "+1555"})
        .to_string();
        let (r, p) = (redaction(), redaction().pseudonym("t"));
        let out = redact_copy(&row, &r.user_id, &p).unwrap().unwrap().raw;
        assert!(!out.contains("Ruwini") && !out.contains(USER) && !out.contains("ruwini.young"));
        assert!(out.contains("+1555"));
        assert!(redact_copy(r#"{"id":"x"}"#, &r.user_id, &p).is_none());
        assert!(r.audit_subject().starts_with("user:"));
        assert!(!r.audit_subject().contains(USER));
    }

    #[test]
    fn short_names_only_where_they_are_a_name() {
        let mut v = json!({"u": {"id": USER, "displayName": "Al"}, "note": "Almost"});
        redact(&mut v);
        assert_eq!(v["note"], "Almost");
        assert_ne!(v["u"]["displayName"], "Al");
    }

    #[test]
    fn ips_truncate() {
        assert_eq!(truncate_ip("192.168.7.9"), "192.168.7.0");
        assert_eq!(truncate_ip("fe80:1:2:3:4:5:6:7"), "fe80:1:2::");
        assert_eq!(truncate_ip("garbage"), "");
    }
}
