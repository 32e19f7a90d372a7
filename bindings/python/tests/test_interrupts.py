"""Ctrl-C (`KeyboardInterrupt`) and `sys.exit()` (`SystemExit`) raised inside Python code
the core calls (key provider, directory, clock, observers, progress callbacks) come out of
the tenantguard call as themselves: never as a `TenantguardError` a retry loop would
catch, never swallowed as "unraisable"."""

from collections.abc import Callable
from typing import Any

import pytest

import tenantguard as tg

from test_provider import HmacKeyProvider

INTERRUPTS = [KeyboardInterrupt, SystemExit]


class Interrupting(HmacKeyProvider):
    """Raises `raised` from `unwrap` of tenant `acme`'s keys once armed."""

    def __init__(self, raised: BaseException) -> None:
        super().__init__()
        self.raised = raised
        self.armed = False

    def unwrap(self, kek_id: str, ciphertext: bytes, ctx: tg.WrapContext) -> bytes:
        if self.armed and ctx.tenant == "acme":
            raise self.raised
        return super().unwrap(kek_id, ciphertext, ctx)


@pytest.mark.parametrize("kind", INTERRUPTS)
def test_key_provider_interrupt_is_raised_as_itself(kind: type[BaseException]) -> None:
    raised = kind()
    provider = Interrupting(raised)
    g, service = tg.Guard.with_service(provider, tg.MemoryStore(), cache_max_tenants=0)
    with g:
        acme = tg.TenantContext.service("acme", service)
        g.create_tenant(acme)
        provider.armed = True
        with pytest.raises(kind) as info:
            g.seal(acme, "c", b"v")
        assert info.value is raised
        # Nothing is left pending: the next failure is the provider's own again.
        provider.raised = RuntimeError("boom")
        with pytest.raises(tg.KeyProviderError, match="RuntimeError: boom"):
            g.seal(acme, "c", b"v")
        provider.armed = False
        assert g.open(acme, "c", g.seal(acme, "c", b"v")) == b"v"


def _raiser(raised: BaseException) -> Callable[..., Any]:
    def f(*_args: object) -> Any:
        raise raised

    return f


@pytest.mark.parametrize("kind", INTERRUPTS)
def test_clock_interrupt_is_not_swallowed(kind: type[BaseException]) -> None:
    armed = [False]
    raised = kind()

    def clock() -> int:
        if armed[0]:
            raise raised
        return 1_800_000_000

    g, service = tg.Guard.with_service(tg.LocalKeyProvider.ephemeral(), tg.MemoryStore(), clock=clock)
    with g:
        acme = tg.TenantContext.service("acme", service)
        g.create_tenant(acme)
        g.set_member(acme, "alice", "owner")
        owner = tg.TenantContext.resolved(service, "acme", "alice", "owner")
        armed[0] = True
        with pytest.raises(kind) as info:
            g.create_session(owner)
        assert info.value is raised


@pytest.mark.parametrize("kind", INTERRUPTS)
def test_directory_and_observers_interrupts(guard: tg.Guard, acme: tg.TenantContext, service: tg.ServiceRole, kind: type[BaseException]) -> None:
    raised = kind()

    class Directory:
        role_of = staticmethod(_raiser(raised))
        memberships_of = staticmethod(_raiser(raised))

    resolver = tg.DirectoryResolver(Directory(), service)
    with pytest.raises(kind):
        resolver.resolve("alice", "acme")
    with pytest.raises(kind):
        resolver.visible_scopes("alice")

    guard.put_credential(acme, "pw", tg.Credential.password("s3cret"))
    with pytest.raises(kind):
        tg.Revealer(guard, _raiser(raised)).open_credential(acme, "pw", "check")

    store = tg.MemoryStore()
    g, svc = tg.Guard.with_service(tg.LocalKeyProvider.ephemeral(), store)
    with g:
        ctx = tg.TenantContext.service("acme", svc)
        g.create_tenant(ctx)
        egress = tg.Egress(g, store, registry=tg.Registry.example(), observer=_raiser(raised))
        with pytest.raises(kind):
            egress.prepare(ctx, "llm-chat", "hi")


@pytest.mark.parametrize("kind", INTERRUPTS)
def test_progress_interrupt_stops_the_job(guard: tg.Guard, acme: tg.TenantContext, kind: type[BaseException]) -> None:
    for i in range(3):
        guard.put_record(acme, f"r{i}", "note", b"v")
    guard.rotate_tenant_key(acme)
    calls: list[int] = []

    def progress(r: tg.ReencryptReport) -> None:
        calls.append(r.moved)
        raise kind()

    with pytest.raises(kind):
        guard.reencrypt(acme, 1, batch_size=1, progress=progress)
    assert calls == [1]
    assert guard.reencrypt(acme, 1).moved == 2, "the job stopped after the interrupted batch"
