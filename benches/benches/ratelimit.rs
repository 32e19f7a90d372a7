//! Rate-limit checks (issue 19): the in-process check (target under 100 ns CPU), its floor
//! (a clock read plus a keyed hash), a Redis and a PostgreSQL check (wall time per call,
//! one round trip), and what limits add to a warm agent-token verification (the same
//! guard with and without the default limits, same run).
//!
//! Run: `cargo bench -p tenantguard-benches --bench ratelimit` (in-process rows only:
//! `-- ratelimit_in_process`); with the shared backends:
//! `eval "$(scripts/redis.sh start)"; eval "$(scripts/pg.sh start)"` then
//! `cargo bench -p tenantguard-benches --features redis,postgres --bench ratelimit`.

// criterion_group! generates undocumented items.
#![allow(missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use tenantguard::ratelimit::{ActionClass, ClassPolicy, LimitKey, Policies, Quota, RateLimiter};
use tenantguard::tokens::{Action, TokenSpec};
use tenantguard::{Guard, LocalKeyProvider, MemoryStore, TenantContext, TenantId, UserId};

fn poll_once<T>(fut: impl std::future::Future<Output = T>) -> T {
    let mut fut = std::pin::pin!(fut);
    match fut
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("an in-process call must not await"),
    }
}

fn cpu_time(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = cpu_time::ThreadTime::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

/// Quotas no benchmark loop exhausts: every check is admitted and writes its cell.
fn roomy() -> Policies {
    let q = Some(Quota::new(1_000_000, Duration::from_micros(1)));
    Policies::default()
        .set(
            ActionClass::Write,
            ClassPolicy {
                subject: q,
                ..ClassPolicy::UNLIMITED
            },
        )
        .unwrap()
        .set(
            ActionClass::Login,
            ClassPolicy {
                tenant: q,
                subject: q,
                host: q,
                ..ClassPolicy::default_for(ActionClass::Login)
            },
        )
        .unwrap()
}

fn in_process(c: &mut Criterion) {
    let l = RateLimiter::in_process(roomy());
    let one = LimitKey::tenant("acme").subject("u:alice");
    let three = LimitKey::tenant("acme")
        .subject("u:alice")
        .host(Some("203.0.113.7"));
    let tight = RateLimiter::in_process(
        Policies::default()
            .set(
                ActionClass::Write,
                ClassPolicy {
                    subject: Some(Quota::new(1, Duration::from_secs(3600))),
                    ..ClassPolicy::UNLIMITED
                },
            )
            .unwrap(),
    );
    let _ = poll_once(tight.check(ActionClass::Write, &one));
    let hasher = std::collections::hash_map::RandomState::new();

    let mut g = c.benchmark_group("ratelimit_in_process_cpu_time");
    // The floor every in-process check pays: one monotonic clock read and one keyed hash.
    g.bench_function("floor_clock_and_siphash", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                let t = Instant::now();
                let h = hasher.hash_one((5u8, 1u8, Some("acme"), Some("u:alice")));
                std::hint::black_box((t, h));
            })
        })
    });
    // Even the roomiest quota (1,000,000 at once, then one per µs) runs dry within a
    // second at tens of millions of checks per second on one key: the admitted rows
    // spread over 64 users (64 cells, each well inside its quota).
    let users: Vec<String> = (0..64).map(|i| format!("u:alice-{i:02}")).collect();
    let ones: Vec<LimitKey<'_>> = users
        .iter()
        .map(|u| LimitKey::tenant("acme").subject(u))
        .collect();
    let tenants: Vec<String> = (0..64).map(|i| format!("acme-{i:02}")).collect();
    let threes: Vec<LimitKey<'_>> = users
        .iter()
        .zip(&tenants)
        .map(|(u, t)| LimitKey::tenant(t).subject(u).host(Some("203.0.113.7")))
        .collect();
    let _ = &three;
    g.bench_function("check_1_cell_admitted", |b| {
        b.iter_custom(|n| {
            let mut i = 0;
            cpu_time(n, || {
                i = (i + 1) & 63;
                poll_once(l.check(ActionClass::Write, &ones[i])).unwrap();
            })
        })
    });
    g.bench_function("check_3_cells_admitted", |b| {
        b.iter_custom(|n| {
            let mut i = 0;
            cpu_time(n, || {
                i = (i + 1) & 63;
                poll_once(l.check(ActionClass::Login, &threes[i])).unwrap();
            })
        })
    });
    g.bench_function("check_1_cell_refused", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                poll_once(tight.check(ActionClass::Write, &one)).unwrap_err();
            })
        })
    });
    g.bench_function("unlimited_class", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                poll_once(l.check(ActionClass::Service, &one)).unwrap();
            })
        })
    });
    g.finish();
}

fn warm_token(c: &mut Criterion) {
    let mut g = c.benchmark_group("ratelimit_warm_token_verify_cpu_time");
    for (name, limiter) in [
        (
            "without_limits",
            RateLimiter::in_process(Policies::unlimited()),
        ),
        ("with_default_limits", RateLimiter::default()),
    ] {
        let (guard, service) = Guard::builder()
            .key_provider(LocalKeyProvider::ephemeral())
            .store(MemoryStore::new())
            .rate_limiter(limiter)
            .build_with_service()
            .unwrap();
        let acme = TenantContext::service(TenantId::new("acme").unwrap(), &service);
        let secret = poll_once(async {
            guard.keys().create_tenant(&acme).await.unwrap();
            guard
                .tokens()
                .create(
                    &acme,
                    TokenSpec::read_only(UserId::new("bot").unwrap(), "b"),
                )
                .await
                .unwrap()
                .secret
                .expose()
                .to_owned()
        });
        poll_once(guard.tokens().verify(&secret, "runs/1", Action::Read)).unwrap();
        g.bench_function(name, |b| {
            b.iter_custom(|n| {
                cpu_time(n, || {
                    drop(std::hint::black_box(
                        poll_once(
                            guard
                                .tokens()
                                .authenticate_from(&secret, Some("203.0.113.7")),
                        )
                        .unwrap(),
                    ))
                })
            })
        });
    }
    g.finish();
}

#[allow(unused_variables, unused_mut)]
fn shared(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut backends: Vec<(&str, RateLimiter)> = Vec::new();
    #[cfg(feature = "redis")]
    if let Ok(url) = std::env::var("TENANTGUARD_REDIS_URL") {
        let b = rt
            .block_on(tenantguard::ratelimit::RedisLimiter::connect(&url))
            .unwrap();
        backends.push((
            "redis",
            RateLimiter::with_backend(std::sync::Arc::new(b), roomy()),
        ));
    }
    #[cfg(feature = "postgres")]
    if let (Ok(admin), Ok(svc)) = (
        std::env::var("TENANTGUARD_PG_ADMIN_URL"),
        std::env::var("TENANTGUARD_PG_SERVICE_URL"),
    ) {
        rt.block_on(tenantguard::PostgresStore::migrate(&admin))
            .unwrap();
        let b = tenantguard::ratelimit::PostgresLimiter::connect(&svc, 2).unwrap();
        backends.push((
            "postgres",
            RateLimiter::with_backend(std::sync::Arc::new(b), roomy()),
        ));
    }
    if backends.is_empty() {
        return;
    }
    let one = LimitKey::tenant("acme").subject("u:alice");
    let three = LimitKey::tenant("acme")
        .subject("u:alice")
        .host(Some("203.0.113.7"));
    let mut g = c.benchmark_group("ratelimit_shared_wall_time");
    for (name, l) in &backends {
        g.bench_function(format!("{name}_check_1_cell"), |b| {
            b.iter(|| rt.block_on(l.check(ActionClass::Write, &one)).unwrap())
        });
        g.bench_function(format!("{name}_check_3_cells"), |b| {
            b.iter(|| rt.block_on(l.check(ActionClass::Login, &three)).unwrap())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = in_process, warm_token, shared
}
criterion_main!(benches);
