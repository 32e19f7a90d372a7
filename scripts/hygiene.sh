#!/usr/bin/env bash
# Hygiene gate: formatting, lints, docs, dependency policy and MSRV declarations. A stage of
# scripts/test.sh (right after the build, so build scripts and proc macros are reused); also
# runs alone: `scripts/hygiene.sh`.
#
#  1. cargo fmt --all -- --check
#  2. cargo clippy --workspace --all-targets --locked -- -D warnings
#     with the workspace lints of Cargo.toml: missing_docs, unwrap_used and expect_used denied
#     (tests may unwrap: clippy.toml, and `#![allow]` at the top of each test crate)
#  3. RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
#     (and `-p tenantguard` alone, default and `--no-default-features --features ring`)
#  3b. clippy -D warnings on the core's lean feature sets: seal-only with SQLite, seal-only
#     without any store (a host with its own), and PostgreSQL without SQLite, so an area
#     that starts to need another (egress, auth, totp) fails here, not in a user's build
#  4. cargo deny check licenses bans sources (deny.toml); installs cargo-deny if missing
#     (`cargo install cargo-deny --locked`, about 4 minutes once). Advisories are not checked
#     here: the advisory database cannot be fetched on this project's machines. Where it can:
#     `cargo deny check advisories`.
#  5. scripts/msrv_check.py: no crate declares a rust-version below its dependencies'. Only
#     one toolchain is installed here and no other can be fetched, so there is no build on
#     the declared MSRV itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
t0=$(date +%s)
lap() { echo "   ($1: $(( $(date +%s) - t0 ))s)"; t0=$(date +%s); }

echo "-- rustfmt"
cargo fmt --all -- --check
lap fmt

echo "-- clippy (-D warnings, workspace lints)"
cargo clippy --workspace --all-targets --locked -- -D warnings
lap clippy

echo "-- rustdoc (-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
# The workspace build unifies features (the bindings turn on `postgres`); the core's own
# default and its leanest build must document cleanly too (no link into a left-out area).
RUSTDOCFLAGS="-D warnings" cargo doc -p tenantguard --no-deps --locked
RUSTDOCFLAGS="-D warnings" cargo doc -p tenantguard --no-deps --locked --no-default-features --features ring
lap doc

echo "-- clippy on the core's lean feature sets (-D warnings)"
for features in sqlite,ring ring postgres,ring; do
  echo "   --no-default-features --features $features"
  cargo clippy -p tenantguard --lib --locked --no-default-features --features "$features" -- -D warnings
done
lap features

echo "-- cargo-deny: licences, bans, duplicates, sources"
if ! cargo deny --version >/dev/null 2>&1; then
  echo "   installing cargo-deny"
  cargo install cargo-deny --locked
fi
cargo deny check licenses bans sources
lap deny

echo "-- MSRV declarations"
python3 scripts/msrv_check.py
lap msrv
