"""The service capability (issue 13): code holding only a Guard, or only a user or agent
context, cannot open a credential; scope and audit refusals are typed."""

import pytest

import tenantguard as tg


def test_code_holding_only_the_guard_or_a_user_context_cannot_open_a_credential() -> None:
    guard, service = tg.Guard.in_memory_with_service()
    with guard:
        acme = tg.TenantContext.service("acme", service)
        guard.create_tenant(acme)
        guard.put_credential(acme, "db", tg.Credential.password(b"s3cret"))
        # No constructor: the capability only comes from a ...with_service call.
        with pytest.raises(TypeError):
            tg.ServiceRole()  # type: ignore[call-arg]
        # Anyone can build a guard of their own: its capability opens nothing in this one.
        rogue, rogue_service = tg.Guard.in_memory_with_service()
        with rogue:
            forged = tg.TenantContext.service("acme", rogue_service)
            with pytest.raises(tg.PermissionDeniedError, match="another guard"):
                guard.open_credential(forged, "db")
            with pytest.raises(tg.PermissionDeniedError):
                guard.shred_tenant(forged)
            # A user context, even an owner's, never reads plaintext.
            owner = tg.TenantContext.resolved(rogue_service, "acme", "olga", "owner")
            assert owner.kind == "user"
            with pytest.raises(tg.PermissionDeniedError):
                guard.open_credential(owner, "db")
        # An agent with every scope neither; nor may it start a session.
        token = guard.create_token(
            acme, "bot", "all", scopes=[tg.Scope("*", "read"), tg.Scope("*", "admin")]
        )
        agent = guard.authenticate_token(token.expose()).context
        assert (agent.kind, agent.agent) == ("agent", "bot")
        with pytest.raises(tg.PermissionDeniedError):
            guard.open_credential(agent, "db")
        with pytest.raises(tg.PermissionDeniedError):
            guard.create_session(agent, "laptop")
        assert guard.open_credential(acme, "db").expose() == b"s3cret"


def test_scope_grammar_and_reserved_audit_actions_are_typed() -> None:
    guard, service = tg.Guard.in_memory_with_service()
    with guard:
        acme = tg.TenantContext.service("acme", service)
        guard.create_tenant(acme)
        for bad in ["é*", "runs/../x", "a//b", "*/x"]:
            with pytest.raises(tg.InvalidInputError):
                guard.create_token(acme, "bot", "x", scopes=[tg.Scope(bad, "read")])
        with pytest.raises(tg.PermissionDeniedError, match="reserved"):
            guard.record_audit(acme, "tenant.shred", "tenant:acme")
