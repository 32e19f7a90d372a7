//! Audit transparency benchmarks (issue 18): offline verification of an exported log of
//! 1,000,000 entries (`TG_AUDIT_BENCH_ENTRIES` to change), and one entry's inclusion proof:
//! its size and its verification time. Append throughput per store is in the governance
//! bench (`audit_append`).
//!
//! Run: `cargo bench -p tenantguard-benches --bench audit`
// criterion_group! generates public functions without docs.
#![allow(missing_docs)]
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../core/kms/tests/tg_cap/mod.rs"]
mod tg_cap;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tenantguard::audit::export::{verify_export, verify_inclusion_proof, ExportVerdict};
use tenantguard::audit::{AuditAction, AuditEvent};
use tenantguard::{Guard, LocalKeyProvider, MemoryStore, TenantContext, TenantId};

/// Thread CPU time of `iters` calls (the machine is shared: wall time measures waiting).
fn cpu_time(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = cpu_time::ThreadTime::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

fn acme() -> TenantContext {
    TenantContext::service(TenantId::new("acme").unwrap(), &tg_cap::cap())
}

fn transparency(c: &mut Criterion) {
    let n: u64 = std::env::var("TG_AUDIT_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let g = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store(MemoryStore::new())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    rt.block_on(async {
        g.keys().create_tenant(&acme()).await.unwrap();
        for i in 1..n {
            g.audit()
                .record(
                    &acme(),
                    AuditEvent::new(AuditAction::EgressDecision, format!("provider:p{}", i % 7))
                        .detail("decision", "redacted")
                        .detail("categories", "email,phone"),
                )
                .await
                .unwrap();
        }
    });
    let mut bundle = Vec::new();
    rt.block_on(g.audit().export_bundle(&acme(), &mut bundle))
        .unwrap();
    let keys = rt.block_on(g.audit().public_keys()).unwrap();
    eprintln!(
        "audit export: {n} entries, {} bytes ({:.0} B/entry)",
        bundle.len(),
        bundle.len() as f64 / n as f64
    );

    let mut grp = c.benchmark_group("audit_verify_export");
    grp.sample_size(10);
    grp.throughput(Throughput::Elements(n));
    grp.bench_function(format!("{n}_entries_cpu_time"), |b| {
        b.iter_custom(|iters| {
            cpu_time(iters, || {
                assert!(matches!(
                    verify_export(&bundle, &keys, None),
                    ExportVerdict::Valid(_)
                ))
            })
        })
    });
    grp.finish();

    let proof = rt
        .block_on(g.audit().inclusion_proof(&acme(), n / 2))
        .unwrap();
    let text = proof.to_text();
    eprintln!(
        "inclusion proof of entry {} in {n}: {} hashes, {} bytes as text (entry line {} bytes, note {} bytes)",
        n / 2,
        proof.hashes.len(),
        text.len(),
        proof.entry_line.len(),
        proof.checkpoint_note.len()
    );
    let mut grp = c.benchmark_group("audit_inclusion");
    grp.bench_function(format!("verify_one_of_{n}_cpu_time"), |b| {
        b.iter_custom(|iters| {
            cpu_time(iters, || {
                verify_inclusion_proof(text.as_bytes(), &keys).unwrap();
            })
        })
    });
    grp.finish();
}

criterion_group!(benches, transparency);
criterion_main!(benches);
