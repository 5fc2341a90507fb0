#![forbid(unsafe_code)]
//! The dashboard `callrecords serve` answers at `/`: plain ES modules, CSS and the vendored uPlot chart
//! library (MIT, `assets/vendor/uPlot.LICENSE`), embedded in the binary with `include_bytes!` — no build
//! step, no Node, no request leaves the server's origin. The pages read only the public APIs
//! (`/analytics/v1`, `/v1.0`, `/admin`); the URL's fragment holds the page, its filters and its range
//! (`/#/calls?poorOnly=true&from=2026-01-05`), so a link can be pasted into a ticket.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file: its path under `/dashboard/`, its media type, its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub path: &'static str,
    pub media_type: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! assets {
    ($( $path:literal => $mime:literal ),* $(,)?) => {
        /// Every embedded file.
        pub const ASSETS: &[Asset] = &[
            $( Asset { path: $path, media_type: $mime, bytes: include_bytes!(concat!("../assets/", $path)) }, )*
        ];
    };
}

assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "app.js" => "text/javascript; charset=utf-8",
    "lib.js" => "text/javascript; charset=utf-8",
    "pages/overview.js" => "text/javascript; charset=utf-8",
    "pages/calls.js" => "text/javascript; charset=utf-8",
    "pages/call.js" => "text/javascript; charset=utf-8",
    "pages/buildings.js" => "text/javascript; charset=utf-8",
    "pages/operations.js" => "text/javascript; charset=utf-8",
    "vendor/uPlot.esm.js" => "text/javascript; charset=utf-8",
    "vendor/uPlot.min.css" => "text/css; charset=utf-8",
    "vendor/uPlot.LICENSE" => "text/plain; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
}

/// The embedded file at `path` (relative to `/dashboard/`).
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// `/` (the page) and `/dashboard/{file}` (its scripts, styles and the chart library). Merged into the
/// application by `callrecords-api`; any state type.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/dashboard/{*path}", get(file))
}

/// The security headers of every dashboard answer: nothing but the server's own origin is reachable.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                   script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'";

fn serve(a: &Asset, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, a.media_type),
            (header::CACHE_CONTROL, cache),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        a.bytes,
    )
        .into_response()
}

async fn index() -> Response {
    match asset("index.html") {
        Some(a) => serve(a, "no-cache"),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn file(Path(path): Path<String>) -> Response {
    match asset(&path) {
        // Revalidated on every load: the files change with the binary, and they are small.
        Some(a) => serve(a, "no-cache"),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such dashboard file",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn files_on_disk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files_on_disk(&p, base, out);
            } else {
                out.push(
                    p.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }

    /// Every file of `assets/` is embedded (a new page cannot be forgotten in the table), and only those.
    #[test]
    fn every_asset_file_is_embedded() {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut disk = Vec::new();
        files_on_disk(&base, &base, &mut disk);
        disk.sort();
        let mut table: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        table.sort();
        assert_eq!(disk, table);
    }

    /// The budget: JS + CSS under 300 KB gzipped (default compression, like the server's).
    #[test]
    fn js_and_css_fit_the_gzip_budget() {
        let mut total = 0usize;
        for a in ASSETS
            .iter()
            .filter(|a| a.path.ends_with(".js") || a.path.ends_with(".css"))
        {
            let mut one = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            one.write_all(a.bytes).unwrap();
            total += one.finish().unwrap().len();
        }
        assert!(total < 300 * 1024, "JS + CSS are {total} bytes gzipped");
    }

    /// Every module the scripts import is embedded: a relative `from './x.js'` resolves to a table entry.
    #[test]
    fn every_import_resolves() {
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(a.bytes).unwrap();
            let dir = a.path.rsplit_once('/').map_or("", |(d, _)| d);
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let Some(spec) = line.split(['\'', '"']).nth(1) else {
                    continue;
                };
                let mut parts: Vec<&str> = if dir.is_empty() {
                    vec![]
                } else {
                    dir.split('/').collect()
                };
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let resolved = parts.join("/");
                assert!(
                    asset(&resolved).is_some(),
                    "{}: import '{spec}' -> '{resolved}'",
                    a.path
                );
            }
        }
    }

    async fn get(uri: &str) -> (axum::http::StatusCode, axum::http::HeaderMap, Vec<u8>) {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let app: Router = routes();
        let req = axum::http::Request::builder()
            .uri(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes().to_vec();
        (parts.status, parts.headers, bytes)
    }

    /// `/` is the page (with a same-origin-only CSP), `/dashboard/…` its files with their media types, and
    /// an unknown file is a 404.
    #[tokio::test]
    async fn serves_the_page_and_its_files() {
        let (s, h, body) = get("/").await;
        assert_eq!(s, 200);
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("connect-src 'self'")
        );
        assert!(
            String::from_utf8(body)
                .unwrap()
                .contains("/dashboard/app.js")
        );
        let (s, h, body) = get("/dashboard/pages/calls.js").await;
        assert_eq!(s, 200);
        assert_eq!(h[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(body, asset("pages/calls.js").unwrap().bytes);
        let (s, h, _) = get("/dashboard/vendor/uPlot.min.css").await;
        assert_eq!(
            (s, &h[header::CONTENT_TYPE]),
            (
                axum::http::StatusCode::OK,
                &"text/css; charset=utf-8"
                    .parse::<axum::http::HeaderValue>()
                    .unwrap()
            )
        );
        assert_eq!(get("/dashboard/nope.js").await.0, 404);
        assert_eq!(get("/dashboard/../Cargo.toml").await.0, 404);
    }

    /// No file refers to anything outside the server's origin (no CDN, no font service).
    #[test]
    fn no_asset_loads_from_another_origin() {
        for a in ASSETS.iter().filter(|a| !a.path.ends_with(".LICENSE")) {
            let text = String::from_utf8_lossy(a.bytes);
            for needle in [
                "src=\"http",
                "href=\"http",
                "url(http",
                "import('http",
                "from 'http",
                "fetch('http",
            ] {
                assert!(
                    !text.contains(needle),
                    "{} refers to another origin ({needle})",
                    a.path
                );
            }
        }
    }
}
