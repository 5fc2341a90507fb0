//! Checks of the query options a resource supports: which system options it takes, `$select` lists, and
//! `$expand` (of a record, and `segments` of a session).

use callrecords_model::schema::{cr, find_property};
use callrecords_odata::{ExpandItem, ODataError, QueryOptions, SYSTEM_OPTIONS};

use super::children::Child;
use super::{GraphRequest, Version};
use crate::ApiError;

/// Rejects system query options other than `allowed` (and `$format`, checked with the request).
pub(crate) fn only_options(q: &QueryOptions, allowed: &[&str]) -> Result<(), ApiError> {
    for o in q.raw_pairs() {
        let name = o.name.as_str();
        if SYSTEM_OPTIONS.contains(&name) && name != "$format" && !allowed.contains(&name) {
            return Err(ODataError::not_supported(format!(
                "the query option '{name}' is not supported on this resource{}",
                if allowed.is_empty() {
                    String::new()
                } else {
                    format!("; supported are {}", allowed.join(", "))
                }
            ))
            .into());
        }
    }
    Ok(())
}

/// Checks a `$select` list against the properties of `ty`; `None` when everything is selected.
pub(crate) fn check_select(
    sel: Option<&Vec<String>>,
    ty: &str,
    ver: Version,
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(sel) = sel else { return Ok(None) };
    if sel.iter().any(|s| s == "*") {
        return Ok(None);
    }
    for s in sel {
        let known = find_property(ty, s).is_some_and(|p| !p.beta_only || ver.beta());
        if !known {
            return Err(ODataError::bad_request(format!(
                "$select: could not find a property named '{s}' on type '{ty}'"
            ))
            .into());
        }
    }
    Ok(Some(sel.clone()))
}

/// `(a,b)` for a context URL when `$select` narrowed the properties (and `extra`, e.g. `segments()`).
pub(crate) fn select_suffix(sel: Option<&[String]>, extra: Option<String>) -> String {
    let mut parts: Vec<String> = sel.map(|s| s.to_vec()).unwrap_or_default();
    parts.extend(extra);
    if parts.is_empty() {
        String::new()
    } else {
        format!("({})", parts.join(","))
    }
}

/// Rejects the options nested in an `$expand` item that no navigation supports (`$expand` only where
/// `allow_expand`).
fn nested_unsupported(item: &ExpandItem, allow_expand: bool) -> Result<(), ApiError> {
    let o = &item.options;
    let which = if o.filter.is_some() {
        Some("$filter")
    } else if o.top.is_some() {
        Some("$top")
    } else if o.skip.is_some() {
        Some("$skip")
    } else if o.count.is_some() {
        Some("$count")
    } else if o.orderby.is_some() {
        Some("$orderby")
    } else if o.expand.is_some() && !allow_expand {
        Some("$expand")
    } else {
        None
    };
    match which {
        Some(w) => Err(ODataError::not_supported(format!(
            "$expand: the nested option '{w}' is not supported on '{}'",
            item.path
        ))
        .into()),
        None => Ok(()),
    }
}

/// The `$expand` of a session, whether on the session itself or nested in `sessions($expand=…)`: only
/// `segments`, without options. Whether segments were asked for.
pub(crate) fn expand_segments(items: Option<&Vec<ExpandItem>>) -> Result<bool, ApiError> {
    let Some(items) = items else {
        return Ok(false);
    };
    for i in items {
        if i.path != "segments" {
            return Err(ODataError::bad_request(format!(
                "$expand: '{}' is not a navigation property of 'microsoft.graph.callRecords.session'",
                i.path
            ))
            .into());
        }
        nested_unsupported(i, false)?;
        if i.options.select.is_some() {
            return Err(ODataError::not_supported(
                "$expand: $select inside 'segments' is not supported",
            )
            .into());
        }
    }
    Ok(!items.is_empty())
}

/// What `$expand` asked of a callRecord (`organizer_v2` is always inline): one contained collection.
#[derive(Debug)]
pub(crate) struct RecordExpand {
    pub child: Child,
    /// `sessions($expand=segments)`.
    pub segments: bool,
    /// The nested `$select`.
    pub select: Option<Vec<String>>,
}

impl RecordExpand {
    /// The `$expand` of `GET callRecords/{id}`; `None` when nothing is expanded.
    pub(crate) fn parse(req: &GraphRequest) -> Result<Option<RecordExpand>, ApiError> {
        let Some(items) = &req.q.expand else {
            return Ok(None);
        };
        let items: Vec<&ExpandItem> = items.iter().filter(|i| i.path != "organizer_v2").collect();
        if items.len() > 1 {
            return Err(ODataError::not_supported(
                "$expand: only one of 'sessions' and 'participants_v2' can be expanded at a time",
            )
            .into());
        }
        let Some(item) = items.first() else {
            return Ok(None);
        };
        let (child, segments) = match item.path.as_str() {
            "sessions" => {
                nested_unsupported(item, true)?;
                (Child::Sessions, expand_segments(item.options.expand.as_ref())?)
            }
            "participants_v2" => {
                nested_unsupported(item, false)?;
                (Child::Participants, false)
            }
            other => return Err(ODataError::bad_request(format!(
                "$expand: '{other}' is not an expandable navigation property of 'microsoft.graph.callRecords.callRecord'; use 'sessions', 'sessions($expand=segments)' or 'participants_v2'"
            ))
            .into()),
        };
        let select = check_select(
            item.options.select.as_ref(),
            &cr(child.type_name()),
            req.ver,
        )?;
        Ok(Some(RecordExpand {
            child,
            segments,
            select,
        }))
    }

    /// This expansion in the record's context URL: `sessions()`, `sessions(id,segments())`,
    /// `participants_v2(id)` …
    pub(crate) fn context_item(&self) -> String {
        let inner = if self.select.is_none() && !self.segments {
            "()".to_owned()
        } else {
            select_suffix(
                self.select.as_deref(),
                self.segments.then(|| "segments()".to_owned()),
            )
        };
        format!("{}{inner}", self.child.navigation())
    }
}
