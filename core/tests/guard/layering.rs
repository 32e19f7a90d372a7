//! The module graph of docs/ARCHITECTURE.md, checked on the source: an import that breaks a
//! rule fails here, before it becomes a cycle someone has to undo.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The core's top-level modules that are areas (or the Guard hub and its state, or the
/// backends in `store`). `sessions` is the session storage of `auth`, compiled without it.
const AREAS: &[&str] = &[
    "audit",
    "auth",
    "egress",
    "governance",
    "guard",
    "kms",
    "members",
    "portal",
    "ratelimit",
    "records",
    "redact",
    "retention",
    "reveal",
    "rotation",
    "sessions",
    "store",
    "tokens",
    "totp",
];
/// The small core: no area below it. (`error` is the crate-wide error enum, one variant
/// per area, each compiled with its area: it names every area by design.) `storage` is
/// what every store trait shares (the store error, page and label limits), `policy` the
/// policy documents several areas keep.
const SMALL_CORE: &[&str] = &[
    "bounded", "crypto", "events", "policy", "scope", "secret", "storage", "tenant",
];
/// The Guard hub: it is built on a backend, so it alone may import `store`.
const HUB: &[&str] = &["guard", "governance"];
/// The optional areas (Cargo features): leaves nobody else imports.
const OPTIONAL: &[&str] = &["auth", "egress", "redact", "reveal", "totp"];

/// Which other modules' `crate::` paths each module's code (not its comments) names.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut walk = vec![src.clone()];
    while let Some(dir) = walk.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk.push(p);
                continue;
            }
            let rel = p.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            let module = rel.split(['/', '.']).next().unwrap().to_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            let deps = out.entry(module.clone()).or_default();
            for line in text.lines().map(str::trim_start) {
                if line.starts_with("//") {
                    continue;
                }
                for (i, _) in line.match_indices("crate::") {
                    let name: String = line[i + 7..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if name != module {
                        deps.insert(name);
                    }
                }
            }
        }
    }
    out
}

#[test]
fn the_small_core_imports_no_area() {
    let g = imports();
    for m in SMALL_CORE {
        let bad: Vec<_> = g[*m]
            .iter()
            .filter(|d| AREAS.contains(&d.as_str()))
            .collect();
        assert!(
            bad.is_empty(),
            "small-core module `{m}` imports area(s) {bad:?}"
        );
    }
}

#[test]
fn optional_areas_are_imported_only_by_each_other_and_the_shared_state() {
    let g = imports();
    for (m, deps) in &g {
        if OPTIONAL.contains(&m.as_str()) {
            continue;
        }
        for d in deps.iter().filter(|d| OPTIONAL.contains(&d.as_str())) {
            // The shared state holds the session revocation set, and the crate-wide error
            // has a variant per area, each compiled with its feature.
            let allowed = (m == "governance" && d == "auth") || m == "error" || m == "lib";
            assert!(allowed, "`{m}` imports the optional area `{d}`");
        }
    }
}

#[test]
fn only_the_hub_imports_the_backends() {
    // Each area owns its store trait; `store` holds the backends (and re-exports the
    // traits for users), so no module but the Guard hub needs it. (`lib` re-exports it.)
    let g = imports();
    for (m, deps) in &g {
        let allowed = HUB.contains(&m.as_str()) || m == "error" || m == "lib";
        assert!(
            allowed || !deps.contains("store"),
            "`{m}` imports `store`: import the trait from its area (or the small core)"
        );
    }
}

#[test]
fn areas_other_than_the_hub_import_no_cycle() {
    // The Guard (`guard`, `governance`) is the hub; among the other areas, the backends in
    // `store` included, the graph must stay acyclic (e.g. `kms` no longer imports
    // `rotation`, nor `ratelimit` `auth`, nor an area `store`).
    let hubs = HUB;
    let g = imports();
    let edges: BTreeMap<&str, Vec<&str>> = AREAS
        .iter()
        .filter(|a| !hubs.contains(a))
        .map(|a| {
            let deps = g.get(*a).map(|d| {
                d.iter()
                    .map(String::as_str)
                    .filter(|d| AREAS.contains(d) && !hubs.contains(d))
                    .collect()
            });
            (*a, deps.unwrap_or_default())
        })
        .collect();
    // Depth-first search for a back edge.
    fn visit<'a>(
        n: &'a str,
        edges: &BTreeMap<&'a str, Vec<&'a str>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(n) {
            return;
        }
        if let Some(i) = stack.iter().position(|s| *s == n) {
            panic!("import cycle: {:?} -> {n}", &stack[i..]);
        }
        stack.push(n);
        for d in edges.get(n).into_iter().flatten() {
            visit(d, edges, stack, done);
        }
        stack.pop();
        done.insert(n);
    }
    let mut done = BTreeSet::new();
    for a in edges.keys() {
        visit(a, &edges, &mut Vec::new(), &mut done);
    }
}
