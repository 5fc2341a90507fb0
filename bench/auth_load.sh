#!/usr/bin/env bash
# Load test of `serve` with authentication and TLS on (issue 15): wrk with C concurrent connections (default
# 1,000) for D (default 30s) against GET of one call record over HTTPS with a static bearer token, and the same
# server without TLS and auth (`--auth none`, loopback) as the baseline, alternately, median of RUNS.
# Reports requests/s, p50/p99 latency, non-2xx + socket errors, and the server's peak RSS (VmHWM) after each
# run, so that "memory stays bounded" is a number. Not a timed test: it judges nothing, it prints.
#
#   bash bench/auth_load.sh                 # release build (cargo build --release --locked -p callrecords-cli)
#   BIN=target/debug/callrecords C=200 D=10s RUNS=1 bash bench/auth_load.sh   # quick, any build
set -euo pipefail
cd "$(dirname "$0")/.."
C=${C:-1000}
D=${D:-30s}
RUNS=${RUNS:-3}
if [[ -z "${BIN:-}" ]]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target-bench}
  cargo build --release --locked -q -p callrecords-cli
  BIN="$CARGO_TARGET_DIR/release/callrecords"
fi
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$BIN" gen --seed 7 --small --count 200 >"$work/records.ndjson"
"$BIN" import --data "$work/data" "$work/records.ndjson" >/dev/null
id=$(head -1 "$work/records.ndjson" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])')
token="bench-token-$$"
printf '%s 00000000-0000-0000-0000-000000000000 CallRecords.Read.All\n' \
  "$(printf %s "$token" | sha256sum | cut -c1-64)" >"$work/tokens"
fx=tests/fixtures/auth/tls
limits=(--max-connections 4096 --max-connections-per-client 4096 --max-requests-per-client 4096)

p_tls=$(free_port); p_plain=$(free_port)
"$BIN" serve --data "$work/data" --listen "127.0.0.1:$p_tls" --auth static --tokens-file "$work/tokens" \
  --tls-cert "$fx/server1.pem" --tls-key "$fx/server1.key" "${limits[@]}" 2>"$work/tls.log" &
pids+=($!); pid_tls=$!
"$BIN" serve --data "$work/data" --listen "127.0.0.1:$p_plain" "${limits[@]}" 2>"$work/plain.log" &
pids+=($!); pid_plain=$!
for p in "$p_tls" "$p_plain"; do
  for _ in $(seq 200); do
    curl -sk -o /dev/null "https://127.0.0.1:$p/healthz" && break
    curl -s -o /dev/null "http://127.0.0.1:$p/healthz" && break
    sleep 0.1
  done
done
path="/v1.0/communications/callRecords/$id"
code=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "https://127.0.0.1:$p_tls$path")
[[ "$code" == 200 ]] || { echo "auth+TLS GET answered $code" >&2; exit 1; }
code=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$p_tls$path")
[[ "$code" == 401 ]] || { echo "no token answered $code, not 401" >&2; exit 1; }

run() { # name url pid [header]
  local out="$work/$1.$2.txt"
  if [[ -n "${5:-}" ]]; then
    wrk -t 2 -c "$C" -d "$D" --timeout 10s --latency -H "$5" "$3" >"$out"
  else
    wrk -t 2 -c "$C" -d "$D" --timeout 10s --latency "$3" >"$out"
  fi
  local rps p50 p99 non2xx errs hwm
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  p50=$(awk '$1=="50%" {print $2}' "$out")
  p99=$(awk '$1=="99%" {print $2}' "$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$out"); non2xx=${non2xx:-0}
  errs=$(awk '/Socket errors/ {gsub(",","");print $4+$6+$8+$10}' "$out"); errs=${errs:-0}
  hwm=$(awk '/VmHWM/ {print $2" "$3}' "/proc/$4/status")
  printf '%s\trun %s\t%s req/s\tp50 %s\tp99 %s\tnon-2xx %s\tsocket errors %s\tpeak RSS %s\n' \
    "$1" "$2" "$rps" "$p50" "$p99" "$non2xx" "$errs" "$hwm"
}
echo "# $(date -u +%FT%TZ) $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg); C=$C D=$D; $BIN"
for i in $(seq "$RUNS"); do
  run tls+auth "$i" "https://127.0.0.1:$p_tls$path" "$pid_tls" "Authorization: Bearer $token"
  run plain "$i" "http://127.0.0.1:$p_plain$path" "$pid_plain"
done
