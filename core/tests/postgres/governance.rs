//! PostgresStore's governance and policy tables against a real server: every store
//! conformance suite of `tenantguard-testkit` (`run_all`), the database-side guarantees
//! (forced RLS, append-only audit, serialized appends, hash lookups that reveal one row).
//! Skipped (and passing) without a server; see postgres_support.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use crate::postgres_support;

use std::sync::Arc;

use postgres_support::*;
use tenantguard::audit::AuditDraft;
use tenantguard::store::{
    AuditStore, KeyState, KeyStore, PolicyStore, RefreshRecord, SessionRecord, SessionStore,
    StoreError, TokenRecord, TokenStore,
};
use tenantguard::{ErrorKind, Role};

#[tokio::test]
async fn conformance_suites() {
    let Some(pg) = fresh("conformance").await else {
        return;
    };
    // With a keyring attached, as a Guard built on it does (tokens, sessions, memberships).
    let s = pg.store().await;
    tenantguard_testkit::run_all(&s).await;
}

#[tokio::test]
async fn every_governance_table_has_forced_rls_and_no_public_grants() {
    let Some(pg) = fresh("govrls").await else {
        return;
    };
    let admin = pg.admin().await;
    for table in [
        "tg_tokens",
        "tg_audit",
        "tg_retention_rules",
        "tg_sessions",
        "tg_refresh_tokens",
        "tg_policies",
    ] {
        let row = admin
            .query_one("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = $1 AND relnamespace = 'public'::regnamespace", &[&table])
            .await
            .unwrap();
        assert!(
            row.get::<_, bool>(0) && row.get::<_, bool>(1),
            "{table} must ENABLE and FORCE RLS"
        );
        let public: bool = admin
            .query_one(
                "SELECT has_table_privilege('public', $1, 'SELECT')",
                &[&table],
            )
            .await
            .unwrap()
            .get(0);
        assert!(!public, "{table} readable by PUBLIC");
    }
    for role in ["tenantguard_app", "tenantguard_service"] {
        for privilege in ["UPDATE", "DELETE", "TRUNCATE"] {
            let has: bool = admin
                .query_one(
                    "SELECT has_table_privilege($1, 'tg_audit', $2)",
                    &[&role, &privilege],
                )
                .await
                .unwrap()
                .get(0);
            assert!(!has, "{role} must not have {privilege} on tg_audit");
        }
    }
}

fn draft(n: u32) -> AuditDraft {
    AuditDraft {
        time: 1_800_000_000 + n as i64,
        actor: "service".into(),
        action: "test.event".into(),
        target: format!("t-{n}"),
        reason: None,
        details: Default::default(),
        mac_key: None,
        personal_salt: None,
    }
}

#[tokio::test]
async fn audit_is_append_only_for_the_app_role() {
    let Some(pg) = fresh("auditao").await else {
        return;
    };
    let s = pg.store().await;
    let owner = user("acme", "alice", Role::Owner);
    s.create_tenant(&owner, &key(1, KeyState::Active))
        .await
        .unwrap();
    let e1 = s.append_audit(&owner, &draft(1)).await.unwrap();
    assert_eq!(e1.seq, 1);
    let raw = pg.app_raw().await;
    raw.batch_execute("BEGIN; SELECT set_config('app.tenant_id', 'acme', true), set_config('app.user_id', 'alice', true)").await.unwrap();
    let upd = raw
        .execute(
            "UPDATE tg_audit SET entry = 'x' WHERE tenant_id = 'acme'",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(
        upd.code().unwrap().code(),
        "42501",
        "UPDATE refused by privilege"
    );
    raw.batch_execute("ROLLBACK; BEGIN; SELECT set_config('app.tenant_id', 'acme', true), set_config('app.user_id', 'alice', true)").await.unwrap();
    let del = raw
        .execute("DELETE FROM tg_audit WHERE tenant_id = 'acme'", &[])
        .await
        .unwrap_err();
    assert_eq!(
        del.code().unwrap().code(),
        "42501",
        "DELETE refused by privilege"
    );
    raw.batch_execute("ROLLBACK").await.unwrap();
    let entries = s.audit_entries(&owner, 0, 10).await.unwrap();
    assert_eq!(entries, vec![e1]);
    // A user who is not a member (whatever role the application claims) can neither
    // append to nor read the tenant's log.
    let stranger = user("acme", "mallory", Role::Owner);
    assert_eq!(
        s.append_audit(&stranger, &draft(2))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert!(s.audit_entries(&stranger, 0, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn concurrent_appends_never_fork_the_chain() {
    let Some(pg) = fresh("auditrace").await else {
        return;
    };
    let s = Arc::new(pg.store().await);
    let c = svc("acme");
    s.create_tenant(&c, &key(1, KeyState::Active))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..8u32 {
        let s = s.clone();
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10u32 {
                s.append_audit(&c, &draft(w * 100 + i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let entries = s.audit_entries(&c, 0, 1000).await.unwrap();
    assert_eq!(entries.len(), 80);
    let mut prev = tenantguard::audit::GENESIS.to_owned();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
        assert_eq!(e.prev, prev, "entry {} chains to its predecessor", e.seq);
        prev = e.hash.clone();
    }
}

fn token(id: &str, tenant: &str, fill: u8) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        tenant: t(tenant),
        agent: "bot-1".into(),
        name: "n".into(),
        hash: [fill; 32],
        scopes: vec![],
        created_at: 1,
        expires_at: None,
        revoked_at: None,
    }
}

#[tokio::test]
async fn hash_lookups_see_one_row_and_tenants_stay_apart() {
    let Some(pg) = fresh("hashlookup").await else {
        return;
    };
    let s = pg.store().await;
    let (a, b) = (svc("acme"), svc("beta"));
    s.create_tenant(&a, &key(1, KeyState::Active))
        .await
        .unwrap();
    s.create_tenant(&b, &key(1, KeyState::Active))
        .await
        .unwrap();
    s.insert_token(&a, &token("tok-a", "acme", 1))
        .await
        .unwrap();
    s.insert_token(&b, &token("tok-b", "beta", 2))
        .await
        .unwrap();
    assert!(
        matches!(
            s.insert_token(&a, &token("tok-c", "acme", 2)).await,
            Err(StoreError::Conflict(_))
        ),
        "hash is unique across tenants"
    );
    assert_eq!(
        s.insert_token(&a, &token("tok-d", "beta", 4))
            .await
            .unwrap_err(),
        StoreError::CrossTenant
    );
    let sr = tg_cap::cap();
    assert_eq!(
        s.token_by_hash(&sr, &[1; 32]).await.unwrap().unwrap().id,
        "tok-a"
    );
    assert_eq!(
        s.token_by_hash(&sr, &[2; 32])
            .await
            .unwrap()
            .unwrap()
            .tenant,
        t("beta")
    );
    assert_eq!(s.token_by_hash(&sr, &[3; 32]).await.unwrap(), None);
    // Another tenant's token is invisible: listed nowhere, revoking it finds nothing.
    assert_eq!(s.list_tokens(&a, None, None, 10).await.unwrap().len(), 1);
    assert_eq!(
        s.revoke_token(&a, "tok-b", 5).await.unwrap_err(),
        StoreError::RecordNotFound
    );
    assert_eq!(s.revoke_tokens(&a, None, 5).await.unwrap(), 1);
    assert_eq!(
        s.token_by_hash(&sr, &[2; 32])
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    // On a raw service connection, naming a hash shows exactly that row, in any tenant.
    let raw = pg.service_raw().await;
    raw.batch_execute("BEGIN").await.unwrap();
    raw.execute(
        "SELECT set_config('app.token_hash', $1, true)",
        &[&hex::encode([2u8; 32])],
    )
    .await
    .unwrap();
    let ids: Vec<String> = raw
        .query("SELECT id FROM tg_tokens", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, ["tok-b"]);
    let n = raw
        .execute("UPDATE tg_tokens SET revoked_at = 1", &[])
        .await
        .unwrap();
    assert_eq!(n, 0, "the hash lookup is read-only");
    raw.batch_execute("ROLLBACK").await.unwrap();
    // The application role cannot use the hash setting.
    let app = pg.app_raw().await;
    app.batch_execute("BEGIN").await.unwrap();
    app.execute(
        "SELECT set_config('app.token_hash', $1, true)",
        &[&hex::encode([2u8; 32])],
    )
    .await
    .unwrap();
    assert!(app
        .query("SELECT id FROM tg_tokens", &[])
        .await
        .unwrap()
        .is_empty());
    app.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn sessions_rotate_once_and_stay_in_their_tenant() {
    let Some(pg) = fresh("sessions").await else {
        return;
    };
    let s = Arc::new(pg.store().await);
    let (a, b) = (svc("acme"), svc("beta"));
    s.create_tenant(&a, &key(1, KeyState::Active))
        .await
        .unwrap();
    s.create_tenant(&b, &key(1, KeyState::Active))
        .await
        .unwrap();
    let ses = SessionRecord {
        id: "ses-1".into(),
        tenant: t("acme"),
        user: "alice".into(),
        role: Role::Admin,
        created_at: 10,
        expires_at: 1000,
        refreshed_at: 10,
        revoked_at: None,
        label: "ua".into(),
    };
    let r = |fill: u8| RefreshRecord {
        hash: [fill; 32],
        session_id: "ses-1".into(),
        tenant: t("acme"),
        expires_at: 500,
        used: false,
    };
    s.insert_session(&a, &ses, &r(1)).await.unwrap();
    assert_eq!(s.get_session(&a, "ses-1").await.unwrap(), Some(ses.clone()));
    assert_eq!(s.get_session(&b, "ses-1").await.unwrap(), None);
    assert_eq!(
        s.rotate_refresh(&b, &[1; 32], &r(9), 20).await.unwrap_err(),
        StoreError::RecordNotFound
    );
    // Many concurrent exchanges of the same token: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..6u8 {
        let (s, a) = (s.clone(), a.clone());
        tasks.push(tokio::spawn(async move {
            s.rotate_refresh(&a, &[1; 32], &r(10 + i), 20)
                .await
                .unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += t.await.unwrap() as u32;
    }
    assert_eq!(wins, 1);
    let sr = tg_cap::cap();
    assert!(
        s.refresh_by_hash(&sr, &[1; 32])
            .await
            .unwrap()
            .unwrap()
            .used
    );
    assert_eq!(
        s.revoke_session(&b, "ses-1", 30).await.unwrap_err(),
        StoreError::RecordNotFound
    );
    assert!(s.revoke_session(&a, "ses-1", 30).await.unwrap());
    assert_eq!(s.revoke_sessions(&a, None, 31).await.unwrap(), 0);
}

#[tokio::test]
async fn policy_documents_need_a_visible_tenant_and_an_admin() {
    let Some(pg) = fresh("policies").await else {
        return;
    };
    let s = pg.store().await;
    let owner = user("acme", "alice", Role::Owner);
    assert_eq!(
        s.get_policy(&owner, "egress").await.unwrap_err(),
        StoreError::TenantNotFound
    );
    s.create_tenant(&owner, &key(1, KeyState::Active))
        .await
        .unwrap();
    assert_eq!(s.get_policy(&owner, "egress").await.unwrap(), None);
    assert_eq!(s.put_policy(&owner, "egress", "{}", 5).await.unwrap(), 1);
    assert_eq!(
        s.put_policy(&owner, "egress", "{\"a\":1}", 6)
            .await
            .unwrap(),
        2
    );
    let doc = s.get_policy(&owner, "egress").await.unwrap().unwrap();
    assert_eq!(
        (doc.body.as_str(), doc.version, doc.updated_at),
        ("{\"a\":1}", 2, 6)
    );
    s.set_member(&owner, &u("victor"), Role::Viewer, 7)
        .await
        .unwrap();
    let viewer = user("acme", "victor", Role::Admin); // the claim is not trusted
    assert_eq!(
        s.get_policy(&viewer, "egress")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    assert_eq!(
        s.put_policy(&viewer, "egress", "{}", 8)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    let stranger = user("acme", "mallory", Role::Owner);
    assert_eq!(
        s.get_policy(&stranger, "egress").await.unwrap_err(),
        StoreError::TenantNotFound
    );
    assert_eq!(
        s.get_policy(&svc("acme"), "egress")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
}

#[tokio::test]
async fn raw_app_queries_without_filters_stay_in_the_scoped_tenant() {
    let Some(pg) = fresh("govattack").await else {
        return;
    };
    let s = pg.store().await;
    for (tenant, who) in [("acme", "alice"), ("beta", "bob")] {
        let owner = user(tenant, who, Role::Owner);
        s.create_tenant(&owner, &key(1, KeyState::Active))
            .await
            .unwrap();
        s.append_audit(&owner, &draft(1)).await.unwrap();
        s.put_policy(&owner, "egress", "{}", 1).await.unwrap();
    }
    s.insert_token(&svc("beta"), &token("tok-b", "beta", 2))
        .await
        .unwrap();
    let app = pg.app_raw().await;
    app.batch_execute("BEGIN; SELECT set_config('app.tenant_id', 'acme', true), set_config('app.user_id', 'alice', true)").await.unwrap();
    // A query that forgot its tenant filter sees the scoped tenant's rows only.
    for table in [
        "tg_tokens",
        "tg_audit",
        "tg_policies",
        "tg_sessions",
        "tg_retention_rules",
    ] {
        let other: i64 = app
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE tenant_id <> 'acme'"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(other, 0, "{table}");
    }
    // Authorization rows are written by the service role only (schema 4): the
    // application role holds no UPDATE on tokens and no access to refresh tokens.
    app.batch_execute("SAVEPOINT a").await.unwrap();
    for sql in [
        "UPDATE tg_tokens SET revoked_at = 1",
        "SELECT count(*) FROM tg_refresh_tokens",
    ] {
        let e = app.execute(sql, &[]).await.unwrap_err();
        assert_eq!(e.code().unwrap().code(), "42501", "{sql}");
        app.batch_execute("ROLLBACK TO a").await.unwrap();
    }
    assert_eq!(
        app.execute(
            "UPDATE tg_policies SET body = 'x' WHERE tenant_id = 'beta'",
            &[]
        )
        .await
        .unwrap(),
        0
    );
    // Writing a row into another tenant is refused by the policy.
    let e = app
        .execute(
            "INSERT INTO tg_audit (tenant_id, seq, hash, entry) VALUES ('beta', 2, 'h', 'e')",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(e.code().unwrap().code(), "42501");
    app.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(s.audit_entries(&svc("beta"), 0, 10).await.unwrap().len(), 1);
    assert_eq!(
        s.get_policy(&svc("beta"), "egress")
            .await
            .unwrap()
            .unwrap()
            .body,
        "{}"
    );
}
