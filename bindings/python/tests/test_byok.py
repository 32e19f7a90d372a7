"""Per-tenant bring-your-own-key from Python: named key providers (Python-implemented or
built in) that a tenant's data keys move to, and back."""

import hashlib
import hmac
import os

import pytest

import tenantguard as tg


class TenantKms:
    """A toy tenant-owned KMS (HMAC keystream + tag bound to the context), counting calls."""

    def __init__(self) -> None:
        self.keks = {"t-1": os.urandom(32)}
        self.current = "t-1"
        self.calls = {"wrap": 0, "unwrap": 0}
        self.down = False

    def current_kek(self) -> str:
        return self.current

    def _stream(self, kek: bytes, nonce: bytes, aad: bytes) -> bytes:
        return hmac.new(kek, b"stream" + nonce + aad, hashlib.sha256).digest()

    def wrap(self, key: bytes, ctx: tg.WrapContext) -> tuple[str, bytes]:
        self.calls["wrap"] += 1
        kek, nonce = self.keks[self.current], os.urandom(16)
        ct = bytes(a ^ b for a, b in zip(key, self._stream(kek, nonce, ctx.aad)))
        tag = hmac.new(kek, b"tag" + nonce + ct + ctx.aad, hashlib.sha256).digest()
        return self.current, nonce + ct + tag

    def unwrap(self, kek_id: str, ciphertext: bytes, ctx: tg.WrapContext) -> bytes:
        self.calls["unwrap"] += 1
        if self.down:
            raise tg.UnavailableError("tenant KMS unreachable")
        kek = self.keks[kek_id]
        nonce, ct, tag = ciphertext[:16], ciphertext[16:48], ciphertext[48:]
        want = hmac.new(kek, b"tag" + nonce + ct + ctx.aad, hashlib.sha256).digest()
        if not hmac.compare_digest(tag, want):
            raise tg.IntegrityError("context mismatch")
        return bytes(a ^ b for a, b in zip(ct, self._stream(kek, nonce, ctx.aad)))


def test_tenant_moves_its_keys_to_its_own_provider_and_back() -> None:
    kms = TenantKms()
    store = tg.MemoryStore()
    providers: dict[str, object] = {"acme-kms": kms, "spare": tg.LocalKeyProvider.ephemeral()}
    guard, _service = tg.Guard.with_service(
        tg.LocalKeyProvider.ephemeral(),
        store,
        tenant_key_providers=providers,
        tenant_key_provider_tenants={"acme-kms": ["acme"]},
    )
    acme = tg.TenantContext.service("acme", _service)
    globex = tg.TenantContext.service("globex", _service)
    with guard:
        assert guard.tenant_key_provider_names() == ["acme-kms", "spare"]
        guard.create_tenant(acme)
        guard.create_tenant(globex)
        sealed = guard.seal(acme, "c", b"acme data")
        assert guard.tenant_key_provider(acme) is None

        report = guard.set_tenant_key_provider(acme, "acme-kms")
        assert (report.tenants, report.rewrapped, report.current, report.last_tenant) == (1, 1, 0, "acme")
        assert guard.tenant_key_provider(acme) == "acme-kms"
        assert guard.tenant_key_provider(globex) is None
        [key] = guard.key_versions(acme)
        assert tg.split_kek_id(key.kek_id) == ("acme-kms", "t-1")
        assert key.kek_id == tg.tagged_kek_id("acme-kms", "t-1")
        # The cache was invalidated: opening now unwraps with the tenant's provider.
        before = kms.calls["unwrap"]
        assert guard.open(acme, "c", sealed) == b"acme data"
        assert kms.calls["unwrap"] == before + 1
        # New key versions go to the tenant's provider too.
        wraps = kms.calls["wrap"]
        assert guard.rotate_tenant_key(acme) == 2
        assert kms.calls["wrap"] == wraps + 1
        assert all(tg.split_kek_id(k.kek_id)[0] == "acme-kms" for k in guard.key_versions(acme))
        # Idempotent.
        again = guard.set_tenant_key_provider(acme, "acme-kms")
        assert (again.rewrapped, again.current) == (0, 2)
        audit = [e for e in guard.audit_entries(acme) if e.action == "key.rewrap"]
        assert audit[-1].details["provider"] == "acme-kms"

        # A process without the provider registered cannot open the tenant's data.
        other, _service = tg.Guard.with_service(tg.LocalKeyProvider.ephemeral(), store)
        with other:
            with pytest.raises(tg.ConfigError, match="acme-kms"):
                other.open(acme, "c", sealed)
        # The tenant's KMS failing is reported with its kind (the cache is bypassed by a
        # fresh guard over the same store and providers).
        kms.down = True
        fresh, _service = tg.Guard.with_service(tg.LocalKeyProvider.ephemeral(), store, tenant_key_providers={"acme-kms": kms})
        with fresh:
            with pytest.raises(tg.UnavailableError, match="unreachable"):
                fresh.open(acme, "c", sealed)
        kms.down = False

        # Back to the deployment provider; the data stays readable.
        back = guard.set_tenant_key_provider(acme, None)
        assert back.rewrapped == 2
        assert guard.tenant_key_provider(acme) is None
        assert all(tg.split_kek_id(k.kek_id)[0] is None for k in guard.key_versions(acme))
        unwraps = kms.calls["unwrap"]
        assert guard.open(acme, "c", sealed) == b"acme data"
        assert kms.calls["unwrap"] == unwraps


def test_byok_refusals() -> None:
    store = tg.MemoryStore()
    guard, _service = tg.Guard.with_service(
        tg.LocalKeyProvider.ephemeral(),
        store,
        tenant_key_providers={"acme-kms": TenantKms()},
        tenant_key_provider_tenants={"acme-kms": ["acme"]},
    )
    acme = tg.TenantContext.service("acme", _service)
    with guard:
        guard.create_tenant(acme)
        with pytest.raises(tg.ConfigError, match="no tenant key provider named"):
            guard.set_tenant_key_provider(acme, "nope")
        # Another tenant may not use acme's provider, even with the _service capability.
        globex = tg.TenantContext.service("globex", _service)
        guard.create_tenant(globex)
        with pytest.raises(tg.PermissionDeniedError):
            guard.set_tenant_key_provider(globex, "acme-kms")
        for role in ("viewer", "member", "admin", "owner"):
            with pytest.raises(tg.PermissionDeniedError):
                guard.set_tenant_key_provider(tg.TenantContext.resolved(_service, "acme", "u", role), "acme-kms")
        assert guard.tenant_key_provider(tg.TenantContext.resolved(_service, "acme", "u", "viewer")) is None
        guard.shred_tenant(acme)
        with pytest.raises(tg.KeyDestroyedError):
            guard.set_tenant_key_provider(acme, "acme-kms")
    with pytest.raises(tg.ConfigError):
        tg.Guard(tg.LocalKeyProvider.ephemeral(), store, tenant_key_providers={"Bad Name": TenantKms()})
    with pytest.raises(TypeError, match="current_kek"):
        tg.Guard(tg.LocalKeyProvider.ephemeral(), store, tenant_key_providers={"x": object()})


def test_kek_id_helpers() -> None:
    assert tg.tagged_kek_id("acme-kms", "arn:key/1") == "@acme-kms/arn:key/1"
    assert tg.split_kek_id("@acme-kms/arn:key/1") == ("acme-kms", "arn:key/1")
    assert tg.split_kek_id("kek-7") == (None, "kek-7")
    tg.validate_provider_name("acme-kms.eu_1")
    for bad in ("", "Acme", "a/b", "x" * (tg.MAX_PROVIDER_NAME_LEN + 1)):
        with pytest.raises(tg.ConfigError):
            tg.validate_provider_name(bad)
    tg.validate_provider_name("x" * tg.MAX_PROVIDER_NAME_LEN)
    assert tg.MAX_TENANT_PROVIDERS == 10_000
