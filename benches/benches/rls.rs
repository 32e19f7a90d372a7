//! Cost of Row Level Security: sealed put + get per second on PostgreSQL with the RLS
//! policies against the same schema with RLS disabled, in one run, same server.
//!
//!   eval "$(scripts/pg.sh start)"
//!   cargo bench -p tenantguard-benches --features postgres --bench rls
//!   scripts/pg.sh stop
//!
//! Both databases hold the same 10,000 background records of 20 other tenants, so the
//! policies filter a realistic table. One iteration: a member seals and stores a record
//! (application role, policies read the member's role from tg_memberships), then the
//! service role reads it back and opens it (service role, tenant-scoped policies).
// criterion_group! generates public functions without docs.
#![allow(missing_docs)]
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../core/kms/tests/tg_cap/mod.rs"]
mod tg_cap;

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tenantguard::store::{RecordStore, RetentionStore};
use tenantguard::tenant::Resolved;
use tenantguard::{
    Guard, LocalKeyProvider, PgOptions, PostgresStore, Role, TenantContext, TenantId, UserId,
};
use tenantguard_benches::pg::{admin_exec, connect, env, fresh_db, with_db, PgEnv};
use tokio_postgres::NoTls;

/// A migrated database with background data; `rls` false disables RLS on every table.
async fn setup(
    env: &PgEnv,
    db: &str,
    rls: bool,
) -> (Guard, TenantContext, TenantContext, Arc<PostgresStore>) {
    fresh_db(env, db).await;
    admin_exec(
        &env.admin,
        db,
        "INSERT INTO tg_tenants SELECT 'bg-' || g, NULL, 0 FROM generate_series(1, 20) g;
         INSERT INTO tg_memberships SELECT 'bg-' || g, 'user-' || g || '-' || m, 'member', 0
             FROM generate_series(1, 20) g, generate_series(1, 10) m;
         INSERT INTO tg_tenant_keys SELECT 'bg-' || g, 1, 'active', 'k', '\\x00', 0 FROM generate_series(1, 20) g;
         INSERT INTO tg_records SELECT 'bg-' || g || '-' || r, 'bg-' || g, 'password', NULL, 1,
             decode(md5(r::text) || md5(g::text), 'hex'), 0, 0
             FROM generate_series(1, 20) g, generate_series(1, 500) r;
         ANALYZE;",
    )
    .await;
    if !rls {
        // Every table of the store, including the audit log that `open_record` appends to:
        // the two databases then differ only in whether policies apply.
        admin_exec(
            &env.admin,
            db,
            "DO $$ DECLARE t text; BEGIN
                 FOR t IN SELECT c.relname FROM pg_class c
                          WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
                            AND c.relname LIKE 'tg\\_%' AND c.relname <> 'tg_schema_migrations' LOOP
                     EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
                     EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
                 END LOOP;
             END $$;",
        )
        .await;
    }
    let store = connect(
        env,
        db,
        PgOptions {
            pool_size: 4,
            require_rls: rls,
            ..PgOptions::default()
        },
    )
    .await;
    let store = Arc::new(store);
    let guard = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store_arc(store.clone())
        // RLS is what is measured: the write limit would throttle the loop.
        .rate_limiter(tenantguard::ratelimit::RateLimiter::in_process(
            tenantguard::ratelimit::Policies::unlimited(),
        ))
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    let tenant = TenantId::new("bench").unwrap();
    let owner = TenantContext::resolved(Resolved::vouch(
        &tg_cap::cap(),
        tenant.clone(),
        UserId::new("olga").unwrap(),
        Role::Owner,
    ));
    guard
        .keys()
        .create_tenant(&owner)
        .await
        .expect("create tenant");
    // The member's role lives in tg_memberships (added through the service role).
    admin_exec(
        &env.admin,
        db,
        "INSERT INTO tg_memberships VALUES ('bench', 'mia', 'member', 0)",
    )
    .await;
    let member = TenantContext::resolved(Resolved::vouch(
        &tg_cap::cap(),
        tenant.clone(),
        UserId::new("mia").unwrap(),
        Role::Member,
    ));
    // 10,000 records of the bench tenant under key 1, for the page read.
    admin_exec(
        &env.admin,
        db,
        "INSERT INTO tg_records SELECT 'page-' || lpad(r::text, 5, '0'), 'bench', 'page', NULL, 1,
             decode(md5(r::text) || md5(r::text), 'hex'), 0, 0 FROM generate_series(1, 10000) r;
         ANALYZE;",
    )
    .await;
    let service = TenantContext::service(tenant, &tg_cap::cap());
    (guard, member, service, store)
}

fn bench_rls(c: &mut Criterion) {
    let Some(env) = env() else {
        eprintln!("SKIPPED rls benchmark: TENANTGUARD_PG_URL not set (run `eval \"$(scripts/pg.sh start)\"`)");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let with = rt.block_on(setup(&env, "tg_bench_rls", true));
    let without = rt.block_on(setup(&env, "tg_bench_norls", false));
    // The interleaved comparison runs first, on the two fresh databases: the criterion
    // runs below adapt their iteration counts to the speed of each variant, so afterwards
    // the two audit logs and tables would differ in size and the comparison would not be
    // like for like.
    // Load on a shared machine drifts during a run; alternate short blocks of both variants
    // and report the median of the per-round ratios as well. CPU time is less sensitive to
    // load than wall time, so the blocks also count the CPU time of this process (client:
    // sealing, opening, driver) and, when the server runs on this machine as with
    // scripts/pg.sh, of the server backends connected to each database (from /proc).
    let admin = rt.block_on(async {
        let (client, conn) = with_db(&env.admin, "postgres")
            .connect(NoTls)
            .await
            .expect("admin connect");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    });
    let block = |(guard, member, service, _): &(
        Guard,
        TenantContext,
        TenantContext,
        Arc<PostgresStore>,
    ),
                 db: &str,
                 n: u32| {
        rt.block_on(async {
            let server0 = backend_ticks(&admin, db).await;
            let client0 = cpu_time::ProcessTime::now();
            let start = std::time::Instant::now();
            for i in 0..n {
                let id = format!("alt-{i}");
                guard
                    .records()
                    .put(
                        member,
                        &id,
                        "password",
                        None,
                        b"correct horse battery staple",
                    )
                    .await
                    .unwrap();
                guard.records().open_record(service, &id).await.unwrap();
            }
            let wall = start.elapsed().as_secs_f64();
            let client = client0.elapsed().as_secs_f64();
            let server1 = backend_ticks(&admin, db).await;
            let server = match (server0, server1) {
                (Some(a), Some(b)) => Some(
                    b.iter()
                        .map(|(pid, t)| t.saturating_sub(*a.get(pid).unwrap_or(&0)))
                        .sum::<u64>() as f64
                        / clock_ticks_per_sec(),
                ),
                _ => None,
            };
            let n = f64::from(n);
            (wall / n, client / n, server.map(|s| s / n))
        })
    };
    const ROUNDS: usize = 40;
    let mut ratios = Vec::new();
    let (mut t_rls, mut t_plain) = (0.0, 0.0);
    let (mut c_rls, mut c_plain) = (0.0, 0.0);
    let (mut s_rls, mut s_plain) = (Some(0.0), Some(0.0));
    let add = |acc: &mut Option<f64>, v: Option<f64>| *acc = acc.zip(v).map(|(a, v)| a + v);
    for round in 0..ROUNDS {
        let (a, b) = if round % 2 == 0 {
            let a = block(&with, "tg_bench_rls", 100);
            (a, block(&without, "tg_bench_norls", 100))
        } else {
            let b = block(&without, "tg_bench_norls", 100);
            (block(&with, "tg_bench_rls", 100), b)
        };
        t_rls += a.0;
        t_plain += b.0;
        c_rls += a.1;
        c_plain += b.1;
        add(&mut s_rls, a.2);
        add(&mut s_plain, b.2);
        ratios.push(a.0 / b.0);
    }
    ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = (ratios[ROUNDS / 2 - 1] + ratios[ROUNDS / 2]) / 2.0;
    println!(
        "interleaved {ROUNDS} x 100 put+get: rls {:.0}/s, no_rls {:.0}/s, median time ratio rls/no_rls {:.3} (RLS cost {:+.1}%)",
        ROUNDS as f64 / t_rls,
        ROUNDS as f64 / t_plain,
        median,
        (median - 1.0) * 100.0
    );
    let us = |total: f64| total / ROUNDS as f64 * 1e6;
    println!(
        "CPU per put+get, client process: rls {:.0} us, no_rls {:.0} us",
        us(c_rls),
        us(c_plain)
    );
    match (s_rls, s_plain) {
        (Some(s), Some(p)) => println!(
            "CPU per put+get, server backends: rls {:.0} us, no_rls {:.0} us ({:+.1}%); client + server: rls {:.0} us, no_rls {:.0} us (RLS cost {:+.1}%)",
            us(s),
            us(p),
            (s / p - 1.0) * 100.0,
            us(s + c_rls),
            us(p + c_plain),
            ((s + c_rls) / (p + c_plain) - 1.0) * 100.0
        ),
        _ => println!("CPU of the server backends: not measured (server not on this machine)"),
    }

    let mut g = c.benchmark_group("postgres_sealed_put_get");
    g.throughput(Throughput::Elements(1));
    g.sample_size(40)
        .measurement_time(Duration::from_secs(12))
        .warm_up_time(Duration::from_secs(3));
    for (name, (guard, member, service, _)) in [("rls", &with), ("no_rls", &without)] {
        let mut i = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                let id = format!("rec-{}", i % 2000);
                rt.block_on(async {
                    guard
                        .records()
                        .put(
                            member,
                            &id,
                            "password",
                            None,
                            b"correct horse battery staple",
                        )
                        .await
                        .unwrap();
                    let (_, plain) = guard.records().open_record(service, &id).await.unwrap();
                    assert_eq!(plain.len(), 28);
                })
            })
        });
    }
    g.finish();

    // A 10,000-row page read by a member (records_by_key, one statement) and a retention
    // sweep batch of 500 expired records (service role), with and without RLS.
    let mut g = c.benchmark_group("postgres_page_and_sweep");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(2));
    for (name, (_, member, service, store), db) in [
        ("rls", &with, "tg_bench_rls"),
        ("no_rls", &without, "tg_bench_norls"),
    ] {
        g.bench_function(format!("page_10000_{name}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let page = store
                        .records_by_key(member, tenantguard::KeyId::new(1).unwrap(), None, 10_000)
                        .await
                        .unwrap();
                    assert_eq!(page.len(), 10_000);
                })
            })
        });
        g.bench_function(format!("sweep_batch_500_{name}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    rt.block_on(admin_exec(
                        &env.admin,
                        db,
                        "INSERT INTO tg_records SELECT 'old-' || r, 'bench', 'old', NULL, 1, '\\x00', 0, 0
                             FROM generate_series(1, 500) r",
                    ));
                    let start = std::time::Instant::now();
                    let gone = rt
                        .block_on(store.delete_expired(service, "old", 1, 500))
                        .unwrap();
                    total += start.elapsed();
                    assert_eq!(gone.len(), 500);
                }
                total
            })
        });
    }
    g.finish();
}

/// Clock ticks per second of /proc/<pid>/stat CPU times: USER_HZ, which Linux fixes at
/// 100 on every architecture this runs on (x86_64, aarch64).
fn clock_ticks_per_sec() -> f64 {
    100.0
}

/// CPU time (user + system, clock ticks) of each client backend connected to `db`, read
/// from /proc; `None` when a backend's /proc entry is not readable (server elsewhere).
async fn backend_ticks(
    admin: &tokio_postgres::Client,
    db: &str,
) -> Option<std::collections::HashMap<i32, u64>> {
    let rows = admin
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'",
            &[&db],
        )
        .await
        .ok()?;
    let mut out = std::collections::HashMap::new();
    for r in rows {
        let pid: i32 = r.get(0);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which is in parentheses): state is the first,
        // utime the 12th and stime the 13th.
        let rest = &stat[stat.rfind(')')? + 1..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        out.insert(pid, ticks);
    }
    Some(out)
}

criterion_group!(benches, bench_rls);
criterion_main!(benches);
