"""Memberships, sessions that follow them, SSO/MFA portal marks (issue 13), and TOTP codes
from the guard's own clock."""

import pytest

import tenantguard as tg

T0 = 1_800_000_000


def test_removed_owner_cannot_refresh_or_shred_and_demotion_follows() -> None:
    guard, service = tg.Guard.in_memory_with_service()
    with guard:
        acme = tg.TenantContext.service("acme", service)
        guard.create_tenant(acme)
        assert guard.set_member(acme, "otto", "owner") is None
        assert guard.set_member(acme, "olga", "owner") is None
        assert guard.member_role(acme, "olga") == "owner"
        olga = tg.TenantContext.resolved(service, "acme", "olga", "owner")
        s = guard.create_session(olga, "laptop")
        cached = guard.verify_access_token(s.expose_access_token()).context
        otto = tg.TenantContext.resolved(service, "acme", "otto", "owner")
        assert guard.remove_member(otto, "olga") is True
        with pytest.raises(tg.AuthenticationFailedError) as e:
            guard.refresh_session(s.expose_refresh_token())
        assert e.value.reason in ("membership_ended", "revoked")
        with pytest.raises(tg.PermissionDeniedError, match="not a member"):
            guard.shred_tenant(cached)
        assert [k.state for k in guard.key_versions(acme)] == ["active"]

        # Demotion: the refreshed token carries the stored role.
        guard.set_member(acme, "vera", "admin")
        vera = tg.TenantContext.resolved(service, "acme", "vera", "admin")
        s = guard.create_session(vera, "phone")
        assert guard.set_member(otto, "vera", "viewer") == "admin"
        fresh = guard.verify_access_token(guard.refresh_session(s.expose_refresh_token()).expose_access_token())
        assert fresh.context.role == "viewer"
        with pytest.raises(tg.PermissionDeniedError):
            guard.create_token(vera, "bot", "x")
        # Admins cannot take the owner role; agents never manage members.
        guard.set_member(acme, "ada", "admin")
        ada = tg.TenantContext.resolved(service, "acme", "ada", "admin")
        with pytest.raises(tg.PermissionDeniedError):
            guard.set_member(ada, "ada", "owner")
        token = guard.create_token(acme, "bot", "x", scopes=[tg.Scope("*", "admin")])
        bot = guard.authenticate_token(token.expose()).context
        with pytest.raises(tg.PermissionDeniedError):
            guard.set_member(bot, "bot", "owner")
        assert [m.user for m in guard.members(acme)] == ["ada", "otto", "vera"]
        assert [m.user for m in guard.members(acme, after="ada", limit=1)] == ["otto"]
        with pytest.raises(tg.InvalidInputError):
            guard.set_member(acme, "x", "root")  # type: ignore[arg-type]
        actions = [e.action for e in guard.audit_entries(acme)]
        assert actions.count("member.change") == 6


def test_password_for_an_sso_portal_is_refused() -> None:
    guard, service = tg.Guard.in_memory_with_service()
    with guard:
        acme = tg.TenantContext.service("acme", service)
        guard.create_tenant(acme)
        guard.set_member(acme, "mia", "member")
        mia = tg.TenantContext.resolved(service, "acme", "mia", "member")
        with pytest.raises(tg.PermissionDeniedError):
            guard.mark_portal(mia, "sso.acme.com", True)
        guard.mark_portal(acme, "SSO.Acme.com.", True)
        assert guard.portal_mark(mia, "login.sso.acme.com") == "sso.acme.com"
        with pytest.raises(tg.PermissionDeniedError, match="SSO/MFA"):
            guard.put_portal_credential(mia, "pw", "sso.acme.com", tg.Credential.password(b"primary"))
        with pytest.raises(tg.PermissionDeniedError, match="put_portal_credential"):
            guard.put_credential(mia, "pw", tg.Credential.password(b"primary"))
        with pytest.raises(tg.InvalidInputError):
            guard.put_portal_credential(mia, "pw", "ssо.acme.com", tg.Credential.password(b"x"))
        guard.put_portal_credential(mia, "cookie", "sso.acme.com", tg.Credential.session_cookie(b"c"))
        guard.put_portal_credential(mia, "wiki", "wiki.example.org", tg.Credential.password(b"w"))
        guard.mark_portal(acme, "sso.acme.com", False)
        assert guard.portal_mark(mia, "sso.acme.com") is None
        guard.put_portal_credential(mia, "pw", "sso.acme.com", tg.Credential.password(b"p"))
        assert [e.action for e in guard.audit_entries(acme)].count("portal.mark") == 2


def test_revealer_totp_defaults_to_the_guards_clock() -> None:
    now = [T0]
    guard, service = tg.Guard.with_service(
        tg.LocalKeyProvider.ephemeral(), tg.MemoryStore(), clock=lambda: now[0]
    )
    with guard:
        acme = tg.TenantContext.service("acme", service)
        guard.create_tenant(acme)
        guard.put_credential(acme, "otp", tg.Credential.totp_seed(b"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"))
        with tg.Revealer(guard, lambda _e: None) as revealer:
            # The guard's clock is years away from the system clock: a default taken from
            # the system clock would be refused as outside the window.
            code = revealer.totp_code(acme, "otp", "login")
            assert code.expose() == revealer.totp_code(acme, "otp", "login", unix_time=T0).expose()
            with pytest.raises(tg.PermissionDeniedError):
                revealer.totp_code(acme, "otp", "login", unix_time=T0 + 86_400)
