#!/usr/bin/env python3
"""Fails when a workspace crate declares a rust-version below what its dependencies declare.

Only one toolchain exists on the project's machines and no other can be installed, so the
declared MSRV cannot be proven by a build on it; this checks the declarations instead. The walk
follows normal and build dependencies of each member (dev-dependencies do not reach users),
with the features the workspace resolves by default; the `aws` feature of tenantguard-kms, whose
SDK declares a newer Rust, is documented in core/kms/Cargo.toml.
"""
import json
import subprocess
import sys

meta = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--locked"]))
pkgs = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}


def ver(v):
    t = [int(x) for x in (v or "0").split(".")]
    return tuple(t + [0] * (3 - len(t)))


bad = 0
for mid in meta["workspace_members"]:
    declared = pkgs[mid].get("rust_version")
    if not declared:
        continue
    seen, stack, worst = set(), [mid], ("0", "")
    while stack:
        cur = stack.pop()
        if cur in seen:
            continue
        seen.add(cur)
        rv = pkgs[cur].get("rust_version")
        if cur != mid and rv and ver(rv) > ver(worst[0]):
            worst = (rv, pkgs[cur]["name"])
        for d in nodes[cur]["deps"]:
            kinds = {k["kind"] for k in d["dep_kinds"]}
            if kinds & {None, "build"}:
                stack.append(d["pkg"])
    status = "ok" if ver(worst[0]) <= ver(declared) else "TOO LOW"
    print(f"{pkgs[mid]['name']}: declares {declared}, dependencies need {worst[0]} ({worst[1]}): {status}")
    bad += status != "ok"
sys.exit(1 if bad else 0)
