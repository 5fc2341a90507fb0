#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's coverage instrumentation (the flags cargo-fuzz passes; stable
# rustc, no sanitizer: the code under test forbids `unsafe`, so a bug shows as a panic, which libFuzzer
# reports as a crash) and runs each for RUNS executions (default 100000) from its committed corpus.
# Exits non-zero on the first crash; the crashing input is left in fuzz/artifacts/TARGET/.
#   bash fuzz/run.sh                 # every target
#   RUNS=1000000 bash fuzz/run.sh odata_query
set -euo pipefail
cd "$(dirname "$0")"
RUNS=${RUNS:-100000}
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(odata_query file_reader ingest_body)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-../target/fuzz}
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps the instrumentation out of build scripts and proc macros (as cargo-fuzz does).
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --locked -q --bins --target "$host"
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  work=$(mktemp -d)
  # New inputs go to a scratch directory; the committed corpus is only read.
  "$CARGO_TARGET_DIR/$host/release/$t" "$work" "corpus/$t" -runs="$RUNS" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="artifacts/$t/" -print_final_stats=1 2>"$work.log" || {
    tail -40 "$work.log"; echo "fuzz: $t crashed" >&2; exit 1; }
  echo "fuzz $t: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work.log" | grep -o '[0-9]*$') executions, 0 crashes"
  rm -rf "$work" "$work.log"
done
