"""The README's Python example (type-checked and run by scripts/python.sh)."""

import tempfile

import tenantguard as tg

with tempfile.TemporaryDirectory() as data_dir:
    guard, service = tg.Guard.embedded_with_service(data_dir)  # service: server-side code only
    with guard:
        acme = tg.TenantContext.service("acme", service)
        guard.create_tenant(acme)

        sealed = guard.seal(acme, "credentials/password/row-42", b"hunter2")  # store str(sealed)
        assert guard.open(acme, "credentials/password/row-42", str(sealed)) == b"hunter2"

        guard.put_credential(acme, "row-42", tg.Credential.password("hunter2"))
        cred = guard.open_credential(acme, "row-42")
        print(cred)  # Credential(kind='password', secret=[REDACTED])

        try:
            guard.open(acme, "credentials/password/row-43", sealed)
        except tg.IntegrityError as e:
            print(f"refused ({e.kind}, {e.reason}): {e}")
