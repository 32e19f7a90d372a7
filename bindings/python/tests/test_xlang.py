"""Values sealed in Python open in Kotlin and Rust, and the other way round.

scripts/python.sh: Rust writes rust.json, this test opens it and writes python.json.
scripts/kotlin.sh: Kotlin opens python.json and writes kotlin.json, then runs this file
again with TG_XLANG_STAGE=check-kotlin so Python opens kotlin.json (and Rust checks both).
"""

import json
import os
from pathlib import Path
from typing import Any

import pytest

import tenantguard as tg
from _lowlevel import open_with_key, seal_with_salt

DIR = os.environ.get("TG_XLANG_DIR")
STAGE = os.environ.get("TG_XLANG_STAGE", "python")
needs_dir = pytest.mark.skipif(DIR is None, reason="TG_XLANG_DIR not set: scripts/python.sh sets it")


def _open_file(writer: str) -> None:
    assert DIR is not None
    v: dict[str, Any] = json.loads((Path(DIR) / f"{writer}.json").read_text())
    assert v["writer"] == writer
    plain = bytes.fromhex(v["plaintext_hex"])
    sealed = tg.SealedValue.parse(v["text"])
    assert sealed.to_bytes().hex() == v["binary_hex"]
    got = open_with_key(bytes.fromhex(v["key_hex"]), v["key_id"], v["tenant"], bytes.fromhex(v["context_hex"]), sealed)
    assert got == plain
    g, _service = tg.Guard.embedded_with_service(Path(DIR) / "embedded")
    ctx = tg.TenantContext.service(v["tenant"], _service)
    with g:
        assert g.open(ctx, v["embedded_context"], v["embedded_text"]) == plain


@needs_dir
@pytest.mark.skipif(STAGE != "python", reason="python stage only")
def test_python_opens_rust_and_writes_its_own() -> None:
    assert DIR is not None
    _open_file("rust")
    key = os.urandom(32)
    plain = "sealed in Python 🐍".encode()
    ctx = b"xlang/python"
    sealed = seal_with_salt(key, 5, "xlang-python", ctx, plain, os.urandom(16))
    g, _service = tg.Guard.embedded_with_service(Path(DIR) / "embedded")
    tctx = tg.TenantContext.service("xlang-python", _service)
    with g:
        g.create_tenant(tctx)
        embedded = g.seal(tctx, "xlang/python/embedded", plain)
    doc = {
        "writer": "python",
        "key_hex": key.hex(),
        "key_id": 5,
        "tenant": "xlang-python",
        "context_hex": ctx.hex(),
        "plaintext_hex": plain.hex(),
        "text": str(sealed),
        "binary_hex": bytes(sealed).hex(),
        "embedded_context": "xlang/python/embedded",
        "embedded_text": str(embedded),
    }
    (Path(DIR) / "python.json").write_text(json.dumps(doc, indent=2))


@needs_dir
@pytest.mark.skipif(STAGE != "check-kotlin", reason="run by scripts/kotlin.sh after Kotlin wrote kotlin.json")
def test_python_opens_kotlin() -> None:
    _open_file("kotlin")
    _open_file("rust")
