//! Path segments: bound function calls `name(p=v,...)` and keys `callRecords('id')`.

use crate::ODataError;
use crate::datetime::parse_datetime_literal;

/// The namespace of the call-records functions.
pub const NAMESPACE: &str = "microsoft.graph.callRecords";

/// A function parameter value as written in the segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    /// `'...'` (quotes removed, doubled quotes unescaped).
    Quoted(String),
    /// Unquoted literal text, e.g. `2019-11-01`.
    Unquoted(String),
    /// `@p1`: the value comes from the query string (name includes `@`).
    Alias(String),
}

/// A parsed function-call segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionCall {
    /// Short name, e.g. `getPstnCalls`.
    pub name: String,
    /// The namespace when qualified (e.g. `microsoft.graph.callRecords`), else `None`.
    pub namespace: Option<String>,
    /// Parameters in order (names unique).
    pub params: Vec<(String, ParamValue)>,
}

impl FunctionCall {
    /// Whether the name was namespace-qualified.
    pub fn qualified(&self) -> bool {
        self.namespace.is_some()
    }

    /// The raw value of a parameter by exact name.
    pub fn param(&self, name: &str) -> Option<&ParamValue> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The text of a parameter, resolving an alias through `aliases` (`("@p1", value)`, e.g.
    /// `QueryOptions::aliases`) and removing quotes. `Ok(None)` when the parameter is absent.
    pub fn resolved(
        &self,
        name: &str,
        aliases: &[(String, String)],
    ) -> Result<Option<String>, ODataError> {
        let Some(v) = self.param(name) else {
            return Ok(None);
        };
        Ok(Some(match v {
            ParamValue::Quoted(s) | ParamValue::Unquoted(s) => s.clone(),
            ParamValue::Alias(a) => {
                let raw = aliases
                    .iter()
                    .find(|(n, _)| n == a)
                    .map(|(_, v)| v.as_str())
                    .ok_or_else(|| {
                        ODataError::bad_request(format!(
                            "the parameter alias '{a}' used for '{name}' has no value in the query string"
                        ))
                    })?;
                unquote(raw.trim())?.unwrap_or_else(|| raw.trim().to_owned())
            }
        }))
    }

    /// A required DateTimeOffset parameter as unix microseconds UTC (date-only values mean
    /// midnight UTC; aliases resolved as in [`FunctionCall::resolved`]).
    pub fn datetime_param(
        &self,
        name: &str,
        aliases: &[(String, String)],
    ) -> Result<i64, ODataError> {
        let v = self.resolved(name, aliases)?.ok_or_else(|| {
            ODataError::bad_request(format!(
                "the required parameter '{name}' of function '{}' is missing",
                self.name
            ))
        })?;
        // Tolerate a segment that was not percent-decoded (`...T00:00:00%2B00:00`): `%` never
        // occurs in a date-time, so decoding once more cannot change a valid value.
        let decoded = if v.contains('%') {
            percent_encoding::percent_decode_str(&v)
                .decode_utf8_lossy()
                .into_owned()
        } else {
            v
        };
        parse_datetime_literal(&decoded).map_err(|e| e.prefixed(&format!("parameter '{name}': ")))
    }
}

/// `'...'` → unescaped content; `Ok(None)` when not quoted.
fn unquote(s: &str) -> Result<Option<String>, ODataError> {
    let Some(inner) = s.strip_prefix('\'') else {
        return Ok(None);
    };
    let bad = || ODataError::bad_request(format!("malformed quoted value {}", crate::shorten(s)));
    let inner = inner.strip_suffix('\'').ok_or_else(bad)?;
    // Inside, quotes must come in pairs.
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\'' && chars.next() != Some('\'') {
            return Err(bad());
        }
        out.push(c);
    }
    Ok(Some(out))
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Splits on commas outside quotes.
fn split_params(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Recognises a function call in one decoded path segment: `name(p1=v1,p2=v2)`, `name()` or
/// `namespace.name(...)`.
///
/// `Ok(None)` when the segment is not function-call shaped (no parentheses, a non-identifier
/// name, or key syntax such as `callRecords('id')`); `Err` when it is, but malformed.
/// Splits `a=1b=2` into `a=1` and `b=2`: Microsoft's Python Graph SDK (kiota's URI-template expansion) drops
/// the comma between function parameters and sends `getPstnCalls(fromDateTime=…toDateTime=…)`. An unquoted
/// value never contains `=`, so a second `=` marks where the next parameter name begins (a name starts with a
/// letter, so the digits of the previous value are not taken into it).
fn split_glued(part: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = part;
    while let Some(first) = rest.find('=') {
        let value = &rest[first + 1..];
        if value.trim_start().starts_with('\'') {
            break;
        }
        let Some(second) = value.find('=').map(|i| first + 1 + i) else {
            break;
        };
        let bytes = rest.as_bytes();
        let mut k = second;
        while k > first + 1 && (bytes[k - 1].is_ascii_alphanumeric() || bytes[k - 1] == b'_') {
            k -= 1;
        }
        while k < second && bytes[k].is_ascii_digit() {
            k += 1;
        }
        // `…00:00:00ZtoDateTime=`: the `Z` closes the date-time.
        if k + 1 < second && bytes[k] == b'Z' && bytes[k - 1].is_ascii_digit() {
            k += 1;
        }
        if k >= second || k <= first + 1 {
            break;
        }
        out.push(&rest[..k]);
        rest = &rest[k..];
    }
    out.push(rest);
    out
}

pub fn parse_function_segment(segment: &str) -> Result<Option<FunctionCall>, ODataError> {
    let Some((full_name, rest)) = segment.split_once('(') else {
        return Ok(None);
    };
    let parts: Vec<&str> = full_name.split('.').collect();
    if !parts.iter().all(|p| is_identifier(p)) {
        return Ok(None);
    }
    let inner = rest.trim_end();
    let Some(inner) = inner.strip_suffix(')') else {
        return Err(ODataError::bad_request(format!(
            "function '{}': missing ')' at the end of the parameter list",
            crate::shorten(full_name)
        )));
    };
    let trimmed = inner.trim();
    if trimmed.starts_with('\'') || (!trimmed.is_empty() && !trimmed.contains('=')) {
        return Ok(None); // key syntax
    }
    let (namespace, name) = match full_name.rsplit_once('.') {
        Some((ns, n)) => (Some(ns.to_owned()), n.to_owned()),
        None => (None, full_name.to_owned()),
    };
    let err = |msg: String| ODataError::bad_request(format!("function '{name}': {msg}"));
    let mut params: Vec<(String, ParamValue)> = Vec::new();
    if !trimmed.is_empty() {
        for p in split_params(inner).into_iter().flat_map(split_glued) {
            let (pn, pv) = p.split_once('=').ok_or_else(|| {
                err(format!(
                    "expected name=value, found '{}'",
                    crate::shorten(p.trim())
                ))
            })?;
            let (pn, pv) = (pn.trim(), pv.trim());
            if !is_identifier(pn) {
                return Err(err(format!(
                    "'{}' is not a valid parameter name",
                    crate::shorten(pn)
                )));
            }
            if params.iter().any(|(n, _)| n == pn) {
                return Err(err(format!(
                    "the parameter '{pn}' is specified more than once"
                )));
            }
            let value = if let Some(s) = unquote(pv).map_err(|e| err(e.message))? {
                ParamValue::Quoted(s)
            } else if let Some(alias) = pv.strip_prefix('@') {
                if !is_identifier(alias) {
                    return Err(err(format!(
                        "'{}' is not a valid parameter alias",
                        crate::shorten(pv)
                    )));
                }
                ParamValue::Alias(pv.to_owned())
            } else if pv.is_empty() || pv.contains(['(', ')']) {
                return Err(err(format!("invalid value for parameter '{pn}'")));
            } else {
                ParamValue::Unquoted(pv.to_owned())
            };
            params.push((pn.to_owned(), value));
        }
    }
    Ok(Some(FunctionCall {
        name,
        namespace,
        params,
    }))
}

/// Recognises key syntax `collection('key')` (doubled quotes inside the key unescaped), e.g.
/// `callRecords('abc')` → `("callRecords", "abc")`. `None` for anything else.
pub fn parse_key_segment(segment: &str) -> Option<(String, String)> {
    let (name, rest) = segment.split_once('(')?;
    if !is_identifier(name) {
        return None;
    }
    let key = unquote(rest.strip_suffix(')')?).ok()??;
    Some((name.to_owned(), key))
}

#[cfg(test)]
mod glued_tests {
    use super::*;

    #[test]
    fn parameters_glued_without_a_comma_as_the_python_sdk_sends_them() {
        let f = parse_function_segment(
            "microsoft.graph.callRecords.getPstnCalls(fromDateTime=2026-01-01T00:00:00+00:00toDateTime=2026-03-31T00:00:00+00:00)",
        )
        .unwrap()
        .unwrap();
        assert_eq!(f.name, "getPstnCalls");
        let names: Vec<&str> = f.params.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["fromDateTime", "toDateTime"]);
        assert_eq!(
            split_glued("a=2019-11-01b=2019-12-01"),
            ["a=2019-11-01", "b=2019-12-01"]
        );
        assert_eq!(split_glued("a=2019-11-01Zb2=1"), ["a=2019-11-01Z", "b2=1"]);
        assert_eq!(split_glued("a='x=y'"), ["a='x=y'"]);
        assert_eq!(split_glued("a=1"), ["a=1"]);
    }
}
