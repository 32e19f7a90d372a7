#!/usr/bin/env bash
# Prints cargo's target directory for this workspace: CARGO_TARGET_DIR, build.target-dir
# of a cargo config, or <workspace>/target. The scripts find what cargo built through it
# instead of assuming target/. Usage: dir=$(scripts/cargo-target-dir.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
meta=$(cargo metadata --format-version 1 --no-deps --offline 2>/dev/null || cargo metadata --format-version 1 --no-deps)
dir=$(printf '%s' "$meta" | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$dir" ] || { echo "cargo metadata did not name a target_directory" >&2; exit 1; }
mkdir -p "$dir"
printf '%s\n' "$dir"
