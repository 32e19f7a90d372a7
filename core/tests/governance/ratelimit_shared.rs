//! Rate limits shared across instances (issue 19): four real processes on one Redis and
//! on one PostgreSQL stay within the configured rate; a dead backend fails open or closed
//! as configured; two guards on one backend stop a password guesser together; the
//! PostgreSQL function resists a holder of the application password.
//!
//! Redis: needs `--features redis` and TENANTGUARD_REDIS_URL (`scripts/redis.sh start`);
//! PostgreSQL: `--features postgres` and the variables of `scripts/pg.sh start`. Without
//! them the tests print that they were skipped and pass, unless
//! TENANTGUARD_REDIS_REQUIRED=1 / TENANTGUARD_PG_REQUIRED=1.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

#[cfg(feature = "postgres")]
use crate::postgres_support;
use crate::ratelimit_support;
use crate::tg_cap;

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tenantguard::auth::{AuthError, PasswordHasher};
use tenantguard::ratelimit::{
    ActionClass, ClassPolicy, LimitKey, Policies, Quota, RateLimitBackend, RateLimiter,
};
use tenantguard::tenant::{TenantId, UserId};
use tenantguard::{Error, ErrorKind, Guard, LocalKeyProvider, MemoryStore};

const CHILD_BACKEND: &str = "TG_RL_CHILD_BACKEND";
const CHILD_URL: &str = "TG_RL_CHILD_URL";
const CHILD_KEY: &str = "TG_RL_CHILD_KEY";
const CHILD_SECONDS: &str = "TG_RL_CHILD_SECONDS";

/// The shared quota of the multi-process test: 10 at once, then 40 per second.
const BURST: u32 = 10;
const PERIOD: Duration = Duration::from_millis(25);
/// Each process checks for this long.
const RUN: Duration = Duration::from_secs(2);

fn policies() -> Policies {
    Policies::unlimited()
        .set(
            ActionClass::Write,
            ClassPolicy {
                subject: Some(Quota::new(BURST, PERIOD)),
                ..ClassPolicy::UNLIMITED
            },
        )
        .unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn backend(kind: &str, url: &str) -> Arc<dyn RateLimitBackend> {
    match kind {
        #[cfg(feature = "redis")]
        "redis" => Arc::new(
            tenantguard::ratelimit::RedisLimiter::connect(url)
                .await
                .unwrap(),
        ),
        #[cfg(feature = "postgres")]
        "postgres" => Arc::new(tenantguard::ratelimit::PostgresLimiter::connect(url, 2).unwrap()),
        other => panic!("backend {other} not built"),
    }
}

fn unix_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros()
}

/// The harness's name of [`child`], the test a spawned process runs: its path inside the
/// test binary (`module::child`), wherever this file's module sits.
fn child_test() -> &'static str {
    let path = concat!(module_path!(), "::child");
    path.split_once("::").map_or(path, |(_crate, test)| test)
}

/// The body of a child process: checks one shared key as fast as it can for `RUN`, then
/// prints `admitted refused errors start_us end_us p50_us p99_us`.
#[test]
#[ignore = "the body of a child process, started by the tests of this file"]
fn child() {
    let Ok(kind) = std::env::var(CHILD_BACKEND) else {
        return;
    };
    let url = std::env::var(CHILD_URL).unwrap();
    let key = std::env::var(CHILD_KEY).unwrap();
    let secs: f64 = std::env::var(CHILD_SECONDS).unwrap().parse().unwrap();
    rt().block_on(async {
        let limiter = RateLimiter::with_backend(backend(&kind, &url).await, policies());
        let k = LimitKey::tenant("acme").subject(&key);
        let (mut admitted, mut refused, mut errors) = (0u64, 0u64, 0u64);
        let mut lat = Vec::new();
        let start = unix_us();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs_f64(secs) {
            let t = Instant::now();
            match limiter.check(ActionClass::Write, &k).await {
                Ok(()) => admitted += 1,
                Err(e) if e.kind() == ErrorKind::RateLimited => refused += 1,
                Err(_) => errors += 1,
            }
            lat.push(t.elapsed().as_micros() as u64);
        }
        let end = unix_us();
        lat.sort_unstable();
        let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
        println!(
            "RESULT {admitted} {refused} {errors} {start} {end} {} {}",
            pct(0.5),
            pct(0.99)
        );
    });
}

struct Totals {
    admitted: u64,
    checks: u64,
    errors: u64,
    span: Duration,
    p50: u64,
    p99: u64,
}

fn four_processes(kind: &str, url: &str) -> Totals {
    let key = format!("u:multi-{}", unix_us());
    let children: Vec<_> = (0..4)
        .map(|_| {
            crate::rerun::rerun(child_test())
                .args(["-q", "--nocapture"])
                .env(CHILD_BACKEND, kind)
                .env(CHILD_URL, url)
                .env(CHILD_KEY, &key)
                .env(CHILD_SECONDS, RUN.as_secs_f64().to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut t = Totals {
        admitted: 0,
        checks: 0,
        errors: 0,
        span: Duration::ZERO,
        p50: 0,
        p99: 0,
    };
    let (mut first, mut last) = (u128::MAX, 0u128);
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "child failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .expect("a child result");
        let v: Vec<u128> = line.split(' ').map(|x| x.parse().unwrap()).collect();
        t.admitted += v[0] as u64;
        t.checks += (v[0] + v[1] + v[2]) as u64;
        t.errors += v[2] as u64;
        first = first.min(v[3]);
        last = last.max(v[4]);
        t.p50 = t.p50.max(v[5] as u64);
        t.p99 = t.p99.max(v[6] as u64);
    }
    t.span = Duration::from_micros((last - first) as u64);
    t
}

/// admitted ≤ burst + span / period (+ 2: one unit of rounding at each end of the span,
/// whose ends are read from the processes' clocks, not the backend's).
fn assert_within_rate(kind: &str, t: &Totals) {
    let bound = u64::from(BURST) + (t.span.as_micros() / PERIOD.as_micros()) as u64 + 2;
    eprintln!(
        "{kind}: 4 processes, {} checks in {:.2} s ({:.0} checks/s), admitted {} (bound {bound}, over-admission {}), worst per-process p50 {} µs, p99 {} µs",
        t.checks,
        t.span.as_secs_f64(),
        t.checks as f64 / t.span.as_secs_f64(),
        t.admitted,
        t.admitted.saturating_sub(bound - 2),
        t.p50,
        t.p99
    );
    assert_eq!(t.errors, 0, "{kind}: backend errors");
    assert!(
        t.admitted <= bound,
        "{kind}: admitted {} > {bound}",
        t.admitted
    );
    assert!(
        t.admitted >= u64::from(BURST),
        "{kind}: the limiter admitted too little"
    );
    assert!(t.checks > t.admitted, "{kind}: nothing was refused");
}

fn login_policies() -> Policies {
    ratelimit_support::with_login(Policies::unlimited())
}

/// Two guards ("instances") on one backend: a guesser alternating between them is stopped
/// after 3 failures in all; the user still logs in from another host.
async fn guessing_stops_across_instances(b: Arc<dyn RateLimitBackend>) {
    let limiter = RateLimiter::with_backend(b, login_policies());
    let mk = || {
        Guard::builder()
            .key_provider(LocalKeyProvider::ephemeral())
            .store(MemoryStore::new())
            .rate_limiter(limiter.clone())
            .build_with_service()
            .map(tg_cap::keep)
            .unwrap()
    };
    let (g1, g2) = (mk(), mk());
    let hasher = PasswordHasher::default();
    let phc = hasher.hash("right").unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let user = format!("alice{}", unix_us());
    let alice = UserId::new(&user).unwrap();
    let mut hashed = 0;
    for i in 0..10 {
        let g = if i % 2 == 0 { &g1 } else { &g2 };
        match g
            .sessions()
            .verify_password(&hasher, &tenant, &alice, "wrong", &phc, Some("203.0.113.9"))
            .await
        {
            Err(Error::Auth(AuthError::WrongPassword)) => hashed += 1,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::RateLimited, "{e}");
                assert!(e.retry_after().unwrap() > Duration::from_secs(20));
                break;
            }
            Ok(_) => unreachable!(),
        }
    }
    assert_eq!(hashed, 3);
    g2.sessions()
        .verify_password(
            &hasher,
            &tenant,
            &alice,
            "right",
            &phc,
            Some("198.51.100.1"),
        )
        .await
        .unwrap();
}

/// A backend that cannot be reached: fail-closed classes refuse (`Unavailable`),
/// fail-open classes admit.
async fn dead_backend_behaves_as_configured(b: Arc<dyn RateLimitBackend>) {
    let p = Policies::default()
        .set(
            ActionClass::Write,
            ClassPolicy {
                fail_closed: false,
                ..ClassPolicy::default_for(ActionClass::Write)
            },
        )
        .unwrap();
    let l = RateLimiter::with_backend(b.clone(), p);
    let key = LimitKey::tenant("acme")
        .subject("u:alice")
        .host(Some("10.0.0.1"));
    let e = l.check(ActionClass::Login, &key).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains("fails closed"), "{e}");
    l.check(ActionClass::Write, &key).await.unwrap();
    // Failing open or closed is a policy choice per class.
    let p = Policies::default()
        .set(
            ActionClass::Login,
            ClassPolicy {
                fail_closed: false,
                ..ClassPolicy::default_for(ActionClass::Login)
            },
        )
        .unwrap();
    let l = RateLimiter::with_backend(b, p);
    l.check(ActionClass::Login, &key).await.unwrap();
}

#[cfg(feature = "redis")]
mod redis_backend {
    use super::*;
    use tenantguard::ratelimit::RedisLimiter;

    fn url() -> Option<String> {
        match std::env::var("TENANTGUARD_REDIS_URL") {
            Ok(u) if !u.is_empty() => Some(u),
            _ => {
                if std::env::var("TENANTGUARD_REDIS_REQUIRED").as_deref() == Ok("1") {
                    panic!("TENANTGUARD_REDIS_REQUIRED=1 but TENANTGUARD_REDIS_URL is not set: run scripts/redis.sh start");
                }
                eprintln!("skipped: TENANTGUARD_REDIS_URL not set (scripts/redis.sh start)");
                None
            }
        }
    }

    #[test]
    fn four_processes_on_one_redis_stay_within_the_rate() {
        let Some(url) = url() else { return };
        let t = four_processes("redis", &url);
        assert_within_rate("redis", &t);
    }

    #[test]
    fn password_guessing_stops_across_instances_on_redis() {
        let Some(url) = url() else { return };
        rt().block_on(async {
            guessing_stops_across_instances(Arc::new(RedisLimiter::connect(&url).await.unwrap()))
                .await
        });
    }

    #[test]
    fn a_redis_that_dies_fails_open_or_closed_as_configured() {
        if url().is_none() {
            return;
        }
        // A server of our own, so killing it disturbs no other test.
        let dir = tempfile::tempdir().unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut server = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        rt().block_on(async {
            let url = format!("redis://127.0.0.1:{port}/0");
            let mut b = None;
            for _ in 0..50 {
                if let Ok(x) = RedisLimiter::connect(&url).await {
                    b = Some(x);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let b: Arc<dyn RateLimitBackend> = Arc::new(b.expect("own redis up"));
            let l = RateLimiter::with_backend(b.clone(), Policies::default());
            let key = LimitKey::tenant("acme")
                .subject("u:alice")
                .host(Some("10.0.0.1"));
            l.check(ActionClass::Login, &key).await.unwrap();
            server.kill().unwrap();
            server.wait().unwrap();
            dead_backend_behaves_as_configured(b).await;
            // Never reachable at all: connecting is a typed backend error.
            let e = RedisLimiter::connect(&url).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unavailable);
        });
    }
}

#[cfg(feature = "postgres")]
mod postgres_backend {
    use super::*;
    use tenantguard::ratelimit::PostgresLimiter;

    fn service_url(pg: &postgres_support::Pg) -> String {
        let (_, service, _) = postgres_support::settings("rl").unwrap();
        format!("{}/{}", service.rsplit_once('/').unwrap().0, pg.db)
    }

    fn msg(e: &tokio_postgres::Error) -> String {
        e.as_db_error()
            .map(|d| d.message().to_owned())
            .unwrap_or_else(|| e.to_string())
    }

    fn app_url(pg: &postgres_support::Pg) -> String {
        let (app, _, _) = postgres_support::settings("rl").unwrap();
        format!("{}/{}", app.rsplit_once('/').unwrap().0, pg.db)
    }

    #[test]
    fn four_processes_on_one_postgres_stay_within_the_rate() {
        let Some(pg) = rt().block_on(postgres_support::fresh("rl_multi")) else {
            return;
        };
        let t = four_processes("postgres", &service_url(&pg));
        assert_within_rate("postgres", &t);
    }

    #[test]
    fn password_guessing_stops_across_instances_on_postgres() {
        let Some(pg) = rt().block_on(postgres_support::fresh("rl_guess")) else {
            return;
        };
        let url = service_url(&pg);
        // A 5 s call timeout, not the default 500 ms: this test is about counting across
        // instances, and the first call connects (SCRAM), which a loaded CI machine can
        // take longer than 500 ms to do; the timeout has its own tests.
        let limiter = PostgresLimiter::connect_with(&url, 2, Duration::from_secs(5)).unwrap();
        rt().block_on(async { guessing_stops_across_instances(Arc::new(limiter)).await });
    }

    #[test]
    fn an_unreachable_postgres_fails_open_or_closed_as_configured() {
        if postgres_support::settings("rl_dead").is_none() {
            return;
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let b: Arc<dyn RateLimitBackend> = Arc::new(
            PostgresLimiter::connect(&format!("postgres://x:y@127.0.0.1:{port}/none"), 1).unwrap(),
        );
        rt().block_on(dead_backend_behaves_as_configured(b));
    }

    /// A holder of the application password, in psql: cannot read or write the cells, and
    /// cannot undo his failures or lock-out through the function; the service login can
    /// record a success (which resets the count, never a lock-out in force).
    #[test]
    fn the_app_login_cannot_read_or_reset_limiter_cells() {
        let Some(pg) = rt().block_on(postgres_support::fresh("rl_attack")) else {
            return;
        };
        rt().block_on(async {
            // The app login may run the limiter itself (takes and failures).
            let l = RateLimiter::with_backend(
                Arc::new(PostgresLimiter::connect(&app_url(&pg), 1).unwrap()),
                login_policies(),
            );
            let key = LimitKey::tenant("acme").subject("u:alice").host(Some("203.0.113.9"));
            for _ in 0..3 {
                l.check(ActionClass::Login, &key).await.unwrap();
                l.failure(ActionClass::Login, &key).await;
            }
            assert_eq!(
                l.check(ActionClass::Login, &key).await.unwrap_err().kind(),
                ErrorKind::RateLimited
            );
            let app = pg.app_raw().await;
            for sql in [
                "SELECT * FROM tg_rate_limits",
                "UPDATE tg_rate_limits SET blocked = 0, fails = 0, tat = 0",
                "DELETE FROM tg_rate_limits",
                "TRUNCATE tg_rate_limits",
                "INSERT INTO tg_rate_limits (key) VALUES ('x')",
            ] {
                let e = app.batch_execute(sql).await.unwrap_err();
                assert!(msg(&e).contains("permission denied"), "{sql}: {}", msg(&e));
            }
            let host_cell = "login:h:4:acme:7:u:alice:11:203.0.113.9";
            let subject_cell = "login:s:4:acme:7:u:alice";
            // A success through the function: service login only.
            let e = app
                .query(
                    "SELECT * FROM tg_rate_limit(ARRAY[$1], 'succeed', ARRAY[1,1,0,0,0,0,0]::bigint[])",
                    &[&host_cell],
                )
                .await
                .unwrap_err();
            assert!(msg(&e).contains("only the service login"), "{}", msg(&e));
            // A negative period or cost to move the cell back, or a tiny failure memory to
            // forget the count: refused.
            for params in [
                "ARRAY[-1000000000,0,1,0,0,0,0]",
                "ARRAY[1,0,-100,0,0,0,0]",
                "ARRAY[1,0,1,1000,1,1,0]",
            ] {
                for op in ["take", "fail"] {
                    let e = app
                        .query(
                            &format!("SELECT * FROM tg_rate_limit(ARRAY[$1], '{op}', {params}::bigint[])"),
                            &[&host_cell],
                        )
                        .await
                        .unwrap_err();
                    assert!(msg(&e).contains("out of range"), "{op} {params}: {}", msg(&e));
                }
            }
            assert_eq!(
                l.check(ActionClass::Login, &key).await.unwrap_err().kind(),
                ErrorKind::RateLimited,
                "still locked out"
            );
            // The service login records the success: the count restarts, the lock-out stays.
            let svc = pg.service_raw().await;
            svc.query(
                "SELECT * FROM tg_rate_limit(ARRAY[$1], 'succeed', ARRAY[1,1,0,0,0,0,0]::bigint[])",
                &[&host_cell],
            )
            .await
            .unwrap();
            let admin = pg.admin().await;
            let row = admin
                .query_one(
                    "SELECT fails, blocked > (extract(epoch FROM clock_timestamp()) * 1000000)::bigint FROM tg_rate_limits WHERE key = $1",
                    &[&host_cell],
                )
                .await
                .unwrap();
            assert_eq!(row.get::<_, i32>(0), 0);
            assert!(row.get::<_, bool>(1), "the lock-out stays");
            let n: i64 = admin
                .query_one("SELECT count(*) FROM tg_rate_limits WHERE key = $1", &[&subject_cell])
                .await
                .unwrap()
                .get(0);
            assert_eq!(n, 1);
        });
    }
}
