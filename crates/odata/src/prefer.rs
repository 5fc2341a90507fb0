//! The `Prefer` request header (RFC 7240) and `Preference-Applied`.

/// Preferences this service understands; everything else is ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prefer {
    /// `odata.maxpagesize=N` (or `maxpagesize=N`), N ≥ 1. Invalid values are ignored; the
    /// first valid one wins.
    pub max_page_size: Option<u32>,
    /// `include-unknown-enum-members`.
    pub include_unknown_enum_members: bool,
    /// `omit-values=nulls`.
    pub omit_nulls: bool,
}

/// Splits on `sep` outside double quotes.
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&s[start..]);
    out
}

fn unquote(v: &str) -> &str {
    let v = v.trim();
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// Parses every `Prefer` header value (each a comma-separated list). Tokens are
/// case-insensitive; parameters after `;` and unknown preferences are ignored. Never fails.
pub fn parse_prefer<'a>(values: impl IntoIterator<Item = &'a str>) -> Prefer {
    let mut p = Prefer::default();
    for value in values {
        for pref in split_unquoted(value, ',') {
            let pref = split_unquoted(pref, ';')
                .into_iter()
                .next()
                .unwrap_or_default();
            let (token, val) = match pref.split_once('=') {
                Some((t, v)) => (t.trim(), Some(unquote(v))),
                None => (pref.trim(), None),
            };
            let token = token.to_ascii_lowercase();
            match (token.as_str(), val) {
                ("odata.maxpagesize" | "maxpagesize", Some(v)) => {
                    if p.max_page_size.is_none()
                        && let Ok(n) = v.parse::<u32>()
                        && n > 0
                    {
                        p.max_page_size = Some(n);
                    }
                }
                ("include-unknown-enum-members", None) => p.include_unknown_enum_members = true,
                ("omit-values", Some(v)) if v.eq_ignore_ascii_case("nulls") => p.omit_nulls = true,
                _ => {}
            }
        }
    }
    p
}

impl Prefer {
    /// The `Preference-Applied` header value, or `None` when nothing was applied.
    ///
    /// `page_size_applied` is the page size the caller honoured from `max_page_size` (`None`
    /// when it did not apply one). `include-unknown-enum-members` and `omit-values=nulls` are
    /// reported whenever requested, because the service always honours them.
    pub fn applied_header(&self, page_size_applied: Option<u32>) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(n) = page_size_applied {
            parts.push(format!("odata.maxpagesize={n}"));
        }
        if self.include_unknown_enum_members {
            parts.push("include-unknown-enum-members".to_owned());
        }
        if self.omit_nulls {
            parts.push("omit-values=nulls".to_owned());
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}
