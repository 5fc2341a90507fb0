//! [`GraphRoute`]: the resource a request addresses below `/{ver}/communications/`, parsed once from the
//! decoded path segments of a [`GraphRequest`].

use callrecords_model::LogKind;
use callrecords_odata::{FunctionCall, NAMESPACE, parse_function_segment, parse_key_segment};

use super::{GraphRequest, Version};
use crate::ApiError;

/// A resource below `/{ver}/communications/`. `id` is a call record's id, `sid` a session's, `pid` a
/// participant's, `seg` a segment's (all decoded; key syntax `callRecords('id')` and path syntax
/// `callRecords/id` give the same route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GraphRoute {
    /// `callRecords`
    List,
    /// `callRecords/$count`
    Count,
    /// `callRecords/{id}`
    Get { id: String },
    /// `callRecords/{id}/sessions`
    Sessions { id: String },
    /// `callRecords/{id}/sessions/$count`
    SessionCount { id: String },
    /// `callRecords/{id}/sessions/{sid}`
    Session { id: String, sid: String },
    /// `callRecords/{id}/sessions/{sid}/segments`
    Segments { id: String, sid: String },
    /// `callRecords/{id}/sessions/{sid}/segments/$count`
    SegmentCount { id: String, sid: String },
    /// `callRecords/{id}/sessions/{sid}/segments/{seg}`
    Segment {
        id: String,
        sid: String,
        seg: String,
    },
    /// `callRecords/{id}/participants_v2`
    Participants { id: String },
    /// `callRecords/{id}/participants_v2/$count`
    ParticipantCount { id: String },
    /// `callRecords/{id}/participants_v2/{pid}`
    Participant { id: String, pid: String },
    /// `callRecords/{id}/organizer_v2`
    Organizer { id: String },
    /// `callRecords/[microsoft.graph.callRecords.]name(params)`: a log function this version has.
    Function { kind: LogKind, call: FunctionCall },
}

impl GraphRoute {
    /// The route of `req`: 404 (`no_route`) for a path no resource answers, 400 for a malformed function
    /// call.
    pub(crate) fn parse(req: &GraphRequest) -> Result<GraphRoute, ApiError> {
        let no_route = || ApiError::no_route(&req.raw_path);
        let [communications, rest @ ..] = req.segments.as_slice() else {
            return Err(no_route());
        };
        if communications != "communications" {
            return Err(no_route());
        }
        // Key syntax `callRecords('id')`, `sessions('id')` … counts as two segments (function calls never
        // parse as keys).
        let mut segs: Vec<String> = Vec::with_capacity(rest.len() + 1);
        for seg in rest {
            match parse_key_segment(seg) {
                Some((name, key)) => segs.extend([name, key]),
                None => segs.push(seg.clone()),
            }
        }
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let [first, segs @ ..] = segs.as_slice() else {
            return Err(no_route());
        };
        if *first != "callRecords" {
            return Err(no_route());
        }
        let s = |v: &str| v.to_owned();
        Ok(match *segs {
            [] => GraphRoute::List,
            ["$count"] => GraphRoute::Count,
            [seg] if seg.contains('(') => match parse_function_segment(seg)? {
                Some(call) => {
                    let kind = function_kind(&call, req.ver).ok_or_else(no_route)?;
                    GraphRoute::Function { kind, call }
                }
                None => GraphRoute::Get { id: s(seg) },
            },
            [id] => GraphRoute::Get { id: s(id) },
            [id, "sessions"] => GraphRoute::Sessions { id: s(id) },
            [id, "sessions", "$count"] => GraphRoute::SessionCount { id: s(id) },
            [id, "sessions", sid] => GraphRoute::Session {
                id: s(id),
                sid: s(sid),
            },
            [id, "sessions", sid, "segments"] => GraphRoute::Segments {
                id: s(id),
                sid: s(sid),
            },
            [id, "sessions", sid, "segments", "$count"] => GraphRoute::SegmentCount {
                id: s(id),
                sid: s(sid),
            },
            [id, "sessions", sid, "segments", seg] => GraphRoute::Segment {
                id: s(id),
                sid: s(sid),
                seg: s(seg),
            },
            [id, "participants_v2"] => GraphRoute::Participants { id: s(id) },
            [id, "participants_v2", "$count"] => GraphRoute::ParticipantCount { id: s(id) },
            [id, "participants_v2", pid] => GraphRoute::Participant {
                id: s(id),
                pid: s(pid),
            },
            [id, "organizer_v2"] => GraphRoute::Organizer { id: s(id) },
            _ => return Err(no_route()),
        })
    }
}

/// The log a function call reads, when its namespace (if any) is ours and `ver` has the function.
fn function_kind(call: &FunctionCall, ver: Version) -> Option<LogKind> {
    if call.namespace.as_deref().is_some_and(|ns| ns != NAMESPACE) {
        return None;
    }
    let kind = LogKind::from_function_name(&call.name)?;
    (ver != Version::V1 || kind.in_v1()).then_some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::FromRequestParts;
    use axum::http::Request;

    async fn route(uri: &str) -> Result<GraphRoute, (u16, String)> {
        let (mut parts, ()) = Request::get(uri).body(()).unwrap().into_parts();
        let req = GraphRequest::from_request_parts(&mut parts, &())
            .await
            .map_err(|e| (e.status.as_u16(), e.message.clone()))?;
        GraphRoute::parse(&req).map_err(|e| (e.status.as_u16(), e.message))
    }

    fn get(id: &str) -> GraphRoute {
        GraphRoute::Get { id: id.into() }
    }

    #[tokio::test]
    async fn path_and_key_syntax_give_the_same_routes() {
        let base = "/v1.0/communications/callRecords";
        assert_eq!(route(base).await, Ok(GraphRoute::List));
        assert_eq!(route(&format!("{base}/")).await, Ok(GraphRoute::List));
        assert_eq!(
            route(&format!("{base}/$count")).await,
            Ok(GraphRoute::Count)
        );
        assert_eq!(
            route(&format!("{base}/%24count")).await,
            Ok(GraphRoute::Count)
        );
        assert_eq!(route(&format!("{base}/abc")).await, Ok(get("abc")));
        assert_eq!(
            route("/v1.0/communications/callRecords('abc')").await,
            Ok(get("abc"))
        );
        assert_eq!(
            route("/v1.0/communications/callRecords('it''s%2Fa')").await,
            Ok(get("it's/a"))
        );
        assert_eq!(route(&format!("{base}/a%20b")).await, Ok(get("a b")));
        let (id, sid) = ("r".to_owned(), "s".to_owned());
        assert_eq!(
            route("/beta/communications/callRecords('r')/sessions('s')/segments/$count").await,
            Ok(GraphRoute::SegmentCount {
                id: id.clone(),
                sid: sid.clone()
            })
        );
        assert_eq!(
            route(&format!("{base}/r/sessions/s/segments('g')")).await,
            Ok(GraphRoute::Segment {
                id: id.clone(),
                sid,
                seg: "g".into()
            })
        );
        assert_eq!(
            route(&format!("{base}/r/participants_v2('p')")).await,
            Ok(GraphRoute::Participant {
                id: id.clone(),
                pid: "p".into()
            })
        );
        assert_eq!(
            route(&format!("{base}/r/participants_v2/$count")).await,
            Ok(GraphRoute::ParticipantCount { id: id.clone() })
        );
        assert_eq!(
            route(&format!("{base}/r/organizer_v2")).await,
            Ok(GraphRoute::Organizer { id })
        );
    }

    #[tokio::test]
    async fn functions_resolve_against_the_version() {
        let call = "getPstnCalls(fromDateTime=2023-01-01,toDateTime=2023-01-02)";
        for uri in [
            format!("/v1.0/communications/callRecords/{call}"),
            format!("/v1.0/communications/callRecords/microsoft.graph.callRecords.{call}"),
            format!(
                "/v1.0/communications/callRecords/microsoft.graph.callRecords.{}",
                call.replace('(', "%28")
            ),
        ] {
            let r = route(&uri).await.unwrap();
            assert!(
                matches!(
                    r,
                    GraphRoute::Function {
                        kind: LogKind::PstnCall,
                        ..
                    }
                ),
                "{uri}: {r:?}"
            );
        }
        let sms = "getSmsLog(fromDateTime=2023-01-01,toDateTime=2023-01-02)";
        assert!(matches!(
            route(&format!("/beta/communications/callRecords/{sms}")).await,
            Ok(GraphRoute::Function {
                kind: LogKind::SmsLog,
                ..
            })
        ));
        assert_eq!(
            route(&format!("/v1.0/communications/callRecords/{sms}"))
                .await
                .unwrap_err()
                .0,
            404
        );
        assert_eq!(
            route(&format!("/v1.0/communications/callRecords/other.ns.{call}"))
                .await
                .unwrap_err()
                .0,
            404
        );
        // Malformed call: 400; key-shaped parentheses: a record id.
        assert_eq!(
            route("/v1.0/communications/callRecords/getPstnCalls(fromDateTime=1")
                .await
                .unwrap_err()
                .0,
            400
        );
        assert_eq!(
            route("/v1.0/communications/callRecords/a(b)").await,
            Ok(get("a(b)"))
        );
    }

    #[tokio::test]
    async fn unknown_paths_are_404_naming_the_last_segment() {
        for uri in [
            "/v1.0/communications/calls",
            "/v1.0/communications/callRecords//x",
            "/v1.0/communications/callRecords/%FF",
            "/v1.0/communications/callRecords/r/sessions/s/x",
            "/v1.0/communications/callRecords/r/nope",
            "/v1.0/communications/callRecords/r/participants_v2/p/x",
        ] {
            let (status, message) = route(uri).await.unwrap_err();
            assert_eq!(status, 404, "{uri}");
            assert!(
                message.starts_with("Resource not found for the segment"),
                "{uri}"
            );
        }
    }
}
