//! Lowering a parsed `$filter` to what `GET /communications/callRecords` supports.

use crate::ODataError;
use crate::filter::{CompareOp, Expr, LambdaKind, Literal};

/// One bound of a time range, in unix microseconds UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bound {
    /// Unix microseconds, UTC.
    pub micros: i64,
    /// `ge`/`le` (true) or `gt`/`lt` (false).
    pub inclusive: bool,
}

/// The backend-neutral filter of the callRecords list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Tightest `startDateTime gt|ge` bound.
    pub start_lower: Option<Bound>,
    /// Tightest `startDateTime lt|le` bound.
    pub start_upper: Option<Bound>,
    /// One entry per `participants_v2/any(...)` term: a record must match every term, and a
    /// term matches when any of its ids is a participant.
    pub participant_ids: Vec<Vec<String>>,
}

/// Properties of `callRecord` (used to tell "unknown property" from "not supported").
const CALL_RECORD_PROPERTIES: &[&str] = &[
    "id",
    "version",
    "type",
    "modalities",
    "lastModifiedDateTime",
    "startDateTime",
    "endDateTime",
    "joinWebUrl",
    "organizer",
    "participants",
    "organizer_v2",
    "participants_v2",
    "sessions",
];

const SUPPORTED: &str = "only 'startDateTime' with lt, le, gt or ge and 'participants_v2/any(p:p/id eq '...')', combined with 'and', are supported";

fn property_error(path: &[String]) -> ODataError {
    let first = path.first().map(String::as_str).unwrap_or_default();
    let name = path.join("/");
    if CALL_RECORD_PROPERTIES.contains(&first) {
        ODataError::not_supported(format!(
            "$filter: filtering on '{name}' is not supported; {SUPPORTED}"
        ))
    } else {
        ODataError::bad_request(format!(
            "$filter: could not find a property named '{name}' on type 'microsoft.graph.callRecords.callRecord'"
        ))
    }
}

fn unsupported(what: &str) -> ODataError {
    ODataError::not_supported(format!("$filter: {what} is not supported; {SUPPORTED}"))
}

fn collect_and<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    // Iterative on the left spine: `a and b and c` nests to the left.
    let mut cur = e;
    while let Expr::And(a, b) = cur {
        out.push(b);
        cur = a;
    }
    out.push(cur);
    out.reverse();
}

/// Lowers a `$filter` for `GET /communications/callRecords` to a [`ListFilter`].
///
/// Allowed: an `and` of `startDateTime lt|le|gt|ge <DateTimeOffset or date>` (literal on
/// either side) and `participants_v2/any(x:x/id eq '<id>')` (body may be an `or` of such
/// comparisons, or `x/id in ('a','b')`). Anything else is an error naming what is not
/// supported (code `invalidRequest`) or the unknown property (code `BadRequest`).
pub fn lower_list_filter(expr: &Expr) -> Result<ListFilter, ODataError> {
    let mut terms = Vec::new();
    collect_and(expr, &mut terms);
    let mut out = ListFilter::default();
    for term in terms {
        match term {
            Expr::Compare { op, left, right } => {
                let (path, op, lit) = match (&**left, &**right) {
                    (Expr::Path(p), other) => (p, *op, other),
                    (other, Expr::Path(p)) => (p, op.flipped(), other),
                    _ => return Err(unsupported(&format!("the comparison '{term}'"))),
                };
                if path.len() != 1 || path[0] != "startDateTime" {
                    return Err(property_error(path));
                }
                let micros = match lit {
                    Expr::Literal(Literal::DateTimeOffset(m)) => *m,
                    Expr::Literal(Literal::Date(d)) => d.to_micros(),
                    other => {
                        return Err(ODataError::bad_request(format!(
                            "$filter: 'startDateTime' must be compared with an unquoted DateTimeOffset literal such as 2023-09-25T09:25:00Z, not {other}"
                        )));
                    }
                };
                let inclusive = matches!(op, CompareOp::Ge | CompareOp::Le);
                let b = Bound { micros, inclusive };
                match op {
                    CompareOp::Gt | CompareOp::Ge => {
                        out.start_lower = Some(match out.start_lower {
                            Some(old) if tighter_lower(old, b) => old,
                            _ => b,
                        })
                    }
                    CompareOp::Lt | CompareOp::Le => {
                        out.start_upper = Some(match out.start_upper {
                            Some(old) if tighter_upper(old, b) => old,
                            _ => b,
                        })
                    }
                    CompareOp::Eq | CompareOp::Ne => {
                        return Err(unsupported(&format!(
                            "the operator '{}' on 'startDateTime'",
                            op.as_str()
                        )));
                    }
                }
            }
            Expr::Lambda {
                path,
                kind,
                predicate,
            } => {
                if path.len() != 1 || path[0] != "participants_v2" {
                    return Err(property_error(path));
                }
                if *kind != LambdaKind::Any {
                    return Err(unsupported("'participants_v2/all(...)'"));
                }
                let Some((var, body)) = predicate else {
                    return Err(unsupported("'participants_v2/any()' without a condition"));
                };
                let mut ids = Vec::new();
                lambda_ids(var, body, &mut ids)?;
                out.participant_ids.push(ids);
            }
            Expr::Or(..) => return Err(unsupported("'or' between conditions on callRecords")),
            Expr::Not(_) => return Err(unsupported("'not'")),
            Expr::Call { name, .. } => {
                return Err(unsupported(&format!("the function '{name}'")));
            }
            Expr::In { value, .. } => match &**value {
                Expr::Path(p) if p.len() == 1 && p[0] == "startDateTime" => {
                    return Err(unsupported("the operator 'in' on 'startDateTime'"));
                }
                Expr::Path(p) => return Err(property_error(p)),
                _ => return Err(unsupported(&format!("'{term}'"))),
            },
            Expr::Path(p) if p.len() == 1 && CALL_RECORD_PROPERTIES.contains(&p[0].as_str()) => {
                return Err(unsupported(&format!("the bare property '{}'", p[0])));
            }
            Expr::Path(p) => return Err(property_error(p)),
            Expr::Literal(_) => return Err(unsupported(&format!("the bare literal '{term}'"))),
            Expr::And(..) => return Err(unsupported(&format!("'{term}'"))),
        }
    }
    Ok(out)
}

fn tighter_lower(old: Bound, new: Bound) -> bool {
    old.micros > new.micros || (old.micros == new.micros && !old.inclusive)
}

fn tighter_upper(old: Bound, new: Bound) -> bool {
    old.micros < new.micros || (old.micros == new.micros && !old.inclusive)
}

fn is_var_id(e: &Expr, var: &str) -> bool {
    matches!(e, Expr::Path(p) if p.len() == 2 && p[0] == var && p[1] == "id")
}

fn id_value(e: &Expr) -> Option<String> {
    match e {
        Expr::Literal(Literal::String(s)) | Expr::Literal(Literal::Guid(s)) => Some(s.clone()),
        _ => None,
    }
}

fn lambda_ids(var: &str, body: &Expr, out: &mut Vec<String>) -> Result<(), ODataError> {
    let bad = || {
        unsupported(&format!(
            "the lambda condition '{body}' (use {var}/id eq '<id>', joined with 'or', or {var}/id in ('<id>',...))"
        ))
    };
    match body {
        Expr::Or(a, b) => {
            lambda_ids(var, a, out)?;
            lambda_ids(var, b, out)
        }
        Expr::Compare {
            op: CompareOp::Eq,
            left,
            right,
        } => {
            let v = if is_var_id(left, var) {
                id_value(right)
            } else if is_var_id(right, var) {
                id_value(left)
            } else {
                None
            };
            out.push(v.ok_or_else(bad)?);
            Ok(())
        }
        Expr::In { value, list } if is_var_id(value, var) => {
            for item in list {
                out.push(id_value(item).ok_or_else(bad)?);
            }
            Ok(())
        }
        _ => Err(bad()),
    }
}
