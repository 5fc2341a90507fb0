#!/usr/bin/env bash
# The dashboard (issue 12): first meaningful paint of the overview over N stored records (`gen --small`,
# default 100,000) in Debian's chromium, and the gzipped size of its JS + CSS.
#
#   bash bench/dashboard.sh              100,000 records, 7 fresh-context loads
#   bash bench/dashboard.sh --smoke      2,000 records, 3 loads (seconds; judges no goal)
#
# Needs chromium and tests/browser/node_modules (bash tests/browser/run.sh installs both). Data in
# bench/data/dashboard-N (kept between runs: the import is the slow part), output in bench/out/.
# Knobs: DB_NO_BUILD=1 (use the binary as built), DB_DATA=DIR (an existing store instead), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
N=100000; REPS=7; SMOKE=0
[ "${1:-}" = "--smoke" ] && { N=2000; REPS=3; SMOKE=1; }
[ -d tests/browser/node_modules/playwright-core ] || (cd tests/browser && npm ci --no-audit --no-fund --silent)
if [ "$SMOKE" = 1 ]; then
  # A smoke run judges no goal: the debug binary the test suites already built (no release build in CI).
  bin="$(bash tests/build-bins.sh)/callrecords"
else
  # The same target directory and package set as bench/run.sh: the two share one release build
  # (DB_NO_BUILD=1: use the binary already there).
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target-bench}
  [ "${DB_NO_BUILD:-0}" = 1 ] || cargo build --release --locked -q -p callrecords-cli -p static-server -p json-baseline
  bin=$CARGO_TARGET_DIR/release/callrecords
fi
# DB_DATA: an existing store to measure (not imported here).
data="${DB_DATA:-bench/data/dashboard-$N}"
mkdir -p bench/out bench/data
if [ -z "${DB_DATA:-}" ] && [ ! -f "$data/.complete" ]; then
  rm -rf "$data"
  "$bin" gen --small --count "$N" --seed 12 | "$bin" import --data "$data" - >/dev/null
  touch "$data/.complete"
fi
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$bin" serve --data "$data" --listen "127.0.0.1:$port" 2>bench/out/dashboard-server.log &
pid=$!
trap 'kill $pid 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 1 200); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
# The quality deriver catches up on the first analytics request; the paint is measured after it.
t0=$(date +%s.%N); curl -fsS "http://127.0.0.1:$port/analytics/v1/summary" >/dev/null; t1=$(date +%s.%N)
records=$(curl -fsS "http://127.0.0.1:$port/v1.0/communications/callRecords?\$count=true&\$top=1&\$select=id" | python3 -c 'import sys,json; print(json.load(sys.stdin)["@odata.count"])')
paint=$(CALLRECORDS_URL="http://127.0.0.1:$port" REPS=$REPS node bench/dashboard-paint.mjs)
gz=0
for f in $(find crates/dashboard/assets -name '*.js' -o -name '*.css'); do gz=$((gz + $(gzip -c -6 "$f" | wc -c))); done
raw=$(find crates/dashboard/assets \( -name '*.js' -o -name '*.css' \) -exec cat {} + | wc -c)
echo "{\"records\":$records,\"derive_catch_up_s\":$(python3 -c "print(round($t1 - $t0, 2))"),\"paint\":$paint,\"js_css_bytes\":$raw,\"js_css_gzip_bytes\":$gz,\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" | tee bench/out/dashboard.json
