//! Shared setup of the PostgreSQL tests: a fresh database per test, migrated, with
//! connections as the application role, the service role and the superuser.
//!
//! Reads TENANTGUARD_PG_URL, TENANTGUARD_PG_SERVICE_URL and TENANTGUARD_PG_ADMIN_URL
//! (written by `scripts/pg.sh start`). Without them every PostgreSQL test prints that it
//! was skipped and passes, unless TENANTGUARD_PG_REQUIRED=1 (the test script sets it),
//! which turns a missing server into a failure.
#![allow(dead_code)]

use std::str::FromStr;
use std::sync::Arc;

use tenantguard::store::{KeyState, TenantKeyRecord};
use tenantguard::tenant::Resolved;
use tenantguard::{KeyId, PgOptions, PostgresStore, Role, TenantContext, TenantId, UserId};
use tokio_postgres::{Client, Config, NoTls};

pub struct Pg {
    pub db: String,
    pub app: Config,
    pub service: Config,
    pub admin: Config,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The server's settings, or None (after printing that the test is skipped).
pub fn settings(test: &str) -> Option<(String, String, String)> {
    match (
        var("TENANTGUARD_PG_URL"),
        var("TENANTGUARD_PG_SERVICE_URL"),
        var("TENANTGUARD_PG_ADMIN_URL"),
    ) {
        (Some(a), Some(s), Some(d)) => Some((a, s, d)),
        _ => {
            if var("TENANTGUARD_PG_REQUIRED").as_deref() == Some("1") {
                panic!("TENANTGUARD_PG_REQUIRED=1 but TENANTGUARD_PG_URL / _SERVICE_URL / _ADMIN_URL are not set: run scripts/pg.sh start");
            }
            // Straight to stderr, past the test harness's capture, so plain `cargo test` shows it.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED PostgreSQL test {test}: TENANTGUARD_PG_URL not set (run `eval \"$(scripts/pg.sh start)\"` first)"
            );
            None
        }
    }
}

pub async fn connect(cfg: &Config) -> Client {
    let (client, conn) = cfg.connect(NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

fn rand_hex() -> String {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).unwrap();
    hex::encode(b)
}

/// A new, migrated database; None if PostgreSQL tests are skipped.
pub async fn fresh(test: &str) -> Option<Pg> {
    let (app, service, admin) = settings(test)?;
    let admin_cfg = Config::from_str(&admin).expect("admin url");
    let db = format!(
        "tg_{}_{}",
        test.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(20)
            .collect::<String>()
            .to_lowercase(),
        rand_hex()
    );
    let c = connect(&admin_cfg).await;
    c.batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .expect("create database");
    let with_db = |url: &str| {
        let mut cfg = Config::from_str(url).expect("url");
        cfg.dbname(&db);
        cfg
    };
    let pg = Pg {
        app: with_db(&app),
        service: with_db(&service),
        admin: with_db(&admin),
        db,
    };
    let admin_url = format!("{}/{}", admin.rsplit_once('/').unwrap().0, pg.db);
    assert_eq!(
        PostgresStore::migrate(&admin_url).await.expect("migrate"),
        10,
        "every shipped migration applies"
    );
    assert_eq!(
        PostgresStore::migrate(&admin_url)
            .await
            .expect("migrate again"),
        0,
        "migrations are idempotent"
    );
    Some(pg)
}

static RINGS: std::sync::Mutex<Vec<Arc<tenantguard::kms::ServiceKeyring>>> =
    std::sync::Mutex::new(Vec::new());

/// The key provider of every test keyring in this process (keys wrapped by one test's
/// keyring must unwrap in another's on the same database).
pub fn shared_provider() -> Arc<dyn tenantguard::KeyProvider> {
    static P: std::sync::OnceLock<Arc<dyn tenantguard::KeyProvider>> = std::sync::OnceLock::new();
    P.get_or_init(|| Arc::new(tenantguard::LocalKeyProvider::ephemeral()))
        .clone()
}

impl Pg {
    /// A store with a service keyring attached (as a Guard's builder does), so its
    /// authorization rows are MACed. The keyring reads keys through a second store on the
    /// same database and one key provider shared by the whole test process; both are
    /// kept for the life of the process.
    pub async fn store(&self) -> PostgresStore {
        let s = self.bare_store().await;
        let ring = Arc::new(tenantguard::kms::ServiceKeyring::new(
            shared_provider(),
            Arc::new(self.store_with(2).await),
        ));
        tenantguard::kms::ServiceKeyStore::attach_keyring(&s, &ring);
        RINGS.lock().unwrap().push(ring);
        s
    }
    /// A store without a keyring (its token, session and membership calls fail).
    pub async fn bare_store(&self) -> PostgresStore {
        self.store_with(PgOptions::default().pool_size).await
    }
    async fn store_with(&self, pool_size: usize) -> PostgresStore {
        PostgresStore::connect_with(
            self.app.clone(),
            Some(self.service.clone()),
            PgOptions {
                pool_size,
                ..PgOptions::default()
            },
        )
        .await
        .expect("connect store")
    }
    pub async fn store_arc(&self) -> Arc<PostgresStore> {
        Arc::new(self.store().await)
    }
    pub async fn admin(&self) -> Client {
        connect(&self.admin).await
    }
    pub async fn app_raw(&self) -> Client {
        connect(&self.app).await
    }
    pub async fn service_raw(&self) -> Client {
        connect(&self.service).await
    }
    pub fn admin_url(&self) -> String {
        let (_, _, admin) = settings("admin").unwrap();
        format!("{}/{}", admin.rsplit_once('/').unwrap().0, self.db)
    }
}

pub fn t(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}
pub fn u(s: &str) -> UserId {
    UserId::new(s).unwrap()
}
pub fn svc(tenant: &str) -> TenantContext {
    TenantContext::service(t(tenant), &crate::tg_cap::cap())
}
pub fn user(tenant: &str, user: &str, role: Role) -> TenantContext {
    TenantContext::resolved(Resolved::vouch(
        &crate::tg_cap::cap(),
        t(tenant),
        u(user),
        role,
    ))
}
pub fn key(id: u32, state: KeyState) -> TenantKeyRecord {
    TenantKeyRecord {
        key_id: KeyId::new(id).unwrap(),
        state,
        kek_id: "kek-1".into(),
        wrapped: vec![id as u8; 40],
        created_at: 1_700_000_000,
    }
}
