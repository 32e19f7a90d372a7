"""Every failure raised from the package is a TenantguardError subclass with a stable
kind and a familiar builtin base (issue 12)."""

import inspect
import pickle
from pathlib import Path
from typing import Any, Callable

import pytest

import tenantguard as tg


def test_closed_guard_raises_closed_error_also_on_enter(tmp_path: Path) -> None:
    g, service = tg.Guard.in_memory_with_service()
    egress = tg.Egress(g, tg.MemoryStore())
    g.close()
    with pytest.raises(tg.ClosedError, match="closed Guard") as info:
        with g:
            pass
    assert isinstance(info.value, ValueError) and info.value.kind == "closed"
    with pytest.raises(tg.ClosedError):
        g.create_tenant(tg.TenantContext.service("acme", service))
    with pytest.raises(tg.ClosedError):
        with egress:
            pass
    assert repr(g) == "<tenantguard.Guard closed>"


def test_repr_of_guard_is_not_rust_debug_output() -> None:
    with tg.Guard.in_memory() as g:
        r = repr(g)
    assert r == "<tenantguard.Guard open>", r
    assert "{" not in r and "Arc" not in r


def test_out_of_range_ints_are_invalid_input(guard: tg.Guard, acme: tg.TenantContext) -> None:
    with pytest.raises(tg.InvalidInputError, match="out of range") as info:
        guard.set_retention(acme, "x", 2**64)
    assert isinstance(info.value, ValueError) and info.value.kind == "invalid_input"
    with pytest.raises(tg.InvalidInputError, match="batch_size"):
        guard.sweep(acme, batch_size=-1)
    with pytest.raises(tg.InvalidInputError, match="out of range"):
        tg.PasswordHasher(t_cost=2**40)


def test_wrong_types_are_invalid_type_errors(guard: tg.Guard, acme: tg.TenantContext) -> None:
    g: Any = guard
    with pytest.raises(tg.InvalidTypeError, match="context") as info:
        g.seal(acme, 1, b"x")
    assert isinstance(info.value, TypeError) and info.value.kind == "invalid_type"
    assert isinstance(info.value.__cause__, TypeError)
    with pytest.raises(tg.InvalidTypeError):
        g.seal(acme)  # missing arguments
    scope: Any = tg.Scope
    with pytest.raises(tg.InvalidTypeError):
        scope(1)
    with pytest.raises(tg.InvalidTypeError):
        tg.verify_audit_export(42)  # type: ignore[arg-type]


def test_a_callbacks_own_exception_passes_through() -> None:
    provider = tg.LocalKeyProvider.ephemeral()
    guard, service = tg.Guard.with_service(provider, tg.MemoryStore())
    with guard:
        guard.create_tenant(tg.TenantContext.service("a", service))
        provider.rotate_kek()

        def progress(_report: tg.RewrapReport) -> None:
            raise TypeError("the caller's own bug")

        with pytest.raises(TypeError, match="the caller's own bug") as info:
            guard.rewrap_tenant_keys(service, progress=progress)
        assert not isinstance(info.value, tg.TenantguardError)


def test_new_kinds_pickle_and_are_exported() -> None:
    for cls in (tg.ClosedError, tg.InvalidTypeError):
        assert issubclass(cls, tg.TenantguardError) and cls.__name__ in tg.__all__
        back = pickle.loads(pickle.dumps(cls("m")))
        assert type(back) is cls and str(back) == "m"
    assert issubclass(tg.InvalidInputError, ValueError)
    assert issubclass(tg.InvalidTypeError, TypeError)
    assert issubclass(tg.NotFoundError, LookupError)


def test_test_only_primitives_are_not_public() -> None:
    for name in ("seal_with_salt", "open_with_key"):
        assert not hasattr(tg, name) and name not in tg.__all__
        assert not hasattr(tg._native, name)


class _Bogus:
    """A value of a type no tenantguard argument accepts."""


def _bogus_call(f: Callable[..., Any]) -> Callable[[], Any] | None:
    """A call of `f` with a _Bogus value for every parameter, or None if `f` takes none."""
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        return None
    args = [_Bogus() for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    kwargs = {p.name: _Bogus() for p in params if p.kind == p.KEYWORD_ONLY}
    if not args and not kwargs:
        return None
    return lambda: f(*args, **kwargs)


def _calls(obj: Any) -> list[tuple[str, Callable[[], Any]]]:
    out = []
    for name in dir(obj):
        if name.startswith("_") or name == "close":
            continue
        f = getattr(obj, name)
        if not callable(f):
            continue
        call = _bogus_call(f)
        if call is not None:
            out.append((f"{getattr(obj, '__name__', type(obj).__name__)}.{name}", call))
    return out


def test_every_call_given_wrong_types_raises_a_tenantguard_error(
    guard: tg.Guard, acme: tg.TenantContext
) -> None:
    objects: list[Any] = [
        guard,
        acme,
        tg.Egress(guard, tg.MemoryStore(), registry=tg.Registry.example()),
        tg.Registry.example(),
        tg.Redactor(),
        tg.PasswordHasher(),
        tg.MemoryDirectory(),
        tg.LocalKeyProvider.ephemeral(),
        tg.PseudonymSession("acme"),
        guard.seal(acme, "c", b"v"),
        tg.Credential.password("x"),
        tg,  # module functions and every class's constructor
    ]
    objects += [getattr(tg, n) for n in tg.__all__ if isinstance(getattr(tg, n), type)]
    checked = set()
    for obj in objects:
        for where, call in _calls(obj):
            try:
                call()
            except tg.TenantguardError:
                checked.add(where)
            except BaseException as e:  # noqa: BLE001 - the point of the test
                pytest.fail(f"{where}: {type(e).__name__}: {e}")
    assert len(checked) > 100, sorted(checked)


def test_stubs_refuse_classes_without_a_constructor() -> None:
    # scripts/python.sh runs mypy --strict (warn_unused_ignores) on this file: if the stubs
    # let these calls type-check again, the ignores become unused and mypy fails.
    for make in (
        lambda: tg.SealedValue(),  # type: ignore[call-arg]
        lambda: tg.TenantContext(),  # type: ignore[call-arg]
        lambda: tg.Prepared(),  # type: ignore[call-arg]
        lambda: tg.ServiceRole(),  # type: ignore[call-arg]
    ):
        with pytest.raises(TypeError, match="cannot create"):
            make()
