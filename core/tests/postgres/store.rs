//! PostgresStore against a real server: the KeyStore/RecordStore semantics every store
//! shares, migrations, connection safety checks, scoping under pooling, memberships.
//! Skipped (and passing) without a server; see postgres_support.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use crate::postgres_support;

use postgres_support::*;
use tenantguard::store::{KeyState, KeyStore, RecordStore, SealedRecord, StoreError};
use tenantguard::tenant::{Directory, DirectoryResolver, TenantResolver};
use tenantguard::{
    Credential, ErrorKind, Guard, KeyId, LocalKeyProvider, PgOptions, PostgresStore, Role,
    TenantContext,
};

fn rec(id: &str, key: u32, sealed: &[u8]) -> SealedRecord {
    SealedRecord {
        id: id.into(),
        class: "password".into(),
        subject: Some("subject-1".into()),
        key_id: KeyId::new(key).unwrap(),
        sealed: sealed.to_vec(),
        created_at: 10,
        updated_at: 20,
    }
}

#[tokio::test]
async fn key_store_semantics() {
    let Some(pg) = fresh("keys").await else {
        return;
    };
    let s = pg.store().await;
    let a = svc("acme");
    assert_eq!(
        s.tenant_keys(&a).await.unwrap_err(),
        StoreError::TenantNotFound
    );
    s.create_tenant(&a, &key(1, KeyState::Active))
        .await
        .unwrap();
    assert!(matches!(
        s.create_tenant(&a, &key(1, KeyState::Active)).await,
        Err(StoreError::Conflict(_))
    ));
    let keys = s.tenant_keys(&a).await.unwrap();
    assert_eq!(keys, vec![key(1, KeyState::Active)]);
    // Rotate: old key demoted, new active; an existing id conflicts.
    s.rotate_key(&a, &key(2, KeyState::Active)).await.unwrap();
    assert!(matches!(
        s.rotate_key(&a, &key(2, KeyState::Active)).await,
        Err(StoreError::Conflict(_))
    ));
    let keys = s.tenant_keys(&a).await.unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| (k.key_id.get(), k.state))
            .collect::<Vec<_>>(),
        vec![(1, KeyState::DecryptOnly), (2, KeyState::Active)]
    );
    // Rewrap: compare-and-swap on the KEK id.
    assert!(s
        .rewrap_key(&a, KeyId::new(1).unwrap(), "kek-1", "kek-2", b"new-wrap")
        .await
        .unwrap());
    assert!(!s
        .rewrap_key(&a, KeyId::new(1).unwrap(), "kek-1", "kek-3", b"other")
        .await
        .unwrap());
    let k1 = &s.tenant_keys(&a).await.unwrap()[0];
    assert_eq!(
        (k1.kek_id.as_str(), k1.wrapped.as_slice()),
        ("kek-2", &b"new-wrap"[..])
    );
    // Destroy: the active key alone cannot be; unknown keys conflict; decrypt-only ones are erased.
    assert!(matches!(
        s.destroy_key(&a, KeyId::new(2).unwrap()).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.destroy_key(&a, KeyId::new(9).unwrap()).await,
        Err(StoreError::Conflict(_))
    ));
    s.destroy_key(&a, KeyId::new(1).unwrap()).await.unwrap();
    let k1 = &s.tenant_keys(&a).await.unwrap()[0];
    assert_eq!(
        (k1.state, k1.kek_id.as_str(), k1.wrapped.len()),
        (KeyState::Destroyed, "", 0)
    );
    assert!(
        !s.rewrap_key(&a, KeyId::new(1).unwrap(), "", "kek-2", b"x")
            .await
            .unwrap(),
        "destroyed keys are never rewrapped"
    );
    // Shred: every key destroyed, idempotent, no new keys, id never reused.
    s.destroy_all_keys(&a).await.unwrap();
    s.destroy_all_keys(&a).await.unwrap();
    assert!(s
        .tenant_keys(&a)
        .await
        .unwrap()
        .iter()
        .all(|k| k.state == KeyState::Destroyed && k.wrapped.is_empty()));
    assert!(matches!(
        s.rotate_key(&a, &key(3, KeyState::Active)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.create_tenant(&a, &key(1, KeyState::Active)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.destroy_all_keys(&svc("nobody")).await.unwrap_err(),
        StoreError::TenantNotFound
    );
}

#[tokio::test]
async fn list_tenants_pages_in_order() {
    let Some(pg) = fresh("list").await else {
        return;
    };
    let s = pg.store().await;
    for name in ["c", "a", "b", "d"] {
        s.create_tenant(&svc(name), &key(1, KeyState::Active))
            .await
            .unwrap();
    }
    let sr = tg_cap::cap();
    let all: Vec<String> = s
        .list_tenants(&sr, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(all, ["a", "b", "c", "d"]);
    let page2: Vec<String> = s
        .list_tenants(&sr, Some(&t("b")), 1)
        .await
        .unwrap()
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(page2, ["c"]);
    assert!(matches!(
        s.list_tenants(&sr, None, 0).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert!(matches!(
        s.list_tenants(&sr, None, 10_001).await,
        Err(StoreError::InvalidInput(_))
    ));
}

#[tokio::test]
async fn record_store_semantics() {
    let Some(pg) = fresh("records").await else {
        return;
    };
    let s = pg.store().await;
    let a = svc("acme");
    assert_eq!(
        s.put_record(&a, &rec("r1", 1, b"v1")).await.unwrap_err(),
        StoreError::TenantNotFound
    );
    s.create_tenant(&a, &key(1, KeyState::Active))
        .await
        .unwrap();
    assert_eq!(s.get_record(&a, "r1").await.unwrap(), None);
    s.put_record(&a, &rec("r1", 1, b"v1")).await.unwrap();
    assert_eq!(
        s.get_record(&a, "r1").await.unwrap(),
        Some(rec("r1", 1, b"v1"))
    );
    // Replace keeps created_at, takes the rest.
    let mut r2 = rec("r1", 1, b"v2");
    r2.created_at = 99;
    r2.updated_at = 30;
    r2.subject = None;
    s.put_record(&a, &r2).await.unwrap();
    let got = s.get_record(&a, "r1").await.unwrap().unwrap();
    assert_eq!(
        (
            got.created_at,
            got.updated_at,
            got.sealed.as_slice(),
            got.subject
        ),
        (10, 30, &b"v2"[..], None)
    );
    // Paging by key, counting.
    for i in 0..5 {
        s.put_record(&a, &rec(&format!("k2-{i}"), 2, b"x"))
            .await
            .unwrap();
    }
    assert_eq!(s.count_by_key(&a, KeyId::new(2).unwrap()).await.unwrap(), 5);
    assert_eq!(s.count_by_key(&a, KeyId::new(1).unwrap()).await.unwrap(), 1);
    let p1 = s
        .records_by_key(&a, KeyId::new(2).unwrap(), None, 2)
        .await
        .unwrap();
    assert_eq!(
        p1.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["k2-0", "k2-1"]
    );
    let p2 = s
        .records_by_key(&a, KeyId::new(2).unwrap(), Some("k2-1"), 10)
        .await
        .unwrap();
    assert_eq!(
        p2.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["k2-2", "k2-3", "k2-4"]
    );
    assert!(matches!(
        s.records_by_key(&a, KeyId::new(2).unwrap(), None, 0).await,
        Err(StoreError::InvalidInput(_))
    ));
    // Compare-and-swap.
    assert!(!s
        .replace_sealed(&a, "r1", b"stale", KeyId::new(2).unwrap(), b"v3")
        .await
        .unwrap());
    assert!(s
        .replace_sealed(&a, "r1", b"v2", KeyId::new(2).unwrap(), b"v3")
        .await
        .unwrap());
    let got = s.get_record(&a, "r1").await.unwrap().unwrap();
    assert_eq!((got.key_id.get(), got.sealed.as_slice()), (2, &b"v3"[..]));
    assert!(!s
        .replace_sealed(&a, "absent", b"v2", KeyId::new(2).unwrap(), b"v3")
        .await
        .unwrap());
    // Delete.
    assert!(s.delete_record(&a, "r1").await.unwrap());
    assert!(!s.delete_record(&a, "r1").await.unwrap());
    assert_eq!(s.get_record(&a, "r1").await.unwrap(), None);
    // Bounds are checked before the database.
    for bad in ["", &"x".repeat(256), "a\nb"] {
        assert!(matches!(
            s.get_record(&a, bad).await,
            Err(StoreError::InvalidInput(_))
        ));
        assert!(matches!(
            s.put_record(&a, &rec(bad, 1, b"v")).await,
            Err(StoreError::InvalidInput(_))
        ));
    }
    let mut big_class = rec("c", 1, b"v");
    big_class.class = "c".repeat(129);
    assert!(matches!(
        s.put_record(&a, &big_class).await,
        Err(StoreError::InvalidInput(_))
    ));
}

#[tokio::test]
async fn guard_end_to_end_with_users_and_service() {
    let Some(pg) = fresh("guard").await else {
        return;
    };
    let store = pg.store_arc().await;
    let guard = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store_arc(store.clone())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    // A user creates an organization and becomes its owner (in the database).
    let olga = user("acme", "olga", Role::Owner);
    guard.keys().create_tenant(&olga).await.unwrap();
    assert_eq!(
        store.role_of(&u("olga"), &t("acme")).await.unwrap(),
        Some(Role::Owner)
    );
    store
        .set_member(&olga, &u("mia"), Role::Member, 1)
        .await
        .unwrap();
    store
        .set_member(&olga, &u("vic"), Role::Viewer, 1)
        .await
        .unwrap();
    // Roles come from the database through the resolver.
    let resolver = DirectoryResolver::new(store.clone(), &tg_cap::cap());
    let mia = TenantContext::resolved(resolver.resolve(&u("mia"), &t("acme")).await.unwrap());
    let vic = TenantContext::resolved(resolver.resolve(&u("vic"), &t("acme")).await.unwrap());
    assert_eq!(
        resolver
            .resolve(&u("eve"), &t("acme"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    guard
        .records()
        .put_credential(&mia, "cred-1", &Credential::password("hunter2"))
        .await
        .unwrap();
    // Write-only: no user can read it back, the service role can.
    for ctx in [&mia, &vic, &olga] {
        assert_eq!(
            guard
                .records()
                .open_credential(ctx, "cred-1")
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::PermissionDenied
        );
    }
    let cred = guard
        .records()
        .open_credential(&svc("acme"), "cred-1")
        .await
        .unwrap();
    assert_eq!(cred.secret().expose(), b"hunter2");
    assert_eq!(
        guard
            .records()
            .put_credential(&vic, "cred-2", &Credential::password("x"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    assert_eq!(guard.keys().versions(&vic).await.unwrap().len(), 1);
    // Additive access: mia's personal tenant plus acme.
    guard
        .keys()
        .create_tenant(&user("mia-home", "mia", Role::Owner))
        .await
        .unwrap();
    let scopes = resolver.visible_scopes(&u("mia")).await.unwrap();
    assert_eq!(
        scopes
            .iter()
            .map(|c| c.tenant().to_string())
            .collect::<Vec<_>>(),
        ["acme", "mia-home"]
    );
    assert_eq!(store.members(&mia).await.unwrap().len(), 3);
    assert_eq!(
        store
            .members(&user("mia-home", "olga", Role::Owner))
            .await
            .unwrap_err(),
        StoreError::TenantNotFound
    );
    // Rotation and shredding need the owner role in the database too.
    assert_eq!(
        guard
            .keys()
            .shred(&user("acme", "mia", Role::Owner))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    guard.keys().shred(&olga).await.unwrap();
    assert_eq!(
        guard
            .records()
            .open_credential(&svc("acme"), "cred-1")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::KeyDestroyed
    );
}

#[tokio::test]
async fn membership_rules_hold_in_the_database() {
    let Some(pg) = fresh("members").await else {
        return;
    };
    let s = pg.store().await;
    let owner = user("acme", "olga", Role::Owner);
    s.create_tenant(&owner, &key(1, KeyState::Active))
        .await
        .unwrap();
    s.set_member(&owner, &u("adam"), Role::Admin, 1)
        .await
        .unwrap();
    s.set_member(&owner, &u("mia"), Role::Member, 1)
        .await
        .unwrap();
    let admin = user("acme", "adam", Role::Admin);
    s.set_member(&admin, &u("vic"), Role::Viewer, 1)
        .await
        .unwrap();
    assert_eq!(
        s.set_member(&admin, &u("vic"), Role::Owner, 1)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    assert_eq!(
        s.remove_member(&admin, &u("olga"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    // A member claiming admin: the database's role wins.
    let fake_admin = user("acme", "mia", Role::Admin);
    assert_eq!(
        s.set_member(&fake_admin, &u("eve"), Role::Viewer, 1)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    // A stranger claiming owner.
    let stranger = user("acme", "eve", Role::Owner);
    assert_eq!(
        s.set_member(&stranger, &u("eve"), Role::Owner, 1)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    assert_eq!(
        s.remove_member(&owner, &u("olga"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied,
        "last owner stays"
    );
    assert!(s.remove_member(&admin, &u("vic")).await.unwrap());
    assert!(!s.remove_member(&admin, &u("vic")).await.unwrap());
    assert_eq!(s.role_of(&u("vic"), &t("acme")).await.unwrap(), None);
    assert_eq!(
        s.set_member(&svc("ghost"), &u("x"), Role::Viewer, 1)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn connect_refuses_unsafe_roles() {
    let Some(pg) = fresh("unsafe").await else {
        return;
    };
    // The superuser as application role.
    let e = PostgresStore::connect_with(pg.admin.clone(), None, PgOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::InvalidInput(ref m) if m.contains("superuser")),
        "{e}"
    );
    // The app login as service role and vice versa.
    assert!(
        PostgresStore::connect_with(pg.service.clone(), None, PgOptions::default())
            .await
            .is_err()
    );
    assert!(PostgresStore::connect_with(
        pg.app.clone(),
        Some(pg.app.clone()),
        PgOptions::default()
    )
    .await
    .is_err());
    // A table without FORCE ROW LEVEL SECURITY.
    let admin = pg.admin().await;
    admin
        .batch_execute("ALTER TABLE tg_records NO FORCE ROW LEVEL SECURITY")
        .await
        .unwrap();
    let e = PostgresStore::connect_with(pg.app.clone(), None, PgOptions::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("FORCE ROW LEVEL SECURITY"), "{e}");
    admin
        .batch_execute("ALTER TABLE tg_records FORCE ROW LEVEL SECURITY")
        .await
        .unwrap();
    PostgresStore::connect_with(pg.app.clone(), None, PgOptions::default())
        .await
        .unwrap();
    // Pool bounds; bad URLs never echo the string.
    assert!(PostgresStore::connect_with(
        pg.app.clone(),
        None,
        PgOptions {
            pool_size: 0,
            ..PgOptions::default()
        }
    )
    .await
    .is_err());
    let e = PostgresStore::connect("not a url password=hunter2 ===", None)
        .await
        .unwrap_err();
    assert!(!e.to_string().contains("hunter2"));
    // Without a service connection the service role is refused, not widened.
    let s = PostgresStore::connect_with(pg.app.clone(), None, PgOptions::default())
        .await
        .unwrap();
    assert_eq!(
        s.tenant_keys(&svc("acme")).await.unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    // Every table (and the migrations table) has RLS enabled and forced.
    let n: i64 = admin
        .query_one("SELECT count(*) FROM pg_class WHERE relname LIKE 'tg\\_%' AND relkind = 'r' AND relrowsecurity AND relforcerowsecurity", &[])
        .await
        .unwrap()
        .get(0);
    let all: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'tg\\_%' AND relkind = 'r'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // 4 tables of schema 1, 6 of schema 2 (governance, policies), the identity proofs of
    // schema 4, the service keyring's two of schema 6, the events of schema 7, the
    // rate-limit cells of schema 8, the migrations table.
    assert_eq!((n, all), (16, 16));
}

#[tokio::test]
async fn scope_is_transaction_local_and_fails_closed() {
    let Some(pg) = fresh("scope").await else {
        return;
    };
    let s = pg.store().await;
    s.create_tenant(&svc("acme"), &key(1, KeyState::Active))
        .await
        .unwrap();
    s.put_record(&svc("acme"), &rec("r1", 1, b"v"))
        .await
        .unwrap();
    // A pool of one connection: the scope of one call never reaches the next.
    let one = PostgresStore::connect_with(
        pg.app.clone(),
        Some(pg.service.clone()),
        PgOptions {
            pool_size: 1,
            require_rls: true,
            ..PgOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(one.get_record(&svc("acme"), "r1").await.unwrap().is_some());
    assert!(one.get_record(&svc("other"), "r1").await.unwrap().is_none());
    // Raw: after a scoped transaction ends, the same session sees nothing.
    let raw = pg.service_raw().await;
    raw.batch_execute("BEGIN; SELECT set_config('app.tenant_id', 'acme', true);")
        .await
        .unwrap();
    assert_eq!(
        raw.query("SELECT id FROM tg_records", &[])
            .await
            .unwrap()
            .len(),
        1
    );
    raw.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        raw.query_one("SELECT current_setting('app.tenant_id', true)", &[])
            .await
            .unwrap()
            .get::<_, String>(0),
        ""
    );
    assert_eq!(
        raw.query("SELECT id FROM tg_records", &[])
            .await
            .unwrap()
            .len(),
        0,
        "no scope, no rows"
    );
    assert_eq!(
        raw.query("SELECT tenant_id FROM tg_tenants", &[])
            .await
            .unwrap()
            .len(),
        0
    );
    let app = pg.app_raw().await;
    // Memberships are not readable by the application role at all (schema 4).
    assert_eq!(
        app.query("SELECT * FROM tg_memberships", &[])
            .await
            .unwrap_err()
            .code()
            .unwrap()
            .code(),
        "42501"
    );
    for table in ["tg_tenants", "tg_tenant_keys", "tg_records"] {
        assert_eq!(
            app.query(&format!("SELECT * FROM {table}"), &[])
                .await
                .unwrap()
                .len(),
            0,
            "{table}"
        );
    }
}

#[tokio::test]
async fn migration_3_upgrades_a_version_2_database() {
    let Some(pg) = fresh("upgrade3").await else {
        return;
    };
    // A database as a build that shipped migrations 1 and 2 left it.
    let db = format!("{}_v2", pg.db);
    pg.admin()
        .await
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let mut cfg = pg.admin.clone();
    cfg.dbname(&db);
    let old = connect(&cfg).await;
    old.batch_execute(include_str!("../../src/store/postgres/001_schema.sql"))
        .await
        .unwrap();
    old.batch_execute(include_str!("../../src/store/postgres/002_governance.sql"))
        .await
        .unwrap();
    old.batch_execute(
        "CREATE TABLE tg_schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
         INSERT INTO tg_schema_migrations (version) VALUES (1), (2);",
    )
    .await
    .unwrap();
    assert!(check_of(&old).await.contains("tg_memberships"));
    // Data written at version 2, in two tenants: every row survives the upgrade to
    // per-tenant keys (schema 4) unchanged.
    old.batch_execute(
        "INSERT INTO tg_tenants VALUES ('t1', NULL, 0), ('t2', NULL, 0);
         INSERT INTO tg_memberships VALUES ('t1', 'u1', 'owner', 0), ('t2', 'u2', 'viewer', 0);
         INSERT INTO tg_tenant_keys VALUES ('t1', 1, 'active', 'k', '\\x01', 0), ('t2', 1, 'active', 'k', '\\x02', 0);
         INSERT INTO tg_records VALUES ('r1', 't1', 'c', NULL, 1, '\\x0a', 0, 0), ('r2', 't2', 'c', 's', 1, '\\x0b', 0, 0);
         INSERT INTO tg_tokens VALUES ('k1', 't1', 'a', 'n', '\\x0101010101010101010101010101010101010101010101010101010101010101', '[]', 0, NULL, NULL);
         INSERT INTO tg_sessions VALUES ('s1', 't2', 'u2', 'viewer', 0, 10, 0, NULL, 'l');
         INSERT INTO tg_refresh_tokens VALUES ('\\x0202020202020202020202020202020202020202020202020202020202020202', 's1', 't2', 10, false);
         INSERT INTO tg_audit VALUES ('t1', 1, 'h', 'e');",
    )
    .await
    .unwrap();
    let before = upgrade_rows(&old).await;

    let url = format!("{}/{db}", pg.admin_url().rsplit_once('/').unwrap().0);
    assert_eq!(PostgresStore::migrate(&url).await.unwrap(), 8);
    let after = upgrade_rows(&old).await;
    // Column order changed for no table; the row text is the same.
    assert_eq!(before, after, "nothing lost or changed by the upgrade");
    assert_eq!(PostgresStore::migrate(&url).await.unwrap(), 0);
    // Same policies and privileges as a database created at version 3.
    assert!(!check_of(&old).await.contains("tg_memberships"));
    let created = pg.admin().await;
    let catalog = [
        "SELECT concat_ws('|', tablename, policyname, permissive, cmd, roles::text, qual, with_check)
         FROM pg_policies ORDER BY 1",
        "SELECT concat_ws('|', table_name, column_name, grantee, privilege_type)
         FROM information_schema.column_privileges WHERE grantee LIKE 'tenantguard%' ORDER BY 1",
        "SELECT concat_ws('|', table_name, grantee, privilege_type)
         FROM information_schema.table_privileges WHERE grantee LIKE 'tenantguard%' ORDER BY 1",
    ];
    for sql in catalog {
        let (upgraded, new) = (texts(&old, sql).await, texts(&created, sql).await);
        assert!(!new.is_empty(), "{sql}");
        assert_eq!(upgraded, new, "{sql}");
    }
    for (col, allowed) in [("sealed", true), ("tenant_id", false), ("id", false)] {
        let sql = format!(
            "SELECT has_column_privilege('tenantguard_app', 'tg_records', '{col}', 'UPDATE')::text"
        );
        assert_eq!(texts(&old, &sql).await, [allowed.to_string()], "{col}");
    }
    drop(old);
    created
        .batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .await
        .unwrap();
}

async fn check_of(c: &tokio_postgres::Client) -> String {
    c.query_one(
        "SELECT with_check FROM pg_policies WHERE tablename = 'tg_records' AND policyname = 'app_records_update'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

async fn texts(c: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    c.query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

#[tokio::test]
async fn concurrent_puts_of_a_new_id_all_succeed() {
    // put_record runs UPDATE, then INSERT ... ON CONFLICT DO NOTHING when the id is new:
    // puts racing on the same new id must each replace or insert, never fail.
    let Some(pg) = fresh("putrace").await else {
        return;
    };
    let s = std::sync::Arc::new(pg.store().await);
    let olga = user("acme", "olga", Role::Owner);
    s.create_tenant(&olga, &key(1, KeyState::Active))
        .await
        .unwrap();
    for round in 0..20 {
        let id = format!("race-{round}");
        let tasks: Vec<_> = (0..8u8)
            .map(|i| {
                let (s, olga, id) = (s.clone(), olga.clone(), id.clone());
                tokio::spawn(async move { s.put_record(&olga, &rec(&id, 1, &[i])).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let got = s.get_record(&olga, &id).await.unwrap().unwrap();
        assert!(got.sealed.len() == 1 && got.sealed[0] < 8);
    }
}

/// Columns added later for new rows only (`mac`, `mac_key_id`, `personal`) are left out.
async fn upgrade_rows(c: &tokio_postgres::Client) -> Vec<(&'static str, i64, String)> {
    let mut out = Vec::new();
    for t in [
        "tg_tenants",
        "tg_memberships",
        "tg_tenant_keys",
        "tg_records",
        "tg_tokens",
        "tg_sessions",
        "tg_refresh_tokens",
        "tg_audit",
    ] {
        let r = c
            .query_one(
                &format!("SELECT count(*), coalesce(md5(string_agg((to_jsonb(x) - 'mac' - 'mac_key_id' - 'personal')::text, '|' ORDER BY (to_jsonb(x) - 'mac' - 'mac_key_id' - 'personal')::text)), '') FROM {t} x"),
                &[],
            )
            .await
            .unwrap();
        out.push((t, r.get::<_, i64>(0), r.get::<_, String>(1)));
    }
    out
}

#[tokio::test]
async fn kek_rotation_rewraps_the_service_keyring_and_the_old_kek_can_go() {
    let Some(pg) = fresh("kekring").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("keys.json");
    let local = std::sync::Arc::new(LocalKeyProvider::open_or_create(&key_path).unwrap());
    let store = pg.store_arc().await;
    let (guard, service) = Guard::builder()
        .key_provider_arc(local.clone())
        .store_arc(store.clone())
        .build_with_service()
        .unwrap();
    let acme = TenantContext::service(t("acme"), &service);
    guard.keys().create_tenant(&acme).await.unwrap();
    guard
        .records()
        .put_credential(&acme, "c1", &Credential::api_token("sk-1"))
        .await
        .unwrap();
    // The audited write created the audit-mac key under kek-1.
    assert_eq!(local.kek_ids(), vec!["kek-1".to_owned()]);
    assert_eq!(local.rotate_kek().unwrap(), "kek-2");
    let report = guard
        .keys()
        .rewrap(&service, None, 10, |_| {})
        .await
        .unwrap();
    assert!(report.service_keys_rewrapped >= 1, "{report:?}");
    let again = guard
        .keys()
        .rewrap(&service, None, 10, |_| {})
        .await
        .unwrap();
    assert_eq!(again.service_keys_rewrapped, 0, "idempotent");
    let raw = pg.service_raw().await;
    let keks = texts(
        &raw,
        "SELECT DISTINCT kek_id FROM tg_service_keys WHERE state = 'active'",
    )
    .await;
    assert_eq!(keks, vec!["kek-2".to_owned()]);
    // A re-wrap that keeps the KEK id (a swapped blob) is still refused by the database.
    let e = raw
        .batch_execute("UPDATE tg_service_keys SET wrapped = '\\x00' WHERE state = 'active'")
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
        "{e:?}"
    );

    // The old KEK removed: a new process (fresh guard, cold caches) opens and audits.
    local.remove_kek("kek-1").unwrap();
    let reopened = std::sync::Arc::new(LocalKeyProvider::open(&key_path).unwrap());
    let (cold, cold_service) = Guard::builder()
        .key_provider_arc(reopened)
        .store_arc(pg.store_arc().await)
        .build_with_service()
        .unwrap();
    let acme = TenantContext::service(t("acme"), &cold_service);
    let c = cold.records().open_credential(&acme, "c1").await.unwrap();
    assert_eq!(c.secret().expose(), b"sk-1");
}
