//! Audit transparency on PostgreSQL against a real server: whoever writes the database with
//! raw SQL (here the superuser, who can also disable the append-only trigger) cannot forge
//! an entry into a signed checkpoint, nor cut the log below a published one. Skipped (and
//! passing) without a server; see postgres_support.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::tg_cap;

use crate::postgres_support;

use std::sync::Arc;

use postgres_support::*;
use tenantguard::audit::{
    AuditAction, AuditEntry, AuditError, AuditEvent, FileCheckpointSink, TransparencyConfig,
    VerifyProblem,
};
use tenantguard::{Error, Guard, Role};

fn problem(e: Error) -> VerifyProblem {
    match e {
        Error::Audit(AuditError::Broken { problem, .. }) => problem,
        other => panic!("expected a broken log, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_sql_cannot_forge_or_cut_the_checkpointed_log() {
    let Some(pg) = fresh("audittransp").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sink_path = dir.path().join("cp.log");
    let guard = |store: Arc<tenantguard::PostgresStore>| {
        Guard::builder()
            .key_provider_arc(shared_provider())
            .store_arc(store)
            .audit_transparency(TransparencyConfig {
                sinks: vec![Arc::new(FileCheckpointSink::open(&sink_path).unwrap())],
                ..Default::default()
            })
            .build_with_service()
            .map(tg_cap::keep)
            .unwrap()
    };
    let g = guard(pg.store_arc().await);
    let admin = user("acme", "ada", Role::Admin);
    g.keys().create_tenant(&svc("acme")).await.unwrap();
    for i in 0..4 {
        g.audit()
            .record(
                &svc("acme"),
                AuditEvent::new(AuditAction::EgressDecision, format!("p{i}")),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        g.audit().checkpoint(&admin).await.unwrap().checkpoint.size,
        5
    );

    let db = pg.admin().await;
    db.batch_execute("ALTER TABLE tg_audit DISABLE TRIGGER USER")
        .await
        .unwrap();
    let last: String = db
        .query_one(
            "SELECT entry FROM tg_audit WHERE tenant_id = 'acme' AND seq = 5",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let mut forged: AuditEntry = serde_json::from_str(&last).unwrap();
    forged.seq = 6;
    forged.prev = forged.hash.clone();
    forged.actor = "user:mallory".into();
    forged.action = "tenant.shred".into();
    forged.hash = forged.compute_hash();
    db.execute(
        "INSERT INTO tg_audit (tenant_id, seq, hash, entry) VALUES ('acme', 6, $1, $2)",
        &[&forged.hash, &serde_json::to_string(&forged).unwrap()],
    )
    .await
    .unwrap();
    assert_eq!(
        problem(g.audit().checkpoint(&admin).await.unwrap_err()),
        VerifyProblem::MacMismatch
    );

    db.execute(
        "DELETE FROM tg_audit WHERE tenant_id = 'acme' AND seq >= 4",
        &[],
    )
    .await
    .unwrap();
    let g2 = guard(pg.store_arc().await);
    // Contexts are bound to the capability that vouched for them: g2's.
    let admin = user("acme", "ada", Role::Admin);
    assert!(matches!(
        problem(g2.audit().checkpoint(&admin).await.unwrap_err()),
        VerifyProblem::Truncated {
            expected: 5,
            found: 3
        }
    ));
}
