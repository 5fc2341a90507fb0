//! Checks a JSON value against the schema and reports every problem with its JSON path
//! (`sessions[3].segments[0].media[0].streams[1].averageJitter: expected an ISO 8601 duration, got 15`).
//!
//! Errors make a record invalid; warnings do not (an enum member this code does not know, a `null` where the
//! schema says non-nullable, an `@odata.type` it does not know). Properties the schema does not declare are
//! never a problem: they are kept.

use std::fmt;

use serde_json::{Map, Value};

use crate::schema::{self, PropDef};
use crate::time::{parse_duration_nanos, parse_timestamp};

/// How bad an [`Issue`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The record is invalid.
    Error,
    /// The record is kept; something is worth knowing.
    Warning,
}

/// One problem at one JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// JSON path, e.g. `sessions[3].segments[0].id`; empty for the value itself.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// Error or warning.
    pub severity: Severity,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// All issues found in one value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Problems that make the value invalid.
    pub errors: Vec<Issue>,
    /// Problems that do not.
    pub warnings: Vec<Issue>,
}

impl Report {
    /// No errors.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
    fn push(&mut self, severity: Severity, path: &str, message: String) {
        let issue = Issue {
            path: path.to_owned(),
            message,
            severity,
        };
        match severity {
            Severity::Error => self.errors.push(issue),
            Severity::Warning => self.warnings.push(issue),
        }
    }
}

/// Whether `key` is an OData control annotation that is not record data (`@odata.context`,
/// `sessions@odata.nextLink`, `@odata.count`, …). `@odata.type` is data and is not one of them.
pub fn is_control_annotation(key: &str) -> bool {
    const SUFFIXES: [&str; 4] = [
        "@odata.context",
        "@odata.nextLink",
        "@odata.count",
        "@odata.deltaLink",
    ];
    SUFFIXES.iter().any(|s| key.ends_with(s))
}

/// Validates a `microsoft.graph.callRecords.callRecord`: a string `id` and an integer `version` are required;
/// everything else is checked when present.
pub fn validate_call_record(value: &Value) -> Report {
    let mut report = Report::default();
    let Some(obj) = value.as_object() else {
        report.push(
            Severity::Error,
            "",
            format!("expected a callRecord JSON object, got {}", show(value)),
        );
        return report;
    };
    // Types of `id` and `version` are checked by the schema walk below; here, only their presence.
    match obj.get("id") {
        Some(Value::String(s)) if s.is_empty() => {
            report.push(Severity::Error, "id", "must not be empty".into())
        }
        Some(Value::Null) => report.push(Severity::Error, "id", "must not be null".into()),
        Some(_) => {}
        None => report.push(Severity::Error, "id", "is required".into()),
    }
    match obj.get("version") {
        Some(Value::Null) => report.push(Severity::Error, "version", "must not be null".into()),
        Some(_) => {}
        None => report.push(Severity::Error, "version", "is required".into()),
    }
    check_object(
        &schema::cr("callRecord"),
        obj,
        &mut String::new(),
        &mut report,
    );
    report
}

/// Validates a value as an instance of `qualified_type` (e.g. `microsoft.graph.callRecords.pstnCallLogRow`).
pub fn validate_as(qualified_type: &str, value: &Value) -> Report {
    let mut report = Report::default();
    match value.as_object() {
        Some(obj) => check_object(qualified_type, obj, &mut String::new(), &mut report),
        None => report.push(
            Severity::Error,
            "",
            format!("expected a JSON object, got {}", show(value)),
        ),
    }
    report
}

fn check_object(declared: &str, obj: &Map<String, Value>, path: &mut String, report: &mut Report) {
    let mut ty = declared.to_owned();
    if let Some(tag) = obj.get("@odata.type") {
        let at = join(path, "@odata.type");
        match tag.as_str() {
            None => report.push(
                Severity::Error,
                &at,
                format!("expected a string, got {}", show(tag)),
            ),
            Some(t) => {
                let named = t.trim_start_matches('#');
                if schema::find_type(named).is_some() {
                    if schema::derives_from(named, declared) {
                        ty = named.to_owned();
                    } else if !schema::derives_from(declared, named) {
                        report.push(
                            Severity::Warning,
                            &at,
                            format!("type {named} does not derive from {declared}; validated as {declared}"),
                        );
                    }
                } else if !t.starts_with('#') {
                    report.push(
                        Severity::Warning,
                        &at,
                        format!("expected a leading '#' in {t:?}"),
                    );
                } else {
                    report.push(
                        Severity::Warning,
                        &at,
                        format!("unknown type {named}; validated as {declared}"),
                    );
                }
            }
        }
    }
    for (key, value) in obj {
        if key.contains('@') {
            continue; // annotations: control ones are dropped later, others are kept as data
        }
        let Some(prop) = schema::find_property(&ty, key) else {
            continue; // undeclared: kept verbatim, never an error
        };
        let len = path.len();
        push_segment(path, key);
        check_property(prop, value, path, report);
        path.truncate(len);
    }
}

fn check_property(prop: &PropDef, value: &Value, path: &mut String, report: &mut Report) {
    if value.is_null() {
        if !prop.nullable || prop.collection {
            report.push(
                Severity::Warning,
                path,
                "null for a property the schema declares non-nullable".into(),
            );
        }
        return;
    }
    if prop.collection {
        let Some(items) = value.as_array() else {
            report.push(
                Severity::Error,
                path,
                format!("expected an array, got {}", show(value)),
            );
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            if item.is_null() {
                report.push(Severity::Warning, path, "null inside a collection".into());
            } else {
                check_single(prop.ty, item, path, report);
            }
            path.truncate(len);
        }
    } else {
        check_single(prop.ty, value, path, report);
    }
}

fn check_single(ty: &str, value: &Value, path: &mut String, report: &mut Report) {
    let expected: Option<&str> = match ty {
        "Edm.String" | "Edm.Guid" => (!value.is_string()).then_some("a string"),
        "Edm.Boolean" => (!value.is_boolean()).then_some("true or false"),
        "Edm.Int32" => value
            .as_i64()
            .is_none_or(|n| i32::try_from(n).is_err())
            .then_some("a 32-bit integer (Edm.Int32)"),
        "Edm.Int64" => (value.as_i64().is_none()).then_some("an integer (Edm.Int64)"),
        "Edm.Single" | "Edm.Double" | "Edm.Decimal" => (!value.is_number()
            && !matches!(value.as_str(), Some("NaN" | "INF" | "-INF")))
        .then_some("a number"),
        "Edm.DateTimeOffset" => value
            .as_str()
            .is_none_or(|s| parse_timestamp(s).is_err())
            .then_some("an ISO 8601 date-time with offset"),
        "Edm.Duration" => value
            .as_str()
            .is_none_or(|s| parse_duration_nanos(s).is_err())
            .then_some("an ISO 8601 duration"),
        _ => {
            if let Some(e) = schema::find_enum(ty) {
                match value.as_str() {
                    None => Some("an enum member name (string)"),
                    Some(s) => {
                        if !e.members.contains(&s) {
                            report.push(
                                Severity::Warning,
                                path,
                                format!("{s:?} is not a member of {ty} (kept as received)"),
                            );
                        }
                        None
                    }
                }
            } else if schema::find_type(ty).is_some() {
                match value.as_object() {
                    Some(obj) => {
                        check_object(ty, obj, path, report);
                        None
                    }
                    None => Some("a JSON object"),
                }
            } else {
                None // a type outside the namespace: nothing to check against
            }
        }
    };
    if let Some(expected) = expected {
        report.push(
            Severity::Error,
            path,
            format!("expected {expected}, got {}", show(value)),
        );
    }
}

fn push_segment(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

fn join(path: &str, key: &str) -> String {
    let mut p = path.to_owned();
    push_segment(&mut p, key);
    p
}

/// A short rendering of a JSON value for messages.
fn show(value: &Value) -> String {
    let s = value.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

/// Removes OData control annotations (at every depth) and tells whether the record arrived incomplete
/// (`sessions@odata.nextLink` or `participants_v2@odata.nextLink` at its top level).
pub fn strip_control_annotations(value: &mut Value) -> bool {
    let partial = value.as_object().is_some_and(|o| {
        o.contains_key("sessions@odata.nextLink")
            || o.contains_key("participants_v2@odata.nextLink")
    });
    strip(value);
    partial
}

fn strip(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.keys().any(|k| is_control_annotation(k)) {
                map.retain(|k, _| !is_control_annotation(k));
            }
            for v in map.values_mut() {
                strip(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_the_path_of_a_mistyped_duration() {
        let v = json!({"id": "a", "version": 1, "sessions": [{}, {}, {}, {"segments": [{"media": [{"streams": [
            {}, {"averageJitter": 15}]}]}]}]});
        let r = validate_call_record(&v);
        assert_eq!(
            r.errors[0].to_string(),
            "sessions[3].segments[0].media[0].streams[1].averageJitter: expected an ISO 8601 duration, got 15"
        );
    }

    #[test]
    fn id_and_version_are_required() {
        let r = validate_call_record(&json!({"type": "peerToPeer"}));
        assert_eq!(r.errors.len(), 2);
        let r = validate_call_record(&json!({"id": 5, "version": "1"}));
        assert_eq!(r.errors.len(), 2, "{:?}", r.errors);
        assert!(validate_call_record(&json!({"id": "x", "version": 3})).is_valid());
        assert!(!validate_call_record(&json!([1])).is_valid());
    }

    #[test]
    fn unknown_enum_members_and_properties_are_not_errors() {
        let v = json!({"id": "a", "version": 1, "type": "brandNewType", "newProperty": {"x": 1},
            "modalities": ["audio", "hologram"]});
        let r = validate_call_record(&v);
        assert!(r.is_valid(), "{:?}", r.errors);
        assert_eq!(r.warnings.len(), 2);
        assert_eq!(r.warnings[1].path, "modalities[1]");
    }

    #[test]
    fn polymorphic_values_are_checked_as_their_derived_type() {
        let v = json!({"id": "a", "version": 1, "sessions": [{"caller": {
            "@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
            "cpuCoresCount": "eight",
            "userAgent": {"@odata.type": "#microsoft.graph.callRecords.clientUserAgent", "platform": 3}}}]});
        let r = validate_call_record(&v);
        let paths: Vec<_> = r.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "sessions[0].caller.cpuCoresCount",
                "sessions[0].caller.userAgent.platform"
            ]
        );
    }

    #[test]
    fn int32_range_and_timestamps() {
        let v = json!({"id": "a", "version": 1, "startDateTime": "yesterday", "sessions": [{"segments": [{"media": [
            {"callerNetwork": {"port": 4294967296i64, "linkSpeed": 4294967295i64}}]}]}]});
        let r = validate_call_record(&v);
        let paths: Vec<_> = r.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "startDateTime",
                "sessions[0].segments[0].media[0].callerNetwork.port"
            ]
        );
    }

    #[test]
    fn control_annotations_are_stripped_and_partial_detected() {
        let mut v = json!({"@odata.context": "x", "id": "a", "version": 1, "organizer_v2@odata.context": "y",
            "sessions@odata.nextLink": "z", "sessions": [{"segments@odata.count": 1, "@odata.type": "#t"}]});
        assert!(strip_control_annotations(&mut v));
        assert_eq!(
            v,
            json!({"id": "a", "version": 1, "sessions": [{"@odata.type": "#t"}]})
        );
    }
}
