"""The Guard facade from Python: sealing, credentials, records, rotation, shredding."""

import pickle
from pathlib import Path

import pytest

import tenantguard as tg


def test_seal_open_round_trip_all_forms(guard: tg.Guard, acme: tg.TenantContext) -> None:
    sealed = guard.seal(acme, "credentials/password/row-42", b"hunter2")
    assert isinstance(sealed, tg.SealedValue)
    assert str(sealed).startswith("tg2:1:")
    assert sealed.to_text() == str(sealed)
    assert sealed.key_id == 1 and sealed.version == 2 and sealed.plaintext_len == 7
    assert len(bytes(sealed)) == 7 + 77 == len(sealed)
    for form in (sealed, str(sealed), bytes(sealed)):
        assert guard.open(acme, "credentials/password/row-42", form) == b"hunter2"
    assert tg.SealedValue.parse(str(sealed)) == sealed
    assert tg.SealedValue.from_bytes(bytes(sealed)) == sealed
    assert hash(tg.SealedValue.parse(str(sealed))) == hash(sealed)
    assert pickle.loads(pickle.dumps(sealed)) == sealed
    assert repr(sealed) == "SealedValue(version=2, key_id=1, len=84)"


def test_wrong_context_and_tenant_fail(guard: tg.Guard, acme: tg.TenantContext, service: tg.ServiceRole) -> None:
    sealed = guard.seal(acme, "row-1", b"x")
    with pytest.raises(tg.IntegrityError, match="authentication failed") as e:
        guard.open(acme, "row-2", sealed)
    assert e.value.reason == "tampered"
    assert not isinstance(e.value, tg.AuthenticationFailedError)
    other = tg.TenantContext.service("other", service)
    guard.create_tenant(other)
    with pytest.raises(tg.IntegrityError) as e:
        guard.open(other, "row-1", sealed)
    assert e.value.reason in tg.ERROR_REASONS


def test_credentials_never_show_their_secret(guard: tg.Guard, acme: tg.TenantContext) -> None:
    cred = tg.Credential.password("hunter2")
    assert "hunter2" not in repr(cred) and "hunter2" not in str(cred)
    assert repr(cred) == "Credential(kind='password', secret=[REDACTED])"
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(cred)
    guard.put_credential(acme, "row-42", cred)
    opened = guard.open_credential(acme, "row-42")
    assert opened.kind == "password" and opened.expose() == b"hunter2" and len(opened) == 7
    assert "hunter2" not in repr(opened)
    token = tg.Credential("api_token", b"\x00\xffsk-live")
    guard.put_credential(acme, "row-43", token)
    assert guard.open_credential(acme, "row-43").expose() == b"\x00\xffsk-live"
    for make, kind in [
        (tg.Credential.api_token, "api_token"),
        (tg.Credential.totp_seed, "totp_seed"),
        (tg.Credential.session_cookie, "session_cookie"),
        (tg.Credential.generic, "generic"),
    ]:
        assert make("s").kind == kind
    with pytest.raises(tg.InvalidInputError, match="unknown credential kind"):
        tg.Credential("pin", b"1234")  # type: ignore[arg-type]


def test_records(guard: tg.Guard, acme: tg.TenantContext) -> None:
    guard.put_record(acme, "chat-1", "chat_transcript", b"hello", subject="user-9")
    assert guard.open_record(acme, "chat-1") == ("chat_transcript", b"hello")
    with pytest.raises(tg.InvalidInputError, match="not a credential"):
        guard.open_credential(acme, "chat-1")
    assert guard.delete_record(acme, "chat-1") is True
    assert guard.delete_record(acme, "chat-1") is False
    with pytest.raises(tg.NotFoundError, match="record not found"):
        guard.open_record(acme, "chat-1")


def test_record_ids_are_per_tenant(guard: tg.Guard, acme: tg.TenantContext, service: tg.ServiceRole) -> None:
    other = tg.TenantContext.service("other", service)
    guard.create_tenant(other)
    guard.put_record(other, "theirs", "note", b"secret")
    # Another tenant's id is simply not found, and reveals nothing.
    with pytest.raises(tg.NotFoundError):
        guard.open_record(acme, "theirs")
    # Both tenants may hold the same id; neither touches the other's.
    guard.put_record(acme, "theirs", "note", b"ours")
    assert guard.open_record(acme, "theirs")[1] == b"ours"
    assert guard.open_record(other, "theirs")[1] == b"secret"


def test_roles(guard: tg.Guard, acme: tg.TenantContext, service: tg.ServiceRole) -> None:
    viewer = tg.TenantContext.resolved(service, "acme", "u1", "viewer")
    member = tg.TenantContext.resolved(service, "acme", "u2", "member")
    assert not member.is_service and member.tenant == "acme"
    with pytest.raises(tg.PermissionDeniedError, match="needs role member"):
        guard.seal(viewer, "c", b"x")
    sealed = guard.seal(member, "c", b"x")
    with pytest.raises(tg.PermissionDeniedError):
        guard.open(member, "c", sealed)
    with pytest.raises(tg.PermissionDeniedError):
        guard.rotate_tenant_key(member)
    assert [k.key_id for k in guard.key_versions(viewer)] == [1]
    with pytest.raises(tg.InvalidInputError, match="unknown role"):
        tg.TenantContext.resolved(service, "acme", "u3", "root")  # type: ignore[arg-type]


def test_rotation_reencrypt_retire(guard: tg.Guard, acme: tg.TenantContext) -> None:
    old = guard.seal(acme, "c", b"old")
    for i in range(5):
        guard.put_record(acme, f"r{i}", "note", f"v{i}".encode())
    assert guard.rotate_tenant_key(acme) == 2
    states = {k.key_id: k.state for k in guard.key_versions(acme)}
    assert states == {1: "decrypt_only", 2: "active"}
    assert guard.seal(acme, "c", b"new").key_id == 2
    assert guard.open(acme, "c", old) == b"old"
    with pytest.raises(tg.ConflictError, match="still seals 5 records"):
        guard.retire_key(acme, 1)
    seen: list[tg.ReencryptReport] = []
    report = guard.reencrypt(acme, 1, batch_size=2, progress=seen.append)
    assert (report.moved, report.raced, report.failed, report.remaining) == (5, 0, [], 0)
    assert len(seen) == 3 and seen[-1].moved == 5
    resealed = guard.reseal(acme, "c", old)
    assert resealed.key_id == 2
    guard.retire_key(acme, 1)
    with pytest.raises(tg.KeyDestroyedError):
        guard.open(acme, "c", old)
    assert guard.open(acme, "c", resealed) == b"old"
    assert guard.open_record(acme, "r3") == ("note", b"v3")


def test_progress_exception_is_reraised(guard: tg.Guard, acme: tg.TenantContext) -> None:
    guard.put_record(acme, "r", "note", b"v")
    guard.rotate_tenant_key(acme)

    def boom(_: tg.ReencryptReport) -> None:
        raise RuntimeError("progress failed")

    with pytest.raises(RuntimeError, match="progress failed"):
        guard.reencrypt(acme, 1, progress=boom)


def test_shred(guard: tg.Guard, acme: tg.TenantContext) -> None:
    sealed = guard.seal(acme, "c", b"gone")
    report = guard.shred_tenant(acme)
    assert isinstance(report, tg.ShredReport)
    # The in-memory key provider destroys the tenant's own secret: backups open nothing.
    assert report.backups_unreadable is True
    assert report.summary == "deployment:immediate" and report.shared_kek_keys == []
    with pytest.raises(tg.KeyDestroyedError, match="can never be opened again"):
        guard.open(acme, "c", sealed)
    with pytest.raises(tg.KeyDestroyedError):
        guard.seal(acme, "c", b"x")


def test_embedded_persists_and_closes(tmp_path: Path, service: tg.ServiceRole) -> None:
    g, _service = tg.Guard.embedded_with_service(tmp_path / "tg")
    acme = tg.TenantContext.service("acme", _service)
    with g:
        g.create_tenant(acme)
        sealed = g.seal(acme, "c", b"persisted")
        g.put_credential(acme, "row", tg.Credential.password("pw"))
    assert g.closed
    with pytest.raises(ValueError, match="closed Guard"):
        g.seal(acme, "c", b"x")
    assert (tmp_path / "tg" / "keys.json").exists()
    g2, _service = tg.Guard.embedded_with_service(str(tmp_path / "tg"))
    acme = tg.TenantContext.service("acme", _service)  # a reopened store: its own capability
    with g2:
        assert g2.open(acme, "c", sealed) == b"persisted"
        assert g2.open_credential(acme, "row").expose() == b"pw"


def test_builder_with_local_provider_and_kek_rotation(tmp_path: Path, service: tg.ServiceRole) -> None:
    provider = tg.LocalKeyProvider.open_or_create(tmp_path / "keys.json")
    store = tg.SqliteStore(tmp_path / "db.sqlite")
    g, _service = tg.Guard.with_service(provider, store, cache_max_tenants=0)
    acme = tg.TenantContext.service("acme", _service)
    with g:
        g.create_tenant(acme)
        sealed = g.seal(acme, "c", b"v")
        assert g.key_versions(acme)[0].kek_id == "kek-1"
        assert provider.rotate_kek() == "kek-2"
        report = g.rewrap_tenant_keys(_service, batch_size=10)
        assert (report.tenants, report.rewrapped, report.current, report.last_tenant) == (1, 1, 0, "acme")
        provider.remove_kek("kek-1")
        assert provider.kek_ids() == ["kek-2"]
        assert g.open(acme, "c", sealed) == b"v"
        assert g.cache_stats().hits == 0
    with pytest.raises(tg.ConfigError, match="cannot remove the current KEK"):
        provider.remove_kek("kek-2")
    with pytest.raises(tg.KeyProviderError, match="not found"):
        provider.remove_kek("kek-9")


def test_memory_and_sqlite_in_memory_stores(service: tg.ServiceRole) -> None:
    for store in (tg.MemoryStore(), tg.SqliteStore.in_memory()):
        g, _service = tg.Guard.with_service(tg.LocalKeyProvider.ephemeral(), store)
        with g:
            ctx = tg.TenantContext.service("t", _service)
            g.create_tenant(ctx)
            assert g.open(ctx, "c", g.seal(ctx, "c", b"v")) == b"v"
            stats = g.cache_stats()
            assert stats.loads == 1 and stats.hits >= 1


def test_duplicate_tenant_conflicts(guard: tg.Guard, acme: tg.TenantContext) -> None:
    with pytest.raises(tg.TenantguardError) as info:
        guard.create_tenant(acme)
    assert info.value.kind in ("conflict", "invalid_input")


def test_try_ephemeral() -> None:
    provider = tg.LocalKeyProvider.try_ephemeral()
    g, service = tg.Guard.with_service(provider, tg.MemoryStore())
    with g:
        acme = tg.TenantContext.service("acme", service)
        g.create_tenant(acme)
        assert g.open(acme, "c", g.seal(acme, "c", b"x")) == b"x"


def test_every_guard_method_has_its_own_docstring() -> None:
    for name in sorted(vars(tg.Guard)):
        if not name.startswith("_"):
            assert getattr(tg.Guard, name).__doc__, f"Guard.{name} has no docstring"
    assert (tg.Guard.rotate_tenant_key.__doc__ or "").startswith("Rotates the tenant's data key")
    assert (tg.Guard.set_member.__doc__ or "").startswith("Adds `user`")
