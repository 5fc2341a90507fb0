//! Turning stored JSON text into response JSON.
//!
//! The fast path never builds a `serde_json::Value`: a stored object is split shallowly into its top-level
//! `(key, raw value text)` pairs (borrowed from the stored string) and spliced into the response, so the
//! response keeps the stored key order and number formatting byte for byte. Only when a transformation applies
//! (`$select` is handled on the pairs; `Prefer: omit-values=nulls` and the rewrite of enum members after
//! `unknownFutureValue`) is the object parsed into a `Value`, transformed and re-serialized.
//!
//! On top of that, the writers of whole answers: an entity with its `@odata.context` ([`entity`]), a
//! collection ([`collection`]), a call record with its inline `@odata.context`s ([`record`]), and the
//! `text/plain` answer of `$count` ([`count`]).

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use callrecords_model::schema::cr;
use callrecords_store::RecordHead;

use callrecords_model::schema::{ENUMS, find_enum, find_property, find_type};
use callrecords_model::validate::is_control_annotation;
use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::GraphRequest;
use crate::ApiError;

/// How values are transformed on the way out (from the `Prefer` header).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Shape {
    /// `Prefer: include-unknown-enum-members`: show members after `unknownFutureValue` as stored.
    pub include_unknown: bool,
    /// `Prefer: omit-values=nulls`.
    pub omit_nulls: bool,
}

/// One top-level member of an object: its name and its JSON text.
pub(crate) type Field<'a> = (Cow<'a, str>, Cow<'a, str>);

struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

struct Shallow<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Shallow<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shallow<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                    let v: &'de RawValue = map.next_value()?;
                    out.push((k, v));
                }
                Ok(Shallow(out))
            }
        }
        d.deserialize_map(V)
    }
}

struct RawItems<'a>(Vec<&'a RawValue>);

impl<'de> Deserialize<'de> for RawItems<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawItems<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<&'de RawValue>()? {
                    out.push(v);
                }
                Ok(RawItems(out))
            }
        }
        d.deserialize_seq(V)
    }
}

fn corrupt(e: serde_json::Error) -> ApiError {
    ApiError::internal(format!("stored JSON could not be read: {e}"))
}

/// The top-level members of a stored object, borrowed.
pub(crate) fn shallow(raw: &str) -> Result<Vec<(Cow<'_, str>, &RawValue)>, ApiError> {
    serde_json::from_str::<Shallow<'_>>(raw)
        .map(|s| s.0)
        .map_err(corrupt)
}

/// The items of a stored JSON array, borrowed.
pub(crate) fn array_items(raw: &str) -> Result<Vec<&RawValue>, ApiError> {
    serde_json::from_str::<RawItems<'_>>(raw)
        .map(|s| s.0)
        .map_err(corrupt)
}

/// The quoted names of every enum member after `unknownFutureValue` (e.g. `"azureCommunicationServices"`),
/// as one automaton: a stored text is scanned once for all of them.
fn post_sentinel_needles() -> &'static aho_corasick::AhoCorasick {
    static NEEDLES: OnceLock<aho_corasick::AhoCorasick> = OnceLock::new();
    NEEDLES.get_or_init(|| {
        let mut v: Vec<String> = ENUMS
            .iter()
            .flat_map(|e| {
                let s = e.sentinel();
                e.members
                    .iter()
                    .enumerate()
                    .filter(move |(i, _)| s.is_some_and(|s| *i > s))
                    .map(|(_, m)| format!("\"{m}\""))
            })
            .collect();
        v.sort();
        v.dedup();
        aho_corasick::AhoCorasick::new(&v)
            .unwrap_or_else(|e| unreachable!("enum member names are short literal patterns: {e}"))
    })
}

/// Whether `raw` may contain an enum member that must be rewritten (one pass over the text).
pub(crate) fn may_need_enum_rewrite(raw: &str) -> bool {
    post_sentinel_needles().is_match(raw)
}

/// Whether a member named `key` survives `$select` (`None` = everything). Instance annotations
/// (`@odata.type`) always survive; `prop@annotation` survives with `prop`.
pub(crate) fn selected(select: Option<&[String]>, key: &str) -> bool {
    let Some(sel) = select else { return true };
    if key.starts_with('@') {
        return true;
    }
    let prop = key.split_once('@').map_or(key, |(p, _)| p);
    sel.iter().any(|s| s == prop)
}

/// The members of a stored object of type `ty`, transformed as `shape` asks and filtered by `select`.
/// Stored control annotations (`@odata.context` …) are dropped.
pub(crate) fn fields<'a>(
    raw: &'a str,
    ty: &str,
    shape: Shape,
    select: Option<&[String]>,
) -> Result<Vec<Field<'a>>, ApiError> {
    let rewrite = !shape.include_unknown && may_need_enum_rewrite(raw);
    if !rewrite && !shape.omit_nulls {
        return Ok(shallow(raw)?
            .into_iter()
            .filter(|(k, _)| !is_control_annotation(k) && selected(select, k))
            .map(|(k, v)| (k, Cow::Borrowed(v.get())))
            .collect());
    }
    let mut value: Value = serde_json::from_str(raw).map_err(corrupt)?;
    transform(&mut value, ty, shape, rewrite);
    let Value::Object(map) = value else {
        return Err(ApiError::internal("a stored item is not a JSON object"));
    };
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        if is_control_annotation(&k) || !selected(select, &k) {
            continue;
        }
        let text = serde_json::to_string(&v).map_err(corrupt)?;
        out.push((Cow::Owned(k), Cow::Owned(text)));
    }
    Ok(out)
}

/// A stored value (object or array) of type `ty` as response JSON text.
pub(crate) fn value_text<'a>(
    raw: &'a str,
    ty: &str,
    shape: Shape,
) -> Result<Cow<'a, str>, ApiError> {
    let rewrite = !shape.include_unknown && may_need_enum_rewrite(raw);
    if !rewrite && !shape.omit_nulls {
        return Ok(Cow::Borrowed(raw));
    }
    let mut value: Value = serde_json::from_str(raw).map_err(corrupt)?;
    transform(&mut value, ty, shape, rewrite);
    Ok(Cow::Owned(serde_json::to_string(&value).map_err(corrupt)?))
}

fn transform(value: &mut Value, ty: &str, shape: Shape, rewrite: bool) {
    if rewrite {
        rewrite_enums(value, ty, 0);
    }
    if shape.omit_nulls {
        omit_nulls(value);
    }
}

/// Replaces enum members after `unknownFutureValue` by `unknownFutureValue`, walking `value` by the declared
/// property types of `ty` (following `@odata.type` for derived instances).
pub(crate) fn rewrite_enums(value: &mut Value, ty: &str, depth: usize) {
    if depth > 64 {
        return;
    }
    match value {
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| rewrite_enums(v, ty, depth + 1)),
        Value::Object(map) => {
            let actual = map
                .get("@odata.type")
                .and_then(Value::as_str)
                .map(|t| t.trim_start_matches('#'))
                .filter(|t| find_type(t).is_some())
                .map(str::to_owned);
            let actual = actual.as_deref().unwrap_or(ty);
            for (k, v) in map.iter_mut() {
                let Some(p) = find_property(actual, k) else {
                    continue;
                };
                if let Some(e) = find_enum(p.ty) {
                    let fix = |s: &mut Value| {
                        if let Value::String(m) = s
                            && e.is_after_sentinel(m)
                        {
                            *m = "unknownFutureValue".to_owned();
                        }
                    };
                    match v {
                        Value::Array(items) => items.iter_mut().for_each(fix),
                        other => fix(other),
                    }
                } else if find_type(p.ty).is_some() {
                    rewrite_enums(v, p.ty, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// Removes `null` members from every object, recursively.
pub(crate) fn omit_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(omit_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(omit_nulls),
        _ => {}
    }
}

/// Appends `s` as a JSON string.
pub(crate) fn push_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned()));
    }
}

/// Appends `"key":`, preceded by a comma unless `first`.
pub(crate) fn push_key(out: &mut String, first: &mut bool, key: &str) {
    if !*first {
        out.push(',');
    }
    *first = false;
    push_str(out, key);
    out.push(':');
}

/// Appends `"key":"value"`.
pub(crate) fn push_str_member(out: &mut String, first: &mut bool, key: &str, value: &str) {
    push_key(out, first, key);
    push_str(out, value);
}

/// `'` doubled, for a key inside a context URL.
pub(crate) fn key_literal(id: &str) -> String {
    id.replace('\'', "''")
}

/// The `text/plain` answer of a `$count` segment.
pub(crate) fn count(n: u64) -> Response {
    let mut resp = (StatusCode::OK, n.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

/// Writes a stored object of type `ty` (after the shape transformations and `$select`), preceded by
/// `@odata.context` when given.
pub(crate) fn object(
    req: &GraphRequest,
    out: &mut String,
    raw: &str,
    ty: &str,
    select: Option<&[String]>,
    context: Option<&str>,
) -> Result<(), ApiError> {
    if context.is_none() && select.is_none() {
        out.push_str(&value_text(raw, ty, req.shape())?);
        return Ok(());
    }
    let fields = fields(raw, ty, req.shape(), select)?;
    out.push('{');
    let mut first = true;
    if let Some(c) = context {
        push_str_member(out, &mut first, "@odata.context", c);
    }
    for (k, v) in &fields {
        push_key(out, &mut first, k);
        out.push_str(v);
    }
    out.push('}');
    Ok(())
}

/// A single entity: the stored object with its `@odata.context`.
pub(crate) fn entity(
    req: &GraphRequest,
    raw: &str,
    ty: &str,
    select: Option<&[String]>,
    context: &str,
) -> Result<String, ApiError> {
    let mut out = String::with_capacity(raw.len() + 256);
    object(req, &mut out, raw, ty, select, Some(context))?;
    Ok(out)
}

/// Items written one after the other, comma-separated.
pub(crate) fn items<T>(
    out: &mut String,
    items: &[T],
    mut write: impl FnMut(&mut String, &T) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(out, item)?;
    }
    Ok(())
}

/// `{"@odata.context", ["@odata.count"], "value": [...], ["@odata.nextLink"]}`, each item written by `write`.
pub(crate) fn collection_with<T>(
    context: &str,
    count: Option<u64>,
    values: &[T],
    next: Option<String>,
    size_hint: usize,
    write: impl FnMut(&mut String, &T) -> Result<(), ApiError>,
) -> Result<String, ApiError> {
    let mut out = String::with_capacity(size_hint + 512);
    out.push('{');
    let mut first = true;
    push_str_member(&mut out, &mut first, "@odata.context", context);
    if let Some(c) = count {
        push_key(&mut out, &mut first, "@odata.count");
        out.push_str(&c.to_string());
    }
    push_key(&mut out, &mut first, "value");
    out.push('[');
    items(&mut out, values, write)?;
    out.push(']');
    if let Some(l) = next {
        push_str_member(&mut out, &mut first, "@odata.nextLink", &l);
    }
    out.push('}');
    Ok(out)
}

/// A collection of stored objects of type `ty`.
pub(crate) fn collection(
    req: &GraphRequest,
    context: &str,
    count: Option<u64>,
    values: &[&str],
    ty: &str,
    select: Option<&[String]>,
    next: Option<String>,
) -> Result<String, ApiError> {
    let size = values.iter().map(|i| i.len() + 1).sum::<usize>();
    collection_with(context, count, values, next, size, |out, raw| {
        object(req, out, raw, ty, select, None)
    })
}

/// Writes one callRecord object. `context` is the object's own `@odata.context` (get only; list items have
/// none, and no `participants_v2@odata.context`). `tail` is appended before the closing brace: expanded
/// navigations, each member starting with a comma.
pub(crate) fn record(
    req: &GraphRequest,
    out: &mut String,
    head: &RecordHead,
    select: Option<&[String]>,
    context: Option<&str>,
    tail: &str,
) -> Result<(), ApiError> {
    let fields = fields(&head.json, &cr("callRecord"), req.shape(), select)?;
    let key = key_literal(&head.id);
    out.push('{');
    let mut first = true;
    if let Some(c) = context {
        push_str_member(out, &mut first, "@odata.context", c);
    }
    for (k, v) in &fields {
        if k == "organizer_v2" {
            let c = req.context(&format!(
                "communications/callRecords('{key}')/organizer_v2/$entity"
            ));
            push_str_member(out, &mut first, "organizer_v2@odata.context", &c);
        }
        push_key(out, &mut first, k);
        out.push_str(v);
    }
    if context.is_some() && selected(select, "participants_v2") {
        let c = req.context(&format!(
            "communications/callRecords('{key}')/participants_v2/$entity"
        ));
        push_str_member(out, &mut first, "participants_v2@odata.context", &c);
    }
    out.push_str(tail);
    out.push('}');
    Ok(())
}
