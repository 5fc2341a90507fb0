#![forbid(unsafe_code)]
//! Baseline for the ingest benchmarks: parse every line of an NDJSON file into `serde_json::Value` on one
//! thread, and print `records bytes seconds records_per_s mb_per_s` (MB = 10^6 bytes).
//!
//! The whole file is read first so the figure is parsing only, not disk.

use std::io::Write;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: json-baseline FILE.ndjson");
        std::process::exit(2);
    };
    let data = std::fs::read(&path)?;
    let start = Instant::now();
    let mut records: u64 = 0;
    for line in data.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(line)?;
        std::hint::black_box(&v);
        records += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let bytes = data.len() as f64;
    writeln!(
        std::io::stdout(),
        "{records} {} {secs:.6} {:.1} {:.3}",
        data.len(),
        records as f64 / secs,
        bytes / secs / 1e6
    )?;
    Ok(())
}
