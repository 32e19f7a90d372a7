//! Many instances, one truth: two real processes share one PostgreSQL database, and every
//! kind of news one of them makes (token revoke, agent kill, session revoke, membership
//! change, policy change, key rotation, key retirement, tenant shred) reaches the other,
//! whose caches were warm and would otherwise have kept answering for an hour. Run with
//! LISTEN/NOTIFY and with notifications off (the polling fallback alone), and across a
//! dropped listener connection. Plus the database writer's attacks on the events table.
//!
//! The second instance is this test binary re-invoked on the ignored `child` test; it
//! takes commands on stdin and answers on stdout. Waits are bounded generously (60 s) and
//! nothing is timed in a pass/fail way: the elapsed times are printed only.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::postgres_support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres_support::*;
use tenantguard::auth::SessionConfig;
use tenantguard::events::Event;
use tenantguard::store::PolicyStore;
use tenantguard::tenant::Resolved;
use tenantguard::tokens::{TokenConfig, TokenSpec};
use tenantguard::{
    CacheLimits, ErrorKind, GovernanceConfig, Guard, LocalKeyProvider, PgOptions, PostgresStore,
    Role, SealedValue, ServiceRole, TenantContext,
};

const ROLE: &str = "TG_EVENTS_CHILD";
const DB: &str = "TG_EVENTS_DB";
const KEYS: &str = "TG_EVENTS_KEYS";
const NOTIFY: &str = "TG_EVENTS_NOTIFY";
/// How long an instance may take to hear news before the test fails: far above the
/// bound (about one poll interval, 1 s), so a loaded machine does not fail it.
const PATIENCE: Duration = Duration::from_secs(60);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn db_config(var: &str, db: &str) -> tokio_postgres::Config {
    let mut cfg = tokio_postgres::Config::from_str(&std::env::var(var).unwrap()).unwrap();
    cfg.dbname(db);
    cfg
}

/// Both instances: caches that would outlive the test by far (an hour), so only the news
/// can make them refuse.
async fn instance(
    db: &str,
    keys: &str,
    notifications: bool,
) -> (Guard, ServiceRole, Arc<PostgresStore>) {
    let store = Arc::new(
        PostgresStore::connect_with(
            db_config("TENANTGUARD_PG_URL", db),
            Some(db_config("TENANTGUARD_PG_SERVICE_URL", db)),
            PgOptions {
                notifications,
                ..PgOptions::default()
            },
        )
        .await
        .expect("connect"),
    );
    let gov = GovernanceConfig {
        tokens: TokenConfig {
            cache_ttl: Duration::from_secs(3600),
            ..TokenConfig::default()
        },
        // No signing key configured: the instances share the keyring's session-signing key.
        sessions: SessionConfig {
            access_ttl_secs: 3600,
            ..SessionConfig::default()
        },
    };
    let (guard, service) = Guard::builder()
        .key_provider(LocalKeyProvider::open_or_create(keys).expect("key file"))
        .store_arc(store.clone())
        .cache_limits(CacheLimits {
            max_tenants: 100,
            max_age: Duration::from_secs(3600),
        })
        .governance(gov)
        .build_with_service()
        .expect("guard");
    (guard, service, store)
}

/// Retries `check` until it says done, for at most [`PATIENCE`]; the elapsed time or why not.
async fn wait_for<F, Fut>(mut check: F) -> String
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, String>>,
{
    let start = Instant::now();
    loop {
        match check().await {
            Ok(true) => return format!("ok {}", start.elapsed().as_millis()),
            Ok(false) => {}
            Err(e) => return format!("fail {e}"),
        }
        if start.elapsed() > PATIENCE {
            return "fail still not refused after the patience bound".into();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A refusal, as opposed to the database failing.
fn refused(kind: ErrorKind) -> bool {
    kind != ErrorKind::Store
}

/// The harness's name of [`child`], the test a spawned process runs: its path inside the
/// test binary (`module::child`), wherever this file's module sits.
fn child_test() -> &'static str {
    let path = concat!(module_path!(), "::child");
    path.split_once("::").map_or(path, |(_crate, test)| test)
}

/// The second instance.
#[test]
#[ignore = "the body of a child process, started by the tests of this file"]
fn child() {
    if std::env::var(ROLE).is_err() {
        return;
    }
    let db = std::env::var(DB).unwrap();
    let keys = std::env::var(KEYS).unwrap();
    let notifications = std::env::var(NOTIFY).unwrap() == "1";
    let rt = rt();
    let (guard, service, _store) = rt.block_on(instance(&db, &keys, notifications));
    let heard: Arc<Mutex<Vec<Event>>> = Arc::default();
    let h = heard.clone();
    let _sub = guard.subscribe(move |e| h.lock().unwrap().push(e.clone()));
    let svc = |t: &str| TenantContext::service(tenantguard::TenantId::new(t).unwrap(), &service);
    let mut out = std::io::stdout();
    for line in std::io::stdin().lines() {
        let line = line.unwrap();
        let w: Vec<&str> = line.split(' ').collect();
        let answer = rt.block_on(async {
            match w[0] {
                "status" => {
                    let s = guard
                        .event_feed_status()
                        .expect("a PostgreSQL store has a feed");
                    format!(
                        "ok notifications={} reconnects={}",
                        s.notifications, s.reconnects
                    )
                }
                "token-ok" => match guard.tokens().authenticate(w[1]).await {
                    Ok(_) => "ok 0".into(),
                    Err(e) => format!("fail {e}"),
                },
                "token-refused" => {
                    wait_for(|| async {
                        match guard.tokens().authenticate(w[1]).await {
                            Ok(_) => Ok(false),
                            Err(e) if e.kind() == ErrorKind::AuthenticationFailed => Ok(true),
                            Err(e) => Err(e.to_string()),
                        }
                    })
                    .await
                }
                "access-ok" => match guard.sessions().verify_access_token(w[1]).await {
                    Ok(_) => "ok 0".into(),
                    Err(e) => format!("fail {e}"),
                },
                "access-refused" => {
                    wait_for(|| async {
                        match guard.sessions().verify_access_token(w[1]).await {
                            Ok(_) => Ok(false),
                            Err(e) if e.kind() == ErrorKind::AuthenticationFailed => Ok(true),
                            Err(e) => Err(e.to_string()),
                        }
                    })
                    .await
                }
                "seal-key" => {
                    let want: u32 = w[2].parse().unwrap();
                    wait_for(|| async {
                        match guard.records().seal(&svc(w[1]), "probe", b"x").await {
                            Ok(v) => Ok(v.key_id().get() == want),
                            Err(e) => Err(e.to_string()),
                        }
                    })
                    .await
                }
                "seal-refused" => {
                    wait_for(|| async {
                        match guard.records().seal(&svc(w[1]), "probe", b"x").await {
                            Ok(_) => Ok(false),
                            Err(e) => Ok(refused(e.kind())),
                        }
                    })
                    .await
                }
                "open-ok" => {
                    let v = SealedValue::parse(w[2]).unwrap();
                    match guard.records().open(&svc(w[1]), "probe", &v).await {
                        Ok(p) if p.expose() == b"x" => "ok 0".into(),
                        Ok(_) => "fail wrong plaintext".into(),
                        Err(e) => format!("fail {e}"),
                    }
                }
                "open-refused" => {
                    let v = SealedValue::parse(w[2]).unwrap();
                    wait_for(|| async {
                        match guard.records().open(&svc(w[1]), "probe", &v).await {
                            Ok(_) => Ok(false),
                            Err(e) => Ok(refused(e.kind())),
                        }
                    })
                    .await
                }
                "event" => {
                    let (kind, tenant) = (w[1], w[2]);
                    wait_for(|| async {
                        Ok(heard.lock().unwrap().iter().any(|e| {
                            e.kind() == kind && e.tenant().map(|t| t.as_str()) == Some(tenant)
                        }))
                    })
                    .await
                }
                other => format!("fail unknown command {other}"),
            }
        });
        writeln!(out, "TG> {answer}").unwrap();
        out.flush().unwrap();
    }
}

struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(db: &str, keys: &str, notifications: bool) -> Peer {
        let mut child = crate::rerun::rerun(child_test())
            .args(["--nocapture"])
            .env(ROLE, "1")
            .env(DB, db)
            .env(KEYS, keys)
            .env(NOTIFY, if notifications { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the second instance");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Peer {
            child,
            stdin,
            stdout,
        }
    }

    /// Sends a command; the answer after "ok ", or a panic naming the command.
    fn ask(&mut self, cmd: &str) -> String {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "the second instance exited during {cmd:?}");
            // The harness may have started the line ("test child ... ").
            if let Some(a) = line.trim_end().split_once("TG> ").map(|(_, a)| a) {
                let what = cmd.split(' ').next().unwrap_or(cmd);
                match a.strip_prefix("ok ") {
                    Some(rest) => {
                        eprintln!("second instance: {what} -> {rest}");
                        return rest.to_owned();
                    }
                    None => panic!("second instance: {what}: {a}"),
                }
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scenario(name: &str, notifications: bool) {
    let rt = rt();
    let Some(pg) = rt.block_on(fresh(name)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let keys = keys.to_str().unwrap();
    let (guard, service, store) = rt.block_on(instance(&pg.db, keys, notifications));
    let mut peer = Peer::spawn(&pg.db, keys, notifications);
    let status = peer.ask("status");
    assert!(
        status.starts_with(&format!("notifications={notifications} ")),
        "the self-probe says whether notifications arrive: {status}"
    );

    let org = t("org");
    let svc = TenantContext::service(org.clone(), &service);
    let alice = TenantContext::resolved(Resolved::vouch(
        &service,
        org.clone(),
        u("alice"),
        Role::Owner,
    ));
    let bob = TenantContext::resolved(Resolved::vouch(
        &service,
        org.clone(),
        u("bob"),
        Role::Member,
    ));
    rt.block_on(async {
        guard.keys().create_tenant(&alice).await.unwrap();
        store
            .set_member(&alice, &u("bob"), Role::Member, 0)
            .await
            .unwrap();
    });

    // Token revocation.
    let tok = rt
        .block_on(
            guard
                .tokens()
                .create(&svc, TokenSpec::read_only(u("bot"), "one")),
        )
        .unwrap();
    peer.ask(&format!("token-ok {}", tok.secret.expose()));
    rt.block_on(guard.tokens().revoke(&svc, &tok.id)).unwrap();
    peer.ask(&format!("token-refused {}", tok.secret.expose()));

    // Kill switch: every token of the agent.
    let k1 = rt
        .block_on(
            guard
                .tokens()
                .create(&svc, TokenSpec::read_only(u("rogue"), "a")),
        )
        .unwrap();
    let k2 = rt
        .block_on(
            guard
                .tokens()
                .create(&svc, TokenSpec::read_only(u("rogue"), "b")),
        )
        .unwrap();
    peer.ask(&format!("token-ok {}", k1.secret.expose()));
    peer.ask(&format!("token-ok {}", k2.secret.expose()));
    assert_eq!(
        rt.block_on(guard.tokens().kill_agent(&svc, &u("rogue")))
            .unwrap(),
        2
    );
    peer.ask(&format!("token-refused {}", k1.secret.expose()));
    peer.ask(&format!("token-refused {}", k2.secret.expose()));

    // Session revocation stops the session's access tokens, not only its refreshes.
    let s = rt
        .block_on(guard.sessions().create(&alice, "laptop"))
        .unwrap();
    peer.ask(&format!("access-ok {}", s.access_token.expose()));
    assert!(rt
        .block_on(guard.sessions().revoke(&alice, &s.session_id))
        .unwrap());
    peer.ask(&format!("access-refused {}", s.access_token.expose()));

    // Membership change: bob's access token carries the role he no longer holds.
    let sb = rt.block_on(guard.sessions().create(&bob, "phone")).unwrap();
    peer.ask(&format!("access-ok {}", sb.access_token.expose()));
    assert!(rt.block_on(store.remove_member(&alice, &u("bob"))).unwrap());
    peer.ask(&format!("access-refused {}", sb.access_token.expose()));

    // Session signing key: rotated on one instance, the other verifies tokens under the
    // new key with no configuration; retired, the old key stops verifying there too.
    let old_access = rt.block_on(guard.sessions().create(&alice, "old")).unwrap();
    peer.ask(&format!("access-ok {}", old_access.access_token.expose()));
    let signing = tenantguard::kms::ServicePurpose::SessionSigning;
    assert_eq!(
        rt.block_on(guard.service_keys(&service).unwrap().rotate(signing))
            .unwrap()
            .get(),
        2
    );
    let new_access = rt.block_on(guard.sessions().create(&alice, "new")).unwrap();
    peer.ask(&format!("access-ok {}", new_access.access_token.expose()));
    rt.block_on(
        guard
            .service_keys(&service)
            .unwrap()
            .retire(signing, tenantguard::KeyId::FIRST),
    )
    .unwrap();
    peer.ask(&format!(
        "access-refused {}",
        old_access.access_token.expose()
    ));
    peer.ask(&format!("access-ok {}", new_access.access_token.expose()));

    // Policy change.
    rt.block_on(store.put_policy(&svc, "egress", "{}", 1))
        .unwrap();
    peer.ask("event policy org");

    // Rotation: the other instance seals under the new key, not the cached old one;
    // retirement: it no longer opens under the destroyed one.
    let old = rt
        .block_on(guard.records().seal(&svc, "probe", b"x"))
        .unwrap();
    assert_eq!(old.key_id().get(), 1);
    peer.ask("seal-key org 1");
    peer.ask(&format!("open-ok org {}", old.to_text()));
    assert_eq!(rt.block_on(guard.keys().rotate(&svc)).unwrap().get(), 2);
    peer.ask("seal-key org 2");
    rt.block_on(guard.keys().retire(&svc, tenantguard::KeyId::FIRST))
        .unwrap();
    peer.ask(&format!("open-refused org {}", old.to_text()));

    // Shred: the other instance neither seals for the tenant nor accepts its tokens.
    let gone = t("gone");
    let gsvc = TenantContext::service(gone.clone(), &service);
    rt.block_on(guard.keys().create_tenant(&gsvc)).unwrap();
    let gt = rt
        .block_on(
            guard
                .tokens()
                .create(&gsvc, TokenSpec::read_only(u("bot"), "g")),
        )
        .unwrap();
    peer.ask(&format!("token-ok {}", gt.secret.expose()));
    peer.ask("seal-key gone 1");
    rt.block_on(guard.keys().shred(&gsvc)).unwrap();
    peer.ask("seal-refused gone");
    peer.ask(&format!("token-refused {}", gt.secret.expose()));
    peer.ask("event tenant_shred gone");

    // A dropped listener connection: the news made while it is away (its notification
    // is lost) is read when it reconnects.
    let late = rt
        .block_on(
            guard
                .tokens()
                .create(&svc, TokenSpec::read_only(u("bot"), "late")),
        )
        .unwrap();
    peer.ask(&format!("token-ok {}", late.secret.expose()));
    rt.block_on(async {
        let admin = pg.admin().await;
        let n = admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = 'tenantguard-events' AND datname = $1",
                &[&pg.db],
            )
            .await
            .unwrap();
        assert!(n >= 2, "both listeners were connected");
        guard.tokens().revoke(&svc, &late.id).await.unwrap();
    });
    peer.ask(&format!("token-refused {}", late.secret.expose()));
    let status = peer.ask("status");
    assert!(!status.ends_with("reconnects=0"), "{status}");
}

#[test]
fn every_event_crosses_processes_with_notify() {
    scenario("events_notify", true);
}

#[test]
fn every_event_crosses_processes_polling_only() {
    scenario("events_poll", false);
}

/// The database writer's attacks: neither login can forge, edit, delete or truncate news
/// (to keep a revoked token alive in another instance's cache), the application login
/// cannot even read it, and pruning never touches fresh events.
#[tokio::test]
async fn events_cannot_be_forged_or_erased() {
    let Some(pg) = fresh("events_attacks").await else {
        return;
    };
    let store = pg.store().await;
    let (guard, service) = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store(store)
        .build_with_service()
        .unwrap();
    let svc = TenantContext::service(t("acme"), &service);
    guard.keys().create_tenant(&svc).await.unwrap();
    let tok = guard
        .tokens()
        .create(&svc, TokenSpec::read_only(u("bot"), "x"))
        .await
        .unwrap();
    guard.tokens().revoke(&svc, &tok.id).await.unwrap();
    let admin = pg.admin().await;
    let count = || async {
        admin
            .query_one(
                "SELECT count(*) FROM tg_events WHERE kind = 'token_revoke' AND subject = $1",
                &[&tok.id],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    assert_eq!(count().await, 1, "the revocation wrote its news");
    for client in [pg.app_raw().await, pg.service_raw().await] {
        for sql in [
            "INSERT INTO tg_events (kind, tenant_id, subject) VALUES ('key_rotate', 'acme', '1')",
            "DELETE FROM tg_events",
            "UPDATE tg_events SET kind = 'policy'",
            "TRUNCATE tg_events",
            "ALTER TABLE tg_events DISABLE ROW LEVEL SECURITY",
            "DROP TRIGGER tg_news ON tg_tokens",
            "ALTER TABLE tg_tokens DISABLE TRIGGER tg_news",
        ] {
            let e = client.batch_execute(sql).await.unwrap_err();
            assert!(
                e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
                "{sql}: {e:?}"
            );
        }
        // Trigger functions cannot be called to forge news.
        assert!(client
            .batch_execute("SELECT tg_emit_token()")
            .await
            .is_err());
    }
    let app = pg.app_raw().await;
    assert!(app.query("SELECT * FROM tg_events", &[]).await.is_err());
    let svc_raw = pg.service_raw().await;
    assert_eq!(
        svc_raw
            .query_one("SELECT tg_prune_events()", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        0,
        "fresh news is never pruned"
    );
    assert_eq!(count().await, 1);
    // The only way to add news is to make the change: the news follows the truth.
    assert_eq!(
        admin
            .query_one("SELECT count(*) FROM tg_events WHERE kind = 'key_rotate' AND subject = '1' AND tenant_id = 'acme'", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        1,
        "only the tenant's creation wrote key news"
    );
}
