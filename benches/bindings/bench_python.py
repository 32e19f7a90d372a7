"""Per-call cost of seal + open of 256 bytes from Python, with peers in the same run.

Run by benches/bindings/run.sh (which installs the wheel and the peers). Prints one JSON
line per implementation: the best of 5 runs, in nanoseconds per round trip. Peers that
do not install or run are reported with an "error" field instead of a number.
"""

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

DATA = bytes(range(256))


def best_ns(round_trip: Callable[[], None], iters: int, runs: int = 5) -> tuple[float, float]:
    """Best of `runs` loops by wall clock: (wall ns, calling thread's CPU ns) per round trip."""
    for _ in range(min(iters, 1000)):
        round_trip()
    best = (float("inf"), float("inf"))
    for _ in range(runs):
        c = time.thread_time_ns()
        t = time.perf_counter_ns()
        for _ in range(iters):
            round_trip()
        wall = (time.perf_counter_ns() - t) / iters
        if wall < best[0]:
            best = (wall, (time.thread_time_ns() - c) / iters)
    return best


def report(name: str, fn: Callable[[], Callable[[], None]], iters: int, **extra: Any) -> None:
    try:
        ns, cpu = best_ns(fn(), iters)
        line = {"impl": name, "round_trip_ns": round(ns), "thread_cpu_ns": round(cpu), "iters": iters, **extra}
        print(json.dumps(line), flush=True)
    except Exception as e:  # a peer that cannot run is reported, not fatal
        print(json.dumps({"impl": name, "error": f"{type(e).__name__}: {e}"}), flush=True)


def tenantguard_rt() -> Callable[[], None]:
    import tenantguard as tg

    g, service = tg.Guard.in_memory_with_service()
    ctx = tg.TenantContext.service("bench", service)
    g.create_tenant(ctx)

    def rt() -> None:
        s = g.seal(ctx, "bench/row", DATA)
        assert len(g.open(ctx, "bench/row", s)) == 256

    return rt


def tenantguard_text_rt() -> Callable[[], None]:
    import tenantguard as tg

    g, service = tg.Guard.in_memory_with_service()
    ctx = tg.TenantContext.service("bench", service)
    g.create_tenant(ctx)

    def rt() -> None:
        s = str(g.seal(ctx, "bench/row", DATA))
        assert len(g.open(ctx, "bench/row", s)) == 256

    return rt


def tink_rt() -> Callable[[], None]:
    import tink
    from tink import aead

    aead.register()
    # The "KMS" key is a local AES-256-GCM Aead, so only envelope work is measured.
    kek = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM).primitive(aead.Aead)
    env = aead.KmsEnvelopeAead(aead.aead_key_templates.AES256_GCM, kek)

    def rt() -> None:
        ct = env.encrypt(DATA, b"bench/row")
        assert len(env.decrypt(ct, b"bench/row")) == 256

    return rt


def aws_rt(cached: bool) -> Callable[[], None]:
    import aws_encryption_sdk
    from aws_encryption_sdk.identifiers import CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm
    from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
    from aws_encryption_sdk.key_providers.raw import RawMasterKey

    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    key = RawMasterKey(
        provider_id="bench",
        key_id=b"kek-1",
        wrapping_key=WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
            wrapping_key=os.urandom(32),
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        ),
    )
    provider: Any = key
    if cached:
        cache = aws_encryption_sdk.LocalCryptoMaterialsCache(capacity=100)
        provider = aws_encryption_sdk.CachingCryptoMaterialsManager(
            master_key_provider=key, cache=cache, max_age=600.0, max_messages_encrypted=2**32
        )
    ctx = {"row": "bench/row"}

    def rt() -> None:
        if cached:
            ct, _ = client.encrypt(source=DATA, materials_manager=provider, encryption_context=ctx)
            pt, _ = client.decrypt(source=ct, materials_manager=provider)
        else:
            ct, _ = client.encrypt(source=DATA, key_provider=provider, encryption_context=ctx)
            pt, _ = client.decrypt(source=ct, key_provider=provider)
        assert len(pt) == 256

    return rt


def main() -> None:
    iters = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    report("python-tenantguard", tenantguard_rt, iters)
    report("python-tenantguard-text", tenantguard_text_rt, iters)
    if os.environ.get("TG_BENCH_PEERS", "1") == "0":
        return
    report("python-tink-KmsEnvelopeAead", tink_rt, max(iters // 10, 1000))
    report("python-aws-encryption-sdk-raw-aes", lambda: aws_rt(False), 500)
    report("python-aws-encryption-sdk-raw-aes-cached", lambda: aws_rt(True), 500)


if __name__ == "__main__":
    main()
