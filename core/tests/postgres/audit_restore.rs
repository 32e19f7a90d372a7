//! The restore procedure (docs/OPERATIONS.md, "Restoring a database backup") on
//! PostgreSQL: a `pg_dump` backup restored with `psql` into a new database, after a token
//! revocation and checkpoints the backup does not hold; the reconcile with the lost export
//! revokes the token again, publishes a new checkpoint through the file sink's restore
//! admission, and a customer's lost-window checkpoint verifies as `Restored`. Skipped
//! (and passing) without a server; see postgres_support.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::tg_cap;

use crate::postgres_support;

use std::process::Command;
use std::sync::Arc;

use postgres_support::*;
use tenantguard::audit::export::{verify_export, ExportVerdict};
use tenantguard::audit::{
    AuditAction, AuditError, AuditEvent, CheckpointSink, FileCheckpointSink, TransparencyConfig,
    VerifyProblem,
};
use tenantguard::tokens::{Action, TokenSpec};
use tenantguard::{Error, Guard, PgOptions, PostgresStore, Role};

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
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?}: {err}");
}

async fn events(g: &Guard, n: usize) {
    for i in 0..n {
        let ev = AuditEvent::new(AuditAction::EgressDecision, format!("provider:p{i}"));
        g.audit().record(&svc("acme"), ev).await.unwrap();
    }
}

async fn export(g: &Guard) -> Vec<u8> {
    let mut out = Vec::new();
    let admin = user("acme", "ada", Role::Admin);
    g.audit().export_bundle(&admin, &mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pg_dump_restore_is_reconciled_with_the_lost_export() {
    let Some(pg) = fresh("auditrestore").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(FileCheckpointSink::open(dir.path().join("cp.log")).unwrap());
    let guard = |store: PostgresStore| {
        Guard::builder()
            .key_provider_arc(shared_provider())
            .store(store)
            .audit_transparency(TransparencyConfig {
                sinks: vec![sink.clone()],
                ..Default::default()
            })
            .build_with_service()
            .map(tg_cap::keep)
            .unwrap()
    };
    let g = guard(pg.store().await);
    // Contexts are bound to the capability that vouched for them: this guard's.
    let admin = user("acme", "ada", Role::Admin);
    g.keys().create_tenant(&svc("acme")).await.unwrap();
    events(&g, 3).await;
    let spec = TokenSpec::read_only(u("bot"), "ci");
    let tok = g.tokens().create(&svc("acme"), spec).await.unwrap();
    let secret = tok.secret.expose().to_owned();
    let backup_size = g.audit().checkpoint(&admin).await.unwrap().checkpoint.size;

    // The backup: a plain pg_dump of the whole database.
    let dump = dir.path().join("backup.sql");
    run(Command::new(pg_bin("pg_dump"))
        .arg("--dbname")
        .arg(pg.admin_url())
        .arg("--file")
        .arg(&dump));

    // After it: entries a customer keeps a checkpoint of, the token revoked, and the
    // export that is the only record of them (its checkpoint: the sink's latest).
    events(&g, 2).await;
    let customer = g.audit().checkpoint(&admin).await.unwrap();
    assert!(g.tokens().revoke(&svc("acme"), &tok.id).await.unwrap());
    assert!(g
        .tokens()
        .verify(&secret, "runs/1", Action::Read)
        .await
        .is_err());
    let lost = export(&g).await;
    let acme = t("acme");
    let lost_size = sink.latest(&acme).await.unwrap().unwrap().size;
    assert!(backup_size < customer.checkpoint.size && customer.checkpoint.size < lost_size);
    drop(g);

    // The restore: a new database from the dump; the guard now runs on it.
    let restored = format!("{}_restored", pg.db);
    let admin_db = pg.admin().await;
    let create = format!("CREATE DATABASE {restored}");
    admin_db.batch_execute(&create).await.unwrap();
    let base = pg.admin_url();
    let restored_url = format!("{}/{restored}", base.rsplit_once('/').unwrap().0);
    run(Command::new(pg_bin("psql"))
        .arg("--dbname")
        .arg(&restored_url)
        .args(["--quiet", "--set", "ON_ERROR_STOP=1", "--file"])
        .arg(&dump));
    let on_restored = |c: &tokio_postgres::Config| {
        let mut c = c.clone();
        c.dbname(&restored);
        c
    };
    let store = PostgresStore::connect_with(
        on_restored(&pg.app),
        Some(on_restored(&pg.service)),
        PgOptions::default(),
    )
    .await
    .unwrap();
    let g = guard(store);
    // Contexts are bound to the capability that vouched for them: this guard's.
    let admin = user("acme", "ada", Role::Admin);
    // The revocation is lost, and the log no longer reaches the sink's checkpoint.
    g.tokens()
        .verify(&secret, "runs/1", Action::Read)
        .await
        .unwrap();
    match g.audit().checkpoint(&admin).await.unwrap_err() {
        Error::Audit(AuditError::Broken { problem, .. }) => assert_eq!(
            problem,
            VerifyProblem::Truncated {
                expected: lost_size,
                found: backup_size
            }
        ),
        other => panic!("expected a truncated log, got {other:?}"),
    }

    // The reconcile: the token is refused again, a new checkpoint publishes.
    let r = g
        .audit()
        .reconcile_restore(&svc("acme"), Some(&lost), "pg_dump restored")
        .await
        .unwrap();
    assert!(r.recorded_now);
    assert_eq!(
        (r.restored_size, r.superseded.size),
        (backup_size, lost_size)
    );
    let re = r.reapplied.as_ref().unwrap();
    assert_eq!((re.reapplied, re.already_in_effect), (1, 0), "{re:?}");
    assert!(g
        .tokens()
        .verify(&secret, "runs/1", Action::Read)
        .await
        .is_err());
    let held = sink.latest(&acme).await.unwrap().unwrap();
    assert_eq!(
        (held.size, &held.note),
        (backup_size + 2, &r.checkpoint.note)
    );
    // Checkpoints resume on the restored database.
    events(&g, 2).await;
    let next = g.audit().checkpoint(&admin).await.unwrap();
    assert_eq!(next.checkpoint.size, backup_size + 4);
    assert_eq!(
        sink.latest(&acme).await.unwrap().unwrap().size,
        backup_size + 4
    );

    // The customer's lost-window checkpoint: the new export is `Restored`, not a fork.
    let keys = g.audit().public_keys().await.unwrap();
    let after = export(&g).await;
    match verify_export(&after, &keys, Some(customer.note.as_bytes())) {
        ExportVerdict::Restored { restore, .. } => {
            assert_eq!(restore.restore_seq, r.restore_seq);
            assert_eq!(restore.restored_size, backup_size);
            assert_eq!(restore.superseded_size, lost_size);
        }
        v => panic!("expected restored, got {v:?}"),
    }
    // A second reconcile has nothing to do.
    let e = g
        .audit()
        .reconcile_restore(&svc("acme"), Some(&lost), "again")
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        Error::Audit(AuditError::NothingToReconcile { .. })
    ));
}
