//! `callrecords import`: streams files into the store with constant memory — a reader thread parses and
//! validates, the store writes batches in transactions, a bounded channel between them.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use callrecords_api::pipeline::{self, Checked, Tally};
use callrecords_model::reader::{RawItem, RecordKind, collect_inputs, read_items};
use callrecords_store::Store;
use callrecords_store_sqlite::SqliteStore;
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
    /// Records per transaction.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Files, folders (recursively) or `-` for stdin.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

/// A batch is cut at `--batch-size` records or this many bytes of JSON, whichever comes first, so that big
/// records do not make big batches (memory) while small ones still share a transaction.
const BATCH_BYTES: usize = 16 << 20;

struct RawBatch {
    items: Vec<RawItem>,
    bytes: u64,
}

struct Batch {
    items: Vec<Checked>,
    bytes: u64,
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
    let store = SqliteStore::open(&args.data.data)
        .with_context(|| format!("opening the store in {}", args.data.data.display()))?;
    let store: Arc<dyn Store> = Arc::new(store);

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

    // Three stages, each bounded to one batch in flight so memory stays flat: the reader cuts raw items
    // (cheap), the checker parses and validates a batch on all cores, the store prepares and writes it.
    let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel::<RawBatch>(1);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(1);
    let batch_size = args.batch_size.max(1);
    let kind = args.kind;
    let reader = std::thread::spawn(move || -> std::io::Result<()> {
        let mut base = 0u64;
        let mut batch = Vec::with_capacity(batch_size.min(4096));
        let mut batch_bytes = 0usize;
        let mut seen = 0u64;
        for input in inputs {
            let source = input.name();
            let reader = match input.open() {
                Ok(r) => r,
                Err(e) => return Err(std::io::Error::new(e.kind(), format!("{source}: {e}"))),
            };
            read_items(&source, reader, kind, &mut |item| {
                seen = base + item.bytes_read;
                batch_bytes += item.text.as_ref().map_or(0, String::len);
                batch.push(item);
                if batch.len() >= batch_size || batch_bytes >= BATCH_BYTES {
                    let items =
                        std::mem::replace(&mut batch, Vec::with_capacity(batch_size.min(4096)));
                    batch_bytes = 0;
                    // The receiver only goes away on a store failure; the error is reported there.
                    let _ = raw_tx.send(RawBatch { items, bytes: seen });
                }
            })?;
            base = seen.max(base + input.size().unwrap_or(0));
        }
        if !batch.is_empty() {
            let _ = raw_tx.send(RawBatch {
                items: batch,
                bytes: seen,
            });
        }
        Ok(())
    });
    let checker = std::thread::spawn(move || {
        for raw in raw_rx {
            let items = pipeline::check_all(raw.items);
            if tx
                .blocking_send(Batch {
                    items,
                    bytes: raw.bytes,
                })
                .is_err()
            {
                break;
            }
        }
    });

    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tally = runtime.block_on(async {
        let mut tally = Tally::default();
        while let Some(batch) = rx.recv().await {
            let results = pipeline::store_batch(store.as_ref(), batch.items, period).await?;
            for r in results.iter().filter(|r| r.outcome == "invalid") {
                for e in &r.errors {
                    bar.suspend(|| eprintln!("{}: {e}", r.location));
                }
            }
            tally.add(&results);
            bar.set_position(batch.bytes);
            bar.set_message(format!("{} records", tally.received));
        }
        anyhow::Ok(tally)
    })?;
    // On a store failure the receivers are gone: the checker and then the reader stop at their next send.
    drop(rx);
    checker
        .join()
        .map_err(|_| anyhow::anyhow!("the checker thread panicked"))?;
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))??;
    bar.finish_and_clear();

    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let outcomes: Vec<String> = tally
        .outcomes
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    eprintln!(
        "imported {} records in {:.1}s ({:.0} records/s): {}",
        tally.received,
        secs,
        tally.received as f64 / secs,
        if outcomes.is_empty() {
            "nothing".into()
        } else {
            outcomes.join(", ")
        }
    );
    Ok(if tally.get("invalid") > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
