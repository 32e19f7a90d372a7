//! The cross-tenant attack suite against PostgresStore: at least 30 attempts to read,
//! list, update, replace, delete, rotate, shred, reach keys, guess ids and copy sealed
//! values across tenants and rows, as each role, through the SDK and with raw SQL as the
//! application and service roles. Every one must be refused, and after each the whole
//! database (read through a superuser connection) must be unchanged.
//! Skipped (and passing) without a server; see postgres_support.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use crate::postgres_support;

use std::sync::Arc;

use postgres_support::*;
use tenantguard::store::{KeyState, KeyStore, RecordStore, SealedRecord, StoreError};
use tenantguard::{
    Credential, ErrorKind, Guard, KeyId, LocalKeyProvider, PgOptions, PostgresStore, Role,
    SealedValue,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

/// Every row of every table, as the superuser sees it.
async fn snapshot(admin: &Client) -> String {
    let mut out = String::new();
    for table in [
        "tg_tenants",
        "tg_memberships",
        "tg_tenant_keys",
        "tg_records",
        "tg_schema_migrations",
    ] {
        let row = admin
            .query_one(&format!("SELECT count(*), coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM {table} t"), &[])
            .await
            .unwrap();
        out.push_str(&format!(
            "{table}:{}:{}\n",
            row.get::<_, i64>(0),
            row.get::<_, String>(1)
        ));
    }
    out
}

/// The identity proof the test mints for (tenant, user) (see `mint_proofs`): what the
/// SDK would present for that user, so raw SQL runs with the user's real identity.
fn proof_hex(tenant: &str, user: &str) -> String {
    let mut b = [0u8; 32];
    for (d, s) in b.iter_mut().zip(format!("{tenant}|{user}").bytes()) {
        *d = s;
    }
    hex::encode(b)
}

/// Mints, through the service role, a proof for every (tenant, user) pair.
async fn mint_proofs(service: &Client, pairs: &[(&str, &str)]) {
    for (tenant, user) in pairs {
        service
            .execute(
                "SELECT tg_mint_proof($1, $2, sha256(decode($3, 'hex')), 3600)",
                &[tenant, user, &proof_hex(tenant, user)],
            )
            .await
            .unwrap();
    }
}

/// Runs `sql` as a raw client inside a transaction scoped to (tenant, user), committing
/// if it succeeds. Returns rows affected/returned, or the SQLSTATE of the refusal.
async fn raw(c: &Client, tenant: &str, user: &str, sql: &str) -> Result<usize, SqlState> {
    c.batch_execute("BEGIN").await.unwrap();
    c.execute(
        "SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true), set_config('app.proof', $3, true)",
        &[&tenant, &user, &proof_hex(tenant, user)],
    )
    .await
    .unwrap();
    let r = if sql.trim_start().to_uppercase().starts_with("SELECT") {
        c.query(sql, &[]).await.map(|r| r.len())
    } else {
        c.execute(sql, &[]).await.map(|n| n as usize)
    };
    match r {
        Ok(n) => {
            c.batch_execute("COMMIT").await.unwrap();
            Ok(n)
        }
        Err(e) => {
            c.batch_execute("ROLLBACK").await.unwrap();
            Err(e.code().cloned().unwrap_or(SqlState::INTERNAL_ERROR))
        }
    }
}

struct Suite {
    admin: Client,
    before: String,
    count: usize,
}

impl Suite {
    async fn check(&mut self, name: &str, refused: bool) {
        assert!(refused, "attack {} was not refused: {name}", self.count + 1);
        let now = snapshot(&self.admin).await;
        assert_eq!(
            now,
            self.before,
            "attack {} changed the database: {name}",
            self.count + 1
        );
        self.count += 1;
    }
}

fn denied<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(
        r,
        Err(StoreError::PermissionDenied(_))
            | Err(StoreError::TenantNotFound)
            | Err(StoreError::CrossTenant)
    )
}

/// Refused means: no row seen or touched, or an error that is a refusal (privilege,
/// policy, uniqueness, NOT NULL), never a syntax or schema mistake in the attack itself.
fn refused_sql(r: &Result<usize, SqlState>) -> bool {
    match r {
        Ok(n) => *n == 0,
        Err(c) => [
            SqlState::INSUFFICIENT_PRIVILEGE,
            SqlState::UNIQUE_VIOLATION,
            SqlState::NOT_NULL_VIOLATION,
        ]
        .contains(c),
    }
}

#[tokio::test]
async fn cross_tenant_attacks_are_refused_and_change_nothing() {
    let Some(pg) = fresh("attacks").await else {
        return;
    };
    let store: Arc<PostgresStore> = pg.store_arc().await;
    let guard = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store_arc(store.clone())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();

    // Two organizations with all four roles in acme and an owner and member in globex.
    let olga = user("acme", "olga", Role::Owner);
    guard.keys().create_tenant(&olga).await.unwrap();
    for (who, role) in [
        ("adam", Role::Admin),
        ("mia", Role::Member),
        ("vic", Role::Viewer),
    ] {
        store.set_member(&olga, &u(who), role, 1).await.unwrap();
    }
    let gina = user("globex", "gina", Role::Owner);
    guard.keys().create_tenant(&gina).await.unwrap();
    store
        .set_member(&gina, &u("gus"), Role::Member, 1)
        .await
        .unwrap();
    let (adam, mia, vic) = (
        user("acme", "adam", Role::Admin),
        user("acme", "mia", Role::Member),
        user("acme", "vic", Role::Viewer),
    );
    let gus = user("globex", "gus", Role::Member);
    guard
        .records()
        .put_credential(&mia, "acme-pw", &Credential::password("acme-secret"))
        .await
        .unwrap();
    guard
        .records()
        .put_credential(&gus, "globex-pw", &Credential::password("globex-secret"))
        .await
        .unwrap();
    guard
        .records()
        .put(
            &gus,
            "globex-doc",
            "chat_transcript",
            Some("subject-9"),
            b"globex transcript",
        )
        .await
        .unwrap();
    let globex_rec = store
        .get_record(&svc("globex"), "globex-pw")
        .await
        .unwrap()
        .unwrap();
    let acme_rec = store
        .get_record(&svc("acme"), "acme-pw")
        .await
        .unwrap()
        .unwrap();

    let admin = pg.admin().await;
    let before = snapshot(&admin).await;
    let mut s = Suite {
        admin,
        before,
        count: 0,
    };
    let acme_svc = svc("acme");
    let k1 = KeyId::new(1).unwrap();
    let k2 = KeyId::new(2).unwrap();

    // ---- Through the SDK, with acme contexts, against globex's records.
    for (name, ctx) in [
        ("owner", &olga),
        ("admin", &adam),
        ("member", &mia),
        ("viewer", &vic),
        ("service", &acme_svc),
    ] {
        let r = store.get_record(ctx, "globex-pw").await;
        s.check(
            &format!("read globex record as acme {name}"),
            matches!(r, Ok(None)),
        )
        .await;
    }
    for (name, ctx) in [("owner", &olga), ("member", &mia), ("service", &acme_svc)] {
        let mut forged = globex_rec.clone();
        forged.sealed = acme_rec.sealed.clone();
        // Ids are per tenant: the same id in acme is acme's own record; globex's stays.
        let r = store.put_record(ctx, &forged).await;
        let own = store.get_record(ctx, "globex-pw").await;
        let removed = store.delete_record(ctx, "globex-pw").await;
        s.check(
            &format!("overwrite globex record as acme {name}"),
            r.is_ok() && own == Ok(Some(forged.clone())) && removed == Ok(true),
        )
        .await;
        let r = store.delete_record(ctx, "globex-pw").await;
        s.check(
            &format!("delete globex record as acme {name}"),
            r == Ok(false),
        )
        .await;
    }
    let r = store
        .replace_sealed(
            &acme_svc,
            "globex-pw",
            &globex_rec.sealed,
            k1,
            &acme_rec.sealed,
        )
        .await;
    s.check(
        "compare-and-swap globex record with its real sealed value",
        r == Ok(false),
    )
    .await;
    let r = store
        .records_by_key(&acme_svc, k1, None, 100)
        .await
        .unwrap();
    s.check(
        "list records by key sees only acme",
        r.iter().all(|x| x.id.starts_with("acme")),
    )
    .await;
    let r = store.count_by_key(&olga, k1).await;
    s.check("count by key counts only acme", r == Ok(1)).await;
    // Id guessing: nothing else is visible under any guessed id.
    let mut seen = 0;
    for id in [
        "globex-pw",
        "globex-doc",
        "globex-pw ",
        "GLOBEX-PW",
        "globex-pw%",
        "%",
        "globex-%",
        "' OR 1=1 --",
    ] {
        if store.get_record(&mia, id).await.unwrap().is_some() {
            seen += 1;
        }
    }
    s.check("guess 8 record ids", seen == 0).await;

    // ---- Claiming membership in globex (a buggy resolver vouches for the wrong tenant).
    let fake = user("globex", "mia", Role::Owner);
    s.check(
        "read globex keys claiming owner",
        store.tenant_keys(&fake).await == Err(StoreError::TenantNotFound),
    )
    .await;
    s.check(
        "read globex record claiming owner",
        matches!(store.get_record(&fake, "globex-pw").await, Ok(None)),
    )
    .await;
    let forged = SealedRecord {
        id: "mia-plant".into(),
        ..globex_rec.clone()
    };
    s.check(
        "write into globex claiming owner",
        denied(&store.put_record(&fake, &forged).await),
    )
    .await;
    s.check(
        "rotate globex key claiming owner",
        denied(&store.rotate_key(&fake, &key(2, KeyState::Active)).await),
    )
    .await;
    s.check(
        "shred globex claiming owner",
        denied(&store.destroy_all_keys(&fake).await),
    )
    .await;
    s.check(
        "rewrap globex key claiming owner",
        denied(&store.rewrap_key(&fake, k1, "local", "evil", b"evil").await),
    )
    .await;
    s.check(
        "destroy globex key claiming owner",
        denied(&store.destroy_key(&fake, k1).await),
    )
    .await;
    s.check(
        "add self to globex claiming owner",
        store
            .set_member(&fake, &u("mia"), Role::Owner, 1)
            .await
            .is_err(),
    )
    .await;
    s.check(
        "delete globex record claiming owner",
        store.delete_record(&fake, "globex-pw").await == Ok(false),
    )
    .await;

    // ---- Role escalation inside acme (the claim is higher than the database's role).
    let vic_as_member = user("acme", "vic", Role::Member);
    let forged = SealedRecord {
        id: "vic-plant".into(),
        ..acme_rec.clone()
    };
    s.check(
        "viewer writes claiming member",
        denied(&store.put_record(&vic_as_member, &forged).await),
    )
    .await;
    s.check(
        "viewer writes through the SDK",
        guard
            .records()
            .put_credential(&vic, "vic-plant", &Credential::password("x"))
            .await
            .is_err(),
    )
    .await;
    let mia_as_owner = user("acme", "mia", Role::Owner);
    s.check(
        "member rotates claiming owner",
        denied(
            &store
                .rotate_key(&mia_as_owner, &key(2, KeyState::Active))
                .await,
        ),
    )
    .await;
    s.check(
        "member shreds claiming owner",
        denied(&store.destroy_all_keys(&mia_as_owner).await),
    )
    .await;
    let adam_as_owner = user("acme", "adam", Role::Owner);
    s.check(
        "admin destroys a key claiming owner",
        denied(&store.destroy_key(&adam_as_owner, k2).await),
    )
    .await;
    s.check(
        "admin grants owner",
        store
            .set_member(&adam, &u("mia"), Role::Owner, 1)
            .await
            .is_err(),
    )
    .await;
    s.check(
        "owner reads a credential's plaintext",
        guard
            .records()
            .open_credential(&olga, "acme-pw")
            .await
            .unwrap_err()
            .kind()
            == ErrorKind::PermissionDenied,
    )
    .await;
    s.check(
        "viewer deletes",
        store.delete_record(&vic_as_member, "acme-pw").await == Ok(false),
    )
    .await;

    // ---- Copying sealed values between tenants and rows (no write; the seal must not open).
    let globex_value = SealedValue::from_vec(globex_rec.sealed.clone()).unwrap();
    let r = guard
        .records()
        .open(&acme_svc, "record:password:globex-pw", &globex_value)
        .await;
    s.check("open globex's sealed value as acme", r.is_err())
        .await;
    let acme_value = SealedValue::from_vec(acme_rec.sealed.clone()).unwrap();
    let r = guard
        .records()
        .open(&acme_svc, "record:password:acme-other", &acme_value)
        .await;
    s.check(
        "open acme's sealed value under another row's context",
        r.unwrap_err().kind() == ErrorKind::Integrity,
    )
    .await;
    let r = guard
        .records()
        .open(&svc("globex"), "record:password:acme-pw", &acme_value)
        .await;
    s.check("open acme's sealed value as globex", r.is_err())
        .await;

    // ---- Service role without a service connection; list_tenants.
    let app_only = PostgresStore::connect_with(pg.app.clone(), None, PgOptions::default())
        .await
        .unwrap();
    s.check(
        "list tenants without the service connection",
        denied(&app_only.list_tenants(&tg_cap::cap(), None, 10).await),
    )
    .await;
    s.check(
        "service scope over the app connection",
        denied(&app_only.tenant_keys(&acme_svc).await),
    )
    .await;

    // ---- Raw SQL as the application role (the SDK's filters bypassed), scoped to acme/mia.
    let app = pg.app_raw().await;
    let attacks: &[(&str, &str, &str, &str)] = &[
        ("acme", "mia", "read globex rows by filter", "SELECT * FROM tg_records WHERE tenant_id = 'globex'"),
        ("acme", "mia", "read globex keys by filter", "SELECT wrapped FROM tg_tenant_keys WHERE tenant_id = 'globex'"),
        ("acme", "mia", "read globex memberships", "SELECT * FROM tg_memberships WHERE tenant_id = 'globex'"),
        ("globex", "mia", "read globex memberships with globex in scope", "SELECT * FROM tg_memberships WHERE tenant_id = 'globex'"),
        ("acme", "mia", "read other members' rows", "SELECT * FROM tg_memberships WHERE user_id <> 'mia'"),
        ("acme", "mia", "update globex rows", "UPDATE tg_records SET sealed = '\\x00' WHERE tenant_id = 'globex'"),
        ("acme", "mia", "delete globex rows", "DELETE FROM tg_records WHERE tenant_id = 'globex'"),
        ("acme", "mia", "delete every row without a filter", "DELETE FROM tg_records WHERE tenant_id <> 'acme'"),
        ("acme", "mia", "insert a row into globex", "INSERT INTO tg_records VALUES ('planted', 'globex', 'password', NULL, 1, '\\x01', 0, 0)"),
        ("acme", "mia", "move an acme row into globex", "UPDATE tg_records SET tenant_id = 'globex' WHERE id = 'acme-pw'"),
        ("acme", "mia", "move an acme row into globex, switching the scope mid-statement", "UPDATE tg_records SET tenant_id = 'globex', class = set_config('app.tenant_id', 'globex', true) WHERE id = 'acme-pw'"),
        ("acme", "mia", "switch the scope to globex mid-update", "UPDATE tg_records SET class = set_config('app.tenant_id', 'globex', true) WHERE tenant_id = 'globex' OR set_config('app.tenant_id', 'globex', true) IS NULL"),
        ("acme", "olga", "move acme's keys into globex as owner", "UPDATE tg_tenant_keys SET tenant_id = 'globex' WHERE tenant_id = 'acme'"),
        ("acme", "mia", "copy globex's sealed value into an acme row", "UPDATE tg_records SET sealed = (SELECT sealed FROM tg_records WHERE id = 'globex-pw') WHERE id = 'acme-pw'"),
        ("acme", "mia", "shred globex's keys", "UPDATE tg_tenant_keys SET state = 'destroyed', wrapped = '\\x' WHERE tenant_id = 'globex'"),
        ("acme", "mia", "rotate acme's key as a member", "UPDATE tg_tenant_keys SET state = 'decrypt_only' WHERE tenant_id = 'acme'"),
        ("acme", "mia", "plant a key in globex", "INSERT INTO tg_tenant_keys VALUES ('globex', 9, 'decrypt_only', 'k', '\\x01', 0)"),
        ("acme", "mia", "self-promote to owner of acme", "INSERT INTO tg_memberships VALUES ('acme', 'mia', 'owner', 0)"),
        ("acme", "mia", "join globex as owner", "INSERT INTO tg_memberships VALUES ('globex', 'mia', 'owner', 0)"),
        ("acme", "mia", "change a role", "UPDATE tg_memberships SET role = 'owner' WHERE user_id = 'mia'"),
        ("acme", "mia", "delete keys", "DELETE FROM tg_tenant_keys WHERE tenant_id = 'acme'"),
        ("acme", "mia", "claim an existing tenant", "INSERT INTO tg_tenants VALUES ('globex', 'mia', 0)"),
        ("acme", "vic", "viewer inserts", "INSERT INTO tg_records VALUES ('vic-raw', 'acme', 'password', NULL, 1, '\\x01', 0, 0)"),
        ("acme", "vic", "viewer updates", "UPDATE tg_records SET sealed = '\\x00'"),
        ("acme", "eve", "stranger reads acme", "SELECT * FROM tg_records"),
        ("", "", "no scope reads", "SELECT * FROM tg_records"),
        ("", "", "no scope reads keys", "SELECT * FROM tg_tenant_keys"),
        ("", "mia", "user without tenant reads records", "SELECT * FROM tg_records"),
        ("globex", "mia", "scope set to a tenant the user is not in", "SELECT * FROM tg_records"),
        ("acme", "mia", "turn RLS off", "ALTER TABLE tg_records DISABLE ROW LEVEL SECURITY"),
        ("acme", "mia", "drop a policy", "DROP POLICY app_records_read ON tg_records"),
        ("acme", "mia", "become the service role", "SET ROLE tenantguard_service"),
        ("acme", "mia", "become the superuser", "SET ROLE postgres"),
        ("acme", "mia", "create a leaky view", "CREATE VIEW leak AS SELECT * FROM tg_records"),
        ("acme", "mia", "create a SECURITY DEFINER function", "CREATE FUNCTION leak() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*) FROM tg_records'"),
        ("acme", "mia", "read the migrations table", "SELECT * FROM tg_schema_migrations"),
        ("acme", "mia", "truncate", "TRUNCATE tg_records"),
    ];
    let mut pairs: Vec<(&str, &str)> = attacks
        .iter()
        .map(|(t, u, _, _)| (*t, *u))
        .chain([("acme", "mia"), ("acme", "olga")])
        .collect();
    pairs.sort();
    pairs.dedup();
    mint_proofs(&pg.service_raw().await, &pairs).await;
    for (tenant, who, name, sql) in attacks {
        let r = raw(&app, tenant, who, sql).await;
        s.check(&format!("raw app SQL: {name}"), refused_sql(&r))
            .await;
    }
    // An unfiltered read in acme's scope returns acme's rows only.
    let rows = {
        app.batch_execute("BEGIN").await.unwrap();
        app.execute("SELECT set_config('app.tenant_id', 'acme', true), set_config('app.user_id', 'mia', true), set_config('app.proof', $1, true)", &[&proof_hex("acme", "mia")]).await.unwrap();
        let r = app
            .query("SELECT tenant_id FROM tg_records", &[])
            .await
            .unwrap();
        app.batch_execute("COMMIT").await.unwrap();
        r
    };
    s.check(
        "raw app SQL: unfiltered read",
        !rows.is_empty() && rows.iter().all(|r| r.get::<_, &str>(0) == "acme"),
    )
    .await;

    // ---- Raw SQL as the service role, scoped to acme.
    let service = pg.service_raw().await;
    let attacks: &[(&str, &str, &str)] = &[
        ("acme", "read globex rows", "SELECT * FROM tg_records WHERE tenant_id = 'globex'"),
        ("acme", "update globex rows", "UPDATE tg_records SET sealed = '\\x00' WHERE tenant_id = 'globex'"),
        ("acme", "insert into globex", "INSERT INTO tg_records VALUES ('planted', 'globex', 'password', NULL, 1, '\\x01', 0, 0)"),
        ("acme", "add a member to globex", "INSERT INTO tg_memberships VALUES ('globex', 'mia', 'owner', 0)"),
        ("acme", "list tenants without asking", "SELECT * FROM tg_tenants WHERE tenant_id <> 'acme'"),
        ("", "read without scope", "SELECT * FROM tg_records"),
    ];
    for (tenant, name, sql) in attacks {
        let r = raw(&service, tenant, "", sql).await;
        s.check(&format!("raw service SQL: {name}"), refused_sql(&r))
            .await;
    }

    // Positive controls: the same statements work inside the caller's own rights, so the
    // refusals above come from the policies, not from malformed SQL.
    assert_eq!(
        raw(
            &app,
            "acme",
            "mia",
            "SELECT * FROM tg_records WHERE tenant_id = 'acme'"
        )
        .await,
        Ok(1)
    );
    assert_eq!(
        raw(
            &app,
            "acme",
            "mia",
            "INSERT INTO tg_records VALUES ('planted', 'acme', 'password', NULL, 1, '\\x01', 0, 0)"
        )
        .await,
        Ok(1)
    );
    assert_eq!(
        raw(
            &app,
            "acme",
            "mia",
            "UPDATE tg_records SET sealed = '\\x02' WHERE id = 'planted'"
        )
        .await,
        Ok(1)
    );
    assert_eq!(
        raw(&app, "acme", "mia", "SELECT tg_delete_record('planted')").await,
        Ok(1)
    );
    assert_eq!(
        raw(&app, "acme", "olga", "SELECT wrapped FROM tg_tenant_keys").await,
        Ok(1)
    );
    assert_eq!(
        raw(
            &service,
            "globex",
            "",
            "SELECT * FROM tg_records WHERE tenant_id = 'globex'"
        )
        .await,
        Ok(2)
    );
    assert_eq!(
        raw(&app, "acme", "mia", "SET ROLE tenantguard_app").await,
        Ok(0)
    );

    // Finally the data is intact and still opens for its own tenant.
    let cred = guard
        .records()
        .open_credential(&svc("globex"), "globex-pw")
        .await
        .unwrap();
    assert_eq!(cred.secret().expose(), b"globex-secret");
    assert!(s.count >= 30, "only {} attacks", s.count);
    eprintln!(
        "{} cross-tenant attacks refused, database unchanged after each",
        s.count
    );
}
