# The do-it-yourself PostgreSQL peer (sourced by bench/run.sh and bench/pg.sh): each raw record is one
# `jsonb` row, loaded with COPY; reads are pgbench's by-id fetch and a 60-session page through
# jsonb_array_elements, database only (no HTTP).
#
#   peer_load URL NDJSON      -> prints "records/s" of the COPY (schema bench_peer, dropped first)
#   peer_tps URL byid|page CLIENTS DURATION_S   -> prints tps
#   peer_drop URL

peer_q() { psql -q -v ON_ERROR_STOP=1 "$1" -c "SET client_min_messages = warning; $2"; }

peer_load() {
  local url=$1 file=$2 n t0 t1
  n=$(wc -l <"$file")
  peer_q "$url" "DROP SCHEMA IF EXISTS bench_peer CASCADE; CREATE SCHEMA bench_peer;
    CREATE TABLE bench_peer.records (n bigserial PRIMARY KEY, doc jsonb NOT NULL,
      id text GENERATED ALWAYS AS (doc->>'id') STORED);
    CREATE INDEX ON bench_peer.records (id);"
  # quote and delimiter bytes that never occur in JSON: one line, one value
  t0=$(date +%s.%N)
  psql -q "$url" -c "\\copy bench_peer.records (doc) FROM '$file' (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')" >/dev/null
  t1=$(date +%s.%N)
  psql -q "$url" -c "VACUUM ANALYZE bench_peer.records" >/dev/null
  python3 -c "print(round($n/($t1-$t0)))"
}

peer_tps() {
  local url=$1 what=$2 clients=$3 secs=$4 rows sql
  rows=$(psql -q "$url" -Atc "SELECT count(*) FROM bench_peer.records")
  sql=$(mktemp)
  case "$what" in
    byid) printf '\\set n random(1, %s)\nSELECT doc FROM bench_peer.records WHERE n = :n;\n' "$rows" >"$sql" ;;
    page) printf '\\set n random(1, %s)\nSELECT s FROM bench_peer.records r, jsonb_array_elements(r.doc->'"'"'sessions'"'"') s WHERE r.n = :n LIMIT 60;\n' "$rows" >"$sql" ;;
  esac
  pgbench -n -c "$clients" -j 2 -T "$secs" -f "$sql" "$url" 2>/dev/null | awk '/^tps/ {printf "%.0f", $3}'
  rm -f "$sql"
}

peer_drop() { peer_q "$1" "DROP SCHEMA IF EXISTS bench_peer CASCADE"; }
