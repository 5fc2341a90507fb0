//! Building blocks of the typed model: tri-state fields, evolvable enums, Graph's timestamps and durations
//! (kept exactly as received), the polymorphic endpoint and user-agent values, and the macros that declare
//! the generated structs and enums.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::ser::{Error as _, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::time::{TimeError, parse_duration_nanos, parse_timestamp};

/// A property value as Graph sends it: absent, explicit `null`, or a value. Both `null` and absence
/// round-trip unchanged.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field<T> {
    /// The property was not in the JSON.
    #[default]
    Absent,
    /// The property was `null`.
    Null,
    /// The property had a value.
    Value(T),
}

impl<T> Field<T> {
    /// True when the property was not present (used by `skip_serializing_if`).
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }
    /// The value, if any.
    pub fn as_ref(&self) -> Option<&T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }
    /// The value, if any.
    pub fn into_option(self) -> Option<T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }
}

impl<T> From<T> for Field<T> {
    fn from(v: T) -> Self {
        Field::Value(v)
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Value(v) => v.serialize(s),
            Field::Null | Field::Absent => s.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            Some(v) => Field::Value(v),
            None => Field::Null,
        })
    }
}

/// Implemented by every generated enumeration.
pub trait GraphEnum: Copy + Sized + 'static {
    /// Qualified name, e.g. `microsoft.graph.callRecords.productFamily`.
    const QUALIFIED: &'static str;
    /// Members in schema order.
    const MEMBERS: &'static [&'static str];
    /// The member's JSON name.
    fn name(self) -> &'static str;
    /// The member with that JSON name (exact, case-sensitive).
    fn from_name(s: &str) -> Option<Self>;
    /// Position in schema order (the member's numeric value).
    fn index(self) -> usize {
        let n = self.name();
        Self::MEMBERS.iter().position(|m| *m == n).unwrap_or(0)
    }
    /// Whether this member comes after `unknownFutureValue`.
    fn is_after_sentinel(self) -> bool {
        match Self::MEMBERS
            .iter()
            .position(|m| *m == "unknownFutureValue")
        {
            Some(s) => self.index() > s,
            None => false,
        }
    }
}

thread_local! {
    static INCLUDE_UNKNOWN_ENUM_MEMBERS: Cell<bool> = const { Cell::new(true) };
}

/// Serializes with or without the members that come after `unknownFutureValue` (Graph's evolvable enums):
/// with `include == false`, such a member is written as `"unknownFutureValue"`, as Graph does for clients
/// that did not send `Prefer: include-unknown-enum-members`. Outside this function the typed model is
/// lossless and writes every member as it is.
pub fn with_unknown_enum_members<R>(include: bool, f: impl FnOnce() -> R) -> R {
    let previous = INCLUDE_UNKNOWN_ENUM_MEMBERS.with(|c| c.replace(include));
    let out = f();
    INCLUDE_UNKNOWN_ENUM_MEMBERS.with(|c| c.set(previous));
    out
}

/// An enumeration value: a member this code knows, or a string it does not (kept exactly as received;
/// validation reports it as a warning).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Enum<T> {
    /// A declared member.
    Known(T),
    /// A string that is not a declared member (Graph adds members; docs show `Blocked` for `blocked`).
    Other(String),
}

impl<T: GraphEnum> Enum<T> {
    /// The string as it would be received.
    pub fn as_str(&self) -> &str {
        match self {
            Enum::Known(t) => t.name(),
            Enum::Other(s) => s,
        }
    }
}

impl<T: GraphEnum> From<T> for Enum<T> {
    fn from(t: T) -> Self {
        Enum::Known(t)
    }
}

impl<T: GraphEnum> Serialize for Enum<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Enum::Known(t) => {
                if t.is_after_sentinel() && !INCLUDE_UNKNOWN_ENUM_MEMBERS.with(Cell::get) {
                    s.serialize_str("unknownFutureValue")
                } else {
                    s.serialize_str(t.name())
                }
            }
            Enum::Other(v) => s.serialize_str(v),
        }
    }
}

impl<'de, T: GraphEnum> Deserialize<'de> for Enum<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<T: GraphEnum> Visitor<'_> for V<T> {
            type Value = Enum<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a member of {}", T::QUALIFIED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(T::from_name(v).map_or_else(|| Enum::Other(v.to_owned()), Enum::Known))
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

/// An `Edm.DateTimeOffset`: the string exactly as received (7-digit fractions stay 7 digits) and its instant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DateTimeOffset {
    raw: String,
    ts: jiff::Timestamp,
}

impl DateTimeOffset {
    /// Parses an ISO 8601 / RFC 3339 timestamp with `Z` or an offset.
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        Ok(DateTimeOffset {
            raw: s.to_owned(),
            ts: parse_timestamp(s)?,
        })
    }
    /// Formats `ts` as Graph does: UTC `Z` with exactly `frac_digits` (0–9) fractional digits.
    pub fn from_timestamp(ts: jiff::Timestamp, frac_digits: u8) -> Self {
        DateTimeOffset {
            raw: crate::time::format_timestamp(ts, frac_digits),
            ts,
        }
    }
    /// The string as received.
    pub fn as_str(&self) -> &str {
        &self.raw
    }
    /// The instant.
    pub fn timestamp(&self) -> jiff::Timestamp {
        self.ts
    }
    /// Microseconds since the Unix epoch (truncated).
    pub fn unix_micros(&self) -> i64 {
        self.ts.as_microsecond()
    }
}

impl fmt::Display for DateTimeOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for DateTimeOffset {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for DateTimeOffset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DateTimeOffset::parse(&s).map_err(de::Error::custom)
    }
}

/// An `Edm.Duration` (ISO 8601 `PnDTnHnMn.nS`): the string exactly as received and its length in nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Duration {
    raw: String,
    nanos: i128,
}

impl Duration {
    /// Parses an ISO 8601 day-time duration (`PT0.015S`, `P1DT2H`, `-PT1S`).
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        Ok(Duration {
            raw: s.to_owned(),
            nanos: parse_duration_nanos(s)?,
        })
    }
    /// Formats `nanos` the way Graph writes durations (`PT0.015S`, `PT1M30S`).
    pub fn from_nanos(nanos: i128) -> Self {
        Duration {
            raw: crate::time::format_duration_nanos(nanos),
            nanos,
        }
    }
    /// From milliseconds.
    pub fn from_millis(ms: i64) -> Self {
        Duration::from_nanos(i128::from(ms) * 1_000_000)
    }
    /// The string as received.
    pub fn as_str(&self) -> &str {
        &self.raw
    }
    /// Length in nanoseconds.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }
    /// Length in (fractional) milliseconds.
    pub fn as_millis_f64(&self) -> f64 {
        self.nanos as f64 / 1e6
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s).map_err(de::Error::custom)
    }
}

/// Access to the properties a struct did not declare (kept verbatim in its `extra` bag).
pub trait HasExtra {
    /// Names of undeclared properties, `@odata.type` excluded.
    fn extra_keys(&self) -> Vec<String>;
}

pub(crate) fn extra_keys_of(extra: &Map<String, Value>) -> Vec<String> {
    extra
        .keys()
        .filter(|k| k.as_str() != "@odata.type")
        .cloned()
        .collect()
}

/// `microsoft.graph.resourceData` (an open type with no declared properties).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceData(pub Map<String, Value>);

impl HasExtra for ResourceData {
    fn extra_keys(&self) -> Vec<String> {
        Vec::new()
    }
}

const PARTICIPANT_ENDPOINT: &str = "#microsoft.graph.callRecords.participantEndpoint";
const SERVICE_ENDPOINT: &str = "#microsoft.graph.callRecords.serviceEndpoint";
const CLIENT_USER_AGENT: &str = "#microsoft.graph.callRecords.clientUserAgent";
const SERVICE_USER_AGENT: &str = "#microsoft.graph.callRecords.serviceUserAgent";

fn odata_type(v: &Value) -> Option<&str> {
    v.get("@odata.type").and_then(Value::as_str)
}

fn same_type(annotation: &str, expected_with_hash: &str) -> bool {
    annotation.trim_start_matches('#') == expected_with_hash.trim_start_matches('#')
}

/// Serializes `inner` as an object whose first key is `@odata.type` (kept as received when present).
fn serialize_tagged<S: Serializer, T: Serialize>(
    s: S,
    inner: &T,
    tag: &str,
) -> Result<S::Ok, S::Error> {
    let v = serde_json::to_value(inner).map_err(S::Error::custom)?;
    match v {
        Value::Object(map) if !map.contains_key("@odata.type") => {
            let mut out = Map::with_capacity(map.len() + 1);
            out.insert("@odata.type".to_owned(), Value::String(tag.to_owned()));
            out.extend(map);
            Value::Object(out).serialize(s)
        }
        other => other.serialize(s),
    }
}

fn from_value_as<T: DeserializeOwned, E: de::Error>(v: Value) -> Result<T, E> {
    serde_json::from_value(v).map_err(E::custom)
}

/// `microsoft.graph.callRecords.endpoint` and its derived types, told apart by `@odata.type`.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// `#microsoft.graph.callRecords.participantEndpoint`.
    Participant(crate::ParticipantEndpoint),
    /// `#microsoft.graph.callRecords.serviceEndpoint`.
    Service(crate::ServiceEndpoint),
    /// The base type, or a derived type this code does not know (its properties stay in `extra`).
    Plain(crate::PlainEndpoint),
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Endpoint::Participant(e) => serialize_tagged(s, e, PARTICIPANT_ENDPOINT),
            Endpoint::Service(e) => serialize_tagged(s, e, SERVICE_ENDPOINT),
            Endpoint::Plain(e) => e.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let tag = odata_type(&v).unwrap_or_default().to_owned();
        Ok(if same_type(&tag, PARTICIPANT_ENDPOINT) {
            Endpoint::Participant(from_value_as(v)?)
        } else if same_type(&tag, SERVICE_ENDPOINT) {
            Endpoint::Service(from_value_as(v)?)
        } else {
            Endpoint::Plain(from_value_as(v)?)
        })
    }
}

impl HasExtra for Endpoint {
    fn extra_keys(&self) -> Vec<String> {
        match self {
            Endpoint::Participant(e) => e.extra_keys(),
            Endpoint::Service(e) => e.extra_keys(),
            Endpoint::Plain(e) => e.extra_keys(),
        }
    }
}

/// `microsoft.graph.callRecords.userAgent` (abstract): a client or a service user agent.
#[derive(Debug, Clone, PartialEq)]
pub enum UserAgent {
    /// `#microsoft.graph.callRecords.clientUserAgent`.
    Client(crate::ClientUserAgent),
    /// `#microsoft.graph.callRecords.serviceUserAgent`.
    Service(crate::ServiceUserAgent),
    /// A derived type this code does not know, or one without `@odata.type`: kept verbatim.
    Other(Map<String, Value>),
}

impl Serialize for UserAgent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            UserAgent::Client(u) => serialize_tagged(s, u, CLIENT_USER_AGENT),
            UserAgent::Service(u) => serialize_tagged(s, u, SERVICE_USER_AGENT),
            UserAgent::Other(m) => m.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for UserAgent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let tag = odata_type(&v).unwrap_or_default().to_owned();
        Ok(if same_type(&tag, CLIENT_USER_AGENT) {
            UserAgent::Client(from_value_as(v)?)
        } else if same_type(&tag, SERVICE_USER_AGENT) {
            UserAgent::Service(from_value_as(v)?)
        } else {
            match v {
                Value::Object(m) => UserAgent::Other(m),
                _ => return Err(de::Error::custom("expected a userAgent object")),
            }
        })
    }
}

impl HasExtra for UserAgent {
    fn extra_keys(&self) -> Vec<String> {
        match self {
            UserAgent::Client(u) => u.extra_keys(),
            UserAgent::Service(u) => u.extra_keys(),
            UserAgent::Other(m) => extra_keys_of(m),
        }
    }
}

/// Declares a Graph enumeration and its [`GraphEnum`] implementation.
macro_rules! graph_enum {
    ($(#[$m:meta])* $name:ident = $q:literal { $($variant:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(clippy::upper_case_acronyms)]
        pub enum $name {
            $(#[doc = $s] $variant,)*
        }
        impl $crate::types::GraphEnum for $name {
            const QUALIFIED: &'static str = $q;
            const MEMBERS: &'static [&'static str] = &[$($s),*];
            fn name(self) -> &'static str {
                match self { $(Self::$variant => $s,)* }
            }
            fn from_name(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

/// Declares a Graph structured type: one tri-state [`Field`] per declared property (own and inherited) and
/// an `extra` bag that keeps every other property verbatim.
macro_rules! graph_struct {
    ($(#[$m:meta])* $name:ident = $q:literal { $($json:literal $field:ident : $ty:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            $(
                #[doc = concat!("`", $json, "`")]
                #[serde(rename = $json, default, skip_serializing_if = "Field::is_absent")]
                pub $field: Field<$ty>,
            )*
            /// Properties this code does not declare (and `@odata.type`), kept verbatim.
            #[serde(flatten)]
            pub extra: serde_json::Map<String, serde_json::Value>,
        }
        impl $name {
            /// Qualified Graph type name.
            pub const QUALIFIED: &'static str = $q;
        }
        impl $crate::types::HasExtra for $name {
            fn extra_keys(&self) -> Vec<String> {
                $crate::types::extra_keys_of(&self.extra)
            }
        }
    };
}
