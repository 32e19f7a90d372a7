"""The exception hierarchy: one subclass per core error kind, importable and picklable."""

import pickle

import pytest

import tenantguard as tg

KINDS = {
    "invalid_input": tg.InvalidInputError,
    "malformed": tg.MalformedError,
    "unsupported_version": tg.UnsupportedVersionError,
    "too_large": tg.TooLargeError,
    "authentication_failed": tg.AuthenticationFailedError,
    "unknown_key": tg.UnknownKeyError,
    "key_destroyed": tg.KeyDestroyedError,
    "cross_tenant": tg.CrossTenantError,
    "not_found": tg.NotFoundError,
    "permission_denied": tg.PermissionDeniedError,
    "conflict": tg.ConflictError,
    "key_provider": tg.KeyProviderError,
    "unavailable": tg.UnavailableError,
    "store": tg.StoreError,
    "config": tg.ConfigError,
    "integrity": tg.IntegrityError,
    "rate_limited": tg.RateLimitedError,
}


def test_tables_come_from_the_core() -> None:
    assert tg.ERROR_KINDS == list(KINDS)
    assert len(set(tg.ERROR_REASONS)) == len(tg.ERROR_REASONS)
    assert {"tampered", "broken_chain", "wrong_password", "expired", "revoked"} <= set(tg.ERROR_REASONS)
    assert tg.ROLES == ["viewer", "member", "admin", "owner"]
    assert {"token.create", "member.change", "portal.mark"} <= set(tg.AUDIT_ACTIONS)


def test_one_subclass_per_kind() -> None:
    assert issubclass(tg.TenantguardError, Exception)
    for kind, cls in KINDS.items():
        assert issubclass(cls, tg.TenantguardError)
        assert cls.kind == kind
        assert cls.__module__ == "tenantguard"
        assert getattr(tg, cls.__name__) is cls
        assert cls.__name__ in tg.__all__
    assert len(set(KINDS.values())) == len(KINDS)


@pytest.mark.parametrize("cls", list(KINDS.values()))
def test_picklable(cls: type[tg.TenantguardError]) -> None:
    err = cls("the core's message")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls and str(back) == "the core's message" and back.kind == cls.kind


def test_raised_error_pickles_with_its_message(guard: tg.Guard, acme: tg.TenantContext) -> None:
    with pytest.raises(tg.MalformedError) as info:
        guard.open(acme, "c", "tg1:1:AAAA")
    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is tg.MalformedError and str(back) == str(info.value)
    assert "malformed sealed value" in str(back)


def test_catchable_by_base(guard: tg.Guard, acme: tg.TenantContext) -> None:
    with pytest.raises(tg.TenantguardError) as info:
        guard.open_record(acme, "missing")
    assert info.value.kind == "not_found"
