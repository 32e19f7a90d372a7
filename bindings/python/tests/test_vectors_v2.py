"""The format v2 vectors (core/tests/vectors/format_v2.json) through the public Guard API.

The vectors fix each tenant's data key; a key provider written here hands the guard that
key for every key version, so ``Guard.open`` opens the vector values exactly as it opens
stored ones (no raw-key primitive involved).
"""

import json
from pathlib import Path
from typing import Any

import pytest

import tenantguard as tg

ROOT = Path(__file__).resolve().parents[3]
DOC: dict[str, Any] = json.loads((ROOT / "core/tests/vectors/format_v2.json").read_text())
MAX_ROTATIONS = 8


class VectorKeyProvider:
    """Every key version of every tenant unwraps to the vector's data key (tests only)."""

    name = "vector-kms"

    def __init__(self, key: bytes) -> None:
        self.key = key

    def current_kek(self) -> str:
        return "vector-1"

    def wrap(self, key: bytes, ctx: tg.WrapContext) -> tuple[str, bytes]:
        return "vector-1", b"\x00" * 32

    def unwrap(self, kek_id: str, ciphertext: bytes, ctx: tg.WrapContext) -> bytes:
        return self.key


def _usable(v: dict[str, Any]) -> bool:
    return bool(v["context_kind"] == "caller" and v["key_id"] <= MAX_ROTATIONS)


def _guard_for(v: dict[str, Any]) -> tuple[tg.Guard, tg.TenantContext]:
    g, service = tg.Guard.with_service(VectorKeyProvider(bytes.fromhex(v["data_key_hex"])), tg.MemoryStore())
    ctx = tg.TenantContext.service(v["tenant_id"], service)
    g.create_tenant(ctx)
    for _ in range(1, v["key_id"]):
        g.rotate_tenant_key(ctx)
    return g, ctx


def test_file_has_vectors_for_the_bindings() -> None:
    assert DOC["format"] == "tg2"
    assert sum(map(_usable, DOC["valid"])) >= 9


@pytest.mark.parametrize("v", [v for v in DOC["valid"] if _usable(v)], ids=lambda v: str(v["name"]))
def test_valid(v: dict[str, Any]) -> None:
    g, ctx = _guard_for(v)
    with g:
        plain = bytes.fromhex(v["plaintext_hex"])
        parsed = tg.SealedValue.parse(v["sealed_text"])
        assert parsed.to_bytes().hex() == v["sealed_hex"] and parsed.key_id == v["key_id"]
        assert g.open(ctx, v["context"], parsed) == plain
        assert g.open(ctx, v["context"], v["sealed_text"]) == plain
        # What this guard seals now is v2 too, and opens.
        mine = g.seal(ctx, v["context"], plain)
        assert str(mine).startswith(f"tg2:{v['key_id']}:")
        assert g.open(ctx, v["context"], mine) == plain


@pytest.mark.parametrize("v", [v for v in DOC["invalid"] if _usable(v)], ids=lambda v: str(v["name"]))
def test_invalid(v: dict[str, Any]) -> None:
    g, ctx = _guard_for(v)
    with g:
        sealed: str | bytes = v["input"] if v["form"] == "text" else bytes.fromhex(v["input"])
        with pytest.raises(tg.TenantguardError) as info:
            g.open(ctx, v["context"], sealed)
        # A key id the tenant does not have is unknown to the guard before any crypto runs.
        expected = "unknown_key" if v["name"] == "other_key_id" else v["expected_error"]
        assert info.value.kind == expected, str(info.value)
