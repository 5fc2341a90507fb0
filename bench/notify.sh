#!/bin/sh
# Change-notification latency (commit -> webhook receiver) and throughput on one node.
# Usage: bench/notify.sh [sequential-records=500] [batch-records=5000]
# Prints commit->receiver latency (median, p99) against a baseline of direct POSTs measured in the same run,
# and the throughput of one node (median of 3 runs). Release build.
set -e
cd "$(dirname "$0")/.."
exec cargo run --release --locked -p callrecords-api --example notify_bench -- "${1:-500}" "${2:-5000}"
