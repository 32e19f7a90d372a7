#!/usr/bin/env bash
# Python bindings: builds the abi3 wheel with maturin, installs it into a fresh venv (what
# users get), checks the type stubs with mypy stubtest and runs pytest, including the
# shared format vectors and the cross-language files (Rust writes, Python reads and writes).
# Installs everything it needs from PyPI. Usage: scripts/python.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$(date +%s)
step() { echo; echo "==> [python $(( $(date +%s) - start ))s] $*"; }
PYTHON=${PYTHON:-python3}
# Everything lives in cargo's target dir (CARGO_TARGET_DIR is honoured).
target=$(scripts/cargo-target-dir.sh)
tools=${TG_TOOLS_DIR:-$target/bindings-tools}
venv=${TG_PYTHON_VENV:-$target/python-venv}
dist=$target/wheels
export TG_XLANG_DIR=${TG_XLANG_DIR:-$target/xlang}
export TG_VECTORS=${TG_VECTORS:-$root/core/tests/vectors/format_v1.json}

step "Build tools (maturin) in $tools/py"
if [ ! -x "$tools/py/bin/maturin" ]; then
  "$PYTHON" -m venv "$tools/py"
  "$tools/py/bin/pip" install --quiet --upgrade pip
  "$tools/py/bin/pip" install --quiet 'maturin>=1.9,<2'
fi

step "Build the abi3 wheel (maturin build --release)"
rm -rf "$dist"
(cd bindings/python && "$tools/py/bin/maturin" build --release --locked -o "$dist")
ls "$dist"

step "Fresh venv with the wheel, pytest and mypy"
rm -rf "$venv"
"$PYTHON" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet pytest mypy
"$venv/bin/pip" install --quiet "$dist"/*.whl

step "Type stubs: mypy stubtest against the installed module, and mypy on the tests"
(cd "$target" && "$venv/bin/python" -m mypy.stubtest tenantguard --ignore-missing-stub)
# The README's Python blocks as one program (tests/test_readme.py runs the same program).
mkdir -p "$target/readme"
"$venv/bin/python" scripts/readme_blocks.py python "$target/readme/readme_python.py"
"$venv/bin/python" -m mypy --strict bindings/python/tests bindings/python/examples "$target/readme/readme_python.py"

step "Rust writes its cross-language file ($TG_XLANG_DIR/rust.json)"
rm -rf "$TG_XLANG_DIR"; mkdir -p "$TG_XLANG_DIR"
TG_XLANG_STAGE=write cargo test --locked -q -p tenantguard-ffi --test cross_language

step "pytest (vectors: $TG_VECTORS)"
(cd "$target" && "$venv/bin/python" -m pytest -q -p no:cacheprovider "$root/bindings/python/tests")
test -s "$TG_XLANG_DIR/python.json"

step "Python bindings passed in $(( $(date +%s) - start ))s"
