#!/usr/bin/env bash
# The PostgreSQL store against the do-it-yourself peer, on the same PostgreSQL server in the same run:
# the peer keeps each raw record as one `jsonb` row (COPY for ingest, pgbench for a by-id fetch and a
# 60-session page through jsonb_array_elements); we import the same NDJSON with `callrecords import
# --database-url` and fetch records with `$expand=sessions($expand=segments)` through HTTP (`serve
# --graph-retention`, which keeps the response cache off, so every answer is rendered from the database).
#
#   bench/pg.sh postgres://user@host:port/db [RECORDS]     (release binary: cargo build --release -p callrecords-cli)
set -euo pipefail
cd "$(dirname "$0")/.."
URL="${1:?usage: bench/pg.sh POSTGRES_URL [RECORDS]}"
N="${2:-20000}"
DUR="${DUR:-10s}"
BIN="${CARGO_TARGET_DIR:-target}/release/callrecords"
[[ -x "$BIN" ]] || { echo "bench: build the release binary first" >&2; exit 1; }
work="$(mktemp -d)"
server_pid=""
trap '[[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
q() { psql -q -v ON_ERROR_STOP=1 "$URL" -c "SET client_min_messages = warning; $1"; }
now() { date +%s.%N; }
rate() { python3 -c "print(f'{$1/($3-$2):.0f}')"; }

# Recent records (so that Graph's 30-day retention, on for the read run, keeps them).
"$BIN" gen --count "$N" --seed 7 --small --start "$(date -u -d '3 days ago' +%F)" --days 2 >"$work/recs.ndjson"
bytes=$(stat -c %s "$work/recs.ndjson")
echo "corpus: $N records (gen --small), $bytes bytes; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- peer: COPY into jsonb
source bench/pg-peer.sh
peer_rate=$(peer_load "$URL" "$work/recs.ndjson")

# ---- ours: callrecords import
q "DROP SCHEMA IF EXISTS bench_ours CASCADE; CREATE SCHEMA bench_ours;"
sep='?'; [[ "$URL" == *\?* ]] && sep='&'
DB="$URL${sep}options=-csearch_path%3Dbench_ours"
t0=$(now)
"$BIN" import --database-url "$DB" "$work/recs.ndjson" >/dev/null
t1=$(now)
ours_rate=$(rate "$N" "$t0" "$t1")
echo "import  peer COPY jsonb: $peer_rate records/s   callrecords import: $ours_rate records/s   ratio $(python3 -c "print(f'{$ours_rate/$peer_rate:.2f}')")x (goal >= 1.5x)"
psql -q "$URL" -c "VACUUM ANALYZE"
psql -q "$URL" -Atc "SELECT 'bytes: peer ' || pg_total_relation_size('bench_peer.records') || ', ours ' ||
  (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
   WHERE s.nspname = 'bench_ours' AND c.relkind = 'r')"

# ---- reads: peer by id and a 60-session page (pgbench), ours GET with expand (wrk)
peer_byid=$(peer_tps "$URL" byid 8 "${DUR%s}")
peer_page=$(peer_tps "$URL" page 8 "${DUR%s}")

python3 -c "import json,sys
ids=sorted({json.loads(l)['id'] for l in open(sys.argv[1])})
open(sys.argv[2],'w').write('\n'.join(ids)+'\n')" "$work/recs.ndjson" "$work/ids.txt"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
CALLRECORDS_LOG=warn "$BIN" serve --database-url "$DB" --graph-retention --listen "127.0.0.1:$port" 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
cat >"$work/get.lua" <<LUA
local ids = {}
for line in io.lines("$work/ids.txt") do ids[#ids + 1] = line end
request = function()
  return wrk.format("GET", "/v1.0/communications/callRecords/" .. ids[math.random(#ids)] ..
    "?%24expand=sessions(%24expand%3Dsegments)")
end
LUA
out=$(wrk -c 8 -t 2 -d "$DUR" -s "$work/get.lua" "http://127.0.0.1:$port")
if grep -q 'Non-2xx' <<<"$out"; then echo "bench: non-2xx answers" >&2; echo "$out" >&2; exit 1; fi
ours_get=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
echo "by id   peer pgbench by-id: $peer_byid tps   peer 60-session page: $peer_page tps   callrecords GET \$expand (HTTP, uncached): $ours_get req/s   ratio vs by-id $(python3 -c "print(f'{$ours_get/$peer_byid:.2f}')")x (goal >= 1.5x)"
peer_drop "$URL"; q "DROP SCHEMA bench_ours CASCADE"
