"""A Guard on PostgreSQL from Python (Row Level Security store).

Runs when TENANTGUARD_PG_URL, TENANTGUARD_PG_SERVICE_URL and TENANTGUARD_PG_ADMIN_URL are
set (``eval "$(scripts/pg.sh start)"``); skipped otherwise, unless TENANTGUARD_PG_REQUIRED=1,
which turns a missing server into a failure (as in the Rust tests)."""

import os
import secrets
from collections.abc import Iterator

import pytest

import tenantguard as tg

_VARS = ("TENANTGUARD_PG_URL", "TENANTGUARD_PG_SERVICE_URL", "TENANTGUARD_PG_ADMIN_URL")
_MISSING = [v for v in _VARS if not os.environ.get(v)]

if _MISSING and os.environ.get("TENANTGUARD_PG_REQUIRED") == "1":
    raise RuntimeError(
        f"TENANTGUARD_PG_REQUIRED=1 but {', '.join(_MISSING)} not set: run scripts/pg.sh start"
    )

pytestmark = pytest.mark.skipif(
    bool(_MISSING),
    reason="PostgreSQL tests skipped: TENANTGUARD_PG_URL not set "
    '(run `eval "$(scripts/pg.sh start)"` first)',
)


@pytest.fixture(scope="module")
def store() -> tg.PostgresStore:
    tg.PostgresStore.migrate(os.environ["TENANTGUARD_PG_ADMIN_URL"])
    assert tg.PostgresStore.migrate(os.environ["TENANTGUARD_PG_ADMIN_URL"]) == 0  # idempotent
    return tg.PostgresStore.connect(
        os.environ["TENANTGUARD_PG_URL"], os.environ["TENANTGUARD_PG_SERVICE_URL"], pool_size=4
    )


def _shared_keys() -> tg.LocalKeyProvider:
    # Every guard on one database shares its KEK: the service keyring (row MACs, session
    # signing) is stored wrapped by it. The Kotlin PostgreSQL test opens the same file.
    return tg.LocalKeyProvider.open_or_create(os.path.join(os.environ["TENANTGUARD_PG_DIR"], "keys.json"))


@pytest.fixture
def guard_and_service(store: tg.PostgresStore) -> Iterator[tuple[tg.Guard, tg.ServiceRole]]:
    g, s = tg.Guard.with_service(_shared_keys(), store)
    with g:
        yield g, s


def _tenant() -> str:
    return "py-" + secrets.token_hex(6)


def test_bad_connection_strings_do_not_echo_passwords() -> None:
    with pytest.raises(tg.InvalidInputError) as e:
        tg.PostgresStore.connect("postgres://u:s3cretpw@[bad")
    assert "s3cretpw" not in str(e.value)
    with pytest.raises(tg.InvalidInputError):
        tg.PostgresStore.connect(os.environ["TENANTGUARD_PG_URL"], pool_size=0)
    for bad in (0, 9, 1001):  # the listener polls every 10 ms to 1 s
        with pytest.raises(tg.InvalidInputError):
            tg.PostgresStore.connect(os.environ["TENANTGUARD_PG_URL"], poll_interval_ms=bad)


def test_the_application_login_cannot_run_as_admin() -> None:
    # The superuser login is refused as an application connection (it would bypass RLS).
    with pytest.raises(tg.TenantguardError):
        tg.PostgresStore.connect(os.environ["TENANTGUARD_PG_ADMIN_URL"])


def test_seal_records_tokens_and_audit_on_postgres(guard: tg.Guard, store: tg.PostgresStore, service: tg.ServiceRole) -> None:
    tenant = _tenant()
    svc = tg.TenantContext.service(tenant, service)
    assert guard.create_tenant(svc) == 1
    sealed = guard.seal(svc, "col/row-1", b"hunter2")
    assert guard.open(svc, "col/row-1", sealed) == b"hunter2"
    rec = f"{tenant}-rec-1"  # record ids are unique across tenants in PostgreSQL
    guard.put_record(svc, rec, "run_log", b"log line", subject="jane")
    assert guard.open_record(svc, rec) == ("run_log", b"log line")

    issued = guard.create_token(svc, "bot", "ci", scopes=[tg.Scope("runs/*", "read")])
    assert guard.verify_token(issued.expose(), "runs/1", "read").context.tenant == tenant
    assert guard.revoke_token(svc, issued.id)
    with pytest.raises(tg.AuthenticationFailedError):
        guard.verify_token(issued.expose(), "runs/1", "read")

    assert guard.erase_subject(svc, "jane").deleted == 1
    report = guard.verify_audit(svc)
    assert report.tenant == tenant and report.entries >= 3
    export = tg.verify_audit_export(
        b"".join(e.to_json_line().encode() + b"\n" for e in guard.audit_entries(svc)),
        expected_head=(report.last_seq, report.head),
    )
    assert export.head == report.head

    egress = tg.Egress(guard, store, registry=tg.Registry.example())
    egress.set_policy(svc, tg.EgressPolicy(redaction="pii", allowed_providers={"llm-chat"}))
    p = egress.prepare(svc, "llm-chat", "mail jane@example.com").prepared
    assert p is not None and p.text == "mail <EMAIL_1>"
    assert egress.prepare(svc, "llm-agents", "hi").reason == "provider_not_allowed"


def test_memberships_and_roles_come_from_the_database(guard: tg.Guard, store: tg.PostgresStore, service: tg.ServiceRole) -> None:
    tenant = _tenant()
    olga = tg.TenantContext.resolved(service, tenant, "olga", "owner")
    guard.create_tenant(olga)  # a user creating an organization becomes its owner
    store.set_member(olga, "mia", "member")
    store.set_member(olga, "vic", "viewer")
    assert [(m.user, m.role) for m in store.members(olga)] == [
        ("mia", "member"),
        ("olga", "owner"),
        ("vic", "viewer"),
    ]
    resolver = tg.DirectoryResolver(store, service)
    mia = resolver.resolve("mia", tenant)
    vic = resolver.resolve("vic", tenant)
    assert (mia.role, vic.role) == ("member", "viewer")
    with pytest.raises(tg.PermissionDeniedError):
        resolver.resolve("eve", tenant)
    # Record ids are unique across tenants in PostgreSQL: make them unique per run.
    guard.put_credential(mia, f"{tenant}-cred-1", tg.Credential.password("hunter2"))
    with pytest.raises(tg.PermissionDeniedError):
        guard.put_credential(vic, f"{tenant}-cred-2", tg.Credential.password("x"))
    # A forged claim of a higher role is re-checked against the database.
    fake_admin = tg.TenantContext.resolved(service, tenant, "vic", "admin")
    with pytest.raises(tg.PermissionDeniedError):
        store.set_member(fake_admin, "eve", "viewer")
    assert store.remove_member(olga, "vic") is True
    with pytest.raises(tg.PermissionDeniedError):
        resolver.resolve("vic", tenant)


_LIMIT_WORKER = r"""
import os, sys
import tenantguard as tg
guard, _ = tg.Guard.with_service(
    tg.LocalKeyProvider.ephemeral(),
    tg.MemoryStore(),
    rate_limit_url=os.environ["TENANTGUARD_PG_SERVICE_URL"],
)
admitted = 0
for _ in range(8):
    try:
        guard.rate_limit_check("login", tenant="acme", subject=sys.argv[1], host_key="198.51.100.9")
        admitted += 1
    except tg.RateLimitedError:
        pass
print(admitted)
"""


def test_rate_limits_are_shared_by_processes_through_postgresql(store: tg.PostgresStore) -> None:
    # Two real processes, each with its own guard and no shared memory: with limits kept
    # per process each would admit 8 of its 8 checks (16 in all); through PostgreSQL they
    # share the login class's 10 per (user, host key).
    import subprocess
    import sys

    subject = "u:" + secrets.token_hex(6)
    procs = [
        subprocess.Popen([sys.executable, "-c", _LIMIT_WORKER, subject], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    counts = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert 10 <= sum(counts) <= 11, counts


def test_a_bad_rate_limit_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(tg.ConfigError) as e:
        tg.Guard(tg.LocalKeyProvider.ephemeral(), tg.MemoryStore(), rate_limit_url="postgres://u:s3cretpw@[bad")
    assert "s3cretpw" not in str(e.value)
