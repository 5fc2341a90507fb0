#![forbid(unsafe_code)]
//! The one ingest pipeline, shared by `callrecords import`, `POST /ingest/...` and every future caller (a
//! Graph sync client, the fake tenant, a webhook receiver): raw items from
//! [`callrecords_model::reader::read_items`] → batches cut by [`BatchLimits`] → parsed and
//! validated on all cores → stored, one transaction per batch and kind → one typed [`ItemResult`] per item,
//! in input order, and a [`Tally`].
//!
//! Three stages run at once, each holding at most one batch, with bounded channels between them, so memory
//! stays flat whatever the size of the input:
//!
//! 1. a reader thread runs the source (an iterator, or a push-style producer such as `read_items`) and cuts
//!    batches;
//! 2. a checker thread parses and validates each batch on the one pool of check workers (the checker thread
//!    being one of them), so batch k+1 is checked while batch k is stored;
//! 3. the caller's task stores each batch (durable when [`Store::put_records`] / [`Store::put_log_rows`]
//!    return) and hands its results to the caller's per-batch callback.
//!
//! Outcomes stay typed ([`ItemOutcome`], [`OutcomeKind`]) until the caller's edge renders them (HTTP JSON,
//! CLI lines).

mod batch;
mod check;
mod outcome;
pub mod quality;
mod store;

use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;

use callrecords_model::reader::{Input, RawItem, RecordKind, read_items};
use callrecords_store::{DEFAULT_TENANT, Store, StoreError};

pub use batch::BatchLimits;
pub use outcome::{ItemOutcome, ItemResult, OutcomeKind, Tally};

use batch::Batcher;
use check::Checked;

/// How to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOptions {
    /// What the input holds, for sources the ingestor reads itself ([`Ingestor::ingest_inputs`]); a page's
    /// `@odata.context` overrides it. Items handed over already cut carry their own kind.
    pub kind: RecordKind,
    /// The period (µs since the epoch, `from` and `to`) dial-out report rows cover: they carry no date, and
    /// without a period they are refused as invalid.
    pub period: Option<(i64, i64)>,
    /// When a batch (one store transaction per kind) is cut.
    pub limits: BatchLimits,
    /// The tenant everything belongs to; `None` is the default tenant ([`DEFAULT_TENANT`]).
    pub tenant: Option<String>,
    /// Derive the call-quality rows of the records while checking them, and store them with the records
    /// when the quality deriver is caught up (see [`quality`]); otherwise (or when `false`) the deriver
    /// derives them from the change feed later. On by default.
    pub derive_quality: bool,
}

impl IngestOptions {
    /// Items of `kind`, default batch limits, no period, no tenant.
    pub fn new(kind: RecordKind) -> Self {
        IngestOptions {
            kind,
            period: None,
            limits: BatchLimits::default(),
            tenant: None,
            derive_quality: true,
        }
    }
}

/// One stored batch, as handed to the per-batch callback.
#[derive(Debug)]
pub struct Batch {
    /// One result per item of the batch, in input order.
    pub results: Vec<ItemResult>,
    /// [`RawItem::bytes_read`] of the batch's last item (for progress; [`Ingestor::ingest_inputs`] counts
    /// across all inputs).
    pub bytes_read: u64,
    /// Counts so far, this batch included.
    pub tally: Tally,
}

/// Everything [`Ingestor::ingest`] did.
#[derive(Debug)]
pub struct Ingested {
    /// One result per item, in input order.
    pub results: Vec<ItemResult>,
    /// Counts per outcome.
    pub tally: Tally,
}

/// Why an ingest stopped. Batches stored before it stay stored (and were reported to the callback).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store failed; the batch in hand was not stored.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The source failed to read (the items of the batch being cut are dropped unstored).
    #[error(transparent)]
    Read(#[from] std::io::Error),
    /// A pipeline thread could not start or panicked.
    #[error("ingest worker failed: {0}")]
    Worker(String),
}

/// Where a producer ([`Ingestor::ingest_from`]) puts its items.
#[derive(Debug)]
pub struct Sink {
    batcher: Batcher,
    tx: SyncSender<Vec<RawItem>>,
    open: bool,
}

impl Sink {
    /// Hands over one item (it blocks while the pipeline is a batch ahead). Returns `false` once the ingest
    /// has stopped (a store failure): the producer should stop, further items are dropped.
    pub fn push(&mut self, item: RawItem) -> bool {
        if self.open
            && let Some(batch) = self.batcher.push(item)
        {
            self.open = self.tx.send(batch).is_ok();
        }
        self.open
    }

    fn finish(self) {
        if self.open
            && let Some(batch) = self.batcher.finish()
        {
            let _ = self.tx.send(batch);
        }
    }
}

/// The ingest pipeline over one store. Cheap to build: one per request or per import is fine.
#[derive(Clone)]
pub struct Ingestor {
    store: Arc<dyn Store>,
    opts: IngestOptions,
}

impl std::fmt::Debug for Ingestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingestor")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl Ingestor {
    /// An ingestor storing into `store`.
    pub fn new(store: Arc<dyn Store>, opts: IngestOptions) -> Self {
        Ingestor { store, opts }
    }

    /// Its options.
    pub fn options(&self) -> &IngestOptions {
        &self.opts
    }

    /// Ingests every item and returns every result (memory grows with the input: for bounded inputs such as
    /// a request body; streams go through [`Ingestor::ingest_each`]).
    pub async fn ingest<I>(&self, items: I) -> Result<Ingested, IngestError>
    where
        I: IntoIterator<Item = RawItem>,
        I::IntoIter: Send + 'static,
    {
        let mut results = Vec::new();
        let tally = self
            .ingest_each(items, |batch| results.extend(batch.results))
            .await?;
        Ok(Ingested { results, tally })
    }

    /// Ingests every item with constant memory: each stored batch goes to `on_batch` (in input order) and is
    /// not kept. Returns the counts.
    pub async fn ingest_each<I, F>(&self, items: I, on_batch: F) -> Result<Tally, IngestError>
    where
        I: IntoIterator<Item = RawItem>,
        I::IntoIter: Send + 'static,
        F: FnMut(Batch),
    {
        let items = items.into_iter();
        self.ingest_from(
            move |sink| {
                for item in items {
                    if !sink.push(item) {
                        break;
                    }
                }
                Ok(())
            },
            on_batch,
        )
        .await
    }

    /// Reads and ingests files (or stdin) in order, as [`IngestOptions::kind`], with constant memory. Each
    /// batch's [`Batch::bytes_read`] counts the bytes of all inputs read so far.
    pub async fn ingest_inputs<F>(
        &self,
        inputs: Vec<Input>,
        on_batch: F,
    ) -> Result<Tally, IngestError>
    where
        F: FnMut(Batch),
    {
        let kind = self.opts.kind;
        self.ingest_from(
            move |sink| {
                let mut base = 0u64;
                let mut seen = 0u64;
                for input in inputs {
                    let source = input.name();
                    let reader = input
                        .open()
                        .map_err(|e| std::io::Error::new(e.kind(), format!("{source}: {e}")))?;
                    read_items(&source, reader, kind, &mut |mut item| {
                        item.bytes_read += base;
                        seen = item.bytes_read;
                        // After a store failure the rest is dropped (`read_items` reads on to the end).
                        sink.push(item);
                    })?;
                    base = seen.max(base + input.size().unwrap_or(0));
                }
                Ok(())
            },
            on_batch,
        )
        .await
    }

    /// Ingests what `produce` pushes into its [`Sink`], with constant memory: the general entry point, for
    /// push-style sources such as [`read_items`]. `produce` runs on a thread of its own; an error it returns
    /// ends the ingest with [`IngestError::Read`] once the batches before it are stored.
    pub async fn ingest_from<P, F>(&self, produce: P, mut on_batch: F) -> Result<Tally, IngestError>
    where
        P: FnOnce(&mut Sink) -> std::io::Result<()> + Send + 'static,
        F: FnMut(Batch),
    {
        // Each stage holds one batch and the channels hold one more: memory stays flat.
        let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel::<Vec<RawItem>>(1);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(Vec<Checked>, u64)>(1);
        let limits = self.opts.limits;
        let derive = self.deriving().await?;
        let epoch = derive.as_ref().map(|d| d.epoch);
        let reader = spawn("ingest-read", move || {
            let mut sink = Sink {
                batcher: Batcher::new(limits),
                tx: raw_tx,
                open: true,
            };
            let result = produce(&mut sink);
            // On a read error the batch being cut is dropped: what was reported stored is what was stored.
            if result.is_ok() {
                sink.finish();
            }
            result
        })?;
        let checker = spawn("ingest-check", move || {
            for items in raw_rx {
                let bytes_read = items.last().map_or(0, |i| i.bytes_read);
                if tx
                    .blocking_send((check::check_all(items, &derive), bytes_read))
                    .is_err()
                {
                    break;
                }
            }
        })?;

        let mut tally = Tally::default();
        while let Some((items, bytes_read)) = rx.recv().await {
            // On a store failure the receivers go away: the checker and then the reader stop at their next
            // send (they are not waited for: a reader may be blocked on stdin).
            let tenant = self.opts.tenant.as_deref().unwrap_or(DEFAULT_TENANT);
            let results =
                store::store_batch(self.store.as_ref(), tenant, items, self.opts.period, epoch)
                    .await?;
            tally.add_all(&results);
            on_batch(Batch {
                results,
                bytes_read,
                tally,
            });
        }
        // The checker has dropped its sender: it is done (or panicked), and so is the reader unless the
        // checker panicked (then the reader may still be reading, and is not waited for).
        checker
            .join()
            .map_err(|_| IngestError::Worker("the ingest checker thread panicked".into()))?;
        reader
            .join()
            .map_err(|_| IngestError::Worker("the ingest reader thread panicked".into()))??;
        Ok(tally)
    }
}

impl Ingestor {
    /// The quality epoch and building file the check workers derive under, when deriving.
    async fn deriving(&self) -> Result<check::Derive, StoreError> {
        if !self.opts.derive_quality {
            return Ok(None);
        }
        let Some(q) = self.store.quality() else {
            return Ok(None);
        };
        let meta = q.quality_meta().await?;
        Ok(Some(Arc::new(quality::Deriving {
            epoch: meta.epoch,
            buildings: meta
                .buildings
                .as_deref()
                .and_then(|t| callrecords_quality::BuildingMap::parse(t).ok()),
        })))
    }
}

fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, IngestError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| IngestError::Worker(format!("cannot start the {name} thread: {e}")))
}
