//! `callrecords quality`, `callrecords buildings import` and `callrecords export`: CQD summaries from the
//! derived quality tables (brought up to date first), the building file, and stream / session / record
//! exports streamed page by page (constant memory).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use callrecords_api::derive;
use callrecords_quality::export::{CsvWriter, ExportRow, NdjsonWriter, ParquetWriter};
use callrecords_store::{Bound, ListCursor, ReadScope, RecordQuery};
use serde_json::Value;

use crate::DataArgs;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

async fn open(data: &DataArgs) -> anyhow::Result<std::sync::Arc<dyn callrecords_store::Store>> {
    let store = data.open().await?;
    if store.quality().is_none() {
        anyhow::bail!(
            "this store keeps no call-quality tables (the PostgreSQL store does not yet); use --data"
        );
    }
    Ok(store)
}

/// Arguments of `quality`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct QualityArgs {
    #[command(subcommand)]
    action: Option<QualityAction>,
    #[command(flatten)]
    data: DataArgs,
    /// Records starting on or after this day (YYYY-MM-DD) or instant (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Records starting before this day or instant.
    #[arg(long)]
    until: Option<String>,
    /// Group by day, week, month, building, subnet, network, platform, client-version, device, user,
    /// meeting, feedback (the HTTP API's camelCase `clientVersion` is accepted too).
    #[arg(long = "group-by")]
    group_by: Option<String>,
    /// Only this stream kind: JSON keeps just it under `streams` (with `"kind"`), the table / CSV
    /// columns show it (default audio; without `--kind` JSON has every kind).
    #[arg(long, value_parser = ["audio", "video", "vbss"])]
    kind: Option<String>,
    #[arg(long, default_value = "table", value_parser = ["table", "json", "csv"])]
    format: String,
}

#[derive(Debug, clap::Subcommand)]
enum QualityAction {
    /// Throw the derived quality data away and derive it again from every stored record.
    Rebuild(RebuildArgs),
}

#[derive(Debug, clap::Args)]
struct RebuildArgs {
    #[command(flatten)]
    data: DataArgs,
}

fn fmt_rate(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".to_owned(), |r| format!("{:.2}%", r * 100.0))
}

/// A rate with a trailing `*` when it is over Microsoft's target (table format only).
fn fmt_rate_vs(v: &Value, target: Option<f64>, mark: bool) -> String {
    let over = mark && matches!((v.as_f64(), target), (Some(r), Some(t)) if r > t);
    format!("{}{}", fmt_rate(v), if over { "*" } else { "" })
}

/// `client-version` → `clientVersion` (the CLI spelling → the API's group key names).
fn camel_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut upper = false;
    for c in s.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

pub fn run_quality(args: QualityArgs) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async move {
        if let Some(QualityAction::Rebuild(r)) = args.action {
            let store = open(&r.data).await?;
            let n = derive::rebuild(&*store).await?;
            eprintln!("quality rebuilt from {n} changes");
            return Ok(ExitCode::SUCCESS);
        }
        let store = open(&args.data).await?;
        let mut q = HashMap::new();
        if let Some(s) = &args.since {
            q.insert("from".to_owned(), s.clone());
        }
        if let Some(u) = &args.until {
            q.insert("until".to_owned(), u.clone());
        }
        if let Some(g) = &args.group_by {
            q.insert("groupBy".to_owned(), camel_case(g));
        }
        if let Some(k) = &args.kind {
            q.insert("kind".to_owned(), k.clone());
        }
        let v = callrecords_api::analytics::summary_json(&*store, &ReadScope::All, &q)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let mut out = std::io::stdout().lock();
        if args.format == "json" {
            writeln!(out, "{v}")?;
            return Ok(ExitCode::SUCCESS);
        }
        let groups: Vec<(String, Value)> = match v.get("groups").and_then(Value::as_array) {
            Some(gs) => gs
                .iter()
                .map(|g| (g["key"].as_str().unwrap_or("(none)").to_owned(), g.clone()))
                .collect(),
            None => vec![("all".to_owned(), v)],
        };
        let k = args.kind.as_deref().unwrap_or("audio");
        let header = [
            "key",
            "records",
            &format!("{k}Streams"),
            &format!("{k}Poor"),
            &format!("{k}PoorRate"),
            "sessions",
            "setupFailureRate",
            "dropFailureRate",
            "poorCallRate",
        ]
        .map(str::to_owned);
        let mut lines = vec![header.to_vec()];
        let table = args.format == "table";
        let targets = callrecords_quality::Targets::MICROSOFT;
        let audio_target = (k == "audio").then_some(targets.audio_poor_rate);
        for (key, s) in groups {
            let st = &s["streams"][k];
            lines.push(vec![
                key,
                s["records"].to_string(),
                st["total"].to_string(),
                st["poor"].to_string(),
                fmt_rate_vs(&st["poorRate"], audio_target, table),
                s["sessions"]["total"].to_string(),
                fmt_rate_vs(
                    &s["sessions"]["setupFailureRate"],
                    Some(targets.setup_failure_rate),
                    table,
                ),
                fmt_rate_vs(
                    &s["sessions"]["dropFailureRate"],
                    Some(targets.drop_failure_rate),
                    table,
                ),
                fmt_rate(&s["calls"]["poorRate"]),
            ]);
        }
        if args.format == "csv" {
            let mut w = csv::Writer::from_writer(out);
            for l in lines {
                w.write_record(&l)?;
            }
            w.flush()?;
        } else {
            let widths: Vec<usize> = (0..lines[0].len())
                .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
                .collect();
            for l in lines {
                let cells: Vec<String> = l
                    .iter()
                    .zip(&widths)
                    .enumerate()
                    .map(|(i, (c, w))| {
                        if i == 0 {
                            format!("{c:<w$}")
                        } else {
                            format!("{c:>w$}")
                        }
                    })
                    .collect();
                writeln!(out, "{}", cells.join("  "))?;
            }
            writeln!(
                out,
                "* over Microsoft's target: audio poor stream rate {:.1}% ({:.1}% inside the corporate \
                 network), setup failure rate {:.1}%, drop failure rate {:.1}%",
                targets.audio_poor_rate * 100.0,
                targets.audio_poor_rate_inside * 100.0,
                targets.setup_failure_rate * 100.0,
                targets.drop_failure_rate * 100.0
            )?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Arguments of `buildings`.
#[derive(Debug, clap::Args)]
pub struct BuildingsArgs {
    #[command(subcommand)]
    action: BuildingsAction,
}

#[derive(Debug, clap::Subcommand)]
enum BuildingsAction {
    /// Replace the CQD building file (CSV or TSV, no header) and derive building data again.
    Import {
        file: PathBuf,
        #[command(flatten)]
        data: DataArgs,
    },
}

pub fn run_buildings(args: BuildingsArgs) -> anyhow::Result<ExitCode> {
    let BuildingsAction::Import { file, data } = args.action;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let map = match callrecords_quality::BuildingMap::parse(&text) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return Ok(ExitCode::from(1));
        }
    };
    runtime()?.block_on(async move {
        let store = open(&data).await?;
        derive::put_buildings(&*store, text).await?;
        eprintln!("{} building rows imported", map.buildings().len());
        Ok(ExitCode::SUCCESS)
    })
}

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, value_parser = ["streams", "sessions", "records"])]
    what: String,
    #[arg(long, default_value = "ndjson", value_parser = ["csv", "parquet", "ndjson"])]
    format: String,
    /// Records starting on or after this day (YYYY-MM-DD) or instant (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Records starting before this day or instant.
    #[arg(long)]
    until: Option<String>,
    /// Output file (default stdout).
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
}

enum Sink<R: ExportRow> {
    Csv(CsvWriter<Box<dyn Write + Send>, R>),
    Parquet(ParquetWriter<Box<dyn Write + Send>, R>),
    Ndjson(NdjsonWriter<Box<dyn Write + Send>>),
}

impl<R: ExportRow> Sink<R> {
    fn new(format: &str, out: Box<dyn Write + Send>) -> anyhow::Result<Self> {
        Ok(match format {
            "csv" => Sink::Csv(CsvWriter::new(out)?),
            "parquet" => Sink::Parquet(ParquetWriter::new(out)?),
            _ => Sink::Ndjson(NdjsonWriter::new(out)),
        })
    }
    fn write(&mut self, r: &R) -> anyhow::Result<()> {
        match self {
            Sink::Csv(w) => w.write(r)?,
            Sink::Parquet(w) => w.write(r)?,
            Sink::Ndjson(w) => w.write(r)?,
        }
        Ok(())
    }
    fn finish(self) -> anyhow::Result<()> {
        let mut out = match self {
            Sink::Csv(w) => w.finish()?,
            Sink::Parquet(w) => w.finish()?,
            Sink::Ndjson(w) => w.finish()?,
        };
        out.flush()?;
        Ok(())
    }
}

enum AnySink {
    Streams(Sink<callrecords_quality::StreamRow>),
    Sessions(Sink<callrecords_quality::SessionRow>),
    Records(Box<dyn Write + Send>),
}

pub fn run_export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    if args.what == "records" && args.format != "ndjson" {
        bail!("--what records is exported as NDJSON only");
    }
    let bound = |name: &str, s: &Option<String>| -> anyhow::Result<Option<i64>> {
        s.as_deref()
            .map(|s| {
                callrecords_api::analytics::parse_bound(name, s)
                    .map_err(|e| anyhow::anyhow!("{}", e.message))
            })
            .transpose()
    };
    let from = bound("since", &args.since)?;
    let until = bound("until", &args.until)?;
    let out: Box<dyn Write + Send> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let mut sink = match args.what.as_str() {
        "streams" => AnySink::Streams(Sink::new(&args.format, out)?),
        "sessions" => AnySink::Sessions(Sink::new(&args.format, out)?),
        _ => AnySink::Records(out),
    };
    runtime()?.block_on(async move {
        // Rows are derived from the records here; the quality tables only lend the building file, which a
        // store without them (PostgreSQL) does not keep: rows then have no building columns.
        let store = args.data.open().await?;
        let buildings = match store.quality() {
            Some(q) => derive::buildings_of(q.quality_meta().await?.buildings.as_deref()),
            None => None,
        };
        let mut q = RecordQuery {
            start_lower: from.map(|micros| Bound {
                micros,
                inclusive: true,
            }),
            start_upper: until.map(|micros| Bound {
                micros,
                inclusive: false,
            }),
            limit: 200,
            ..Default::default()
        };
        let mut n = 0u64;
        loop {
            let page = store.list_records(&ReadScope::All, &q, false).await?;
            let Some(last) = page.heads.last() else { break };
            q.after = Some(ListCursor::of(last));
            for head in &page.heads {
                let scope = ReadScope::Tenant(head.tenant.clone());
                let Some(view) = derive::read_view(&*store, &scope, &head.id).await? else {
                    continue;
                };
                match &mut sink {
                    AnySink::Records(w) => {
                        serde_json::to_writer(&mut *w, &derive::record_value(&view)?)?;
                        w.write_all(b"\n")?;
                        n += 1;
                    }
                    AnySink::Streams(s) => {
                        for r in derive::rows_of_view(&view, buildings.as_ref())?.streams {
                            s.write(&r)?;
                            n += 1;
                        }
                    }
                    AnySink::Sessions(s) => {
                        for r in derive::rows_of_view(&view, buildings.as_ref())?.sessions {
                            s.write(&r)?;
                            n += 1;
                        }
                    }
                }
            }
        }
        match sink {
            AnySink::Streams(s) => s.finish()?,
            AnySink::Sessions(s) => s.finish()?,
            AnySink::Records(mut w) => w.flush()?,
        }
        eprintln!("exported {n} {}", args.what);
        Ok(ExitCode::SUCCESS)
    })
}
