#!/usr/bin/env bash
# uniffi bindings (Kotlin on the JVM, Swift generated and header-checked).
# Installs what it needs (JetBrains kotlinc from the npm registry, Debian libjna-java and a
# JDK), builds tenantguard-ffi and the pinned uniffi-bindgen, generates the Kotlin and Swift
# bindings from the built library, compiles the Kotlin with -Werror, runs the Kotlin test
# scripts (a failed check exits non-zero), checks the Swift header and golden files, and
# finishes the cross-language round trip. Run scripts/python.sh first: it writes the
# Rust and Python files Kotlin opens. Usage: scripts/kotlin.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$(date +%s)
step() { echo; echo "==> [kotlin $(( $(date +%s) - start ))s] $*"; }
# Everything lives in cargo's target dir (CARGO_TARGET_DIR is honoured).
target=$(scripts/cargo-target-dir.sh)
tools=${TG_TOOLS_DIR:-$target/bindings-tools}
out=$target/uniffi
export TG_XLANG_DIR=${TG_XLANG_DIR:-$target/xlang}
export TG_VECTORS=${TG_VECTORS:-$root/core/tests/vectors/format_v1.json}
KOTLIN_VERSION=2.3.20

step "Tools: JDK, JNA, kotlinc $KOTLIN_VERSION"
need_apt=()
command -v javac >/dev/null || need_apt+=(default-jdk-headless)
[ -f /usr/share/java/jna.jar ] || need_apt+=(libjna-java)
command -v npm >/dev/null || need_apt+=(npm)
command -v gcc >/dev/null || need_apt+=(gcc)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
kotlinc=$tools/kotlin/node_modules/kotlin-compiler/bin/kotlinc
if [ ! -x "$kotlinc" ]; then
  mkdir -p "$tools/kotlin"
  npm install --silent --no-audit --no-fund --prefix "$tools/kotlin" "kotlin-compiler@$KOTLIN_VERSION"
fi
klib=$(dirname "$kotlinc")/../lib
CLASSPATH=/usr/share/java/jna.jar:$klib/kotlinx-coroutines-core-jvm.jar
"$kotlinc" -version 2>&1 | tail -1

step "Build tenantguard-ffi (release, as shipped) and the pinned uniffi-bindgen"
cargo build --locked --release -p tenantguard-ffi
cargo build --locked -p uniffi-bindgen
lib=$target/release/libtenantguard_ffi.so

step "Generate Kotlin and Swift from the shipped library"
rm -rf "$out"; mkdir -p "$out/kotlin-public" "$out/kotlin" "$out/swift" "$out/classes"
"$target/debug/uniffi-bindgen" generate --library "$lib" --language kotlin --no-format --out-dir "$out/kotlin-public"
"$target/debug/uniffi-bindgen" generate --library "$lib" --language swift --no-format --out-dir "$out/swift"
# Test-only primitives (raw key, caller-chosen salt) are not in what users get.
if grep -nE 'fun (sealWithSalt|openWithKey)\(' "$out/kotlin-public/tenantguard/tenantguard_ffi.kt"; then
  echo "test-only primitives leaked into the public Kotlin API"; exit 1
fi

step "Swift: golden files and C header"
for f in Tenantguard.swift TenantguardFFI.h; do
  if ! diff -u "bindings/uniffi/tests/swift/$f" "$out/swift/$f" > "$out/swift/$f.diff"; then
    if [ "${TG_UPDATE_GOLDEN:-0}" = 1 ]; then
      cp "$out/swift/$f" "bindings/uniffi/tests/swift/$f"; echo "updated golden $f"
    else
      head -40 "$out/swift/$f.diff"
      echo "Swift API drift in $f: review, then rerun with TG_UPDATE_GOLDEN=1"; exit 1
    fi
  fi
done
gcc -fsyntax-only -D_Nonnull= -D_Nullable= -x c "$out/swift/TenantguardFFI.h"
# Every function the header declares is exported by the library, and vice versa.
grep -oE '\b(uniffi|ffi)_[A-Za-z0-9_]+\s*\(' "$out/swift/TenantguardFFI.h" | tr -d ' (' | sort -u > "$out/swift/header.syms"
nm -D --defined-only "$lib" | awk '{print $3}' | grep -E '^(uniffi|ffi)_' | sort -u > "$out/swift/lib.syms"
if ! diff -u "$out/swift/header.syms" "$out/swift/lib.syms"; then
  echo "the Swift header and the library's exports differ"; exit 1
fi
echo "header: $(wc -l < "$out/swift/header.syms") functions, all exported"

step "Build the test library (feature test-primitives: seal_with_salt, open_with_key for the vectors)"
cargo build --locked --release -p tenantguard-ffi --features test-primitives
"$target/debug/uniffi-bindgen" generate --library "$lib" --language kotlin --no-format --out-dir "$out/kotlin"

step "Kotlin: compile the generated bindings, the JNI fast path and the test helpers with -Werror"
"$kotlinc" -Werror -d "$out/tenantguard.jar" -classpath "$CLASSPATH" \
  "$out/kotlin/tenantguard/tenantguard_ffi.kt" bindings/uniffi/kotlin/TenantguardException.kt bindings/uniffi/kotlin/TenantSealer.kt bindings/uniffi/kotlin/RateLimited.kt \
  bindings/uniffi/tests/kotlin/Json.kt bindings/uniffi/tests/kotlin/Check.kt
run() { "$kotlinc" -classpath "$out/tenantguard.jar:$CLASSPATH" -J-ea -J-Djna.library.path="$(dirname "$lib")" -script "$@"; }

step "Kotlin tests: guard_test.kts"
run bindings/uniffi/tests/kotlin/guard_test.kts
step "Kotlin tests: sealer_test.kts (TenantSealer, the JNI fast path)"
run bindings/uniffi/tests/kotlin/sealer_test.kts
step "Kotlin tests: provider_test.kts"
run bindings/uniffi/tests/kotlin/provider_test.kts
step "Kotlin tests: governance_test.kts (tokens, audit, retention, passwords, sessions)"
run bindings/uniffi/tests/kotlin/governance_test.kts
step "Kotlin tests: egress_test.kts (redaction, pseudonymization, egress policies)"
run bindings/uniffi/tests/kotlin/egress_test.kts
step "Kotlin tests: capability_test.kts (the service capability, agents, issue 13)"
run bindings/uniffi/tests/kotlin/capability_test.kts
step "Kotlin tests: members_test.kts (stored memberships, sessions follow them, SSO/MFA portals, issue 13)"
run bindings/uniffi/tests/kotlin/members_test.kts
step "Kotlin tests: isolation_test.kts (organizations, roles, reveal, TOTP)"
run bindings/uniffi/tests/kotlin/isolation_test.kts
step "Kotlin tests: hostile_test.kts (re-entrant and throwing callbacks, secrets in toString(), TenantSealer misuse, cancellation)"
run bindings/uniffi/tests/kotlin/hostile_test.kts
step "Kotlin tests: postgres_test.kts (skipped unless scripts/pg.sh started a server)"
run bindings/uniffi/tests/kotlin/postgres_test.kts
step "Kotlin tests: vectors_test.kts (vectors: $TG_VECTORS) and cross-language files"
run bindings/uniffi/tests/kotlin/vectors_test.kts "$TG_VECTORS" "$TG_XLANG_DIR"
step "Kotlin tests: vectors_v2_test.kts (format v2 vectors through Guard.open)"
run bindings/uniffi/tests/kotlin/vectors_v2_test.kts "$root/core/tests/vectors/format_v2.json"
step "Kotlin tests: audit_export_test.kts (offline audit export and proof verification, shared vectors)"
run bindings/uniffi/tests/kotlin/audit_export_test.kts "$root/core/tests/vectors/audit_export.json"

step "README.md's Kotlin blocks, as one script, run twice in an empty folder"
rm -rf "$out/readme"; mkdir -p "$out/readme/run"
python3 scripts/readme_blocks.py kotlin "$out/readme/readme.kts"
for i in 1 2; do
  (cd "$out/readme/run" && run "$out/readme/readme.kts") | tee "$out/readme/run$i.log"
  grep -qx 'Mail <EMAIL_1>' "$out/readme/run$i.log" || { echo "README Kotlin run $i: expected output missing"; exit 1; }
done

step "Cross-language: Python opens kotlin.json, Rust opens python.json and kotlin.json"
venv=${TG_PYTHON_VENV:-$target/python-venv}
if [ ! -x "$venv/bin/python" ]; then echo "missing $venv: run scripts/python.sh first"; exit 1; fi
(cd "$target" && TG_XLANG_STAGE=check-kotlin "$venv/bin/python" -m pytest -q -p no:cacheprovider \
  "$root/bindings/python/tests/test_xlang.py" -k test_python_opens_kotlin -rs | tee "$out/xlang.log")
grep -q "1 passed" "$out/xlang.log"
TG_XLANG_STAGE=check cargo test --locked -q -p tenantguard-ffi --test cross_language

step "Kotlin/Swift bindings passed in $(( $(date +%s) - start ))s"
