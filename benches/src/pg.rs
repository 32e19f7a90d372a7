//! PostgreSQL set-up shared by the benchmarks (`--features postgres`): the logins from
//! `scripts/pg.sh start` and a freshly created, migrated database per benchmark case.

use std::str::FromStr;

use tenantguard::{PgOptions, PostgresStore};
use tokio_postgres::{Config, NoTls};

/// The three logins `scripts/pg.sh start` exports.
pub struct PgEnv {
    /// `TENANTGUARD_PG_URL`: application login (RLS applies).
    pub app: String,
    /// `TENANTGUARD_PG_SERVICE_URL`: service login.
    pub service: String,
    /// `TENANTGUARD_PG_ADMIN_URL`: superuser (creates databases, migrates).
    pub admin: String,
}

/// The logins, or `None` when `TENANTGUARD_PG_URL` (or another of the three) is unset.
pub fn env() -> Option<PgEnv> {
    let v = |n: &str| std::env::var(n).ok().filter(|s| !s.is_empty());
    Some(PgEnv {
        app: v("TENANTGUARD_PG_URL")?,
        service: v("TENANTGUARD_PG_SERVICE_URL")?,
        admin: v("TENANTGUARD_PG_ADMIN_URL")?,
    })
}

/// `url` with its database replaced by `db`.
pub fn with_db(url: &str, db: &str) -> Config {
    let mut c = Config::from_str(url).expect("url");
    c.dbname(db);
    c
}

/// Runs `sql` as one batch on database `db` of the server behind `url`.
pub async fn admin_exec(url: &str, db: &str, sql: &str) {
    let (client, conn) = with_db(url, db)
        .connect(NoTls)
        .await
        .expect("admin connect");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client.batch_execute(sql).await.expect("admin sql");
}

/// Drops and re-creates database `db`, then runs the store's migrations in it.
pub async fn fresh_db(env: &PgEnv, db: &str) {
    admin_exec(
        &env.admin,
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    )
    .await;
    admin_exec(&env.admin, "postgres", &format!("CREATE DATABASE {db}")).await;
    let admin_url = format!("{}/{db}", env.admin.rsplit_once('/').expect("url").0);
    PostgresStore::migrate(&admin_url).await.expect("migrate");
}

/// A store on database `db` (application and service logins).
pub async fn connect(env: &PgEnv, db: &str, options: PgOptions) -> PostgresStore {
    PostgresStore::connect_with(
        with_db(&env.app, db),
        Some(with_db(&env.service, db)),
        options,
    )
    .await
    .expect("connect")
}
