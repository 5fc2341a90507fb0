#![forbid(unsafe_code)]
//! Baseline for the read benchmarks: serves captured response bodies byte for byte.
//!
//! `static-server DIR ADDR` loads every `DIR/name.json` into memory and answers `GET /{name}` with those
//! exact bytes and `Content-Type: application/json` (404 for anything else). No store, no rendering: the
//! cost of HTTP on this machine, which the real server's reads are compared with.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

type Bodies = Arc<HashMap<String, axum::body::Bytes>>;

async fn serve_one(State(bodies): State<Bodies>, Path(name): Path<String>) -> Response {
    match bodies.get(&name) {
        Some(b) => ([(header::CONTENT_TYPE, "application/json")], b.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(addr)) = (args.next(), args.next()) else {
        eprintln!("usage: static-server DIR 127.0.0.1:PORT");
        std::process::exit(2);
    };
    let addr: SocketAddr = addr.parse()?;
    let mut bodies = HashMap::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            bodies.insert(
                stem.to_owned(),
                axum::body::Bytes::from(std::fs::read(&path)?),
            );
        }
    }
    let n = bodies.len();
    let app = Router::new()
        .route("/{name}", get(serve_one))
        .with_state(Arc::new(bodies));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        eprintln!(
            "static-server: {n} bodies from {dir} on http://{}",
            listener.local_addr()?
        );
        axum::serve(listener, app).await?;
        Ok(())
    })
}
