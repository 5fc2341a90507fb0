//! `callrecords serve`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use callrecords_api::{AppState, Config};
use callrecords_store_sqlite::SqliteStore;

use crate::DataArgs;

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// Address to listen on.
    #[arg(long, env = "CALLRECORDS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Behave like Graph's 30-day retention: older records are left out of lists and 404 on get.
    #[arg(long)]
    graph_retention: bool,
    /// Largest accepted ingest body in bytes (after gzip decoding).
    #[arg(long, env = "CALLRECORDS_INGEST_LIMIT", default_value_t = 256 * 1024 * 1024)]
    ingest_limit: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let store = SqliteStore::open(&args.data.data)
            .with_context(|| format!("opening the store in {}", args.data.data.display()))?;
        let state = AppState {
            store: Arc::new(store),
            config: Arc::new(Config {
                ingest_limit: args.ingest_limit,
                graph_retention: args.graph_retention,
            }),
        };
        let _deriver =
            callrecords_api::derive::spawn(state.store.clone(), std::time::Duration::from_secs(1));
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "callrecords serving http://{addr}/v1.0/communications/callRecords (data: {})",
            args.data.data.display()
        );
        axum::serve(listener, callrecords_api::app(state))
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        eprintln!("callrecords stopped");
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
