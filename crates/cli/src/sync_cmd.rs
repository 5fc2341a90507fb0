//! `callrecords sync`: pull a tenant's call records and PSTN logs from Graph into the store
//! (`callrecords-sync`), and `sync status`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use callrecords_store::Store;
use callrecords_store_sqlite::SqliteStore;
use callrecords_sync::{
    Budgets, Credential, GraphClient, Limits, RetryPolicy, SweepOptions, SweepReport, Syncer,
    TenantState, TokenSource,
};
use jiff::{SignedDuration, Timestamp};

use crate::DataArgs;

/// A secret that never prints.
#[derive(Clone)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// Arguments of `sync`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    data: DataArgs,
    /// The tenant (directory) id or domain.
    #[arg(long)]
    tenant: Option<String>,
    /// The app registration's client id.
    #[arg(long)]
    client_id: Option<String>,
    /// The client secret (or CALLRECORDS_CLIENT_SECRET); never logged.
    #[arg(long, env = "CALLRECORDS_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<Secret>,
    /// A PEM file with the app's certificate (and its private key unless --certificate-key is given).
    #[arg(long, conflicts_with = "client_secret")]
    certificate: Option<PathBuf>,
    /// A PEM file with the certificate's RSA private key.
    #[arg(long, requires = "certificate")]
    certificate_key: Option<PathBuf>,
    /// Entra ID authority (national clouds: see docs/sync.md).
    #[arg(long, default_value = "https://login.microsoftonline.com")]
    authority: String,
    /// Graph root, without the version.
    #[arg(long, default_value = "https://graph.microsoft.com")]
    graph_url: String,
    /// The token scope (default: {graph-url}/.default). For a Graph stand-in on another URL that
    /// expects Graph's own resource: https://graph.microsoft.com/.default.
    #[arg(long)]
    scope: Option<String>,
    /// List records (and log rows) from this date or instant (default: the stored cursor minus --rescan,
    /// or 30 days ago).
    #[arg(long)]
    since: Option<String>,
    /// List up to this date or instant instead of now − lag (backfill a past range).
    #[arg(long)]
    until: Option<String>,
    /// Leave out what started in the last DURATION (Graph publishes records up to 150 minutes late).
    #[arg(long, default_value = "150m")]
    lag: String,
    /// Each sweep lists again this far before the cursor (late records, later versions).
    #[arg(long, default_value = "24h")]
    rescan: String,
    /// One sweep, then exit (0 when nothing failed).
    #[arg(long)]
    once: bool,
    /// Time between sweeps when running continuously.
    #[arg(long, default_value = "5m")]
    interval: String,
    /// Records fetched at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Also the beta log functions (SMS, blocked users).
    #[arg(long)]
    beta: bool,
    /// Skip the PSTN / direct-routing functions.
    #[arg(long)]
    no_logs: bool,
    /// Rounds (5 s apart) of retrying records that answered 404 within one sweep.
    #[arg(long, default_value_t = 3)]
    not_found_rounds: u32,
    /// Print each sweep's report as one JSON line on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Per tenant: cursor, lag, last sweep, counts, throttling.
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    #[command(flatten)]
    data: DataArgs,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn duration(name: &str, s: &str) -> anyhow::Result<SignedDuration> {
    s.parse::<SignedDuration>()
        .with_context(|| format!("{name} wants a duration like 150m, 2h or 1d12h, got {s:?}"))
}

fn instant(s: &str) -> anyhow::Result<Timestamp> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    let d: jiff::civil::Date = s.parse().with_context(|| {
        format!("--since / --until want a date or an RFC 3339 instant, got {s:?}")
    })?;
    Ok(format!("{d}T00:00:00Z").parse::<Timestamp>()?)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match args.action {
            Some(Action::Status(s)) => status(s).await,
            None => sync(args).await,
        }
    })
}

async fn sync(args: Args) -> anyhow::Result<ExitCode> {
    let (Some(tenant), Some(client_id)) = (args.tenant.clone(), args.client_id.clone()) else {
        bail!("sync needs --tenant and --client-id (or --config)");
    };
    let credential = match (&args.client_secret, &args.certificate) {
        (Some(s), None) => Credential::Secret(s.0.clone()),
        (None, Some(cert)) => {
            let pem = std::fs::read_to_string(cert)
                .with_context(|| format!("reading {}", cert.display()))?;
            let key = args
                .certificate_key
                .as_ref()
                .map(|k| {
                    std::fs::read_to_string(k).with_context(|| format!("reading {}", k.display()))
                })
                .transpose()?;
            Credential::certificate(&pem, key.as_deref())?
        }
        _ => bail!("sync needs --client-secret (or CALLRECORDS_CLIENT_SECRET) or --certificate"),
    };
    let opts = SweepOptions {
        since: args.since.as_deref().map(instant).transpose()?,
        until: args.until.as_deref().map(instant).transpose()?,
        lag: duration("--lag", &args.lag)?,
        rescan: duration("--rescan", &args.rescan)?,
        concurrency: args.concurrency.max(1),
        beta: args.beta,
        no_logs: args.no_logs,
        not_found_rounds: args.not_found_rounds,
        ..SweepOptions::default()
    };
    let interval = duration("--interval", &args.interval)?;
    let data = &args.data.data;
    let store = SqliteStore::open(data)
        .with_context(|| format!("opening the store in {}", data.display()))?;
    let store: Arc<dyn Store> = Arc::new(store);
    let http = callrecords_sync::http_client()?;
    let tokens = Arc::new(TokenSource::new(
        http.clone(),
        &args.authority,
        &tenant,
        &client_id,
        &args
            .scope
            .clone()
            .unwrap_or_else(|| callrecords_sync::auth::default_scope(&args.graph_url)),
        credential,
    ));
    let client = Arc::new(GraphClient::new(
        http,
        tokens,
        Budgets::new(Limits::default()),
        RetryPolicy::default(),
    ));
    let syncer = Syncer::new(store, client, &args.graph_url, &tenant, opts);
    loop {
        let report = syncer.sweep(Timestamp::now()).await;
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                if args.once {
                    return Err(e.into());
                }
                eprintln!("sync {tenant}: sweep failed: {e}");
                tokio::time::sleep(interval.unsigned_abs()).await;
                continue;
            }
        };
        print_report(&tenant, &report, args.json);
        if args.once {
            return Ok(if report.errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        tokio::select! {
            () = tokio::time::sleep(interval.unsigned_abs()) => {}
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
    }
}

fn print_report(tenant: &str, r: &SweepReport, json: bool) {
    let secs = match (r.started, r.finished) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    eprintln!(
        "sync {tenant}: listed {} in {} pages, fetched {} ({} pages), stored {}, already stored {}, pending 404 {}, \
         gave up {}; log rows {} stored / {} duplicate; {} requests, {} throttled (429), {} 503/504, {} other \
         transient, {} retries; {:.1} MB in {secs:.1} s; {} errors",
        r.listed,
        r.list_pages,
        r.fetched,
        r.record_pages,
        r.stored,
        r.already_stored,
        r.pending,
        r.gave_up,
        r.log_rows_stored,
        r.log_rows_duplicate,
        r.requests,
        r.throttled,
        r.unavailable,
        r.transient,
        r.retries,
        r.bytes as f64 / 1e6,
        r.errors.len()
    );
    for e in &r.errors {
        eprintln!("sync {tenant}: error: {e}");
    }
    if json && let Ok(s) = serde_json::to_string(r) {
        println!("{s}");
    }
}

async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let data = &args.data.data;
    let store = SqliteStore::open(data)
        .with_context(|| format!("opening the store in {}", data.display()))?;
    let rows = store.list_sync_states().await?;
    let now = Timestamp::now();
    let mut out = Vec::new();
    for r in rows {
        let st = TenantState::parse(&r.state).unwrap_or_default();
        out.push((r.tenant, st));
    }
    if args.json {
        let v: Vec<_> = out
            .iter()
            .map(|(t, st)| serde_json::json!({"tenant": t, "state": st}))
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return Ok(ExitCode::SUCCESS);
    }
    if out.is_empty() {
        println!("no tenant was synced into {}", data.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<38} {:<22} {:>8} {:<22} {:>9} {:>8} {:>8} {:>9} {:>7}",
        "tenant",
        "cursor",
        "lag",
        "last sweep",
        "stored",
        "pending",
        "gave up",
        "throttled",
        "errors"
    );
    for (t, st) in out {
        let lag = st
            .cursor
            .map(|c| format!("{}m", now.duration_since(c).as_secs() / 60))
            .unwrap_or_else(|| "-".into());
        let last = st
            .last_sweep
            .as_ref()
            .and_then(|s| s.finished)
            .map(|f| {
                f.round(jiff::Unit::Second)
                    .map(|f| f.to_string())
                    .unwrap_or_default()
            })
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<38} {:<22} {:>8} {:<22} {:>9} {:>8} {:>8} {:>9} {:>7}",
            t,
            st.cursor
                .map(|c| c
                    .round(jiff::Unit::Second)
                    .map(|c| c.to_string())
                    .unwrap_or_default())
                .unwrap_or_else(|| "-".into()),
            lag,
            last,
            st.totals.stored,
            st.pending.len(),
            st.gave_up.len(),
            st.totals.throttled,
            st.totals.errors
        );
    }
    Ok(ExitCode::SUCCESS)
}
