//! `callrecords backup` and `callrecords restore`: an online, consistent copy of the embedded store (taken
//! while `serve` or an `import` runs) and putting one back (`callrecords_store_sqlite::backup`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use callrecords_store_sqlite::SqliteStore;
use callrecords_store_sqlite::backup::{BackupSummary, restore};

use crate::DataArgs;

/// Arguments of `backup`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The backup file to write (must not exist; written as FILE.partial, checked, then renamed).
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    data: DataArgs,
    /// A file written by `callrecords backup`.
    file: PathBuf,
    /// Restore over an existing store, which is moved aside (`callrecords.db.before-restore-<time>`), not
    /// deleted. Stop every process using the data directory first.
    #[arg(long)]
    replace: bool,
}

fn describe(s: &BackupSummary) -> String {
    format!(
        "{} ({} bytes, schema {}): {} records, {} versions, {} log rows",
        s.path.display(),
        s.bytes,
        s.schema_version,
        s.records,
        s.versions,
        s.log_rows
    )
}

pub fn run_backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.data.database_url.is_none(),
        "backup copies the embedded SQLite store; for PostgreSQL use pg_dump (docs/backup.md)"
    );
    let dir = &args.data.data;
    anyhow::ensure!(
        dir.join(callrecords_store_sqlite::DB_FILE).exists(),
        "no store in {}",
        dir.display()
    );
    let store = SqliteStore::open(dir)
        .with_context(|| format!("opening the store in {}", dir.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let summary = rt
        .block_on(store.backup_to(&args.out))
        .context("backup failed")?;
    println!("backup written: {}", describe(&summary));
    Ok(ExitCode::SUCCESS)
}

pub fn run_restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.data.database_url.is_none(),
        "restore puts back an embedded SQLite store; for PostgreSQL use pg_restore (docs/backup.md)"
    );
    let done = restore(&args.file, &args.data.data, args.replace).context("restore failed")?;
    if let Some(aside) = &done.moved_aside {
        println!("the store that was there is kept as {}", aside.display());
    }
    println!(
        "restored into {}: {}",
        args.data.data.display(),
        describe(&done.summary)
    );
    Ok(ExitCode::SUCCESS)
}
