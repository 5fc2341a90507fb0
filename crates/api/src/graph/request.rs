//! [`GraphRequest`]: what every Graph handler starts from, extracted once per request.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use callrecords_odata::{ODataError, Prefer, QueryOptions, parse_prefer, parse_query};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use super::render::Shape;
use crate::ApiError;

const PREFERENCE_APPLIED: HeaderName = HeaderName::from_static("preference-applied");

/// Characters encoded in a path segment of a generated link.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// API version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    Beta,
}

impl Version {
    /// The version of a path starting `/v1.0/` or `/beta/`.
    pub(crate) fn of_path(path: &str) -> Option<Version> {
        if path.starts_with("/v1.0/") {
            Some(Version::V1)
        } else if path.starts_with("/beta/") {
            Some(Version::Beta)
        } else {
            None
        }
    }
    pub(crate) fn segment(self) -> &'static str {
        match self {
            Version::V1 => "v1.0",
            Version::Beta => "beta",
        }
    }
    pub(crate) fn beta(self) -> bool {
        self == Version::Beta
    }
}

/// A Graph read, as every handler sees it. Extracting it answers, in this order: 405 for anything but
/// GET/HEAD, 404 for a path that does not percent-decode into non-empty UTF-8 segments, 400 for a bad query
/// string or `$format`.
#[derive(Debug)]
pub(crate) struct GraphRequest {
    pub ver: Version,
    /// `scheme://host[:port]` as the client used it (`X-Forwarded-Proto`/`-Host`, then `Host`).
    pub origin: String,
    /// The request path as received (still percent-encoded).
    pub raw_path: String,
    /// The path's segments after `/{ver}/`, each percent-decoded once (a trailing `/` is ignored).
    pub segments: Vec<String>,
    pub q: QueryOptions,
    pub prefer: Prefer,
    /// Whom the request's `$skiptoken`s are for: the caller's tenant (`*` for every tenant). A token
    /// minted for one tenant is refused for another.
    pub audience: String,
}

impl<S: Send + Sync> FromRequestParts<S> for GraphRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        if parts.method != Method::GET && parts.method != Method::HEAD {
            return Err(ApiError::method_not_allowed());
        }
        let raw_path = parts.uri.path().to_owned();
        let ver = Version::of_path(&raw_path).ok_or_else(|| ApiError::no_route(&raw_path))?;
        let segments = decode_segments(&raw_path[ver.segment().len() + 2..])
            .ok_or_else(|| ApiError::no_route(&raw_path))?;
        let q = parse_query(parts.uri.query())?;
        if let Some(f) = &q.format {
            let f = f.to_ascii_lowercase();
            if f != "json" && !f.starts_with("application/json") {
                return Err(ODataError::bad_request(format!(
                    "$format: '{f}' is not supported; only json is"
                ))
                .into());
            }
        }
        let prefer = parse_prefer(
            parts
                .headers
                .get_all(HeaderName::from_static("prefer"))
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        Ok(GraphRequest {
            ver,
            origin: origin(&parts.headers, &parts.uri),
            raw_path,
            segments,
            q,
            prefer,
            audience: parts
                .extensions
                .get::<crate::RequestScope>()
                .and_then(|s| s.scope.tenant())
                .unwrap_or("*")
                .to_owned(),
        })
    }
}

/// `a/b%2Fc/` → `["a", "b/c"]`; `None` when a segment is empty or not UTF-8 once decoded.
fn decode_segments(path: &str) -> Option<Vec<String>> {
    let path = path.strip_suffix('/').unwrap_or(path);
    path.split('/')
        .map(|raw| {
            let seg = percent_decode_str(raw).decode_utf8().ok()?;
            (!seg.is_empty()).then(|| seg.into_owned())
        })
        .collect()
}

impl GraphRequest {
    /// How stored values are transformed on the way out.
    pub(crate) fn shape(&self) -> Shape {
        Shape {
            include_unknown: self.prefer.include_unknown_enum_members,
            omit_nulls: self.prefer.omit_nulls,
        }
    }
    /// `{origin}/{ver}/$metadata#{rest}`.
    pub(crate) fn context(&self, rest: &str) -> String {
        format!("{}/{}/$metadata#{rest}", self.origin, self.ver.segment())
    }
    /// `{origin}/{ver}/communications/callRecords/{id}` (id encoded).
    pub(crate) fn record_url(&self, id: &str) -> String {
        format!(
            "{}/{}/communications/callRecords/{}",
            self.origin,
            self.ver.segment(),
            utf8_percent_encode(id, SEGMENT)
        )
    }
    /// This request's URL with the query option `name` set to `value`: `{origin}{path}?{options but
    /// name}&{name}={value}`.
    pub(crate) fn link_with(&self, name: &str, value: &str) -> String {
        let rest = self.q.to_query_string(&[name]);
        let sep = if rest.is_empty() { "" } else { "&" };
        format!("{}{}?{rest}{sep}{name}={value}", self.origin, self.raw_path)
    }
    /// The page size to use for a collection whose maximum is `max`, and whether the client's
    /// `odata.maxpagesize` was applied.
    pub(crate) fn page_size(&self, max: usize) -> (usize, Option<u32>) {
        match self.prefer.max_page_size {
            Some(n) if (n as usize) <= max => (n as usize, Some(n)),
            _ => (max, None),
        }
    }
    /// A JSON response with `Preference-Applied` when something was applied.
    pub(crate) fn json(&self, body: String, page_applied: Option<u32>) -> Response {
        let mut resp = (StatusCode::OK, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(v) = self.prefer.applied_header(page_applied)
            && let Ok(v) = HeaderValue::from_str(&v)
        {
            h.insert(PREFERENCE_APPLIED, v);
        }
        resp
    }
}

/// `scheme://host` as the client addressed us (honours `X-Forwarded-Proto` / `X-Forwarded-Host`).
pub(crate) fn origin(headers: &HeaderMap, uri: &Uri) -> String {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let scheme = first("x-forwarded-proto")
        .map(str::to_ascii_lowercase)
        .filter(|s| s == "http" || s == "https")
        .or_else(|| uri.scheme_str().map(str::to_owned))
        .unwrap_or_else(|| "http".to_owned());
    let valid_host = |h: &&str| {
        h.len() <= 255
            && h.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_')
            })
    };
    let host = first("x-forwarded-host")
        .filter(valid_host)
        .or_else(|| first("host").filter(valid_host))
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()))
        .filter(|h| valid_host(&h.as_str()))
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_decoded_once_and_empty_ones_refused() {
        assert_eq!(
            decode_segments("communications/callRecords/a%2Fb/"),
            Some(vec![
                "communications".into(),
                "callRecords".into(),
                "a/b".into()
            ])
        );
        assert_eq!(decode_segments("communications/x%252F").unwrap()[1], "x%2F");
        assert_eq!(decode_segments("communications//x"), None);
        assert_eq!(decode_segments("communications/x//"), None);
        assert_eq!(decode_segments("communications/%FF"), None);
    }

    #[test]
    fn origin_prefers_forwarded_headers_and_refuses_odd_hosts() {
        let uri: Uri = "/v1.0/x".parse().unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(origin(&h, &uri), "http://localhost");
        h.insert("host", HeaderValue::from_static("api.example:8443"));
        assert_eq!(origin(&h, &uri), "http://api.example:8443");
        h.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS, http"));
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("graph.example"),
        );
        assert_eq!(origin(&h, &uri), "https://graph.example");
        h.insert("x-forwarded-host", HeaderValue::from_static("evil/\"x"));
        assert_eq!(origin(&h, &uri), "https://api.example:8443");
    }
}
