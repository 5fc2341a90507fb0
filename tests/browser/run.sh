#!/usr/bin/env bash
# Browser suite: Debian's chromium, driven by playwright-core (pinned, package-lock.json), against the real
# `callrecords serve` loaded with generated data (meetings of 300+ and 1,000+ sessions included) and a CQD
# building file. Checks every dashboard page (no console error, no failed request, the API's numbers,
# filters, timeline bars and stream rows, axe-core, keyboard reach) and writes screenshots (light / dark,
# desktop / phone) to target/screenshots/. Then the sign-in (signin.test.mjs) against `serve --fake` as its own
# OpenID Connect provider.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if ! command -v chromium >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [[ ! -d tests/browser/node_modules/playwright-core || ! -d tests/browser/node_modules/axe-core ]]; then
  (cd tests/browser && npm ci --no-audit --no-fund --silent)
fi
bin="$(bash tests/build-bins.sh)/callrecords"
work="$(mktemp -d)"
server_pid=""
hook_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null
  [[ -n "$hook_pid" ]] && kill "$hook_pid" 2>/dev/null
  wait 2>/dev/null; rm -rf "$work"
}
trap cleanup EXIT

# 600 lines of seed 1: meetings of 311, 344, 385, 390, 1,134 and 1,381 sessions among them.
"$bin" gen --count 600 --seed 1 > "$work/gen.ndjson"
"$bin" import --data "$work/data" "$work/gen.ndjson" >/dev/null
"$bin" buildings import --data "$work/data" tests/browser/buildings.csv >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port="$(free_port)"
hook_port="$(free_port)"
python3 tests/browser/webhook.py "$hook_port" &
hook_pid=$!
"$bin" serve --data "$work/data" --listen "127.0.0.1:$port" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
# The subscription below is validated against the webhook at once: wait until it listens too (on a loaded
# machine python starts later than the server, and the handshake then fails with a 400).
for _ in $(seq 1 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $hook_port), 0.5)" 2>/dev/null && break
  sleep 0.1
done
# A subscription (its webhook answers the handshake), then a few more records through POST /ingest, so the
# Operations page has deliveries to show.
exp="$(python3 -c 'import datetime; print((datetime.datetime.now(datetime.timezone.utc)+datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))')"
curl -fsS -X POST "http://127.0.0.1:$port/v1.0/subscriptions" -H 'content-type: application/json' \
  -d "{\"changeType\":\"created,updated\",\"notificationUrl\":\"http://127.0.0.1:$hook_port/hook\",\"resource\":\"/communications/callRecords\",\"expirationDateTime\":\"$exp\",\"clientState\":\"browser-suite\"}" >/dev/null
"$bin" gen --count 5 --seed 77 | curl -fsS -X POST "http://127.0.0.1:$port/ingest/callRecords" -H 'content-type: application/x-ndjson' --data-binary @- >/dev/null
mkdir -p target/screenshots
CALLRECORDS_URL="http://127.0.0.1:$port" SCREENSHOTS="$root/target/screenshots" \
  BUILDINGS="$root/tests/browser/buildings.csv" node tests/browser/dashboard.test.mjs "$@"

# Sign-in: `serve --fake` is its own OpenID Connect provider for its dashboard (docs/auth.md).
tenant="dc368399-474c-4d40-900c-6265431fd81f"
signin_port="$(free_port)"
"$bin" serve --fake --tenant "$tenant" --oidc-client-id fake-client --data "$work/fake" \
  --listen "127.0.0.1:$signin_port" 2>"$work/signin-server.log" &
signin_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$signin_port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
SIGNIN_URL="http://127.0.0.1:$signin_port" TENANT="$tenant" node tests/browser/signin.test.mjs ||
  { kill "$signin_pid"; cat "$work/signin-server.log" >&2; exit 1; }
kill "$signin_pid"
