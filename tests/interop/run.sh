#!/usr/bin/env bash
# Interop suite: Microsoft's own Python Graph SDKs (msgraph-sdk, msgraph-beta-sdk from PyPI) drive the real
# `callrecords serve` through GraphServiceClient only. Starts and stops its own server on a free loopback port.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
venv="${CALLRECORDS_INTEROP_VENV:-$root/target/interop-venv}"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import msgraph, msgraph_beta, pytest, prometheus_client" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "msgraph-sdk==1.65.0" "msgraph-beta-sdk==1.66.0" "pytest==9.2.0" "prometheus-client==0.26.0"
fi
# --prepare-only: install the SDKs and stop (.ci/run does it in the background while cargo builds).
[[ "${1:-}" == "--prepare-only" ]] && exit 0
bin="$(bash tests/build-bins.sh)/callrecords"
work="$(mktemp -d)"
server_pid=""
fake_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null
  [[ -n "$fake_pid" ]] && kill "$fake_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Data: generated records, one big meeting (150 sessions, 300 participants), the docs' examples, log rows.
"$bin" gen --count 120 --seed 5 > "$work/gen.ndjson"
"$venv/bin/python" tests/interop/make_data.py "$work"
"$bin" import --data "$work/data" "$work/gen.ndjson" "$work/big.ndjson" \
  tests/fixtures/graph/examples/v1.0__callrecords-callrecord-get__response-1.json >/dev/null
"$bin" gen --kind pstnCall --count 2300 --seed 5 | "$bin" import --data "$work/data" --kind pstnCall - >/dev/null
"$bin" gen --kind smsLog --count 50 --seed 5 | "$bin" import --data "$work/data" --kind smsLog - >/dev/null

port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$bin" serve --data "$work/data" --listen "127.0.0.1:$port" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
CALLRECORDS_URL="http://127.0.0.1:$port" CALLRECORDS_WORK="$work" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning tests/interop/test_sdk.py \
  tests/interop/test_metrics.py

# The same SDK checks against a server on PostgreSQL, when a database is given (CI gives its throw-away one).
if [[ -n "${CALLRECORDS_INTEROP_DATABASE_URL:-}" ]]; then
  schema="interop_$$"
  psql -q -v ON_ERROR_STOP=1 "$CALLRECORDS_INTEROP_DATABASE_URL" -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema"
  sep='?'; [[ "$CALLRECORDS_INTEROP_DATABASE_URL" == *\?* ]] && sep='&'
  db="$CALLRECORDS_INTEROP_DATABASE_URL${sep}options=-csearch_path%3D$schema"
  "$bin" import --database-url "$db" "$work/gen.ndjson" "$work/big.ndjson" \
    tests/fixtures/graph/examples/v1.0__callrecords-callrecord-get__response-1.json >/dev/null
  "$bin" gen --kind pstnCall --count 2300 --seed 5 | "$bin" import --database-url "$db" --kind pstnCall - >/dev/null
  "$bin" gen --kind smsLog --count 50 --seed 5 | "$bin" import --database-url "$db" --kind smsLog - >/dev/null
  kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true
  "$bin" serve --database-url "$db" --listen "127.0.0.1:$port" 2>"$work/server-pg.log" &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "interop on PostgreSQL (schema $schema)"
  CALLRECORDS_URL="http://127.0.0.1:$port" CALLRECORDS_WORK="$work" \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning tests/interop/test_sdk.py
  psql -q "$CALLRECORDS_INTEROP_DATABASE_URL" -c "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE"
fi

# Subscriptions through GraphServiceClient against `serve --fake` (frozen clock; the test advances it).
fake_port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$bin" serve --fake --speed 0 --rate 0.2 --start 2026-01-05T08:00:00Z --seed 4 --data "$work/fake" \
  --listen "127.0.0.1:$fake_port" 2>"$work/fake.log" &
fake_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$fake_port/fake/state" >/dev/null 2>&1 && break
  sleep 0.1
done
CALLRECORDS_FAKE_URL="http://127.0.0.1:$fake_port" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning tests/interop/test_fake_subscriptions.py
