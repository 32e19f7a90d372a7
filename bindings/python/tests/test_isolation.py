"""Isolation from Python: organizations and memberships with the four roles, a
directory implemented in Python, write-only credentials opened through a Revealer, and
TOTP codes from a sealed seed (RFC 6238 vectors)."""

from typing import Literal

import pytest

import tenantguard as tg


def test_roles_refuse_a_viewer_write(guard: tg.Guard, acme: tg.TenantContext, service: tg.ServiceRole) -> None:
    viewer = tg.TenantContext.resolved(service, "acme", "vic", "viewer")
    member = tg.TenantContext.resolved(service, "acme", "mia", "member")
    assert (viewer.user, viewer.role, acme.user, acme.role) == ("vic", "viewer", None, None)
    with pytest.raises(tg.PermissionDeniedError):
        guard.put_record(viewer, "r1", "run_log", b"x")
    with pytest.raises(tg.PermissionDeniedError):
        guard.put_credential(viewer, "c1", tg.Credential.password("pw"))
    guard.put_record(member, "r1", "run_log", b"x")
    # Another tenant's context never reaches acme's data.
    other = tg.TenantContext.resolved(service, "globex", "mia", "owner")
    with pytest.raises(tg.TenantguardError):
        guard.open_record(other, "r1")


def test_a_user_context_vouched_by_another_guards_capability_is_refused(guard: tg.Guard, acme: tg.TenantContext) -> None:
    # Any code holding a guard can make a throwaway guard; its capability vouches for no one here.
    other, other_service = tg.Guard.with_service(tg.LocalKeyProvider.ephemeral(), tg.MemoryStore())
    with other:
        owner = tg.TenantContext.resolved(other_service, "acme", "mallory", "owner")
        with pytest.raises(tg.PermissionDeniedError):
            guard.put_record(owner, "r1", "run_log", b"x")
        with pytest.raises(tg.PermissionDeniedError):
            guard.audit_entries(owner)


def test_memory_directory_organizations_and_roles(service: tg.ServiceRole) -> None:
    d = tg.MemoryDirectory()
    d.create(service, "org-acme", "olga")
    d.create(service, "personal-mia", "mia")
    with pytest.raises(tg.PermissionDeniedError):
        d.create(service, "org-acme", "eve")
    resolver = tg.DirectoryResolver(d, service)
    owner = resolver.resolve("olga", "org-acme")
    assert (owner.tenant, owner.user, owner.role) == ("org-acme", "olga", "owner")
    d.set_member(owner, "ada", "admin")
    d.set_member(owner, "mia", "member")
    ada = resolver.resolve("ada", "org-acme")
    # Admins manage non-owners, not owners.
    d.set_member(ada, "vic", "viewer")
    with pytest.raises(tg.PermissionDeniedError):
        d.set_member(ada, "eve", "owner")
    with pytest.raises(tg.PermissionDeniedError):
        d.set_member(resolver.resolve("mia", "org-acme"), "eve", "viewer")
    with pytest.raises(tg.PermissionDeniedError):  # the last owner stays
        d.remove_member(owner, "olga")
    with pytest.raises(tg.PermissionDeniedError):  # not a member
        resolver.resolve("eve", "org-acme")
    assert d.role_of("vic", "org-acme") == "viewer"
    assert d.role_of("eve", "org-acme") is None
    ms = d.memberships_of("mia")
    assert [(m.tenant, m.user, m.role) for m in ms] == [
        ("org-acme", "mia", "member"),
        ("personal-mia", "mia", "owner"),
    ]
    assert ms == d.memberships_of("mia")
    scopes = resolver.visible_scopes("mia")
    assert [(c.tenant, c.role) for c in scopes] == [("org-acme", "member"), ("personal-mia", "owner")]
    assert d.remove_member(ada, "vic") is True
    assert d.remove_member(ada, "vic") is False
    with pytest.raises(tg.InvalidInputError):
        d.set_member(owner, "x", "emperor")  # type: ignore[arg-type]


class PyDirectory:
    """A directory implemented in Python (e.g. over the application's own tables)."""

    def __init__(self) -> None:
        self.roles = {("mia", "acme"): "member", ("mia", "globex"): "viewer"}
        self.fail = False

    def role_of(self, user: str, tenant: str) -> str | None:
        if self.fail:
            raise ConnectionError("directory down")
        return self.roles.get((user, tenant))

    def memberships_of(self, user: str) -> list[tuple[str, str]]:
        return sorted((t, r) for (u, t), r in self.roles.items() if u == user)


def test_python_directory(
    guard: tg.Guard, service: tg.ServiceRole, acme: tg.TenantContext
) -> None:
    d = PyDirectory()
    resolver = tg.DirectoryResolver(d, service)
    mia = resolver.resolve("mia", "acme")
    assert (mia.tenant, mia.user, mia.role) == ("acme", "mia", "member")
    guard.put_record(mia, "r1", "run_log", b"written by mia")
    viewer = resolver.resolve("mia", "globex")
    assert viewer.role == "viewer"
    with pytest.raises(tg.PermissionDeniedError):
        resolver.resolve("eve", "acme")
    assert [(c.tenant, c.role) for c in resolver.visible_scopes("mia")] == [
        ("acme", "member"),
        ("globex", "viewer"),
    ]
    d.fail = True
    with pytest.raises(tg.TenantguardError) as e:
        resolver.resolve("mia", "acme")
    assert "directory down" in str(e.value)
    assert "key provider" not in str(e.value), "a directory is not a key provider"
    assert not isinstance(e.value, tg.PermissionDeniedError)
    d.fail = False
    d.roles[("mia", "acme")] = "emperor"
    with pytest.raises(tg.TenantguardError):
        resolver.resolve("mia", "acme")
    with pytest.raises(TypeError):
        tg.DirectoryResolver(object(), service)  # type: ignore[arg-type]


def test_write_only_credentials_and_revealer(guard: tg.Guard, acme: tg.TenantContext, service: tg.ServiceRole) -> None:
    events: list[tg.OpenEvent] = []
    revealer = tg.Revealer(guard, events.append)
    mia = tg.TenantContext.resolved(service, "acme", "mia", "member")
    guard.put_credential(mia, "site-pw", tg.Credential.password("first"))
    guard.put_credential(mia, "site-pw", tg.Credential.password("second"))
    for role in ("viewer", "member", "admin", "owner"):
        ctx = tg.TenantContext.resolved(service, "acme", "someone", role)
        with pytest.raises(tg.PermissionDeniedError):
            revealer.open_credential(ctx, "site-pw", "curious")
        with pytest.raises(tg.PermissionDeniedError):
            guard.open_credential(ctx, "site-pw")
    assert events == []
    cred = revealer.open_credential(acme, "site-pw", "run 8812 launch")
    assert cred.expose() == b"second"
    [ev] = events
    assert (ev.tenant, ev.principal, ev.record, ev.kind, ev.purpose) == (
        "acme",
        "service",
        "site-pw",
        "reveal",
        "run 8812 launch",
    )
    assert "second" not in repr(ev)
    with pytest.raises(tg.InvalidInputError):
        revealer.open_credential(acme, "site-pw", "")

    def refuse(event: tg.OpenEvent) -> None:
        raise RuntimeError("audit log unavailable")

    with pytest.raises(tg.TenantguardError) as e:
        tg.Revealer(guard, refuse).open_credential(acme, "site-pw", "run 1")
    assert "audit log unavailable" in str(e.value) and "second" not in str(e.value)
    assert "RuntimeError: audit log unavailable" in str(e.value)
    assert "key provider" not in str(e.value), "an observer is not a key provider"


# RFC 6238 appendix B: seeds "12345678901234567890" (SHA-1), 32 bytes (SHA-256), 64 (SHA-512).
RFC6238 = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


def test_totp_codes_from_sealed_seeds_match_rfc6238() -> None:
    # Codes are given only for the guard's clock (plus or minus one step): the RFC vectors
    # run on a guard whose clock the test sets.
    now = [59]
    guard, service = tg.Guard.with_service(
        tg.LocalKeyProvider.ephemeral(), tg.MemoryStore(), clock=lambda: now[0]
    )
    guard.create_tenant(tg.TenantContext.service("acme", service))
    seeds: dict[Literal["sha1", "sha256", "sha512"], bytes] = {
        "sha1": b"12345678901234567890",
        "sha256": b"12345678901234567890123456789012",
        "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
    }
    mia = tg.TenantContext.resolved(service, "acme", "mia", "member")
    for alg, seed in seeds.items():
        guard.put_credential(mia, f"otp-{alg}", tg.Credential.totp_seed(seed))
    events: list[tg.OpenEvent] = []
    revealer = tg.Revealer(guard, events.append)
    for t, *codes in RFC6238:
        now[0] = t
        for alg, want in zip(seeds, codes):
            code = revealer.totp_code(
                mia, f"otp-{alg}", "login", unix_time=t, digits=8, algorithm=alg, encoding="raw"
            )
            assert code.expose() == want, (alg, t)
            assert want not in repr(code) and want not in str(code)
    assert {e.kind for e in events} == {"totp_code"}
    assert events[0].principal == "user:mia"
    # Base32 seed (as in otpauth:// URIs), 6 digits by default.
    guard.put_credential(mia, "otp-b32", tg.Credential.totp_seed("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"))
    now[0] = 59
    assert revealer.totp_code(mia, "otp-b32", "login", unix_time=59).expose() == "287082"
    # Next month's code is refused.
    with pytest.raises(tg.PermissionDeniedError):
        revealer.totp_code(mia, "otp-b32", "harvest", unix_time=59 + 30 * 86_400)
    assert len(revealer.totp_code(mia, "otp-b32", "login", unix_time=59)) == 6
    # A viewer may not use credentials; a password is not a TOTP seed.
    with pytest.raises(tg.PermissionDeniedError):
        revealer.totp_code(tg.TenantContext.resolved(service, "acme", "vic", "viewer"), "otp-b32", "x", unix_time=59)
    guard.put_credential(mia, "pw", tg.Credential.password("hunter2"))
    with pytest.raises(tg.InvalidInputError):
        revealer.totp_code(mia, "pw", "login", unix_time=59)
    with pytest.raises(tg.InvalidInputError):
        revealer.totp_code(mia, "otp-b32", "login", digits=12)
