//! `callrecords import`: streams files into the store with constant memory through the ingest pipeline
//! (`callrecords-ingest`: a reader thread, the check workers on all cores, the store writing batches in
//! transactions, bounded channels between them); a progress bar on a terminal, a summary line at the end.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use callrecords_ingest::{BatchLimits, IngestOptions, Ingestor, OutcomeKind};
use callrecords_model::reader::{RecordKind, collect_inputs};
use callrecords_store::Store;
use indicatif::{ProgressBar, ProgressStyle};

use crate::DataArgs;

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// What the files hold (a page's `@odata.context` overrides it): callRecord, pstnCall, directRoutingCall,
    /// smsLog, pstnBlockedUser, pstnOnlineMeetingDialout.
    #[arg(long, default_value = "callRecord")]
    kind: RecordKind,
    /// Start of the period dial-out report rows cover (they carry no date).
    #[arg(long)]
    from: Option<String>,
    /// End of the period dial-out report rows cover.
    #[arg(long)]
    to: Option<String>,
    /// The tenant the records and rows belong to (default: the default tenant, the nil GUID).
    #[arg(long, env = "CALLRECORDS_TENANT")]
    tenant: Option<String>,
    /// Records per transaction (a batch is also cut at 16 MiB of JSON).
    #[arg(long, default_value_t = BatchLimits::DEFAULT_MAX_RECORDS)]
    batch_size: usize,
    /// Store the records only: do not derive their call-quality rows while importing (`serve` or the next
    /// `quality` command derives them from the change feed instead).
    #[arg(long)]
    no_quality: bool,
    /// Files, folders (recursively) or `-` for stdin.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let period = match (&args.from, &args.to) {
        (Some(f), Some(t)) => Some((
            callrecords_odata::parse_datetime_literal(f)?,
            callrecords_odata::parse_datetime_literal(t)?,
        )),
        (None, None) => None,
        _ => anyhow::bail!("give both --from and --to"),
    };
    let inputs = collect_inputs(&args.paths)?;
    let total_bytes: Option<u64> = inputs.iter().map(|i| i.size()).sum();
    // The store's runtime (PostgreSQL's connections and poller live on it), made before the store is opened.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let store: Arc<dyn Store> = runtime.block_on(args.data.open())?;

    let bar = if std::io::stderr().is_terminal() {
        let bar = match total_bytes {
            Some(n) => ProgressBar::new(n).with_style(ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
            )?),
            None => ProgressBar::new_spinner().with_style(ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {binary_bytes} {binary_bytes_per_sec} {msg}",
            )?),
        };
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    } else {
        ProgressBar::hidden()
    };

    let opts = IngestOptions {
        kind: args.kind,
        period,
        limits: BatchLimits {
            max_records: args.batch_size.max(1),
            ..BatchLimits::default()
        },
        tenant: args.tenant.clone(),
        derive_quality: !args.no_quality,
    };
    let ingestor = Ingestor::new(store, opts);
    let started = Instant::now();
    // Each batch is durable before it is reported; on a failure the batches before it stay stored.
    let tally = runtime.block_on(ingestor.ingest_inputs(inputs, |batch| {
        for r in &batch.results {
            for e in r.outcome.issues() {
                bar.suspend(|| eprintln!("{}: {e}", r.location));
            }
        }
        bar.set_position(batch.bytes_read);
        bar.set_message(format!("{} records", batch.tally.received()));
    }))?;
    bar.finish_and_clear();

    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let outcomes: Vec<String> = tally.iter().map(|(k, n)| format!("{k} {n}")).collect();
    eprintln!(
        "imported {} records in {:.1}s ({:.0} records/s): {}",
        tally.received(),
        secs,
        tally.received() as f64 / secs,
        if outcomes.is_empty() {
            "nothing".into()
        } else {
            outcomes.join(", ")
        }
    );
    Ok(if tally.get(OutcomeKind::Invalid) > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
