//! The real binary against PostgreSQL (`--features postgres`): migrate, check, the key jobs
//! and a re-encryption of records a library process wrote. Reads TENANTGUARD_PG_URL,
//! TENANTGUARD_PG_SERVICE_URL and TENANTGUARD_PG_ADMIN_URL (`eval "$(scripts/pg.sh start)"`);
//! skipped without them unless TENANTGUARD_PG_REQUIRED=1.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::path::Path;
use std::time::Duration;

use crate::common::{json_of, BIN};
use assert_cmd::Command;
use serde_json::Value;
use tenantguard::{Guard, LocalKeyProvider, PostgresStore, TenantContext, TenantId};

fn settings() -> Option<(String, String, String)> {
    let v = |k: &str| std::env::var(k).ok();
    match (
        v("TENANTGUARD_PG_URL"),
        v("TENANTGUARD_PG_SERVICE_URL"),
        v("TENANTGUARD_PG_ADMIN_URL"),
    ) {
        (Some(a), Some(s), Some(d)) => Some((a, s, d)),
        _ => {
            assert_ne!(
                v("TENANTGUARD_PG_REQUIRED").as_deref(),
                Some("1"),
                "TENANTGUARD_PG_REQUIRED=1 but TENANTGUARD_PG_* are not set: run scripts/pg.sh start"
            );
            eprintln!("SKIPPED: TENANTGUARD_PG_URL not set");
            None
        }
    }
}

fn with_db(url: &str, db: &str) -> String {
    format!("{}/{db}", url.rsplit_once('/').unwrap().0)
}

fn json(dir: &Path, args: &[&str], code: i32) -> Value {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("TENANTGUARD_CONFIG")
        .timeout(Duration::from_secs(60));
    json_of(cmd, args, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_on_postgresql() {
    let Some((app, service, admin)) = settings() else {
        return;
    };
    let db = format!("tg_cli_{}", std::process::id());
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (app_db, service_db, admin_db) = (
        with_db(&app, &db),
        with_db(&service, &db),
        with_db(&admin, &db),
    );
    std::fs::write(
        dir.join("tenantguard.toml"),
        format!(
            "store = \"postgres\"\nkey_file = \"data/keys.json\"\npostgres_url = \"{app_db}\"\n\
             postgres_service_url = \"{service_db}\"\npostgres_admin_url = \"{admin_db}\"\n"
        ),
    )
    .unwrap();
    assert!(
        json(dir, &["pg", "migrate"], 0)["applied"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(json(dir, &["pg", "migrate"], 0)["applied"], 0);
    assert_eq!(json(dir, &["pg", "check"], 0)["ok"], true);
    json(dir, &["init"], 0);
    json(dir, &["tenant", "create", "acme"], 0);

    // A service process (this one) writes records through the library on the same files.
    let store = PostgresStore::connect(&app_db, Some(&service_db))
        .await
        .unwrap();
    let (g, s) = Guard::builder()
        .key_provider(LocalKeyProvider::open(dir.join("data/keys.json")).unwrap())
        .store(store)
        .build_with_service()
        .unwrap();
    let ctx = TenantContext::service(TenantId::new("acme").unwrap(), &s);
    for i in 0..300 {
        g.records()
            .put(&ctx, &format!("r{i:04}"), "note", None, b"pg-payload")
            .await
            .unwrap();
    }
    json(dir, &["key", "rotate", "acme"], 0);
    let r = json(dir, &["reencrypt", "--all"], 0);
    assert_eq!(r["moved"], 300);
    assert_eq!(json(dir, &["reencrypt", "--all"], 0)["moved"], 0);
    json(dir, &["key", "retire", "acme", "1"], 0);
    json(dir, &["kek", "rotate"], 0);
    assert_eq!(json(dir, &["kek", "rewrap"], 0)["rewrapped"], 1);
    json(
        dir,
        &["policy", "set", "acme", "--retention", "note=30d"],
        0,
    );
    assert_eq!(json(dir, &["sweep", "--all", "--dry-run"], 0)["deleted"], 0);
    json(dir, &["audit", "verify", "acme"], 0);
    assert_eq!(json(dir, &["doctor"], 0)["ok"], true);
    for i in [0, 150, 299] {
        let (_, v) = g
            .records()
            .open_record(&ctx, &format!("r{i:04}"))
            .await
            .unwrap();
        assert_eq!(v.expose(), b"pg-payload");
    }
    // The superuser as the application login: refused by the check (6).
    let out = Command::new(BIN)
        .current_dir(dir)
        .env("TENANTGUARD_POSTGRES_URL", &admin_db)
        .args(["--json", "pg", "check"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    drop(g);
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await
        .unwrap();
}
