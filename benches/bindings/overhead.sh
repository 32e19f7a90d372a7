#!/usr/bin/env bash
# What the bindings add per call (not a test): seal + open of 256 bytes through Python
# (`Guard.seal` / `Guard.open`, pyo3) and Kotlin (`TenantSealer`, JNI) against the Rust core
# on the same path (each call blocked on separately, as the bindings do), ROUNDS times in
# turn, in calling-thread CPU time. Needs the wheel, the release library and the bindings
# jar (scripts/python.sh and scripts/kotlin.sh build them).
# Usage: benches/bindings/overhead.sh [ITERATIONS] [ROUNDS]   (defaults 100000, 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
iters=${1:-100000}
rounds=${2:-3}
target=$(scripts/cargo-target-dir.sh)
tools=${TG_TOOLS_DIR:-$target/bindings-tools}
kotlinc=$tools/kotlin/node_modules/kotlin-compiler/bin/kotlinc
klib=$(dirname "$kotlinc")/../lib
CLASSPATH=/usr/share/java/jna.jar:$klib/kotlinx-coroutines-core-jvm.jar
[ -x "$kotlinc" ] && [ -s "$target/uniffi/tenantguard.jar" ] && ls "$target"/wheels/*.whl >/dev/null || {
  echo "run scripts/python.sh and scripts/kotlin.sh first"; exit 1; }
venv=$target/bench-venv-overhead
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install --quiet --force-reinstall --no-deps "$target"/wheels/*.whl
cargo build --locked --release -q -p tenantguard-ffi --example bindings_baseline
bench_jar=$target/uniffi/bench.jar
if [ ! -s "$bench_jar" ] || [ benches/bindings/Bench.kt -nt "$bench_jar" ] || [ "$target/uniffi/tenantguard.jar" -nt "$bench_jar" ]; then
  "$kotlinc" -Werror -d "$bench_jar" -classpath "$target/uniffi/tenantguard.jar:$CLASSPATH" benches/bindings/Bench.kt
fi
out=$target/bindings-overhead.jsonl
: > "$out"
echo "load: $(uptime)"
for r in $(seq "$rounds"); do
  "$target/release/examples/bindings_baseline" "$iters" | sed "s/^{/{\"round\": $r, /" | tee -a "$out"
  TG_BENCH_PEERS=0 "$venv/bin/python" benches/bindings/bench_python.py "$iters" | sed "s/^{/{\"round\": $r, /" | tee -a "$out"
  java -Djna.library.path="$target/release" \
    -cp "$bench_jar:$target/uniffi/tenantguard.jar:$CLASSPATH:$klib/kotlin-stdlib.jar" \
    BenchKt "$iters" sealer | sed "s/^{/{\"round\": $r, /" | tee -a "$out"
done
echo "load: $(uptime)"
# Per round: each binding's thread CPU per round trip minus the Rust blocking path's.
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for r in sorted({x["round"] for x in rows}):
    by = {x["impl"]: x for x in rows if x["round"] == r}
    rust = by["rust"]["blocking_thread_cpu_ns"]
    parts = [f"round {r}: rust (blocking) {rust / 1000:.2f} us"]
    for name in ("python-tenantguard", "kotlin-tenantguard-jni"):
        if name in by:
            cpu = by[name]["thread_cpu_ns"]
            parts.append(f"{name} {cpu / 1000:.2f} us (+{(cpu - rust) / 1000:.2f} us)")
    print("; ".join(parts))
PY
