"""Progress callbacks of the long-running jobs (retention sweeps, KEK re-wrap): called after
each batch, and an exception they raise comes back once the job has ended cleanly."""

from collections.abc import Iterator

import pytest

import tenantguard as tg

DAY = 86_400
T0 = 1_700_000_000


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def timed(clock: Clock) -> Iterator[tg.Guard]:
    g, _service = tg.Guard.with_service(tg.LocalKeyProvider.ephemeral(), tg.MemoryStore(), clock=clock)
    _SERVICES[id(g)] = _service
    with g:
        yield g


# Each guard's service capability, for the `tenant` helper.
_SERVICES: dict[int, tg.ServiceRole] = {}


def tenant(guard: tg.Guard, name: str, screenshots: int) -> tg.TenantContext:
    ctx = tg.TenantContext.service(name, _SERVICES[id(guard)])
    guard.create_tenant(ctx)
    for i in range(screenshots):
        guard.put_record(ctx, f"{name}-shot-{i}", "screenshot", b"png")
    guard.put_record(ctx, f"{name}-cred", "password", b"kept forever")
    return ctx


def test_sweep_reports_progress_after_each_batch(timed: tg.Guard, clock: Clock) -> None:
    acme = tenant(timed, "acme", 3)
    clock.now = T0 + 31 * DAY
    seen: list[tg.SweepReport] = []
    report = timed.sweep(acme, batch_size=1, progress=seen.append)
    assert report.deleted == {"screenshot": 3}
    assert len(seen) == report.batches >= 3
    assert [r.batches for r in seen] == list(range(1, report.batches + 1))
    totals = [r.total for r in seen]
    assert totals[:3] == [1, 2, 3] and totals[-1] == 3
    assert all(r.tenant == "acme" and r.now == clock.now for r in seen)
    # Each batch's receipt is written as the batch commits: every report carries the latest.
    assert all(r.audit_seq is not None for r in seen) and report.audit_seq == seen[-1].audit_seq


def test_sweep_progress_exception_is_raised_after_a_clean_run(timed: tg.Guard, clock: Clock) -> None:
    acme = tenant(timed, "acme", 3)
    clock.now = T0 + 31 * DAY
    calls: list[int] = []

    def boom(r: tg.SweepReport) -> None:
        calls.append(r.total)
        raise RuntimeError("progress failed")

    with pytest.raises(RuntimeError, match="progress failed"):
        timed.sweep(acme, batch_size=1, progress=boom)
    assert calls == [1]  # not called again after it raised
    # The sweep itself ran to its end: everything expired is gone, the receipt written,
    # what is inside its window kept.
    for i in range(3):
        with pytest.raises(tg.NotFoundError):
            timed.open_record(acme, f"acme-shot-{i}")
    assert timed.open_record(acme, "acme-cred") == ("password", b"kept forever")
    receipts = [e for e in timed.audit_entries(acme) if e.action == "retention.sweep"]
    assert [e.details["deleted.screenshot"] for e in receipts] == ["1", "1", "1"]
    # And it stays usable: the next sweep (stateless) picks up newly expired records.
    timed.put_record(acme, "late", "screenshot", b"png")
    clock.now += 31 * DAY
    seen: list[tg.SweepReport] = []
    assert timed.sweep(acme, progress=seen.append).deleted == {"screenshot": 1}
    assert seen[-1].total == 1


def test_sweep_all_reports_each_tenant_and_resumes(timed: tg.Guard, clock: Clock, service: tg.ServiceRole) -> None:
    for name in ["a", "b", "c"]:
        tenant(timed, name, 1)
    clock.now = T0 + 31 * DAY
    seen: list[tg.SweepAllReport] = []
    report = timed.sweep_all(_SERVICES[id(timed)], batch_size=2, progress=seen.append)
    assert (report.tenants, report.deleted, report.last_tenant) == (3, 3, "c")
    assert [(r.tenants, r.deleted, r.last_tenant) for r in seen] == [
        (1, 1, "a"),
        (2, 2, "b"),
        (3, 3, "c"),
    ]

    # A callback that raises: the run still ends cleanly, then the exception comes back;
    # the tenant the callback last saw is a safe point to resume after.
    for name in ["a", "b", "c"]:
        timed.put_record(tg.TenantContext.service(name, _SERVICES[id(timed)]), f"{name}-new", "screenshot", b"x")
    clock.now += 31 * DAY
    last: list[str | None] = []

    def stop(r: tg.SweepAllReport) -> None:
        last.append(r.last_tenant)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        timed.sweep_all(_SERVICES[id(timed)], progress=stop)
    assert last == ["a"]
    resumed = timed.sweep_all(_SERVICES[id(timed)], start_after=last[0])
    assert (resumed.tenants, resumed.last_tenant) == (2, "c")


def test_rewrap_tenant_keys_reports_progress() -> None:
    provider = tg.LocalKeyProvider.ephemeral()
    guard, _service = tg.Guard.with_service(provider, tg.MemoryStore())
    with guard:
        for name in ["a", "b", "c"]:
            guard.create_tenant(tg.TenantContext.service(name, _service))
        provider.rotate_kek()
        seen: list[tg.RewrapReport] = []
        report = guard.rewrap_tenant_keys(_service, batch_size=2, progress=seen.append)
        assert (report.tenants, report.rewrapped) == (3, 3)
        assert seen and seen[-1].rewrapped == 3 and seen[-1].last_tenant == "c"
        assert [r.tenants for r in seen] == sorted(r.tenants for r in seen)

        def boom(_: tg.RewrapReport) -> None:
            raise ValueError("stop")

        provider.rotate_kek()
        with pytest.raises(ValueError, match="stop"):
            guard.rewrap_tenant_keys(_service, progress=boom)
        # The run finished: a second one finds every key current.
        again = guard.rewrap_tenant_keys(_service)
        assert (again.rewrapped, again.current) == (0, 3)


def test_returning_false_stops_the_job(timed: tg.Guard, clock: Clock) -> None:
    acme = tenant(timed, "acme", 3)
    clock.now = T0 + 31 * DAY
    calls: list[int] = []

    def stop(r: tg.SweepReport) -> bool:
        calls.append(r.total)
        return False

    report = timed.sweep(acme, batch_size=1, progress=stop)
    assert calls == [1] and report.total == 1 and report.stopped
    assert report.audit_seq is not None  # what was deleted is still audited
    # A callback that returns None (or True) goes on; the rest is swept.
    rest = timed.sweep(acme, batch_size=1, progress=lambda r: None)
    assert rest.total == 2 and not rest.stopped

    svc = _SERVICES[id(timed)]
    for name in ("b", "c"):
        tenant(timed, name, 0)
    first = timed.sweep_all(svc, batch_size=2, progress=lambda r: False)
    assert first.tenants == 1 and first.stopped
    rest_all = timed.sweep_all(svc, start_after=first.last_tenant, progress=lambda r: True)
    assert first.tenants + rest_all.tenants == 3 and not rest_all.stopped
