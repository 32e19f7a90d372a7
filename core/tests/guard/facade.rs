//! End-to-end tests of the `Guard` facade: sealing, credentials, tenant isolation,
//! permissions, key rotation and re-encryption, retirement, crypto-shredding, KEK rotation,
//! crash recovery of the jobs, and the key cache.
//!
//! Scenarios that do not depend on the backend run against both MemoryStore and SqliteStore
//! (see `both_stores!` at the end).
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tenantguard::crypto::{DataKey, KeyId, SealedValue};
use tenantguard::kms::{KeyProvider, KmsError, WrapContext, WrappedKey};
use tenantguard::store::{
    KeyState, KeyStore, RecordStore, SealedRecord, StoreError, TenantKeyRecord,
};
use tenantguard::tenant::{Resolved, Role, UserId};
use tenantguard::{
    Credential, CredentialKind, ErrorKind, Guard, LocalKeyProvider, ReencryptReport, RewrapReport,
    ServiceRole, SqliteStore, Store, TenantContext, TenantId,
};

fn tid(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}

fn service(tenant: &str) -> TenantContext {
    TenantContext::service(tid(tenant), &tg_cap::cap())
}

fn user(tenant: &str, name: &str, role: Role) -> TenantContext {
    TenantContext::resolved(Resolved::vouch(
        &tg_cap::cap(),
        tid(tenant),
        UserId::new(name).unwrap(),
        role,
    ))
}

fn guard_with(store: Arc<dyn Store>, provider: Arc<dyn KeyProvider>) -> Guard {
    Guard::builder()
        .key_provider_arc(provider)
        .store_arc(store)
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap()
}

fn guard(store: Arc<dyn Store>) -> Guard {
    guard_with(store, Arc::new(LocalKeyProvider::ephemeral()))
}

#[track_caller]
fn kind_of<T>(r: tenantguard::Result<T>) -> ErrorKind {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.kind(),
    }
}

async fn key_states(store: &dyn Store, ctx: &TenantContext) -> Vec<(u32, KeyState)> {
    store
        .tenant_keys(ctx)
        .await
        .unwrap()
        .iter()
        .map(|k| (k.key_id.get(), k.state))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Test doubles.

/// A key provider that counts calls, can delay unwraps and can fail wraps after N successes.
struct CountingProvider {
    inner: Arc<LocalKeyProvider>,
    wraps: AtomicUsize,
    unwraps: AtomicUsize,
    unwrap_delay: Duration,
    /// Wraps still allowed before failing with `Unavailable`; usize::MAX = unlimited.
    wrap_budget: AtomicUsize,
}

impl CountingProvider {
    fn new(inner: Arc<LocalKeyProvider>, unwrap_delay: Duration) -> Self {
        CountingProvider {
            inner,
            wraps: AtomicUsize::new(0),
            unwraps: AtomicUsize::new(0),
            unwrap_delay,
            wrap_budget: AtomicUsize::new(usize::MAX),
        }
    }
    fn unwraps(&self) -> usize {
        self.unwraps.load(Ordering::SeqCst)
    }
    fn wraps(&self) -> usize {
        self.wraps.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl KeyProvider for CountingProvider {
    fn name(&self) -> &str {
        "counting"
    }
    async fn current_kek(&self) -> Result<String, KmsError> {
        self.inner.current_kek().await
    }
    async fn wrap(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        let allowed =
            self.wrap_budget
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| match b {
                    usize::MAX => Some(b),
                    0 => None,
                    n => Some(n - 1),
                });
        if allowed.is_err() {
            return Err(KmsError::Unavailable("simulated outage".into()));
        }
        self.wraps.fetch_add(1, Ordering::SeqCst);
        self.inner.wrap(key, ctx).await
    }
    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError> {
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        if !self.unwrap_delay.is_zero() {
            tokio::time::sleep(self.unwrap_delay).await;
        }
        self.inner.unwrap(wrapped, ctx).await
    }
}

/// A store that delegates to another and fails `replace_sealed` after N successes.
struct FlakyStore {
    inner: Arc<dyn Store>,
    /// `replace_sealed` calls still allowed; usize::MAX = unlimited.
    replace_budget: AtomicUsize,
    /// A concurrent writer: written just before the next `replace_sealed` of its id.
    interfere: Mutex<Option<(TenantContext, SealedRecord)>>,
}

impl FlakyStore {
    fn new(inner: Arc<dyn Store>, budget: usize) -> Self {
        FlakyStore {
            inner,
            replace_budget: AtomicUsize::new(budget),
            interfere: Mutex::new(None),
        }
    }
}

#[async_trait::async_trait]
impl tenantguard::kms::ServiceKeyStore for FlakyStore {
    async fn service_keys(
        &self,
        purpose: tenantguard::kms::ServicePurpose,
    ) -> Result<Vec<tenantguard::kms::ServiceKeyRecord>, StoreError> {
        self.inner.service_keys(purpose).await
    }
    async fn insert_service_key(
        &self,
        rec: &tenantguard::kms::ServiceKeyRecord,
    ) -> Result<bool, StoreError> {
        self.inner.insert_service_key(rec).await
    }
    async fn retire_service_key(
        &self,
        purpose: tenantguard::kms::ServicePurpose,
        key_id: tenantguard::KeyId,
    ) -> Result<bool, StoreError> {
        self.inner.retire_service_key(purpose, key_id).await
    }
    async fn rewrap_service_key(
        &self,
        purpose: tenantguard::kms::ServicePurpose,
        key_id: tenantguard::KeyId,
        old_kek: &str,
        new_kek: &str,
        wrapped: &[u8],
    ) -> Result<bool, StoreError> {
        self.inner
            .rewrap_service_key(purpose, key_id, old_kek, new_kek, wrapped)
            .await
    }
    fn attach_keyring(&self, ring: &Arc<tenantguard::kms::ServiceKeyring>) {
        self.inner.attach_keyring(ring)
    }
}

#[async_trait::async_trait]
impl KeyStore for FlakyStore {
    async fn create_tenant(
        &self,
        ctx: &TenantContext,
        first: &TenantKeyRecord,
    ) -> Result<(), StoreError> {
        self.inner.create_tenant(ctx, first).await
    }
    async fn tenant_keys(&self, ctx: &TenantContext) -> Result<Vec<TenantKeyRecord>, StoreError> {
        self.inner.tenant_keys(ctx).await
    }
    async fn rotate_key(
        &self,
        ctx: &TenantContext,
        new: &TenantKeyRecord,
    ) -> Result<(), StoreError> {
        self.inner.rotate_key(ctx, new).await
    }
    async fn rewrap_key(
        &self,
        ctx: &TenantContext,
        key_id: KeyId,
        expected_kek: &str,
        new_kek: &str,
        new_wrapped: &[u8],
    ) -> Result<bool, StoreError> {
        self.inner
            .rewrap_key(ctx, key_id, expected_kek, new_kek, new_wrapped)
            .await
    }
    async fn destroy_key(&self, ctx: &TenantContext, key_id: KeyId) -> Result<(), StoreError> {
        self.inner.destroy_key(ctx, key_id).await
    }
    async fn destroy_all_keys(&self, ctx: &TenantContext) -> Result<(), StoreError> {
        self.inner.destroy_all_keys(ctx).await
    }
    async fn list_tenants(
        &self,
        service: &ServiceRole,
        after: Option<&TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>, StoreError> {
        self.inner.list_tenants(service, after, limit).await
    }
}

#[async_trait::async_trait]
impl RecordStore for FlakyStore {
    async fn put_record(&self, ctx: &TenantContext, rec: &SealedRecord) -> Result<(), StoreError> {
        self.inner.put_record(ctx, rec).await
    }
    async fn get_record(
        &self,
        ctx: &TenantContext,
        id: &str,
    ) -> Result<Option<SealedRecord>, StoreError> {
        self.inner.get_record(ctx, id).await
    }
    async fn delete_record(&self, ctx: &TenantContext, id: &str) -> Result<bool, StoreError> {
        self.inner.delete_record(ctx, id).await
    }
    async fn records_by_key(
        &self,
        ctx: &TenantContext,
        key_id: KeyId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SealedRecord>, StoreError> {
        self.inner.records_by_key(ctx, key_id, after, limit).await
    }
    async fn count_by_key(&self, ctx: &TenantContext, key_id: KeyId) -> Result<u64, StoreError> {
        self.inner.count_by_key(ctx, key_id).await
    }
    async fn records_page(
        &self,
        ctx: &TenantContext,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SealedRecord>, StoreError> {
        self.inner.records_page(ctx, after, limit).await
    }
    async fn replace_sealed(
        &self,
        ctx: &TenantContext,
        id: &str,
        expected: &[u8],
        new_key_id: KeyId,
        new_sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let allowed = self
            .replace_budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| match b {
                usize::MAX => Some(b),
                0 => None,
                n => Some(n - 1),
            });
        if allowed.is_err() {
            return Err(StoreError::Backend("simulated crash".into()));
        }
        let writer = {
            let mut w = self.interfere.lock().unwrap();
            if w.as_ref().is_some_and(|(_, r)| r.id == id) {
                w.take()
            } else {
                None
            }
        };
        if let Some((wctx, rec)) = writer {
            self.inner.put_record(&wctx, &rec).await?;
        }
        self.inner
            .replace_sealed(ctx, id, expected, new_key_id, new_sealed)
            .await
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios run against both stores.

async fn seal_open_and_credentials(store: Arc<dyn Store>) {
    let g = guard(store);
    let acme = service("acme");
    assert_eq!(g.keys().create_tenant(&acme).await.unwrap(), KeyId::FIRST);
    assert_eq!(
        kind_of(g.keys().create_tenant(&acme).await),
        ErrorKind::Conflict
    );

    // Raw values, both forms.
    let v = g
        .records()
        .seal(&acme, "credentials/password/row-42", b"hunter2")
        .await
        .unwrap();
    assert_eq!(v.key_id(), KeyId::FIRST);
    assert!(v.to_text().starts_with("tg2:1:"));
    let parsed = SealedValue::parse(&v.to_text()).unwrap();
    assert_eq!(
        g.records()
            .open(&acme, "credentials/password/row-42", &parsed)
            .await
            .unwrap()
            .expose(),
        b"hunter2"
    );
    let from_bytes = SealedValue::from_bytes(v.as_bytes()).unwrap();
    assert_eq!(
        g.records()
            .open(&acme, "credentials/password/row-42", &from_bytes)
            .await
            .unwrap()
            .expose(),
        b"hunter2"
    );
    assert_eq!(
        kind_of(
            g.records()
                .open(&acme, "credentials/password/row-43", &v)
                .await
        ),
        ErrorKind::Integrity
    );
    let empty = g.records().seal(&acme, "", b"").await.unwrap();
    assert!(g
        .records()
        .open(&acme, "", &empty)
        .await
        .unwrap()
        .is_empty());
    let ctx_utf8 = "données/鍵";
    let v2 = g
        .records()
        .seal(&acme, ctx_utf8, &[0u8, 255, 1])
        .await
        .unwrap();
    assert_eq!(
        g.records()
            .open(&acme, ctx_utf8, &v2)
            .await
            .unwrap()
            .expose(),
        &[0u8, 255, 1]
    );
    assert_eq!(
        kind_of(g.records().seal(&acme, &"x".repeat(1025), b"x").await),
        ErrorKind::TooLarge
    );

    // Credentials of every kind.
    for (i, kind) in CredentialKind::ALL.into_iter().enumerate() {
        let secret: Vec<u8> = if kind == CredentialKind::TotpSeed {
            vec![0, 1, 2, 250, 251, i as u8]
        } else {
            format!("secret-{i}-ü").into_bytes()
        };
        let id = format!("cred-{kind}");
        g.records()
            .put_credential(&acme, &id, &Credential::new(kind, secret.clone()))
            .await
            .unwrap();
        let c = g.records().open_credential(&acme, &id).await.unwrap();
        assert_eq!(c.kind(), kind);
        assert_eq!(c.secret().expose(), secret.as_slice());
        assert!(
            !format!("{c:?}").contains("secret-"),
            "Debug hides the secret"
        );
    }
    for (id, c) in [
        ("c-pw", Credential::password("pw")),
        ("c-api", Credential::api_token("tok")),
        ("c-totp", Credential::totp_seed(vec![1u8, 2, 3])),
        ("c-cookie", Credential::session_cookie("sid=1")),
        ("c-gen", Credential::generic("g")),
    ] {
        g.records().put_credential(&acme, id, &c).await.unwrap();
        let back = g.records().open_credential(&acme, id).await.unwrap();
        assert_eq!(
            (back.kind(), back.secret().expose()),
            (c.kind(), c.secret().expose())
        );
    }
    // Replacing a credential.
    g.records()
        .put_credential(&acme, "c-pw", &Credential::password("pw2"))
        .await
        .unwrap();
    assert_eq!(
        g.records()
            .open_credential(&acme, "c-pw")
            .await
            .unwrap()
            .secret()
            .expose(),
        b"pw2"
    );

    // Generic records.
    g.records()
        .put(
            &acme,
            "rec-1",
            "chat_transcript",
            Some("user-9"),
            b"hello there",
        )
        .await
        .unwrap();
    let (class, plain) = g.records().open_record(&acme, "rec-1").await.unwrap();
    assert_eq!(
        (class.as_str(), plain.expose()),
        ("chat_transcript", &b"hello there"[..])
    );
    assert_eq!(
        kind_of(g.records().open_credential(&acme, "rec-1").await),
        ErrorKind::InvalidInput,
        "not a credential"
    );
    assert_eq!(
        kind_of(g.records().open_record(&acme, "absent").await),
        ErrorKind::NotFound
    );
    assert!(g.records().delete(&acme, "rec-1").await.unwrap());
    assert!(!g.records().delete(&acme, "rec-1").await.unwrap());
    assert_eq!(
        kind_of(g.records().open_record(&acme, "rec-1").await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind_of(g.records().put(&acme, "", "c", None, b"x").await),
        ErrorKind::InvalidInput
    );

    // A tenant that was never created.
    let ghost = service("ghost");
    assert_eq!(
        kind_of(g.records().seal(&ghost, "c", b"x").await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind_of(
            g.records()
                .put_credential(&ghost, "g1", &Credential::password("x"))
                .await
        ),
        ErrorKind::NotFound
    );

    let versions = g.keys().versions(&acme).await.unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(
        (
            versions[0].key_id,
            versions[0].state,
            versions[0].kek_id.as_str()
        ),
        (KeyId::FIRST, KeyState::Active, "kek-1")
    );
}

async fn cross_tenant_isolation(store: Arc<dyn Store>) {
    let g = guard(store.clone());
    let (a, b) = (service("tenant-a"), service("tenant-b"));
    g.keys().create_tenant(&a).await.unwrap();
    g.keys().create_tenant(&b).await.unwrap();
    g.records()
        .put_credential(&a, "a-row-1", &Credential::password("a-secret"))
        .await
        .unwrap();

    // Stored records: ids are per tenant, so A's id is simply "not found" for B, and B
    // may keep its own "a-row-1", which never touches A's.
    assert_eq!(
        kind_of(g.records().open_credential(&b, "a-row-1").await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind_of(g.records().open_record(&b, "a-row-1").await),
        ErrorKind::NotFound
    );
    assert!(!g.records().delete(&b, "a-row-1").await.unwrap());
    // A user of tenant B, whatever the role, fares no better.
    assert!(!g
        .records()
        .delete(&user("tenant-b", "mallory", Role::Owner), "a-row-1")
        .await
        .unwrap());
    g.records()
        .put_credential(&b, "a-row-1", &Credential::password("b-own"))
        .await
        .unwrap();
    assert_eq!(
        g.records()
            .open_credential(&b, "a-row-1")
            .await
            .unwrap()
            .secret()
            .expose(),
        b"b-own"
    );
    assert!(g.records().delete(&b, "a-row-1").await.unwrap());
    assert_eq!(
        g.records()
            .open_credential(&a, "a-row-1")
            .await
            .unwrap()
            .secret()
            .expose(),
        b"a-secret",
        "A's record unchanged"
    );

    // A raw value sealed for A, opened by B (which also has a key 1): authentication fails.
    let v = g.records().seal(&a, "ctx", b"for A only").await.unwrap();
    assert_eq!(
        kind_of(g.records().open(&b, "ctx", &v).await),
        ErrorKind::Integrity
    );
    // Under a key id B does not have: unknown key.
    g.keys().rotate(&a).await.unwrap();
    let v2 = g.records().seal(&a, "ctx", b"for A only").await.unwrap();
    assert_eq!(v2.key_id().get(), 2);
    assert_eq!(
        kind_of(g.records().open(&b, "ctx", &v2).await),
        ErrorKind::UnknownKey
    );

    // A record's bytes copied into B's namespace (a malicious or buggy write): never opens for B.
    let stolen = store.get_record(&a, "a-row-1").await.unwrap().unwrap();
    let copy = SealedRecord {
        id: "b-copied".into(),
        ..stolen.clone()
    };
    store.put_record(&b, &copy).await.unwrap();
    assert_eq!(
        kind_of(g.records().open_credential(&b, "b-copied").await),
        ErrorKind::Integrity
    );
    // Nor within A under another id: the record id is bound into the seal.
    store
        .put_record(
            &a,
            &SealedRecord {
                id: "a-row-2".into(),
                ..stolen
            },
        )
        .await
        .unwrap();
    assert_eq!(
        kind_of(g.records().open_credential(&a, "a-row-2").await),
        ErrorKind::Integrity
    );
}

async fn permissions(store: Arc<dyn Store>) {
    let g = guard(store.clone());
    let owner_svc = service("perm");
    g.keys().create_tenant(&owner_svc).await.unwrap();
    g.records()
        .put_credential(&owner_svc, "p-1", &Credential::password("pw"))
        .await
        .unwrap();
    let sealed = g.records().seal(&owner_svc, "ctx", b"x").await.unwrap();
    let denied = ErrorKind::PermissionDenied;

    let viewer = user("perm", "vera", Role::Viewer);
    let member = user("perm", "mia", Role::Member);
    let admin = user("perm", "ada", Role::Admin);
    let owner = user("perm", "olga", Role::Owner);
    for (u, role) in [
        ("vera", Role::Viewer),
        ("mia", Role::Member),
        ("ada", Role::Admin),
        ("olga", Role::Owner),
    ] {
        tenantguard::store::MembershipStore::apply_member_change(
            &*store,
            &owner_svc,
            &tenantguard::tenant::UserId::new(u).unwrap(),
            Some(role),
            0,
        )
        .await
        .unwrap();
    }

    // Viewer: metadata only.
    assert_eq!(g.keys().versions(&viewer).await.unwrap().len(), 1);
    assert_eq!(
        kind_of(g.records().seal(&viewer, "ctx", b"x").await),
        denied
    );
    assert_eq!(
        kind_of(
            g.records()
                .put_credential(&viewer, "p-2", &Credential::password("pw"))
                .await
        ),
        denied
    );
    assert_eq!(kind_of(g.records().delete(&viewer, "p-1").await), denied);

    // Member: writes, but plaintext is write-only and keys are off limits.
    let mv = g
        .records()
        .seal(&member, "ctx", b"from member")
        .await
        .unwrap();
    g.records()
        .put_credential(&member, "p-3", &Credential::api_token("tok"))
        .await
        .unwrap();
    assert_eq!(
        g.records()
            .open(&owner_svc, "ctx", &mv)
            .await
            .unwrap()
            .expose(),
        b"from member"
    );
    assert_eq!(
        g.records()
            .open_credential(&owner_svc, "p-3")
            .await
            .unwrap()
            .secret()
            .expose(),
        b"tok"
    );

    for ctx in [&viewer, &member, &admin, &owner] {
        assert_eq!(
            kind_of(g.records().open(ctx, "ctx", &sealed).await),
            denied,
            "{:?}",
            ctx.principal()
        );
        assert_eq!(
            kind_of(g.records().open_credential(ctx, "p-1").await),
            denied
        );
        assert_eq!(kind_of(g.records().open_record(ctx, "p-1").await), denied);
        assert_eq!(
            kind_of(g.records().reseal(ctx, "ctx", &sealed).await),
            denied
        );
    }
    for ctx in [&viewer, &member, &admin] {
        assert_eq!(
            kind_of(g.keys().rotate(ctx).await),
            denied,
            "{:?}",
            ctx.principal()
        );
        assert_eq!(
            kind_of(g.keys().reencrypt(ctx, KeyId::FIRST, 10, |_| {}).await),
            denied
        );
        assert_eq!(kind_of(g.keys().retire(ctx, KeyId::FIRST).await), denied);
        assert_eq!(kind_of(g.keys().shred(ctx).await), denied);
        assert_eq!(
            kind_of(
                g.keys()
                    .create_tenant(&user("perm-new", "x", ctx_role(ctx)))
                    .await
            ),
            denied
        );
    }
    // Nothing changed: still one active key, the credential still opens.
    assert_eq!(g.keys().versions(&owner_svc).await.unwrap().len(), 1);
    assert_eq!(
        g.records()
            .open_credential(&owner_svc, "p-1")
            .await
            .unwrap()
            .secret()
            .expose(),
        b"pw"
    );
    // An owner user may rotate (key management), still without reading plaintext.
    assert_eq!(g.keys().rotate(&owner).await.unwrap().get(), 2);
}

fn ctx_role(ctx: &TenantContext) -> Role {
    match ctx.principal() {
        tenantguard::Principal::User { role, .. } => *role,
        tenantguard::Principal::Service => Role::Owner,
        _ => Role::Viewer,
    }
}

async fn rotation_keeps_old_values(store: Arc<dyn Store>) {
    let g = guard(store.clone());
    let t = service("rot");
    g.keys().create_tenant(&t).await.unwrap();
    let old = g.records().seal(&t, "ctx", b"old value").await.unwrap();
    g.records()
        .put_credential(&t, "rot-old", &Credential::password("old-pw"))
        .await
        .unwrap();

    assert_eq!(g.keys().rotate(&t).await.unwrap().get(), 2);
    assert_eq!(
        key_states(store.as_ref(), &t).await,
        vec![(1, KeyState::DecryptOnly), (2, KeyState::Active)]
    );

    // Old values still open.
    assert_eq!(
        g.records().open(&t, "ctx", &old).await.unwrap().expose(),
        b"old value"
    );
    assert_eq!(
        g.records()
            .open_credential(&t, "rot-old")
            .await
            .unwrap()
            .secret()
            .expose(),
        b"old-pw"
    );
    // New ones use the new key.
    let new = g.records().seal(&t, "ctx", b"new value").await.unwrap();
    assert_eq!(new.key_id().get(), 2);
    assert!(new.to_text().starts_with("tg2:2:"));
    g.records()
        .put_credential(&t, "rot-new", &Credential::password("new-pw"))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_record(&t, "rot-new")
            .await
            .unwrap()
            .unwrap()
            .key_id
            .get(),
        2
    );
    assert_eq!(
        store
            .get_record(&t, "rot-old")
            .await
            .unwrap()
            .unwrap()
            .key_id
            .get(),
        1
    );
    // reseal moves a value held outside the store; a current value is returned as is.
    let moved = g.records().reseal(&t, "ctx", &old).await.unwrap();
    assert_eq!(moved.key_id().get(), 2);
    assert_eq!(
        g.records().open(&t, "ctx", &moved).await.unwrap().expose(),
        b"old value"
    );
    assert_eq!(g.records().reseal(&t, "ctx", &new).await.unwrap(), new);
    assert_eq!(
        kind_of(g.records().reseal(&t, "wrong ctx", &old).await),
        ErrorKind::Integrity
    );

    // Rotate again: three versions, one active.
    assert_eq!(g.keys().rotate(&t).await.unwrap().get(), 3);
    assert_eq!(
        key_states(store.as_ref(), &t).await,
        vec![
            (1, KeyState::DecryptOnly),
            (2, KeyState::DecryptOnly),
            (3, KeyState::Active)
        ]
    );
    assert_eq!(
        g.records().open(&t, "ctx", &old).await.unwrap().expose(),
        b"old value"
    );
    assert_eq!(
        g.records().open(&t, "ctx", &new).await.unwrap().expose(),
        b"new value"
    );
}

async fn reencrypt_then_retire(store: Arc<dyn Store>) {
    let g = guard(store.clone());
    let t = service("reenc");
    g.keys().create_tenant(&t).await.unwrap();
    for i in 0..25 {
        g.records()
            .put(
                &t,
                &format!("r-{i:02}"),
                "note",
                None,
                format!("plain {i}").as_bytes(),
            )
            .await
            .unwrap();
    }
    let outside = g
        .records()
        .seal(&t, "outside", b"kept by the app")
        .await
        .unwrap();

    // Retiring: the active key never; a key in use not before re-encryption.
    assert_eq!(
        kind_of(g.keys().retire(&t, KeyId::FIRST).await),
        ErrorKind::Conflict,
        "active key"
    );
    let k2 = g.keys().rotate(&t).await.unwrap();
    assert_eq!(
        kind_of(g.keys().retire(&t, k2).await),
        ErrorKind::Conflict,
        "active key"
    );
    assert_eq!(
        kind_of(g.keys().retire(&t, KeyId::FIRST).await),
        ErrorKind::Conflict,
        "still in use"
    );
    assert_eq!(
        kind_of(g.keys().retire(&t, KeyId::new(9).unwrap()).await),
        ErrorKind::UnknownKey
    );
    assert_eq!(
        kind_of(g.keys().reencrypt(&t, KeyId::FIRST, 0, |_| {}).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind_of(g.keys().reencrypt(&t, KeyId::FIRST, 10_001, |_| {}).await),
        ErrorKind::InvalidInput
    );

    // A progress callback can stop the job after a batch; the report says so and how
    // much is left, and the job resumes where it stopped.
    let stopped = g
        .keys()
        .reencrypt(&t, KeyId::FIRST, 10, |_| std::ops::ControlFlow::Break(()))
        .await
        .unwrap();
    assert_eq!((stopped.moved, stopped.remaining), (10, 15));
    assert!(stopped.stopped);

    let mut calls: Vec<ReencryptReport> = Vec::new();
    let report = g
        .keys()
        .reencrypt(&t, KeyId::FIRST, 10, |r| calls.push(r.clone()))
        .await
        .unwrap();
    assert_eq!(report, reencrypted(15, 0, 0));
    assert_eq!(
        calls.iter().map(|r| r.moved).collect::<Vec<_>>(),
        vec![0, 10, 15],
        "progress after each batch (the first page was moved by the stopped run)"
    );
    assert_eq!(store.count_by_key(&t, KeyId::FIRST).await.unwrap(), 0);
    assert_eq!(store.count_by_key(&t, k2).await.unwrap(), 25);
    for i in 0..25 {
        let (_, plain) = g
            .records()
            .open_record(&t, &format!("r-{i:02}"))
            .await
            .unwrap();
        assert_eq!(plain.expose(), format!("plain {i}").as_bytes());
        assert_eq!(
            store
                .get_record(&t, &format!("r-{i:02}"))
                .await
                .unwrap()
                .unwrap()
                .sealed[1..5],
            2u32.to_be_bytes()
        );
    }
    // Idempotent: nothing left to move.
    let again = g
        .keys()
        .reencrypt(&t, KeyId::FIRST, 10, |_| {})
        .await
        .unwrap();
    assert_eq!((again.moved, again.remaining), (0, 0));
    // From the active key: nothing to move (every value is already v2 under it).
    let same = g.keys().reencrypt(&t, k2, 10, |_| {}).await.unwrap();
    assert_eq!((same.moved, same.remaining), (0, 0));

    // The outside value still opens until retirement...
    assert_eq!(
        g.records()
            .open(&t, "outside", &outside)
            .await
            .unwrap()
            .expose(),
        b"kept by the app"
    );
    g.keys().retire(&t, KeyId::FIRST).await.unwrap();
    assert_eq!(
        key_states(store.as_ref(), &t).await,
        vec![(1, KeyState::Destroyed), (2, KeyState::Active)]
    );
    // ...and never after.
    assert_eq!(
        kind_of(g.records().open(&t, "outside", &outside).await),
        ErrorKind::KeyDestroyed
    );
    assert_eq!(
        kind_of(g.records().reseal(&t, "outside", &outside).await),
        ErrorKind::KeyDestroyed
    );
    g.keys().retire(&t, KeyId::FIRST).await.unwrap(); // idempotent
                                                      // A fresh guard (cold cache, even another key provider) agrees: the destroyed state is
                                                      // reported before any unwrap is attempted.
    let g2 = guard(store.clone());
    assert_eq!(
        kind_of(g2.records().open(&t, "outside", &outside).await),
        ErrorKind::KeyDestroyed
    );
    // Records are all fine.
    assert_eq!(
        g.records()
            .open_record(&t, "r-00")
            .await
            .unwrap()
            .1
            .expose(),
        b"plain 0"
    );
}

async fn reencrypt_never_clobbers_a_concurrent_write(store: Arc<dyn Store>) {
    let flaky = Arc::new(FlakyStore::new(store.clone(), usize::MAX));
    let g = guard_with(flaky.clone(), Arc::new(LocalKeyProvider::ephemeral()));
    let t = service("race");
    g.keys().create_tenant(&t).await.unwrap();
    for i in 0..4 {
        g.records()
            .put(&t, &format!("w-{i}"), "note", None, b"old")
            .await
            .unwrap();
    }
    g.keys().rotate(&t).await.unwrap();
    // A writer replaces w-2 (under the new key) between the job's read and its write.
    let old = store.get_record(&t, "w-2").await.unwrap().unwrap();
    g.records()
        .put(&t, "w-2", "note", None, b"written meanwhile")
        .await
        .unwrap();
    let fresh = store.get_record(&t, "w-2").await.unwrap().unwrap();
    store.put_record(&t, &old).await.unwrap();
    assert_eq!(fresh.key_id, KeyId::new(2).unwrap());
    *flaky.interfere.lock().unwrap() = Some((t.clone(), fresh));

    let report = g
        .keys()
        .reencrypt(&t, KeyId::FIRST, 10, |_| {})
        .await
        .unwrap();
    assert_eq!(report, reencrypted(3, 1, 0));
    assert!(flaky.interfere.lock().unwrap().is_none(), "the writer ran");
    assert_eq!(
        g.records().open_record(&t, "w-2").await.unwrap().1.expose(),
        b"written meanwhile",
        "the write survived"
    );
    for i in [0, 1, 3] {
        assert_eq!(
            g.records()
                .open_record(&t, &format!("w-{i}"))
                .await
                .unwrap()
                .1
                .expose(),
            b"old"
        );
    }
    g.keys().retire(&t, KeyId::FIRST).await.unwrap();
}

async fn reencrypt_reports_corrupted_records(store: Arc<dyn Store>) {
    let g = guard(store.clone());
    let t = service("corrupt");
    g.keys().create_tenant(&t).await.unwrap();
    for i in 0..5 {
        g.records()
            .put(&t, &format!("c-{i}"), "note", None, b"fine")
            .await
            .unwrap();
    }
    // Corrupt one stored record (a flipped tag bit) and one structurally.
    let mut bad = store.get_record(&t, "c-2").await.unwrap().unwrap();
    *bad.sealed.last_mut().unwrap() ^= 1;
    store.put_record(&t, &bad).await.unwrap();
    let mut garbage = store.get_record(&t, "c-4").await.unwrap().unwrap();
    garbage.sealed.truncate(10);
    store.put_record(&t, &garbage).await.unwrap();

    g.keys().rotate(&t).await.unwrap();
    let report = g
        .keys()
        .reencrypt(&t, KeyId::FIRST, 2, |_| {})
        .await
        .unwrap();
    assert_eq!(report.moved, 3);
    assert_eq!(report.failed, vec!["c-2".to_owned(), "c-4".to_owned()]);
    assert_eq!(report.remaining, 2);
    assert_eq!(
        kind_of(g.keys().retire(&t, KeyId::FIRST).await),
        ErrorKind::Conflict,
        "the old key still seals 2 records"
    );
    assert_eq!(
        kind_of(g.records().open_record(&t, "c-2").await),
        ErrorKind::Integrity
    );
    assert_eq!(
        kind_of(g.records().open_record(&t, "c-4").await),
        ErrorKind::Malformed
    );
    // Deleting them unblocks retirement.
    g.records().delete(&t, "c-2").await.unwrap();
    g.records().delete(&t, "c-4").await.unwrap();
    g.keys().retire(&t, KeyId::FIRST).await.unwrap();
}

async fn shred_is_irreversible(store: Arc<dyn Store>) {
    let g = guard(store.clone());
    let t = service("shred-me");
    let other = service("bystander");
    g.keys().create_tenant(&t).await.unwrap();
    g.keys().create_tenant(&other).await.unwrap();
    let v1 = g.records().seal(&t, "ctx", b"v1").await.unwrap();
    g.records()
        .put_credential(&t, "s-1", &Credential::password("pw1"))
        .await
        .unwrap();
    g.keys().rotate(&t).await.unwrap();
    let v2 = g.records().seal(&t, "ctx", b"v2").await.unwrap();
    g.records()
        .put_credential(&t, "s-2", &Credential::password("pw2"))
        .await
        .unwrap();
    let keep = g
        .records()
        .seal(&other, "ctx", b"unaffected")
        .await
        .unwrap();
    // Warm the cache so shredding must invalidate it.
    assert_eq!(
        g.records().open(&t, "ctx", &v1).await.unwrap().expose(),
        b"v1"
    );
    assert_eq!(
        g.records().open(&t, "ctx", &v2).await.unwrap().expose(),
        b"v2"
    );

    g.keys().shred(&t).await.unwrap();
    for v in [&v1, &v2] {
        let err = g.records().open(&t, "ctx", v).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::KeyDestroyed);
        assert_eq!(err.kind().as_str(), "key_destroyed");
    }
    for id in ["s-1", "s-2"] {
        assert_eq!(
            kind_of(g.records().open_credential(&t, id).await),
            ErrorKind::KeyDestroyed
        );
    }
    assert_eq!(
        kind_of(g.records().seal(&t, "ctx", b"new").await),
        ErrorKind::KeyDestroyed
    );
    assert_eq!(
        kind_of(
            g.records()
                .put_credential(&t, "s-3", &Credential::password("x"))
                .await
        ),
        ErrorKind::KeyDestroyed
    );
    // Irreversible: no new key, no re-creation, and a fresh guard sees the same.
    assert_eq!(kind_of(g.keys().rotate(&t).await), ErrorKind::Conflict);
    assert_eq!(
        kind_of(g.keys().create_tenant(&t).await),
        ErrorKind::Conflict
    );
    g.keys().shred(&t).await.unwrap(); // idempotent
    let g2 = guard(store.clone());
    assert_eq!(
        kind_of(g2.records().open(&t, "ctx", &v2).await),
        ErrorKind::KeyDestroyed
    );
    assert_eq!(
        kind_of(g2.records().open_credential(&t, "s-1").await),
        ErrorKind::KeyDestroyed
    );
    assert!(store
        .tenant_keys(&t)
        .await
        .unwrap()
        .iter()
        .all(|k| k.state == KeyState::Destroyed && k.wrapped.is_empty()));
    // Other tenants are untouched.
    assert_eq!(
        g.records()
            .open(&other, "ctx", &keep)
            .await
            .unwrap()
            .expose(),
        b"unaffected"
    );
}

async fn kek_rotation_rewraps_keys_only(store: Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("keys.json");
    let provider = Arc::new(LocalKeyProvider::open_or_create(&key_path).unwrap());
    let g = guard_with(store.clone(), provider.clone());
    let svc = tg_cap::cap();

    // t1: two keys; t2: one key; t3: two keys, the first retired (destroyed: not re-wrapped).
    let mut values = Vec::new();
    for name in ["kek-t1", "kek-t2", "kek-t3"] {
        let t = service(name);
        g.keys().create_tenant(&t).await.unwrap();
        values.push((
            name,
            g.records().seal(&t, "ctx", name.as_bytes()).await.unwrap(),
        ));
        g.records()
            .put_credential(&t, &format!("{name}-rec"), &Credential::password(name))
            .await
            .unwrap();
        if name != "kek-t2" {
            g.keys().rotate(&t).await.unwrap();
            values.push((
                name,
                g.records().seal(&t, "ctx", name.as_bytes()).await.unwrap(),
            ));
        }
    }
    let t3 = service("kek-t3");
    g.keys()
        .reencrypt(&t3, KeyId::FIRST, 10, |_| {})
        .await
        .unwrap();
    g.keys().retire(&t3, KeyId::FIRST).await.unwrap();
    values.retain(|(name, v)| !(*name == "kek-t3" && v.key_id() == KeyId::FIRST));

    let records_before = snapshot_records(store.as_ref()).await;
    assert_eq!(provider.rotate_kek().unwrap(), "kek-2");

    let mut progress: Vec<RewrapReport> = Vec::new();
    let report = g
        .keys()
        .rewrap(&svc, None, 2, |r| progress.push(r.clone()))
        .await
        .unwrap();
    assert_eq!(
        (report.tenants, report.rewrapped, report.current),
        (3, 4, 0)
    );
    assert_eq!(report.last_tenant, Some(tid("kek-t3")));
    assert_eq!(
        progress.iter().map(|r| r.tenants).collect::<Vec<_>>(),
        vec![2, 3],
        "progress after each batch of 2 tenants"
    );
    for name in ["kek-t1", "kek-t2", "kek-t3"] {
        for k in store.tenant_keys(&service(name)).await.unwrap() {
            let expected = if k.state == KeyState::Destroyed {
                ""
            } else {
                "kek-2"
            };
            assert_eq!(k.kek_id, expected, "{name} key {}", k.key_id);
        }
    }
    assert_eq!(
        snapshot_records(store.as_ref()).await,
        records_before,
        "records untouched, byte for byte"
    );
    // Running it again finds nothing to do.
    let again = g.keys().rewrap(&svc, None, 2, |_| {}).await.unwrap();
    assert_eq!((again.rewrapped, again.current), (0, 4));

    // A new process: provider reopened from the file, cold cache.
    let check = |g: Guard, values: Vec<(&'static str, SealedValue)>| async move {
        for (name, v) in &values {
            assert_eq!(
                g.records()
                    .open(&service(name), "ctx", v)
                    .await
                    .unwrap()
                    .expose(),
                name.as_bytes()
            );
            let c = g
                .records()
                .open_credential(&service(name), &format!("{name}-rec"))
                .await
                .unwrap();
            assert_eq!(c.secret().expose(), name.as_bytes());
        }
    };
    check(
        guard_with(
            store.clone(),
            Arc::new(LocalKeyProvider::open(&key_path).unwrap()),
        ),
        values.clone(),
    )
    .await;
    // After removing the old KEK too.
    provider.remove_kek("kek-1").unwrap();
    let reopened = Arc::new(LocalKeyProvider::open(&key_path).unwrap());
    assert_eq!(reopened.kek_ids(), vec!["kek-2".to_owned()]);
    // The job re-wrapped the service keyring too (its audit-mac key was created under
    // kek-1 by the first audited action): audited opens need nothing of kek-1.
    assert!(report.service_keys_rewrapped >= 1, "{report:?}");
    for p in tenantguard::kms::ServicePurpose::ALL {
        for k in g
            .service_keys(&crate::tg_cap::cap())
            .unwrap()
            .records(p)
            .await
            .unwrap()
        {
            assert_eq!(k.kek_id, "kek-2", "{p} key {}", k.key_id);
        }
    }
    check(guard_with(store.clone(), reopened), values).await;
}

async fn snapshot_records(store: &dyn Store) -> Vec<SealedRecord> {
    let mut out = Vec::new();
    let svc = tg_cap::cap();
    for t in store.list_tenants(&svc, None, 1000).await.unwrap() {
        let ctx = TenantContext::service(t, &svc);
        for k in store.tenant_keys(&ctx).await.unwrap() {
            out.extend(
                store
                    .records_by_key(&ctx, k.key_id, None, 10_000)
                    .await
                    .unwrap(),
            );
        }
    }
    out
}

async fn cold_tenant_loads_key_once(store: Arc<dyn Store>) {
    let provider = Arc::new(CountingProvider::new(
        Arc::new(LocalKeyProvider::ephemeral()),
        Duration::from_millis(30),
    ));
    let g0 = guard_with(store.clone(), provider.clone());
    // Audited actions need the keyring's audit-mac key (created wrapped once, unwrapped
    // once per guard): load it first, so the counts below are the tenant key's alone.
    let warm = |g: &Guard| {
        let g = g.clone();
        async move {
            g.service_keys(&crate::tg_cap::cap())
                .unwrap()
                .current(tenantguard::kms::ServicePurpose::AuditMac)
                .await
                .unwrap();
        }
    };
    warm(&g0).await;
    let (bw, bu0) = (provider.wraps(), provider.unwraps());
    let t = service("hot");
    g0.keys().create_tenant(&t).await.unwrap();
    assert_eq!((provider.wraps() - bw, provider.unwraps() - bu0), (1, 0));

    // A fresh guard: the tenant's key is cold.
    let g = guard_with(store.clone(), provider.clone());
    warm(&g).await;
    let bu = provider.unwraps();
    let mut tasks = Vec::new();
    for i in 0..48 {
        let (g, t) = (g.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            g.records()
                .seal(&t, "ctx", format!("v{i}").as_bytes())
                .await
                .unwrap()
        }));
    }
    let mut values = Vec::new();
    for task in tasks {
        values.push(task.await.unwrap());
    }
    assert_eq!(
        provider.unwraps() - bu,
        1,
        "concurrent cold seals share one unwrap"
    );
    assert_eq!(g.cache_stats().loads, 1);

    // Warm: no provider call at all, for seals and opens.
    for i in 0..100 {
        g.records()
            .seal(&t, "ctx", format!("w{i}").as_bytes())
            .await
            .unwrap();
    }
    for (i, v) in values.iter().enumerate() {
        assert_eq!(
            g.records().open(&t, "ctx", v).await.unwrap().expose(),
            format!("v{i}").as_bytes()
        );
    }
    assert_eq!((provider.wraps() - bw, provider.unwraps() - bu), (1, 1));
    assert!(g.cache_stats().hits >= 148);

    // Rotation invalidates: one unwrap for the new active key, one for the old version.
    g.keys().rotate(&t).await.unwrap();
    assert_eq!(provider.wraps() - bw, 2);
    g.records().seal(&t, "ctx", b"after").await.unwrap();
    g.records().seal(&t, "ctx", b"after").await.unwrap();
    assert_eq!(provider.unwraps() - bu, 2);
    g.records().open(&t, "ctx", &values[0]).await.unwrap();
    g.records().open(&t, "ctx", &values[1]).await.unwrap();
    assert_eq!(provider.unwraps() - bu, 3);
}

// ---------------------------------------------------------------------------------------
// Crash recovery (SQLite on a file, as in production).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_mid_reencryption_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tg.db");
    let provider =
        Arc::new(LocalKeyProvider::open_or_create(dir.path().join("keys.json")).unwrap());
    {
        let flaky = Arc::new(FlakyStore::new(
            Arc::new(SqliteStore::open(&db).unwrap()),
            usize::MAX,
        ));
        let g = guard_with(flaky.clone(), provider.clone());
        let t = service("crashy");
        g.keys().create_tenant(&t).await.unwrap();
        for i in 0..30 {
            g.records()
                .put_credential(
                    &t,
                    &format!("cr-{i:02}"),
                    &Credential::password(format!("pw-{i}")),
                )
                .await
                .unwrap();
        }
        g.keys().rotate(&t).await.unwrap();

        flaky.replace_budget.store(12, Ordering::SeqCst);
        let batches = Mutex::new(0);
        let err = g
            .keys()
            .reencrypt(&t, KeyId::FIRST, 5, |_| *batches.lock().unwrap() += 1)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Store);
        assert_eq!(
            *batches.lock().unwrap(),
            2,
            "two full batches done, the third crashed"
        );
        // The process "dies" here: guard, cache and connection dropped.
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).unwrap());
    let g = guard_with(
        store.clone(),
        Arc::new(LocalKeyProvider::open(dir.path().join("keys.json")).unwrap()),
    );
    // The restarted process got its own service capability.
    let t = service("crashy");
    assert_eq!(store.count_by_key(&t, KeyId::FIRST).await.unwrap(), 18);
    assert_eq!(
        store
            .count_by_key(&t, KeyId::new(2).unwrap())
            .await
            .unwrap(),
        12
    );
    for i in 0..30 {
        let c = g
            .records()
            .open_credential(&t, &format!("cr-{i:02}"))
            .await
            .unwrap();
        assert_eq!(
            c.secret().expose(),
            format!("pw-{i}").as_bytes(),
            "record {i} opens mid-migration"
        );
    }
    assert_eq!(
        kind_of(g.keys().retire(&t, KeyId::FIRST).await),
        ErrorKind::Conflict
    );

    let report = g
        .keys()
        .reencrypt(&t, KeyId::FIRST, 5, |_| {})
        .await
        .unwrap();
    assert_eq!(report, reencrypted(18, 0, 0));
    g.keys().retire(&t, KeyId::FIRST).await.unwrap();
    for i in 0..30 {
        assert_eq!(
            g.records()
                .open_credential(&t, &format!("cr-{i:02}"))
                .await
                .unwrap()
                .secret()
                .expose(),
            format!("pw-{i}").as_bytes()
        );
    }
    assert_eq!(
        key_states(store.as_ref(), &t).await,
        vec![(1, KeyState::Destroyed), (2, KeyState::Active)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_mid_kek_rewrap_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("keys.json");
    let local = Arc::new(LocalKeyProvider::open_or_create(&key_path).unwrap());
    let provider = Arc::new(CountingProvider::new(local.clone(), Duration::ZERO));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("tg.db")).unwrap());
    let g = guard_with(store.clone(), provider.clone());
    let svc = tg_cap::cap();
    let names = ["rw-0", "rw-1", "rw-2", "rw-3", "rw-4"];
    let mut values = Vec::new();
    for name in names {
        let t = service(name);
        g.keys().create_tenant(&t).await.unwrap();
        values.push((
            name,
            g.records().seal(&t, "ctx", name.as_bytes()).await.unwrap(),
        ));
        g.keys().rotate(&t).await.unwrap();
        values.push((
            name,
            g.records().seal(&t, "ctx", name.as_bytes()).await.unwrap(),
        ));
    }
    local.rotate_kek().unwrap();

    // The job re-wraps the service keyring first (one wrap per active key), then two
    // keys per tenant: 5 more wraps finish rw-0 and rw-1 and the first key of rw-2.
    let mut keyring = 0;
    for p in tenantguard::kms::ServicePurpose::ALL {
        keyring += g
            .service_keys(&crate::tg_cap::cap())
            .unwrap()
            .records(p)
            .await
            .unwrap()
            .len();
    }
    assert!(keyring >= 1, "the audited seals created the audit-mac key");
    provider.wrap_budget.store(keyring + 5, Ordering::SeqCst);
    let last = Mutex::new(None::<TenantId>);
    let err = g
        .keys()
        .rewrap(&svc, None, 1, |r| {
            *last.lock().unwrap() = r.last_tenant.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    let resume_after = last.lock().unwrap().clone();
    assert_eq!(resume_after, Some(tid("rw-1")));

    // Every value still opens mid-rotation, from a cold cache (keys under either KEK).
    let g2 = guard_with(store.clone(), local.clone());
    for (name, v) in &values {
        assert_eq!(
            g2.records()
                .open(&service(name), "ctx", v)
                .await
                .unwrap()
                .expose(),
            name.as_bytes()
        );
    }

    provider.wrap_budget.store(usize::MAX, Ordering::SeqCst);
    let report = g
        .keys()
        .rewrap(&svc, resume_after, 1, |_| {})
        .await
        .unwrap();
    assert_eq!(
        (report.tenants, report.rewrapped, report.current),
        (3, 5, 1),
        "rw-2's first key was already done"
    );
    for name in names {
        assert!(
            store
                .tenant_keys(&service(name))
                .await
                .unwrap()
                .iter()
                .all(|k| k.kek_id == "kek-2"),
            "{name}"
        );
    }
    local.remove_kek("kek-1").unwrap();
    let g3 = guard_with(
        store.clone(),
        Arc::new(LocalKeyProvider::open(&key_path).unwrap()),
    );
    for (name, v) in &values {
        assert_eq!(
            g3.records()
                .open(&service(name), "ctx", v)
                .await
                .unwrap()
                .expose(),
            name.as_bytes()
        );
    }
}

#[tokio::test]
async fn cache_limits_are_honoured() {
    let provider = Arc::new(CountingProvider::new(
        Arc::new(LocalKeyProvider::ephemeral()),
        Duration::ZERO,
    ));
    let store: Arc<dyn Store> = Arc::new(tenantguard::MemoryStore::new());
    let build = |limits| {
        Guard::builder()
            .key_provider_arc(provider.clone())
            .store_arc(store.clone())
            .cache_limits(limits)
            .build_with_service()
            .map(tg_cap::keep)
            .unwrap()
    };
    let g0 = build(tenantguard::CacheLimits::default());
    let ctxs: Vec<TenantContext> = ["cl-a", "cl-b", "cl-c"].into_iter().map(service).collect();
    for c in &ctxs {
        g0.keys().create_tenant(c).await.unwrap();
    }

    // max_tenants = 0 disables caching: every seal unwraps.
    let g = build(tenantguard::CacheLimits {
        max_tenants: 0,
        max_age: Duration::from_secs(300),
    });
    // Creating the tenants also created (and unwrapped) the keyring's audit-mac key.
    let base0 = provider.unwraps();
    for _ in 0..3 {
        g.records().seal(&ctxs[0], "c", b"x").await.unwrap();
    }
    assert_eq!(provider.unwraps() - base0, 3);

    // max_tenants = 2: the oldest tenant is evicted when a third arrives.
    let base = provider.unwraps();
    let g = build(tenantguard::CacheLimits {
        max_tenants: 2,
        max_age: Duration::from_secs(300),
    });
    for i in [0, 1, 2, 0, 2] {
        g.records().seal(&ctxs[i], "c", b"x").await.unwrap();
    }
    assert_eq!(
        provider.unwraps() - base,
        4,
        "a, b, c load; a was evicted and reloads; c is still cached"
    );
    assert!(g.cache_stats().evictions >= 2);

    // max_age = 0: entries expire at once.
    let base = provider.unwraps();
    let g = build(tenantguard::CacheLimits {
        max_tenants: 10,
        max_age: Duration::ZERO,
    });
    g.records().seal(&ctxs[1], "c", b"x").await.unwrap();
    g.records().seal(&ctxs[1], "c", b"x").await.unwrap();
    assert_eq!(provider.unwraps() - base, 2);
}

#[tokio::test]
async fn builder_requires_provider_and_store() {
    let e = Guard::builder()
        .store(tenantguard::MemoryStore::new())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    let e = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn embedded_guard_persists_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let v = {
        let g = tg_cap::embedded(dir.path()).unwrap();
        let t = service("emb");
        g.keys().create_tenant(&t).await.unwrap();
        g.records()
            .put_credential(&t, "e-1", &Credential::password("pw"))
            .await
            .unwrap();
        g.records().seal(&t, "ctx", b"kept").await.unwrap()
    };
    let g = tg_cap::embedded(dir.path()).unwrap();
    let t = service("emb");
    assert_eq!(
        g.records().open(&t, "ctx", &v).await.unwrap().expose(),
        b"kept"
    );
    assert_eq!(
        g.records()
            .open_credential(&t, "e-1")
            .await
            .unwrap()
            .secret()
            .expose(),
        b"pw"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(dir.path().join("keys.json"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(std::sync::Arc::new(tenantguard::MemoryStore::new())).await;
                }
            )*
        }
        mod sqlite_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = tenantguard::SqliteStore::open(dir.path().join("tg.db")).unwrap();
                    super::$name(std::sync::Arc::new(store)).await;
                }
            )*
        }
    };
}

both_stores!(
    seal_open_and_credentials,
    cross_tenant_isolation,
    permissions,
    rotation_keeps_old_values,
    reencrypt_then_retire,
    reencrypt_reports_corrupted_records,
    reencrypt_never_clobbers_a_concurrent_write,
    shred_is_irreversible,
    kek_rotation_rewraps_keys_only,
    cold_tenant_loads_key_once,
);

/// Governance traits of FlakyStore: plain delegation.
mod flaky_governance {
    use super::FlakyStore;
    use tenantguard::audit::{AuditDraft, AuditEntry};
    use tenantguard::store::{
        AuditStore, RefreshRecord, RetentionStore, RetentionWindow, SessionRecord, SessionStore,
        StoreError, TokenRecord, TokenStore,
    };
    use tenantguard::{ServiceRole, TenantContext};

    #[async_trait::async_trait]
    impl tenantguard::store::MembershipStore for FlakyStore {
        async fn member_role(
            &self,
            ctx: &TenantContext,
            user: &tenantguard::tenant::UserId,
        ) -> Result<Option<tenantguard::tenant::Role>, StoreError> {
            self.inner.member_role(ctx, user).await
        }
        async fn apply_member_change(
            &self,
            ctx: &TenantContext,
            user: &tenantguard::tenant::UserId,
            new: Option<tenantguard::tenant::Role>,
            at: i64,
        ) -> tenantguard::Result<tenantguard::store::MemberChange> {
            self.inner.apply_member_change(ctx, user, new, at).await
        }
    }

    #[async_trait::async_trait]
    impl TokenStore for FlakyStore {
        async fn insert_token(
            &self,
            ctx: &TenantContext,
            rec: &TokenRecord,
        ) -> Result<(), StoreError> {
            self.inner.insert_token(ctx, rec).await
        }
        async fn token_by_hash(
            &self,
            service: &ServiceRole,
            hash: &[u8; 32],
        ) -> Result<Option<TokenRecord>, StoreError> {
            self.inner.token_by_hash(service, hash).await
        }
        async fn list_tokens(
            &self,
            ctx: &TenantContext,
            agent: Option<&str>,
            after: Option<&str>,
            limit: usize,
        ) -> Result<Vec<TokenRecord>, StoreError> {
            self.inner.list_tokens(ctx, agent, after, limit).await
        }
        async fn revoke_token(
            &self,
            ctx: &TenantContext,
            id: &str,
            at: i64,
        ) -> Result<bool, StoreError> {
            self.inner.revoke_token(ctx, id, at).await
        }
        async fn revoke_tokens(
            &self,
            ctx: &TenantContext,
            agent: Option<&str>,
            at: i64,
        ) -> Result<u64, StoreError> {
            self.inner.revoke_tokens(ctx, agent, at).await
        }
    }
    #[async_trait::async_trait]
    impl AuditStore for FlakyStore {
        async fn append_audit(
            &self,
            ctx: &TenantContext,
            draft: &AuditDraft,
        ) -> Result<AuditEntry, StoreError> {
            self.inner.append_audit(ctx, draft).await
        }
        async fn audit_entries(
            &self,
            ctx: &TenantContext,
            after: u64,
            limit: usize,
        ) -> Result<Vec<AuditEntry>, StoreError> {
            self.inner.audit_entries(ctx, after, limit).await
        }
        async fn erase_audit_personal(
            &self,
            ctx: &TenantContext,
            seqs: &[u64],
        ) -> Result<u64, StoreError> {
            self.inner.erase_audit_personal(ctx, seqs).await
        }
    }
    #[async_trait::async_trait]
    impl RetentionStore for FlakyStore {
        async fn set_retention_rule(
            &self,
            ctx: &TenantContext,
            class: &str,
            window: RetentionWindow,
        ) -> Result<(), StoreError> {
            self.inner.set_retention_rule(ctx, class, window).await
        }
        async fn clear_retention_rule(
            &self,
            ctx: &TenantContext,
            class: &str,
        ) -> Result<bool, StoreError> {
            self.inner.clear_retention_rule(ctx, class).await
        }
        async fn retention_rules(
            &self,
            ctx: &TenantContext,
        ) -> Result<Vec<(String, RetentionWindow)>, StoreError> {
            self.inner.retention_rules(ctx).await
        }
        async fn record_classes(&self, ctx: &TenantContext) -> Result<Vec<String>, StoreError> {
            self.inner.record_classes(ctx).await
        }
        async fn delete_expired(
            &self,
            ctx: &TenantContext,
            class: &str,
            cutoff: i64,
            limit: usize,
        ) -> Result<Vec<String>, StoreError> {
            self.inner.delete_expired(ctx, class, cutoff, limit).await
        }
        async fn delete_by_subject(
            &self,
            ctx: &TenantContext,
            subject: &str,
            limit: usize,
        ) -> Result<Vec<String>, StoreError> {
            self.inner.delete_by_subject(ctx, subject, limit).await
        }
        async fn delete_all_records(
            &self,
            ctx: &TenantContext,
            limit: usize,
        ) -> Result<u64, StoreError> {
            self.inner.delete_all_records(ctx, limit).await
        }
    }
    #[async_trait::async_trait]
    impl SessionStore for FlakyStore {
        async fn insert_session(
            &self,
            ctx: &TenantContext,
            session: &SessionRecord,
            refresh: &RefreshRecord,
        ) -> Result<(), StoreError> {
            self.inner.insert_session(ctx, session, refresh).await
        }
        async fn refresh_by_hash(
            &self,
            service: &ServiceRole,
            hash: &[u8; 32],
        ) -> Result<Option<RefreshRecord>, StoreError> {
            self.inner.refresh_by_hash(service, hash).await
        }
        async fn get_session(
            &self,
            ctx: &TenantContext,
            id: &str,
        ) -> Result<Option<SessionRecord>, StoreError> {
            self.inner.get_session(ctx, id).await
        }
        async fn rotate_refresh(
            &self,
            ctx: &TenantContext,
            old: &[u8; 32],
            new: &RefreshRecord,
            at: i64,
        ) -> Result<bool, StoreError> {
            self.inner.rotate_refresh(ctx, old, new, at).await
        }
        async fn list_sessions(
            &self,
            ctx: &TenantContext,
            user: Option<&str>,
            limit: usize,
        ) -> Result<Vec<SessionRecord>, StoreError> {
            self.inner.list_sessions(ctx, user, limit).await
        }
        async fn list_tenant_sessions(
            &self,
            ctx: &TenantContext,
            after: Option<(i64, &str)>,
            limit: usize,
        ) -> Result<Vec<SessionRecord>, StoreError> {
            self.inner.list_tenant_sessions(ctx, after, limit).await
        }
        async fn revoke_session(
            &self,
            ctx: &TenantContext,
            id: &str,
            at: i64,
        ) -> Result<bool, StoreError> {
            self.inner.revoke_session(ctx, id, at).await
        }
        async fn revoke_sessions(
            &self,
            ctx: &TenantContext,
            user: Option<&str>,
            at: i64,
        ) -> Result<u64, StoreError> {
            self.inner.revoke_sessions(ctx, user, at).await
        }
    }
}

/// A report with no failures (reports are `#[non_exhaustive]`: built field by field).
fn reencrypted(moved: u64, raced: u64, remaining: u64) -> ReencryptReport {
    let mut r = ReencryptReport::default();
    r.moved = moved;
    r.raced = raced;
    r.remaining = remaining;
    r
}
