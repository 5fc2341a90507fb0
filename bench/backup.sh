#!/usr/bin/env bash
# Timing of `callrecords backup` (issue 16) on a store of N records (default 100,000, `gen --small`).
#
#   bash bench/backup.sh              N=100000, 3 timed backups of the idle store, then 1 while serve answers
#   knobs: BB_N (records), BB_REPS (default 3), BB_NO_BUILD=1 (use the binary as built),
#          BB_FULL=1 (default-size records instead of --small), CARGO_TARGET_DIR (default target-bench/)
#
# Prints the store size, the import time, each backup's wall time and the median, and the machine load.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${BB_N:-100000}
REPS=${BB_REPS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}
CR=$CARGO_TARGET_DIR/release/callrecords
DATA=${BENCH_DATA:-$ROOT/bench/data}/backup
OUT=${BENCH_OUT:-$ROOT/bench/out}/backup
log() { echo "== $*" >&2; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

if [ "${BB_NO_BUILD:-0}" != 1 ]; then
  log "building (release) into $CARGO_TARGET_DIR"
  cargo build --release --locked -p callrecords-cli
fi
SIZE_FLAG=--small
[ "${BB_FULL:-0}" = 1 ] && SIZE_FLAG=

rm -rf "$DATA" "$OUT"; mkdir -p "$DATA" "$OUT"
log "date $(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc)"
log "generating $N records ($SIZE_FLAG)"
"$CR" gen --count "$N" $SIZE_FLAG --seed 16 >"$OUT/corpus.jsonl"
t0=$(now)
"$CR" import --data "$DATA/store" "$OUT/corpus.jsonl" 2>"$OUT/import.log"
t1=$(now)
log "import: $(tail -1 "$OUT/import.log") (wall $(echo "$t1 - $t0" | bc) s)"
du -b "$DATA/store"/callrecords.db* | sed 's/^/   /' >&2

: >"$OUT/times"
for i in $(seq 1 "$REPS"); do
  rm -f "$OUT/b$i.db"
  load=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(now)
  "$CR" backup --data "$DATA/store" --out "$OUT/b$i.db" >"$OUT/b$i.out"
  t1=$(now)
  s=$(echo "$t1 - $t0" | bc)
  echo "$s" >>"$OUT/times"
  log "backup $i (idle store): ${s}s, load1 $load: $(cat "$OUT/b$i.out")"
  rm -f "$OUT/b$i.db"
done
log "median of $REPS idle backups: $(median <"$OUT/times") s"

# One more while serve runs and a reader keeps querying it.
PORT=$((20000 + RANDOM % 20000))
"$CR" serve --data "$DATA/store" --listen "127.0.0.1:$PORT" >"$OUT/serve.log" 2>&1 &
SPID=$!
trap 'kill $SPID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
( while kill -0 $SPID 2>/dev/null; do curl -sf "http://127.0.0.1:$PORT/v1.0/communications/callRecords?\$top=50" >/dev/null || true; done ) &
RPID=$!
t0=$(now)
"$CR" backup --data "$DATA/store" --out "$OUT/live.db" >"$OUT/live.out"
t1=$(now)
kill $RPID 2>/dev/null || true
log "backup while serve answers reads: $(echo "$t1 - $t0" | bc)s: $(cat "$OUT/live.out")"
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
