#!/usr/bin/env bash
# Bindings benchmark (not a test): seal + open of 256 bytes per round trip from Rust, Python
# and Kotlin in the same run, with Tink's Python KmsEnvelopeAead and the AWS Encryption SDK
# for Python as peers. Needs the wheel and tools from scripts/python.sh and scripts/kotlin.sh
# (run those first). Kotlin also reports where a call's time goes (JNA call status, Memory)
# and thread/process CPU per call. Usage: benches/bindings/run.sh [ITERATIONS]   (default 200000)
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "load: $(uptime)"
root=$PWD
iters=${1:-200000}
tools=${TG_TOOLS_DIR:-$root/target/bindings-tools}
bvenv=$root/target/bench-venv
out=$root/target/bindings-bench.jsonl
kotlinc=$tools/kotlin/node_modules/kotlin-compiler/bin/kotlinc
CLASSPATH=/usr/share/java/jna.jar:$(dirname "$kotlinc")/../lib/kotlinx-coroutines-core-jvm.jar
[ -x "$kotlinc" ] && [ -s target/uniffi/tenantguard.jar ] && ls target/wheels/*.whl >/dev/null || {
  echo "run scripts/python.sh and scripts/kotlin.sh first"; exit 1; }

if [ ! -x "$bvenv/bin/python" ]; then
  python3 -m venv "$bvenv"
  "$bvenv/bin/pip" install --quiet --upgrade pip
  "$bvenv/bin/pip" install --quiet tink || echo "tink did not install"
  "$bvenv/bin/pip" install --quiet aws-encryption-sdk || echo "aws-encryption-sdk did not install"
fi
"$bvenv/bin/pip" install --quiet --force-reinstall --no-deps target/wheels/*.whl

: > "$out"
cargo run --locked --release -q -p tenantguard-ffi --example bindings_baseline -- "$iters" | tee -a "$out"
"$bvenv/bin/python" benches/bindings/bench_python.py "$iters" | tee -a "$out"
# Kotlin: compiled to a jar and run on a plain JVM (a .kts script would run inside the Kotlin
# compiler's JVM). Recompiled only when Bench.kt or the bindings jar changed.
bench_jar=target/uniffi/bench.jar
if [ ! -s "$bench_jar" ] || [ benches/bindings/Bench.kt -nt "$bench_jar" ] || [ target/uniffi/tenantguard.jar -nt "$bench_jar" ]; then
  "$kotlinc" -Werror -d "$bench_jar" -classpath "target/uniffi/tenantguard.jar:$CLASSPATH" benches/bindings/Bench.kt
fi
java -Djna.library.path="$root/target/release" \
  -cp "$bench_jar:target/uniffi/tenantguard.jar:$CLASSPATH:$(dirname "$kotlinc")/../lib/kotlin-stdlib.jar" \
  BenchKt "$(( iters / 2 ))" | tee -a "$out"
"$bvenv/bin/pip" list 2>/dev/null | grep -iE '^(tink|aws-encryption-sdk|cryptography) ' || true
echo "results in $out"
