//! Governance benchmarks: agent-token verification (warm cache, cold from the store, early
//! rejection), access-token verification, audit append throughput per store, and one
//! argon2id password hash at the default (OWASP) parameters.
//!
//! Run: `cargo bench -p tenantguard-benches --bench governance`; with `--features postgres`
//! and the logins of `eval "$(scripts/pg.sh start)"` also `audit_append/postgres_store`.
// criterion_group! generates public functions without docs.
#![allow(missing_docs)]
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../core/kms/tests/tg_cap/mod.rs"]
mod tg_cap;

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tenantguard::audit::{AuditAction, AuditEvent};
use tenantguard::auth::PasswordHasher;
use tenantguard::tenant::{Resolved, Role, UserId};
use tenantguard::tokens::{Action, TokenConfig, TokenSpec};
use tenantguard::{
    GovernanceConfig, Guard, LocalKeyProvider, MemoryStore, SqliteStore, Store, TenantContext,
    TenantId,
};

/// Polls a future once without any runtime: a warm-cache verification never awaits, so
/// this measures the verification itself rather than an executor.
fn poll_once<T>(fut: impl std::future::Future<Output = T>) -> T {
    let mut fut = std::pin::pin!(fut);
    match fut
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("a warm-cache verification must not await"),
    }
}

/// Thread CPU time of `iters` calls: on a shared, oversubscribed machine wall time mostly
/// measures waiting for a core; CPU time measures the work.
fn cpu_time(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = cpu_time::ThreadTime::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn guard(store: Arc<dyn Store>, cache_ttl: Duration) -> Guard {
    let cfg = GovernanceConfig {
        tokens: TokenConfig {
            cache_ttl,
            ..Default::default()
        },
        ..Default::default()
    };
    Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store_arc(store)
        .governance(cfg)
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap()
}

fn acme() -> TenantContext {
    TenantContext::service(TenantId::new("acme").unwrap(), &tg_cap::cap())
}

fn tokens(c: &mut Criterion) {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("token_verify");
    let cases: Vec<(&str, Arc<dyn Store>, Duration)> = vec![
        (
            "warm_cache",
            Arc::new(MemoryStore::new()),
            Duration::from_secs(3600),
        ),
        (
            "cold_memory_store",
            Arc::new(MemoryStore::new()),
            Duration::ZERO,
        ),
        (
            "cold_sqlite_store",
            Arc::new(SqliteStore::open(dir.path().join("t.db")).unwrap()),
            Duration::ZERO,
        ),
    ];
    for (name, store, ttl) in cases {
        let guard = guard(store, ttl);
        let secret = rt.block_on(async {
            guard.keys().create_tenant(&acme()).await.unwrap();
            let t = guard
                .tokens()
                .create(
                    &acme(),
                    TokenSpec::read_only(UserId::new("bot").unwrap(), "bench"),
                )
                .await
                .unwrap();
            t.secret.expose().to_owned()
        });
        rt.block_on(guard.tokens().verify(&secret, "runs/1", Action::Read))
            .unwrap();
        if name == "warm_cache" {
            g.bench_function(name, |b| {
                b.iter(|| {
                    poll_once(guard.tokens().verify(&secret, "runs/1", Action::Read)).unwrap()
                })
            });
            g.bench_function("warm_cache_cpu_time", |b| {
                b.iter_custom(|n| {
                    cpu_time(n, || {
                        drop(std::hint::black_box(
                            poll_once(guard.tokens().verify(&secret, "runs/1", Action::Read))
                                .unwrap(),
                        ))
                    })
                })
            });
            g.bench_function("warm_cache_tokio_block_on", |b| {
                b.iter(|| {
                    rt.block_on(guard.tokens().verify(&secret, "runs/1", Action::Read))
                        .unwrap()
                })
            });
            let mut typo = secret.clone().into_bytes();
            typo[12] = if typo[12] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(typo).unwrap();
            g.bench_function("reject_bad_checksum", |b| {
                b.iter(|| poll_once(guard.tokens().authenticate(&typo)).unwrap_err())
            });
        } else {
            g.bench_function(name, |b| {
                b.iter(|| {
                    rt.block_on(guard.tokens().verify(&secret, "runs/1", Action::Read))
                        .unwrap()
                })
            });
        }
    }
    g.finish();

    let guard = guard(Arc::new(MemoryStore::new()), Duration::ZERO);
    let ctx = TenantContext::resolved(Resolved::vouch(
        &tg_cap::cap(),
        TenantId::new("acme").unwrap(),
        UserId::new("alice").unwrap(),
        Role::Member,
    ));
    let access = rt.block_on(async {
        guard.keys().create_tenant(&acme()).await.unwrap();
        // Sessions start with the role the store holds (issue 13).
        guard
            .members()
            .set(&acme(), &UserId::new("alice").unwrap(), Role::Member)
            .await
            .unwrap();
        guard
            .sessions()
            .create(&ctx, "bench")
            .await
            .unwrap()
            .access_token
            .expose()
            .to_owned()
    });
    c.bench_function("access_token_verify", |b| {
        // Async since issue 15 (the key named by `kid` may have to be read once): the
        // figure includes one block_on of an immediately ready future.
        b.iter(|| {
            rt.block_on(guard.sessions().verify_access_token(&access))
                .unwrap()
        })
    });
    c.bench_function("access_token_verify_cpu_time", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                drop(std::hint::black_box(
                    rt.block_on(guard.sessions().verify_access_token(&access))
                        .unwrap(),
                ))
            })
        })
    });
}

fn audit(c: &mut Criterion) {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("audit_append");
    g.throughput(Throughput::Elements(1));
    #[allow(unused_mut)]
    let mut cases: Vec<(&str, Arc<dyn Store>)> = vec![
        ("memory_store", Arc::new(MemoryStore::new())),
        (
            "sqlite_store_wal",
            Arc::new(SqliteStore::open(dir.path().join("a.db")).unwrap()),
        ),
    ];
    #[cfg(feature = "postgres")]
    match tenantguard_benches::pg::env() {
        Some(env) => cases.push(("postgres_store", rt.block_on(postgres_store(&env)))),
        None => eprintln!(
            "SKIPPED audit_append/postgres_store: TENANTGUARD_PG_URL not set (run `eval \"$(scripts/pg.sh start)\"`)"
        ),
    }
    #[cfg(not(feature = "postgres"))]
    eprintln!("SKIPPED audit_append/postgres_store: built without --features postgres");
    for (name, store) in cases {
        let guard = guard(store, Duration::ZERO);
        rt.block_on(guard.keys().create_tenant(&acme())).unwrap();
        let ev = AuditEvent::new(AuditAction::EgressDecision, "provider:openai")
            .detail("decision", "redacted")
            .detail("categories", "email,phone");
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(guard.audit().record(&acme(), ev.clone()))
                    .unwrap()
            })
        });
        g.bench_function(format!("{name}_cpu_time"), |b| {
            b.iter_custom(|n| {
                cpu_time(n, || {
                    drop(
                        rt.block_on(guard.audit().record(&acme(), ev.clone()))
                            .unwrap(),
                    )
                })
            })
        });
    }
    g.finish();
}

/// A fresh, migrated database `tg_bench_governance` (dropped first), reached through the
/// application and service logins with Row Level Security required, as in production.
#[cfg(feature = "postgres")]
async fn postgres_store(env: &tenantguard_benches::pg::PgEnv) -> Arc<dyn Store> {
    use tenantguard_benches::pg;
    const DB: &str = "tg_bench_governance";
    pg::fresh_db(env, DB).await;
    let options = tenantguard::PgOptions {
        require_rls: true,
        ..Default::default()
    };
    Arc::new(pg::connect(env, DB, options).await)
}

fn passwords(c: &mut Criterion) {
    let mut g = c.benchmark_group("password");
    g.sample_size(10);
    let h = PasswordHasher::default();
    g.bench_function("argon2id_hash_m19456_t2_p1", |b| {
        b.iter(|| h.hash("correct horse battery staple").unwrap())
    });
    let stored = h.hash("correct horse battery staple").unwrap();
    g.bench_function("argon2id_verify_m19456_t2_p1", |b| {
        b.iter_batched(
            || (),
            |_| h.verify("correct horse battery staple", &stored).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, tokens, audit, passwords);
criterion_main!(benches);
