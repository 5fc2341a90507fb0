//! `callrecords gen`.

use std::io::Write;
use std::process::ExitCode;

use callrecords_model::reader::RecordKind;
use callrecords_synth::{GenConfig, Scale};

/// Arguments of `gen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Lines to write (later versions of records count as lines).
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// First day of the generated period (UTC date or date-time).
    #[arg(long)]
    start: Option<String>,
    /// Length of the period in days.
    #[arg(long)]
    days: Option<u32>,
    /// Tenant id written into identities.
    #[arg(long)]
    tenant: Option<String>,
    /// callRecord (default) or a log-row kind: pstnCall, directRoutingCall, smsLog, pstnBlockedUser,
    /// pstnOnlineMeetingDialout.
    #[arg(long, default_value = "callRecord")]
    kind: RecordKind,
    /// Small records (mostly peer-to-peer, no big meetings), for stores of millions of records.
    #[arg(long)]
    small: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut cfg = GenConfig {
        seed: args.seed,
        ..GenConfig::default()
    };
    if let Some(start) = &args.start {
        cfg.start =
            jiff::Timestamp::from_microsecond(callrecords_odata::parse_datetime_literal(start)?)?;
    }
    if let Some(days) = args.days {
        cfg.days = days;
    }
    if let Some(t) = args.tenant {
        cfg.tenant_id = t;
    }
    if args.small {
        cfg.scale = Scale::Small;
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let result = match args.kind {
        RecordKind::CallRecord => callrecords_synth::write_call_records(&cfg, args.count, &mut out),
        RecordKind::Log(kind) => {
            callrecords_synth::write_log_rows(&cfg, kind, args.count, &mut out)
        }
    };
    match result.and_then(|_| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // A closed pipe (`callrecords gen | head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.into()),
    }
}
