"""Objects built from a Guard (Egress, Revealer) are closed with it: afterwards they raise
the same ValueError as the closed Guard and no longer hold its store or key provider."""

import gc
import weakref

import pytest

import tenantguard as tg


class XorKms:
    """A toy key provider (not secure: tests only), so its lifetime can be observed."""

    def current_kek(self) -> str:
        return "x1"

    def wrap(self, key: bytes, ctx: tg.WrapContext) -> tuple[str, bytes]:
        return "x1", bytes(b ^ 0x5A for b in key) + ctx.aad

    def unwrap(self, kek_id: str, ciphertext: bytes, ctx: tg.WrapContext) -> bytes:
        if ciphertext[32:] != ctx.aad:
            raise tg.IntegrityError("context mismatch")
        return bytes(b ^ 0x5A for b in ciphertext[:32])


def test_closing_the_guard_closes_egress_and_revealer() -> None:
    store = tg.MemoryStore()
    guard, _service = tg.Guard.with_service(tg.LocalKeyProvider.ephemeral(), store)
    acme = tg.TenantContext.service("acme", _service)
    with guard:
        guard.create_tenant(acme)
        guard.put_credential(acme, "pw", tg.Credential.password("s3cret"))
        egress = tg.Egress(guard, store, registry=tg.Registry.example())
        revealer = tg.Revealer(guard, lambda _e: None)
        assert egress.prepare(acme, "llm-chat", "hi").allowed
        assert revealer.open_credential(acme, "pw", "check").expose() == b"s3cret"
        assert not egress.closed and not revealer.closed
    assert guard.closed and egress.closed and revealer.closed
    with pytest.raises(ValueError, match="closed Guard"):
        guard.seal(acme, "c", b"x")
    with pytest.raises(ValueError, match="closed Egress"):
        egress.prepare(acme, "llm-chat", "hi")
    with pytest.raises(ValueError, match="closed Egress"):
        egress.policy(acme)
    with pytest.raises(ValueError, match="closed Egress"):
        egress.providers()
    with pytest.raises(ValueError, match="closed Revealer"):
        revealer.open_credential(acme, "pw", "check")
    with pytest.raises(ValueError, match="closed Revealer"):
        revealer.totp_code(acme, "pw", "check")
    assert repr(egress) == "Egress(closed)" and repr(revealer) == "Revealer(closed)"
    # Nothing new can be built from a closed guard.
    with pytest.raises(ValueError, match="closed Guard"):
        tg.Egress(guard, store)
    with pytest.raises(ValueError, match="closed Guard"):
        tg.Revealer(guard, lambda _e: None)
    # Closing again is harmless.
    guard.close()
    egress.close()


def test_dependents_close_on_their_own_without_closing_the_guard() -> None:
    store = tg.MemoryStore()
    guard, _service = tg.Guard.with_service(tg.LocalKeyProvider.ephemeral(), store)
    acme = tg.TenantContext.service("acme", _service)
    with guard:
        guard.create_tenant(acme)
        with tg.Egress(guard, store) as egress:
            assert egress.policy(acme) == tg.EgressPolicy()
        assert egress.closed and not guard.closed
        with pytest.raises(ValueError, match="closed Egress"):
            egress.policy(acme)
        with tg.Revealer(guard, lambda _e: None) as revealer:
            assert "Revealer" in repr(revealer)
        assert revealer.closed and not guard.closed
        # The guard and a new dependent still work.
        assert guard.open(acme, "c", guard.seal(acme, "c", b"v")) == b"v"
        assert tg.Egress(guard, store).policy(acme) == tg.EgressPolicy()


def test_closed_dependents_release_the_key_provider() -> None:
    kms = XorKms()
    alive = weakref.ref(kms)
    store = tg.MemoryStore()
    guard, _service = tg.Guard.with_service(kms, store)
    acme = tg.TenantContext.service("acme", _service)
    del kms
    guard.create_tenant(acme)
    egress = tg.Egress(guard, store)
    revealer = tg.Revealer(guard, lambda _e: None)
    gc.collect()
    assert alive() is not None
    guard.close()
    gc.collect()
    # Egress and Revealer are still referenced here, but no longer hold the provider.
    assert alive() is None
    assert egress.closed and revealer.closed
