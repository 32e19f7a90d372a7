//! Cross-instance propagation (issue 15): from a revoking call returning on instance A to
//! the first refusal of the same token on instance B, over 1,000 revocations, with
//! LISTEN/NOTIFY and with the polling fallback alone (default 1 s interval); then the
//! listener's cost at idle. Not a pass/fail test: figures go to benches/BENCHMARKS.md.
//!
//!   eval "$(scripts/pg.sh start)"
//!   cargo bench -p tenantguard-benches --features postgres --bench propagation
//!   scripts/pg.sh stop
//!
//! A and B are two guards on two `PostgresStore`s in this process: separate connection
//! pools and separate listeners, so the news goes through the server exactly as between
//! processes (core/tests/postgres/events.rs proves it with real processes), while both
//! timestamps come from one monotonic clock. B's token cache TTL is one hour: only the
//! news can make it refuse. Revocations are paced 20 ms apart; B checks every pending
//! token about every millisecond (cache hits), which bounds the resolution at ~1 ms.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::str::FromStr;
use std::time::{Duration, Instant};

use tenantguard::tokens::{TokenConfig, TokenSpec};
use tenantguard::{
    GovernanceConfig, Guard, LocalKeyProvider, PgOptions, PostgresStore, TenantContext, TenantId,
    UserId,
};
use tokio_postgres::{Config, NoTls};

const EVENTS: usize = 1_000;
const PACE: Duration = Duration::from_millis(20);
const IDLE: Duration = Duration::from_secs(30);

fn var(n: &str) -> Option<String> {
    std::env::var(n).ok().filter(|s| !s.is_empty())
}

fn with_db(url: &str, db: &str) -> Config {
    let mut c = Config::from_str(url).expect("url");
    c.dbname(db);
    c
}

async fn admin_exec(url: &str, db: &str, sql: &str) {
    let (client, conn) = with_db(url, db).connect(NoTls).await.expect("admin");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client.batch_execute(sql).await.expect("admin sql");
}

async fn instance(
    app: &str,
    service: &str,
    db: &str,
    notifications: bool,
    kms: &std::sync::Arc<dyn tenantguard::KeyProvider>,
) -> (Guard, TenantContext) {
    let store = PostgresStore::connect_with(
        with_db(app, db),
        Some(with_db(service, db)),
        PgOptions {
            notifications,
            ..PgOptions::default()
        },
    )
    .await
    .expect("connect");
    let (guard, svc) = Guard::builder()
        // One KMS for all instances, as in a deployment (the keyring's keys are wrapped by it).
        .key_provider_arc(kms.clone())
        .store(store)
        .governance(GovernanceConfig {
            tokens: TokenConfig {
                cache_ttl: Duration::from_secs(3600),
                cache_capacity: 100_000,
                ..TokenConfig::default()
            },
            ..GovernanceConfig::default()
        })
        .build_with_service()
        .expect("guard");
    let ctx = TenantContext::service(TenantId::new("bench").unwrap(), &svc);
    (guard, ctx)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn cpu_self() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU time (user + system) of a server process, from /proc (the server runs here).
fn cpu_of(pid: i32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / hz.max(1))
}

async fn run(env: &(String, String, String), notifications: bool) {
    let (app, service, admin) = env;
    let db = if notifications {
        "tg_bench_prop_notify"
    } else {
        "tg_bench_prop_poll"
    };
    admin_exec(
        admin,
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    )
    .await;
    admin_exec(admin, "postgres", &format!("CREATE DATABASE {db}")).await;
    PostgresStore::migrate(&format!("{}/{db}", admin.rsplit_once('/').unwrap().0))
        .await
        .expect("migrate");
    let kms: std::sync::Arc<dyn tenantguard::KeyProvider> =
        std::sync::Arc::new(LocalKeyProvider::ephemeral());
    let (a, actx) = instance(app, service, db, notifications, &kms).await;
    let (b, _) = instance(app, service, db, notifications, &kms).await;
    assert_eq!(
        b.event_feed_status().unwrap().notifications,
        notifications,
        "the self-probe's verdict"
    );
    a.keys().create_tenant(&actx).await.expect("tenant");
    let mut tokens = Vec::with_capacity(EVENTS);
    for i in 0..EVENTS {
        let t = a
            .tokens()
            .create(
                &actx,
                TokenSpec::read_only(UserId::new("bot").unwrap(), format!("t{i}")),
            )
            .await
            .expect("token");
        b.tokens()
            .authenticate(t.secret.expose())
            .await
            .expect("warm");
        tokens.push(t);
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let bb = b.clone();
    let checker = tokio::spawn(async move {
        let mut pending: VecDeque<(String, Instant)> = VecDeque::new();
        let mut lat = Vec::with_capacity(EVENTS);
        let mut open = true;
        while open || !pending.is_empty() {
            loop {
                match rx.try_recv() {
                    Ok(p) => pending.push_back(p),
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    Err(_) => {
                        open = false;
                        break;
                    }
                }
            }
            let mut still = VecDeque::with_capacity(pending.len());
            for (secret, at) in pending.drain(..) {
                match bb.tokens().authenticate(&secret).await {
                    Ok(_) => still.push_back((secret, at)),
                    Err(_) => lat.push(at.elapsed().as_secs_f64() * 1000.0),
                }
            }
            pending = still;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        lat
    });
    let cpu0 = cpu_self();
    let wall0 = Instant::now();
    for t in &tokens {
        a.tokens().revoke(&actx, &t.id).await.expect("revoke");
        tx.send((t.secret.expose().to_owned(), Instant::now()))
            .unwrap();
        tokio::time::sleep(PACE).await;
    }
    drop(tx);
    let mut lat = checker.await.unwrap();
    let (cpu, wall) = (cpu_self() - cpu0, wall0.elapsed());
    lat.sort_by(|x, y| x.partial_cmp(y).unwrap());
    let mode = if notifications {
        "LISTEN/NOTIFY"
    } else {
        "polling only (1 s)"
    };
    println!(
        "propagation {mode}: n={} p50={:.1} ms p99={:.1} ms max={:.1} ms (bench process CPU {:.1} s over {:.1} s)",
        lat.len(),
        pct(&lat, 0.50),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        cpu.as_secs_f64(),
        wall.as_secs_f64()
    );
    drop((tokens, a, b));

    // Idle: one fresh instance, nothing happening; the process's CPU and its listener's
    // server backend's CPU over IDLE seconds.
    let (idle, _) = instance(app, service, db, notifications, &kms).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (c, conn) = with_db(admin, db).connect(NoTls).await.expect("admin");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let pids: Vec<i32> = c
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'tenantguard-events' AND datname = $1",
            &[&db],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let server0: Duration = pids.iter().map(|p| cpu_of(*p)).sum();
    let polls0 = idle.event_feed_status().unwrap().polls;
    let cpu0 = cpu_self();
    tokio::time::sleep(IDLE).await;
    let cpu = cpu_self() - cpu0;
    let server: Duration = pids.iter().map(|p| cpu_of(*p)).sum::<Duration>() - server0;
    let polls = idle.event_feed_status().unwrap().polls - polls0;
    println!(
        "idle {mode}: {} listener(s); {polls} polls in {} s; client CPU {:.2} ms/s; server backend CPU {:.2} ms/s",
        pids.len(),
        IDLE.as_secs(),
        cpu.as_secs_f64() * 1000.0 / IDLE.as_secs_f64(),
        server.as_secs_f64() * 1000.0 / IDLE.as_secs_f64(),
    );
    drop(idle);
    admin_exec(
        admin,
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    )
    .await;
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing: do not run then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (Some(app), Some(service), Some(admin)) = (
        var("TENANTGUARD_PG_URL"),
        var("TENANTGUARD_PG_SERVICE_URL"),
        var("TENANTGUARD_PG_ADMIN_URL"),
    ) else {
        eprintln!(
            "propagation: skipped, TENANTGUARD_PG_URL not set (eval \"$(scripts/pg.sh start)\")"
        );
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let env = (app, service, admin);
    rt.block_on(run(&env, true));
    rt.block_on(run(&env, false));
}
