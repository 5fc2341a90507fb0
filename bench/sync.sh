#!/usr/bin/env bash
# Sweep throughput of `callrecords sync` (issue 10), release build, against `serve --fake` on loopback.
#
#   bash bench/sync.sh           ~1,200 records (rate 4 / fake minute, 300 fake minutes), REPS=3
#   bash bench/sync.sh --smoke   ~60 records, REPS=1
#   BENCH_SYNC_RATE=2 BENCH_SYNC_MINUTES=300 BENCH_SYNC_REPS=3 bash bench/sync.sh   (other sizes)
#
# 1. `--fake --no-throttle` upstream: median of REPS `sync --once` runs, each into a fresh store, at
#    --concurrency 1, 4 and 8: records/s, MB/s (response bodies), and where the time goes (the report's
#    summed HTTP, wait and store seconds).
# 2. Baseline in the same run: the same records exported from the upstream's store and stored by
#    `callrecords import` into a fresh store (the storing cost alone), median of REPS.
# 3. Throttling on (the fake's default §12 limits), default budgets: one sweep; the 429 count must be 0.
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=0; [ "${1:-}" = "--smoke" ] && SMOKE=1
if [ "$SMOKE" = 1 ]; then RATE=1; MINUTES=60; REPS=1; else RATE=${BENCH_SYNC_RATE:-4}; MINUTES=${BENCH_SYNC_MINUTES:-300}; REPS=${BENCH_SYNC_REPS:-3}; fi
cargo build --release --locked -p callrecords-cli >/dev/null
B=$PWD/target/release/callrecords
D=$PWD/bench/data/sync; rm -rf "$D"; mkdir -p "$D"; OUT=$PWD/bench/out; mkdir -p "$OUT"
TENANT=dc368399-474c-4d40-900c-6265431fd81f
START=2026-01-05T00:00:00Z
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fake() { # $1 = data dir, $2.. extra flags; prints the port
  local p; p=$(port)
  "$B" serve --fake --speed 0 --rate $RATE --start $START --seed 1 --data "$1" --listen 127.0.0.1:$p "${@:2}" \
    >"$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/fake/state" >/dev/null && break; sleep 0.1; done
  curl -sf -X POST "http://127.0.0.1:$p/fake/advance?minutes=$MINUTES" >/dev/null
  echo $p
}
UNTIL=$(date -u -d "$START + $MINUTES minutes" +%Y-%m-%dT%H:%M:%SZ)
sync_run() { # $1 port, $2 data dir, $3 concurrency -> report JSON on stdout
  CALLRECORDS_CLIENT_SECRET=fake-secret "$B" sync --once --json --tenant $TENANT --client-id fake-client \
    --authority http://127.0.0.1:$1 --graph-url http://127.0.0.1:$1 --scope https://graph.microsoft.com/.default \
    --since 2026-01-04 --until "$UNTIL" --concurrency "$3" --data "$2" 2>>"$OUT/sync-stderr.log" | tail -1
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
P=$(fake "$D/up" --no-throttle)
echo "upstream (no throttle): $(curl -s http://127.0.0.1:$P/fake/state)"
for c in 1 4 8; do
  : >"$OUT/sync-c$c.txt"
  for r in $(seq $REPS); do
    t0=$(date +%s.%N)
    rep=$(sync_run $P "$D/down-c$c-$r" $c)
    t1=$(date +%s.%N)
    echo "$rep" | python3 -c "
import sys, json; r = json.load(sys.stdin); wall = $t1 - $t0
assert not r['errors'], r['errors']
print(wall, r['stored'], r['bytes'], r['requests'], r['httpSecs'], r['waitedSecs'], r['storeSecs'], r['throttled'])
" >>"$OUT/sync-c$c.txt"
  done
  python3 - "$OUT/sync-c$c.txt" $c <<'PY'
import sys, statistics
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
rows.sort(key=lambda r: r[0]); m = rows[len(rows) // 2]
wall, stored, bytes_, req, http, wait, store, thr = m
print(f"sync --concurrency {sys.argv[2]}: median {wall:.2f} s for {stored:.0f} records ({req:.0f} requests): "
      f"{stored / wall:.0f} records/s, {bytes_ / 1e6 / wall:.1f} MB/s; summed over requests: HTTP {http:.1f} s, "
      f"waiting {wait:.1f} s; storing {store:.1f} s; 429s {thr:.0f}")
PY
done

# Baseline: the same records, stored by import from a file (the storing cost alone).
"$B" export --what records --format ndjson --data "$D/up" -o "$D/records.ndjson" 2>/dev/null
: >"$OUT/import.txt"
for r in $(seq $REPS); do
  t0=$(date +%s.%N)
  "$B" import --tenant $TENANT --data "$D/imp-$r" "$D/records.ndjson" >/dev/null 2>&1
  t1=$(date +%s.%N)
  python3 -c "print($t1 - $t0)" >>"$OUT/import.txt"
done
n=$(wc -l <"$D/records.ndjson"); mb=$(du -m "$D/records.ndjson" | cut -f1)
imp=$(median <"$OUT/import.txt")
python3 -c "print(f'baseline import of the same {$n} records ({$mb} MB NDJSON): median {$imp:.2f} s, {$n / $imp:.0f} records/s')"

# Throttling on, default budgets.
P2=$(fake "$D/up-throttled")
rep=$(sync_run $P2 "$D/down-throttled" 4)
echo "$rep" | python3 -c "
import sys, json; r = json.load(sys.stdin)
print(f\"throttling on, default budgets: {r['stored']} records, {r['requests']} requests, {r['throttled']} throttled (429), \"
      f\"{r['unavailable']} 503/504, {r['retries']} retries, {len(r['errors'])} errors, waited {r['waitedSecs']:.1f} s\")
"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
