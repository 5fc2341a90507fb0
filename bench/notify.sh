#!/bin/sh
# Change-notification latency (commit -> webhook receiver) and throughput on one node.
# Usage: bench/notify.sh [sequential-records=500] [batch-records=5000]
set -e
cd "$(dirname "$0")/.."
exec cargo run --release --locked -p callrecords-api --example notify_bench -- "${1:-500}" "${2:-5000}"
