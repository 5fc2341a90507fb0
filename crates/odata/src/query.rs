//! The query string: system query options, custom options and parameter aliases.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::ODataError;
use crate::filter::{Expr, MAX_DEPTH, parse_filter};

/// Maximum length of a raw query string, in bytes.
pub const MAX_QUERY_LEN: usize = 32 * 1024;

/// System query options known to this crate (canonical, lower-case spelling).
pub const SYSTEM_OPTIONS: &[&str] = &[
    "$select",
    "$expand",
    "$filter",
    "$top",
    "$skip",
    "$skiptoken",
    "$count",
    "$orderby",
    "$search",
    "$format",
];

/// Characters percent-encoded in re-serialized values: everything but unreserved characters and
/// `$ ( ) = , ' / : ; @ *`, which stay readable.
const VALUE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'$')
    .remove(b'(')
    .remove(b')')
    .remove(b'=')
    .remove(b',')
    .remove(b'\'')
    .remove(b'/')
    .remove(b':')
    .remove(b';')
    .remove(b'@')
    .remove(b'*');
/// Names additionally encode `=`.
const NAME_SET: &AsciiSet = &VALUE_SET.add(b'=');

/// One option as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOption {
    /// Canonical name: `$select` etc. for system options (whatever case/`$` was used), else the
    /// decoded name.
    pub name: String,
    /// The decoded value.
    pub value: String,
    /// The name exactly as it arrived (still encoded).
    pub raw_name: String,
    /// The value exactly as it arrived (still encoded); `None` when there was no `=`.
    pub raw_value: Option<String>,
}

/// `path [asc|desc]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    /// Property path, `a` or `a/b`.
    pub path: String,
    /// `desc`.
    pub descending: bool,
}

/// Options allowed inside `$expand=path(...)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpandOptions {
    /// Nested `$select`.
    pub select: Option<Vec<String>>,
    /// Nested `$expand`.
    pub expand: Option<Vec<ExpandItem>>,
    /// Nested `$filter`.
    pub filter: Option<Expr>,
    /// Nested `$top`.
    pub top: Option<u64>,
    /// Nested `$skip`.
    pub skip: Option<u64>,
    /// Nested `$count`.
    pub count: Option<bool>,
    /// Nested `$orderby`.
    pub orderby: Option<Vec<OrderBy>>,
}

/// One `$expand` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandItem {
    /// Navigation path, e.g. `sessions` (or `*`).
    pub path: String,
    /// Nested options (all `None` when absent or `path()`).
    pub options: ExpandOptions,
}

/// Every option of a request's query string, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// `$select`.
    pub select: Option<Vec<String>>,
    /// `$expand`.
    pub expand: Option<Vec<ExpandItem>>,
    /// `$filter`.
    pub filter: Option<Expr>,
    /// `$top`.
    pub top: Option<u64>,
    /// `$skip`.
    pub skip: Option<u64>,
    /// `$skiptoken` (decoded, otherwise verbatim).
    pub skiptoken: Option<String>,
    /// `$count`.
    pub count: Option<bool>,
    /// `$orderby`.
    pub orderby: Option<Vec<OrderBy>>,
    /// `$search` (kept as a string; the caller rejects it).
    pub search: Option<String>,
    /// `$format`.
    pub format: Option<String>,
    /// Custom query options (names not starting with `$` or `@`), decoded, in order.
    pub custom: Vec<(String, String)>,
    /// Parameter aliases (`@p1=...`), name including `@`, decoded, in order.
    pub aliases: Vec<(String, String)>,
    raw: Vec<RawOption>,
}

fn decode(s: &str, what: &str) -> Result<String, ODataError> {
    let plus = s.replace('+', " ");
    percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            ODataError::bad_request(format!("{what} is not valid UTF-8 after percent-decoding"))
        })
}

/// Maps a decoded option name to its canonical system name (`$select`), if it is one.
/// `Err` for an unknown `$name`.
fn system_name(name: &str, allowed: &[&'static str]) -> Result<Option<&'static str>, String> {
    let lower = name.to_ascii_lowercase();
    let bare = lower.strip_prefix('$').unwrap_or(&lower);
    if let Some(n) = allowed.iter().find(|n| n.get(1..) == Some(bare)) {
        return Ok(Some(n));
    }
    if name.starts_with('$') {
        return Err(crate::shorten(name));
    }
    Ok(None)
}

/// Parses the raw query string (everything after `?`, not yet decoded; a leading `?` is
/// tolerated). `None` or empty gives the default (no options).
pub fn parse_query(raw: Option<&str>) -> Result<QueryOptions, ODataError> {
    let mut q = QueryOptions::default();
    let Some(raw) = raw else { return Ok(q) };
    if raw.len() > MAX_QUERY_LEN {
        return Err(ODataError::bad_request(format!(
            "the query string is too long ({} bytes, at most {MAX_QUERY_LEN})",
            raw.len()
        )));
    }
    let raw = raw.strip_prefix('?').unwrap_or(raw);
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = match pair.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (pair, None),
        };
        let name = decode(raw_name, "a query option name")?;
        let value = decode(
            raw_value.unwrap_or(""),
            &format!("the value of '{}'", crate::shorten(&name)),
        )?;
        let sys = system_name(&name, SYSTEM_OPTIONS).map_err(|n| {
            ODataError::bad_request(format!(
                "unknown system query option '{n}'; supported are {}",
                SYSTEM_OPTIONS.join(", ")
            ))
        })?;
        let canonical = match sys {
            Some(s) => {
                if q.raw.iter().any(|o| o.name == s) {
                    return Err(ODataError::bad_request(format!(
                        "the query option '{s}' is specified more than once"
                    )));
                }
                q.apply(s, &value)?;
                s.to_owned()
            }
            None if name.starts_with('@') => {
                if q.aliases.iter().any(|(n, _)| *n == name) {
                    return Err(ODataError::bad_request(format!(
                        "the parameter alias '{}' is specified more than once",
                        crate::shorten(&name)
                    )));
                }
                q.aliases.push((name.clone(), value.clone()));
                name
            }
            None => {
                q.custom.push((name.clone(), value.clone()));
                name
            }
        };
        q.raw.push(RawOption {
            name: canonical,
            value,
            raw_name: raw_name.to_owned(),
            raw_value: raw_value.map(str::to_owned),
        });
    }
    Ok(q)
}

impl QueryOptions {
    fn apply(&mut self, name: &'static str, v: &str) -> Result<(), ODataError> {
        match name {
            "$select" => self.select = Some(parse_select(v)?),
            "$expand" => self.expand = Some(parse_expand(v, 0)?),
            "$filter" => self.filter = Some(parse_filter(v)?),
            "$top" => self.top = Some(parse_uint(name, v)?),
            "$skip" => self.skip = Some(parse_uint(name, v)?),
            "$skiptoken" => self.skiptoken = Some(v.to_owned()),
            "$count" => self.count = Some(parse_bool(name, v)?),
            "$orderby" => self.orderby = Some(parse_orderby(v)?),
            "$search" => self.search = Some(v.to_owned()),
            "$format" => self.format = Some(v.to_owned()),
            _ => {}
        }
        Ok(())
    }

    /// All options in arrival order, with raw and decoded text.
    pub fn raw_pairs(&self) -> &[RawOption] {
        &self.raw
    }

    /// The decoded value of a custom option or alias by exact name.
    pub fn custom_value(&self, name: &str) -> Option<&str> {
        self.custom
            .iter()
            .chain(&self.aliases)
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Re-serializes every option except those named in `drop` (compared case-insensitively,
    /// `$` optional: `drop = &["$skiptoken", "skip"]`), in arrival order, as a valid query
    /// string without the leading `?`. System names are canonical (`$select`); values are
    /// percent-encoded with `%20` for spaces, leaving `$ ( ) = , ' / : ; @ *` readable.
    pub fn to_query_string(&self, drop: &[&str]) -> String {
        let norm = |s: &str| s.trim_start_matches('$').to_ascii_lowercase();
        let dropped: Vec<String> = drop.iter().map(|d| norm(d)).collect();
        let mut out = String::new();
        for o in &self.raw {
            let is_system = SYSTEM_OPTIONS.contains(&o.name.as_str());
            if is_system && dropped.contains(&norm(&o.name))
                || !is_system && drop.contains(&o.name.as_str())
            {
                continue;
            }
            if !out.is_empty() {
                out.push('&');
            }
            out.extend(utf8_percent_encode(&o.name, NAME_SET));
            if o.raw_value.is_some() {
                out.push('=');
                out.extend(utf8_percent_encode(&o.value, VALUE_SET));
            }
        }
        out
    }
}

fn parse_uint(name: &str, v: &str) -> Result<u64, ODataError> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ODataError::bad_request(format!(
            "invalid value '{}' for {name}: expected a non-negative integer",
            crate::shorten(v)
        )));
    }
    v.parse().map_err(|_| {
        ODataError::bad_request(format!(
            "invalid value '{}' for {name}: the number is too large",
            crate::shorten(v)
        ))
    })
}

fn parse_bool(name: &str, v: &str) -> Result<bool, ODataError> {
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ODataError::bad_request(format!(
            "invalid value '{}' for {name}: expected true or false",
            crate::shorten(v)
        )))
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// `a`, `a/b`, `microsoft.graph.x`, `ns.*`; `*` when `star` is allowed.
fn is_path(s: &str, star: bool) -> bool {
    if star && s == "*" {
        return true;
    }
    !s.is_empty()
        && s.split('/').all(|seg| {
            let mut parts = seg.split('.').peekable();
            let mut ok = true;
            while let Some(p) = parts.next() {
                let last = parts.peek().is_none();
                ok &= is_identifier(p) || (star && last && p == "*" && seg.contains('.'));
            }
            ok
        })
}

/// Splits on `sep` at parenthesis depth 0 outside quotes.
fn split_top(s: &str, sep: char, what: &str) -> Result<Vec<String>, ODataError> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut quoted = false;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth = depth.checked_sub(1).ok_or_else(|| {
                    ODataError::bad_request(format!(
                        "{what}: unbalanced ')' in '{}'",
                        crate::shorten(s)
                    ))
                })?;
            }
            c if c == sep && !quoted && depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if quoted {
        return Err(ODataError::bad_request(format!(
            "{what}: unterminated string in '{}'",
            crate::shorten(s)
        )));
    }
    if depth != 0 {
        return Err(ODataError::bad_request(format!(
            "{what}: missing ')' in '{}'",
            crate::shorten(s)
        )));
    }
    parts.push(cur);
    Ok(parts)
}

/// Parses a `$select` value: a comma list of properties (`*` and qualified names allowed).
pub fn parse_select(v: &str) -> Result<Vec<String>, ODataError> {
    if v.trim().is_empty() {
        return Err(ODataError::bad_request("$select: the value is empty"));
    }
    v.split(',')
        .map(|item| {
            let item = item.trim();
            if is_path(item, true) {
                Ok(item.to_owned())
            } else if item.is_empty() {
                Err(ODataError::bad_request(format!(
                    "$select: empty item in '{}'",
                    crate::shorten(v)
                )))
            } else {
                Err(ODataError::bad_request(format!(
                    "$select: '{}' is not a valid property name",
                    crate::shorten(item)
                )))
            }
        })
        .collect()
}

/// Parses a `$orderby` value: a comma list of `path [asc|desc]`.
pub fn parse_orderby(v: &str) -> Result<Vec<OrderBy>, ODataError> {
    if v.trim().is_empty() {
        return Err(ODataError::bad_request("$orderby: the value is empty"));
    }
    v.split(',')
        .map(|item| {
            let mut words = item.split_whitespace();
            let path = words.next().unwrap_or_default();
            let dir = words.next();
            let bad = || {
                ODataError::bad_request(format!(
                    "$orderby: '{}' is not 'property [asc|desc]'",
                    crate::shorten(item.trim())
                ))
            };
            if !is_path(path, false) || words.next().is_some() {
                return Err(bad());
            }
            let descending = match dir {
                None => false,
                Some(d) if d.eq_ignore_ascii_case("asc") => false,
                Some(d) if d.eq_ignore_ascii_case("desc") => true,
                Some(_) => return Err(bad()),
            };
            Ok(OrderBy {
                path: path.to_owned(),
                descending,
            })
        })
        .collect()
}

const EXPAND_OPTIONS: &[&str] = &[
    "$select", "$expand", "$filter", "$top", "$skip", "$count", "$orderby", "$levels", "$search",
];

/// Parses a `$expand` value (nested options separated by `;`).
pub fn parse_expand(v: &str, depth: usize) -> Result<Vec<ExpandItem>, ODataError> {
    if depth > MAX_DEPTH {
        return Err(ODataError::bad_request(format!(
            "$expand: nested too deeply (at most {MAX_DEPTH} levels)"
        )));
    }
    if v.trim().is_empty() {
        return Err(ODataError::bad_request("$expand: the value is empty"));
    }
    split_top(v, ',', "$expand")?
        .into_iter()
        .map(|item| parse_expand_item(item.trim(), depth))
        .collect()
}

fn parse_expand_item(item: &str, depth: usize) -> Result<ExpandItem, ODataError> {
    let (path, inner) = match item.split_once('(') {
        Some((p, rest)) => {
            let inner = rest.strip_suffix(')').ok_or_else(|| {
                ODataError::bad_request(format!(
                    "$expand: unexpected text after ')' in '{}'",
                    crate::shorten(item)
                ))
            })?;
            (p.trim(), Some(inner))
        }
        None => (item, None),
    };
    if !is_path(path, true) {
        return Err(ODataError::bad_request(if path.is_empty() {
            format!("$expand: empty item in '{}'", crate::shorten(item))
        } else {
            format!(
                "$expand: '{}' is not a valid navigation property",
                crate::shorten(path)
            )
        }));
    }
    let mut options = ExpandOptions::default();
    let mut seen: Vec<&str> = Vec::new();
    for opt in split_top(inner.unwrap_or(""), ';', "$expand")? {
        let opt = opt.trim();
        if opt.is_empty() {
            continue;
        }
        let (name, value) = opt.split_once('=').unwrap_or((opt, ""));
        let name = name.trim();
        let canonical = match system_name(name, EXPAND_OPTIONS) {
            Ok(Some(n)) => n,
            _ => {
                return Err(ODataError::bad_request(format!(
                    "$expand: '{}' is not allowed inside $expand({path}); allowed are $select, $expand, $filter, $top, $skip, $count, $orderby",
                    crate::shorten(name)
                )));
            }
        };
        if seen.contains(&canonical) {
            return Err(ODataError::bad_request(format!(
                "$expand: '{canonical}' is specified more than once inside $expand({path})"
            )));
        }
        seen.push(canonical);
        let prefixed = |e: ODataError| e.prefixed(&format!("$expand({path}): "));
        match canonical {
            "$select" => options.select = Some(parse_select(value).map_err(prefixed)?),
            "$expand" => options.expand = Some(parse_expand(value, depth + 1).map_err(prefixed)?),
            "$filter" => options.filter = Some(parse_filter(value).map_err(prefixed)?),
            "$top" => options.top = Some(parse_uint(canonical, value).map_err(prefixed)?),
            "$skip" => options.skip = Some(parse_uint(canonical, value).map_err(prefixed)?),
            "$count" => options.count = Some(parse_bool(canonical, value).map_err(prefixed)?),
            "$orderby" => options.orderby = Some(parse_orderby(value).map_err(prefixed)?),
            other => {
                return Err(ODataError::not_supported(format!(
                    "$expand: '{other}' inside $expand({path}) is not supported"
                )));
            }
        }
    }
    Ok(ExpandItem {
        path: path.to_owned(),
        options,
    })
}
