"""The shared format vectors (core/tests/vectors/format_v1.json) from Python."""

import json
import os
from pathlib import Path
from typing import Any

import pytest

import tenantguard as tg
from _lowlevel import open_with_key, seal_with_salt

ROOT = Path(__file__).resolve().parents[3]


def _load() -> dict[str, Any]:
    path = Path(os.environ.get("TG_VECTORS", ROOT / "core/tests/vectors/format_v1.json"))
    if not path.exists():
        path = ROOT / "bindings/testdata/format_v1.json"
    data: dict[str, Any] = json.loads(path.read_text())
    for v in data["valid"] + data["invalid"]:
        _normalize(v)
    return data


ALIASES = {"data_key_hex": "key_hex", "tenant_id": "tenant", "sealed_hex": "binary_hex", "sealed_text": "text", "expected_error": "error_kind"}


def _normalize(v: dict[str, Any]) -> None:
    """Accepts both vector schemas: the bindings' and the one in core/tests/vectors."""
    for landed, ours in ALIASES.items():
        if landed in v and ours not in v:
            v[ours] = v[landed]
    if "form" in v and "input" in v:
        v["text" if v["form"] == "text" else "binary_hex"] = v["input"]


DOC = _load()


@pytest.mark.parametrize("v", DOC["valid"], ids=lambda v: str(v["name"]))
def test_valid(v: dict[str, Any]) -> None:
    key, ctx = bytes.fromhex(v["key_hex"]), bytes.fromhex(v["context_hex"])
    plain = bytes.fromhex(v["plaintext_hex"])
    sealed = seal_with_salt(key, v["key_id"], v["tenant"], ctx, plain, bytes.fromhex(v["salt_hex"]))
    assert bytes(sealed).hex() == v["binary_hex"]
    assert str(sealed) == v["text"]
    parsed = tg.SealedValue.parse(v["text"])
    assert parsed.to_bytes().hex() == v["binary_hex"] and parsed.key_id == v["key_id"]
    assert open_with_key(key, v["key_id"], v["tenant"], ctx, parsed) == plain
    assert open_with_key(key, v["key_id"], v["tenant"], ctx, bytes.fromhex(v["binary_hex"])) == plain


@pytest.mark.parametrize("v", DOC["invalid"], ids=lambda v: str(v["name"]))
def test_invalid(v: dict[str, Any]) -> None:
    key, ctx = bytes.fromhex(v["key_hex"]), bytes.fromhex(v["context_hex"])
    sealed: str | bytes = v["text"] if "text" in v else bytes.fromhex(v["binary_hex"])
    with pytest.raises(tg.TenantguardError) as info:
        open_with_key(key, v["key_id"], v["tenant"], ctx, sealed)
    assert info.value.kind == v["error_kind"], str(info.value)
