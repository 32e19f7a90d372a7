#!/usr/bin/env python3
"""Prints the BENCHMARKS.md tables from criterion's results (target/criterion/**/new/).

Run after the bench commands in benches/BENCHMARKS.md: `python3 benches/report.py`.
Times are criterion's median per seal+open round trip (or per open for the cold path).
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
res = {}
for bj in root.glob("**/new/benchmark.json"):
    b = json.loads(bj.read_text())
    est = json.loads((bj.parent / "estimates.json").read_text())
    res[b["full_id"]] = est["median"]["point_estimate"]  # nanoseconds


def fmt(ns):
    if ns is None:
        return "n/a"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def gbps(ns, size):
    return f"{2 * size / ns:.2f}" if ns else "n/a"


sizes = [("32B", 32), ("256B", 256), ("4KiB", 4096), ("1MiB", 1 << 20)]
cols = [
    ("envelope binary", "envelope_binary/rustcrypto"),
    ("envelope text", "envelope_text/rustcrypto"),
    ("crypto::seal/open", "crypto_binary/rustcrypto"),
    ("raw aes-gcm 0.11", "raw_aes_gcm"),
    ("SecretBytes drop", "secret_drop_only"),
    ("envelope binary (aws-lc)", "envelope_binary/aws-lc"),
    ("envelope text (aws-lc)", "envelope_text/aws-lc"),
    ("crypto::seal/open (aws-lc)", "crypto_binary/aws-lc"),
    ("raw ring", "raw_ring"),
    ("raw aws-lc-rs", "raw_aws_lc_rs"),
]
print("| size | " + " | ".join(c for c, _ in cols) + " | binary / raw aes-gcm | crypto / raw aes-gcm | aws-lc binary / raw aws-lc-rs |")
print("|---" * (len(cols) + 4) + "|")
for label, size in sizes:
    get = lambda k: res.get(f"seal_open/{label}/{k}")
    row = [fmt(get(k)) for _, k in cols]
    r1 = get("envelope_binary/rustcrypto"), get("raw_aes_gcm")
    r2 = get("envelope_binary/aws-lc"), get("raw_aws_lc_rs")
    r3 = get("crypto_binary/rustcrypto"), get("raw_aes_gcm")
    ratio = lambda a, b: f"{a / b:.2f}x" if a and b else "n/a"
    print(f"| {label} | " + " | ".join(row) + f" | {ratio(*r1)} | {ratio(*r3)} | {ratio(*r2)} |")
print()
print("Throughput at 1 MiB, in GB/s of AES-GCM work (a round trip seals and opens, 2 MiB):")
for name, k in cols:
    if k == "secret_drop_only":
        continue
    ns = res.get(f"seal_open/1MiB/{k}")
    if ns:
        print(f"- {name}: {gbps(ns, 1 << 20)} GB/s")
print()
print("| open, 256 B | " + " | ".join(k for k in sorted(res) if k.startswith("open_256B/")) + " |")
print("|---" * (1 + sum(k.startswith("open_256B/") for k in res)) + "|")
print("| median | " + " | ".join(fmt(res[k]) for k in sorted(res) if k.startswith("open_256B/")) + " |")
print()
hk, ks = res.get("floor_256B/hkdf_expand_56B"), res.get("floor_256B/aes_gcm_key_setup_and_wipe")
raw = res.get("seal_open/256B/raw_aes_gcm")
if hk and ks and raw:
    floor = 2 * hk + 2 * ks + raw
    crypto = res.get("seal_open/256B/crypto_binary/rustcrypto")
    print("| 256 B round trip, the construction's floor | median |")
    print("|---|---|")
    print(f"| HKDF-Expand of 56 bytes (x2: seal and open) | {fmt(hk)} (x2 = {fmt(2 * hk)}) |")
    print(f"| AES-256 key schedule + GHASH key + zeroize (x2) | {fmt(ks)} (x2 = {fmt(2 * ks)}) |")
    print(f"| raw aes-gcm seal + open, pre-keyed | {fmt(raw)} |")
    print(f"| **sum: lower bound for crypto::seal/open** | **{fmt(floor)}** |")
    if crypto:
        print(f"| crypto::seal/open measured | {fmt(crypto)} ({crypto / floor:.2f}x the floor) |")
