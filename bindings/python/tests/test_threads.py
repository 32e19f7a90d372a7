"""Concurrent calls from a Python thread pool: correct results, no deadlock."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tenantguard as tg

from test_provider import HmacKeyProvider


def _work(guard: tg.Guard, ctx: tg.TenantContext, n: int) -> int:
    for i in range(n):
        data = f"{ctx.tenant}-{i}".encode() * 8
        sealed = guard.seal(ctx, f"row-{i}", data)
        assert guard.open(ctx, f"row-{i}", str(sealed)) == data
    return n


def test_thread_pool_shares_one_guard(service: tg.ServiceRole) -> None:
    g, _service = tg.Guard.in_memory_with_service()
    with g:
        tenants = [tg.TenantContext.service(f"t{i}", _service) for i in range(8)]
        for t in tenants:
            g.create_tenant(t)
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(_work, g, tenants[i % 8], 200) for i in range(32)]
            assert sum(f.result(timeout=120) for f in futures) == 32 * 200


def test_thread_pool_with_a_python_key_provider(service: tg.ServiceRole) -> None:
    provider = HmacKeyProvider()
    g, _service = tg.Guard.with_service(provider, tg.MemoryStore(), cache_max_age_seconds=0.0)
    with g:
        tenants = [tg.TenantContext.service(f"t{i}", _service) for i in range(4)]
        for t in tenants:
            g.create_tenant(t)
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(_work, g, tenants[i % 4], 50) for i in range(16)]
            assert sum(f.result(timeout=120) for f in futures) == 16 * 50
        assert provider.calls["unwrap"] > 0


def test_records_from_many_threads(service: tg.ServiceRole, tmp_path: object) -> None:
    g, _service = tg.Guard.embedded_with_service(str(tmp_path))
    with g:
        ctx = tg.TenantContext.service("acme", _service)
        g.create_tenant(ctx)

        def put_open(i: int) -> bool:
            g.put_record(ctx, f"rec-{i}", "note", str(i).encode())
            return g.open_record(ctx, f"rec-{i}") == ("note", str(i).encode())

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert all(pool.map(put_open, range(200), timeout=120))


EXIT_WHILE_A_PROVIDER_RUNS = """
import sys, threading, time
sys.path.insert(0, sys.argv[1])
import tenantguard as tg
from test_provider import HmacKeyProvider

inside = threading.Event()

class Slow(HmacKeyProvider):
    def unwrap(self, kek_id, ciphertext, ctx):
        inside.set()
        for _ in range(100):  # takes the GIL again and again while the interpreter exits
            time.sleep(0.001)
        return super().unwrap(kek_id, ciphertext, ctx)

g, service = tg.Guard.with_service(Slow(), tg.MemoryStore(), cache_max_tenants=0)
ctx = tg.TenantContext.service("acme", service)
g.create_tenant(ctx)

def loop():
    while True:
        g.seal(ctx, "c", b"x")

for _ in range(4):
    threading.Thread(target=loop, daemon=True).start()
inside.wait()
"""


def test_interpreter_exit_while_a_daemon_thread_is_in_a_key_provider(tmp_path: Path) -> None:
    # CPython ends such a thread with pthread_exit when it next takes the GIL; unwinding
    # through the core's frames used to abort the process (SIGABRT, exit code 134).
    script = tmp_path / "exit.py"
    script.write_text(EXIT_WHILE_A_PROVIDER_RUNS)
    tests = str(Path(__file__).parent)
    done = subprocess.run([sys.executable, str(script), tests], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


LATE_ATEXIT_HOOK = """
import atexit, sys
sys.path.insert(0, sys.argv[1])

def flush():  # registered before tenantguard is imported: runs after its own hook
    s = g.seal(ctx, "c", b"late")
    assert g.open(ctx, "c", s) == b"late"
    print("flushed", flush=True)

atexit.register(flush)
import tenantguard as tg
from test_provider import HmacKeyProvider

g, service = tg.Guard.with_service(HmacKeyProvider(), tg.MemoryStore(), cache_max_tenants=0)
ctx = tg.TenantContext.service("acme", service)
g.create_tenant(ctx)
"""


def test_a_later_atexit_hook_on_the_main_thread_still_works(tmp_path: Path) -> None:
    # The exit hook above stops callbacks and parks returning threads; the thread that
    # finalizes the interpreter must be exempt, or a hook that runs after it hangs forever.
    script = tmp_path / "late.py"
    script.write_text(LATE_ATEXIT_HOOK)
    tests = str(Path(__file__).parent)
    done = subprocess.run([sys.executable, str(script), tests], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "flushed" in done.stdout
