//! `callrecords validate`.

use std::path::PathBuf;
use std::process::ExitCode;

use callrecords_model::reader::{RecordKind, collect_inputs, prepare, read_items};

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What the files hold (a page's `@odata.context` overrides it): callRecord, pstnCall, directRoutingCall,
    /// smsLog, pstnBlockedUser, pstnOnlineMeetingDialout.
    #[arg(long, default_value = "callRecord")]
    kind: RecordKind,
    /// Also print warnings (unknown enum members, nulls for non-nullable properties, …).
    #[arg(long)]
    warnings: bool,
    /// Files, folders (recursively) or `-` for stdin.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let inputs = collect_inputs(&args.paths)?;
    let (mut total, mut invalid, mut warned) = (0u64, 0u64, 0u64);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    use std::io::Write;
    for input in &inputs {
        let reader = input.open()?;
        read_items(&input.name(), reader, args.kind, &mut |item| {
            total += 1;
            let location = item.location.clone();
            let result = match item.text {
                Err(e) => Err(vec![e]),
                Ok(text) => prepare(item.kind, text)
                    .map_err(|r| r.issues.iter().map(ToString::to_string).collect()),
            };
            match result {
                Err(problems) => {
                    invalid += 1;
                    for p in problems {
                        let _ = writeln!(out, "{location}: {p}");
                    }
                }
                Ok(p) if !p.warnings.is_empty() => {
                    warned += 1;
                    if args.warnings {
                        for w in p.warnings {
                            let _ = writeln!(out, "{location}: warning: {w}");
                        }
                    }
                }
                Ok(_) => {}
            }
        })?;
    }
    writeln!(
        out,
        "{total} records in {} file(s): {} valid, {invalid} invalid, {warned} with warnings",
        inputs.len(),
        total - invalid
    )?;
    out.flush()?;
    Ok(if invalid > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
