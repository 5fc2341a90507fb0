//! `cargo run --release -p callrecords-synth --example gen -- COUNT [SEED] [small] > out.ndjson`
//! Prints generation speed on stderr.
use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let small = args.next().is_some_and(|a| a == "small");
    let cfg = callrecords_synth::GenConfig {
        seed,
        scale: if small {
            callrecords_synth::Scale::Small
        } else {
            callrecords_synth::Scale::Full
        },
        ..Default::default()
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let t = std::time::Instant::now();
    let stats = callrecords_synth::write_call_records(&cfg, count, &mut out)?;
    out.flush()?;
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "{stats:?}\n{:.0} lines/s, {:.1} MB/s, {:.2} s",
        stats.lines as f64 / secs,
        stats.bytes as f64 / secs / 1e6,
        secs
    );
    Ok(())
}
