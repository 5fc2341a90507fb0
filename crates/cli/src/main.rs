#![forbid(unsafe_code)]
//! `callrecords`: a Microsoft Graph call-records server, store and toolbox in one binary.

mod auth_args;
mod backup_cmd;
mod config;
mod erasure_cmd;
mod fake;
mod gen_cmd;
mod import;
mod listen;
mod notify_args;
mod quality_cmd;
mod serve;
mod sync_cmd;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// mimalloc: ingest allocates and frees many small JSON nodes across threads (parsed on the checker
/// threads, dropped on the store's), where glibc malloc spent ~15 % of the time and kept returning and
/// re-faulting pages.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A faithful, durable, self-hosted Microsoft Graph call-records service.
#[derive(Debug, Parser)]
#[command(name = "callrecords", version, about)]
struct Cli {
    /// Log lines on stderr as text, or as JSON objects (one per line: timestamp, level, target, fields —
    /// `serve` writes one per request with its request-id). `CALLRECORDS_LOG` sets the level filter.
    #[arg(
        long,
        global = true,
        env = "CALLRECORDS_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
    /// The configuration file (TOML: a key per long flag, a table per command; see
    /// docs/configuration.md). Default: CALLRECORDS_CONFIG (empty: no file), else ./callrecords.toml
    /// if it exists. (Read before the command line is parsed, so clap never sees CALLRECORDS_CONFIG.)
    #[arg(long, global = true, value_name = "FILE")]
    config_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Where the store lives: the embedded SQLite store in a directory (`--data`), or a PostgreSQL database
/// (`--database-url postgres://…`). Every command opens it through [`DataArgs::open`].
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// Data directory of the embedded SQLite store.
    #[arg(
        long = "data",
        env = "CALLRECORDS_DATA",
        default_value = "./callrecords-data"
    )]
    pub data: PathBuf,
    /// A PostgreSQL database instead of the SQLite directory: `postgres://user:pass@host:port/db`
    /// (`?sslmode=require` for TLS; `&options=-csearch_path%3Dschema` for a schema of its own).
    #[arg(
        long = "database-url",
        env = "CALLRECORDS_DATABASE_URL",
        conflicts_with = "data"
    )]
    pub database_url: Option<String>,
}

impl DataArgs {
    /// Open the store these arguments name (PostgreSQL when a database URL is given, else SQLite in `dir`).
    pub async fn open_in(
        &self,
        dir: &std::path::Path,
    ) -> anyhow::Result<std::sync::Arc<dyn callrecords_store::Store>> {
        use anyhow::Context as _;
        match self.database_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => {
                if !callrecords_store_postgres::is_postgres_url(url) {
                    anyhow::bail!("--database-url must start with postgres:// or postgresql://");
                }
                let store = callrecords_store_postgres::PgStore::connect(url)
                    .await
                    .context("opening the PostgreSQL store (--database-url)")?;
                Ok(std::sync::Arc::new(store))
            }
            None => {
                let store = callrecords_store_sqlite::SqliteStore::open(dir)
                    .with_context(|| format!("opening the store in {}", dir.display()))?;
                Ok(std::sync::Arc::new(store))
            }
        }
    }

    /// Open the store these arguments name.
    pub async fn open(&self) -> anyhow::Result<std::sync::Arc<dyn callrecords_store::Store>> {
        self.open_in(&self.data).await
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve Graph's call-records API (under /v1.0 and /beta), ingest and admin routes.
    Serve(serve::Args),
    /// Check files of call records (or log rows) without storing them.
    Validate(validate::Args),
    /// Store files of call records (or log rows): objects, Graph pages or NDJSON, folders, `-` for stdin.
    Import(import::Args),
    /// Write realistic synthetic call records (or log rows) as NDJSON on stdout.
    Gen(gen_cmd::Args),
    /// CQD call-quality summary from the derived tables (`quality rebuild` derives them again).
    Quality(quality_cmd::QualityArgs),
    /// The CQD building (subnet) file: `buildings import FILE`.
    Buildings(quality_cmd::BuildingsArgs),
    /// Stream rows, session rows or records (latest versions) as CSV, Parquet or NDJSON.
    Export(quality_cmd::ExportArgs),
    /// Pull a tenant's call records and PSTN logs from Microsoft Graph into the store (`sync status`: state).
    Sync(sync_cmd::Args),
    /// Write a consistent copy of the store while it is in use (`serve`, `import` may keep running).
    Backup(backup_cmd::BackupArgs),
    /// Put a backup in place as the store of a data directory.
    Restore(backup_cmd::RestoreArgs),
    /// The configuration (callrecords.toml, environment): `config check` prints what every command
    /// would use.
    Config(config::Args),

    /// Erase one call record: every version, session, participant, derived and outbox row (audited).
    Purge(erasure_cmd::PurgeArgs),
    /// Replace a user by a stable pseudonym in every record version, log row and derived row (audited).
    Redact(erasure_cmd::RedactArgs),
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let file = match config::File::locate(&argv) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    // The file's values become clap's defaults and every flag gets its environment variable, so
    // clap applies defaults → file → environment → flags.
    let (command, mut applied) = config::apply(Cli::command(), &file);
    // A flag given explicitly displaces a file value it conflicts with.
    let command = config::resolve_conflicts(command, &mut applied, &argv);
    let matches = command.clone().get_matches_from(&argv);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CALLRECORDS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, never into a file or a log collector.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    // Unknown keys or bad values stop every command but `config check`, which lists them.
    if !applied.problems.is_empty() && !matches!(cli.command, Command::Config(_)) {
        for p in &applied.problems {
            eprintln!("error: {p}");
        }
        eprintln!("(`callrecords config check` shows the effective configuration)");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Serve(args) => {
            // `--fake` without a data directory gets a temporary one.
            let data_given = applied.in_file(&["serve"], "data")
                || matches.subcommand_matches("serve").is_some_and(|m| {
                    m.value_source("data") != Some(clap::parser::ValueSource::DefaultValue)
                });
            serve::run(args, data_given)
        }
        Command::Validate(args) => validate::run(args),
        Command::Import(args) => import::run(args),
        Command::Gen(args) => gen_cmd::run(args),
        Command::Quality(args) => quality_cmd::run_quality(args),
        Command::Buildings(args) => quality_cmd::run_buildings(args),
        Command::Export(args) => quality_cmd::run_export(args),
        Command::Sync(args) => sync_cmd::run(args),
        Command::Backup(args) => backup_cmd::run_backup(args),
        Command::Restore(args) => backup_cmd::run_restore(args),
        Command::Config(args) => config::run(&args, &command, &file, &applied, &matches),

        Command::Purge(args) => erasure_cmd::run_purge(args),
        Command::Redact(args) => erasure_cmd::run_redact(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
