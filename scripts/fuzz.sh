#!/usr/bin/env bash
# Fuzzes every cargo-fuzz target in fuzz/ for FUZZ_SECONDS seconds each (default 20) on
# stable Rust, and fails if any target crashes, panics, times out or breaks an assertion.
#
#   FUZZ_SECONDS=15 scripts/fuzz.sh            # all targets
#   FUZZ_SECONDS=60 scripts/fuzz.sh open       # only the named targets
#
# Installs cargo-fuzz if it is missing (`cargo install cargo-fuzz --locked`, about 4 min).
# Stable Rust cannot pass cargo-fuzz's sanitizer flag, so targets are built with `-s none`
# (libFuzzer coverage, no ASan; core forbids unsafe code anyway) and `-a` (debug
# assertions, so also integer-overflow checks). Each target starts from its checked-in
# seeds (fuzz/seeds/TARGET, read only) plus what earlier runs found (fuzz/corpus/TARGET,
# not committed). A crashing input is saved under fuzz/artifacts/TARGET/; replay it with
# `cargo fuzz run -s none -a TARGET fuzz/artifacts/TARGET/crash-...`.
set -euo pipefail

cd "$(dirname "$0")/.."
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
if ! [[ "$FUZZ_SECONDS" =~ ^[1-9][0-9]*$ ]]; then
    echo "FUZZ_SECONDS must be a positive whole number of seconds, got '$FUZZ_SECONDS'" >&2
    exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# The local_keyfile target rewrites a key file per input: keep it in memory (tmpfs) when
# possible, and remove it afterwards.
FUZZ_TMP="$(mktemp -d -p /dev/shm tenantguard-fuzz.XXXXXX 2>/dev/null || mktemp -d)"
trap 'rm -rf "$FUZZ_TMP"' EXIT
export TMPDIR="$FUZZ_TMP"

FLAGS=(-s none -a)
if [ "$#" -gt 0 ]; then
    TARGETS=("$@")
else
    mapfile -t TARGETS < <(cargo fuzz list)
fi
[ "${#TARGETS[@]}" -gt 0 ] || { echo "no fuzz targets found" >&2; exit 1; }

echo "== building ${#TARGETS[@]} fuzz targets"
cargo fuzz build "${FLAGS[@]}"

failed=()
for t in "${TARGETS[@]}"; do
    echo "== fuzzing $t for ${FUZZ_SECONDS}s"
    mkdir -p "fuzz/corpus/$t"
    seeds=()
    [ -d "fuzz/seeds/$t" ] && seeds=("fuzz/seeds/$t")
    # -timeout: one input running over 10 s counts as a failure (a hang);
    # -rss_limit_mb: so does going over 2 GiB.
    if cargo fuzz run "${FLAGS[@]}" "$t" "fuzz/corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"fuzz/$t.log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^Done' "fuzz/$t.log" || true
    else
        echo "!! $t FAILED: see fuzz/$t.log and fuzz/artifacts/$t/" >&2
        tail -n 40 "fuzz/$t.log" >&2
        failed+=("$t")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "== fuzzing failed: ${failed[*]}" >&2
    exit 1
fi
echo "== fuzzing passed: ${TARGETS[*]} (${FUZZ_SECONDS}s each)"
