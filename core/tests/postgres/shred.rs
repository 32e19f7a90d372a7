//! Crypto-shredding on PostgreSQL survives a database backup: a `pg_dump` taken before the
//! shred, restored with `psql` into a new database after it, opens nothing of the tenant
//! (the local key file destroyed the tenant's secret). Skipped without a server.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use crate::postgres_support;

use std::process::Command;

use postgres_support::*;
use tenantguard::{ErrorKind, Guard, LocalKeyProvider, PgOptions, PostgresStore};

fn pg_bin(name: &str) -> std::path::PathBuf {
    let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.into_iter()
        .rev()
        .map(|d| d.join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| name.into())
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run a PostgreSQL client program");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_pg_dump_restored_after_a_shred_opens_nothing_of_the_tenant() {
    let Some(pg) = fresh("shredbackup").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let guard = |store: PostgresStore| {
        Guard::builder()
            .key_provider(LocalKeyProvider::open_or_create(&keys).unwrap())
            .store(store)
            .build_with_service()
            .map(tg_cap::keep)
            .unwrap()
    };
    let g = guard(pg.store().await);
    let (acme, globex) = (svc("acme"), svc("globex"));
    for (c, t) in [(&acme, "acme"), (&globex, "globex")] {
        g.keys().create_tenant(c).await.unwrap();
        g.records()
            .put(c, &format!("{t}-1"), "notes", None, b"v1")
            .await
            .unwrap();
        g.keys().rotate(c).await.unwrap();
        g.records()
            .put(c, &format!("{t}-2"), "notes", None, b"v2")
            .await
            .unwrap();
    }
    drop(g);

    // The backup: a plain pg_dump of the whole database.
    let dump = dir.path().join("backup.sql");
    run(Command::new(pg_bin("pg_dump"))
        .arg("--dbname")
        .arg(pg.admin_url())
        .arg("--file")
        .arg(&dump));

    // Each store instance has its own capability (see tg_cap).
    let g = guard(pg.store().await);
    let acme = svc("acme");
    let report = g.keys().shred(&acme).await.unwrap();
    assert!(report.backups_unreadable(), "{report:?}");
    drop(g);

    // The restore: a new database from the dump.
    let restored = format!("{}_restored", pg.db);
    let admin = pg.admin().await;
    admin
        .batch_execute(&format!("CREATE DATABASE {restored}"))
        .await
        .unwrap();
    let url = |u: &tokio_postgres::Config| {
        let mut c = u.clone();
        c.dbname(&restored);
        c
    };
    let admin_url = pg.admin_url();
    let restored_admin_url = format!("{}/{restored}", admin_url.rsplit_once('/').unwrap().0);
    run(Command::new(pg_bin("psql"))
        .arg("--dbname")
        .arg(&restored_admin_url)
        .args(["--quiet", "--set", "ON_ERROR_STOP=1", "--file"])
        .arg(&dump));
    let store =
        PostgresStore::connect_with(url(&pg.app), Some(url(&pg.service)), PgOptions::default())
            .await
            .unwrap();
    let g = guard(store);
    let (acme, globex) = (svc("acme"), svc("globex"));
    // The restored key rows are live again ...
    assert_eq!(g.keys().versions(&acme).await.unwrap().len(), 2);
    assert!(g
        .keys()
        .versions(&acme)
        .await
        .unwrap()
        .iter()
        .all(|k| !k.kek_id.is_empty()));
    // ... yet nothing of the shredded tenant opens; the other tenant does.
    for id in ["acme-1", "acme-2"] {
        let e = g.records().open_record(&acme, id).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::KeyDestroyed, "{id}: {e}");
    }
    assert_eq!(
        g.records().seal(&acme, "x", b"y").await.unwrap_err().kind(),
        ErrorKind::KeyDestroyed
    );
    for (id, want) in [("globex-1", b"v1"), ("globex-2", b"v2")] {
        assert_eq!(
            g.records()
                .open_record(&globex, id)
                .await
                .unwrap()
                .1
                .expose(),
            want
        );
    }
}
