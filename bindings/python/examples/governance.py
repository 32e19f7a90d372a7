"""The README's Python governance and egress example (type-checked and run by scripts/python.sh)."""

import io

import tenantguard as tg

store = tg.MemoryStore()
guard, _service = tg.Guard.with_service(tg.LocalKeyProvider.ephemeral(), store)
with guard:
    acme = tg.TenantContext.service("acme", _service)
    guard.create_tenant(acme)

    # Agent tokens: shown once, verified per resource and action, revocable.
    issued = guard.create_token(acme, "agent-7", "nightly", scopes=[tg.Scope("runs/*", "write")])
    token = issued.expose()  # hand it to the agent; repr(issued) shows [REDACTED]
    agent_ctx = guard.verify_token(token, "runs/42", "write").context
    guard.revoke_token(acme, issued.id)

    # The hash-chained audit log, exported and verified offline.
    out = io.BytesIO()
    head = guard.export_audit(acme, out)
    tg.verify_audit_export(out.getvalue(), expected_head=(head.last_seq, head.head))

    # AI egress: the organization's policy redacts before text leaves; answers are restored.
    egress = tg.Egress(guard, store, registry=tg.Registry.example())
    egress.set_policy(acme, tg.EgressPolicy(redaction="pii", allowed_providers={"llm-chat"}))
    decision = egress.prepare(acme, "llm-chat", "Mail jane@example.com the report")
    assert decision.prepared is not None
    print(decision.prepared.text)  # Mail <EMAIL_1> the report
    print(decision.prepared.restore("Sent to <EMAIL_1>"))  # Sent to jane@example.com
    print(egress.prepare(acme, "llm-agents", "hi").reason)  # provider_not_allowed
