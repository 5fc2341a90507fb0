#!/usr/bin/env bash
# Benchmarks of the call-quality tables (issue 11):
#   (a) import with the stream table kept vs without it        goal <= 1.25x
#   (b) GET /analytics/v1/summary?groupBy=day over N records vs DuckDB over the Parquet export of the
#       same store (same aggregates, numbers cross-checked)      goal <= 2x
#   (c) export throughput per format (rows/s, MB/s)
#
#   bash bench/quality.sh            full: (a) on 20,000 records, (b)/(c) on 100,000 (gen --small)
#   bash bench/quality.sh --smoke    tiny corpus, every step, judges no goal
#   knobs: QB_IMPORT_N, QB_STORE_N, QB_REPS, QB_EXPORT_REPS (default QB_REPS), QB_NO_BUILD=1 (use the
#   binary as built), QB_CR (the binary to measure, e.g. an older build), CARGO_TARGET_DIR
#   (default target-bench/)
#
# "Stream table off" is `callrecords import --no-quality`: import writes the records and the change feed
# and derives nothing (a binary without that flag derived nothing at import: plain `import`). "On" is
# plain `import` (which derives the quality rows itself and writes them in its own transactions while
# the deriver is caught up) followed by `callrecords quality`, which first drains whatever is left of
# the feed exactly as `serve`'s background deriver does. Every figure is the median of QB_REPS runs, the
# two sides run alternately.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1
if [ "$SMOKE" = 1 ]; then
  IMPORT_N=${QB_IMPORT_N:-500}; STORE_N=${QB_STORE_N:-1000}; REPS=${QB_REPS:-3}
else
  IMPORT_N=${QB_IMPORT_N:-20000}; STORE_N=${QB_STORE_N:-100000}; REPS=${QB_REPS:-3}
fi
SEED=7
EXPORT_REPS=${QB_EXPORT_REPS:-$REPS}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}
CR=${QB_CR:-$CARGO_TARGET_DIR/release/callrecords}
DATA=${BENCH_DATA:-$ROOT/bench/data}/quality
OUT=${BENCH_OUT:-$ROOT/bench/out}/quality
RES=$OUT/results.tsv
mkdir -p "$DATA" "$OUT"
: >"$RES"
log() { echo "== $*" >&2; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RES"; echo "$1 = $2 $3" >&2; }

if [ "${QB_NO_BUILD:-0}" != 1 ]; then
  log "building release binary"
  cargo build --release --locked -p callrecords-cli 2>&1 | tail -1 >&2
fi

VENV=$ROOT/target/parquet-venv
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import duckdb" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "pyarrow==26.0.1" "duckdb==2.0.1"
fi

log "machine: nproc=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- (a) import, stream table off / on
NO_QUALITY=()
"$CR" import --help | grep -q -- '--no-quality' && NO_QUALITY=(--no-quality)
"$CR" gen --count "$IMPORT_N" --seed "$SEED" --small >"$DATA/import.ndjson"
OFF=(); ON=()
for i in $(seq "$REPS"); do
  rm -rf "$DATA/off"; s=$(now)
  "$CR" import "${NO_QUALITY[@]}" --data "$DATA/off" "$DATA/import.ndjson" 2>/dev/null
  OFF+=("$(echo "$(now) - $s" | bc)")
  rm -rf "$DATA/on"; s=$(now)
  "$CR" import --data "$DATA/on" "$DATA/import.ndjson" 2>/dev/null
  "$CR" quality --data "$DATA/on" --format json >/dev/null
  ON+=("$(echo "$(now) - $s" | bc)")
done
off=$(printf '%s\n' "${OFF[@]}" | median); on=$(printf '%s\n' "${ON[@]}" | median)
record import_off_s "$off" "runs: ${OFF[*]}"
record import_on_s "$on" "runs: ${ON[*]}"
record import_on_off_ratio "$(echo "scale=2; $on / $off" | bc)" "goal <= 1.25"
record import_records "$IMPORT_N" "records/s off $(echo "$IMPORT_N / $off" | bc), on $(echo "$IMPORT_N / $on" | bc)"

# ---------------------------------------------------------------- (b) summary?groupBy=day vs DuckDB
STORE=$DATA/store
rm -rf "$STORE"
"$CR" gen --count "$STORE_N" --seed "$SEED" --small >"$DATA/store.ndjson"
"$CR" import --data "$STORE" "$DATA/store.ndjson" 2>&1 | tail -1 >&2
s=$(now); "$CR" quality --data "$STORE" --format json >/dev/null
record derive_all_s "$(echo "$(now) - $s" | bc)" "derivation of $STORE_N records from an empty quality table"

# (c) export throughput, per format (also produces the Parquet files for DuckDB)
for fmt in csv ndjson parquet; do
  T=()
  for i in $(seq "$EXPORT_REPS"); do
    s=$(now)
    "$CR" export --data "$STORE" --what streams --format "$fmt" -o "$OUT/streams.$fmt" 2>"$OUT/export.err"
    T+=("$(echo "$(now) - $s" | bc)")
  done
  t=$(printf '%s\n' "${T[@]}" | median)
  rows=$(grep -o '[0-9]* streams' "$OUT/export.err" | cut -d' ' -f1)
  bytes=$(stat -c %s "$OUT/streams.$fmt")
  record "export_streams_${fmt}_s" "$t" "rows=$rows bytes=$bytes rows/s=$(echo "$rows / $t" | bc) MB/s=$(echo "scale=1; $bytes / 1000000 / $t" | bc) runs: ${T[*]}"
done
"$CR" export --data "$STORE" --what sessions --format parquet -o "$OUT/sessions.parquet" 2>/dev/null

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$CR" serve --data "$STORE" --listen "127.0.0.1:$PORT" 2>"$OUT/serve.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
URL="http://127.0.0.1:$PORT/analytics/v1/summary?groupBy=day"
curl -sf "$URL" >"$OUT/summary-day.json"   # warm-up (and the answer DuckDB is checked against)
OURS=(); DUCK=()
for i in $(seq "$REPS"); do
  OURS+=("$(curl -sf -o /dev/null -w '%{time_total}' "$URL" | awk '{print $1 * 1000}')")
  DUCK+=("$("$VENV/bin/python" bench/quality_duckdb.py "$OUT/streams.parquet" "$OUT/sessions.parquet" \
            "$OUT/summary-day.json" 5 | awk '/^duckdb_ms/ {print $2}')")
done
"$VENV/bin/python" bench/quality_duckdb.py "$OUT/streams.parquet" "$OUT/sessions.parquet" \
  "$OUT/summary-day.json" 1 | tail -1 >&2
ours=$(printf '%s\n' "${OURS[@]}" | median); duck=$(printf '%s\n' "${DUCK[@]}" | median)
record summary_day_ms "$ours" "runs: ${OURS[*]} (curl time_total, warm server)"
record duckdb_day_ms "$duck" "runs: ${DUCK[*]} (median of 5 warm queries each)"
record summary_duckdb_ratio "$(echo "scale=2; $ours / $duck" | bc)" "goal <= 2"
record store_records "$STORE_N" "groups=$(python3 -c "import json,sys; print(len(json.load(open('$OUT/summary-day.json'))['groups']))")"
log "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
log "results in $RES"
