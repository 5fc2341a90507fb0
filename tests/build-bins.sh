#!/usr/bin/env bash
# Builds the debug binaries the script-driven suites run (interop, browser, bench smoke runs) and prints
# their directory. One package set for all of them, so that after the first of them (and after
# `cargo test --workspace`) the others rebuild nothing: another set would unify features differently and
# recompile a few dozen crates.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --locked -q --manifest-path "$root/Cargo.toml" -p callrecords-cli -p static-server -p json-baseline >&2
echo "${CARGO_TARGET_DIR:-$root/target}/debug"
