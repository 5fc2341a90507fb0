//! `callrecords sync`: pull a tenant's call records and PSTN logs from Graph into the store
//! (`callrecords-sync`), and `sync status`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use callrecords_store::{ReadScope, Store};
use callrecords_sync::{
    Budgets, Credential, GraphClient, Limits, PushOptions, RetryPolicy, SweepOptions, SweepReport,
    Syncer, TenantState, TokenSource,
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
    /// expects Graph's own resource: `https://graph.microsoft.com/.default`.
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
    /// Time between sweeps when running continuously (default 5m; 30m with --notifications-url, where
    /// sweeps only catch what notifications missed).
    #[arg(long)]
    interval: Option<String>,
    /// Continuous mode with change notifications: the URL at which the upstream reaches `serve`'s
    /// receiver (`https://public.example/notifications/graph`). `sync` creates the upstream subscription,
    /// renews it, and fetches what the receiver queued in the store (`serve` and `sync` share --data).
    #[arg(long, conflicts_with = "once")]
    notifications_url: Option<String>,
    /// Where lifecycle notifications go (default: {notifications-url}/lifecycle).
    #[arg(long, requires = "notifications_url")]
    lifecycle_url: Option<String>,
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
    /// A TOML file naming several tenants, each with its own credentials (see docs/sync.md).
    #[arg(long)]
    config: Option<PathBuf>,
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

/// One tenant to sync: where, as whom, how.
struct Job {
    tenant: String,
    client_id: String,
    credential: Credential,
    authority: String,
    graph_url: String,
    scope: Option<String>,
    opts: SweepOptions,
}

fn read_credential(
    secret: Option<String>,
    certificate: Option<&Path>,
    key: Option<&Path>,
) -> anyhow::Result<Credential> {
    match (secret, certificate) {
        (Some(s), None) => Ok(Credential::Secret(s)),
        (None, Some(cert)) => {
            let pem = std::fs::read_to_string(cert)
                .with_context(|| format!("reading {}", cert.display()))?;
            let key = key
                .map(|k| {
                    std::fs::read_to_string(k).with_context(|| format!("reading {}", k.display()))
                })
                .transpose()?;
            Ok(Credential::certificate(&pem, key.as_deref())?)
        }
        (Some(_), Some(_)) => bail!("give a client secret or a certificate, not both"),
        (None, None) => {
            bail!("sync needs --client-secret (or CALLRECORDS_CLIENT_SECRET) or --certificate")
        }
    }
}

/// `sync --config FILE`: several tenants.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// Defaults for every tenant (each tenant may override them).
    #[serde(default)]
    defaults: TenantConfig,
    #[serde(default, rename = "tenant")]
    tenants: Vec<TenantConfig>,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantConfig {
    id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    /// The name of an environment variable holding the secret.
    client_secret_env: Option<String>,
    certificate: Option<PathBuf>,
    certificate_key: Option<PathBuf>,
    authority: Option<String>,
    graph_url: Option<String>,
    scope: Option<String>,
    since: Option<String>,
    lag: Option<String>,
    rescan: Option<String>,
    concurrency: Option<usize>,
    beta: Option<bool>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

fn jobs_from_config(path: &Path, args: &Args) -> anyhow::Result<Vec<Job>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let cfg: ConfigFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    if cfg.tenants.is_empty() {
        bail!("{} names no [[tenant]]", path.display());
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let d = &cfg.defaults;
    let mut jobs = Vec::new();
    for t in &cfg.tenants {
        let pick = |a: &Option<String>, b: &Option<String>| a.clone().or_else(|| b.clone());
        let id = t.id.clone().context("a [[tenant]] without id")?;
        let client_id = pick(&t.client_id, &d.client_id)
            .with_context(|| format!("tenant {id}: no client_id"))?;
        let secret = match pick(&t.client_secret, &d.client_secret) {
            Some(s) => Some(s),
            None => match pick(&t.client_secret_env, &d.client_secret_env) {
                Some(var) => Some(std::env::var(&var).with_context(|| {
                    format!("tenant {id}: environment variable {var} is not set")
                })?),
                None => None,
            },
        };
        let rel = |p: &Option<PathBuf>| p.as_ref().map(|p| base.join(p));
        let cert = rel(&t.certificate).or_else(|| rel(&d.certificate));
        let key = rel(&t.certificate_key).or_else(|| rel(&d.certificate_key));
        let credential = read_credential(
            if cert.is_some() { None } else { secret },
            cert.as_deref(),
            key.as_deref(),
        )
        .with_context(|| format!("tenant {id}"))?;
        let lag = pick(&t.lag, &d.lag).unwrap_or_else(|| args.lag.clone());
        let rescan = pick(&t.rescan, &d.rescan).unwrap_or_else(|| args.rescan.clone());
        let since = pick(&t.since, &d.since).or_else(|| args.since.clone());
        let opts = SweepOptions {
            since: since.as_deref().map(instant).transpose()?,
            until: args.until.as_deref().map(instant).transpose()?,
            lag: duration("lag", &lag)?,
            rescan: duration("rescan", &rescan)?,
            concurrency: t
                .concurrency
                .or(d.concurrency)
                .unwrap_or(args.concurrency)
                .max(1),
            beta: t.beta.or(d.beta).unwrap_or(args.beta),
            no_logs: args.no_logs,
            not_found_rounds: args.not_found_rounds,
            ..SweepOptions::default()
        };
        jobs.push(Job {
            tenant: id,
            client_id,
            credential,
            authority: pick(&t.authority, &d.authority).unwrap_or_else(|| args.authority.clone()),
            graph_url: pick(&t.graph_url, &d.graph_url).unwrap_or_else(|| args.graph_url.clone()),
            scope: pick(&t.scope, &d.scope).or_else(|| args.scope.clone()),
            opts,
        });
    }
    Ok(jobs)
}

fn job_from_args(args: &Args) -> anyhow::Result<Job> {
    let (Some(tenant), Some(client_id)) = (args.tenant.clone(), args.client_id.clone()) else {
        bail!("sync needs --tenant and --client-id (or --config)");
    };
    let credential = read_credential(
        args.client_secret.as_ref().map(|s| s.0.clone()),
        args.certificate.as_deref(),
        args.certificate_key.as_deref(),
    )?;
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
    Ok(Job {
        tenant,
        client_id,
        credential,
        authority: args.authority.clone(),
        graph_url: args.graph_url.clone(),
        scope: args.scope.clone(),
        opts,
    })
}

async fn sync(args: Args) -> anyhow::Result<ExitCode> {
    let jobs = match &args.config {
        Some(path) => {
            if args.tenant.is_some() || args.client_id.is_some() {
                bail!("--config names the tenants; leave out --tenant and --client-id");
            }
            jobs_from_config(path, &args)?
        }
        None => vec![job_from_args(&args)?],
    };
    let push = args.notifications_url.as_deref().map(|u| {
        let mut p = PushOptions::new(u);
        if let Some(l) = &args.lifecycle_url {
            p.lifecycle_url.clone_from(l);
        }
        p
    });
    let default_interval = if push.is_some() { "30m" } else { "5m" };
    let interval = duration(
        "--interval",
        args.interval.as_deref().unwrap_or(default_interval),
    )?;
    let store: Arc<dyn Store> = args.data.open().await?;
    let http = callrecords_sync::http_client()?;
    // A progress bar per tenant on a terminal; otherwise only the summary line per sweep.
    let bars = std::io::stderr()
        .is_terminal()
        .then(|| Arc::new(indicatif::MultiProgress::new()));
    let mut running = tokio::task::JoinSet::new();
    for job in jobs {
        let scope = job
            .scope
            .clone()
            .unwrap_or_else(|| callrecords_sync::auth::default_scope(&job.graph_url));
        let tokens = Arc::new(TokenSource::new(
            http.clone(),
            &job.authority,
            &job.tenant,
            &job.client_id,
            &scope,
            job.credential,
        ));
        // Budgets are per (app, tenant): one client per tenant.
        let client = Arc::new(GraphClient::new(
            http.clone(),
            tokens,
            Budgets::new(Limits::default()),
            RetryPolicy::default(),
        ));
        let mut opts = job.opts;
        opts.interval = (!args.once).then_some(interval);
        let syncer = Syncer::new(store.clone(), client, &job.graph_url, &job.tenant, opts);
        let (once, json, push, bars) = (args.once, args.json, push.clone(), bars.clone());
        let store = store.clone();
        running.spawn(
            async move { run_tenant(syncer, store, once, json, interval, push, bars).await },
        );
    }
    // 1: a sweep reported errors; 2: a tenant could not be synced at all (credentials refused, permission
    // missing, store unavailable), as docs/sync.md says.
    let (mut ok, mut ran) = (true, true);
    while let Some(r) = running.join_next().await {
        match r {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => ok = false,
            Ok(Err(e)) => {
                eprintln!("error: {e:#}");
                ran = false;
            }
            Err(e) => {
                eprintln!("error: a tenant's task failed: {e}");
                ran = false;
            }
        }
    }
    Ok(if !ran {
        ExitCode::from(2)
    } else if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The push task of one tenant: keeps the subscription, drains the inbox, wakes the sweep on `missed`.
async fn push_loop(syncer: Syncer, opts: PushOptions, wake: Arc<tokio::sync::Notify>) {
    use tokio::time::{Instant, sleep};
    let tenant = syncer.tenant().to_string();
    let mut check_at = Instant::now();
    loop {
        if Instant::now() >= check_at {
            match syncer.ensure_subscription(&opts, Timestamp::now()).await {
                Ok(_) => check_at = Instant::now() + Duration::from_secs(60),
                Err(e) => {
                    eprintln!("sync {tenant}: subscription: {e}");
                    check_at = Instant::now() + Duration::from_secs(15);
                }
            }
        }
        match syncer.drain_inbox(&opts, Timestamp::now()).await {
            Ok(r) => {
                if r.sweep_wanted {
                    wake.notify_one();
                }
                if r.check_subscription {
                    check_at = Instant::now();
                }
                if r.handled == 0 {
                    sleep(Duration::from_millis(200)).await;
                }
            }
            Err(e) => {
                eprintln!("sync {tenant}: notifications: {e}");
                sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

/// How long a sync lease lasts without renewal: a node that dies mid-sweep hands its tenants over after this.
const SYNC_LEASE: SignedDuration = SignedDuration::from_secs(60);

/// Sweeps one tenant (once, or every `interval` until Ctrl-C, with the push task when `push`); `Ok(false)`
/// when a sweep reported errors. Several `sync` processes on one database take turns: a sweep runs only
/// under the tenant's lease (`sync:TENANT`, renewed while it runs), so one of them at a time sweeps a
/// tenant. (The push task drains the inbox without the lease: an entry is removed only after its record is
/// committed, and a record fetched twice is a duplicate, so two drainers cost requests, not correctness.)
async fn run_tenant(
    syncer: Syncer,
    store: Arc<dyn Store>,
    once: bool,
    json: bool,
    interval: SignedDuration,
    push: Option<PushOptions>,
    bars: Option<Arc<indicatif::MultiProgress>>,
) -> anyhow::Result<bool> {
    let tenant = syncer.tenant().to_string();
    let wake = Arc::new(tokio::sync::Notify::new());
    let _push = push.map(|p| {
        let task = tokio::spawn(push_loop(syncer.clone(), p, wake.clone()));
        AbortOnDrop(task)
    });
    let lease = format!("sync:{tenant}");
    let holder = format!("{}:{}", std::process::id(), uuid::Uuid::new_v4());
    let ttl_us = SYNC_LEASE.as_micros() as i64;
    loop {
        let now = Timestamp::now().as_microsecond();
        if !store.try_lease(&lease, &holder, now, ttl_us).await? {
            eprintln!("sync {tenant}: another process holds its lease; not syncing it this round");
            if once {
                return Ok(true);
            }
            tokio::select! {
                () = tokio::time::sleep(interval.unsigned_abs()) => {}
                _ = tokio::signal::ctrl_c() => return Ok(true),
            }
            continue;
        }
        // Renew the lease while the sweep runs (a third of its life at a time).
        let renew = {
            let (store, lease, holder) = (store.clone(), lease.clone(), holder.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep((SYNC_LEASE / 3).unsigned_abs()).await;
                    let now = Timestamp::now().as_microsecond();
                    if !matches!(
                        store.try_lease(&lease, &holder, now, ttl_us).await,
                        Ok(true)
                    ) {
                        tracing::warn!(%lease, "sync lease lost or not renewed");
                    }
                }
            })
        };
        let bar = bars.as_ref().map(|m| progress_bar(m, &syncer));
        let swept = syncer.sweep(Timestamp::now()).await;
        renew.abort();
        if let Some((bar, ticker)) = bar {
            ticker.abort();
            bar.finish_and_clear();
        }
        let report = match swept {
            Ok(r) => r,
            Err(e) => {
                let _ = store.release_lease(&lease, &holder).await;
                if once {
                    return Err(anyhow::anyhow!("sync {tenant}: {e}"));
                }
                eprintln!("sync {tenant}: sweep failed: {e}");
                tokio::time::sleep(interval.unsigned_abs()).await;
                continue;
            }
        };
        print_report(&tenant, &report, json);
        if once {
            store.release_lease(&lease, &holder).await?;
            return Ok(report.errors.is_empty());
        }
        tokio::select! {
            () = tokio::time::sleep(interval.unsigned_abs()) => {}
            () = wake.notified() => {}
            _ = tokio::signal::ctrl_c() => {
                let _ = store.release_lease(&lease, &holder).await;
                return Ok(true);
            }
        }
    }
}

/// A bar over the sweep's list windows, redrawn from its progress counters until the returned task is aborted.
fn progress_bar(
    multi: &indicatif::MultiProgress,
    syncer: &Syncer,
) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
    use callrecords_sync::SweepProgress as P;
    let bar = multi.add(indicatif::ProgressBar::new(0));
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {prefix} windows {pos}/{len} {wide_bar} {msg}",
    ) {
        bar.set_style(style);
    }
    bar.set_prefix(syncer.tenant().to_string());
    let (b, progress) = (bar.clone(), syncer.progress().clone());
    let ticker = tokio::spawn(async move {
        loop {
            b.set_length(P::get(&progress.windows_total));
            b.set_position(P::get(&progress.windows_done));
            b.set_message(format!(
                "listed {} fetched {} log pages {}",
                P::get(&progress.listed),
                P::get(&progress.fetched),
                P::get(&progress.log_pages)
            ));
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    });
    (bar, ticker)
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
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
    if json && let Ok(mut v) = serde_json::to_value(r) {
        if let Some(m) = v.as_object_mut() {
            m.insert("tenant".into(), tenant.into());
        }
        println!("{v}");
    }
}

async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let store = args.data.open().await?;
    let rows = store.list_sync_states(&ReadScope::All).await?;
    let now = Timestamp::now();
    let mut out = Vec::new();
    for r in rows {
        let st = TenantState::parse(&r.state).unwrap_or_default();
        out.push((r.tenant, st));
    }
    if args.json {
        let v: Vec<_> = out
            .iter()
            .map(|(t, st)| {
                let mut st = st.clone();
                if let Some(p) = st.push.as_mut() {
                    p.client_state = "<redacted>".into();
                }
                serde_json::json!({"tenant": t, "state": st})
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return Ok(ExitCode::SUCCESS);
    }
    if out.is_empty() {
        match &args.data.database_url {
            Some(_) => println!("no tenant was synced into the database"),
            None => println!("no tenant was synced into {}", args.data.data.display()),
        }
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
        if let Some(p) = &st.push {
            println!(
                "  push: subscription {} expires {}; notified {}, stored {}, 404 retries {}, gave up {}{}",
                p.subscription_id.as_deref().unwrap_or("(being created)"),
                p.expiration_date_time
                    .and_then(|e| e.round(jiff::Unit::Second).ok())
                    .map_or_else(|| "-".into(), |e| e.to_string()),
                p.notified,
                p.stored,
                p.not_found,
                p.gave_up.len(),
                p.last_error
                    .as_deref()
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
