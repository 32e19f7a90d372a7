#!/usr/bin/env bash
# A re-encryption of N records (default 100,000; SQLite) killed with SIGKILL in the middle,
# then resumed (issue 20): the resumed run moves exactly what was left, a third run moves
# nothing, and every record still opens with its payload.
#   benches/reencrypt_kill_resume.sh [N] [KILL_AFTER_SECONDS]
# A benchmark-sized run of what cli/tests/cli/sqlite.rs tests with a few thousand records.
set -euo pipefail
N=${1:-100000}
KILL_AFTER=${2:-4}
cd "$(dirname "$0")/.."
cargo build --release --locked -p tenantguard-cli --bin tenantguard --example reencrypt_baseline >&2
target=$(scripts/cargo-target-dir.sh)
CLI=$target/release/tenantguard
BASE=$target/release/examples/reencrypt_baseline
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'key_file = "keys.json"\nsqlite_path = "tenantguard.db"\n' > "$work/tenantguard.toml"
(cd "$work" && "$CLI" --quiet init >/dev/null)
"$BASE" seed "$work" "$N"
echo "seeded $N records under key 1, rotated to key 2"

(cd "$work" && exec "$CLI" --quiet reencrypt --all --json > first.json) &
pid=$!
sleep "$KILL_AFTER"
kill -9 "$pid" 2>/dev/null || { echo "the job finished before the kill: lower KILL_AFTER"; exit 1; }
wait "$pid" 2>/dev/null || true
echo "killed the job with SIGKILL after ${KILL_AFTER}s"

start=$(date +%s.%N)
(cd "$work" && "$CLI" --quiet reencrypt --all --json) > "$work/second.json"
echo "resumed: $(cat "$work/second.json") in $(echo "$(date +%s.%N) - $start" | bc) s"
(cd "$work" && "$CLI" --quiet reencrypt --all --json) > "$work/third.json"
echo "third run: $(cat "$work/third.json")"
"$BASE" verify "$work" "$N"
