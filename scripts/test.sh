#!/usr/bin/env bash
# The whole tenantguard test suite. Installs and starts everything it needs by itself, so it
# runs on a fresh machine: `./scripts/test.sh`. Set FUZZ_SECONDS to change the fuzzing time
# per target (default 15; 0 skips fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
start=$(date +%s)
step() { echo; echo "==> [$(( $(date +%s) - start ))s] $*"; }

step "Rust: formatting-independent build of every target (lib, tests, examples, benches)"
cargo build --workspace --all-targets --locked

step "Rust: unit, integration and doc tests"
cargo test --workspace --locked

step "Quickstart (the README's first command)"
cargo run --locked --example quickstart -p tenantguard-examples

if [ -x scripts/fuzz.sh ] && [ "${FUZZ_SECONDS:-15}" != "0" ]; then
  step "Fuzzing every target for ${FUZZ_SECONDS:-15}s"
  FUZZ_SECONDS="${FUZZ_SECONDS:-15}" scripts/fuzz.sh
fi

step "All tests passed in $(( $(date +%s) - start ))s"
