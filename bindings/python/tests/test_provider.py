"""A key provider implemented in Python, used by the core; its errors come back typed."""

import hashlib
import hmac
import os
import threading

import pytest

import tenantguard as tg


class HmacKeyProvider:
    """A toy KMS client: wraps with an HMAC-SHA256 keystream and tag, bound to the context."""

    name = "toy-kms"

    def __init__(self) -> None:
        self.keks = {"toy-1": os.urandom(32)}
        self.current = "toy-1"
        # Tenant-key calls; the service keyring's (row-MAC, audit-MAC, ... keys wrapped
        # under the same KEK, contexts named `_tg-service.*`) are counted apart.
        self.calls = {"current_kek": 0, "wrap": 0, "unwrap": 0, "service_wrap": 0, "service_unwrap": 0}
        self.fail_with: BaseException | None = None
        self.bad_length = False
        self.lock = threading.Lock()

    def _count(self, what: str) -> None:
        with self.lock:
            self.calls[what] += 1
        if self.fail_with is not None:
            raise self.fail_with

    def current_kek(self) -> str:
        self._count("current_kek")
        return self.current

    def _stream(self, kek: bytes, nonce: bytes, aad: bytes) -> bytes:
        return hmac.new(kek, b"stream" + nonce + aad, hashlib.sha256).digest()

    def wrap(self, key: bytes, ctx: tg.WrapContext) -> tuple[str, bytes]:
        self._count("service_wrap" if ctx.tenant.startswith("_tg-service.") else "wrap")
        assert len(key) == 32
        kek = self.keks[self.current]
        nonce = os.urandom(16)
        ct = bytes(a ^ b for a, b in zip(key, self._stream(kek, nonce, ctx.aad)))
        tag = hmac.new(kek, b"tag" + nonce + ct + ctx.aad, hashlib.sha256).digest()
        return self.current, nonce + ct + tag

    def unwrap(self, kek_id: str, ciphertext: bytes, ctx: tg.WrapContext) -> bytes:
        self._count("service_unwrap" if ctx.tenant.startswith("_tg-service.") else "unwrap")
        kek = self.keks[kek_id]
        nonce, ct, tag = ciphertext[:16], ciphertext[16:48], ciphertext[48:]
        want = hmac.new(kek, b"tag" + nonce + ct + ctx.aad, hashlib.sha256).digest()
        if not hmac.compare_digest(tag, want):
            raise tg.IntegrityError("context mismatch")
        key = bytes(a ^ b for a, b in zip(ct, self._stream(kek, nonce, ctx.aad)))
        return key[:5] if self.bad_length else key


def test_python_provider_is_used_by_the_core(service: tg.ServiceRole) -> None:
    provider = HmacKeyProvider()
    assert isinstance(provider, tg.KeyProvider)
    g, _service = tg.Guard.with_service(provider, tg.MemoryStore(), cache_max_tenants=0)
    with g:
        acme = tg.TenantContext.service("acme", _service)
        g.create_tenant(acme)
        assert provider.calls["wrap"] == 1
        sealed = g.seal(acme, "c", b"via python kms")
        assert g.open(acme, "c", sealed) == b"via python kms"
        assert provider.calls["unwrap"] == 2
        assert g.key_versions(acme)[0].kek_id == "toy-1"
        provider.keks["toy-2"] = os.urandom(32)
        provider.current = "toy-2"
        assert g.rewrap_tenant_keys(_service).rewrapped == 1
        # Once for the service keyring (re-wrapped first), once for the tenant keys.
        assert provider.calls["current_kek"] == 2
        assert provider.calls["service_wrap"] >= 2, "the audit-mac key moved to toy-2"
        del provider.keks["toy-1"]
        assert g.open(acme, "c", sealed) == b"via python kms"


def test_wrap_context_is_given(service: tg.ServiceRole) -> None:
    seen: list[tg.WrapContext] = []

    class Spy(HmacKeyProvider):
        def wrap(self, key: bytes, ctx: tg.WrapContext) -> tuple[str, bytes]:
            seen.append(ctx)
            return super().wrap(key, ctx)

    g, _service = tg.Guard.with_service(Spy(), tg.MemoryStore())
    with g:
        g.create_tenant(tg.TenantContext.service("acme", _service))
    (ctx,) = [c for c in seen if not c.tenant.startswith("_tg-service.")]
    assert (ctx.tenant, ctx.key_id) == ("acme", 1)
    assert ctx.aad == b"tenantguard/v1/wrap\x04acme\x00\x00\x00\x01"
    assert ctx.pairs == [("tenantguard_tenant", "acme"), ("tenantguard_key_id", "1")]


@pytest.mark.parametrize(
    ("raised", "expected", "message"),
    [
        (tg.UnavailableError("kms is down"), tg.UnavailableError, "key provider unavailable: kms is down"),
        (tg.ConfigError("no region"), tg.ConfigError, "key provider configuration: no region"),
        (tg.IntegrityError("nope"), tg.IntegrityError, "does not match its tenant/key context"),
        # What providers raised before integrity failures had their own kind: still understood.
        (tg.AuthenticationFailedError("nope"), tg.IntegrityError, "does not match its tenant/key context"),
        (tg.KeyProviderError("access denied"), tg.KeyProviderError, "key provider failed: access denied"),
        (RuntimeError("boom"), tg.KeyProviderError, "key provider failed: RuntimeError: boom"),
        (KeyError("k"), tg.KeyProviderError, "key provider failed: KeyError: 'k'"),
    ],
)
def test_foreign_errors_come_back_typed(
    service: tg.ServiceRole, raised: BaseException, expected: type[tg.TenantguardError], message: str
) -> None:
    provider = HmacKeyProvider()
    g, _service = tg.Guard.with_service(provider, tg.MemoryStore(), cache_max_tenants=0)
    with g:
        acme = tg.TenantContext.service("acme", _service)
        g.create_tenant(acme)
        provider.fail_with = raised
        with pytest.raises(expected, match=message) as info:
            g.seal(acme, "c", b"v")
        # Raised `from` the provider's exception: its traceback is part of the report.
        assert info.value.__cause__ is raised
        # A later failure that no Python exception caused has no cause.
        provider.fail_with = None
        provider.bad_length = True
        with pytest.raises(tg.KeyProviderError, match="a data key is 32 bytes") as later:
            g.seal(acme, "c", b"v")
        assert later.value.__cause__ is None


def test_bad_provider_results(service: tg.ServiceRole) -> None:
    provider = HmacKeyProvider()
    g, _service = tg.Guard.with_service(provider, tg.MemoryStore(), cache_max_tenants=0)
    with g:
        acme = tg.TenantContext.service("acme", _service)
        g.create_tenant(acme)
        provider.bad_length = True
        with pytest.raises(tg.KeyProviderError, match="unwrap returned 5 bytes; a data key is 32 bytes"):
            g.seal(acme, "c", b"v")

    class WrongType(HmacKeyProvider):
        def wrap(self, key: bytes, ctx: tg.WrapContext) -> tuple[str, bytes]:
            return 42  # type: ignore[return-value]

    g, _service = tg.Guard.with_service(WrongType(), tg.MemoryStore())
    with g:
        with pytest.raises(tg.KeyProviderError, match="TypeError"):
            g.create_tenant(tg.TenantContext.service("acme", _service))


def test_tampered_context_is_refused_by_the_provider(service: tg.ServiceRole) -> None:
    provider = HmacKeyProvider()
    _, wrapped = provider.wrap(os.urandom(32), _ctx(service, "acme"))
    with pytest.raises(tg.IntegrityError):
        provider.unwrap("toy-1", wrapped, _ctx(service, "other"))


def _ctx(service: tg.ServiceRole, tenant: str) -> tg.WrapContext:
    seen: list[tg.WrapContext] = []

    class Spy(HmacKeyProvider):
        def wrap(self, key: bytes, ctx: tg.WrapContext) -> tuple[str, bytes]:
            seen.append(ctx)
            return super().wrap(key, ctx)

    g, _service = tg.Guard.with_service(Spy(), tg.MemoryStore())
    with g:
        g.create_tenant(tg.TenantContext.service(tenant, _service))
    return seen[0]


def test_provider_calling_back_into_its_guard_is_refused_not_deadlocked() -> None:
    # The provider runs while the guard's call loads the tenant's key (the key cache's
    # single load per tenant): the same guard called again from it used to wait for that
    # load forever. It raises ConflictError inside the provider instead.
    inner: list[BaseException] = []
    other, other_service = tg.Guard.in_memory_with_service()
    other_ctx = tg.TenantContext.service("kms-meta", other_service)
    other.create_tenant(other_ctx)

    class CallsBack(HmacKeyProvider):
        guard: tg.Guard | None = None
        ctx: tg.TenantContext | None = None

        def unwrap(self, kek_id: str, ciphertext: bytes, ctx: tg.WrapContext) -> bytes:
            if ctx.tenant == "acme" and self.guard is not None and self.ctx is not None:
                other.seal(other_ctx, "audit", b"another guard is fine")
                try:
                    self.guard.seal(self.ctx, "c", b"x")
                except tg.ConflictError as e:
                    inner.append(e)
                    raise
            return super().unwrap(kek_id, ciphertext, ctx)

    provider = CallsBack()
    store = tg.MemoryStore()
    g, service = tg.Guard.with_service(provider, store)
    with g:
        acme = tg.TenantContext.service("acme", service)
        g.create_tenant(acme)
    g, service = tg.Guard.with_service(provider, store)  # a cold key cache: seal unwraps
    with g:
        acme = tg.TenantContext.service("acme", service)
        provider.guard, provider.ctx = g, acme
        with pytest.raises(tg.KeyProviderError, match="called back into the Guard"):
            g.seal(acme, "c", b"v")
        assert len(inner) == 1
        provider.guard = None
        assert g.open(acme, "c", g.seal(acme, "c", b"v")) == b"v"
    other.close()
