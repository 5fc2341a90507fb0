#!/usr/bin/env bash
# Before/after figures of two callrecords binaries on the same machine in the same run (e.g. the last release
# and the working tree), so a change can be judged against noise:
#
#   bash bench/compare-binaries.sh OLD_BINARY NEW_BINARY [RECORDS]
#
# - import: RECORDS generated records (default 3,000, seed 7) into a fresh store, 3 runs per binary,
#   alternating old/new; median seconds and records/s;
# - reads: each binary serves its own store; wrk (-c 8 -t 2 -d 5s, 3 runs alternating) on
#   GET …/{id}?$expand=sessions($expand=segments) for ONE id (cached steady state) and ROTATING over every id
#   (each request a different record: what a reader who walks the store sees, the response cache cannot help).
# Each binary gets its own data directory (a new schema cannot be opened by an old binary). Loopback only.
set -euo pipefail
OLD=$1 NEW=$2 N=${3:-3000}
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
"$NEW" gen --count "$N" --seed 7 > "$work/gen.ndjson"
python3 -c "import json,sys; [print(json.loads(l)['id']) for l in open(sys.argv[1])]" "$work/gen.ndjson" | sort -u > "$work/ids"
median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
declare -A imp
for r in 1 2 3; do
  for side in old new; do
    bin=$OLD; [ $side = new ] && bin=$NEW
    rm -rf "$work/data-$side"
    s=$(date +%s.%N); "$bin" import --data "$work/data-$side" "$work/gen.ndjson" >/dev/null 2>&1; e=$(date +%s.%N)
    imp[$side]+="$(python3 -c "print($e-$s)") "
  done
done
for side in old new; do
  m=$(median ${imp[$side]}); printf 'import %s: median %.2f s, %.0f records/s (runs: %s)\n' "$side" "$m" "$(python3 -c "print($N/$m)")" "${imp[$side]}"
done
cat > "$work/rotate.lua" <<'LUA'
local ids, i = {}, 0
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
request = function()
  i = i % #ids + 1
  return wrk.format("GET", "/v1.0/communications/callRecords/" .. ids[i] .. "?%24expand=sessions(%24expand%3Dsegments)")
end
LUA
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A P
for side in old new; do
  bin=$OLD; [ $side = new ] && bin=$NEW
  P[$side]=$(port)
  "$bin" serve --data "$work/data-$side" --listen "127.0.0.1:${P[$side]}" 2>/dev/null &
done
sleep 2
one=$(head -n 1 "$work/ids")
rps() { grep 'Requests/sec' | awk '{print $2}'; }
p99() { grep -E '^ +99%' | awk '{print $2}'; }
for mode in cached rotating; do
  declare -A R=() Q=()
  for r in 1 2 3; do
    for side in old new; do
      url="http://127.0.0.1:${P[$side]}/v1.0/communications/callRecords/$one?%24expand=sessions(%24expand%3Dsegments)"
      if [ $mode = rotating ]; then out=$(IDS="$work/ids" wrk -c 8 -t 2 -d 5s --latency -s "$work/rotate.lua" "http://127.0.0.1:${P[$side]}")
      else out=$(wrk -c 8 -t 2 -d 5s --latency "$url"); fi
      if grep -q Non-2xx <<<"$out"; then echo "non-2xx from $side" >&2; echo "$out" >&2; exit 1; fi
      R[$side]+="$(rps <<<"$out") "; Q[$side]+="$(p99 <<<"$out") "
    done
  done
  for side in old new; do
    printf 'GET-with-expand %s %s: median %.0f req/s (runs: %s; p99s: %s)\n' "$mode" "$side" "$(median ${R[$side]})" "${R[$side]}" "${Q[$side]}"
  done
done
