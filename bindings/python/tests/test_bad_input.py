"""Bad input across the boundary raises tenantguard errors (with familiar builtin bases),
never crashes."""

from typing import Any

import pytest

import tenantguard as tg
from _lowlevel import open_with_key, seal_with_salt

MAX_PLAINTEXT = 16 * 1024 * 1024


def test_wrong_types_and_none(guard: tg.Guard, acme: tg.TenantContext) -> None:
    g: Any = guard
    with pytest.raises(tg.InvalidTypeError):
        g.seal(acme, "c", "not bytes")
    with pytest.raises(TypeError):
        g.seal(acme, "c", None)
    with pytest.raises(TypeError):
        g.seal(None, "c", b"x")
    with pytest.raises(TypeError):
        g.seal(acme, None, b"x")
    with pytest.raises(TypeError):
        g.seal("acme", "c", b"x")
    with pytest.raises(TypeError, match="expected SealedValue, str or bytes"):
        g.open(acme, "c", 42)
    with pytest.raises(TypeError):
        g.open(acme, "c", None)
    with pytest.raises(TypeError, match="store must be"):
        guard_cls: Any = tg.Guard
        guard_cls(tg.LocalKeyProvider.ephemeral(), object())
    with pytest.raises(TypeError, match="current_kek"):
        tg.Guard(object(), tg.MemoryStore())
    with pytest.raises(TypeError):
        tg.Credential.password(None)  # type: ignore[arg-type]
    for make in (tg.Guard, tg.Guard.with_service):
        with pytest.raises(tg.InvalidTypeError, match="clock must be callable, got int"):
            make(tg.LocalKeyProvider.ephemeral(), tg.MemoryStore(), clock=1_800_000_000)  # type: ignore[arg-type]
    with pytest.raises(tg.InvalidInputError, match="key_id"):
        g.retire_key(acme, -1)


def test_huge_inputs_give_the_core_message(guard: tg.Guard, acme: tg.TenantContext) -> None:
    with pytest.raises(tg.TooLargeError, match=f"plaintext is {MAX_PLAINTEXT + 1} bytes, over the limit of {MAX_PLAINTEXT}"):
        guard.seal(acme, "c", b"\0" * (MAX_PLAINTEXT + 1))
    with pytest.raises(tg.TooLargeError, match="context is 1025 bytes, over the limit of 1024"):
        guard.seal(acme, "x" * 1025, b"v")
    with pytest.raises(tg.TooLargeError, match="sealed text"):
        tg.SealedValue.parse("tg1:1:" + "A" * (30 * 1024 * 1024))
    big = guard.seal(acme, "c", b"\1" * MAX_PLAINTEXT)
    assert len(guard.open(acme, "c", big)) == MAX_PLAINTEXT


def test_malformed_sealed_values(guard: tg.Guard, acme: tg.TenantContext) -> None:
    with pytest.raises(tg.MalformedError, match="must start with"):
        guard.open(acme, "c", "hello")
    with pytest.raises(tg.UnsupportedVersionError, match="unsupported sealed-value version 9"):
        guard.open(acme, "c", "tg9:1:AAAA")
    with pytest.raises(tg.MalformedError, match="empty input"):
        guard.open(acme, "c", b"")
    with pytest.raises(tg.MalformedError, match="truncated"):
        tg.SealedValue.from_bytes(b"\x01" + b"\0" * 10)


def test_invalid_utf8_where_text_is_expected(guard: tg.Guard, acme: tg.TenantContext, service: tg.ServiceRole) -> None:
    lone_surrogate = "\ud800"
    with pytest.raises(tg.InvalidInputError, match="lone surrogates"):
        guard.seal(acme, lone_surrogate, b"v")
    with pytest.raises(tg.InvalidInputError, match="lone surrogates"):
        tg.SealedValue.parse("tg1:1:" + lone_surrogate)
    with pytest.raises(tg.InvalidInputError, match="lone surrogates"):
        tg.TenantContext.service(lone_surrogate, service)
    with pytest.raises(tg.InvalidInputError, match="lone surrogates"):
        tg.Scope("runs/\udcff")
    with pytest.raises(ValueError):  # the familiar base still catches it
        guard.put_record(acme, "r", lone_surrogate, b"v")


def test_invalid_ids(guard: tg.Guard, acme: tg.TenantContext, service: tg.ServiceRole) -> None:
    with pytest.raises(tg.InvalidInputError, match="invalid tenant id"):
        tg.TenantContext.service("a:b", service)
    with pytest.raises(tg.InvalidInputError, match="invalid tenant id"):
        tg.TenantContext.service("t" * 65, service)
    with pytest.raises(tg.InvalidInputError, match="invalid key id"):
        guard.retire_key(acme, 0)
    with pytest.raises(tg.InvalidInputError):
        guard.put_record(acme, "", "note", b"v")
    with pytest.raises(tg.InvalidInputError, match="batch size"):
        guard.reencrypt(acme, 1, batch_size=0)
    with pytest.raises(tg.InvalidInputError, match="cache_max_age_seconds"):
        tg.Guard(tg.LocalKeyProvider.ephemeral(), tg.MemoryStore(), cache_max_age_seconds=-1.0)


def test_lowlevel_argument_checks() -> None:
    with pytest.raises(tg.InvalidInputError, match="key must be 32 bytes, got 3"):
        seal_with_salt(b"abc", 1, "t", b"", b"", b"\0" * 16)
    with pytest.raises(tg.InvalidInputError, match="salt must be 16 bytes, got 2"):
        seal_with_salt(b"\0" * 32, 1, "t", b"", b"", b"ab")
    with pytest.raises(tg.InvalidInputError, match="invalid key id"):
        seal_with_salt(b"\0" * 32, 0, "t", b"", b"", b"\0" * 16)


def test_bad_config(tmp_path: Any) -> None:
    bad = tmp_path / "keys.json"
    bad.write_text("{not json")
    bad.chmod(0o600)
    with pytest.raises(tg.ConfigError, match="corrupted"):
        tg.LocalKeyProvider.open(bad)
    bad.chmod(0o644)
    with pytest.raises(tg.ConfigError, match="chmod 600"):
        tg.LocalKeyProvider.open(bad)


def test_callbacks_that_cannot_be_called_are_refused_when_given(guard: tg.Guard, acme: tg.TenantContext, service: tg.ServiceRole) -> None:
    g: Any = guard
    with pytest.raises(tg.InvalidTypeError, match="observer must be callable, got int"):
        tg.Revealer(guard, 5)  # type: ignore[arg-type]
    with pytest.raises(tg.InvalidTypeError, match="observer must be callable, got str"):
        tg.Egress(guard, registry=tg.Registry.example(), observer="log")  # type: ignore[arg-type]
    guard.put_record(acme, "r", "note", b"v")
    guard.rotate_tenant_key(acme)
    with pytest.raises(tg.InvalidTypeError, match="progress must be callable, got list"):
        g.reencrypt(acme, 1, progress=[])
    assert guard.reencrypt(acme, 1).moved == 1, "refused before the job ran"
    with pytest.raises(tg.InvalidTypeError, match="progress must be callable"):
        g.rewrap_tenant_keys(service, progress=1)
    with pytest.raises(tg.InvalidTypeError, match="progress must be callable"):
        g.sweep(acme, progress=1)
    with pytest.raises(tg.InvalidTypeError, match="progress must be callable"):
        g.sweep_all(service, progress=1)
