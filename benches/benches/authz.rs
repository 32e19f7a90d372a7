//! Per-call authorization overhead (issue 13): the same operation by the service, a user
//! (role check) and an agent (scope check against the resource, plus the in-process
//! revocation check), and the bare checks themselves. CPU time of the calling thread.
//!
//! Run: `cargo bench -p tenantguard-benches --bench authz`
// criterion_group! generates public functions without docs.
#![allow(missing_docs)]
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use tenantguard::tenant::{Resolved, Role, UserId};
use tenantguard::tokens::{Action, Scope, TokenSpec};
use tenantguard::{Guard, LocalKeyProvider, MemoryStore, TenantContext, TenantId};

/// Polls a future once without a runtime: with a warm key cache and MemoryStore these
/// calls never await, so this measures the call rather than an executor.
fn poll_once<T>(fut: impl std::future::Future<Output = T>) -> T {
    let mut fut = std::pin::pin!(fut);
    match fut
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("a warm call must not await"),
    }
}

fn cpu_time(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = cpu_time::ThreadTime::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

fn authz(c: &mut Criterion) {
    let (g, service) = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store(MemoryStore::new())
        .build_with_service()
        .unwrap();
    let acme = TenantContext::service(TenantId::new("acme").unwrap(), &service);
    let user = TenantContext::resolved(Resolved::vouch(
        &service,
        TenantId::new("acme").unwrap(),
        UserId::new("mia").unwrap(),
        Role::Member,
    ));
    // A realistic agent: a handful of scopes, the matching one last.
    let scopes = vec![
        Scope::read("runs/*"),
        Scope::new("runs/*", Action::Write),
        Scope::read("keys"),
        Scope::new("records/note/*", Action::Write),
        Scope::new("values/*", Action::Write),
    ];
    let secret = poll_once(async {
        g.keys().create_tenant(&acme).await.unwrap();
        g.tokens()
            .create(
                &acme,
                TokenSpec::read_only(UserId::new("bot").unwrap(), "bench").scopes(scopes),
            )
            .await
            .unwrap()
            .secret
            .expose()
            .to_owned()
    });
    let agent = poll_once(g.tokens().authenticate(&secret)).unwrap().context;
    let data = [7u8; 256];

    let mut grp = c.benchmark_group("authz_seal_256B_cpu_time");
    for (name, ctx) in [("service", &acme), ("user", &user), ("agent", &agent)] {
        poll_once(g.records().seal(ctx, "row/1", &data)).unwrap();
        grp.bench_function(name, |b| {
            b.iter_custom(|n| {
                cpu_time(n, || {
                    drop(std::hint::black_box(
                        poll_once(g.records().seal(ctx, "row/1", &data)).unwrap(),
                    ))
                })
            })
        });
    }
    grp.finish();

    let mut grp = c.benchmark_group("authz_key_versions_cpu_time");
    for (name, ctx) in [("service", &acme), ("user", &user), ("agent", &agent)] {
        grp.bench_function(name, |b| {
            b.iter_custom(|n| {
                cpu_time(n, || {
                    drop(std::hint::black_box(
                        poll_once(g.keys().versions(ctx)).unwrap(),
                    ))
                })
            })
        });
    }
    grp.finish();

    let mut grp = c.benchmark_group("authz_check_only_cpu_time");
    for (name, ctx) in [("service", &acme), ("user", &user), ("agent", &agent)] {
        grp.bench_function(name, |b| {
            b.iter_custom(|n| {
                cpu_time(n, || {
                    std::hint::black_box(
                        ctx.authorize(Role::Member, "values/row/1", Action::Write, "seal")
                            .is_ok(),
                    );
                })
            })
        });
    }
    grp.bench_function("agent_denied", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                std::hint::black_box(
                    agent
                        .authorize(Role::Member, "records/password/db", Action::Write, "put")
                        .is_err(),
                );
            })
        })
    });
    grp.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = authz
}
criterion_main!(benches);
