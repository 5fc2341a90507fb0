//! `callrecords serve`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use callrecords_api::{AppState, Config};

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
    /// The pseudonym key file `POST /admin/redact` derives pseudonyms with (the same one as
    /// `callrecords redact --pseudonym-key-file`); without it that route answers 503.
    #[arg(long = "pseudonym-key-file")]
    pseudonym_key_file: Option<std::path::PathBuf>,
    /// Largest accepted ingest body in bytes (after gzip decoding).
    #[arg(long, env = "CALLRECORDS_INGEST_LIMIT", default_value_t = 256 * 1024 * 1024)]
    ingest_limit: usize,
    /// Megabytes of rendered Graph answers kept in memory for repeated reads (emptied by any write); 0 turns
    /// the response cache off.
    #[arg(long, env = "CALLRECORDS_RESPONSE_CACHE_MB", default_value_t = 64)]
    response_cache_mb: usize,

    /// Keep this much data: records, versions, log rows and derived rows older than the window (`400d`,
    /// `30d`, `12h`, `90m`) are purged by a background job in batches. Off by default. See
    /// docs/operations.md for what "older" means.
    #[arg(long, value_parser = callrecords_api::retention::parse_window)]
    retain: Option<std::time::Duration>,
    /// Records per retention transaction.
    #[arg(long, default_value_t = 500, hide = true)]
    retain_batch: usize,
    /// Pause between two retention batches (e.g. 50ms, 1s); mostly for tests.
    #[arg(long, default_value = "50ms", hide = true)]
    retain_pause: jiff::SignedDuration,
    /// How often retention looks for expired data (e.g. 60s); mostly for tests.
    #[arg(long, default_value = "60s", hide = true)]
    retain_every: jiff::SignedDuration,
    /// `/readyz` reports a tenant's sync as stalled when its last successful sweep is older than this
    /// (e.g. 1h); default: three times the interval `callrecords sync` runs at.
    #[arg(long)]
    ready_sync_stall: Option<jiff::SignedDuration>,
    #[command(flatten)]
    fake: crate::fake::FakeArgs,
    #[command(flatten)]
    notify: crate::notify_args::NotifyArgs,
    #[command(flatten)]
    auth: crate::auth_args::AuthArgs,
    #[command(flatten)]
    tls: crate::listen::TlsArgs,
    #[command(flatten)]
    limits: crate::listen::Limits,
}

/// `data_given`: whether `--data` was set (flag, environment or file).
pub fn run(args: Args, data_given: bool) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let fake_cfg = args.fake.enabled.then(|| args.fake.config()).transpose()?;
        // `--fake` without `--data`: a fresh temporary directory.
        let data = if fake_cfg.is_some() && !data_given {
            crate::fake::temp_data_dir()?
        } else {
            args.data.data.clone()
        };
        let store: Arc<dyn callrecords_store::Store> = args.data.open_in(&data).await?;
        // One set of metrics for the routes and the background jobs (the notifier, retention).
        let metrics = Arc::new(callrecords_api::telemetry::Metrics::new());
        let (webhooks, drop_changes) =
            args.notify
                .start(store.clone(), fake_cfg.is_some(), metrics.clone())?;
        let state = AppState {
            store: store.clone(),
            config: Arc::new(Config {
                ingest_limit: args.ingest_limit,
                // The fake's retention follows its clock (and keeps the response cache off).
                graph_retention: args.graph_retention || fake_cfg.is_some(),
                webhooks,
                response_cache_bytes: args.response_cache_mb.saturating_mul(1024 * 1024),

                pseudonym_key: match &args.pseudonym_key_file {
                    Some(p) => Some(
                        callrecords_api::erasure::PseudonymKey::from_file(p)
                            .map_err(anyhow::Error::msg)?,
                    ),
                    None => None,
                },

                sync_stall_after: args.ready_sync_stall.map(|d| d.unsigned_abs()),
            }),
        };
        let _retention = args.retain.map(|window| {
            let cfg = callrecords_api::retention::Retention {
                batch: args.retain_batch.max(1),
                pause: args.retain_pause.unsigned_abs(),
                every: args.retain_every.unsigned_abs().max(std::time::Duration::from_millis(10)),
                ..callrecords_api::retention::Retention::new(window)
            };
            tracing::info!(
                window_secs = window.as_secs(),
                "retention on: what is older than the window is purged"
            );
            callrecords_api::retention::spawn(state.store.clone(), cfg, metrics.clone())
        });
        let _deriver =
            callrecords_api::derive::spawn(state.store.clone(), std::time::Duration::from_secs(1));
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let tls = match (&args.tls.tls_cert, &args.tls.tls_key) {
            (Some(c), Some(k)) => Some(Arc::new(crate::listen::Tls::open(c.clone(), k.clone())?)),
            _ => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let fake = match fake_cfg {
            Some(cfg) => Some(crate::fake::Fake::open(
                store,
                cfg,
                &data,
                &format!("{scheme}://{addr}"),
            )?),
            None => None,
        };
        let fake_auth = match &fake {
            Some(f) => {
                let jwt = f.jwt_config();
                Some((f.auth()?, f.sign_in_issuers(), jwt.audiences))
            }
            None => None,
        };
        let auth = args
            .auth
            .build(args.listen, &format!("{scheme}://{addr}"), fake_auth)
            .await?;
        let mut app = callrecords_api::app_with_metrics(state, Arc::new(auth), metrics);
        if let Some(fake) = fake {
            fake.connect_notifier(drop_changes);
            // The ticker publishes at once, then every second (a long catch-up does not delay serving).
            fake.spawn_ticker();
            app = crate::fake::app(app, fake);
            tracing::info!(
                "callrecords --fake: token endpoint {scheme}://{addr}/{{tenant}}/oauth2/v2.0/token"
            );
        }
        let location = match &args.data.database_url {
            Some(_) => "PostgreSQL (--database-url)".to_owned(),
            None => data.display().to_string(),
        };
        tracing::info!(
            "callrecords serving {scheme}://{addr}/v1.0/communications/callRecords (data: {location})"
        );
        crate::listen::serve(listener, app, tls, args.limits, shutdown_signal()).await?;
        tracing::info!("callrecords stopped");
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
