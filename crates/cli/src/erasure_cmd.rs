//! `callrecords purge --record ID` and `callrecords redact --user ID`: erasure requests against the store
//! (`callrecords_api::erasure`), safe while `serve` runs on the same data. See `docs/erasure.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use callrecords_store::ReadScope;
use callrecords_store::erasure::ErasureReport;

use crate::DataArgs;

/// Arguments of `purge`.
#[derive(Debug, clap::Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The call record id to erase: every version, session, participant, derived and outbox row of it.
    #[arg(long = "record")]
    record: String,
    /// Only this tenant's record of that id (default: every tenant's).
    #[arg(long)]
    tenant: Option<String>,
    /// Who asks, for the audit entry (default: $USER, else `cli`).
    #[arg(long)]
    actor: Option<String>,
}

/// Arguments of `redact`.
#[derive(Debug, clap::Args)]
pub struct RedactArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The user's identity id (Entra object id) to replace by a pseudonym everywhere.
    #[arg(long = "user")]
    user: String,
    /// Only this tenant's data (default: every tenant's).
    #[arg(long)]
    tenant: Option<String>,
    /// A file holding the secret the pseudonyms are derived with (keep it, and use the same one for every
    /// redaction: the same user then gets the same pseudonym). Never stored in the database.
    #[arg(long = "pseudonym-key-file")]
    pseudonym_key_file: PathBuf,
    /// Who asks, for the audit entry (default: $USER, else `cli`).
    #[arg(long)]
    actor: Option<String>,
}

fn actor(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "cli".into())
}

fn scope(tenant: Option<String>) -> ReadScope {
    match tenant {
        Some(t) => ReadScope::Tenant(t),
        None => ReadScope::All,
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn print(what: &str, r: &ErasureReport) {
    println!(
        "{what}: {} records, {} stored versions, {} log rows",
        r.records.len(),
        r.versions,
        r.log_rows
    );
}

pub fn run_purge(args: PurgeArgs) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async move {
        let store = args.data.open().await?;
        let r = callrecords_api::erasure::purge(
            &*store,
            &scope(args.tenant),
            &args.record,
            &actor(args.actor),
        )
        .await
        .context("purge failed")?;
        print("purged", &r);
        Ok(ExitCode::SUCCESS)
    })
}

pub fn run_redact(args: RedactArgs) -> anyhow::Result<ExitCode> {
    let key = callrecords_api::erasure::PseudonymKey::from_file(&args.pseudonym_key_file)
        .map_err(anyhow::Error::msg)?
        .0;
    let rt = runtime()?;
    rt.block_on(async move {
        let store = args.data.open().await?;
        let r = callrecords_api::erasure::redact(
            &*store,
            &scope(args.tenant),
            &args.user,
            &key,
            &actor(args.actor),
        )
        .await
        .context("redaction failed")?;
        print("redacted", &r);
        Ok(ExitCode::SUCCESS)
    })
}
