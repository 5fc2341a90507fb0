//! What every backend extracts from a record before storing it: the index columns ([`index_record`]), its
//! split into head / sessions / participants ([`split_record_raw`]), and a content hash for idempotency
//! ([`content_hash`]). Wrongly typed fields are treated as absent.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The columns a backend indexes, extracted from a record's parsed value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordIndex {
    pub id: String,
    pub version: i64,
    pub last_modified: Option<String>,
    pub start: Option<String>,
    pub start_us: Option<i64>,
    pub end: Option<String>,
    pub end_us: Option<i64>,
    pub call_type: Option<String>,
    /// The string members of `modalities`, in order.
    pub modalities: Vec<String>,
    pub organizer_id: Option<String>,
    /// `participants_v2[].id` then the organizer id, deduplicated, in first-seen order.
    pub participant_ids: Vec<String>,
    /// Every string `tenantId` found anywhere in the record, deduplicated, in first-seen order.
    pub tenant_ids: Vec<String>,
}

/// One session, split for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitSession {
    /// The session's `id` (absent or not a string: `None`).
    pub id: Option<String>,
    /// The session object without `segments`.
    pub json: String,
    /// The serialized `segments` value, when the session has that key.
    pub segments: Option<String>,
    /// Byte offset in `json` where the `"segments":…` member belongs (see [`splice_segments`]).
    pub segments_at: Option<usize>,
}

/// One participant, ready for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitParticipant {
    pub id: Option<String>,
    pub json: String,
}

/// A record split into the parts a backend stores separately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitRecord {
    /// The record without `sessions`, `participants_v2` and their `@odata` annotations.
    pub head: String,
    pub sessions: Vec<SplitSession>,
    pub participants: Vec<SplitParticipant>,
}

/// Parse an RFC 3339 timestamp to µs since the epoch.
pub fn parse_timestamp_us(s: &str) -> Option<i64> {
    let ts: jiff::Timestamp = s.parse().ok()?;
    Some(ts.as_microsecond())
}

/// Format µs since the epoch as RFC 3339 UTC.
pub fn format_timestamp_us(us: i64) -> String {
    match jiff::Timestamp::from_microsecond(us) {
        Ok(ts) => ts.to_string(),
        Err(_) => us.to_string(),
    }
}

fn str_field(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn push_unique(list: &mut Vec<String>, s: &str) {
    if !list.iter().any(|x| x == s) {
        list.push(s.to_owned());
    }
}

fn collect_tenant_ids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "tenantId" {
                    if let Value::String(s) = v {
                        push_unique(out, s);
                    }
                } else {
                    collect_tenant_ids(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_tenant_ids(v, out)),
        _ => {}
    }
}

/// Extract the index columns. `None` when `value` is not an object with a string `id` and an
/// integer `version`.
pub fn index_record(value: &Value) -> Option<RecordIndex> {
    let obj = value.as_object()?;
    let id = str_field(obj, "id")?;
    let version = obj.get("version")?.as_i64()?;
    let start = str_field(obj, "startDateTime");
    let end = str_field(obj, "endDateTime");
    let organizer_id = obj
        .get("organizer_v2")
        .and_then(Value::as_object)
        .and_then(|o| str_field(o, "id"));
    let mut participant_ids = Vec::new();
    if let Some(Value::Array(ps)) = obj.get("participants_v2") {
        for p in ps {
            if let Some(pid) = p.get("id").and_then(Value::as_str) {
                push_unique(&mut participant_ids, pid);
            }
        }
    }
    if let Some(o) = &organizer_id {
        push_unique(&mut participant_ids, o);
    }
    let mut tenant_ids = Vec::new();
    collect_tenant_ids(value, &mut tenant_ids);
    Some(RecordIndex {
        id,
        version,
        last_modified: str_field(obj, "lastModifiedDateTime"),
        start_us: start.as_deref().and_then(parse_timestamp_us),
        start,
        end_us: end.as_deref().and_then(parse_timestamp_us),
        end,
        call_type: str_field(obj, "type"),
        modalities: obj
            .get("modalities")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        organizer_id,
        participant_ids,
        tenant_ids,
    })
}

fn to_json(v: &Value) -> String {
    // Serializing a `Value` cannot fail (string keys only).
    serde_json::to_string(v).unwrap_or_default()
}

fn is_nav_key(k: &str, nav: &str) -> bool {
    k == nav || (k.starts_with(nav) && k[nav.len()..].starts_with('@'))
}

/// Split a session object into its JSON without `segments`, the segments, and where they go.
pub fn split_session(session: &Value) -> SplitSession {
    let Value::Object(m) = session else {
        return SplitSession {
            id: None,
            json: to_json(session),
            segments: None,
            segments_at: None,
        };
    };
    let mut json = String::from("{");
    let mut segments = None;
    let mut segments_at = None;
    let mut first = true;
    for (k, v) in m {
        if k == "segments" {
            segments = Some(to_json(v));
            segments_at = Some(json.len());
            continue;
        }
        if !first {
            json.push(',');
        }
        first = false;
        json.push_str(&to_json(&Value::String(k.clone())));
        json.push(':');
        json.push_str(&to_json(v));
    }
    json.push('}');
    SplitSession {
        id: m.get("id").and_then(Value::as_str).map(str::to_owned),
        json,
        segments,
        segments_at,
    }
}

/// Put `"segments":<segments>` back into a session JSON at byte offset `at` (from [`split_session`]).
pub fn splice_segments(json: &str, segments: &str, at: usize) -> String {
    if at > json.len() || !json.is_char_boundary(at) || !json.starts_with('{') || at == 0 {
        return json.to_owned();
    }
    let mut out = String::with_capacity(json.len() + segments.len() + 14);
    out.push_str(&json[..at]);
    let empty = json == "{}";
    if at > 1 {
        out.push(',');
    }
    out.push_str("\"segments\":");
    out.push_str(segments);
    if at == 1 && !empty {
        out.push(',');
    }
    out.push_str(&json[at..]);
    out
}

/// Split a record into head, sessions and participants.
pub fn split_record(value: &Value) -> SplitRecord {
    let Value::Object(m) = value else {
        return SplitRecord {
            head: to_json(value),
            sessions: Vec::new(),
            participants: Vec::new(),
        };
    };
    let mut head = Map::new();
    for (k, v) in m {
        if !is_nav_key(k, "sessions") && !is_nav_key(k, "participants_v2") {
            head.insert(k.clone(), v.clone());
        }
    }
    let sessions = match m.get("sessions") {
        Some(Value::Array(a)) => a.iter().map(split_session).collect(),
        _ => Vec::new(),
    };
    let participants = match m.get("participants_v2") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| SplitParticipant {
                id: p.get("id").and_then(Value::as_str).map(str::to_owned),
                json: to_json(p),
            })
            .collect(),
        _ => Vec::new(),
    };
    SplitRecord {
        head: to_json(&Value::Object(head)),
        sessions,
        participants,
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'a>(std::borrow::Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The members of a JSON object as (key, exact value text), in input order, duplicates included.
struct RawObject<'a>(Vec<(Key<'a>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawObject<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(k) = map.next_key::<Key<'de>>()? {
                    let v: &'de RawValue = map.next_value()?;
                    out.push((k, v));
                }
                Ok(RawObject(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Whether a piece of raw JSON may hold an OData control annotation key (then the stripped parsed value
/// is serialized instead of the raw text). Exact for text without `\u` escapes: such a key ends with one of
/// the control suffixes right before its closing quote; with `\u` escapes it answers yes (a key could be
/// spelled with escapes). `@odata.type` is data and does not count.
fn may_hold_annotation(raw: &str) -> bool {
    if raw.contains("\\u") {
        return true;
    }
    let mut rest = raw;
    while let Some(i) = rest.find("@odata.") {
        rest = &rest[i + "@odata.".len()..];
        if ["context\"", "nextLink\"", "count\"", "deltaLink\""]
            .iter()
            .any(|s| rest.starts_with(s))
        {
            return true;
        }
    }
    false
}

/// Whether `raw` has no whitespace outside strings.
fn is_compact(raw: &str) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    for &b in raw.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if b.is_ascii_whitespace() {
            return false;
        }
    }
    true
}

fn push_key(out: &mut String, k: &str) {
    if k.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(k);
        out.push('"');
    } else {
        out.push_str(&to_json(&Value::String(k.to_owned())));
    }
}

/// The members of the raw object `raw` that survive in the stripped object `m` (control annotations removed),
/// or `None` when they do not match one for one (duplicate keys, a different shape).
fn raw_members<'a>(raw: &'a str, m: &Map<String, Value>) -> Option<Vec<(Key<'a>, &'a RawValue)>> {
    let RawObject(mut members) = serde_json::from_str(raw).ok()?;
    members.retain(|(k, _)| !callrecords_model::validate::is_control_annotation(&k.0));
    (members.len() == m.len() && members.iter().all(|(k, _)| m.contains_key(k.0.as_ref())))
        .then_some(members)
}

/// Split one session using its raw text: the row is the session exactly as received (without `segments`).
fn split_session_raw(raw: &RawValue, value: &Value) -> SplitSession {
    let text = raw.get();
    let Value::Object(m) = value else {
        return split_session(value);
    };
    if may_hold_annotation(text) {
        return split_session(value);
    }
    let Some(members) = raw_members(text, m) else {
        return split_session(value);
    };
    let mut json = String::with_capacity(text.len());
    json.push('{');
    let mut segments = None;
    let mut segments_at = None;
    let mut first = true;
    for (k, v) in members {
        if k.0 == "segments" {
            segments = Some(v.get().to_owned());
            segments_at = Some(json.len());
            continue;
        }
        if !first {
            json.push(',');
        }
        first = false;
        push_key(&mut json, &k.0);
        json.push(':');
        json.push_str(v.get());
    }
    json.push('}');
    SplitSession {
        id: m.get("id").and_then(Value::as_str).map(str::to_owned),
        json,
        segments,
        segments_at,
    }
}

/// Like [`split_record`], but taking every part's text from `raw` (the record exactly as received) instead of
/// re-serializing `value` (the parsed, annotation-stripped record): cheaper, and session / participant rows
/// are the received text. Parts whose raw text holds an `@odata.` annotation, and records whose raw members
/// do not match `value` one for one (duplicate keys), are serialized from `value` as [`split_record`] does.
pub fn split_record_raw(raw: &str, value: &Value) -> SplitRecord {
    let Value::Object(m) = value else {
        return split_record(value);
    };
    // Rows are compact JSON (what readers splice into responses): pretty-printed input takes the slow path.
    if !is_compact(raw) {
        return split_record(value);
    }
    let Some(members) = raw_members(raw, m) else {
        return split_record(value);
    };
    let mut head = String::with_capacity(4096);
    head.push('{');
    let mut sessions = Vec::new();
    let mut participants = Vec::new();
    let mut first = true;
    for (k, v) in members {
        let key = k.0.as_ref();
        let Some(parsed) = m.get(key) else {
            return split_record(value);
        };
        if key == "sessions" {
            if let Value::Array(items) = parsed {
                let Ok(raws) = serde_json::from_str::<Vec<&RawValue>>(v.get()) else {
                    return split_record(value);
                };
                if raws.len() != items.len() {
                    return split_record(value);
                }
                sessions = raws
                    .into_iter()
                    .zip(items)
                    .map(|(r, s)| split_session_raw(r, s))
                    .collect();
            }
            continue;
        }
        if key == "participants_v2" {
            if let Value::Array(items) = parsed {
                let Ok(raws) = serde_json::from_str::<Vec<&RawValue>>(v.get()) else {
                    return split_record(value);
                };
                if raws.len() != items.len() {
                    return split_record(value);
                }
                participants = raws
                    .into_iter()
                    .zip(items)
                    .map(|(r, p)| SplitParticipant {
                        id: p.get("id").and_then(Value::as_str).map(str::to_owned),
                        json: if may_hold_annotation(r.get()) {
                            to_json(p)
                        } else {
                            r.get().to_owned()
                        },
                    })
                    .collect();
            }
            continue;
        }
        if is_nav_key(key, "sessions") || is_nav_key(key, "participants_v2") {
            continue;
        }
        if !first {
            head.push(',');
        }
        first = false;
        push_key(&mut head, key);
        head.push(':');
        if may_hold_annotation(v.get()) {
            head.push_str(&to_json(parsed));
        } else {
            head.push_str(v.get());
        }
    }
    head.push('}');
    SplitRecord {
        head,
        sessions,
        participants,
    }
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Writing to a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

/// The JSON text of `v` with object keys sorted at every depth (equal values, equal text).
pub fn canonical_json(v: &Value) -> String {
    let mut out = Vec::with_capacity(1024);
    write_canonical(v, &mut out);
    // serde_json writes valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// The first byte of every stored content hash: which function made it. `1` is XXH3-128 (the
/// schema-1 stores' untagged 16-byte MurmurHash3 hashes are recomputed by the SQLite migration to schema 2).
pub const HASH_XXH3_128: u8 = 1;

/// A tagged content hash: [`HASH_XXH3_128`] then XXH3-128 of `data` as 16 big-endian bytes. Stable across
/// builds and platforms; not cryptographic (it detects resent copies, it does not defend against forgery).
pub fn hash128(data: &[u8]) -> [u8; 17] {
    let mut out = [0u8; 17];
    out[0] = HASH_XXH3_128;
    out[1..].copy_from_slice(&xxhash_rust::xxh3::xxh3_128(data).to_be_bytes());
    out
}

/// A 128-bit content hash of a value, independent of key order.
pub fn content_hash(v: &Value) -> [u8; 17] {
    content_hash_in(v, &mut Vec::with_capacity(4096))
}

/// [`content_hash`] using `buf` as scratch space (cleared first), so a loop can reuse one allocation.
pub fn content_hash_in(v: &Value, buf: &mut Vec<u8>) -> [u8; 17] {
    buf.clear();
    write_canonical(v, buf);
    hash128(buf)
}

/// The idempotency key of a log row: its canonical content, and for dial-out rows the period (µs, from..to)
/// it covers. Every backend stores rows under this key, so a resent row is a duplicate everywhere.
pub fn log_row_hash(value: &Value, period: Option<(i64, i64)>) -> [u8; 17] {
    let mut key = canonical_json(value);
    if let Some((from, to)) = period {
        key.push_str(&format!("\u{0}{from}\u{0}{to}"));
    }
    hash128(key.as_bytes())
}

/// The items of `items` in window `w`, with their ordinals.
fn in_window<T, U>(items: Vec<T>, w: &crate::Window, f: impl Fn(u64, T) -> U) -> Vec<U> {
    let skip = w.after.map_or(0, |a| a.saturating_add(1));
    items
        .into_iter()
        .enumerate()
        .map(|(i, x)| (i as u64, x))
        .filter(|(i, _)| *i >= skip)
        .take(w.limit)
        .map(|(i, x)| f(i, x))
        .collect()
}

/// A stored copy that is not the served one, rebuilt from its raw JSON (for a nextLink issued while it was
/// served): the same split as when it was stored, windowed as `read` asks. Every backend's pinned reads.
pub fn view_of_stored_copy(
    tenant: String,
    id: &str,
    version: i64,
    revision: i64,
    partial: bool,
    raw: &str,
    read: &crate::RecordRead,
) -> Result<crate::RecordView, crate::StoreError> {
    let mut value: Value = serde_json::from_str(raw).map_err(|e| {
        crate::StoreError::Backend(format!("stored copy {revision} is not JSON: {e}"))
    })?;
    callrecords_model::validate::strip_control_annotations(&mut value);
    let ix = index_record(&value);
    let split = split_record_raw(raw, &value);
    let head = crate::RecordHead {
        tenant,
        id: id.to_owned(),
        version,
        revision,
        json: split.head,
        session_count: split.sessions.len() as u64,
        participant_count: split.participants.len() as u64,
        start_us: ix.as_ref().and_then(|ix| ix.start_us),
        end_us: ix.as_ref().and_then(|ix| ix.end_us),
        partial,
    };
    let sessions = match &read.sessions {
        Some(w) => in_window(split.sessions, w, |ordinal, s| crate::SessionRow {
            ordinal,
            json: match (read.with_segments, s.segments, s.segments_at) {
                (true, Some(seg), Some(at)) => splice_segments(&s.json, &seg, at),
                _ => s.json,
            },
        }),
        None => Vec::new(),
    };
    let participants = match &read.participants {
        Some(w) => in_window(split.participants, w, |ordinal, p| crate::ParticipantRow {
            ordinal,
            json: p.json,
        }),
        None => Vec::new(),
    };
    Ok(crate::RecordView {
        head,
        sessions,
        participants,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn segments_splice_back_in_place() {
        for v in [
            json!({"segments": [1], "id": "a", "x": null}),
            json!({"id": "a", "segments": [{"k": 1}], "x": 2}),
            json!({"id": "a", "x": 2, "segments": []}),
            json!({"segments": null}),
            json!({"id": "a"}),
        ] {
            let s = split_session(&v);
            let back = match (&s.segments, s.segments_at) {
                (Some(seg), Some(at)) => splice_segments(&s.json, seg, at),
                _ => s.json.clone(),
            };
            assert_eq!(back, serde_json::to_string(&v).unwrap());
            let no_seg: Value = serde_json::from_str(&s.json).unwrap();
            assert!(no_seg.get("segments").is_none());
        }
    }

    #[test]
    fn index_is_defensive() {
        let v = json!({"id": "x", "version": 3, "startDateTime": 5, "modalities": "audio",
            "organizer_v2": [], "participants_v2": {"id": 1}});
        let ix = index_record(&v).unwrap();
        assert_eq!(ix.start, None);
        assert!(ix.modalities.is_empty());
        assert!(ix.participant_ids.is_empty());
        assert!(index_record(&json!({"id": "x", "version": "1"})).is_none());
    }

    fn strip(v: &mut Value) {
        callrecords_model::validate::strip_control_annotations(v);
    }

    #[test]
    fn raw_split_matches_value_split_on_compact_input() {
        let v = json!({"id": "r", "version": 1, "type": "groupCall",
            "sessions": [{"id": "s1", "segments": [{"id": "g"}], "x": 1.5},
                         {"segments": [], "id": "s2"}, {"id": "s3"}],
            "organizer_v2": {"id": "o"},
            "participants_v2": [{"id": "p1"}, {"id": "p2", "n": "é"}], "endDateTime": null});
        let raw = serde_json::to_string(&v).unwrap();
        assert_eq!(split_record_raw(&raw, &v), split_record(&v));
    }

    #[test]
    fn raw_split_keeps_the_received_text() {
        let raw = r#"{"id":"r","version":2,"sessions":[{"id":"s","segments":[{"id":"g"}],"modalities":["audio"],"n":1.0e0,"u":"a\"b c"}],"participants_v2":[{"id":"p","n":10E2}]}"#;
        let v: Value = serde_json::from_str(raw).unwrap();
        let s = split_record_raw(raw, &v);
        assert_eq!(s.head, r#"{"id":"r","version":2}"#);
        assert_eq!(
            s.sessions[0].json,
            r#"{"id":"s","modalities":["audio"],"n":1.0e0,"u":"a\"b c"}"#
        );
        assert_eq!(s.sessions[0].segments.as_deref(), Some(r#"[{"id":"g"}]"#));
        assert_eq!(s.sessions[0].id.as_deref(), Some("s"));
        let back = splice_segments(
            &s.sessions[0].json,
            s.sessions[0].segments.as_deref().unwrap(),
            s.sessions[0].segments_at.unwrap(),
        );
        let back: Value = serde_json::from_str(&back).unwrap();
        assert_eq!(back, v["sessions"][0]);
        assert_eq!(s.participants[0].json, r#"{"id":"p","n":10E2}"#);
        // Pretty-printed input: rows are compact re-serializations.
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        assert_eq!(split_record_raw(&pretty, &v), split_record(&v));
    }

    #[test]
    fn raw_split_drops_control_annotations_like_the_value_split() {
        let raw = r##"{"@odata.context":"c","id":"r","version":1,"sessions@odata.nextLink":"n","sessions":[{"id":"s","segments@odata.count":1,"segments":[],"@odata.type":"#t"}],"organizer_v2@odata.context":"x","organizer_v2":{"id":"o","user@odata.context":"y"},"participants_v2":[{"id":"p","@odata.context":"z"}]}"##;
        let mut v: Value = serde_json::from_str(raw).unwrap();
        strip(&mut v);
        assert_eq!(split_record_raw(raw, &v), split_record(&v));
    }

    #[test]
    fn odata_type_is_data_and_stays_raw() {
        let raw =
            r##"{"id":"r","version":1,"sessions":[{"id":"s", "caller":{"@odata.type":"#x"}}]}"##;
        let v: Value = serde_json::from_str(raw).unwrap();
        let s = split_record_raw(raw, &v);
        assert_eq!(
            s.sessions[0].json,
            r##"{"id":"s","caller":{"@odata.type":"#x"}}"##
        );
        assert!(!may_hold_annotation(
            r##"{"@odata.type":"#x","a@odata.counter":1}"##
        ));
        assert!(may_hold_annotation(r#"{"a@odata.count":1}"#));
        assert!(may_hold_annotation(r#"{"a@odata.coun\u0074":1}"#));
    }

    #[test]
    fn raw_split_falls_back_on_duplicate_keys_and_odd_shapes() {
        for raw in [
            r#"{"id":"r","version":1,"id":"q","sessions":[{"id":"a","id":"b"}]}"#,
            r#"{"id":"r","version":1,"sessions":{"id":"a"},"participants_v2":null}"#,
            r#"{"id":"r","version":1,"sessions":[1,[2],{"id":"s","id":"t"}]}"#,
        ] {
            let v: Value = serde_json::from_str(raw).unwrap();
            assert_eq!(split_record_raw(raw, &v), split_record(&v), "{raw}");
        }
        let v = json!([1]);
        assert_eq!(split_record_raw("[1]", &v), split_record(&v));
    }

    #[test]
    fn content_hash_reuses_its_buffer() {
        let mut buf = Vec::new();
        let a = json!({"b": 1, "a": [true, null]});
        assert_eq!(content_hash_in(&a, &mut buf), content_hash(&a));
        assert_eq!(
            content_hash_in(&json!(2), &mut buf),
            content_hash(&json!(2))
        );
    }

    #[test]
    fn xxh3_reference_vectors() {
        let hex = |h: [u8; 17]| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
        // XXH3-128 of the empty input and of "hello" (seed 0), tagged 01.
        assert_eq!(hex(hash128(b"")), "0199aa06d3014798d86001c324468d497f");
        assert_eq!(hex(hash128(b"hello")), "01b5e9c1ad071b3e7fc779cfaa5e523818");
    }

    #[test]
    fn canonical_ignores_key_order() {
        let a = json!({"a": 1, "b": {"c": [1, {"d": 2, "e": 3}]}});
        let b: Value = serde_json::from_str(r#"{"b":{"c":[1,{"e":3,"d":2}]},"a":1}"#).unwrap();
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(content_hash(&a), content_hash(&json!({"a": 2})));
    }
}
