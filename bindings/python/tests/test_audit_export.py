"""Offline verification of audit exports and proofs over the shared vectors
(core/tests/vectors/audit_export.json, the file the Rust and Kotlin tests read).

Each case's expected outcome comes from the file: an outcome name (``valid``, or
``restored`` with the restore it names), or the tamper reason (and the entry line) the core
names. Every tampered case must fail with its own reason.
"""

import base64
import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

import tenantguard as tg

ROOT = Path(__file__).resolve().parents[3]
DOC: dict[str, Any] = json.loads((ROOT / "core/tests/vectors/audit_export.json").read_text())
KEY: str = DOC["public_key"]
NAME = KEY.split("+")[0]


def _vkey(name: str, raw: bytes) -> str:
    """A C2SP verifier key string for an Ed25519 key (type byte 0x01)."""
    kh = hashlib.sha256(name.encode() + b"\n" + b"\x01" + raw).digest()[:4]
    key = base64.b64encode(b"\x01" + raw).decode()
    return f"{name}+{kh.hex()}+{key}"


# The Ed25519 base point: a valid key under the same name that signed nothing here.
OTHER = _vkey(NAME, bytes([0x58]) + bytes([0x66]) * 31)


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["name"] for c in cases]


def test_reason_table_comes_from_the_core() -> None:
    reasons = tg.AUDIT_TAMPER_REASONS
    assert len(set(reasons)) == len(reasons)
    assert {"truncated", "root_mismatch", "fork", "bad_signature", "duplicate_key"} <= set(reasons)
    assert issubclass(tg.AuditTamperedError, tg.IntegrityError)
    assert tg.AuditTamperedError.kind == "integrity"
    assert "AuditTamperedError" in tg.__all__


def test_the_vectors_cover_many_tamper_classes() -> None:
    expected = {c["expect"] for c in DOC["exports"]}
    assert {"valid", "restored"} <= expected
    assert len(expected - {"valid", "restored"}) >= 10, expected
    for c in DOC["exports"]:
        assert c["expect"] in tg.AUDIT_BUNDLE_OUTCOMES or c["expect"] in tg.AUDIT_TAMPER_REASONS
    for c in DOC["inclusion"] + DOC["consistency"]:
        assert c["expect"] == "valid" or c["expect"] in tg.AUDIT_TAMPER_REASONS, c["name"]


@pytest.mark.parametrize("case", DOC["exports"], ids=_ids(DOC["exports"]))
def test_export_vector(case: dict[str, Any]) -> None:
    bundle: str = case["bundle"]
    earlier = case.get("earlier_checkpoint")
    if case["expect"] == "restored":
        # An outcome, not a tamper reason: the report names the restore covering the
        # earlier checkpoint; without that checkpoint the same bundle is plainly valid.
        assert earlier is not None, case["name"]
        r = tg.verify_audit_bundle(bundle, KEY, earlier_checkpoint=earlier)
        assert r.outcome == "restored" and r.restore is not None, case["name"]
        want = case["restore"]
        got = (r.restore.restore_seq, r.restore.restored_size, r.restore.superseded_size)
        assert got == (want["restore_seq"], want["restored_size"], want["superseded_size"])
        assert r.restore.earlier.size == int(earlier.split("\n")[1])
        assert r.entries == r.checkpoint.size == bundle.count("\n{")
        assert tg.verify_audit_bundle(bundle, KEY).outcome == "valid"
        return
    if case["expect"] == "valid":
        for b in (bundle, bundle.encode()):
            r = tg.verify_audit_bundle(b, KEY, earlier_checkpoint=earlier)
            assert isinstance(r, tg.AuditBundleReport)
            assert r.outcome == "valid" and r.restore is None
            assert r.entries == r.checkpoint.size == bundle.count("\n{")
            assert r.checkpoint.origin == f"{KEY.split('+')[0]}/{r.tenant}"
            assert len(r.checkpoint.root) == 32
        # A list of keys works too; a key that signed nothing is passed over.
        assert tg.verify_audit_bundle(bundle, [OTHER, KEY], earlier_checkpoint=earlier).entries > 0
        return
    with pytest.raises(tg.AuditTamperedError) as info:
        tg.verify_audit_bundle(bundle.encode(), KEY, earlier_checkpoint=earlier)
    e = info.value
    assert e.reason == case["expect"], (case["name"], str(e))
    assert e.line == case.get("line"), case["name"]
    assert isinstance(e, tg.IntegrityError)


def test_a_good_bundle_fails_under_another_key() -> None:
    good = next(c for c in DOC["exports"] if c["expect"] == "valid")
    with pytest.raises(tg.AuditTamperedError) as info:
        tg.verify_audit_bundle(good["bundle"], OTHER)
    assert info.value.reason == "unknown_key"
    # The key string itself is checked: a wrong key hash is bad input, not tampering.
    broken = OTHER.split("+", 2)
    broken[1] = "00000000"
    with pytest.raises(tg.InvalidInputError):
        tg.verify_audit_bundle(good["bundle"], "+".join(broken))


@pytest.mark.parametrize("case", DOC["inclusion"], ids=_ids(DOC["inclusion"]))
def test_inclusion_vector(case: dict[str, Any]) -> None:
    if case["expect"] == "valid":
        inc = tg.verify_audit_inclusion(case["proof"], KEY)
        assert isinstance(inc.entry, tg.AuditEntry)
        assert 1 <= inc.entry.seq <= inc.checkpoint.size
        # The proven entry is the one the proof carries (its canonical line holds its hash).
        assert f'"hash":"{inc.entry.hash}"' in case["proof"].split("\n")[1]
        return
    with pytest.raises(tg.AuditTamperedError) as info:
        tg.verify_audit_inclusion(case["proof"].encode(), [KEY])
    assert info.value.reason == case["expect"]
    assert info.value.line is None


@pytest.mark.parametrize("case", DOC["consistency"], ids=_ids(DOC["consistency"]))
def test_consistency_vector(case: dict[str, Any]) -> None:
    if case["expect"] == "valid":
        cp = tg.verify_audit_consistency(case["earlier_checkpoint"], case["proof"], KEY)
        assert isinstance(cp, tg.AuditCheckpoint)
        assert cp.size >= int(case["earlier_checkpoint"].split("\n")[1])
        return
    with pytest.raises(tg.AuditTamperedError) as info:
        tg.verify_audit_consistency(case["earlier_checkpoint"], case["proof"], KEY)
    assert info.value.reason == case["expect"]


def test_a_checkpoint_swapped_for_an_older_one_is_a_rollback() -> None:
    good = next(c for c in DOC["consistency"] if c["expect"] == "valid")
    proof: str = good["proof"]
    newer = proof[proof.index("\ncheckpoint\n") + len("\ncheckpoint\n") :]
    older: str = good["earlier_checkpoint"]
    # The newer checkpoint as the one "kept", the older as the one offered: rollback.
    header, size = proof.split("\n")[0], newer.split("\n")[1]
    swapped = f"{header}\n{size}\ncheckpoint\n{older}"
    with pytest.raises(tg.AuditTamperedError) as info:
        tg.verify_audit_consistency(newer, swapped, KEY)
    assert info.value.reason == "rollback"


def test_bad_arguments_are_typed_errors() -> None:
    good = next(c for c in DOC["exports"] if c["expect"] == "valid")
    with pytest.raises(tg.InvalidInputError):
        tg.verify_audit_bundle(good["bundle"], "not a key")
    with pytest.raises(tg.InvalidInputError):
        tg.verify_audit_bundle(good["bundle"], [])
    with pytest.raises(tg.InvalidTypeError):
        tg.verify_audit_bundle(42, KEY)  # type: ignore[arg-type]
    with pytest.raises(tg.AuditTamperedError) as info:
        tg.verify_audit_bundle(b"not a bundle", KEY)
    assert info.value.reason == "bundle_malformed"


def test_the_error_pickles() -> None:
    with pytest.raises(tg.AuditTamperedError) as info:
        tg.verify_audit_bundle(b"not a bundle", KEY)
    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is tg.AuditTamperedError and str(back) == str(info.value)
