#!/usr/bin/env bash
# The whole tenantguard test suite. Installs and starts everything it needs by itself
# (PostgreSQL, KMS peers, Python packages, the Kotlin compiler, cargo-fuzz, cargo-deny), so it runs on a
# fresh machine: `./scripts/test.sh`. Servers it starts are stopped on exit.
#
#   FUZZ_SECONDS=N   fuzzing time per target (default 10; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
start=$(date +%s)
step() { echo; echo "==> [$(( $(date +%s) - start ))s] $*"; }

cleanup() {
  [ -n "${TENANTGUARD_PG_DIR:-}" ] && scripts/pg.sh stop >/dev/null 2>&1 || true
  [ -n "${TENANTGUARD_REDIS_DIR:-}" ] && scripts/redis.sh stop >/dev/null 2>&1 || true
  [ -n "${KMS_STARTED:-}" ] && scripts/kms.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

step "Rust: build every target of the workspace (lib, tests, examples, benches)"
cargo build --workspace --all-targets --locked

step "Hygiene: rustfmt, clippy -D warnings, rustdoc -D warnings, cargo-deny, MSRV declarations"
scripts/hygiene.sh

step "Rust: unit, integration and doc tests (embedded default: key file + SQLite + memory)"
cargo test --workspace --locked

step "Quickstart (the README's first command)"
cargo run --locked --example quickstart -p tenantguard-examples

step "PostgreSQL and Redis: throwaway servers; the store, RLS and attack suites, and the shared rate limits (four processes per backend)"
eval "$(scripts/pg.sh start)"
eval "$(scripts/redis.sh start)"
# One build for both features: the Redis tests (ratelimit_shared) ride on the PostgreSQL stage.
TENANTGUARD_PG_REQUIRED=1 TENANTGUARD_REDIS_REQUIRED=1 cargo test --locked -p tenantguard --features postgres,redis
scripts/redis.sh stop
unset TENANTGUARD_REDIS_DIR
# The command line against the same cluster (pg migrate/check, jobs on PostgreSQL).
TENANTGUARD_PG_REQUIRED=1 cargo test --locked -p tenantguard-cli --features postgres --test cli postgres::

# The bindings run while the cluster is up: their PostgresStore tests need it.
# They run with CARGO_TARGET_DIR set (a folder of their own unless the caller set one), so a
# script that assumes target/ fails here; the Rust stages above run without it. Only the
# bindings build in release, so the two stages share their release builds in that folder.
target=$(scripts/cargo-target-dir.sh)
bindings_target=${CARGO_TARGET_DIR:-$target/bindings}
step "Python bindings (CARGO_TARGET_DIR=$bindings_target): wheel, stubs, pytest (PostgreSQL included), vectors, cross-language files"
TENANTGUARD_PG_REQUIRED=1 CARGO_TARGET_DIR="$bindings_target" TG_TOOLS_DIR="$target/bindings-tools" scripts/python.sh

step "Kotlin and Swift bindings (CARGO_TARGET_DIR=$bindings_target): uniffi, kotlinc -Werror, JVM tests, header check, goldens"
TENANTGUARD_PG_REQUIRED=1 CARGO_TARGET_DIR="$bindings_target" TG_TOOLS_DIR="$target/bindings-tools" scripts/kotlin.sh

scripts/pg.sh stop
unset TENANTGUARD_PG_DIR

step "Key providers: moto (AWS KMS), OpenBao (Transit), SoftHSM2 (PKCS#11), Cloud KMS fake"
KMS_STARTED=1 scripts/kms.sh test

if [ -x scripts/fuzz.sh ] && [ "${FUZZ_SECONDS:-10}" != "0" ]; then
  step "Fuzzing every target for ${FUZZ_SECONDS:-10}s"
  FUZZ_SECONDS="${FUZZ_SECONDS:-10}" scripts/fuzz.sh
fi

step "All tests passed in $(( $(date +%s) - start ))s"
