"""Rate limits (issue 19): RateLimitedError with retry_after, the login limit with its
per-host back-off, a token probe, and the limiter for the host's own routes."""

import zlib
from typing import Any

import pytest

import tenantguard as tg


def test_rate_limited_error_is_in_the_hierarchy() -> None:
    assert issubclass(tg.RateLimitedError, tg.TenantguardError)
    assert tg.RateLimitedError.kind == "rate_limited"


def test_password_guessing_is_refused_with_retry_after(guard: tg.Guard, acme: tg.TenantContext) -> None:
    hasher = tg.PasswordHasher()
    phc = hasher.hash("correct horse")
    wrong = 0
    with pytest.raises(tg.RateLimitedError) as info:
        for i in range(20):
            try:
                guard.verify_password(hasher, "acme", "alice", f"guess-{i}", phc, host_key="203.0.113.7")
            except tg.AuthenticationFailedError as e:
                assert e.reason == "wrong_password"
                wrong += 1
    # The default login limit: 10 units per (user, host key), a failure costs 3.
    assert wrong == 4
    assert isinstance(info.value.retry_after, float)
    assert 0 < info.value.retry_after <= 60
    assert "retry after" in str(info.value)
    # The same user from another host is not locked out.
    check = guard.verify_password(hasher, "acme", "alice", "correct horse", phc, host_key="198.51.100.2")
    assert check.needs_rehash is False


BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def forged_token(i: int) -> str:
    """A well-formed token nobody issued: the prefix and the CRC32 checksum rule are public."""
    body = "tg_" + "".join(BASE62[(i * 7919 + k * 104729) % 62] for k in range(30))
    c = zlib.crc32(body.encode())
    digits = ""
    for _ in range(6):
        digits = BASE62[c % 62] + digits
        c //= 62
    return body + digits


def test_unknown_token_probe_is_throttled_per_host(guard: tg.Guard, acme: tg.TenantContext) -> None:
    unknown = 0
    with pytest.raises(tg.RateLimitedError) as info:
        for i in range(100):
            try:
                guard.authenticate_token(forged_token(i), host_key="198.51.100.66")
            except tg.AuthenticationFailedError as e:
                assert e.reason == "unknown"
                unknown += 1
    assert unknown == 20
    assert info.value.retry_after > 0
    # Another host's lookups go on.
    with pytest.raises(tg.AuthenticationFailedError):
        guard.authenticate_token(forged_token(500), host_key="192.0.2.1")


def test_host_routes_ask_the_limiter(guard: tg.Guard) -> None:
    for _ in range(10):
        guard.rate_limit_check("login", tenant="acme", subject="u:bob", host_key="10.0.0.1")
    with pytest.raises(tg.RateLimitedError) as info:
        guard.rate_limit_check("login", tenant="acme", subject="u:bob", host_key="10.0.0.1")
    assert info.value.retry_after > 0
    # Another host key is another cell.
    guard.rate_limit_check("login", tenant="acme", subject="u:bob", host_key="10.0.0.2")
    assert guard.rate_limit_failure("write", tenant="acme", subject="u:bob") is None
    with pytest.raises(tg.InvalidInputError):
        guard.rate_limit_check("nope")  # type: ignore[arg-type]


def test_tenant_overrides_tighten_and_cannot_loosen(
    guard: tg.Guard, service: tg.ServiceRole, acme: tg.TenantContext
) -> None:
    guard.set_member(acme, "olga", "owner")
    guard.set_member(acme, "mia", "member")
    olga = tg.TenantContext.resolved(service, "acme", "olga", "owner")
    mia = tg.TenantContext.resolved(service, "acme", "mia", "member")
    assert guard.rate_limit_overrides(mia) == {"classes": {}}
    # The owner allows 3 writes per user per hour in her tenant.
    tighter = {"classes": {"write": {"subject": {"burst": 3, "period_us": 1_200_000_000}}}}
    assert guard.set_rate_limit_overrides(olga, tighter) >= 1
    assert guard.rate_limit_overrides(mia) == tighter
    for i in range(3):
        guard.put_record(mia, f"r{i}", "note", b"x")
    with pytest.raises(tg.RateLimitedError) as info:
        guard.put_record(mia, "r3", "note", b"x")
    assert info.value.retry_after > 0
    # A malicious owner cannot lift the host's limits, touch the service class, or make
    # authentication fail open; a member cannot set overrides at all. Nothing is stored.
    for bad in (
        {"classes": {"login": {"subject": {"burst": 1_000_000, "period_us": 1}}}},
        {"classes": {"service": {"tenant": {"burst": 1, "period_us": 1_000_000}}}},
        {"classes": {"login": {"fail_closed": False}}},
        '{"classes": {"write": {"subject": {"burst": 0, "period_us": 1}}}}',
    ):
        with pytest.raises(tg.InvalidInputError):
            guard.set_rate_limit_overrides(olga, bad)
    with pytest.raises(tg.PermissionDeniedError):
        guard.set_rate_limit_overrides(mia, {"classes": {}})
    assert guard.rate_limit_overrides(mia) == tighter


def test_overrides_that_are_not_json_raise_tenantguard_errors(
    guard: tg.Guard, service: tg.ServiceRole, acme: tg.TenantContext
) -> None:
    guard.set_member(acme, "olga", "owner")
    olga = tg.TenantContext.resolved(service, "acme", "olga", "owner")
    g: Any = guard
    for bad in (object(), b"{}", {"classes": {"write": b"x"}}):
        with pytest.raises(tg.InvalidTypeError, match="not JSON serializable") as info:
            g.set_rate_limit_overrides(olga, bad)
        assert isinstance(info.value.__cause__, TypeError)
    cycle: dict[str, object] = {}
    cycle["classes"] = cycle
    with pytest.raises(tg.InvalidInputError, match="Circular reference"):
        g.set_rate_limit_overrides(olga, cycle)
    with pytest.raises(tg.InvalidInputError, match="lone surrogates"):
        g.set_rate_limit_overrides(olga, '{"classes": {"\ud800": {}}}')
    assert guard.rate_limit_overrides(olga) == {"classes": {}}
