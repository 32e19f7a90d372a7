"""Every `repr` reads as Python: `True`/`False` and `None`, never Rust's `true`, `false`
or `Some(...)`."""

import re

import tenantguard as tg

RUST = re.compile(r"\b(true|false)\b|Some\(")


def test_reprs_are_python(guard: tg.Guard, acme: tg.TenantContext, service: tg.ServiceRole) -> None:
    hasher = tg.PasswordHasher()
    session = tg.PseudonymSession("acme")
    objects: list[object] = [
        guard.rewrap_tenant_keys(service),
        session,
        hasher.verify("pw", hasher.hash("pw")),
        *tg.Registry.example().providers(),
        guard.shred_tenant(acme),
    ]
    session.expire()
    objects.append(session)
    for o in objects:
        assert not RUST.search(repr(o)), repr(o)
    assert 'last_tenant="acme"' in repr(objects[0])
    assert "expired=True" in repr(session)
