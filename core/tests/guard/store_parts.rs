//! A guard built area by area: a backend that implements only keys and records holds a
//! guard's data, the audit log and service keyring come from another store, the optional
//! areas refuse with `Config` (naming the builder method) and never fall back to
//! something weaker, and misconfigurations that would weaken a promise fail the build.

use std::sync::Arc;

use tenantguard::crypto::KeyId;
use tenantguard::store::{
    AuditStore, KeyRecordStore, KeyStore, RecordStore, SealedRecord, StoreError, TenantKeyRecord,
};
use tenantguard::tenant::{Resolved, Role, ServiceRole, TenantId, UserId};
use tenantguard::tokens::TokenSpec;
use tenantguard::{ErrorKind, Guard, LocalKeyProvider, MemoryStore, SqliteStore, TenantContext};

/// A third party's backend that implements only the two required traits (it delegates to
/// a memory store, but its type offers nothing else to the guard).
struct KeysAndRecordsOnly(MemoryStore);

#[async_trait::async_trait]
impl KeyStore for KeysAndRecordsOnly {
    async fn create_tenant(
        &self,
        c: &TenantContext,
        f: &TenantKeyRecord,
    ) -> Result<(), StoreError> {
        self.0.create_tenant(c, f).await
    }
    async fn tenant_keys(&self, c: &TenantContext) -> Result<Vec<TenantKeyRecord>, StoreError> {
        self.0.tenant_keys(c).await
    }
    async fn rotate_key(&self, c: &TenantContext, n: &TenantKeyRecord) -> Result<(), StoreError> {
        self.0.rotate_key(c, n).await
    }
    async fn rewrap_key(
        &self,
        c: &TenantContext,
        k: KeyId,
        e: &str,
        n: &str,
        w: &[u8],
    ) -> Result<bool, StoreError> {
        self.0.rewrap_key(c, k, e, n, w).await
    }
    async fn destroy_key(&self, c: &TenantContext, k: KeyId) -> Result<(), StoreError> {
        self.0.destroy_key(c, k).await
    }
    async fn destroy_all_keys(&self, c: &TenantContext) -> Result<(), StoreError> {
        self.0.destroy_all_keys(c).await
    }
    async fn list_tenants(
        &self,
        s: &ServiceRole,
        a: Option<&TenantId>,
        l: usize,
    ) -> Result<Vec<TenantId>, StoreError> {
        self.0.list_tenants(s, a, l).await
    }
}

#[async_trait::async_trait]
impl RecordStore for KeysAndRecordsOnly {
    async fn put_record(&self, c: &TenantContext, r: &SealedRecord) -> Result<(), StoreError> {
        self.0.put_record(c, r).await
    }
    async fn get_record(
        &self,
        c: &TenantContext,
        id: &str,
    ) -> Result<Option<SealedRecord>, StoreError> {
        self.0.get_record(c, id).await
    }
    async fn delete_record(&self, c: &TenantContext, id: &str) -> Result<bool, StoreError> {
        self.0.delete_record(c, id).await
    }
    async fn records_by_key(
        &self,
        c: &TenantContext,
        k: KeyId,
        a: Option<&str>,
        l: usize,
    ) -> Result<Vec<SealedRecord>, StoreError> {
        self.0.records_by_key(c, k, a, l).await
    }
    async fn count_by_key(&self, c: &TenantContext, k: KeyId) -> Result<u64, StoreError> {
        self.0.count_by_key(c, k).await
    }
    async fn records_page(
        &self,
        c: &TenantContext,
        a: Option<&str>,
        l: usize,
    ) -> Result<Vec<SealedRecord>, StoreError> {
        self.0.records_page(c, a, l).await
    }
    async fn replace_sealed(
        &self,
        c: &TenantContext,
        id: &str,
        e: &[u8],
        k: KeyId,
        n: &[u8],
    ) -> Result<bool, StoreError> {
        self.0.replace_sealed(c, id, e, k, n).await
    }
}

fn tid() -> TenantId {
    TenantId::new("acme").unwrap()
}

/// A guard on a keys-and-records-only backend with audit and service keys in `journal`.
fn split_guard(
    records: Arc<KeysAndRecordsOnly>,
    journal: Arc<MemoryStore>,
) -> (Guard, ServiceRole) {
    Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .key_record_store_arc(records)
        .audit_store(journal.clone())
        .service_key_store(journal)
        .build_with_service()
        .unwrap()
}

#[track_caller]
fn config_naming<T>(r: tenantguard::Result<T>, method: &str) {
    match r {
        Ok(_) => panic!("expected Config naming {method}, the operation succeeded"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Config, "{e}");
            assert!(e.to_string().contains(method), "{e} should name {method}");
        }
    }
}

#[tokio::test]
async fn a_keys_and_records_backend_seals_opens_and_is_audited_elsewhere() {
    let records = Arc::new(KeysAndRecordsOnly(MemoryStore::new()));
    let journal = Arc::new(MemoryStore::new());
    let (guard, service) = split_guard(records.clone(), journal.clone());
    let ctx = TenantContext::service(tid(), &service);
    guard.keys().create_tenant(&ctx).await.unwrap();

    let sealed = guard
        .records()
        .seal(&ctx, "db-password", b"hunter2")
        .await
        .unwrap();
    assert_eq!(
        guard
            .records()
            .open(&ctx, "db-password", &sealed)
            .await
            .unwrap()
            .expose(),
        b"hunter2"
    );
    guard
        .records()
        .put(&ctx, "row-1", "api_key", None, b"sk-123")
        .await
        .unwrap();
    let (class, plain) = guard.records().open_record(&ctx, "row-1").await.unwrap();
    assert_eq!(
        (class.as_str(), plain.expose()),
        ("api_key", &b"sk-123"[..])
    );
    guard.keys().rotate(&ctx).await.unwrap();

    // The record and the keys are in the third party's store, not in the journal.
    assert!(records.get_record(&ctx, "row-1").await.unwrap().is_some());
    assert!(journal.get_record(&ctx, "row-1").await.unwrap().is_none());
    assert!(journal.tenant_keys(&ctx).await.is_err());
    // Every open and key event went to the journal, and its chain verifies.
    let actions: Vec<String> = journal
        .audit_entries(&ctx, 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.action.as_str().to_string())
        .collect();
    assert!(
        actions.iter().any(|a| a == "credential.open"),
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| a == "key.rotate"), "{actions:?}");
    assert!(guard.audit().verify(&ctx).await.unwrap().is_valid());

    // A shred works without token or session stores: there is nothing to revoke.
    guard.keys().shred(&ctx).await.unwrap();
    assert!(guard
        .records()
        .open(&ctx, "db-password", &sealed)
        .await
        .is_err());
}

#[tokio::test]
async fn areas_the_guard_was_not_given_refuse_with_config() {
    let records = Arc::new(KeysAndRecordsOnly(MemoryStore::new()));
    let (guard, service) = split_guard(records, Arc::new(MemoryStore::new()));
    let ctx = TenantContext::service(tid(), &service);
    guard.keys().create_tenant(&ctx).await.unwrap();
    let alice = UserId::new("alice").unwrap();

    let spec = TokenSpec::read_only(UserId::new("bot").unwrap(), "ci");
    config_naming(guard.tokens().create(&ctx, spec).await, "token_store");
    config_naming(
        guard.tokens().list(&ctx, None, None, 10).await,
        "token_store",
    );
    config_naming(guard.retention().policy(&ctx).await, "retention_store");
    config_naming(guard.retention().preview(&ctx).await, "retention_store");
    config_naming(
        guard.members().set(&ctx, &alice, Role::Admin).await,
        "membership_store",
    );
    config_naming(guard.members().role(&ctx, &alice).await, "membership_store");
    config_naming(
        guard.sessions().list_tenant(&ctx, None, 10).await,
        "session_store",
    );

    // A user who claims to be the owner: every operation that reads the live role is
    // refused (no membership store to read it from), never allowed on the claim.
    let owner = TenantContext::resolved(Resolved::vouch(&service, tid(), alice, Role::Owner));
    config_naming(guard.keys().rotate(&owner).await, "membership_store");
    config_naming(guard.keys().shred(&owner).await, "membership_store");
    config_naming(
        guard.sessions().create(&owner, "laptop").await,
        "membership_store",
    );
    // The key is still the first one and the tenant still opens.
    let sealed = guard.records().seal(&ctx, "c", b"x").await.unwrap();
    assert_eq!(sealed.key_id(), KeyId::FIRST);
}

#[tokio::test]
async fn the_build_refuses_what_would_weaken_a_promise() {
    let journal = Arc::new(MemoryStore::new());
    let records = || Arc::new(KeysAndRecordsOnly(MemoryStore::new()));
    let build =
        |b: tenantguard::GuardBuilder| b.key_provider(LocalKeyProvider::ephemeral()).build();
    let refused = |r: tenantguard::Result<Guard>, needle: &str| match r {
        Ok(_) => panic!("the build should have been refused ({needle})"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Config, "{e}");
            assert!(e.to_string().contains(needle), "{e} should name {needle}");
        }
    };
    refused(build(Guard::builder()), "key_record_store");
    // Without an audit log no plaintext could be released under audit.
    refused(
        build(
            Guard::builder()
                .key_record_store_arc(records())
                .service_key_store(journal.clone()),
        ),
        "audit_store",
    );
    refused(
        build(
            Guard::builder()
                .key_record_store_arc(records())
                .audit_store(journal.clone()),
        ),
        "service_key_store",
    );
    let base = || {
        Guard::builder()
            .key_record_store_arc(records())
            .audit_store(journal.clone())
            .service_key_store(journal.clone())
    };
    // Sessions re-check the live role: they need the membership store.
    refused(
        build(base().session_store(journal.clone())),
        "membership_store",
    );
    // A sweep through another store than the records' would delete nothing and say it did.
    refused(
        build(base().retention_store(journal.clone())),
        "retention_store",
    );
    let shared = Arc::new(MemoryStore::new());
    build(
        Guard::builder()
            .key_record_store_arc(shared.clone())
            .retention_store(shared.clone())
            .audit_store(journal.clone())
            .service_key_store(journal.clone()),
    )
    .unwrap();
    // And a complete store still gives every area.
    build(Guard::builder().store(MemoryStore::new())).unwrap();
}

#[tokio::test]
async fn a_complete_store_then_own_records_drops_the_retention_that_came_with_it() {
    // `store(sqlite)` then `key_record_store(mine)`: tokens, sessions, members and the
    // audit log stay on the complete store; retention went with its records, so retention
    // refuses (Config) instead of sweeping the wrong store.
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(SqliteStore::open(dir.path().join("tg.db")).unwrap());
    let mine = Arc::new(KeysAndRecordsOnly(MemoryStore::new()));
    let (guard, service) = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store_arc(sqlite.clone())
        .key_record_store_arc(mine.clone())
        .build_with_service()
        .unwrap();
    let ctx = TenantContext::service(tid(), &service);
    guard.keys().create_tenant(&ctx).await.unwrap();
    guard
        .records()
        .put(&ctx, "row-1", "api_key", None, b"sk-1")
        .await
        .unwrap();
    assert!(mine.get_record(&ctx, "row-1").await.unwrap().is_some());
    assert!(sqlite.get_record(&ctx, "row-1").await.unwrap().is_none());
    let issued = guard
        .tokens()
        .create(
            &ctx,
            TokenSpec::read_only(UserId::new("bot").unwrap(), "ci"),
        )
        .await
        .unwrap();
    assert!(guard
        .tokens()
        .authenticate(issued.secret.expose())
        .await
        .is_ok());
    config_naming(guard.retention().preview(&ctx).await, "retention_store");
}

#[tokio::test]
async fn authorization_rows_outside_the_keyring_store_fail_closed() {
    // The token rows go to a SQLite store the guard's keyring was never attached to: it
    // cannot MAC them, so it refuses them instead of writing rows nobody can check.
    let dir = tempfile::tempdir().unwrap();
    let tokens = Arc::new(SqliteStore::open(dir.path().join("tokens.db")).unwrap());
    let keys_and_keyring = Arc::new(MemoryStore::new());
    let (guard, service) = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .key_record_store_arc(keys_and_keyring.clone())
        .audit_store(keys_and_keyring.clone())
        .service_key_store(keys_and_keyring)
        .token_store(tokens)
        .build_with_service()
        .unwrap();
    let ctx = TenantContext::service(tid(), &service);
    guard.keys().create_tenant(&ctx).await.unwrap();
    let spec = TokenSpec::read_only(UserId::new("bot").unwrap(), "ci");
    let err = match guard.tokens().create(&ctx, spec).await {
        Ok(_) => panic!("a token row was written without its MAC"),
        Err(e) => e,
    };
    assert!(err.to_string().contains("no service keyring"), "{err}");
    assert!(guard
        .tokens()
        .list(&ctx, None, None, 10)
        .await
        .map_or(true, |t| t.is_empty()));
}

#[tokio::test]
async fn a_complete_backend_can_still_take_one_area_from_another() {
    // `store` first, then a per-area method replaces that one area: here the audit log.
    let main = Arc::new(MemoryStore::new());
    let audit = Arc::new(MemoryStore::new());
    let (guard, service) = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store_arc(main.clone())
        .audit_store(audit.clone() as Arc<dyn AuditStore>)
        .build_with_service()
        .unwrap();
    let ctx = TenantContext::service(tid(), &service);
    guard.keys().create_tenant(&ctx).await.unwrap();
    assert!(main.audit_entries(&ctx, 0, 10).await.unwrap().is_empty());
    assert!(!audit.audit_entries(&ctx, 0, 10).await.unwrap().is_empty());
    let _: &dyn KeyRecordStore = main.as_ref();
}
