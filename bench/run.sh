#!/usr/bin/env bash
# Benchmarks of callrecords (issue 5): ingest, reads against a static baseline, big meeting, growth.
#
#   bash bench/run.sh            full suite (minutes)
#   bash bench/run.sh --smoke    tiny corpus, seconds, every step; prints the table, judges no goal
#   bash bench/run.sh --growth   also the growth series at 10k / 100k / 1M stored records (long)
#   bash bench/run.sh --growth-only   only the growth series (BENCH_GROWTH_POINTS="10000 100000" to shorten)
#   bash bench/run.sh --ingest-only   only ingest and peak RSS (combine with --smoke for a quick check)
#   bash bench/run.sh --reads-only    only the reads, the cold reads and the big meeting (add --growth for the growth series)
#
# The PostgreSQL peer (bench/pg-peer.sh: raw records as jsonb, COPY, pgbench) runs beside the cold reads when
# BENCH_PG_URL names a database, or when Debian's PostgreSQL is installed (a throw-away cluster is started).
#
# Data goes to bench/data/, outputs to bench/out/ (both git-ignored). Servers listen on free loopback
# ports and are killed on exit. Every figure is the median of REPS runs; ratios are against a baseline
# measured in the same run, interleaved with the measured side.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SMOKE=0
GROWTH=0
GROWTH_ONLY=0
READS_ONLY=0
INGEST_ONLY=0
for a in "$@"; do
  case "$a" in
    --smoke) SMOKE=1 ;;
    --growth) GROWTH=1 ;;
    --growth-only) GROWTH=1; GROWTH_ONLY=1 ;;
    --reads-only) READS_ONLY=1 ;;
    --ingest-only) INGEST_ONLY=1 ;;
    *) echo "usage: bench/run.sh [--smoke] [--growth] [--growth-only] [--reads-only] [--ingest-only]" >&2; exit 2 ;;
  esac
done

if [ "$SMOKE" = 1 ]; then
  REPS=3; DUR=1s; INGEST_N=20; SMALL_N=300; READ_N=100; COLD_N=100; RSS_A=300; RSS_B=1000
  GROWTH_POINTS="100 300 1000"; CHUNK=20; BIG_SESSIONS=500
else
  REPS=3; DUR=${BENCH_DURATION:-5s}; INGEST_N=3000; SMALL_N=30000; READ_N=10000; COLD_N=5000; RSS_A=100000; RSS_B=1000000
  GROWTH_POINTS=${BENCH_GROWTH_POINTS:-"10000 100000 1000000"}; CHUNK=1000; BIG_SESSIONS=5000
fi
SEED=7

DATA=${BENCH_DATA:-$ROOT/bench/data}
OUT=${BENCH_OUT:-$ROOT/bench/out}
RES=$OUT/results.tsv
mkdir -p "$DATA" "$OUT"
: >"$RES"

log() { echo "== $*" >&2; }

# ---------------------------------------------------------------- tools
need_apt() {
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
    log "installing $2"
    if command -v apt-get >/dev/null 2>&1; then
      local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
      $sudo apt-get install -y "$2" >/dev/null 2>&1 || { $sudo apt-get update >/dev/null 2>&1 && $sudo apt-get install -y "$2" >/dev/null; }
    fi
    command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || { echo "bench: $1 missing (apt package $2)" >&2; exit 1; }
  fi
}
need_apt wrk wrk
need_apt /usr/bin/time time
need_apt curl curl
need_apt python3 python3

if [ "$SMOKE" = 1 ]; then
  # The smoke run checks that every step still works, not speed: the debug binaries the test suites
  # already built do (CI then makes no release build at all).
  log "building debug binaries (smoke run)"
  BIN=$(bash tests/build-bins.sh)
else
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}
  BIN=$CARGO_TARGET_DIR/release
  log "building release binaries"
  cargo build --release --locked -p callrecords-cli -p static-server -p json-baseline 2>&1 | tail -1 >&2
fi
CR=$BIN/callrecords

# ---------------------------------------------------------------- servers
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_up URL PID: bounded wait (20 s) for the server to answer.
wait_up() {
  local i
  for i in $(seq 1 200); do
    curl -s -o /dev/null "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "bench: server died (see $OUT/*.log)" >&2; exit 1; }
    sleep 0.1
  done
  echo "bench: server on $1 did not come up" >&2; exit 1
}

SERVER_PID=""
start_real() { # DATA_DIR [SERVE_ARGS...] -> sets PORT, SERVER_PID
  local dir=$1; shift
  PORT=$(free_port)
  "$CR" serve --data "$dir" --listen "127.0.0.1:$PORT" "$@" >"$OUT/serve.log" 2>&1 &
  SERVER_PID=$!; PIDS+=("$SERVER_PID")
  wait_up "http://127.0.0.1:$PORT/v1.0/communications/callRecords?\$top=1" "$SERVER_PID"
}
start_static() { # BODIES_DIR -> sets SPORT, STATIC_PID
  SPORT=$(free_port)
  "$BIN/static-server" "$1" "127.0.0.1:$SPORT" >"$OUT/static.log" 2>&1 &
  STATIC_PID=$!; PIDS+=("$STATIC_PID")
  wait_up "http://127.0.0.1:$SPORT/none" "$STATIC_PID"
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

now() { date +%s.%N; }
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(statistics.median(v))' "$@"; }
# result SECTION NAME METRIC VALUE [NOTE]
result() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" >>"$RES"; }

# ---------------------------------------------------------------- ingest
# gen_file N FILE [--small]
gen_file() {
  local n=$1 f=$2; shift 2
  [ -s "$f" ] && [ "$(wc -l <"$f")" = "$n" ] || "$CR" gen --count "$n" --seed "$SEED" "$@" >"$f"
}

# ingest_suite LABEL FILE
ingest_suite() {
  local label=$1 f=$2 n bytes r t0 t1 base_r=() base_m=() imp=() post=() dir
  n=$(wc -l <"$f"); bytes=$(stat -c %s "$f")
  log "ingest ($label): $n records, $bytes bytes; $REPS runs each"
  rm -rf "$DATA/chunks"; mkdir -p "$DATA/chunks"
  split -l "$CHUNK" -d -a 5 "$f" "$DATA/chunks/c"
  for r in $(seq 1 "$REPS"); do
    read -r _ _ secs _ _ < <("$BIN/json-baseline" "$f")
    base_r+=("$secs")
    # import from the file into a fresh store
    dir=$DATA/ingest-import; rm -rf "$dir"
    t0=$(now); "$CR" import --data "$dir" "$f" >/dev/null 2>"$OUT/import.log"; t1=$(now)
    imp+=("$(python3 -c "print($t1-$t0)")")
    grep -q "stored $n" "$OUT/import.log" || { echo "bench: import did not store $n records:" >&2; cat "$OUT/import.log" >&2; exit 1; }
    # POST /ingest/callRecords, CHUNK lines per request, one connection
    dir=$DATA/ingest-post; rm -rf "$dir"
    start_real "$dir"
    t0=$(now)
    for c in "$DATA"/chunks/c*; do
      code=$(curl -s -o "$OUT/post.json" -w '%{http_code}' -X POST -H 'Content-Type: application/x-ndjson' \
        --data-binary "@$c" "http://127.0.0.1:$PORT/ingest/callRecords")
      case "$code" in 2??) ;; *) echo "bench: POST returned $code:" >&2; head -c 2000 "$OUT/post.json" >&2; exit 1 ;; esac
    done
    t1=$(now)
    post+=("$(python3 -c "print($t1-$t0)")")
    stop "$SERVER_PID"
  done
  local mb; mb=$(python3 -c "print($bytes/1e6)")
  local b i p
  b=$(median "${base_r[@]}"); i=$(median "${imp[@]}"); p=$(median "${post[@]}")
  result ingest "$label: serde_json::Value baseline (1 thread)" rec/s "$(python3 -c "print(round($n/$b))")" "$(python3 -c "print(f'{$mb/$b:.1f} MB/s, 1.00x')")"
  result ingest "$label: callrecords import FILE" rec/s "$(python3 -c "print(round($n/$i))")" "$(python3 -c "print(f'{$mb/$i:.1f} MB/s, {$b/$i:.2f}x')")"
  result ingest "$label: POST /ingest/callRecords ($CHUNK-line chunks)" rec/s "$(python3 -c "print(round($n/$p))")" "$(python3 -c "print(f'{$mb/$p:.1f} MB/s, {$b/$p:.2f}x')")"
  result goal "ingest $label import >= 0.5x baseline" ratio "$(python3 -c "print(f'{$b/$i:.2f}')")" "$(python3 -c "print('met' if $b/$i>=0.5 else 'NOT met')")"
  result goal "ingest $label POST >= 0.5x baseline" ratio "$(python3 -c "print(f'{$b/$p:.2f}')")" "$(python3 -c "print('met' if $b/$p>=0.5 else 'NOT met')")"
}

if [ "$GROWTH_ONLY" = 0 ] && [ "$READS_ONLY" = 0 ]; then
gen_file "$INGEST_N" "$DATA/ingest.ndjson"
gen_file "$SMALL_N" "$DATA/ingest-small.ndjson" --small
ingest_suite "default records" "$DATA/ingest.ndjson"
ingest_suite "--small records" "$DATA/ingest-small.ndjson"

# Peak RSS while importing small records piped from gen: must not grow with input size.
rss_run() { # N -> KB
  local dir=$DATA/rss; rm -rf "$dir"
  "$CR" gen --small --count "$1" --seed "$SEED" |
    /usr/bin/time -v "$CR" import --data "$dir" - 2>"$OUT/rss-$1.txt" >/dev/null
  grep -q "stored $1" "$OUT/rss-$1.txt" || { echo "bench: piped import of $1 failed" >&2; cat "$OUT/rss-$1.txt" >&2; exit 1; }
  awk '/Maximum resident set size/ {print $NF}' "$OUT/rss-$1.txt"
  rm -rf "$dir"
}
log "peak RSS: gen --small | import -, $RSS_A vs $RSS_B records"
RA=$(rss_run "$RSS_A"); RB=$(rss_run "$RSS_B")
result rss "import - ($RSS_A small records)" "peak RSS KB" "$RA"
result rss "import - ($RSS_B small records)" "peak RSS KB" "$RB" "$(python3 -c "print(f'{$RB/$RA:.2f}x of $RSS_A')")"
result goal "peak RSS flat ($RSS_B vs $RSS_A records, <= 1.25x)" ratio "$(python3 -c "print(f'{$RB/$RA:.2f}')")" "$(python3 -c "print('met' if $RB/$RA<=1.25 else 'NOT met')")"
fi

# ---------------------------------------------------------------- reads
# wrk_once URL [CONNECTIONS [LUA_SCRIPT]] -> "rps p50ms p99ms"
wrk_once() {
  local o script=()
  [ -n "${3:-}" ] && script=(-s "$3")
  o=$(wrk -c "${2:-8}" -t 2 -d "$DUR" --latency "${script[@]}" "$1")
  if grep -q 'Non-2xx' <<<"$o"; then echo "bench: non-2xx answers from $1" >&2; echo "$o" >&2; exit 1; fi
  python3 - "$o" <<'PY'
import re, sys
o = sys.argv[1]
def ms(s):
    m = re.match(r'([\d.]+)(us|ms|s|m)$', s)
    v, u = float(m.group(1)), m.group(2)
    return v * {'us': 1e-3, 'ms': 1, 's': 1e3, 'm': 6e4}[u]
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', o).group(1))
p50 = ms(re.search(r'^\s+50%\s+(\S+)', o, re.M).group(1))
p99 = ms(re.search(r'^\s+99%\s+(\S+)', o, re.M).group(1))
print(f'{rps} {p50} {p99}')
PY
}

# read_suite LABEL DATA_DIR TARGET_ID FILTER_QUERY [ONLY]
# Captures each body from the real server, serves the same bytes from static-server, checks they are
# identical, then runs wrk REPS times on each, alternating real and static.
read_suite() {
  local label=$1 dir=$2 id=$3 filter=$4 only=${5:-}
  local bodies=$OUT/bodies-${label// /_}; rm -rf "$bodies"; mkdir -p "$bodies"
  start_real "$dir"
  local base="http://127.0.0.1:$PORT/v1.0/communications/callRecords"
  declare -A paths=(
    [expand]="$base/$id?%24expand=sessions(%24expand%3Dsegments)"
    [sessions]="$base/$id/sessions"
    [filter]="$base?%24filter=$filter"
  )
  local names="expand sessions filter"; [ -n "$only" ] && names=$only
  local n
  for n in $names; do
    code=$(curl -s -o "$bodies/$n.json" -w '%{http_code}' "${paths[$n]}")
    [ "$code" = 200 ] || { echo "bench: $n returned $code:" >&2; head -c 1000 "$bodies/$n.json" >&2; exit 1; }
  done
  start_static "$bodies"
  for n in $names; do
    curl -s -o "$bodies/$n.static" "http://127.0.0.1:$SPORT/$n"
    cmp -s "$bodies/$n.json" "$bodies/$n.static" || { echo "bench: static body of $n differs" >&2; exit 1; }
  done
  for n in $names; do
    local rr=() r50=() r99=() sr=() s50=() s99=() r a b c
    log "reads ($label): $n, $(stat -c %s "$bodies/$n.json") bytes, wrk -c 8 -t 2 -d $DUR x $REPS"
    for r in $(seq 1 "$REPS"); do
      read -r a b c < <(wrk_once "${paths[$n]}"); rr+=("$a"); r50+=("$b"); r99+=("$c")
      read -r a b c < <(wrk_once "http://127.0.0.1:$SPORT/$n"); sr+=("$a"); s50+=("$b"); s99+=("$c")
    done
    local mr m50 m99 msr ms50 ms99
    mr=$(median "${rr[@]}"); m50=$(median "${r50[@]}"); m99=$(median "${r99[@]}")
    msr=$(median "${sr[@]}"); ms50=$(median "${s50[@]}"); ms99=$(median "${s99[@]}")
    result "reads $label" "$n: static-server (same bytes)" "req/s p50 p99" \
      "$(printf '%.0f %.3fms %.3fms' "$msr" "$ms50" "$ms99")" "1.00x"
    result "reads $label" "$n: callrecords serve" "req/s p50 p99" \
      "$(printf '%.0f %.3fms %.3fms' "$mr" "$m50" "$m99")" "$(python3 -c "print(f'{$mr/$msr:.2f}x static')")"
    echo "${label// /_} $n $mr $m50 $m99 $msr" >>"$OUT/reads.txt"
  done
  stop "$STATIC_PID"; stop "$SERVER_PID"
}

# pick_target FILE -> "id filter": the first group call with >= 3 sessions in the first 5,000 lines, and a
# one-hour window around its start.
pick_target() {
  head -n 5000 "$1" | python3 -c '
import sys, json, datetime
best = None
for line in sys.stdin:
    r = json.loads(line)
    if best is None:
        best = r
    if r.get("type") == "groupCall" and len(r.get("sessions", [])) >= 3:
        best = r
        break
s = best["startDateTime"][:13]  # YYYY-MM-DDTHH
t0 = datetime.datetime.strptime(s, "%Y-%m-%dT%H")
t1 = t0 + datetime.timedelta(hours=1)
f = "startDateTime%20ge%20" + t0.strftime("%Y-%m-%dT%H:%M:%SZ") + "%20and%20startDateTime%20lt%20" + t1.strftime("%Y-%m-%dT%H:%M:%SZ")
print(best["id"], f)
'
}

if [ "$GROWTH_ONLY" = 0 ] && [ "$INGEST_ONLY" = 0 ]; then
: >"$OUT/reads.txt"
log "reads: store of $READ_N default records"
gen_file "$READ_N" "$DATA/read.ndjson"
RDIR=$DATA/read-store
if [ ! -f "$DATA/read-store.ok" ] || [ "$(cat "$DATA/read-store.ok")" != "$READ_N" ]; then
  rm -rf "$RDIR" "$DATA/read-store.ok"
  "$CR" import --data "$RDIR" "$DATA/read.ndjson" >/dev/null 2>"$OUT/import-read.log"
  echo "$READ_N" >"$DATA/read-store.ok"
fi
read -r TID TFILTER < <(pick_target "$DATA/read.ndjson")
read_suite "$READ_N records" "$RDIR" "$TID" "$TFILTER"
result disk "store of $READ_N default records" "bytes/record" "$(( $(du -sb "$RDIR" | cut -f1) / READ_N ))"

# ---------------------------------------------------------------- cold reads
# GET-with-expand over every record of a COLD_N-record default-size store in turn: each wrk thread walks
# the ids from its own starting point, so a record comes back only after COLD_N other requests, long after
# the 64 MB response cache has evicted it (it holds ~1,000 such answers): every answer is rendered from the
# store. Beside it, on the same corpus, the PostgreSQL peer's database-only by-id fetch (pgbench).
PG_URL=${BENCH_PG_URL:-}
PG_DIR=""
if [ -z "$PG_URL" ] && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && command -v pgbench >/dev/null; then
  PG_DIR=$(bash .ci/pg-start.sh "$OUT/pg-url" | sed -n 's/.*(data \(.*\))$/\1/p')
  PG_URL=$(cat "$OUT/pg-url")
fi
stop_pg() {
  if [ -n "$PG_DIR" ]; then
    local pgbin; pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pgbin/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null
    else "$pgbin/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null; fi
    rm -rf "$PG_DIR"; PG_DIR=""
  fi
}
trap 'cleanup; stop_pg' EXIT INT TERM

log "cold reads: store of $COLD_N default records, every record in turn"
head -n "$COLD_N" "$DATA/read.ndjson" >"$DATA/cold.ndjson"
CDIR=$DATA/cold-store
if [ ! -f "$DATA/cold-store.ok" ] || [ "$(cat "$DATA/cold-store.ok")" != "$COLD_N" ]; then
  rm -rf "$CDIR" "$DATA/cold-store.ok"
  "$CR" import --data "$CDIR" "$DATA/cold.ndjson" >/dev/null 2>"$OUT/import-cold.log"
  echo "$COLD_N" >"$DATA/cold-store.ok"
fi
python3 -c "import json,sys
print('\n'.join(json.loads(l)['id'] for l in open(sys.argv[1])))" "$DATA/cold.ndjson" >"$OUT/cold-ids.txt"
cat >"$OUT/cold.lua" <<LUA
local ids = {}
for line in io.lines("$OUT/cold-ids.txt") do ids[#ids + 1] = line end
local started = 0
function setup(thread)
  thread:set("start", started * math.floor(#ids / 2))
  started = started + 1
end
local i = nil
request = function()
  if i == nil then i = start end
  i = i % #ids + 1
  return wrk.format("GET", "/v1.0/communications/callRecords/" .. ids[i] .. "?%24expand=sessions(%24expand%3Dsegments)")
end
LUA
start_real "$CDIR"
cold_url="http://127.0.0.1:$PORT/"
declare -A cold_rps cold_p99
for c in 8 32; do
  rr=(); r99=()
  for r in $(seq 1 "$REPS"); do
    read -r a b cc < <(wrk_once "$cold_url" "$c" "$OUT/cold.lua"); rr+=("$a"); r99+=("$cc")
  done
  cold_rps[$c]=$(median "${rr[@]}"); cold_p99[$c]=$(median "${r99[@]}")
  result "cold reads $COLD_N records" "expand, every record in turn, -c $c: callrecords serve" "req/s p99" \
    "$(printf '%.0f %.3fms' "${cold_rps[$c]}" "${cold_p99[$c]}")"
done
stop "$SERVER_PID"
result goal "cold reads: expand p99 <= 10 ms at 32 connections" p99ms "${cold_p99[32]}" "$(python3 -c "print('met' if ${cold_p99[32]}<=10 else 'NOT met')")"
if [ -n "$PG_URL" ]; then
  source bench/pg-peer.sh
  log "PostgreSQL peer on the same $COLD_N records ($PG_URL)"
  peer_copy=$(peer_load "$PG_URL" "$DATA/cold.ndjson")
  pb=(); pp=()
  for r in $(seq 1 "$REPS"); do
    pb+=("$(peer_tps "$PG_URL" byid 8 "${DUR%s}")"); pp+=("$(peer_tps "$PG_URL" page 8 "${DUR%s}")")
  done
  peer_byid=$(median "${pb[@]}"); peer_page=$(median "${pp[@]}")
  result "cold reads $COLD_N records" "PostgreSQL peer: COPY into jsonb" rec/s "$peer_copy"
  result "cold reads $COLD_N records" "PostgreSQL peer: by-id fetch, database only (pgbench -c 8)" tps "$(printf '%.0f' "$peer_byid")" "1.00x"
  result "cold reads $COLD_N records" "PostgreSQL peer: 60-session page (pgbench -c 8)" tps "$(printf '%.0f' "$peer_page")"
  # our import of the same records into PostgreSQL (its own schema)
  peer_q "$PG_URL" "DROP SCHEMA IF EXISTS bench_ours CASCADE; CREATE SCHEMA bench_ours;"
  sep='?'; [[ "$PG_URL" == *\?* ]] && sep='&'
  t0=$(now); "$CR" import --database-url "$PG_URL${sep}options=-csearch_path%3Dbench_ours" "$DATA/cold.ndjson" >/dev/null 2>"$OUT/import-pg.log"; t1=$(now)
  pg_import=$(python3 -c "print(round($COLD_N/($t1-$t0)))")
  result "cold reads $COLD_N records" "callrecords import into PostgreSQL" rec/s "$pg_import" "$(python3 -c "print(f'{$pg_import/$peer_copy:.2f}x peer COPY')")"
  peer_drop "$PG_URL"; peer_q "$PG_URL" "DROP SCHEMA bench_ours CASCADE"
  for c in 8 32; do
    result goal "cold reads -c $c >= 2x peer by-id" ratio "$(python3 -c "print(f'{${cold_rps[$c]}/$peer_byid:.2f}')")" "$(python3 -c "print('met' if ${cold_rps[$c]}/$peer_byid>=2 else 'NOT met')")"
  done
else
  log "no PostgreSQL (set BENCH_PG_URL or install Debian's postgresql): the peer is skipped"
  result "cold reads $COLD_N records" "PostgreSQL peer" skipped "no PostgreSQL here"
fi
stop_pg

# ---------------------------------------------------------------- big meeting
log "big meeting: one group call with $BIG_SESSIONS sessions"
python3 - "$DATA/read.ndjson" "$BIG_SESSIONS" >"$DATA/big.ndjson" <<'PY'
import sys, json, uuid, copy
path, want = sys.argv[1], int(sys.argv[2])
best = None
with open(path) as f:
    for i, line in enumerate(f):
        if i >= 5000: break
        r = json.loads(line)
        if r.get("type") == "groupCall" and (best is None or len(r["sessions"]) > len(best["sessions"])):
            best = r
src = best["sessions"]
rec = copy.deepcopy(best)
rec["id"] = str(uuid.UUID(int=0xB16_0000_0000_4000_8000_0000_0000_0000 | 5000))
rec.pop("sessions@odata.nextLink", None)
sessions = []
for i in range(want):
    s = copy.deepcopy(src[i % len(src)])
    s["id"] = str(uuid.UUID(int=(0x5E55_0000_0000_4000_8000_0000_0000_0000 | i)))
    for j, seg in enumerate(s.get("segments", [])):
        seg["id"] = str(uuid.UUID(int=(0x5E60_0000_0000_4000_8000_0000_0000_0000 | (i << 16) | j)))
    sessions.append(s)
rec["sessions"] = sessions
print(json.dumps(rec, separators=(",", ":")))
PY
BIG_ID=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["id"])' "$DATA/big.ndjson")
BDIR=$DATA/big-store; rm -rf "$BDIR"
"$CR" import --data "$BDIR" "$DATA/big.ndjson" >/dev/null 2>"$OUT/import-big.log"
read_suite "big meeting" "$BDIR" "$BIG_ID" "x" sessions
BIG_P99=$(awk '$1=="big_meeting" && $2=="sessions" {print $5}' "$OUT/reads.txt")
result goal "big meeting: first sessions page p99 < 5 ms (-c 8)" p99ms "$BIG_P99" "$(python3 -c "print('met' if $BIG_P99<5 else 'NOT met')")"
# the same page cold: the response cache off, so every answer is read from the store
start_real "$BDIR" --response-cache-mb 0
rr=(); r99=()
for r in $(seq 1 "$REPS"); do
  read -r a b c < <(wrk_once "http://127.0.0.1:$PORT/v1.0/communications/callRecords/$BIG_ID/sessions"); rr+=("$a"); r99+=("$c")
done
stop "$SERVER_PID"
BIG_COLD_P99=$(median "${r99[@]}")
result "reads big meeting" "sessions, cold (--response-cache-mb 0): callrecords serve" "req/s p99" "$(printf '%.0f %.3fms' "$(median "${rr[@]}")" "$BIG_COLD_P99")"
result goal "big meeting: first sessions page, cold, p99 <= 10 ms (-c 8)" p99ms "$BIG_COLD_P99" "$(python3 -c "print('met' if $BIG_COLD_P99<=10 else 'NOT met')")"

# read-ratio goals
while read -r lab n mr m50 m99 msr; do
  result goal "reads (${lab//_/ }) $n >= 0.5x static" ratio "$(python3 -c "print(f'{$mr/$msr:.2f}')")" "$(python3 -c "print('met' if $mr/$msr>=0.5 else 'NOT met')")"
done < <(grep -v '^big_meeting' "$OUT/reads.txt")
fi

# ---------------------------------------------------------------- growth
if [ "$GROWTH" = 1 ] && [ "$INGEST_ONLY" = 0 ]; then
  : >"$OUT/growth.txt"
  for g in $GROWTH_POINTS; do
    log "growth: store of $g --small records"
    gdir=$DATA/growth-$g
    if [ ! -f "$gdir.ok" ]; then
      rm -rf "$gdir"
      "$CR" gen --small --count "$g" --seed "$SEED" | "$CR" import --data "$gdir" - >/dev/null 2>"$OUT/import-growth-$g.log"
      touch "$gdir.ok"
    fi
    # the same target and window at every size (gen is prefix-stable for a seed)
    read -r GID GFILTER < <("$CR" gen --small --count "${GROWTH_POINTS%% *}" --seed "$SEED" | pick_target /dev/stdin)
    : >"$OUT/reads.txt"
    read_suite "growth $g" "$gdir" "$GID" "$GFILTER"
    result disk "store of $g --small records" "bytes/record" "$(( $(du -sb "$gdir" | cut -f1) / g ))"
    cat "$OUT/reads.txt" >>"$OUT/growth.txt"
  done
  first=${GROWTH_POINTS%% *}; last=${GROWTH_POINTS##* }
  for n in expand sessions filter; do
    a=$(awk -v g="growth_$first" -v n="$n" '$1==g && $2==n {print $5}' "$OUT/growth.txt")
    b=$(awk -v g="growth_$last" -v n="$n" '$1==g && $2==n {print $5}' "$OUT/growth.txt")
    result goal "growth $n p99 $last vs $first (--small) <= 2x" ratio "$(python3 -c "print(f'{$b/$a:.2f}')")" "$(python3 -c "print('met' if $b/$a<=2 else 'NOT met')")"
  done
fi

# ---------------------------------------------------------------- table
echo
if [ "$SMOKE" = 1 ]; then
  echo "SMOKE RUN (tiny corpus, ${DUR} wrk runs): figures exercise every step and judge nothing."
fi
echo "callrecords benchmarks — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, medians of $REPS runs"
python3 - "$RES" "$SMOKE" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
smoke = sys.argv[2] == "1"
if smoke:
    rows = [r[:4] + [("(smoke: not judged) " + r[4]) if r[0] == "goal" else r[4]] for r in rows]
w = [max(len(r[i]) for r in rows) for i in range(5)]
print(" | ".join(h.ljust(w[i]) for i, h in enumerate(["section", "what", "metric", "value", "note"])))
print("-+-".join("-" * x for x in w))
for r in rows:
    print(" | ".join(c.ljust(w[i]) for i, c in enumerate(r)))
PY
cp "$RES" "$OUT/results-$( [ "$SMOKE" = 1 ] && echo smoke || { [ "$GROWTH_ONLY" = 1 ] && echo growth; } || { [ "$INGEST_ONLY" = 1 ] && echo ingest; } || echo full ).tsv"
